"""Running one chunk of a batch (this is what executes on a worker).

A chunk is a list of runs of one arm (one scenario, the same shocks switched off), each
with its seed and its design point's overrides. :func:`run_chunk` returns the chunk's
tables; a run that raises is recorded (status ``failed``, the error) and the others go on.
Everything here is a plain function of its argument, so any
:class:`concurrent.futures.Executor` can run it (processes, threads, Dask).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.drivers.ensemble import run_ensemble
from sim.scenario import Scenario, with_overrides

RUN_STATUS_COLUMNS = ("run_id", "status", "error", "wall_s")


@dataclass
class Chunk:
    """The work of one task: runs of one arm."""

    chunk: int
    arm: str
    scenario: Scenario
    shocks_off: tuple[str, ...]
    run_ids: list[int]
    seeds: list[int]
    overrides: list[dict[str, float]]
    points: list[int]
    keep: str = "indices"
    dates: tuple | None = None
    origin: str = "experiment"
    line: int = 0  # the line of the design's parameters in the experiment file


@dataclass
class ChunkResult:
    chunk: int
    runs: pd.DataFrame  # run_id, status, error, wall_s
    indices: pd.DataFrame
    ties: pd.DataFrame | None
    shocks: pd.DataFrame
    wall_s: float = 0.0


def run_chunk(chunk: Chunk) -> ChunkResult:
    """Run every run of a chunk; never raises for a run's own error."""
    t0 = time.perf_counter()
    try:
        out = _ensemble(chunk, range(len(chunk.run_ids)))
        out.wall_s = time.perf_counter() - t0
        return out
    except Exception:  # noqa: BLE001  some run failed: isolate it below
        pass
    parts = [_one(chunk, k) for k in range(len(chunk.run_ids))]
    out = _concat(chunk, parts)
    out.wall_s = time.perf_counter() - t0
    return out


def _scenario_of(chunk: Chunk, k: int) -> Scenario:
    if not chunk.overrides[k]:
        return chunk.scenario
    return with_overrides(chunk.scenario, chunk.overrides[k], origin=chunk.origin, line=chunk.line)


def _ensemble(chunk: Chunk, which) -> ChunkResult:
    """The runs ``which`` of a chunk through the ensemble engine, tagged with run ids."""
    which = list(which)
    ov = [chunk.overrides[k] for k in which]
    res = run_ensemble(
        chunk.scenario,
        [chunk.seeds[k] for k in which],
        overrides=ov if any(ov) else None,
        shocks_off=chunk.shocks_off,
        keep=chunk.keep,
        dates=list(chunk.dates) if chunk.dates else None,
    )
    ids = np.asarray([chunk.run_ids[k] for k in which], dtype=np.int64)

    def tag(df: pd.DataFrame | None) -> pd.DataFrame | None:
        if df is None:
            return None
        run_id = ids[df["replicate"].to_numpy()]
        df = df.drop(columns=["replicate", "seed"])  # a new frame: the engine's is untouched
        df.insert(0, "run_id", run_id)
        return df

    runs = pd.DataFrame(
        {"run_id": ids, "status": "ok", "error": None, "wall_s": np.nan},
        columns=RUN_STATUS_COLUMNS,
    )
    return ChunkResult(
        chunk.chunk,
        runs,
        tag(res.indices),
        tag(res.ties) if chunk.keep == "ties" else None,
        tag(res.shocks),
    )


def _one(chunk: Chunk, k: int) -> ChunkResult:
    """One run on its own (the ensemble engine with one seed), its failure recorded."""
    t0 = time.perf_counter()
    run_id = chunk.run_ids[k]
    try:
        _scenario_of(chunk, k)  # an invalid design point fails here, with its message
        out = _ensemble(chunk, [k])
        out.runs["wall_s"] = time.perf_counter() - t0
        return out
    except Exception as exc:  # noqa: BLE001  a failed run is data, not a crash
        from sim.errors import UserError

        msg = str(exc).strip()
        if not isinstance(exc, UserError):  # a bug or a numerical failure: name its type
            msg = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
        msg = f"arm {chunk.arm}, design point {chunk.points[k]}: {msg}"
        runs = pd.DataFrame(
            {
                "run_id": [run_id],
                "status": ["failed"],
                "error": [msg if len(msg) < 4000 else msg[:4000] + " ..."],
                "wall_s": [time.perf_counter() - t0],
            }
        )
        return ChunkResult(chunk.chunk, runs, empty_indices(), None, empty_shocks())


def empty_indices() -> pd.DataFrame:
    return pd.DataFrame()


def empty_shocks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": pd.Series(dtype="int64"),
            "id": pd.Series(dtype="object"),
            "label": pd.Series(dtype="object"),
            "kind": pd.Series(dtype="object"),
            "period": pd.Series(dtype="int64"),
            "date": pd.Series(dtype="object"),
        }
    )


def _concat(chunk: Chunk, parts: list[ChunkResult]) -> ChunkResult:
    def cat(frames):
        frames = [f for f in frames if f is not None and len(f)]
        return pd.concat(frames, ignore_index=True) if frames else None

    runs = pd.concat([p.runs for p in parts], ignore_index=True)
    runs["error"] = runs["error"].astype(object)
    indices = cat([p.indices for p in parts])
    ties = cat([p.ties for p in parts]) if chunk.keep == "ties" else None
    shocks = cat([p.shocks for p in parts])
    return ChunkResult(
        chunk.chunk,
        runs,
        indices if indices is not None else empty_indices(),
        ties,
        shocks if shocks is not None else empty_shocks(),
    )
