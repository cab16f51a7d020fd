"""Writing an ensemble's replicates to disk chunk by chunk: tables, figure and manifest.

:func:`save_ensemble` streams each chunk's tables to Parquet as it comes
(:class:`_TableStreams`), keeps only the alignment and hedging indices in memory
(:class:`_IndexArrays`) and, when every chunk is written, adds the shock table, the fan
chart and the manifest. Its text summary is :func:`sim.outputs.summary.ensemble_summary`.
With ``format="csv"`` every table is written as CSV instead (appended chunk by chunk
under one header), for a spreadsheet or a tool without Parquet.
The index arrays are estimated before they are allocated (:func:`check_memory`): an
ensemble that would not fit in the memory available is refused with the estimate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.drivers.ensemble import Seed, check_seeds, check_shocks_off, iter_ensemble, record_steps
from sim.errors import UserError
from sim.outputs.files import (
    MANIFEST,
    atomic_dir,
    dictionary_columns,
    write_figure,
    write_manifest,
)
from sim.outputs.kinds import ENSEMBLE
from sim.outputs.manifest import ensemble_manifest
from sim.outputs.run_files import check_format, write_table
from sim.scenario import Scenario, load_scenario
from sim.world.compiled import World, world_for

if TYPE_CHECKING:
    from sim.drivers.ensemble import EnsembleResult

#: The tables an ensemble chunk may carry, in the order they are streamed.
_TABLES = ("indices", "ties")
_FIGURE = "alignment.png"
_SHOCKS = "shocks"
_INPUTS = "inputs"  # the drawn inputs of `--inputs prior` (inputs.parquet)
#: Memory kept free beside the index arrays (the interpreter, a chunk in flight, the figure).
MEMORY_RESERVE = 512 * 2**20


@dataclass
class SavedEnsemble:
    """What :func:`save_ensemble` wrote, with the numbers its summary and figure show."""

    out: Path
    world: World
    seeds: list[Seed]
    steps: np.ndarray  # the recorded steps
    alignment: np.ndarray  # (R, S, N) float32 alignment index of every state
    hedging: np.ndarray  # (R, S, N) float32 hedging index
    shocks: pd.DataFrame
    wall_time: float
    files: list[str]

    def figure(self):
        """The fan chart of the focus state's indices (a matplotlib Figure)."""
        from sim.outputs.plots import ensemble_figure

        return ensemble_figure(self.world, self.steps, self.alignment, self.hedging, self.shocks)


def save_ensemble(
    scenario: Scenario | str | Path,
    seeds: Sequence[Seed] | int,
    out: str | Path,
    *,
    keep: str = "indices",
    dates: Sequence[Any] | None = None,
    shocks_off: Sequence[str] = (),
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    inputs: str = "fixed",
    format: str = "parquet",
) -> SavedEnsemble:
    """Run replicates and stream their tables to ``out`` (memory bounded by a chunk).

    Writes ``indices.parquet`` (and ``ties.parquet`` with ``keep="ties"``),
    ``shocks.parquet``, ``manifest.json`` and ``alignment.png`` (median and 50%/90%
    bands over replicates) into a temporary directory that becomes ``out`` only when
    everything is written. Only the alignment and hedging indices (float32) are kept in
    memory, for the figure: about 2 GB per million replicate-records of nine states;
    more than the memory available is refused before anything runs.

    Args:
        scenario: a loaded scenario or a path.
        seeds: one seed per replicate, or a count R for the seeds ``0 .. R - 1``.
        out: the output directory (new, empty, or an earlier ensemble's that holds
            nothing else; see :func:`sim.outputs.files.check_out_dir`).
        keep: ``"indices"``, or ``"ties"`` for the tie table too.
        dates: keep only the records of these dates (default: every step).
        shocks_off: shock ids switched off in every replicate.
        chunk_size: replicates per chunk (default: sized for the CPU cache).
        progress: called with (replicates done, total) after every chunk.
        force: replace whatever ``out`` holds.
        inputs: ``"fixed"``, or ``"prior"`` to draw each replicate's uncertain inputs
            from their ranges (:func:`sim.drivers.ensemble.run_ensemble`); the drawn
            values are written to ``inputs.parquet`` (one row per replicate, one column
            per input path).
        format: ``"parquet"``, or ``"csv"`` to write every table as ``NAME.csv`` instead.

    Raises:
        UserError: ``out`` must not be written, or the arrays would not fit in memory.
    """
    check_format(format)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seeds = check_seeds(seeds)
    world = world_for(scenario)
    check_shocks_off(world, shocks_off)
    steps = record_steps(world, dates)
    check_memory(len(seeds), len(steps), world.n)
    arrays = _IndexArrays.empty(len(seeds), len(steps), world.n)
    t0 = time.perf_counter()
    with atomic_dir(out, ENSEMBLE, force=force) as tmp:
        chunks = iter_ensemble(
            scenario,
            seeds,
            shocks_off=shocks_off,
            keep=keep,
            dates=dates,
            chunk_size=chunk_size,
            progress=progress,
            inputs=inputs,
        )
        tables, shocks = _stream(chunks, tmp, arrays, drawn=inputs == "prior", format=format)
        saved = SavedEnsemble(
            Path(out),
            world,
            seeds,
            steps,
            arrays.alignment,
            arrays.hedging,
            shocks,
            time.perf_counter() - t0,
            tables,
        )
        _finish(
            saved, tmp, scenario, keep=keep, shocks_off=shocks_off, inputs=inputs, format=format
        )
    return saved


