"""The ensemble API: many replicates of a scenario, as tidy tables.

:func:`run_ensemble` (all in memory) and :func:`iter_ensemble` (chunk by chunk) run
replicates through the engine (:func:`sim.drivers.engine.simulate`) and turn its
snapshots into the tables of :mod:`sim.drivers.records`, the same code that builds a
Mesa run's tables. Replicate k with seed ``s`` equals ``multivector run --seed s``, tie
for tie (``tests/test_ensemble.py`` checks it for every shipped scenario).

Replicates may also differ in parameters (one sweep point per replicate, given as
overrides of the scenario); replicates that share a point share its compiled world, and
points that differ only in parameter values run together as one
:class:`~sim.world.sweep.Sweep`.

With ``inputs="prior"`` every replicate also draws the scenario's uncertain inputs (the
numbers with a ``range``, :mod:`sim.scenario.priors`) from their priors, from a stream
made from its seed alone (:func:`sim.scenario.input_rng`): the replicate then differs in
its inputs as well as in its random choices, and its drawn values are override columns
of the ``replicates`` table, so replicate k equals ``run_ensemble(scenario, [seed_k],
overrides=[its drawn dict])``.

Replicates run in chunks small enough for the arrays of a period to stay in the CPU
cache, reduced on the fly to the tables and dates asked for.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.drivers import records
from sim.drivers.engine import (
    Seed,
    Simulation,
    default_chunk_size,
    limited_threads,
    reuse_freed_memory,
    simulate,
)
from sim.errors import UserError
from sim.scenario import (
    Scenario,
    draw_inputs,
    input_rng,
    load_scenario,
    uncertain_inputs,
    with_overrides,
)
from sim.world.compiled import World, check_shock_ids, compile_world, world_for
from sim.world.sweep import Sweep, structure

KEEP = ("indices", "ties")
#: What the inputs of a replicate are: the file's point values, or draws from the priors.
INPUTS = ("fixed", "prior")


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
            and a column per overridden parameter (explicit or, with
            ``inputs="prior"``, drawn; NaN where a replicate leaves it as in the file).
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
    inputs: str = "fixed",
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
        inputs: ``"fixed"`` (the file's values) or ``"prior"``: each replicate draws
            every uncertain input from its prior (:func:`sim.scenario.draw_inputs` with
            :func:`sim.scenario.input_rng` of its seed), under its explicit
            ``overrides`` (an explicit value wins; drawn weights and shares adjust
            around it). The drawn values are columns of ``replicates``.

    Replicate k equals ``BalancingModel(with_overrides(scenario, overrides[k]),
    rng=seeds[k], shocks_off=shocks_off)`` run over the horizon (with ``overrides[k]``
    the drawn values merged under the explicit ones when ``inputs="prior"``).
    """
    t0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seeds = check_seeds(seeds)
    tables = _Tables(len(seeds))
    for chunk in _chunks(
        scenario, seeds, overrides, shocks_off, keep, dates, chunk_size, progress, inputs
    ):
        tables.add(chunk)
    return tables.result(time.perf_counter() - t0, tuple(shocks_off))


