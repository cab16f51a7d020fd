"""The ledger of a batch store: checksums and row counts, and their verification.

Every finished chunk's directory holds ``ledger.json`` beside its Parquet files::

    {"format": "multivector-batch-ledger/1", "chunk": 12, "runs": 40,
     "files": {"runs.parquet":    {"sha256": "9f2c...", "bytes": 2345, "rows": 40},
               "indices.parquet": {"sha256": "...", "bytes": 801234, "rows": 36000},
               "shocks.parquet":  {...}}}

It is written inside the chunk's temporary directory, so it appears together with the
part in the one rename that finishes the chunk: a part never exists without its ledger,
and the ledger lists exactly the files the part has. The design's checksum and row count
are in the manifest, under ``ledger.design`` (with the checksum of the design it replaces
while ``design.parquet`` is being rewritten, so that a crash between the two files leaves
a store that still verifies).

A part is sound when its ledger names its own chunk, every file it lists is there with
its size, SHA-256 and row count, ``runs.parquet`` holds exactly the runs the design
assigns to that chunk, the other tables hold only those runs, and every run that ended
ok has index rows. :func:`check_part` checks one part and returns the tables it read;
:func:`read_design` checks the design and :func:`check_manifest` the manifest's fields.
A store written before ledgers existed (no ``ledger`` in its manifest) is checked for
everything but the checksums.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import UserError
from sim.outputs.files import MANIFEST, atomic_file

LEDGER = "ledger.json"
LEDGER_FORMAT = "multivector-batch-ledger/1"
DESIGN = "design.parquet"
RUNS = "runs.parquet"
INDICES = "indices.parquet"
TIES = "ties.parquet"
SHOCKS = "shocks.parquet"
#: The files a part may hold (ties only when the experiment keeps them).
PART_FILES = (RUNS, INDICES, TIES, SHOCKS)
#: A finished chunk's directory in ``parts/``: ``chunk-`` and its id in six digits or more.
PART = re.compile(r"chunk-(\d{6,})")


def part_name(chunk: int) -> str:
    """The directory name of a chunk's part."""
    return f"chunk-{chunk:06d}"


def part_dirs(parts: Path) -> list[Path]:
    """The directories of the finished chunks in ``parts`` (``chunk-NNNNNN``), in order."""
    return sorted(p for p in parts.iterdir() if PART.fullmatch(p.name) and p.is_dir())


class Damage(Exception):
    """A file of a part that is missing or does not match its ledger or the design."""

    def __init__(self, file: str, why: str):
        super().__init__(f"{file} {why}")
        self.file, self.why = file, why


# ---- checksums --------------------------------------------------------------------------


def sha256_of(data: bytes | memoryview) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def file_entry(data: bytes | memoryview, rows: int) -> dict:
    """A file's line in a ledger: its SHA-256, size and row count."""
    return {"sha256": sha256_of(data), "bytes": len(data), "rows": int(rows)}


def write_ledger(directory: Path, chunk: int, runs: int, files: dict, atomic: bool = False) -> None:
    """Write ``directory/ledger.json``; ``atomic`` where the directory is already in place
    (a ledger added to an older store's part), plain inside a temporary part."""
    text = json.dumps(
        {"format": LEDGER_FORMAT, "chunk": int(chunk), "runs": int(runs), "files": files},
        indent=1,
    )
    if not atomic:
        (directory / LEDGER).write_text(text)
        return
    with atomic_file(directory / LEDGER) as tmp:
        tmp.write_text(text)


