"""Writing one run's outputs: its tables, its figure and its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sim.outputs.files import atomic_dir, write_figure, write_manifest
from sim.outputs.kinds import RUN

if TYPE_CHECKING:
    from sim.drivers.run import RunResult


def write_outputs(result: RunResult, out: str | Path, *, force: bool = False) -> Path:
    """Write ``ties.parquet``, ``indices.parquet``, ``alignment.png`` and
    ``manifest.json`` into ``out``, all or nothing; returns ``out``.

    ``out`` may be new, empty or an earlier run's output that holds nothing else
    (:func:`sim.outputs.files.check_out_dir`); ``force`` replaces whatever it holds.
    Selects matplotlib's file backend (Agg) first.
    """
    import matplotlib

    matplotlib.use("Agg")

    with atomic_dir(out, RUN, force=force) as tmp:
        result.ties.to_parquet(tmp / "ties.parquet", index=False)
        result.indices.to_parquet(tmp / "indices.parquet", index=False)
        write_figure(result.figure(), tmp / "alignment.png")
        write_manifest(tmp, result.manifest())
    return Path(out)