class _Tables:
    """:func:`run_ensemble`'s tables, filled chunk by chunk: the indices (and ties) of
    each chunk go straight into arrays of the whole ensemble, at their replicates' rows
    (no per-chunk table, no concatenation: for many replicates those copies cost about as
    much as the tables' arithmetic)."""

    def __init__(self, replicates: int):
        self.replicates = replicates
        self.columns: dict[str, dict[str, np.ndarray]] = {}
        self.small: dict[str, list[pd.DataFrame]] = {"shocks": [], "replicates": []}
        self.first: _Chunk | None = None

    def add(self, chunk: _Chunk) -> None:
        self.first = self.first or chunk
        rows = self._index_rows(chunk)
        if rows is None:  # sweeps of different structure: its replicates are not together
            self._place("indices", chunk.index_columns(), chunk.replicates)
        else:
            chunk.index_columns(out=rows)
        if chunk.keep == "ties":
            self._place("ties", chunk.ties_columns(), chunk.replicates)
        self.small["shocks"].append(chunk.shocks_table())
        self.small["replicates"].append(chunk.replicate_table())

    def _index_rows(self, chunk: _Chunk) -> dict[str, np.ndarray] | None:
        """The rows of a chunk's replicates in each column of the whole indices table
        (views, to be filled in place), if they are one run of rows; else None."""
        per = len(chunk.steps) * chunk.base.n
        whole = self.columns.get("indices")
        if whole is None:
            dtypes = records.index_dtypes(chunk.base, chunk.steps)
            whole = {k: np.empty(self.replicates * per, dt) for k, dt in dtypes.items()}
            self.columns["indices"] = whole
        reps = chunk.replicates
        lo, hi = int(reps[0]), int(reps[0]) + len(reps)
        if not np.array_equal(reps, np.arange(lo, hi)):
            return None
        return {k: v[lo * per : hi * per] for k, v in whole.items()}

    def _place(self, name: str, cols: dict[str, np.ndarray], replicates: np.ndarray) -> None:
        """Copy a chunk's columns (replicate-major, the same rows per replicate) to its
        replicates' rows of the whole table."""
        per = len(next(iter(cols.values()))) // len(replicates)
        whole = self.columns.get(name)
        if whole is None:
            whole = {k: np.empty(self.replicates * per, v.dtype) for k, v in cols.items()}
            self.columns[name] = whole
        lo = int(replicates[0])
        contiguous = np.array_equal(replicates, np.arange(lo, lo + len(replicates)))
        for k, v in cols.items():
            if contiguous:
                whole[k][lo * per : (lo + len(replicates)) * per] = v
            else:  # sweeps of different structure run one after the other
                whole[k].reshape(self.replicates, per)[replicates] = v.reshape(-1, per)

    def result(self, wall_time: float, shocks_off: tuple[str, ...]) -> EnsembleResult:
        first = self.first
        ids = first.base.ids

        def cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
            out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            if not out["replicate"].is_monotonic_increasing:  # several sweeps: restore order
                out = out.sort_values("replicate", kind="stable", ignore_index=True)
            return out

        ties = self.columns.get("ties")
        return EnsembleResult(
            scenario=first.scenario,
            world=first.base,
            indices=records.frame(self.columns["indices"], ids),
            ties=None if ties is None else records.frame(ties, ids),
            shocks=cat(self.small["shocks"]),
            replicates=cat(self.small["replicates"]),
            wall_time=wall_time,
            shocks_off=shocks_off,
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
    inputs: str = "fixed",
) -> Iterator[EnsembleResult]:
    """:func:`run_ensemble` one chunk at a time (bounded memory: stream it to disk).

    Yields one :class:`EnsembleResult` per chunk. Chunks come in replicate order unless
    the overrides change more than parameter values (the tie step, the burn-in, the
    shocks' structure): then each such group of sweep points runs as its own sweep, one
    after the other. Overrides may not change the time axis (``time.*``).
    """
    for chunk in _chunks(
        scenario, seeds, overrides, shocks_off, keep, dates, chunk_size, progress, inputs
    ):
        yield chunk.result()


