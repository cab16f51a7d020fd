"""Reading a batch back: ``sim.batch.load(DIR)`` gives tidy pandas DataFrames.

The store is verified as it is read (:mod:`sim.batch.ledger`): a damaged one is refused
with a :class:`~sim.errors.UserError` naming its damaged files, never read in part. A
directory of shards (:mod:`sim.batch.shards`) is read as the union of its shards, each
verified as a store; a missing or unfinished shard is refused unless ``partial=True``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
from sim.batch.shards import ShardSet, contents, shard_set
from sim.batch.store import FORMAT, read_manifest
from sim.errors import UserError
from sim.outputs.files import MANIFEST
from sim.scenario.problems import did_you_mean

RUN_KEYS = ["run_id", "arm", "point", "replicate", "seed"]
#: The value columns of the indices table (the rest are keys: run_id, step, date, state).
INDEX_VALUES = (
    "alignment_index", "hedging_index", "energy", "security", "alignment", "cost", "utility",
)  # fmt: skip
#: The keys a selective read keeps whatever it keeps.
ROW_KEYS = ("run_id", "step", "date", "state", "partner")


@dataclass(frozen=True)
class Selection:
    """What a selective :func:`load` keeps of the indices and tie tables: the rows of
    some states and dates, the indices' value columns named (``None``: all). Applied to
    each part as it is read, after the part's checks, so memory holds only what is kept.
    """

    states: tuple[str, ...] | None = None
    dates: tuple[dt.date, ...] | None = None
    columns: tuple[str, ...] | None = None

    @classmethod
    def of(cls, manifest: dict, states, dates, columns) -> Selection | None:
        """The selection asked for, checked against the batch (``None``: everything)."""
        if states is None and dates is None and columns is None:
            return None
        known = list(manifest.get("states") or [])
        if states is not None:
            states = tuple([states] if isinstance(states, str) else states)
            for sid in states:
                if known and sid not in known:
                    raise UserError(
                        f"states: {sid!r} is not a state of this batch"
                        f"{did_you_mean(sid, known)}; its states are {', '.join(known)}"
                    )
        if dates is not None:
            dates = tuple(_date(d) for d in ([dates] if isinstance(dates, str) else dates))
            kept = manifest.get("dates")
            if kept:
                missing = [d for d in dates if d.isoformat() not in kept]
                if missing:
                    raise UserError(
                        f"dates: the batch kept no record dated {missing[0]}; it kept "
                        f"{', '.join(kept)}"
                    )
        if columns is not None:
            columns = tuple([columns] if isinstance(columns, str) else columns)
            for c in columns:
                if c not in INDEX_VALUES:
                    raise UserError(
                        f"columns: {c!r} is not a column of the indices table"
                        f"{did_you_mean(c, list(INDEX_VALUES))}; its value columns are "
                        f"{', '.join(INDEX_VALUES)}"
                    )
        return cls(states, dates, columns)

    def __call__(self, name: str, table: pa.Table) -> pa.Table:
        if name not in (INDICES, TIES):
            return table
        keep = None
        if self.states is not None and "state" in table.column_names:
            keep = pc.is_in(table["state"], value_set=pa.array(self.states, pa.string()))
        if self.dates is not None and "date" in table.column_names:
            stamps = [dt.datetime.combine(d, dt.time()) for d in self.dates]
            on = pc.is_in(
                table["date"], value_set=pa.array(stamps, table.schema.field("date").type)
            )
            keep = on if keep is None else pc.and_(keep, on)
        if keep is not None:
            table = table.filter(keep)
        if name == INDICES and self.columns is not None:
            names = [c for c in table.column_names if c in ROW_KEYS or c in self.columns]
            table = table.select(names)
        return table


def _date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UserError(f"dates: expected dates as YYYY-MM-DD, got {value!r}") from None


@dataclass
class BatchResult:
    """A batch read back from its directory.

    Attributes:
        manifest: the manifest (experiment, arms, versions, counts). Of a directory of
            shards: the first shard's, with the union's ``runs`` and ``status``, and
            ``shards`` (``count``, ``read``, ``missing``, ``unfinished``) in place of
            the one store's ``shard``, ``chunks``, ``ledger`` and ``sessions``.
        runs: one row per run: run_id, arm, point, replicate, seed, seed_entropy,
            seed_spawn_key, the design parameters, chunk, status, error, wall_s (and,
            of a directory of shards, ``shard`` after ``chunk``: the K of the shard
            whose store holds the run; chunk ids count from 0 in each shard).
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