def read_ledger(directory: Path, chunk: int, runs: int) -> dict | None:
    """The ledger of a part (``None`` when it has none), checked against the chunk the
    directory is named after and the number of runs the design gives it.

    Raises:
        Damage: it is not a ledger, or it belongs to another chunk.
    """
    try:
        text = (directory / LEDGER).read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise Damage(LEDGER, f"unreadable ({exc})") from None
    try:
        ledger = json.loads(text)
        files = ledger["files"]
        ok = ledger["format"] == LEDGER_FORMAT and isinstance(ledger["chunk"], int)
        ok = ok and set(files) <= set(PART_FILES)  # no other name is ever read
        ok = ok and all(
            isinstance(e.get("sha256"), str) and isinstance(e.get("rows"), int)
            for e in files.values()
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise Damage(LEDGER, "damaged (not a ledger)")
    if ledger["chunk"] != chunk:
        raise Damage(
            LEDGER,
            f"is chunk {ledger['chunk']}'s: the directory holds another chunk's runs "
            "(copied under the wrong name?)",
        )
    if ledger.get("runs") != runs:
        raise Damage(
            LEDGER, f"records {ledger.get('runs')} runs; the design gives this chunk {runs}"
        )
    return ledger


def _read_bytes(path: Path, name: str, want: dict | None) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Damage(name, "missing") from None
    except OSError as exc:
        raise Damage(name, f"unreadable ({exc.strerror})") from None
    if want is not None:
        if len(data) != want.get("bytes", len(data)):
            raise Damage(name, f"damaged ({len(data)} bytes, the ledger says {want['bytes']})")
        if sha256_of(data) != want["sha256"]:
            raise Damage(name, "damaged (checksum)")
    return data


def _verify_unread(path: Path, name: str, want: dict, full: bool) -> None:
    """Check a file without parsing it: its size, and with ``full`` its checksum."""
    try:
        size = path.stat().st_size
        if size != want.get("bytes", size):
            raise Damage(name, f"damaged ({size} bytes, the ledger says {want['bytes']})")
        if full:
            with path.open("rb") as f:
                if hashlib.file_digest(f, "sha256").hexdigest() != want["sha256"]:
                    raise Damage(name, "damaged (checksum)")
    except FileNotFoundError:
        raise Damage(name, "missing") from None
    except OSError as exc:
        raise Damage(name, f"unreadable ({exc.strerror})") from None


def parse_parquet(data: bytes, name: str, rows: int | None = None) -> pa.Table:
    """A Parquet file's table from its bytes.

    Raises:
        Damage: it is not Parquet, or not ``rows`` rows long.
    """
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Damage(name, f"damaged (unreadable Parquet: {first[:200]})") from None
    if rows is not None and table.num_rows != rows:
        raise Damage(name, f"damaged ({table.num_rows} rows, the ledger says {rows})")
    return table


# ---- a part -----------------------------------------------------------------------------


@dataclass
class CheckedPart:
    """A part that passed :func:`check_part`: its ledger (``None`` in a store written
    before ledgers), the tables read, and the ledger lines of the files read."""

    ledger: dict | None
    tables: dict[str, pa.Table] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)


def check_part(
    directory: Path,
    chunk: int,
    run_ids: np.ndarray,
    *,
    ledgered: bool,
    read: tuple[str, ...] = (RUNS,),
    hash_all: bool = True,
    select: Callable[[str, pa.Table], pa.Table] | None = None,
) -> CheckedPart:
    """Check one chunk's part against its ledger and the design.

    Args:
        directory: ``parts/chunk-NNNNNN``.
        chunk: the chunk its name says it is.
        run_ids: the run ids the design assigns to that chunk, sorted.
        ledgered: the store keeps ledgers (a part without one is damaged).
        read: the files to read and return as tables (``runs.parquet`` always is; a part
            without a ledger is read whole).
        hash_all: also checksum the files not read (otherwise their sizes are checked).
        select: applied to each table read but ``runs.parquet`` once the part has passed
            its checks (``select(name, table)``: the rows and columns to keep), so that a
            selective read holds only what it keeps.

    Raises:
        Damage: the first problem found.
    """
    ledger = read_ledger(directory, chunk, len(run_ids))
    if ledger is None and ledgered:
        raise Damage(LEDGER, "missing")
    if ledger is None:
        names = [n for n in PART_FILES if (directory / n).is_file()]
    else:
        names = list(ledger["files"])
    if RUNS not in names:
        raise Damage(RUNS, "missing")
    part = CheckedPart(ledger)
    for name in names:
        want = ledger["files"][name] if ledger is not None else None
        if want is None or name == RUNS or name in read:
            data = _read_bytes(directory / name, name, want)
            table = parse_parquet(data, name, want["rows"] if want else None)
            part.tables[name] = table
            part.files[name] = file_entry(data, table.num_rows)
        else:
            _verify_unread(directory / name, name, want, hash_all)
    _check_run_ids(part.tables, names, chunk, run_ids)
    if select is not None:
        part.tables = {
            name: table if name == RUNS else select(name, table)
            for name, table in part.tables.items()
        }
    return part


def _check_run_ids(
    tables: dict[str, pa.Table], names: list[str], chunk: int, run_ids: np.ndarray
) -> None:
    """``runs.parquet`` holds the chunk's runs, once each; the other tables hold only
    those; every run that ended ok has index rows."""
    runs = tables[RUNS]
    try:
        ids = np.sort(runs["run_id"].to_numpy(zero_copy_only=False))
        ok = runs["status"].to_numpy(zero_copy_only=False) == "ok"
    except KeyError as exc:
        raise Damage(RUNS, f"damaged (no column {exc})") from None
    if len(ids) != len(run_ids) or not np.array_equal(ids, run_ids):
        raise Damage(
            RUNS,
            f"holds {len(ids)} runs that are not the {len(run_ids)} runs the design assigns "
            f"to chunk {chunk} (run ids {_span(ids)}, expected {_span(run_ids)}; "
            "copied from another chunk?)",
        )
    for name, table in tables.items():
        if name == RUNS or "run_id" not in table.column_names:
            continue
        theirs = table["run_id"].to_numpy(zero_copy_only=False)
        if not np.isin(theirs, run_ids).all():
            raise Damage(name, f"damaged (holds runs of another chunk than {chunk})")
    if ok.any():
        if INDICES not in names:
            raise Damage(INDICES, f"missing (the chunk has {int(ok.sum())} runs that ended ok)")
        if INDICES in tables:
            ok_ids = runs["run_id"].to_numpy(zero_copy_only=False)[ok]
            have = tables[INDICES]["run_id"].to_numpy(zero_copy_only=False)
            missing = np.setdiff1d(ok_ids, have)
            if len(missing):
                raise Damage(INDICES, f"damaged (no rows for {len(missing)} runs that ended ok)")