def available_memory() -> int | None:
    """Bytes of memory this process can still get: the system's available memory
    (``MemAvailable``), or less under a cgroup limit; ``None`` where unknown."""
    found = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii").strip()
        if limit != "max":
            found.append(max(int(limit) - int(used), 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_memory(replicates: int, steps: int, states: int) -> int:
    """Refuse an ensemble whose two float32 index arrays (replicates x steps x states)
    would not fit in the memory available, less :data:`MEMORY_RESERVE`; returns the
    bytes they need.

    Raises:
        UserError: they would not fit (the message gives the estimate).
    """
    need = 2 * 4 * replicates * steps * states
    have = available_memory()
    if have is not None and need + MEMORY_RESERVE > have:
        raise UserError(
            f"{replicates:,} replicates x {steps} recorded steps x {states} states: the "
            f"ensemble keeps two float32 arrays of that size for its figure, "
            f"{need / 2**30:.2f} GB, and this machine has {have / 2**30:.2f} GB of memory "
            f"available ({MEMORY_RESERVE // 2**20} MB of it kept for the rest): run fewer "
            "replicates, or record fewer dates (--date)"
        )
    return need


@dataclass
class _IndexArrays:
    """The alignment and hedging indices of every replicate, ``(R, S, N)`` float32."""

    alignment: np.ndarray
    hedging: np.ndarray

    @classmethod
    def empty(cls, replicates: int, steps: int, states: int) -> _IndexArrays:
        """Arrays for ``replicates`` x ``steps`` x ``states``, to be filled chunk by chunk."""
        shape = (replicates, steps, states)
        return cls(np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32))

    def fill(self, chunk: EnsembleResult) -> None:
        """Copy a chunk's indices into the rows of its replicates."""
        reps = chunk.replicates["replicate"].to_numpy()
        shape = (len(reps), *self.alignment.shape[1:])
        self.alignment[reps] = chunk.indices["alignment_index"].to_numpy().reshape(shape)
        self.hedging[reps] = chunk.indices["hedging_index"].to_numpy().reshape(shape)


class _TableStreams:
    """One file per table, written a chunk's table at a time: ``NAME.parquet`` (opened
    with the schema of its first chunk) or ``NAME.csv`` (the header with the first)."""

    def __init__(self, directory: Path, format: str = "parquet"):
        self.directory = directory
        self.format = format
        self.writers: dict[str, Any] = {}

    def append(self, name: str, df: pd.DataFrame) -> None:
        """Append ``df`` to ``NAME.parquet`` or ``NAME.csv``, creating it at the first call."""
        if self.format == "csv":
            first = name not in self.writers
            self.writers[name] = None
            df.to_csv(
                self.directory / f"{name}.csv",
                index=False,
                header=first,
                mode="w" if first else "a",
                date_format="%Y-%m-%d",
            )
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(
                self.directory / f"{name}.parquet",
                table.schema,
                use_dictionary=dictionary_columns(table),
            )
        self.writers[name].write_table(table)

    def files(self) -> list[str]:
        """The files written, by name."""
        return sorted(f"{name}.{self.format}" for name in self.writers)

    def close(self) -> None:
        """Finish every file (a Parquet file is readable only once closed)."""
        for writer in self.writers.values():
            if writer is not None:
                writer.close()


def _stream(
    chunks: Iterable[EnsembleResult],
    tmp: Path,
    arrays: _IndexArrays,
    *,
    drawn: bool = False,
    format: str = "parquet",
) -> tuple[list[str], pd.DataFrame]:
    """Write the chunks' tables into ``tmp`` and their indices into ``arrays`` as they
    come, then the shock table of all replicates (``shocks``), and with ``drawn`` the
    replicates' drawn inputs (``inputs``), each as ``.parquet`` or ``.csv``.

    Returns:
        The files of the tables, and the shock table.
    """
    streams = _TableStreams(tmp, format)
    shocks: list[pd.DataFrame] = []
    try:
        for chunk in chunks:
            for name in _TABLES:
                df = getattr(chunk, name)
                if df is not None:
                    streams.append(name, df)
            if drawn:
                streams.append(_INPUTS, chunk.replicates)
            arrays.fill(chunk)
            shocks.append(chunk.shocks)
    finally:
        streams.close()
    shock_table = pd.concat(shocks, ignore_index=True)
    return [*streams.files(), write_table(shock_table, tmp, _SHOCKS, format)], shock_table


def _finish(
    saved: SavedEnsemble,
    tmp: Path,
    scenario: Scenario,
    *,
    keep: str,
    shocks_off: Sequence[str],
    inputs: str = "fixed",
    format: str = "parquet",
) -> None:
    """Add the fan chart and the manifest to ``tmp`` and to ``saved.files``."""
    write_figure(saved.figure(), tmp / _FIGURE)
    manifest = ensemble_manifest(
        scenario,
        saved.seeds,
        saved.steps,
        keep=keep,
        shocks_off=shocks_off,
        wall_time=saved.wall_time,
    )
    manifest["inputs"] = inputs
    manifest["table_format"] = format
    write_manifest(tmp, manifest)
    saved.files = [*saved.files, MANIFEST, _FIGURE]
