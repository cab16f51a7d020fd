"""Model 2's compiled gains and row scores (sim/kernel/compiled_balance.py) against the
numpy reference (sim/kernel/balance.py).

Both drivers call the compiled functions, so their equality (tests/test_model2_drivers.py,
tests/test_ensemble.py) holds by construction; here the compiled numbers equal the
reference's to rounding, on and off the tie lattice, with impossible moves, credibility
anywhere in [0, 1] and parameter rows per replicate, in a small world and the shipped
Model 2 worlds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from worlds import alliance_world, build, random_ties

import sim
from sim.drivers import engine
from sim.drivers.ensemble import run_ensemble
from sim.kernel import balance, compiled_balance, decision
from sim.kernel.payoffs import stack_params
from sim.world.compiled import compile_world

SCENARIOS = ["scenarios/model2/baseline.yaml", "alliance_world"]


@pytest.fixture(scope="module", params=SCENARIOS)
def world(request):
    if request.param == "alliance_world":
        return compile_world(build(alliance_world(attack=True)))
    return compile_world(sim.load_scenario(request.param))


def _state(rng, w, lattice: bool, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Ties (on the lattice of ``step`` or not, one move out of bounds) and credibility."""
    T = random_ties(rng, w.n, bound=0.95)
    if lattice:
        T = np.rint(T / step) * step
        np.fill_diagonal(T, 0.0)
    else:
        T[0, 1], T[1, 0] = 1.0 - step / 2, -1.0 + step / 2
    return T, rng.random((w.n, w.n))


@pytest.mark.parametrize("step", [decision.FINITE_STEP, 0.05])
def test_gains_equal_the_numpy_kernel(world, step):
    """Gains to 1e-12 with NaN in the same places, for the continuous ties' finite step
    and for a lattice step, under the base parameters and a shocked regime."""
    rng = np.random.default_rng(4)
    for trial in range(30):
        P = world.params_with(world.shocks[: trial % 4]) if world.shocks else world.base
        T, C = _state(rng, world, lattice=trial % 2 == 0, step=step)
        ref = balance.local_gains(T, C, P, step)
        got = compiled_balance.local_gains(T, C, P, step)
        impossible = (np.abs(np.stack([T - step, T + step])) >= 1.0) | np.eye(world.n, dtype=bool)
        assert np.array_equal(np.isnan(got), impossible)
        assert np.array_equal(np.isnan(ref), impossible)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert np.isnan(got[1, 0, 1]) and np.isnan(got[0, 1, 0])  # out of bounds (last trial)


def test_replicates_read_their_own_parameter_rows(world):
    """A batch with a parameter row per replicate equals one call per replicate, bit for
    bit (gains and row scores): a replicate's numbers do not depend on its batch."""
    rng = np.random.default_rng(6)
    regimes = [world.base, world.params_with(world.shocks[:3])]
    rows = np.array([1, 0, 0, 1, 1])
    states = [_state(rng, world, lattice=r % 2 == 0, step=0.05) for r in range(len(rows))]
    T = np.stack([s[0] for s in states])
    C = np.stack([s[1] for s in states])
    stacked = stack_params(regimes)
    gains = compiled_balance.local_gains(T, C, stacked, 0.05, rows)
    comp, util = compiled_balance.row_scores(T, C, stacked, rows)
    for r, k in enumerate(rows):
        one = compiled_balance.local_gains(T[r], C[r], regimes[k], 0.05)
        assert np.array_equal(gains[:, r], one, equal_nan=True)
        one_comp, one_util = compiled_balance.row_scores(T[r], C[r], regimes[k])
        assert np.array_equal(comp[r], one_comp) and np.array_equal(util[r], one_util)


def test_row_scores_equal_the_numpy_rows(world):
    """The tables' components and utilities equal ``balance.row_utility`` to 1e-12."""
    rng = np.random.default_rng(7)
    for trial in range(10):
        T, C = _state(rng, world, lattice=trial % 2 == 0, step=0.05)
        P = world.params_with(world.shocks[: trial % 3]) if world.shocks else world.base
        comp, util = compiled_balance.row_scores(T, C, P)
        ref_comp, ref_util = balance.row_utility(T, C, P)
        np.testing.assert_allclose(comp, ref_comp, rtol=0, atol=1e-12)
        np.testing.assert_allclose(util, ref_util, rtol=0, atol=1e-12)


def test_no_commitment_at_all_gives_finite_gains(world):
    """Every tie at the lower edge (no commitment, so no Herfindahl index): the autonomy
    term's 0/0 is 0 in both kernels, not NaN."""
    T = np.full((world.n, world.n), -0.999)
    np.fill_diagonal(T, 0.0)
    C = np.zeros_like(T)
    ref = balance.local_gains(T, C, world.base, decision.FINITE_STEP)
    got = compiled_balance.local_gains(T, C, world.base, decision.FINITE_STEP)
    assert np.isfinite(got[1][~np.eye(world.n, dtype=bool)]).all()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_numpy_reference_gives_the_same_runs(monkeypatch):
    """``MULTIVECTOR_KERNEL=numpy`` runs Model 2 on the numpy kernel: the same ties and
    tables to rounding (continuous ties carry the gains' last bits forward, so equal to
    1e-9, not bit for bit), and no compiled call."""
    scenario = sim.load_scenario("scenarios/model2/baseline.yaml")
    fast = run_ensemble(scenario, 4, keep="ties")
    monkeypatch.setenv(engine.KERNEL_ENV, "numpy")
    calls = []
    monkeypatch.setattr(compiled_balance, "local_gains", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(compiled_balance, "row_scores", lambda *a, **k: calls.append(1))
    slow = run_ensemble(scenario, 4, keep="ties")
    assert not calls
    np.testing.assert_allclose(fast.ties["tie"], slow.ties["tie"], rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(fast.indices, slow.indices, check_exact=False, atol=1e-9)


def test_one_compiled_signature_serves_both_drivers():
    """The Mesa model (one world) and the engine (a batch) call the signatures compiled
    ahead and cached: no call compiles again."""
    scenario = sim.load_scenario("scenarios/model2/baseline.yaml")
    sim.BalancingModel(scenario, rng=1).run()
    run_ensemble(scenario, 2)
    for f in (compiled_balance._local_gains, compiled_balance._row_scores):
        assert len(f.signatures) == 1
        assert f._cache.__class__.__name__ == "FunctionCache"