def _span(ids: np.ndarray) -> str:
    return f"{ids[0]}..{ids[-1]}" if len(ids) else "none"


# ---- the design and the manifest --------------------------------------------------------


def cannot_repair(out: Path, manifest: dict | None) -> str:
    """What to do when the design or the manifest is lost: start again elsewhere."""
    experiment = (manifest or {}).get("experiment")
    exp = experiment.get("path") if isinstance(experiment, dict) else None
    again = f"multivector batch {exp or 'EXPERIMENT'} --out NEW_DIR"
    return (
        "a batch store cannot be repaired without it (it says which run has which seed, "
        f"parameters and chunk): run the batch again into a new directory ({again}), or "
        f"delete {out} and rerun"
    )


def resume_command(out: Path, manifest: dict) -> str:
    """The command that resumes (and so repairs) the batch in ``out`` (a shard: its
    directory and ``--shard K/M``)."""
    exp = manifest.get("experiment", {}).get("path")
    shard = manifest.get("shard")
    if isinstance(shard, dict):
        k, m = shard.get("index"), shard.get("count")
        if exp:
            return f"multivector batch {exp} --out {out.parent} --shard {k}/{m}"
        return f"sim.batch.run(EXPERIMENT, {str(out.parent)!r}, shard=({k}, {m}))"
    if exp:
        return f"multivector batch {exp} --out {out}"
    return f"sim.batch.run(EXPERIMENT, {str(out)!r})"


def describe_shard(record: dict | None) -> str:
    """A manifest's shard record in words (``None``: a whole batch)."""
    if not isinstance(record, dict):
        return "a whole batch (no shard)"
    ids = record.get("run_ids") or ["?", "?"]
    return (
        f"shard {record.get('index')} of {record.get('count')} (runs {ids[0]}..{ids[-1]} of "
        f"{record.get('experiment_runs')})"
    )


def first_run_id(manifest: dict) -> int:
    """The first run id of the store's design: its shard's first run (0 unsharded)."""
    shard = manifest.get("shard")
    return shard["run_ids"][0] if isinstance(shard, dict) else 0


def check_manifest(out: Path, manifest: dict) -> None:
    """The fields a batch store needs are in its manifest, with their types.

    Raises:
        UserError: a field is missing or of the wrong type (the manifest is damaged).
    """
    need = {"experiment": dict, "arms": dict, "runs": int, "chunks": int, "chunk_size": int}
    bad = [k for k, t in need.items() if not isinstance(manifest.get(k), t)]
    if not bad and not isinstance(manifest["experiment"].get("content_hash"), str):
        bad = ["experiment.content_hash"]
    if not bad and "shard" in manifest and not _is_shard_record(manifest["shard"]):
        bad = ["shard"]
    ledger = manifest.get("ledger")
    if not bad and ledger is not None:
        design = ledger.get("design") if isinstance(ledger, dict) else None
        if not (isinstance(design, dict) and isinstance(design.get("sha256"), str)):
            bad = ["ledger.design.sha256"]
    if bad:
        raise UserError(
            f"{out / MANIFEST}: damaged (no valid {', '.join(bad)}); "
            + cannot_repair(out, manifest)
        )


def _is_shard_record(record) -> bool:
    """A manifest's ``shard`` has its fields, whole numbers (see :mod:`sim.batch.shards`)."""
    if not isinstance(record, dict):
        return False
    ids = record.get("run_ids")
    numbers = [record.get(k) for k in ("index", "count", "experiment_runs")]
    numbers += ids if isinstance(ids, list) and len(ids) == 2 else [None]
    return all(isinstance(v, int) and not isinstance(v, bool) for v in numbers)


def design_bytes(design: pd.DataFrame) -> bytes:
    """``design.parquet``'s bytes (written from them, and checksummed from them)."""
    buf = io.BytesIO()
    design.to_parquet(buf, index=False)
    return buf.getvalue()


def design_entry(data: bytes, rows: int, previous: str | None = None) -> dict:
    """The manifest's ``ledger.design``; ``previous`` is also accepted while the design
    is being replaced."""
    entry = file_entry(data, rows)
    if previous is not None and previous != entry["sha256"]:
        entry["previous_sha256"] = previous
    return entry


