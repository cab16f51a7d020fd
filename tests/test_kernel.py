"""The payoff kernel and the shock machinery, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from worlds import random_ties

import sim
from sim.drivers.model import INDEX_COLUMNS, BalancingModel
from sim.kernel import decision, payoffs
from sim.world.compiled import compile_world
from sim.world.schedule import schedule_shocks, shock_uniforms
from sim.world.shocks import apply_effects

SCENARIOS = ["scenarios/baseline.yaml", "scenarios/teaching.yaml"]


@pytest.fixture(scope="module", params=SCENARIOS)
def world(request):
    return compile_world(sim.load_scenario(request.param))


def test_incremental_scoring_equals_full_rows(world):
    """The hot path (single-tie updates of row totals) equals re-scoring every full row."""
    rng = np.random.default_rng(11)
    off = ~np.eye(world.n, dtype=bool)
    for _ in range(5):
        T = random_ties(rng, world.n, bound=0.95)
        values = decision.local_values(T, world.delta)
        fast = decision.evaluate(T, values, world.base)
        slow = decision.evaluate_full_rows(T, values, world.base)
        np.testing.assert_allclose(fast[off], slow[off], rtol=0, atol=1e-12)


def test_incremental_scoring_with_batch_dimensions(world):
    """A leading batch axis gives the same numbers as one world at a time."""
    rng = np.random.default_rng(5)
    Ts = np.stack([random_ties(rng, world.n, bound=0.95) for _ in range(3)])
    P = world.base
    batched = payoffs.Params(
        **{
            name: (
                np.broadcast_to(getattr(P, name), (3, *np.shape(getattr(P, name)))).copy()
                if name != "groups"
                else P.groups
            )
            for name in P.__dataclass_fields__
        }
    )
    values = decision.local_values(Ts, world.delta)
    out = decision.evaluate(Ts, values, batched)
    for b in range(3):
        one = decision.evaluate(Ts[b], values[b], P)
        np.testing.assert_allclose(out[b], one, rtol=0, atol=1e-14)


def test_components_are_bounded_shares(world):
    """Inputs are shares, so energy lies in [0, 1], security in [-2, 0], alignment in
    [-1 - alpha - eps, 1], and the tie cost is non-negative."""
    rng = np.random.default_rng(2)
    P = world.base
    for _ in range(10):
        T = random_ties(rng, world.n, bound=0.999)
        comp, _u = payoffs.row_utility(T, P)
        assert np.all(np.isfinite(comp))
        assert np.all((comp[:, 0] >= 0) & (comp[:, 0] <= 1))
        assert np.all((comp[:, 1] <= 0) & (comp[:, 1] >= -2))
        lo = -1 - P.autonomy - P.cross_pressure
        assert np.all((comp[:, 2] >= lo - 1e-12) & (comp[:, 2] <= 1))
        assert np.all(comp[:, 3] >= 0)


def test_barrier_settles_at_tanh_of_field():
    """A tie facing a constant marginal benefit F settles where F = kappa artanh(x)."""
    kappa, field = 0.1, 0.05
    xs = np.linspace(-0.99, 0.99, 19801)
    cost = payoffs.tie_cost(xs[None, :, None], np.array([kappa]))[0]
    best = xs[np.argmax(field * xs - cost)]
    assert best == pytest.approx(np.tanh(field / kappa), abs=2e-4)


def test_logit_choice_frequencies_match_probabilities():
    """Inverse-CDF sampling with uniform draws reproduces the logit probabilities."""
    rng = np.random.default_rng(3)
    U = np.array([0.0, 0.001, 0.0015])
    tau, gamma = 0.0005, 0.0002
    moved = np.array([True, False, True])
    n = 200_000
    u = rng.random((1, n))
    choice = decision.choose(
        np.broadcast_to(U, (1, n, 3)),
        np.broadcast_to(moved, (1, n, 3)),
        np.array([decision.LOGIT]),
        np.array([tau]),
        np.array([gamma]),
        u,
        np.ones((1, n), dtype=int),
    )
    p = np.exp((U - gamma * moved) / tau)
    p /= p.sum()
    freq = np.bincount(choice.ravel(), minlength=3) / n
    np.testing.assert_allclose(freq, p, atol=0.005)


def test_best_response_and_fixed_rules():
    U = np.array([[[0.0, 0.001, 0.0012], [0.0, 0.0, 0.0]]])  # (1 state, 2 ties, 3)
    moved = np.broadcast_to(np.array([True, False, True]), U.shape)
    args = (np.array([0.0005]), np.array([0.0005]), np.zeros((1, 2)), np.ones((1, 2), int))
    best = decision.choose(U, moved, np.array([decision.BEST_RESPONSE]), *args)
    # +delta gains 0.0002 < move cost 0.0005: stay; a tie among equals stays as well
    assert best.tolist() == [[1, 1]]
    fixed = decision.choose(U + np.array([0, 0, 1.0]), moved, np.array([decision.FIXED]), *args)
    assert fixed.tolist() == [[1, 1]]


def test_shock_effects_ops_and_revert():
    world = compile_world(sim.load_scenario("scenarios/baseline.yaml"))
    az, ru, eu = (world.index(s) for s in ("AZ", "RU", "EU"))
    by_id = {s.id: s for s in world.shocks}
    P = apply_effects(world.base, [by_id["tap_start"], by_id["gas_memorandum"]])
    assert P.energy[az, eu] == pytest.approx(world.base.energy[az, eu] + 0.08 + 0.05)
    P = apply_effects(world.base, [by_id["ukraine_war"]])
    assert P.energy[eu, ru] == pytest.approx(world.base.energy[eu, ru] * 0.35)
    assert P.rivalry[ru, eu] == P.rivalry[eu, ru] == 0.9  # symmetric parameter
    assert world.base.rivalry[ru, eu] == 0.4  # the base world is never modified
    # a shock with a duration is active for exactly that many periods, then reverts
    shocks = world.shocks
    schedule = schedule_shocks(  # uniforms of 1: the probabilistic shocks never fire
        shocks,
        np.ones((1, len(shocks), world.n_periods)),
        np.array([[s.probability or np.nan for s in shocks]]),
        np.ones(len(shocks), dtype=bool),
    )
    embassy = by_id["tehran_embassy_attack"]
    active = []
    for p in range(world.n_periods):
        regime = schedule.regime[0, p]
        active.append(embassy.id in {s.id for s in schedule.active(regime)})
    first = active.index(True)
    assert first == embassy.period
    assert sum(active) == embassy.duration
    assert not any(active[first + embassy.duration :])


def test_probabilistic_shocks_fire_at_their_rate():
    """A per-period probability p fires in about p of the periods it can (uniform draws)."""
    seq = np.random.SeedSequence(123)
    u = np.concatenate([shock_uniforms(np.random.SeedSequence(k), "x", 100) for k in range(200)])
    assert abs((u < 0.05).mean() - 0.05) < 0.005
    # streams are keyed by shock id and seed: different ids and seeds give different draws
    a, b = shock_uniforms(seq, "oil", 10), shock_uniforms(seq, "flare", 10)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, shock_uniforms(np.random.SeedSequence(123), "oil", 10))


def test_compiled_streams_are_numpys_bit_for_bit():
    """``sim.world.streams`` makes numpy's ``SeedSequence`` + ``PCG64`` streams itself (50
    times faster for many short ones): the same uniforms for seeds of every kind (small,
    63-bit and 200-bit ints, entropy lists, spawned children) and spawn-key tails of one
    and two words."""
    from sim.world import streams

    parent = np.random.SeedSequence(2**200 + 12345)
    seqs = [
        np.random.SeedSequence(0),
        np.random.SeedSequence(7),
        np.random.SeedSequence(2**63 - 1),
        parent,
        *parent.spawn(3),
        np.random.SeedSequence([1, 2, 2**40]),
        np.random.SeedSequence(99, spawn_key=(5, 2**33)),
    ]
    tails = [(0x50CC5, 0), (0x50CC5, 2**32 - 1), (3,), (2**40, 1)]
    got = streams.uniforms(seqs, tails, 60)
    for r, seq in enumerate(seqs):
        for t, tail in enumerate(tails):
            child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, *tail))
            ref = np.random.default_rng(child).random(60)
            assert np.array_equal(got[r, t], ref), (r, t)


def test_int_seeds_words_laid_out_by_arrays_are_numpys(monkeypatch):
    """A run's int seed takes the array path (its words are its low and high 32 bits):
    the same uniforms as numpy, for seeds at every word boundary, with tails of one and
    two words and with none (``default_rng(seed)``); seeds of 2**64 and more take the
    word-by-word path, and a negative one is refused there."""
    from sim.world import streams

    ints = [0, 1, 2**32 - 1, 2**32, 2**32 + 7, 2**63 - 1, 2**64 - 1]
    tails = [(0x50CC5, 0), (3,), (2**40, 1)]
    got = streams.uniforms([streams.IntSeed(x) for x in ints], tails, 20)
    for r, x in enumerate(ints):
        for t, tail in enumerate(tails):
            child = np.random.SeedSequence(x, spawn_key=tail)
            assert np.array_equal(got[r, t], np.random.default_rng(child).random(20)), (x, tail)
    assert streams._int_seeded(ints, [[]]) is not None
    calls = []
    monkeypatch.setattr(streams, "_int_seeded", lambda *a: calls.append(a))
    streams.uniforms([streams.IntSeed(5), streams.IntSeed(5, (), 8)], [(3,)], 5)
    assert not calls  # a pool that is not numpy's: word by word
    for x in [*ints, 2**64, 2**70 + 3]:  # 2**64 and up: word by word
        out = np.empty((20, 1, 1))
        streams.draw(streams.int_seeded([x]), out)
        assert np.array_equal(out[:, 0, 0], np.random.default_rng(x).random(20)), x
    with pytest.raises(ValueError, match="non-negative"):
        streams.int_seeded([3, -1])


@pytest.mark.parametrize("block", [1, 3, 8, 92])
def test_int_seeds_draw_what_their_numpy_generators_draw(block):
    """For int seeds the ensemble makes the decision draws itself (no numpy generator):
    period after period, in blocks of any size, taken one or several periods at a time,
    the numbers of ``model_generator(seed)``, the Mesa model's generator."""
    from sim.drivers.engine import DecisionDraws, IntSeedDraws, model_generator

    seeds = [0, 1, 41, 2**31 + 5, 2**62 + 3]
    n = 4
    mine = IntSeedDraws(seeds, n, block)
    numpys = DecisionDraws([model_generator(s) for s in seeds], n, block)
    for most in [1, 2, 5, 1, 7, 3, 1, 9, 1]:
        a, b = mine.take(most), numpys.take(most)
        assert a.shape == b.shape and np.array_equal(a, b)
    assert np.array_equal(mine.next(), numpys.next())