def _chunks(
    scenario, seeds, overrides, shocks_off, keep, dates, chunk_size, progress, inputs
) -> Iterator[_Chunk]:
    """The simulated chunks of :func:`iter_ensemble` (its arguments), before any table."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seeds = check_seeds(seeds)
    if keep not in KEEP:
        raise UserError(f"keep: expected one of {', '.join(KEEP)}, got {keep!r}")
    if inputs not in INPUTS:
        raise UserError(f"inputs: expected one of {', '.join(INPUTS)}, got {inputs!r}")
    base = world_for(scenario)
    check_shocks_off(base, shocks_off)
    steps = record_steps(base, dates)
    reuse_freed_memory()
    overrides = _check_overrides(overrides, len(seeds))
    if inputs == "prior":
        overrides = prior_overrides(scenario, seeds, overrides)
    points = SweepPoints.of(scenario, base, overrides)
    size = chunk_size or default_chunk_size(base.n)
    done = 0
    for members, rows in points.sweeps():
        sweep = Sweep([points.worlds[k] for k in members], shocks_off)
        local = {k: i for i, k in enumerate(members)}
        for lo in range(0, len(rows), size):
            chunk = rows[lo : lo + size]
            t0 = time.perf_counter()
            chunk_seeds = [seeds[r] for r in chunk]
            local_points = np.array([local[points.of_replicate[r]] for r in chunk], dtype=np.intp)
            with limited_threads():  # one BLAS thread unless set (engine.blas_threads)
                sim = simulate(sweep, chunk_seeds, local_points, steps)
            yield _Chunk(
                scenario, base, sweep, sim, chunk, chunk_seeds, points, steps, keep,
                tuple(shocks_off), t0,
            )  # fmt: skip
            done += len(chunk)
            if progress is not None:
                progress(done, len(seeds))


@dataclass
class _Chunk:
    """One simulated chunk of replicates (``replicates``: their numbers in the ensemble),
    and the tables made from it."""

    scenario: Scenario
    base: World
    sweep: Sweep
    sim: Simulation
    replicates: np.ndarray
    seeds: list[Seed]
    points: SweepPoints
    steps: np.ndarray
    keep: str
    shocks_off: tuple[str, ...]
    started: float

    @cached_property
    def seed_column(self) -> np.ndarray:
        return np.array([s if isinstance(s, int) else -1 for s in self.seeds], dtype=np.int64)

    def index_columns(self, out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        sim = self.sim
        with limited_threads():
            return records.index_columns(
                self.sweep,
                sim.snaps,
                self.steps,
                sim.regimes,
                sim.schedule.regimes,
                sim.points,
                self.replicates,
                self.seed_column,
                block=4 * default_chunk_size(self.base.n),
                credibility=sim.credibility,
                out=out,
            )

    def ties_columns(self) -> dict[str, np.ndarray]:
        return records.ties_columns(
            self.sweep.world, self.sim.snaps, self.steps, self.replicates, self.seed_column
        )

    def shocks_table(self) -> pd.DataFrame:
        return records.shocks_table(
            self.sweep.world, self.sim.schedule, self.replicates, self.seed_column
        )

    def replicate_table(self) -> pd.DataFrame:
        return _replicate_table(
            self.replicates,
            self.seeds,
            self.seed_column,
            self.points.of_replicate[self.replicates],
            self.points.overrides,
        )

    def result(self) -> EnsembleResult:
        """The chunk's tables (its wall time from the start of its simulation)."""
        ids = self.base.ids
        ties = self.ties_columns() if self.keep == "ties" else None
        out = EnsembleResult(
            scenario=self.scenario,
            world=self.base,
            indices=records.frame(self.index_columns(), ids),
            ties=None if ties is None else records.frame(ties, ids),
            shocks=self.shocks_table(),
            replicates=self.replicate_table(),
            wall_time=0.0,
            shocks_off=self.shocks_off,
        )
        out.wall_time = time.perf_counter() - self.started
        return out