def read_design(out: Path, manifest: dict) -> tuple[pd.DataFrame, dict]:
    """``design.parquet`` and its ledger line, verified against the manifest: its
    checksum (when the store keeps a ledger), one row per run with ``run_id`` its row
    (plus the shard's first run id), and chunks in range.

    Raises:
        UserError: it is missing or damaged (naming it, and saying that it cannot be
            repaired).
    """
    path = out / DESIGN
    ledger = manifest.get("ledger")
    want = ledger["design"] if isinstance(ledger, dict) else None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: missing; " + cannot_repair(out, manifest)) from None
    except OSError as exc:
        why = f"unreadable ({exc.strerror})"
        raise UserError(f"{path}: {why}; {cannot_repair(out, manifest)}") from None
    why = None
    if want is not None and sha256_of(data) not in (want["sha256"], want.get("previous_sha256")):
        why = "its checksum is not the one in manifest.json"
    else:
        try:
            design = parse_parquet(data, DESIGN).to_pandas()
            why = _design_problem(design, manifest)
        except Damage as exc:
            why = exc.why
    if why is not None:
        raise UserError(f"{path}: damaged ({why}); " + cannot_repair(out, manifest))
    return design, file_entry(data, len(design))


def _design_problem(design: pd.DataFrame, manifest: dict) -> str | None:
    if "run_id" not in design or "chunk" not in design:
        return "no run_id or chunk column"
    if len(design) != manifest["runs"]:
        return f"{len(design)} rows, the manifest says {manifest['runs']} runs"
    first = first_run_id(manifest)
    if not np.array_equal(design["run_id"].to_numpy(), first + np.arange(len(design))):
        return f"its run ids are not {first}, {first + 1}, {first + 2}, ... in order"
    chunk = design["chunk"].to_numpy()
    if len(chunk) and (chunk.min() < 0 or chunk.max() >= manifest["chunks"]):
        return f"chunk ids outside 0..{manifest['chunks'] - 1}"
    return None


def chunk_runs(design: pd.DataFrame) -> dict[int, np.ndarray]:
    """The run ids of each chunk, sorted (the design is in run id order)."""
    ids = design["run_id"].to_numpy()
    return {int(c): ids[pos] for c, pos in design.groupby("chunk").indices.items()}


# ---- every part of a store --------------------------------------------------------------


@dataclass
class Scan:
    """The parts of a store, checked: the sound ones by chunk id, the damaged ones (with
    what is wrong), directories that are no chunk of the design (with why: another
    chunk's id written differently, or an id the design does not have), and the chunks
    that ``design.parquet`` records as finished but that have no part."""

    sound: dict[int, CheckedPart]
    damaged: list[tuple[int, Path, Damage]]
    foreign: list[tuple[Path, str]]
    missing: list[int]

    @property
    def clean(self) -> bool:
        """Nothing damaged, foreign or missing."""
        return not (self.damaged or self.foreign or self.missing)


def scan_parts(
    out: Path,
    design: pd.DataFrame,
    manifest: dict,
    *,
    read: tuple[str, ...] = (RUNS,),
    hash_all: bool = True,
    select: Callable[[str, pa.Table], pa.Table] | None = None,
) -> Scan:
    """Check every part in ``out/parts`` (see :func:`check_part`), a few at a time."""
    chunks = chunk_runs(design)
    ledgered = isinstance(manifest.get("ledger"), dict)
    targets, foreign = [], []
    for d in part_dirs(out / "parts"):
        cid = int(PART.fullmatch(d.name).group(1))
        if cid in chunks and d.name == part_name(cid):
            targets.append((cid, d))
        elif cid in chunks:
            foreign.append((d, f"another name for chunk {cid}'s directory {part_name(cid)}"))
        else:
            foreign.append((d, f"the design has no chunk {cid}, only {len(chunks)} chunks"))

    def one(item: tuple[int, Path]):
        cid, d = item
        try:
            return (
                cid,
                d,
                check_part(
                    d,
                    cid,
                    chunks[cid],
                    ledgered=ledgered,
                    read=read,
                    hash_all=hash_all,
                    select=select,
                ),  # fmt: skip
            )
        except Damage as exc:
            return cid, d, exc

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        checked = list(pool.map(one, targets))
    sound = {cid: r for cid, _, r in checked if isinstance(r, CheckedPart)}
    damaged = [(cid, d, r) for cid, d, r in checked if isinstance(r, Damage)]
    finished = set()
    if "status" in design:
        done = design["status"].astype(str).to_numpy() != "pending"
        finished = {int(c) for c in np.unique(design["chunk"].to_numpy()[done])}
    missing = sorted(finished - {cid for cid, _ in targets})
    return Scan(sound, damaged, foreign, missing)
