"""The ensemble driver: many replicates of a scenario advanced together in numpy.

One kernel, two drivers. The Mesa model (:class:`~sim.drivers.model.BalancingModel`) steps one
world with its agents; this driver steps R worlds at once through the same functions
(:func:`sim.kernel.decision.period_choices` and :func:`sim.kernel.decision.apply_choices`), with a
leading replicate axis on the ties. Replicate k with seed ``s`` equals the Mesa run with
``rng=s``, tie for tie and step for step (``tests/test_ensemble.py`` checks it for every
shipped scenario), because both take the same numbers in the same order:

- the decision draws come from the generator Mesa builds from the seed
  (:func:`model_generator`), one ``(N, N + 1)`` block per period, burn-in included;
- each probabilistic shock draws from its own stream derived from the seed and the
  shock's id (:func:`sim.world.shocks.shock_uniforms`), so replicates fire shocks
  independently and a shock in one counterfactual arm shifts no other draw;
- the parameters in force are those of the run's sequence of active shocks, from the same
  cache as the Mesa model's (:meth:`sim.world.World.params_with`).

Replicates may also differ in parameters (one sweep point per replicate, given as
overrides of the scenario); replicates that share a point share its compiled world, and
the points' parameters are stacked so that a sweep still runs as one ensemble.

Replicates run in chunks small enough for the arrays of a period to stay in the CPU
cache; results come out chunk by chunk (:func:`iter_ensemble`) or all at once
(:func:`run_ensemble`), reduced on the fly to the tables and dates asked for.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.drivers.model import INDEX_COLUMNS
from sim.errors import UserError
from sim.kernel import decision, indices
from sim.kernel.payoffs import Params, row_utility
from sim.scenario import Scenario, load_scenario, period_start, with_overrides
from sim.world.compiled import World, compile_world, world_for
from sim.world.shocks import CompiledShock, shock_uniforms

Seed = int | np.random.SeedSequence
KEEP = ("indices", "ties")


def model_generator(seed: Seed) -> np.random.Generator:
    """The generator a :class:`~sim.drivers.model.BalancingModel` with ``rng=seed`` draws from.

    ``mesa.Model`` builds ``numpy.random.default_rng(seed)`` and, for a seed that is not
    an int, draws one integer from it to seed its ``random.Random``; the model's own draws
    start after that. (A test compares the states with Mesa's.)
    """
    g = np.random.default_rng(seed)
    if not isinstance(seed, int | np.integer):
        g.integers(np.iinfo(np.int32).max)
    return g


@dataclass
class EnsembleResult:
    """Replicates of one scenario: tidy tables like :class:`~sim.run.RunResult`'s.

    Attributes:
        indices: replicate, seed, step, date, state and the index columns of
            ``multivector run`` (alignment_index, hedging_index, energy, security,
            alignment, cost, utility).
        ties: replicate, seed, step, date, state, partner, tie (``keep="ties"`` only).
        shocks: replicate, seed, id, label, kind, period, date: every shock that fired.
        replicates: replicate, seed, entropy, spawn_key, point (the sweep point's index),
            and a column per overridden parameter.
        ``replicate`` numbers the seeds in the order given; ``seed`` is the int seed or
        -1 for a ``SeedSequence`` (its entropy and spawn key are in ``replicates``).
    """

    scenario: Scenario
    world: World
    indices: pd.DataFrame
    ties: pd.DataFrame | None
    shocks: pd.DataFrame
    replicates: pd.DataFrame
    wall_time: float
    shocks_off: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.replicates)

    def index_array(self, column: str) -> np.ndarray:
        """``(R, steps, N)`` array of one column of :attr:`indices`."""
        steps = self.indices["step"].nunique()
        return self.indices[column].to_numpy().reshape(self.n, steps, self.world.n)

    def figure(self):
        """Fan charts of the focus state's indices over the replicates (matplotlib)."""
        from sim.outputs.plots import ensemble_figure

        steps = np.sort(self.indices["step"].unique())
        return ensemble_figure(
            self.world,
            steps,
            self.index_array("alignment_index"),
            self.index_array("hedging_index"),
            self.shocks,
        )


def run_ensemble(
    scenario: Scenario | str | Path,
    seeds: Sequence[Seed] | int,
    *,
    overrides: Sequence[Mapping[str, Any] | None] | None = None,
    shocks_off: Sequence[str] = (),
    keep: str = "indices",
    dates: Sequence[Any] | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EnsembleResult:
    """Run replicates of a scenario in one numpy pass; all results in memory.

    Args:
        scenario: a loaded scenario or a path.
        seeds: one seed per replicate (ints >= 0 or ``numpy.random.SeedSequence``), or
            a count R for the seeds ``0 .. R - 1``.
        overrides: one mapping per replicate (or ``None``) of parameter values, as for
            :func:`sim.scenario.with_overrides`: a parameter sweep in one ensemble.
        shocks_off: shock ids switched off in every replicate.
        keep: ``"indices"`` (the indices table) or ``"ties"`` (the tie table too).
        dates: keep only the records of these dates (each the record that closes the
            period containing it; the start date gives step 0); default: every step.
        chunk_size: replicates per chunk (default: sized for the CPU cache).
        progress: called with (replicates done, total) after every chunk.

    Replicate k equals ``BalancingModel(with_overrides(scenario, overrides[k]),
    rng=seeds[k], shocks_off=shocks_off)`` run over the horizon.
    """
    t0 = time.perf_counter()
    parts = list(
        iter_ensemble(
            scenario,
            seeds,
            overrides=overrides,
            shocks_off=shocks_off,
            keep=keep,
            dates=dates,
            chunk_size=chunk_size,
            progress=progress,
        )
    )
    first = parts[0]

    def cat(name: str) -> pd.DataFrame | None:
        frames = [getattr(p, name) for p in parts]
        if frames[0] is None:
            return None
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if not out["replicate"].is_monotonic_increasing:  # several stacks: restore order
            out = out.sort_values("replicate", kind="stable", ignore_index=True)
        return out

    return EnsembleResult(
        scenario=first.scenario,
        world=first.world,
        indices=cat("indices"),
        ties=cat("ties"),
        shocks=cat("shocks"),
        replicates=cat("replicates"),
        wall_time=time.perf_counter() - t0,
        shocks_off=tuple(shocks_off),
    )


def iter_ensemble(
    scenario: Scenario | str | Path,
    seeds: Sequence[Seed] | int,
    *,
    overrides: Sequence[Mapping[str, Any] | None] | None = None,
    shocks_off: Sequence[str] = (),
    keep: str = "indices",
    dates: Sequence[Any] | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[EnsembleResult]:
    """:func:`run_ensemble` one chunk at a time (bounded memory: stream it to disk).

    Yields one :class:`EnsembleResult` per chunk. Chunks come in replicate order unless
    the overrides change more than parameter values (the tie step, the burn-in, the
    shocks' structure): then each such group of sweep points runs as its own stack, one
    after the other. Overrides may not change the time axis (``time.*``).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seeds = check_seeds(seeds)
    if keep not in KEEP:
        raise UserError(f"keep: expected one of {', '.join(KEEP)}, got {keep!r}")
    r_total = len(seeds)
    overrides = _check_overrides(overrides, r_total)
    base = world_for(scenario)
    check_shocks_off(base, shocks_off)
    steps = record_steps(base, dates)
    _reuse_freed_memory()

    # sweep points: one compiled world per distinct set of overrides
    point_of: dict[tuple, int] = {}
    point_overrides: list[dict] = []
    pts = np.empty(r_total, dtype=np.intp)
    for r, ov in enumerate(overrides):
        key = tuple(sorted((str(k), _hashable(v)) for k, v in (ov or {}).items()))
        if key not in point_of:
            point_of[key] = len(point_overrides)
            point_overrides.append(dict(ov or {}))
        pts[r] = point_of[key]
    worlds = [
        base if not ov else compile_world(with_overrides(scenario, ov, origin="overrides"))
        for ov in point_overrides
    ]
    for ov, w in zip(point_overrides, worlds, strict=True):
        if w.scenario.spec.time != scenario.spec.time:
            raise UserError(
                f"overrides {ov}: change the scenario's time axis; the replicates of one "
                "ensemble share their dates (run a separate ensemble for another horizon)"
            )
    # worlds differing in more than parameter values cannot share arrays: one stack each
    stacks: dict[tuple, list[int]] = {}
    for k, w in enumerate(worlds):
        stacks.setdefault(_structure(w), []).append(k)
    if len(stacks) > 1:
        order = np.argsort(
            [next(i for i, key in enumerate(stacks) if k in stacks[key]) for k in pts],
            kind="stable",
        )
    else:
        order = np.arange(r_total)

    size = chunk_size or default_chunk_size(base.n)
    done = 0
    for members in stacks.values():
        stack = _Stack([worlds[k] for k in members], shocks_off)
        local_pt = {k: i for i, k in enumerate(members)}
        rows = [r for r in order if pts[r] in local_pt]
        for lo in range(0, len(rows), size):
            chunk = np.array(rows[lo : lo + size], dtype=np.intp)
            t0 = time.perf_counter()
            sim = _simulate(
                stack,
                [seeds[r] for r in chunk],
                np.array([local_pt[pts[r]] for r in chunk], dtype=np.intp),
                steps,
            )
            yield _tables(
                scenario,
                base,
                stack,
                sim,
                chunk,
                [seeds[r] for r in chunk],
                pts[chunk],
                point_overrides,
                steps,
                keep,
                tuple(shocks_off),
                time.perf_counter() - t0,
            )
            done += len(chunk)
            if progress is not None:
                progress(done, r_total)


def ensemble_ties(
    scenario: Scenario,
    seeds: Sequence[Seed],
    *,
    shocks_off: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The tie matrices of every replicate at every record: ``(R, steps, N, N)``.

    The raw arrays behind :func:`run_ensemble`'s tables (no overrides), for analyses
    that work on ties directly (validation).
    """
    seeds = check_seeds(seeds)
    world = world_for(scenario)
    check_shocks_off(world, shocks_off)
    _reuse_freed_memory()
    stack = _Stack([world], shocks_off)
    steps = np.arange(world.n_periods + 1)
    size = default_chunk_size(world.n)
    out = np.empty((len(seeds), len(steps), world.n, world.n))
    for lo in range(0, len(seeds), size):
        chunk = seeds[lo : lo + size]
        out[lo : lo + len(chunk)] = _simulate(
            stack, chunk, np.zeros(len(chunk), dtype=np.intp), steps
        ).snaps
        if progress is not None:
            progress(lo + len(chunk), len(seeds))
    return out


def default_chunk_size(n: int) -> int:
    """Replicates per chunk: a period's arrays (a few hundred KB each) stay in the L2 cache.

    Much larger chunks spill the cache; below ~16 replicates, Python's overhead per numpy
    call dominates. (Measured with ``python -m sim.tools.bench ensemble --chunk-sizes``.)
    """
    return int(np.clip(20000 // (n * n), 16, 2048))


_MALLOC_TUNED = False


def _reuse_freed_memory() -> None:
    """Ask glibc to keep freed numpy temporaries for reuse (Linux; a no-op elsewhere).

    A period allocates dozens of arrays of a few hundred KB. Above glibc's dynamic mmap
    threshold each one is a fresh mapping, and the page faults of touching it cost more
    than the arithmetic (about a third of the ensemble's time on the chunk sizes above).
    Raising the mmap and trim thresholds lets the heap serve them again; the process
    keeps up to 128 MB of freed memory instead of returning it at once.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (glibc's maximum)
        libc.mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------------------
# Checking the arguments
# --------------------------------------------------------------------------------------


def check_seeds(seeds) -> list[Seed]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise UserError(f"seeds: expected at least 1 replicate, got {seeds}")
        return list(range(int(seeds)))
    out: list[Seed] = []
    for k, s in enumerate(seeds):
        if isinstance(s, np.random.SeedSequence):
            out.append(s)
        elif isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0:
            out.append(int(s))
        else:
            raise UserError(
                f"seeds[{k}]: expected a whole number >= 0 or a numpy SeedSequence, got {s!r}"
            )
    if not out:
        raise UserError("seeds: expected at least one seed")
    return out


def _check_overrides(overrides, r: int) -> list[Mapping | None]:
    if overrides is None:
        return [None] * r
    overrides = list(overrides)
    if len(overrides) != r:
        raise UserError(
            f"overrides: expected one mapping (or None) per seed, {r} in all; got {len(overrides)}"
        )
    return overrides


def check_shocks_off(world: World, ids: Sequence[str]) -> None:
    from sim.drivers.run import check_shock_ids

    check_shock_ids(world, ids)


def record_steps(world: World, dates) -> np.ndarray:
    """The steps to record: all, or those of the given dates (sorted, unique)."""
    if dates is None:
        return np.arange(world.n_periods + 1)
    start = period_start(world.scenario.spec.time, 0)
    last = world.date(world.n_periods)
    out = set()
    for d in dates:
        d = pd.Timestamp(d).date() if not isinstance(d, dt.date) else d
        if d < start - dt.timedelta(days=1) or d > last:
            raise UserError(
                f"dates: {d} is outside the scenario's records "
                f"({start - dt.timedelta(days=1)} to {last})"
            )
        out.add(0 if d < start else world.step_of(d))
    return np.array(sorted(out), dtype=np.intp)


def _hashable(v: Any) -> Any:
    return tuple(map(_hashable, v)) if isinstance(v, list | tuple) else v


def _structure(w: World) -> tuple:
    """What must be equal for worlds to run in one stack (parameter values may differ)."""
    shocks = tuple(
        (
            s.id,
            s.period,
            s.window,
            s.duration,
            s.max_fires,
            s.probability is None,
            tuple(
                (e.param, e.op, e.rows.tobytes(), None if e.cols is None else e.cols.tobytes())
                for e in s.effects
            ),
            tuple((i, j) for i, j, _ in s.ties),
        )
        for s in w.shocks
    )
    return (
        tuple(w.ids),
        w.rules.tobytes(),
        w.delta,
        w.update,
        w.candidates,
        w.n_periods,
        w.burn_in,
        w.base.groups.tobytes(),
        w.toward.tobytes(),
        w.away.tobytes(),
        shocks,
    )


# --------------------------------------------------------------------------------------
# Parameters of a stack of sweep points
# --------------------------------------------------------------------------------------


def take(P: Params, idx: np.ndarray) -> Params:
    """Rows ``idx`` of a ``Params`` batched over its first axis, derived quantities too."""
    out = replace(
        P,
        **{f.name: getattr(P, f.name)[idx] for f in fields(P) if f.name != "groups"},
    )
    vars(out)["derived"] = {k: v[idx] for k, v in P.derived.items()}
    return out


def stack_params(params: list[Params]) -> Params:
    """One ``Params`` batched over points from unbatched ones (derived stacked, not redone).

    Stacking each point's own derived quantities keeps the arithmetic identical to the
    Mesa model's, which computes them on the point alone.
    """
    first = params[0]
    out = replace(
        first,
        **{
            f.name: np.stack([getattr(p, f.name) for p in params])
            for f in fields(first)
            if f.name != "groups"
        },
    )
    vars(out)["derived"] = {k: np.stack([p.derived[k] for p in params]) for k in first.derived}
    return out


@dataclass
class _Stack:
    """Worlds with one structure (a sweep's points), their shocks and parameter sets."""

    worlds: list[World]
    shocks_off: Sequence[str]
    _params: dict = field(default_factory=dict)
    _pins: dict = field(default_factory=dict)

    def __post_init__(self):
        w = self.worlds[0]
        self.world = w
        self.shocks: list[CompiledShock] = w.shocks
        off = set(self.shocks_off)
        self.enabled = np.array([s.id not in off for s in self.shocks], dtype=bool)
        self.prob_idx = [k for k, s in enumerate(self.shocks) if s.probability is not None]
        # (points, shocks) probability of each probabilistic shock (NaN for dated ones)
        self.prob = np.array(
            [
                [np.nan if s.probability is None else s.probability for s in pw.shocks]
                for pw in self.worlds
            ]
        ).reshape(len(self.worlds), len(self.shocks))

    @property
    def n_points(self) -> int:
        return len(self.worlds)

    def params(self, key: tuple[int, ...]) -> Params:
        """Parameters with the shocks ``key`` (indices, in firing order) applied.

        One point: the world's own cached ``Params`` (the object the Mesa model uses).
        Several: the points' parameter sets stacked on a leading axis.
        """
        P = self._params.get(key)
        if P is None:
            per = [pw.params_with([pw.shocks[k] for k in key]) for pw in self.worlds]
            P = self._params[key] = per[0] if len(per) == 1 else stack_params(per)
        return P

    def pins(self, key: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Ties pinned under ``key``: rows, columns, values ``(points, pins)``; later wins."""
        if key not in self._pins:
            per = []
            for pw in self.worlds:
                d: dict[tuple[int, int], float] = {}
                for k in key:
                    for i, j, v in pw.shocks[k].ties:
                        d[(i, j)] = v
                per.append(d)
            if not per[0]:
                self._pins[key] = None
            else:
                ij = list(per[0])
                vals = np.array([[d[p] for p in ij] for d in per])
                self._pins[key] = (
                    np.array([p[0] for p in ij]),
                    np.array([p[1] for p in ij]),
                    vals,
                )
        return self._pins[key]


# --------------------------------------------------------------------------------------
# Simulation of one chunk
# --------------------------------------------------------------------------------------


@dataclass
class _Sim:
    snaps: np.ndarray  # (R, S, N, N) recorded ties
    keys: np.ndarray  # (R, S) index into key_list: the shocks in force at each record
    key_list: list[tuple[int, ...]]
    log: list[tuple[np.ndarray, int, int]]  # (replicates, period, shock index) firings
    pts: np.ndarray  # (R,) point of each replicate within the stack


def _simulate(stack: _Stack, seeds: list[Seed], pts: np.ndarray, steps: np.ndarray) -> _Sim:
    w = stack.world
    n, r = w.n, len(seeds)
    gens = [model_generator(s) for s in seeds]
    n_periods = w.n_periods
    # probabilistic shocks: one stream per replicate and shock, as in the Mesa model
    prob_idx = stack.prob_idx
    unif = np.empty((r, len(prob_idx), n_periods))
    for a, g in enumerate(gens):
        seq = g.bit_generator.seed_seq
        for b, k in enumerate(prob_idx):
            unif[a, b] = shock_uniforms(seq, stack.shocks[k].id, n_periods)

    draws = _Draws(gens, n)
    T = np.zeros((r, n, n))
    settings = dict(rules=w.rules, delta=w.delta, candidates=w.candidates, update=w.update)
    one_point = stack.n_points == 1

    def decide(T: np.ndarray, u: np.ndarray, key: tuple, members: np.ndarray | None) -> np.ndarray:
        P = stack.params(key)
        if not one_point:
            P = take(P, pts if members is None else pts[members])
        values, choice, revising = decision.period_choices(T, P, u, **settings)
        return decision.apply_choices(T, values, choice, revising, w.delta)

    for _ in range(w.burn_in):
        T = decide(T, draws.next(), (), None)

    record = np.zeros(n_periods + 1, dtype=bool)
    record[steps] = True
    slot = np.cumsum(record) - 1
    snaps = np.empty((r, len(steps), n, n))
    keys = np.zeros((r, len(steps)), dtype=np.intp)
    key_list: list[tuple[int, ...]] = [()]
    key_index = {(): 0}
    if record[0]:
        snaps[:, 0] = T

    s_count = len(stack.shocks)
    fired_at = np.full((r, s_count), -1, dtype=np.int64)
    fires = np.zeros((r, s_count), dtype=np.int64)
    duration = np.array([-1 if s.duration is None else s.duration for s in stack.shocks])
    prob_at = stack.prob[pts]  # (R, shocks)
    log: list[tuple[np.ndarray, int, int]] = []
    rep_key = np.zeros(r, dtype=np.intp)  # index into key_list per replicate
    everyone = np.arange(r)

    for p in range(n_periods):
        # shocks: end the expired, then start those due (scenario order), as Timeline does
        active = fired_at >= 0
        expired = active & (duration >= 0) & (p >= fired_at + duration)
        changed = expired.any(axis=1)
        fired_at[expired] = -1
        active = fired_at >= 0
        for k, s in enumerate(stack.shocks):
            if not stack.enabled[k]:
                continue
            if s.period is not None:
                if s.period != p:
                    continue
                fire = np.ones(r, dtype=bool)
            else:
                lo, hi = s.window
                if not lo <= p <= hi:
                    continue
                b = prob_idx.index(k)
                fire = ~active[:, k] & (fires[:, k] < s.max_fires) & (unif[:, b, p] < prob_at[:, k])
                if not fire.any():
                    continue
            fired_at[fire, k] = p
            fires[fire, k] += 1
            changed |= fire
            log.append((np.flatnonzero(fire), p, k))
        if changed.any():
            rep_key = _keys(fired_at, key_list, key_index)

        u = draws.next()
        groups = np.unique(rep_key)
        if len(groups) == 1:
            key = key_list[groups[0]]
            _pin(T, stack.pins(key), pts, None)
            T = decide(T, u, key, None)
            _pin(T, stack.pins(key), pts, None)
        else:
            for g in groups:
                members = everyone[rep_key == g]
                key = key_list[g]
                sub = T[members]
                _pin(sub, stack.pins(key), pts, members)
                sub = decide(sub, u[members], key, members)
                _pin(sub, stack.pins(key), pts, members)
                T[members] = sub
        if record[p + 1]:
            snaps[:, slot[p + 1]] = T
            keys[:, slot[p + 1]] = rep_key
    return _Sim(snaps, keys, key_list, log, pts)


def _keys(fired_at: np.ndarray, key_list: list, key_index: dict) -> np.ndarray:
    """Per replicate, the index of its active shocks in firing order (period, then
    scenario order: the order of the Mesa Timeline's active list)."""
    uniq, inverse = np.unique(fired_at, axis=0, return_inverse=True)
    out = np.empty(len(uniq), dtype=np.intp)
    for a, row in enumerate(uniq):
        act = np.flatnonzero(row >= 0)
        key = tuple(int(k) for k in act[np.lexsort((act, row[act]))])
        if key not in key_index:
            key_index[key] = len(key_list)
            key_list.append(key)
        out[a] = key_index[key]
    return out[inverse.ravel()]


def _pin(T: np.ndarray, pins, pts: np.ndarray, members: np.ndarray | None) -> None:
    if pins is None:
        return
    ii, jj, vals = pins
    if len(vals) == 1:
        T[:, ii, jj] = vals[0]
    else:
        T[:, ii, jj] = vals[pts if members is None else pts[members]]


class _Draws:
    """Each replicate's decision draws, ``(R, N, N + 1)`` per period, fetched in blocks.

    A block of k periods from one generator call holds the same numbers as k calls of
    one period each (numpy fills arrays in order), so this matches the Mesa model's
    one call per period.
    """

    BLOCK = 8

    def __init__(self, gens: list[np.random.Generator], n: int):
        self.gens = gens
        self.n = n
        self.buf = np.empty((0,))
        self.at = self.BLOCK

    def next(self) -> np.ndarray:
        if self.at == self.BLOCK:
            n = self.n
            self.buf = np.stack([g.random((self.BLOCK, n, n + 1)) for g in self.gens], axis=1)
            self.at = 0
        u = self.buf[self.at]
        self.at += 1
        return u


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def _tables(
    scenario: Scenario,
    base: World,
    stack: _Stack,
    sim: _Sim,
    replicates: np.ndarray,
    seeds: list[Seed],
    points: np.ndarray,
    point_overrides: list[dict],
    steps: np.ndarray,
    keep: str,
    shocks_off: tuple[str, ...],
    wall: float,
) -> EnsembleResult:
    w = stack.world
    n = w.n
    r, s = sim.snaps.shape[:2]
    seed_col = np.array([s_ if isinstance(s_, int) else -1 for s_ in seeds], dtype=np.int64)
    dates = pd.to_datetime(w.record_dates(steps))

    # indices: the same functions and parameter sets as BalancingModel.indices_table
    # (in blocks of records small enough for the cache; per record the arithmetic is the
    # same whatever the block)
    block = 4 * default_chunk_size(n)
    values = np.empty((len(INDEX_COLUMNS), r * s, n))  # column-major: cheap columns below
    flat = sim.snaps.reshape(r * s, n, n)
    for lo in range(0, r * s, block):
        part = flat[lo : lo + block]
        values[0, lo : lo + block] = indices.alignment_index(part, w.toward, w.away)
        values[1, lo : lo + block] = indices.hedging_index(part, w.base.groups)
    keys = sim.keys.ravel()
    rec_pts = np.repeat(sim.pts, s)
    for k in np.unique(keys):
        at = np.flatnonzero(keys == k)
        P_key = stack.params(sim.key_list[k])
        for lo in range(0, len(at), block):
            sel = at[lo : lo + block]
            P = P_key if stack.n_points == 1 else take(P_key, rec_pts[sel])
            comp, util = row_utility(flat[sel], P, w.delta)
            values[2:6, sel] = np.moveaxis(comp, -1, 0)
            values[6, sel] = util
    base_cols = {
        "replicate": np.repeat(replicates.astype(np.int64), s * n),
        "seed": np.repeat(seed_col, s * n),
        "step": np.tile(np.repeat(steps.astype(np.int64), n), r),
        "date": np.tile(np.repeat(dates.values, n), r),
        "state": pd.Categorical.from_codes(np.tile(np.arange(n), r * s), categories=w.ids),
    }
    ix = pd.DataFrame(base_cols)
    for c, col in enumerate(INDEX_COLUMNS):
        ix[col] = values[c].ravel()

    ties = None
    if keep == "ties":
        ii, jj = np.nonzero(~np.eye(n, dtype=bool))
        m = len(ii)
        ties = pd.DataFrame(
            {
                "replicate": np.repeat(replicates.astype(np.int64), s * m),
                "seed": np.repeat(seed_col, s * m),
                "step": np.tile(np.repeat(steps.astype(np.int64), m), r),
                "date": np.tile(np.repeat(dates.values, m), r),
                "state": pd.Categorical.from_codes(np.tile(ii, r * s), categories=w.ids),
                "partner": pd.Categorical.from_codes(np.tile(jj, r * s), categories=w.ids),
                "tie": sim.snaps[:, :, ii, jj].ravel(),
            }
        )

    return EnsembleResult(
        scenario=scenario,
        world=base,
        indices=ix,
        ties=ties,
        shocks=_shock_table(w, sim, replicates, seed_col),
        replicates=_replicate_table(replicates, seeds, seed_col, points, point_overrides),
        wall_time=wall,
        shocks_off=shocks_off,
    )


def _shock_table(w: World, sim: _Sim, replicates, seed_col) -> pd.DataFrame:
    spec = w.scenario.spec
    rows_r, rows_p, rows_k = [], [], []
    for members, p, k in sim.log:
        rows_r.append(members)
        rows_p.append(np.full(len(members), p))
        rows_k.append(np.full(len(members), k))
    if rows_r:
        rr, pp, kk = (np.concatenate(a) for a in (rows_r, rows_p, rows_k))
        order = np.lexsort((pp, rr))  # per replicate, in firing order (as the Mesa log)
        rr, pp, kk = rr[order], pp[order], kk[order]
    else:
        rr = pp = kk = np.empty(0, dtype=np.intp)
    ids = [s.id for s in w.shocks]
    specs = [spec.shocks[i] for i in ids]
    # one date, label and kind per distinct (shock, period), spread to the events
    pairs, which = np.unique(np.stack([kk, pp]), axis=1, return_inverse=True)
    date = np.array(
        [(specs[k].date or period_start(spec.time, int(p))).isoformat() for k, p in pairs.T],
        dtype=object,
    )
    label = np.array([specs[k].label for k in pairs[0]], dtype=object)
    kind = np.array(["dated" if specs[k].date else "probabilistic" for k in pairs[0]], dtype=object)
    which = which.ravel()
    # categories fixed by the world, so chunks concatenate without turning into objects
    labels = list(dict.fromkeys(s.label for s in specs))
    dates = sorted(
        {s.date.isoformat() for s in specs if s.date}
        | {period_start(spec.time, p).isoformat() for p in range(w.n_periods)}
    )

    def cat(values, categories):
        return pd.Categorical(values[which] if len(kk) else [], categories=categories)

    return pd.DataFrame(
        {
            "replicate": replicates[rr].astype(np.int64),
            "seed": seed_col[rr],
            "id": pd.Categorical.from_codes(kk, categories=ids),
            "label": cat(label, labels),
            "kind": cat(kind, ["dated", "probabilistic"]),
            "period": pp.astype(np.int64),
            "date": cat(date, dates),
        }
    )


def _replicate_table(replicates, seeds, seed_col, points, point_overrides) -> pd.DataFrame:
    entropy, spawn = [], []
    for s in seeds:
        seq = s if isinstance(s, np.random.SeedSequence) else np.random.SeedSequence(s)
        entropy.append(str(seq.entropy))
        spawn.append(list(map(int, seq.spawn_key)))
    out = pd.DataFrame(
        {
            "replicate": replicates.astype(np.int64),
            "seed": seed_col,
            "entropy": entropy,
            "spawn_key": spawn,
            "point": points.astype(np.int64),
        }
    )
    names = sorted({k for ov in point_overrides for k in ov})
    for name in names:
        out[name] = [point_overrides[p].get(name, np.nan) for p in points]
    return out