def test_shock_draws_are_the_shock_streams():
    """Every replicate's draws for every probabilistic shock are its own stream
    (``shock_uniforms``, numpy's generator), with a sequence of another pool size left to
    numpy; dated shocks draw nothing (NaN)."""
    from sim.world.schedule import shock_draws

    world = compile_world(sim.load_scenario("scenarios/baseline.yaml"))
    seqs = [np.random.SeedSequence(k) for k in range(30)]
    seqs.append(np.random.SeedSequence(5, pool_size=8))
    draws = shock_draws(seqs, world.shocks, world.n_periods)
    probabilistic = [k for k, s in enumerate(world.shocks) if s.probability is not None]
    assert probabilistic and len(probabilistic) < len(world.shocks)
    for r, seq in enumerate(seqs):
        for k, shock in enumerate(world.shocks):
            if k in probabilistic:
                ref = shock_uniforms(seq, shock.id, world.n_periods)
                assert np.array_equal(draws[r, k], ref), (r, shock.id)
            else:
                assert np.isnan(draws[r, k]).all()


def test_exogenous_ties_are_pinned_while_the_shock_lasts():
    model = BalancingModel("scenarios/baseline.yaml", rng=4).run()
    w = model.world
    war = next(s for s in w.shocks if s.id == "ukraine_war")
    snaps = np.stack(model.datacollector.model_vars["ties"])
    eu, us, ru = w.index("EU"), w.index("US"), w.index("RU")
    after = snaps[war.period + 1 :]
    assert np.all(after[:, eu, ru] == -0.8) and np.all(after[:, us, ru] == -0.8)
    assert not np.all(snaps[: war.period + 1, eu, ru] == -0.8)