@dataclass
class SweepPoints:
    """The distinct parameter overrides of an ensemble's replicates, each compiled once.

    Attributes:
        overrides: one mapping per point (``{}``: the scenario as it is).
        worlds: the compiled world of each point.
        of_replicate: ``(R,)`` each replicate's point.
    """

    overrides: list[dict]
    worlds: list[World]
    of_replicate: np.ndarray

    @classmethod
    def of(cls, scenario: Scenario, base: World, overrides: list) -> SweepPoints:
        index: dict[tuple, int] = {}
        point_overrides: list[dict] = []
        of_replicate = np.empty(len(overrides), dtype=np.intp)
        for r, ov in enumerate(overrides):
            key = tuple(sorted((str(k), _hashable(v)) for k, v in (ov or {}).items()))
            if key not in index:
                index[key] = len(point_overrides)
                point_overrides.append(dict(ov or {}))
            of_replicate[r] = index[key]
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
        return cls(point_overrides, worlds, of_replicate)

    def sweeps(self) -> list[tuple[list[int], np.ndarray]]:
        """Points grouped by structure (worlds that differ in more than parameter values
        cannot share arrays), each with its replicates in order."""
        groups: dict[tuple, list[int]] = {}
        for k, w in enumerate(self.worlds):
            groups.setdefault(structure(w), []).append(k)
        out = []
        for members in groups.values():
            rows = np.flatnonzero(np.isin(self.of_replicate, members))
            out.append((members, rows.astype(np.intp)))
        return out


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
    reuse_freed_memory()
    sweep = Sweep([world], shocks_off)
    steps = np.arange(world.n_periods + 1)
    size = default_chunk_size(world.n)
    out = np.empty((len(seeds), len(steps), world.n, world.n))
    for lo in range(0, len(seeds), size):
        chunk = seeds[lo : lo + size]
        with limited_threads():
            out[lo : lo + len(chunk)] = simulate(
                sweep, chunk, np.zeros(len(chunk), dtype=np.intp), steps
            ).snaps
        if progress is not None:
            progress(lo + len(chunk), len(seeds))
    return out


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


def prior_overrides(
    scenario: Scenario, seeds: Sequence[Seed], overrides: Sequence[Mapping | None]
) -> list[dict]:
    """Each replicate's overrides with its uncertain inputs drawn from the priors: the
    draw from :func:`~sim.scenario.input_rng` of its seed, under its explicit overrides.

    Raises:
        UserError: the scenario has no uncertain inputs (no number with a ``range``).
    """
    uncertain = uncertain_inputs(scenario)
    if not uncertain:
        raise UserError(
            f'inputs="prior": {scenario.path or scenario.name} has no uncertain inputs; '
            "give numbers a `range: [low, high]` (scenarios/README.md, Uncertain inputs)"
        )
    out = []
    for seed, explicit in zip(seeds, overrides, strict=True):
        explicit = dict(explicit or {})
        (drawn,) = draw_inputs(scenario, input_rng(seed), 1, uncertain, fixed=explicit)
        out.append({**drawn, **explicit})
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
    """Every id names a shock of the world (a clear error otherwise)."""
    check_shock_ids(world, ids)


def record_steps(world: World, dates) -> np.ndarray:
    """The steps to record: all, or those of the given dates (sorted, unique)."""
    if dates is None:
        return np.arange(world.n_periods + 1)
    out = set()
    for d in dates:
        d = pd.Timestamp(d).date() if not isinstance(d, dt.date) else d
        try:
            out.add(world.step_of(d))
        except ValueError as exc:
            raise UserError(f"dates: {exc}") from None
    return np.array(sorted(out), dtype=np.intp)


def _hashable(v: Any) -> Any:
    return tuple(map(_hashable, v)) if isinstance(v, list | tuple) else v


def _replicate_table(replicates, seeds, seed_col, points, point_overrides) -> pd.DataFrame:
    entropy, spawn = [], []
    for s in seeds:
        if isinstance(s, np.random.SeedSequence):
            entropy.append(str(s.entropy))
            spawn.append(list(map(int, s.spawn_key)))
        else:  # SeedSequence(s): entropy s, no spawn key (not built: 6 us each)
            entropy.append(str(int(s)))
            spawn.append([])
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
    if not names:
        return out
    columns = {name: [point_overrides[p].get(name, np.nan) for p in points] for name in names}
    return pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)