def load(
    path: str | Path,
    ties: bool = True,
    *,
    partial: bool = False,
    states=None,
    dates=None,
    columns=None,
) -> BatchResult:
    """Read a batch directory (finished or not: the finished chunks are read), verified.

    Every part read is checked against its ledger (checksums, row counts) and the design
    (its run ids) first; a damaged store is refused rather than read in part. A
    directory of shards (``multivector batch ... --shard K/M``) is read as the union of
    its shards: the same tables as the unsharded batch's (and a ``shard`` column in
    ``runs``), once every shard is there and finished.

    Args:
        path: the ``--out`` directory of ``multivector batch`` (with or without
            ``--shard``; a single shard's folder is a store too).
        ties: also read the tie table when the batch kept it (it is the big one).
        partial: of a directory of shards, read the shards that are there even if some
            are missing or unfinished (a warning says which; ``manifest["shards"]``
            records it); without it such a directory is refused.
        states, dates, columns: keep only these states' rows (a state id or a list), the
            records of these dates (``"YYYY-MM-DD"`` or dates), and these value columns
            of the indices table (e.g. ``"alignment_index"``); the tie table is cut to
            the same states and dates. Each part is cut as it is read, after its checks,
            so a batch far larger than memory can be read in part (:class:`Selection`).
            ``runs`` and ``shocks`` are whole.

    Raises:
        UserError: not a batch directory; its manifest or design is damaged (it cannot
            be repaired); some of its parts are damaged or missing (the message names
            them: rerunning the batch repairs them); its shards do not fit together, or
            (without ``partial``) some are missing or unfinished (naming each, with the
            command that completes it).
    """
    path = Path(path)
    found = contents(path)
    wanted = (states, dates, columns)
    if found.stores:
        return _load_shards(shard_set(path, found), ties, partial, wanted)
    return _load_store(path, ties, wanted)