def test_shocks_change_parameters_not_ties_unless_flagged():
    """Only effects marked exogenous touch ties; every other effect names a parameter."""
    for path in ["scenarios/baseline.yaml", "scenarios/teaching.yaml"]:
        w = compile_world(sim.load_scenario(path))
        for s in w.shocks:
            spec = w.scenario.spec.shocks[s.id]
            for e in spec.effects:
                assert (e.param == "tie") == e.exogenous


def test_params_are_frozen_once_used():
    """Derived quantities are cached per Params; changing an input in place afterwards
    would silently use stale values, so the arrays become read-only instead."""
    w = compile_world(sim.load_scenario("scenarios/teaching.yaml"))
    P = w.base.copy()
    P.leverage[0, 1] = 0.5  # allowed before first use
    _ = P.derived
    with pytest.raises(ValueError, match="read-only"):
        P.leverage[0, 1] = 1.0
    Q = P.copy()  # a copy is writable again, with its own cache
    Q.leverage[0, 1] = 1.0
    assert Q.derived["leverage_weight"][0, 1] > P.derived["leverage_weight"][0, 1]


@pytest.mark.parametrize("path", SCENARIOS)
def test_indices_table_equals_the_collected_agent_variables(path):
    """The vectorized indices table (the fast path) reproduces the per-step agent
    variables of the Mesa DataCollector, and both modes give the same ties."""
    a = BalancingModel(path, rng=5, agent_data=True).run()
    b = BalancingModel(path, rng=5, agent_data=False).run()
    np.testing.assert_array_equal(a.ties, b.ties)
    agents = a.datacollector.get_agent_vars_dataframe()
    assert len(agents) == len(a.indices_table())
    table = a.indices_table().set_index(["step", "state"])
    by_uid = {ag.unique_id: ag.state_id for ag in a.agents}
    for (time, uid), row in agents.iterrows():
        got = table.loc[(int(time), by_uid[uid])]
        for col in INDEX_COLUMNS:
            np.testing.assert_allclose(got[col], row[col], rtol=1e-12, atol=1e-12, equal_nan=True)
    pd.testing.assert_frame_equal(a.indices_table(), b.indices_table())


