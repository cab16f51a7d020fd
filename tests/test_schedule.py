"""The shock schedule: one function fires the shocks of one run or of a whole ensemble."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
from worlds import build, sourced, teaching_dict

import sim
from sim.drivers.engine import model_generator
from sim.world.compiled import compile_world
from sim.world.schedule import schedule_shocks, shock_draws
from sim.world.shocks import pinned_ties
from sim.world.sweep import Sweep


def _random_world():
    """The teaching world with two probabilistic shocks: `sanctions` (2022-2025, lasts
    two periods, may fire three times) and `gas_find` (any period, for good)."""
    d = teaching_dict()
    effect = {"pair": ["SM", "EA"], "op": "add", "assumption": "a test event"}
    d["shocks"]["sanctions"] = {
        "label": "Westland sanctions Eastland",
        "probability": sourced(0.35),
        "window": {"start": dt.date(2022, 1, 1), "end": dt.date(2025, 12, 31)},
        "duration": 2,
        "max_fires": 3,
        "assumption": "a test event",
        "effects": [{"param": "threat", "value": 0.5, **effect}],
    }
    d["shocks"]["gas_find"] = {
        "label": "Smallland finds gas",
        "probability": sourced(0.1),
        "assumption": "a test event",
        "effects": [{"param": "energy", "value": 0.2, **effect}],
    }
    return compile_world(build(d))


def _schedule(world, seeds, shocks_off=()):
    sweep = Sweep([world], shocks_off)
    seqs = [model_generator(s).bit_generator.seed_seq for s in seeds]
    draws = shock_draws(seqs, sweep.shocks, world.n_periods)
    prob = np.repeat(sweep.probability, len(seeds), axis=0)
    return schedule_shocks(sweep.shocks, draws, prob, sweep.enabled)


def test_a_chunk_schedule_is_each_replicates_own():
    """Row r of an ensemble's schedule is the schedule of replicate r run alone."""
    world = _random_world()
    seeds = list(range(40))
    chunk = _schedule(world, seeds)
    for r, seed in enumerate(seeds):
        own = _schedule(world, [seed])
        assert [chunk.regimes[k] for k in chunk.regime[r]] == [
            own.regimes[k] for k in own.regime[0]
        ]
        assert chunk.log(r) == own.log(0)
    # a few regimes, many replicates: the schedule is shared, not per replicate
    assert len(chunk.regimes) < len(seeds) * world.n_periods


def test_schedule_obeys_window_duration_and_max_fires():
    world = _random_world()
    sanctions = next(k for k, s in enumerate(world.shocks) if s.id == "sanctions")
    shock = world.shocks[sanctions]
    sched = _schedule(world, list(range(200)))
    lo, hi = shock.window
    fired_any = False
    for r in range(200):
        active = np.array([sanctions in sched.regimes[k] for k in sched.regime[r]])
        firings = [p for p, sid in sched.log(r) if sid == "sanctions"]
        assert len(firings) <= shock.max_fires
        assert all(lo <= p <= hi for p in firings)
        for p in firings:  # each firing is active exactly `duration` periods
            assert active[p : p + shock.duration].all()
        assert active.sum() == sum(min(shock.duration, world.n_periods - p) for p in firings)
        fired_any |= bool(firings)
    assert fired_any


def test_regimes_order_shocks_by_firing_and_records_lag_one_period():
    world = _random_world()
    sched = _schedule(world, [5])
    assert sched.regimes[0] == ()
    steps = np.arange(world.n_periods + 1)
    rec = sched.record_regimes(steps)
    assert rec[0, 0] == 0  # step 0 is recorded before any period
    np.testing.assert_array_equal(rec[0, 1:], sched.regime[0])
    for k in set(sched.regime[0]):
        fired = {sid: p for p, sid in sched.log(0)}
        order = [fired[world.shocks[i].id] for i in sched.regimes[k]]
        assert order == sorted(order)


def test_switched_off_shock_never_fires_and_others_keep_their_draws():
    world = _random_world()
    on = _schedule(world, list(range(30)))
    off = _schedule(world, list(range(30)), shocks_off=("sanctions",))
    for r in range(30):
        assert all(sid != "sanctions" for _, sid in off.log(r))
        assert [e for e in on.log(r) if e[1] != "sanctions"] == off.log(r)


def test_mesa_model_reads_its_row_of_the_schedule():
    world = _random_world()
    model = sim.BalancingModel(world=world, rng=11, agent_data=False).run()
    assert model.shock_log == _schedule(world, [11]).log(0)


