"""Reading a batch back: ``sim.batch.load(DIR)`` gives tidy pandas DataFrames.

The store is verified as it is read (:mod:`sim.batch.ledger`): a damaged one is refused
with a :class:`~sim.errors.UserError` naming its damaged files, never read in part.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from sim.batch.ledger import (
    DESIGN,
    INDICES,
    RUNS,
    SHOCKS,
    TIES,
    CheckedPart,
    Scan,
    cannot_repair,
    check_manifest,
    part_name,
    read_design,
    resume_command,
    scan_parts,
)
from sim.batch.store import FORMAT, read_manifest
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
    """Read a batch directory (finished or not: the finished chunks are read), verified.

    Every part read is checked against its ledger (checksums, row counts) and the design
    (its run ids) first; a damaged store is refused rather than read in part.

    Args:
        path: the ``--out`` directory of ``multivector batch``.
        ties: also read the tie table when the batch kept it (it is the big one).

    Raises:
        UserError: not a batch directory; its manifest or design is damaged (it cannot
            be repaired); or some of its parts are damaged or missing (the message names
            them: rerunning the batch repairs them).
    """
    path = Path(path)
    manifest = _manifest(path)
    design, _ = read_design(path, manifest)
    if not (path / "parts").is_dir():
        raise UserError(
            f"{path / 'parts'}: missing: the store holds no results; rerun the batch to "
            f"run its chunks again: {resume_command(path, manifest)}"
        )
    keep_ties = ties and manifest.get("keep") == "ties"
    read = (RUNS, INDICES, SHOCKS) + ((TIES,) if keep_ties else ())
    scan = scan_parts(path, design, manifest, read=read, hash_all=False)
    if not scan.clean:
        raise UserError(damage_report(path, manifest, scan))
    parts = [scan.sound[c] for c in sorted(scan.sound)]
    if "ledger" not in manifest or any(p.ledger is None for p in parts):
        warnings.warn(
            f"{path}: written by an earlier version without checksums: its row counts and "
            "run ids were checked, its bytes cannot be; rerun the batch command to verify "
            f"it and add them ({resume_command(path, manifest)})",
            stacklevel=2,
        )
    design = design.drop(columns=["status", "error"], errors="ignore")
    status = _concat(parts, RUNS)
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

    indices = tidy(_concat(parts, INDICES), ["run_id", "step", "state"])
    if indices is None:
        indices = keys.iloc[:0]
    tie_table = None
    if keep_ties:
        tie_table = tidy(_concat(parts, TIES), ["run_id", "step", "state", "partner"])
    shocks = tidy(_concat(parts, SHOCKS), ["run_id", "period", "id"])
    if shocks is None:
        shocks = keys.iloc[:0].assign(id=[], label=[], kind=[], period=[], date=[])
    return BatchResult(path, manifest, runs, indices, tie_table, shocks)


def _manifest(path: Path) -> dict:
    """The manifest of the batch in ``path``, checked."""
    if not (path / MANIFEST).is_file():
        if (path / DESIGN).is_file() or (path / "parts").is_dir():
            raise UserError(f"{path / MANIFEST}: missing; " + cannot_repair(path, None))
        raise UserError(f"{path}: not a batch directory (no {MANIFEST})")
    manifest = read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path}: not a batch directory (the output of `multivector run`?)")
    check_manifest(path, manifest)
    return manifest


def damage_report(path: Path, manifest: dict, scan: Scan, limit: int = 20) -> str:
    """Why a damaged store is not loaded: each damaged or missing file, and the command
    that repairs it."""
    lines = [f"{d / damage.file}: {damage.why}" for _, d, damage in scan.damaged]
    lines += [f"{d}: not a chunk of this batch ({why})" for d, why in scan.foreign]
    lines += [
        f"{path / 'parts' / part_name(c)}: missing (design.parquet records it finished)"
        for c in scan.missing
    ]
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return (
        f"{path}: the batch store is damaged ({len(lines)} problem(s)); refusing to load it, "
        "as its tables would miss or repeat runs:\n  "
        + "\n  ".join(lines[:limit])
        + more
        + "\nResume the batch to repair it (it checks every part and reruns the damaged "
        f"chunks): {resume_command(path, manifest)}"
    )


def _concat(parts: list[CheckedPart], name: str) -> pd.DataFrame | None:
    """One table of every part, as a DataFrame (``None`` if no part has it)."""
    tables = [p.tables[name] for p in parts if name in p.tables]
    if not tables:
        return None
    try:
        # an all-missing column is typed null in one part, string in another: promoted
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)
