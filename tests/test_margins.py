"""``python -m sim.tools.margins``: each payoff term's slope in each tie, against the
formulas of docs/ODD.md (sections 7.2-7.5 and 7.9) in a three-state Model 2 world, the
terms adding up to the utility's own slope, and the command's output and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from worlds import ROOT, alliance_world, build, random_ties

from sim.kernel import balance
from sim.tools import margins
from sim.world.compiled import compile_world


@pytest.fixture(scope="module")
def world():
    return compile_world(build(alliance_world()))


def _utility_slope(T, C, P, i, j, h=1e-6):
    """The slope of state i's utility in its tie to j, by central differences of whole
    rows (others' ties held)."""
    out = []
    for sign in (-1, 1):
        moved = T.copy()
        moved[i, j] += sign * h
        comp = balance.components(moved[..., :, None, :], T, C, P)[i, 0]
        out.append((comp[:3] * P.weights[i]).sum() - comp[3])
    return (out[1] - out[0]) / (2 * h)


def test_the_terms_follow_their_formulas_and_add_up_to_the_utility(world):
    rng = np.random.default_rng(2)
    P = world.base
    for _ in range(5):
        T = random_ties(rng, world.n, bound=0.8)
        C = rng.random((world.n, world.n))
        s = margins.slopes(T, C, P, version=2)
        w = P.weights
        rho = P.beta + (1 - P.beta) * (1 + T.T) / 2
        mutual = 0.5 * (T + T.T) * P.derived["pair_mass"]
        np.fill_diagonal(mutual, 0.0)
        for i in range(world.n):
            others = [j for j in range(world.n) if j != i]
            for j in others:
                energy, security, affinity, structural, autonomy, cost = s[i, j]
                assert energy == pytest.approx(w[i, 0] * P.energy[i, j] * rho[i, j] / 2, abs=1e-9)
                assert affinity == pytest.approx(w[i, 2] * P.derived["aff"][i, j], abs=1e-12)
                field = sum(T[i, k] * mutual[k, j] for k in others) * P.derived["inv_pair_mass"][i]
                assert structural == pytest.approx(w[i, 2] * P.balance * field, abs=1e-12)
                assert cost == pytest.approx(-P.kappa[i] * np.arctanh(T[i, j]), abs=1e-7)
                total = s[i, j].sum()
                assert total == pytest.approx(_utility_slope(T, C, P, i, j), abs=1e-6)
        assert np.isnan(s[np.eye(world.n, dtype=bool)]).all()


def test_a_world_without_threats_has_no_security_slope(world):
    """Security comes from threats: with every threat and leverage at 0 its slope is 0,
    whatever the ties and credibility."""
    from dataclasses import replace

    P = replace(world.base, threat=np.zeros_like(world.base.threat))
    P = replace(P, leverage=np.zeros_like(P.leverage))
    rng = np.random.default_rng(3)
    T = random_ties(rng, world.n, bound=0.8)
    s = margins.slopes(T, rng.random(T.shape), P, version=2)
    off = ~np.eye(world.n, dtype=bool)
    assert np.abs(s[..., 1][off]).max() < 1e-9
    assert np.abs(s[..., 0][off]).max() > 1e-3  # the other terms are there


def test_the_command_prints_every_partner(capsys):
    path = str(ROOT / "scenarios" / "model2" / "baseline.yaml")
    assert margins.main([path, "--state", "AZ", "--date", "2022-01-01", "--seeds", "3"]) == 0
    out = capsys.readouterr().out
    assert "AZ's ties at 2021-12-31, Model 2; seeds 100000-100002" in out
    rows = [line for line in out.splitlines() if line.startswith("AZ-")]
    assert [r.split()[0] for r in rows] == [
        "AZ-RU", "AZ-TR", "AZ-IR", "AZ-EU", "AZ-US", "AZ-AM", "AZ-IL", "AZ-GE",
    ]  # fmt: skip
    nets = [float(r.split()[8]) for r in rows]
    assert max(abs(x) for x in nets) < 0.02  # ties near rest: the terms nearly cancel


@pytest.mark.parametrize(
    "args, message",
    [
        (["--state", "AX"], "--state 'AX': not a state of"),
        (["--state", "AZ", "--date", "2022-13-01"], "expected a date as YYYY-MM-DD"),
        (["--state", "AZ", "--date", "1999-01-01"], "before the first record"),
        (["--state", "AZ", "--seeds", "0"], "--seeds: expected a whole number >= 1"),
    ],
)
def test_bad_input_is_a_message_and_exit_2(capsys, args, message):
    path = str(ROOT / "scenarios" / "model2" / "baseline.yaml")
    assert margins.main([path, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_model1_terms_add_up_to_its_utility():
    """Model 1 (no structural balance: that column is 0; cross-pressure is in the rest)."""
    from sim import load_scenario
    from sim.kernel import payoffs

    w = compile_world(load_scenario(ROOT / "scenarios" / "teaching.yaml"))
    P = w.base
    T = random_ties(np.random.default_rng(4), w.n, bound=0.8)
    s = margins.slopes(T, None, P, version=1)
    assert (s[..., 3][~np.eye(w.n, dtype=bool)] == 0).all()
    h = 1e-6
    for i, j in [(0, 1), (1, 0), (2, 0), (1, 2)]:
        utility = []
        for sign in (-1, 1):
            moved = T.copy()
            moved[i, j] += sign * h
            comp = payoffs.components(moved[..., :, None, :], T, P)[i, 0]
            utility.append((comp[:3] * P.weights[i]).sum() - comp[3])
        assert s[i, j].sum() == pytest.approx((utility[1] - utility[0]) / (2 * h), abs=1e-6)
