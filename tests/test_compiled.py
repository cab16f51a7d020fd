"""The compiled kernel (sim/kernel/compiled.py) against the numpy reference it replaces.

Both drivers call the compiled kernel, so their equality (tests/test_ensemble.py) holds
by construction; here the compiled gains equal ``payoffs.local_gains`` to rounding and
its choices equal ``decision.choose_local``'s wherever a draw is not within rounding of a
decision boundary, in small worlds and in the shipped ones.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest
from worlds import random_ties

import sim
from sim.drivers import engine
from sim.drivers.ensemble import run_ensemble
from sim.errors import UserError
from sim.kernel import compiled, decision, payoffs
from sim.kernel.payoffs import stack_params
from sim.world.compiled import compile_world

SCENARIOS = ["scenarios/baseline.yaml", "scenarios/teaching.yaml", "scenarios/serbia.yaml"]


@pytest.fixture(scope="module", params=SCENARIOS)
def world(request):
    return compile_world(sim.load_scenario(request.param))


def _ties(rng, w, lattice: bool) -> np.ndarray:
    T = random_ties(rng, w.n, bound=0.95)
    if lattice:
        T = np.rint(T / w.delta) * w.delta
        np.fill_diagonal(T, 0.0)
    T[0, 1], T[1, 0] = 0.95, -0.95  # one move out of bounds: impossible
    return T


def _margin(gains, rules, P, u):
    """How far each draw is from the nearest boundary of the reference logit choice
    (``u * total`` against ``w_down`` and ``w_down + w_stay``), relative to the total."""
    V = np.where(np.isnan(gains), -np.inf, gains - P.gamma[..., None])
    top = np.maximum(np.maximum(V[0], V[1]), 0.0)
    inv_tau = 1.0 / P.tau[..., None]
    w_down = np.exp((V[0] - top) * inv_tau)
    w_stay = np.exp(-top * inv_tau)
    w_up = np.exp((V[1] - top) * inv_tau)
    total = w_down + w_stay + w_up
    near = np.minimum(np.abs(u * total - w_down), np.abs(u * total - w_down - w_stay))
    return np.where(rules[:, None] == decision.LOGIT, near / total, np.inf)


def test_gains_and_choices_equal_the_numpy_kernel(world):
    """On and off the tie lattice, with impossible moves and every rule: gains to 1e-12
    (NaN in the same places), the same choices wherever a draw is not within 1e-9 of a
    boundary (the sums differ by rounding only)."""
    rng = np.random.default_rng(3)
    P = world.params_with(world.shocks[:4])
    n = world.n
    off = ~np.eye(n, dtype=bool)
    decided = 0
    for trial in range(40):
        T = _ties(rng, world, lattice=trial % 2 == 0)
        u = rng.random((n, n))
        rules = rng.integers(0, 3, n) if trial % 4 == 1 else world.rules
        ref_gains = payoffs.local_gains(T, P, world.delta)
        ref = decision.choose_local(ref_gains, rules, P.tau, P.gamma, u)
        choice, gains = compiled.decide_local(T, P, u, np.ones(n, bool), rules, world.delta)
        assert np.array_equal(np.isnan(gains), np.isnan(ref_gains))
        np.testing.assert_allclose(gains, ref_gains, rtol=0, atol=1e-12)
        clear = off & (_margin(ref_gains, rules, P, u) > 1e-9)
        assert np.array_equal(choice[clear], ref[clear])
        assert (choice[~off] == 1).all()
        decided += clear.sum()
    assert decided > 0.99 * 40 * off.sum()  # the margin excludes almost nothing


def test_states_that_do_not_revise_stay(world):
    """One-at-a-time updating: only the revising state's row is decided (its choices as
    with everyone revising); the others stay, with NaN gains."""
    rng = np.random.default_rng(5)
    n = world.n
    T = _ties(rng, world, lattice=True)
    u = rng.random((n, n))
    all_choice, all_gains = compiled.decide_local(
        T, world.base, u, np.ones(n, bool), world.rules, world.delta
    )
    revising = np.arange(n) == 2
    choice, gains = compiled.decide_local(T, world.base, u, revising, world.rules, world.delta)
    assert np.array_equal(choice[2], all_choice[2])
    assert np.array_equal(gains[:, 2], all_gains[:, 2], equal_nan=True)
    assert (choice[~revising] == 1).all() and np.isnan(gains[:, ~revising]).all()


def test_replicates_read_their_own_parameter_rows(world):
    """A batch whose replicates use different rows of stacked parameters (sweep points
    and shock regimes side by side) equals one call per replicate, bit for bit."""
    rng = np.random.default_rng(8)
    n = world.n
    regimes = [world.base, world.params_with(world.shocks[:3])]
    stacked = stack_params(regimes)
    rows = np.array([0, 1, 1, 0, 1])
    Ts = np.stack([_ties(rng, world, lattice=r % 2 == 0) for r in range(5)])
    u = rng.random((5, n, n))
    revising = np.ones((5, n), bool)
    choice, gains = compiled.decide_local(Ts, stacked, u, revising, world.rules, world.delta, rows)
    for r, k in enumerate(rows):
        one, g = compiled.decide_local(
            Ts[r], regimes[k], u[r], revising[r], world.rules, world.delta
        )
        assert np.array_equal(choice[r], one)
        assert np.array_equal(gains[:, r], g, equal_nan=True)


def test_rows_must_index_the_parameters(world):
    n = world.n
    T, u = np.zeros((2, n, n)), np.zeros((2, n, n))
    with pytest.raises(ValueError, match="rows"):
        compiled.decide_local(
            T, world.base, u, np.ones((2, n), bool), world.rules, world.delta, np.array([0, 1])
        )


def test_one_compiled_signature_serves_both_drivers():
    """The Mesa model (one world, writable arrays) and the engine (a batch) call the one
    signature compiled ahead and cached: no call compiles again."""
    scenario = sim.load_scenario("scenarios/teaching.yaml")
    sim.BalancingModel(scenario, rng=1).run()
    run_ensemble(scenario, 3)
    assert len(compiled._local_choices.signatures) == 1
    assert compiled._local_choices._cache.__class__.__name__ == "FunctionCache"


def test_one_call_per_block_of_periods_whatever_the_regimes(monkeypatch):
    """Replicates in different shock regimes (probabilistic shocks that fire in some
    only) are advanced together: one compiled call per block of draws (the whole horizon
    here), every replicate in each; with the numpy kernel, one call of the decisions a
    period."""
    calls = []
    real = compiled.simulate_local

    def counted(T, P, u, *args, **kwargs):
        calls.append((T.shape[0], u.shape[0]))
        return real(T, P, u, *args, **kwargs)

    monkeypatch.setattr(compiled, "simulate_local", counted)
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    result = run_ensemble(scenario, 40, keep="ties", chunk_size=40)
    prob = result.shocks[result.shocks["kind"] == "probabilistic"]
    assert 0 < prob["replicate"].nunique() < 40  # the regimes do differ
    w = compile_world(scenario)
    periods = w.burn_in + w.n_periods
    block = engine.draw_block(40, w.n, periods)
    assert block == periods  # the baseline's whole horizon in one block
    rest = [periods % block] if periods % block else []
    assert [k for _, k in calls] == [block] * (periods // block) + rest
    assert {r for r, _ in calls} == {40}

    monkeypatch.setenv(engine.KERNEL_ENV, "numpy")
    per_period = []
    real_choices = decision.period_choices

    def counted_choices(T, *args, **kwargs):
        per_period.append(T.shape[0])
        return real_choices(T, *args, **kwargs)

    monkeypatch.setattr(decision, "period_choices", counted_choices)
    slow = run_ensemble(scenario, 40, keep="ties", chunk_size=40)
    assert per_period == [40] * periods
    pd.testing.assert_frame_equal(result.ties, slow.ties, check_exact=True)


def test_numpy_reference_gives_the_same_tables(monkeypatch):
    """``MULTIVECTOR_KERNEL=numpy`` runs the numpy kernels: the same ties (no draw of
    these runs falls within rounding of a boundary) and indices to rounding."""
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    fast = run_ensemble(scenario, 6, keep="ties")
    monkeypatch.setenv(engine.KERNEL_ENV, "numpy")
    calls = []
    monkeypatch.setattr(compiled, "decide_local", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(compiled, "row_scores", lambda *a, **k: calls.append(1))
    slow = run_ensemble(scenario, 6, keep="ties")
    assert not calls
    pd.testing.assert_frame_equal(fast.ties, slow.ties, check_exact=True)
    pd.testing.assert_frame_equal(fast.indices, slow.indices, check_exact=False, rtol=0, atol=1e-12)


def test_an_unknown_kernel_is_refused(monkeypatch, tmp_path):
    """By both drivers, and by the command line with its message, exit 2 and nothing
    written."""
    import subprocess
    import sys

    monkeypatch.setenv(engine.KERNEL_ENV, "fortran")
    message = "MULTIVECTOR_KERNEL='fortran': expected one of compiled, numpy"
    with pytest.raises(UserError, match=message):
        run_ensemble(sim.load_scenario("scenarios/teaching.yaml"), 2)
    with pytest.raises(UserError, match=message):
        sim.BalancingModel("scenarios/teaching.yaml", rng=1)
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-m", "sim", "run", "scenarios/teaching.yaml", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_row_scores_equal_the_numpy_rows(world):
    """The tables' components and utilities (every state's current row), on and off the
    lattice and with parameter rows per record, equal ``payoffs.row_utility``."""
    rng = np.random.default_rng(9)
    regimes = [world.base, world.params_with(world.shocks[:4])]
    rows = np.array([1, 0, 1, 1, 0, 0])
    Ts = np.stack([_ties(rng, world, lattice=r % 2 == 0) for r in range(len(rows))])
    comp, util = compiled.row_scores(Ts, stack_params(regimes), world.delta, rows)
    for r, k in enumerate(rows):
        ref_comp, ref_util = payoffs.row_utility(Ts[r], regimes[k], world.delta)
        np.testing.assert_allclose(comp[r], ref_comp, rtol=0, atol=1e-12)
        np.testing.assert_allclose(util[r], ref_util, rtol=0, atol=1e-12)
    one_comp, one_util = compiled.row_scores(Ts[0], regimes[1], world.delta)
    assert np.array_equal(one_comp, comp[0]) and np.array_equal(one_util, util[0])


def test_row_scores_in_lanes_give_the_scalar_loops_bits(world):
    """The tables' row scores run with the records as SIMD lanes (records of one
    parameter row together, in blocks): the bits of the scalar loop, ``_row_scores``,
    with more records than a block, several parameter rows interleaved, ties on and off
    the lattice, and a few not finite (then every term of the group sums is added, not
    only those of the (c, j) whose parameters are not 0)."""
    rng = np.random.default_rng(12)
    regimes = [world.base, world.params_with(world.shocks[:4]), world.params_with(world.shocks)]
    b = 3 * compiled.LANE_BLOCK + 7
    rows = rng.integers(0, len(regimes), b)
    Ts = np.stack([_ties(rng, world, lattice=r % 3 != 0) for r in range(b)])
    Ts[[5, 200], 1, 2] = np.inf
    Ts[77, -1, 0] = np.nan
    P = stack_params(regimes)
    comp, util = compiled.row_scores(Ts, P, world.delta, rows)
    at = payoffs._barrier_table(float(world.delta))[0]
    ref_comp, ref_util = np.empty_like(comp), np.empty_like(util)
    compiled._row_scores(
        compiled._frozen(Ts, np.float64), compiled._frozen(rows, np.int64), float(world.delta),
        *P.packed, compiled._frozen(at, np.float64), (len(at) - 1) // 2, ref_comp, ref_util,
    )  # fmt: skip
    for got, ref in ((comp, ref_comp), (util, ref_util)):
        same = (got.view(np.int64) == ref.view(np.int64)) | (np.isnan(got) & np.isnan(ref))
        assert same.all()  # bit for bit; NaN where NaN (its payload may differ)
    assert np.isnan(util[[5, 77, 200]]).any()  # the records not finite reach the scores


def test_the_sweeps_parameter_sets_stay_bounded():
    """Chunks whose replicates are in sets of regimes of their own do not make the
    sweep keep every set (in a large world each is large)."""
    from sim.world.sweep import MIXED_KEPT, Sweep

    w = compile_world(sim.load_scenario("scenarios/baseline.yaml"))
    sweep = Sweep([w])
    shocks = len(w.shocks)
    for k in range(MIXED_KEPT + 5):  # distinct sets of three regimes
        regimes = ((), (k % shocks,), (k // shocks, k % shocks))
        P = sweep.mixed(regimes)
        assert P.power.shape == (len(regimes), w.n)
    assert len(sweep._mixed) == MIXED_KEPT
    assert ((), (0,), (0, 0)) not in sweep._mixed  # the oldest went first


def test_one_at_a_time_and_every_rule_in_the_compiled_loop_equal_mesa():
    """The compiled period loop's other branches: one state revising a period (drawn from
    the period's last uniform), best-response and fixed states, with the baseline's
    dated, probabilistic and pinning shocks: every replicate equals its Mesa run."""
    import copy

    from sim.drivers.model import BalancingModel
    from sim.scenario import scenario_from_dict

    content = copy.deepcopy(sim.load_scenario("scenarios/baseline.yaml").content)
    content.setdefault("model", {})["update"] = "one_at_a_time"
    content["states"]["GE"]["rule"] = "best_response"
    content["states"]["IL"]["rule"] = "fixed"
    scenario = scenario_from_dict(content)
    w = compile_world(scenario)
    assert w.update == "one_at_a_time" and set(w.rules) == {0, 1, 2}
    seeds = [3, 4, 5, 6]
    result = run_ensemble(scenario, seeds, keep="ties", chunk_size=3)
    for k, seed in enumerate(seeds):
        m = BalancingModel(scenario, rng=seed, agent_data=False).run()
        ties = result.ties[result.ties["replicate"] == k].drop(columns=["replicate", "seed"])
        pd.testing.assert_frame_equal(
            ties.reset_index(drop=True), m.ties_table().drop(columns="seed"), check_exact=True
        )


# --------------------------------------------------------------------------------------
# The records' alignment and hedging indices
# --------------------------------------------------------------------------------------


def test_compiled_indices_equal_the_numpy_reference(world):
    from sim.kernel import indices
    from sim.kernel.compiled_indices import record_indices

    rng = np.random.default_rng(11)
    T = rng.uniform(-1, 1, (300, world.n, world.n))
    T[:40] = np.minimum(T[:40], 0.0)  # rows with no positive tie: hedging 0
    T[40:60] = 0.0
    align, hedge = record_indices(T, world.toward, world.away, world.base.groups)
    ref_align = indices.alignment_index(T, world.toward, world.away)
    ref_hedge = indices.hedging_index(T, world.base.groups)
    np.testing.assert_allclose(align, ref_align, rtol=0, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(hedge, ref_hedge, rtol=0, atol=1e-12)
    assert (hedge[:60] == 0).all() and (hedge[60:] > 0).any()
    assert np.array_equal(np.isnan(align), np.isnan(ref_align))


def test_compiled_indices_are_nan_where_the_axis_is_undefined():
    from sim.kernel import indices
    from sim.kernel.compiled_indices import record_indices

    rng = np.random.default_rng(3)
    T = rng.uniform(-1, 1, (5, 4, 4))
    groups = np.eye(3)[[0, 1, 2, 2]]  # states 2 and 3 share a group
    for toward, away in (([0], [1, 2]), ([], [1]), ([2, 3], [0])):
        align, hedge = record_indices(T, np.array(toward), np.array(away), groups)
        ref = indices.alignment_index(T, np.array(toward, int), np.array(away, int))
        np.testing.assert_allclose(align, ref, rtol=0, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(hedge, indices.hedging_index(T, groups), rtol=0, atol=1e-12)
    # state 0 is the "away" pole's only member: its axis is undefined, the others' not
    assert np.isnan(align[:, 0]).all() and np.isfinite(align[:, 1:]).all()


def test_one_hot_groups_give_the_full_loops_bits(world):
    """The hedging index adds a partner's tie to its one group only where the groups are
    one-hot: the same bits as the loop over every group, non-finite ties included (the
    index is 0 there, as numpy's); groups that are not one-hot take the full loop."""
    from sim.kernel import indices
    from sim.kernel.compiled_indices import _frozen, _group_of, _record_indices

    rng = np.random.default_rng(5)
    n = world.n
    T = rng.uniform(-1, 1, (200, n, n))
    T[:20, 0, n - 1] = np.nan
    T[20:40, 1, 0] = np.inf
    T[40:60, n - 1, 0] = -np.inf
    T[60:80] = -0.0
    groups = world.base.groups
    assert (_group_of(groups) >= 0).all()  # every world's groups are one-hot

    def run(ties, g, of):
        """The kernel's (alignment, hedging) of ``ties`` with groups ``g``, ``group_of``."""
        a, h = np.empty((len(ties), n)), np.empty((len(ties), n))
        _record_indices(
            _frozen(ties, np.float64),
            _frozen(world.toward, np.int64),
            _frozen(world.away, np.int64),
            _frozen(g, np.float64),
            _frozen(of, np.int64),
            a,
            h,
        )
        return a, h

    shortcut, full = run(T, groups, _group_of(groups)), run(T, groups, np.full(n, -1))
    for a, b in zip(shortcut, full, strict=True):
        assert np.array_equal(a.view(np.int64), b.view(np.int64))  # bit for bit
    hedge = shortcut[1]
    assert (hedge[:20, 0] == 0).all() and (hedge[20:40, 1] == 0).all() and (hedge[80:] > 0).any()
    with np.errstate(invalid="ignore"):  # numpy's matmul of the non-finite ties
        ref = indices.hedging_index(T[:40], groups)
    np.testing.assert_allclose(hedge[:40], ref, rtol=0, atol=1e-12)
    # groups with weights: no group of its own, the full loop, still numpy's numbers
    weighted = groups * 0.5
    assert (_group_of(weighted) == -1).all()
    T = np.nan_to_num(T, nan=0.0, posinf=0.5, neginf=-0.5)
    _, h = run(T, weighted, _group_of(weighted))
    np.testing.assert_allclose(h, indices.hedging_index(T, weighted), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# The lanes kernel (replicates in SIMD lanes) against the scalar loop
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"states.RU.rule": "best_response", "states.TR.rule": "best_response"},
        {"states.AM.rule": "fixed", "model.delta": 0.1},
    ],
    ids=["baseline", "best_response", "fixed_coarse"],
)
def test_lanes_kernel_gives_the_scalar_loops_bits(monkeypatch, overrides):
    """Every chunk the ensemble hands to the lanes kernel, replayed through the scalar
    loop (``_simulate_local``): the same ties, bit for bit, with replicates in different
    shock regimes (their own parameter rows), and with ties moved off the lattice (the
    tie cost computed, not looked up)."""
    from sim.scenario import with_overrides

    calls = []
    real = compiled.simulate_lanes

    def captured(T, *args):
        calls.append((T.copy(), args))
        real(T, *args)

    monkeypatch.setattr(compiled, "simulate_lanes", captured)
    scenario = with_overrides(sim.load_scenario("scenarios/baseline.yaml"), overrides)
    run_ensemble(scenario, 300, chunk_size=150)
    assert calls
    rows = np.concatenate([args[2].ravel() for _, args in calls])
    assert len(np.unique(rows)) > 1  # regimes with their own parameters
    rng = np.random.default_rng(4)
    for off_lattice in (False, True):
        for T0, args in calls:
            T0 = T0.copy()
            if off_lattice:
                T0 += np.where(rng.random(T0.shape) < 0.05, rng.uniform(-1e-4, 1e-4, T0.shape), 0)
            snaps = args[-1]
            a_T, a_snaps = T0.copy(), np.zeros_like(snaps)
            b_T, b_snaps = T0.copy(), np.zeros_like(snaps)
            real(a_T, *args[:-1], a_snaps)
            compiled._simulate_local(b_T, *args[:8], False, *args[8:-1], b_snaps)
            assert np.array_equal(a_T.view(np.int64), b_T.view(np.int64))
            assert np.array_equal(a_snaps.view(np.int64), b_snaps.view(np.int64))


def test_exp_is_within_one_ulp_of_libm():
    """The kernels' exp (a polynomial both compute alike) is libm's to 1 ulp, exactly 1
    at 0, exactly 0 from -745.2 down (-inf too) and NaN at NaN."""

    @numba.njit
    def exps(a, out):
        bits = np.empty(2, np.int64)
        scales = bits.view(np.float64)
        for k in range(a.size):
            out[k] = compiled._exp(a[k], bits, scales)

    rng = np.random.default_rng(1)
    a = np.concatenate([rng.uniform(-1, 0, 100_000), rng.uniform(-746, 0, 100_000)])
    out = np.empty_like(a)
    exps(a, out)
    ulps = np.abs(out.view(np.int64) - np.exp(a).view(np.int64))
    assert ulps.max() <= 1 and (ulps == 0).mean() > 0.8
    edge = np.array([0.0, -0.0, -np.inf, np.nan, -745.0, -745.2, -800.0, -1e300])
    out = np.empty_like(edge)
    exps(edge, out)
    assert out[0] == out[1] == 1.0 and out[4] == np.exp(-745.0) > 0
    assert (out[[2, 5, 6, 7]] == 0).all() and np.isnan(out[3])