def test_pins_follow_the_regime_and_a_later_shock_wins():
    world = compile_world(sim.load_scenario("scenarios/baseline.yaml"))
    k = next(k for k, s in enumerate(world.shocks) if s.ties)  # the sanctions regimes
    pins = Sweep([world]).pins((k,))
    T = np.zeros((world.n, world.n))
    pins.apply(T)
    for i, j, v in world.shocks[k].ties:
        assert T[i, j] == v
    assert Sweep([world]).pins(()) is None
    first = world.shocks[k]
    (i, j, _), *_ = first.ties
    later = dataclasses.replace(first, id="later", ties=((i, j, 0.25),))
    assert pinned_ties([first, later])[(i, j)] == 0.25
    assert pinned_ties([later, first])[(i, j)] == first.ties[0][2]


def test_unique_rows_equal_numpys_unique_rows():
    """The regimes' fast grouping of replicates equals ``np.unique(axis=0)``: rows and
    their order, and the inverse, with constant columns (dated shocks), narrow entries
    (one integer per row) and wide ones (sorted instead)."""
    from sim.world.schedule import _unique_rows

    rng = np.random.default_rng(0)
    for trial in range(300):
        r, c = int(rng.integers(1, 60)), int(rng.integers(0, 20))
        a = rng.integers(-1, int(rng.integers(0, 120)) + 1, (r, c))
        if c and trial % 3 == 0:
            a[:, : c // 2] = a[0, : c // 2]
        if c and trial % 5 == 0:
            a[:, c // 2 :] = rng.integers(-1, 2**20, (r, c - c // 2))
        rows, inverse = np.unique(a, axis=0, return_inverse=True)
        got_rows, got_inverse = _unique_rows(a)
        assert np.array_equal(got_rows, rows) and np.array_equal(got_inverse, inverse.ravel())


def _reference_schedule(shocks, draws, probability, enabled):
    """The module docstring's timing, replicate by replicate in plain Python: each
    period's regime (active shocks by the period they fired in, then scenario order) and
    the firings ``(replicate, period, shock)``."""
    r, n, periods = draws.shape
    regimes, firings = [], []
    for b in range(r):
        fired_at, fires, row = [-1] * n, [0] * n, []
        for p in range(periods):
            for k, s in enumerate(shocks):
                if fired_at[k] >= 0 and s.duration is not None and p >= fired_at[k] + s.duration:
                    fired_at[k] = -1
            for k, s in enumerate(shocks):
                if not enabled[k]:
                    continue
                if s.period is not None:
                    fire = s.period == p
                else:
                    lo, hi = s.window
                    fire = (
                        lo <= p <= hi
                        and fired_at[k] < 0
                        and fires[k] < s.max_fires
                        and draws[b, k, p] < probability[b, k]
                    )
                if fire:
                    fired_at[k], fires[k] = p, fires[k] + 1
                    firings.append((b, p, k))
            row.append(tuple(sorted((k for k in range(n) if fired_at[k] >= 0),
                                    key=lambda k: (fired_at[k], k))))  # fmt: skip
        regimes.append(row)
    return regimes, firings


def test_compiled_schedule_equals_the_reference_in_random_worlds():
    """The compiled firings and the regimes named from them equal the plain-Python
    reference, in worlds of random dated and probabilistic shocks: durations (or none),
    windows, ``max_fires``, shocks switched off, per-replicate probabilities."""
    from sim.world.shocks import CompiledShock

    rng = np.random.default_rng(7)
    for _ in range(60):
        n, periods, r = int(rng.integers(0, 7)), int(rng.integers(1, 30)), int(rng.integers(1, 25))
        shocks = []
        for k in range(n):
            lo = int(rng.integers(0, periods))
            shocks.append(
                CompiledShock(
                    id=f"s{k}",
                    label="",
                    effects=(),
                    ties=(),
                    period=int(rng.integers(0, periods)) if rng.random() < 0.4 else None,
                    probability=float(rng.random()),
                    window=(lo, int(rng.integers(lo, periods))),
                    duration=None if rng.random() < 0.3 else int(rng.integers(1, 6)),
                    max_fires=int(rng.integers(1, 5)),
                )  # fmt: skip
            )
        draws = rng.random((r, n, periods))
        probability = rng.random((r, n))
        enabled = rng.random(n) < 0.85
        got = schedule_shocks(shocks, draws, probability, enabled)
        regimes, firings = _reference_schedule(shocks, draws, probability, enabled)
        assert [[got.regimes[g] for g in row] for row in got.regime] == regimes
        assert list(zip(got.fired_replicate.tolist(), got.fired_period.tolist(),
                        got.fired_shock.tolist(), strict=True)) == firings  # fmt: skip
        assert got.regimes[0] == () and len(set(got.regimes)) == len(got.regimes)
