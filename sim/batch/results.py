"""Reading a batch back: ``sim.batch.load(DIR)`` gives tidy pandas DataFrames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from sim.batch.store import FORMAT, part_dirs, read_manifest
from sim.errors import UserError
from sim.outputs.files import MANIFEST

RUN_KEYS = ["run_id", "arm", "point", "replicate", "seed"]


@dataclass
class BatchResult:
    """A batch read back from its directory.

    Attributes:
        manifest: the manifest (experiment, arms, versions, counts).
        runs: one row per run: run_id, arm, point, replicate, seed, seed_entropy,
            seed_spawn_key, the design parameters, chunk, status, error, wall_s.
        indices: one row per finished run, step (kept dates only when the experiment
            names dates) and state: run_id, arm, point, replicate, seed, step, date,
            state, alignment_index, hedging_index, energy, security, alignment, cost,
            utility.
        ties: run_id, arm, point, replicate, seed, step, date, state, partner, tie
            (``None`` unless the experiment keeps ties).
        shocks: the shocks that fired in each run: run_id, arm, point, replicate, seed,
            id, label, kind, period, date.
    """

    path: Path
    manifest: dict
    runs: pd.DataFrame
    indices: pd.DataFrame
    ties: pd.DataFrame | None
    shocks: pd.DataFrame

    @property
    def arms(self) -> list[str]:
        """The arms' names, in the experiment's order."""
        return list(self.manifest["arms"])

    @property
    def parameters(self) -> list[str]:
        """The design's parameters, then its complement's."""
        d = self.manifest["design"]
        return [*d["parameters"], *d["complement"]]

    def failed(self) -> pd.DataFrame:
        """The failed runs (arm, point, seed, design parameters, error), each with a
        ``reproduce`` column: the command (or, with design parameters, the Python call)
        that runs it again on its own."""
        bad = self.runs[self.runs["status"] == "failed"].copy()
        bad["reproduce"] = [self._reproduce(r) for _, r in bad.iterrows()]
        return bad

    def _reproduce(self, run: pd.Series) -> str:
        arm = self.manifest["arms"][run["arm"]]
        path, off, seed = arm["scenario"], arm["shocks_off"], int(run["seed"])
        overrides = {p: float(run[p]) for p in self.parameters}
        if not overrides:
            return f"multivector run {path} --seed {seed}" + "".join(
                f" --shock-off {s}" for s in off
            )
        return (
            f"sim.run(sim.scenario.with_overrides(sim.load_scenario({path!r}), {overrides!r}), "
            f"seed={seed}, shocks_off={off!r})"
        )


def load(path: str | Path, ties: bool = True) -> BatchResult:
    """Read a batch directory (finished or not: the finished chunks are read).

    Args:
        path: the ``--out`` directory of ``multivector batch``.
        ties: also read the tie table when the batch kept it (it is the big one).
    """
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise UserError(f"{path}: not a batch directory (no {MANIFEST})")
    manifest = read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path}: not a batch directory (the output of `multivector run`?)")
    design = pd.read_parquet(path / "design.parquet").drop(
        columns=["status", "error"], errors="ignore"
    )
    parts = part_dirs(path / "parts")
    status = _read(parts, "runs.parquet")
    if status is None:
        status = pd.DataFrame(columns=["run_id", "status", "error", "wall_s"])
    runs = design.merge(status, on="run_id", how="left")
    runs["status"] = runs["status"].fillna("pending")
    runs = runs.sort_values("run_id", ignore_index=True)
    keys = runs[RUN_KEYS]
    states = manifest.get("states")

    def tidy(df: pd.DataFrame | None, sort: list[str]) -> pd.DataFrame | None:
        if df is None:
            return None
        df = keys.merge(df, on="run_id", how="inner")
        for col in df.columns:
            if col in ("state", "partner"):
                df[col] = pd.Categorical(df[col].astype(str), categories=states or None)
            elif col != "arm" and isinstance(df[col].dtype, pd.CategoricalDtype | pd.StringDtype):
                df[col] = df[col].astype(object)
        if "date" in df:
            df["date"] = pd.to_datetime(df["date"])
        df["arm"] = pd.Categorical(df["arm"], categories=list(manifest["arms"]))
        return df.sort_values(sort, ignore_index=True)

    indices = tidy(_read(parts, "indices.parquet"), ["run_id", "step", "state"])
    if indices is None:
        indices = keys.iloc[:0]
    tie_table = None
    if ties and manifest.get("keep") == "ties":
        tie_table = tidy(_read(parts, "ties.parquet"), ["run_id", "step", "state", "partner"])
    shocks = tidy(_read(parts, "shocks.parquet"), ["run_id", "period", "id"])
    if shocks is None:
        shocks = keys.iloc[:0].assign(id=[], label=[], kind=[], period=[], date=[])
    return BatchResult(path, manifest, runs, indices, tie_table, shocks)


def _read(parts: list[Path], name: str) -> pd.DataFrame | None:
    files = [str(p / name) for p in parts if (p / name).is_file()]
    if not files:
        return None
    try:
        return ds.dataset(files, format="parquet").to_table().to_pandas()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        # parts whose column types differ (an all-missing column is typed null): one by one
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