def _load_store(path: Path, ties: bool, wanted=(None, None, None)) -> BatchResult:
    """Read one store (:func:`load`); ``wanted``: the selection's states, dates and
    columns."""
    manifest = _manifest(path)
    select = Selection.of(manifest, *wanted)
    design, _ = read_design(path, manifest)
    if not (path / "parts").is_dir():
        raise UserError(
            f"{path / 'parts'}: missing: the store holds no results; rerun the batch to "
            f"run its chunks again: {resume_command(path, manifest)}"
        )
    keep_ties = ties and manifest.get("keep") == "ties"
    read = (RUNS, INDICES, SHOCKS) + ((TIES,) if keep_ties else ())
    scan = scan_parts(path, design, manifest, read=read, hash_all=False, select=select)
    if not scan.clean:
        raise UserError(damage_report(path, manifest, scan))
    parts = [scan.sound[c] for c in sorted(scan.sound)]
    if "ledger" not in manifest or any(p.ledger is None for p in parts):
        warnings.warn(
            f"{path}: written by an earlier version without checksums: its row counts and "
            "run ids were checked, its bytes cannot be; rerun the batch command to verify "
            f"it and add them ({resume_command(path, manifest)})",
            stacklevel=3,
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
    if select is not None and select.dates is not None:
        _check_dates_found(select.dates, indices, runs)
    shocks = tidy(_concat(parts, SHOCKS), ["run_id", "period", "id"])
    if shocks is None:
        shocks = keys.iloc[:0].assign(id=[], label=[], kind=[], period=[], date=[])
    return BatchResult(path, manifest, runs, indices, tie_table, shocks)


def _check_dates_found(dates, indices: pd.DataFrame, runs: pd.DataFrame) -> None:
    """A selective read of dates no record has is a mistake, not an empty answer."""
    if not (runs["status"] == "ok").any():
        return
    found = set(pd.to_datetime(indices["date"]).dt.date)
    missing = [d for d in dates if d not in found]
    if missing:
        example = f", such as {min(found)}" if found else ""
        raise UserError(
            f"dates: no record of this batch is dated {missing[0]} (records are dated the "
            f"last day of a period{example})"
        )


def _load_shards(shards: ShardSet, ties: bool, partial: bool, wanted) -> BatchResult:
    """Read the shards of a batch as one (:func:`load`)."""
    if not shards.complete:
        exp = next(iter(shards.manifests.values()))["experiment"].get("path") or "EXPERIMENT"
        lines = "\n  ".join(shards.problems(f"multivector batch {exp} --out {shards.path}"))
        gaps = len(shards.missing) + len(shards.unfinished)
        if not partial:
            raise UserError(
                f"{shards.path}: {gaps} of its {shards.count} shards are missing or "
                f"unfinished; refusing to read a part of the batch as the whole:\n  {lines}\n"
                "Run them, or read what is there with "
                f"sim.batch.load({str(shards.path)!r}, partial=True)"
            )
        warnings.warn(
            f"{shards.path}: read {len(shards.stores)} of {shards.count} shards, "
            f"{gaps} missing or unfinished (partial=True):\n  {lines}",
            stacklevel=3,
        )
    read = {k: _load_store(shards.stores[k], ties, wanted) for k in sorted(shards.stores)}
    _warn_if_versions_differ(shards)
    return _union(shards, read)


def _union(shards: ShardSet, read: dict[int, BatchResult]) -> BatchResult:
    """One result of the shards' results. The shards hold ascending blocks of run ids,
    each sorted as :func:`load` sorts, so their tables in shard order are sorted too."""
    parts = list(read.values())
    runs = []
    for k, r in read.items():
        r.runs.insert(r.runs.columns.get_loc("chunk") + 1, "shard", k)
        runs.append(r.runs)
    runs = _stack(runs)
    manifest = {
        key: value
        for key, value in parts[0].manifest.items()
        if key not in ("shard", "chunks", "chunk_size", "ledger", "sessions")
    }
    counts = runs["status"].value_counts()
    manifest["runs"] = parts[0].manifest["shard"]["experiment_runs"]
    manifest["status"] = {k: int(counts.get(k, 0)) for k in ("ok", "failed", "pending")}
    manifest["status"]["pending"] += manifest["runs"] - len(runs)  # the missing shards'
    manifest["shards"] = {
        "count": shards.count,
        "read": sorted(read),
        "missing": shards.missing,
        "unfinished": shards.unfinished,
    }
    tie_tables = [r.ties for r in parts]
    return BatchResult(
        shards.path,
        manifest,
        runs,
        _stack([r.indices for r in parts]),
        None if any(t is None for t in tie_tables) else _stack(tie_tables),
        _stack([r.shocks for r in parts]),
    )


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one below the other, with their columns' dtypes (empty frames, typed
    loosely, do not count unless all are)."""
    full = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(full, ignore_index=True) if len(full) > 1 else full[0]


def _warn_if_versions_differ(shards: ShardSet) -> None:
    """Shards run with other code or packages may differ in the last digits (or more,
    if the model changed): say so."""
    seen: dict[str, set] = {}
    for manifest in shards.manifests.values():
        for name, version in (manifest.get("versions") or {}).items():
            if name != "platform":
                seen.setdefault(name, set()).add(str(version))
    differ = [f"{name}: {', '.join(sorted(v))}" for name, v in sorted(seen.items()) if len(v) > 1]
    if differ:
        warnings.warn(
            f"{shards.path}: its shards were run with other code or packages ("
            + "; ".join(differ)
            + "); their manifests say which shard ran with which",
            stacklevel=4,
        )


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
