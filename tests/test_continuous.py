"""Continuous ties (``candidates: continuous``): a step toward the best reply plus noise.

In a world of one free tie with a constant field ``F`` (energy only), the best reply is
``tanh(F / kappa)``: best response reaches it, and the logit rule's Langevin steps scatter
around it with the stationary law ``exp(2 (F x - kappa b(x)) / tau)`` of the logit rule
on the lattice with local candidates (the model's rule), so the scenario's ``tie_noise``
means the same scatter on the lattice and off it: the mean to 0.005, the spread to 5%
at ``a = 0.2`` and ``a = 0.5`` in a run of 20,000 quarters; the lattice rule itself
scatters as much.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_model2_kernel import params
from worlds import alliance_world, build

from sim.drivers.model import BalancingModel
from sim.kernel import decision, payoffs

FIXED, LOGIT, BEST = decision.FIXED, decision.LOGIT, decision.BEST_RESPONSE


def one_tie_world(tau=1e-3):
    """A trades energy with B; B holds its tie to A at 0. Field on A's tie:
    ``F = w_E e rho / 2`` with ``rho = beta + (1 - beta) f(0)``."""
    P = params(2, weights=(1.0, 0.0, 0.0), energy={(0, 1): 0.4})
    P = type(P)(**{**{f: getattr(P, f) for f in P.__dataclass_fields__}, "tau": np.full(2, tau)})
    field = 1.0 * 0.4 * (0.5 + 0.5 * 0.5) / 2
    return P, field


def step(T, P, rules, u, a=0.3):
    values, choice, _ = decision.period_choices(
        T,
        P,
        u,
        rules=rules,
        delta=0.05,
        candidates="continuous",
        update="simultaneous",
        adjustment=a,
    )
    return decision.apply_choices(T, values, choice, np.ones(2, dtype=bool), 0.05)


def test_best_response_reaches_the_best_reply():
    P, field = one_tie_world()
    rules = np.array([BEST, FIXED])
    T = np.zeros((2, 2))
    u = np.full((2, 3), 0.5)
    for _ in range(60):
        T = step(T, P, rules, u)
    assert T[0, 1] == pytest.approx(np.tanh(field / 0.2), abs=1e-6)
    assert T[1, 0] == 0.0  # fixed


def _stationary_law(field, kappa, temperature):
    """Mean and standard deviation of ``exp((F x - kappa b(x)) / temperature)`` on (-1, 1)."""
    x = np.linspace(-0.999, 0.999, 20001)
    barrier = ((1 + x) * np.log(1 + x) + (1 - x) * np.log(1 - x)) / 2
    w = np.exp((field * x - kappa * barrier) / temperature)
    w /= w.sum()
    mean = (w * x).sum()
    return mean, np.sqrt((w * (x - mean) ** 2).sum())


def _path(P, rules, quarters, seed, candidates="continuous", a=0.3, delta=0.05, start=0.0):
    rng = np.random.default_rng(seed)
    T = np.zeros((2, 2))
    T[0, 1] = start
    path = []
    for _ in range(quarters):
        values, choice, revising = decision.period_choices(
            T,
            P,
            rng.random((2, 3)),
            rules=rules,
            delta=delta,
            candidates=candidates,
            update="simultaneous",
            adjustment=a,
        )
        T = decision.apply_choices(T, values, choice, revising, delta)
        path.append(T[0, 1])
    return np.array(path[500:])


@pytest.mark.parametrize("a", [0.2, 0.5])
def test_logit_scatters_with_the_lattice_rules_law(a):
    """The law is ``exp(2 U / tau)``, the lattice rule's, not ``exp(U / tau)`` (whose
    spread is sqrt(2) wider): the scenario's tie noise is the tie's scatter."""
    tau = 2e-3
    P, field = one_tie_world(tau=tau)
    path = _path(P, np.array([LOGIT, FIXED]), 20000, seed=0, a=a)
    mean, sd = _stationary_law(field, 0.2, tau / 2)
    assert path.mean() == pytest.approx(mean, abs=0.005)  # the drift correction: no bias
    assert path.std() == pytest.approx(sd, rel=0.05)  # 1 - a/2: no widening by the step
    assert path.std() < 0.85 * _stationary_law(field, 0.2, tau)[1]


def test_lattice_and_continuous_ties_scatter_alike():
    """The same ``tau`` gives a tie the same spread on a fine lattice (local candidates,
    the move cost of the shipped worlds) as off it."""
    tau = 2e-3
    P, field = one_tie_world(tau=tau)
    P = type(P)(**{**{f: getattr(P, f) for f in P.__dataclass_fields__}, "gamma": np.full(2, tau)})
    rules = np.array([LOGIT, FIXED])
    rest = round(np.tanh(field / 0.2) / 0.02) * 0.02
    lattice = _path(P, rules, 40000, seed=1, candidates="local", delta=0.02, start=rest)
    continuous = _path(P, rules, 20000, seed=2)
    assert continuous.std() == pytest.approx(lattice.std(), rel=0.08)
    assert continuous.mean() == pytest.approx(lattice.mean(), abs=0.005)


def test_no_tie_leaves_the_open_interval():
    P, _ = one_tie_world()
    P = type(P)(
        **{
            **{f: getattr(P, f) for f in P.__dataclass_fields__},
            "energy": np.array([[0.0, 1.0], [0.0, 0.0]]),
            "kappa": np.full(2, 0.001),
        }
    )
    T = np.zeros((2, 2))
    for _ in range(50):
        T = step(T, P, np.array([LOGIT, FIXED]), np.full((2, 3), 0.999999))
    assert np.abs(T).max() <= decision.TIE_LIMIT
    assert np.isfinite(payoffs.row_utility(T, P)[1]).all()


def test_continuous_model2_world_runs_and_repeats():
    """A Model 2 world with continuous ties: same seed, same ties; no tie on a lattice."""
    d = alliance_world(attack=True)
    d["model"]["candidates"] = "continuous"
    scenario = build(d)
    a = BalancingModel(scenario, rng=3).run().ties_table()
    b = BalancingModel(scenario, rng=3).run().ties_table()
    assert a.equals(b)
    ties = a["tie"].to_numpy()
    off_lattice = np.abs(ties / 0.05 - np.round(ties / 0.05)) > 1e-6
    assert off_lattice.mean() > 0.9


def test_explain_shows_the_step_taken_and_the_terms_of_a_step_up():
    """With continuous ties a decision is a step, not a pick: the summary's "after" is the
    tie the model moved to, the odds are not shown, and the terms of a step of delta up
    (against staying) still add up to the net."""
    from sim.analysis.explain import partner_summary

    d = alliance_world()
    d["model"]["candidates"] = "continuous"
    model = BalancingModel(build(d), rng=2).run(6)
    table = model.explain("S")
    assert table["probability"].isna().all() and not table["chosen"].any()
    ev = model.evaluation
    i = model.world.index("S")
    summary = partner_summary(table, ev, i, list(model.world.ids))
    for r in summary.itertuples():
        j = model.world.index(r.partner)
        assert r.after == pytest.approx(model.ties[i, j])
        assert r.before == pytest.approx(ev.ties[i, j])
        assert r.net == pytest.approx(r.energy + r.security + r.alignment + r.tie_cost)