def _stay_relative(world, T, P):
    """Gains of -delta and +delta from the reference scoring of every candidate."""
    values = decision.local_values(T, world.delta)
    U = decision.utility_of(decision.evaluate_full_rows(T, values, P), P)
    return np.stack([U[..., 0] - U[..., 1], U[..., 2] - U[..., 1]])


def test_local_gains_equal_full_row_differences(world):
    """The drivers' hot path (gains, affine in the move's sign where it can be) equals
    the utility differences of full-row scoring, impossible moves included."""
    rng = np.random.default_rng(23)
    off = ~np.eye(world.n, dtype=bool)
    P = world.params_with(world.shocks[:4])
    steps = rng.integers(-19, 20, (4, world.n, world.n))
    for trial in range(8):
        if trial < 4:  # anywhere (as after a pin): the tie cost is computed
            T = random_ties(rng, world.n, bound=0.95)
        else:  # on the lattice, reached by steps of delta (rounding included): a table
            T = np.zeros((world.n, world.n))
            for _ in range(int(np.abs(steps[trial - 4]).max())):
                T += (
                    world.delta
                    * np.sign(steps[trial - 4])
                    * (np.abs(T) < np.abs(steps[trial - 4] * world.delta) - 1e-9)
                )
            np.fill_diagonal(T, 0.0)
        T[0, 1], T[1, 0] = 0.95, -0.95  # one step from the bounds: one move impossible
        off_lattice = np.abs(T - np.rint(T / world.delta) * world.delta).max()
        assert (off_lattice > 1e-9) == (trial < 4)
        fast = payoffs.local_gains(T, P, world.delta)
        slow = _stay_relative(world, T, P)
        assert np.array_equal(np.isnan(fast[:, off]), np.isnan(slow[:, off]))
        assert np.isnan(fast[1, 0, 1]) and np.isnan(fast[0, 1, 0])
        np.testing.assert_allclose(fast[:, off], slow[:, off], rtol=0, atol=1e-12)
        assert np.isnan(fast[:, ~off]).all()


