"""Writing one run's outputs: its tables, its figure and its manifest.

The tables are Parquet by default; ``format="csv"`` writes them as CSV instead (the same
columns; dates as ``YYYY-MM-DD``), for a spreadsheet or a tool without Parquet.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.errors import UserError
from sim.outputs.files import atomic_dir, write_figure, write_manifest
from sim.outputs.kinds import RUN

if TYPE_CHECKING:
    from sim.drivers.run import RunResult

#: The table formats a run and an ensemble write.
FORMATS = ("parquet", "csv")


def check_format(format: str) -> str:
    """``format`` if it is one of :data:`FORMATS`.

    Raises:
        UserError: it is not.
    """
    if format not in FORMATS:
        raise UserError(f"format {format!r}: expected one of {', '.join(FORMATS)}")
    return format


def write_table(df: pd.DataFrame, directory: Path, name: str, format: str) -> str:
    """Write ``df`` as ``directory/NAME.parquet`` or ``NAME.csv``; returns the file name."""
    file = f"{name}.{format}"
    if format == "csv":
        df.to_csv(directory / file, index=False, date_format="%Y-%m-%d")
    else:
        df.to_parquet(directory / file, index=False)
    return file


def write_outputs(
    result: RunResult, out: str | Path, *, force: bool = False, format: str = "parquet"
) -> Path:
    """Write ``ties``, ``indices`` (``.parquet``, or ``.csv`` with ``format="csv"``),
    ``alignment.png`` and ``manifest.json`` into ``out``, all or nothing; returns ``out``.

    ``out`` may be new, empty or an earlier run's output that holds nothing else
    (:func:`sim.outputs.files.check_out_dir`); ``force`` replaces whatever it holds.
    Selects matplotlib's file backend (Agg) first.
    """
    import matplotlib

    matplotlib.use("Agg")

    check_format(format)
    with atomic_dir(out, RUN, force=force) as tmp:
        write_table(result.ties, tmp, "ties", format)
        write_table(result.indices, tmp, "indices", format)
        write_figure(result.figure(), tmp / "alignment.png")
        manifest = result.manifest()
        manifest["table_format"] = format
        write_manifest(tmp, manifest)
    return Path(out)