def test_local_gains_with_batched_ties_and_parameters(world):
    """Replicate r of a batch (ties and parameters per replicate) equals the unbatched
    call bit for bit: the arithmetic does not depend on the batch."""
    from sim.kernel.payoffs import stack_params, take

    rng = np.random.default_rng(8)
    Ts = np.stack([random_ties(rng, world.n, bound=0.95) for _ in range(5)])
    points = [world.base, world.params_with(world.shocks[:3])]
    stacked = take(stack_params(points), np.array([0, 1, 1, 0, 1]))
    out = payoffs.local_gains(Ts, stacked, world.delta)
    for r, k in enumerate([0, 1, 1, 0, 1]):
        one = payoffs.local_gains(Ts[r], points[k], world.delta)
        assert np.array_equal(out[:, r], one, equal_nan=True)


def test_row_components_equal_full_row_scoring(world):
    rng = np.random.default_rng(4)
    P = world.params_with(world.shocks[:4])
    Ts = np.stack([random_ties(rng, world.n, bound=0.95) for _ in range(6)])
    ref = payoffs.components(Ts[..., :, None, :], Ts, P)[..., 0, :]
    np.testing.assert_allclose(payoffs.row_components(Ts, P), ref, rtol=0, atol=1e-12)
    comp, util = payoffs.row_utility(Ts, P)
    np.testing.assert_allclose(util, payoffs.utility(ref[..., None, :], P)[..., 0], atol=1e-12)


def test_choose_local_agrees_with_choose(world):
    """The three-candidate shortcut picks what the general rule picks from the same draws
    (logit, best response and fixed states mixed)."""
    rng = np.random.default_rng(2)
    P = world.base
    rules = rng.integers(0, 3, world.n)
    for _ in range(3):
        T = random_ties(rng, world.n, bound=0.95)
        u = rng.random((world.n, world.n))
        values = decision.local_values(T, world.delta)
        U = decision.utility_of(decision.evaluate(T, values, P), P)
        moved = np.broadcast_to(np.array([True, False, True]), values.shape)
        stay = np.ones((world.n, world.n), dtype=int)
        ref = decision.choose(U, moved, rules, P.tau, P.gamma, u, stay)
        got = decision.choose_local(
            payoffs.local_gains(T, P, world.delta), rules, P.tau, P.gamma, u
        )
        off = ~np.eye(world.n, dtype=bool)
        assert np.array_equal(got[off], ref[off])


def test_row_components_on_the_lattice_use_the_table_to_rounding(world):
    """With the tie step given, lattice ties take their tie cost from a table."""
    rng = np.random.default_rng(6)
    T = np.round(random_ties(rng, world.n, bound=0.95) / world.delta) * world.delta
    T[0, 1] = 0.95 + 1e-13  # rounding noise of repeated steps stays on the lattice
    plain = payoffs.row_components(T, world.base)
    table = payoffs.row_components(T, world.base, world.delta)
    np.testing.assert_allclose(table, plain, rtol=0, atol=1e-12)
    assert payoffs._lattice_index(T, world.delta) is not None
    assert payoffs._lattice_index(T + 0.01, world.delta) is None
