"""The result store of a batch: a directory that survives crashes, resumes, and proves
its contents.

Layout of ``OUT/``::

    manifest.json          experiment (name, path, document, content hash), arms, what is
                           kept, chunking, package and dependency versions, git commit,
                           platform, start and end times, the command, the run counts, and
                           ``ledger``: design.parquet's SHA-256, size and row count
    design.parquet         one row per run: run_id, arm, point, replicate, seed,
                           seed_entropy, seed_spawn_key, the design parameters, chunk,
                           status (ok / failed / pending), error
    parts/chunk-000012/    one directory per finished chunk: runs.parquet (status, error,
                           wall time per run), indices.parquet, shocks.parquet and, when
                           ties are kept, ties.parquet; and ledger.json, the SHA-256, size
                           and row count of each (:mod:`sim.batch.ledger`)

A new store is built in a temporary directory beside ``OUT`` and renamed into place; a
chunk's part, its ledger included, is written under a temporary name inside ``parts/``
and renamed when complete. One batch at a time writes a store (:mod:`sim.batch.lock`).
A chunk is finished exactly when its directory exists, so a batch killed at any moment
resumes without losing or duplicating a run. ``design.parquet``'s status column and the
manifest's counts are refreshed when a batch ends; the parts are the truth in between.

Resuming checks the store before it runs anything. The manifest and the design cannot
be rebuilt, so a damaged one is refused (naming the file). Every part is checked against
its ledger and the design (:func:`sim.batch.ledger.scan_parts`): a damaged or missing
file, a directory holding another chunk's runs, a chunk the design records as finished
but that has no part, are each said on stderr, removed, and the chunk is run again. A
store written before ledgers existed is checked for row counts and run ids, and gets its
ledgers.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.batch.experiment import Experiment
from sim.batch.ledger import (
    DESIGN,
    LEDGER_FORMAT,
    PART,
    RUNS,
    cannot_repair,
    check_manifest,
    describe_shard,
    design_bytes,
    design_entry,
    file_entry,
    first_run_id,
    part_dirs,
    part_name,
    read_design,
    resume_command,
    scan_parts,
    write_ledger,
)
from sim.batch.lock import StoreLock
from sim.batch.runner import ChunkResult
from sim.errors import UserError
from sim.outputs.files import (
    MANIFEST,
    atomic_dir,
    atomic_file,
    check_out_dir,
    dictionary_columns,
    out_target,
    temporary_path,
    write_manifest,
)
from sim.outputs.kinds import BATCH, inspect_dir
from sim.outputs.manifest import stamped, utc_now

FORMAT = "multivector-batch/1"
#: Parquet compression of the parts: LZ4 writes random-looking floats fastest here, at
#: about the size of Snappy (pandas' default); every Parquet reader of note reads it.
COMPRESSION = "lz4"
#: How the error of a run starts when its chunk failed on the executor, not in the model.
EXECUTOR_FAILURE = "its chunk failed"
#: The process id in a temporary name made by :func:`sim.outputs.files.temporary_path`.
_TEMPORARY = re.compile(r"\.tmp-(\d+)-[0-9a-f]+$")


def release_arrow_memory() -> None:
    """Hand the memory Arrow freed back to the system. Arrow's allocator keeps freed
    blocks for reuse, so without this every table once converted for Parquet would stay
    in the process's resident memory (tens of MB at 100,000 runs)."""
    pa.default_memory_pool().release_unused()


def read_manifest(out: Path) -> dict:
    """The manifest of the batch in ``out``.

    Raises:
        UserError: it is missing, not JSON, or not a JSON object.
    """
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except FileNotFoundError:
        raise UserError(f"{out / MANIFEST}: missing; " + cannot_repair(out, None)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"{out / MANIFEST}: cannot read the batch manifest ({exc}); " + cannot_repair(out, None)
        ) from None
    if not isinstance(manifest, dict):
        raise UserError(
            f"{out / MANIFEST}: damaged (not a JSON object); {cannot_repair(out, None)}"
        )
    return manifest


def check_batch_out(out: str | Path) -> Path:
    """Check ``--out`` for a batch (:func:`sim.outputs.files.check_out_dir`), after
    refusing a batch store whose manifest is missing or unreadable with a message that
    names it (such a store cannot be resumed).

    Raises:
        UserError: as the two checks say.
    """
    out = Path(out)
    if (out / DESIGN).is_file() or (out / "parts").is_dir():
        read_manifest(out)
    return check_out_dir(out, "batch")


def make_way(out: Path, experiment: Experiment, force: bool) -> Path | None:
    """Make way for a new batch in ``out``: nothing to do when it is new, empty or a
    batch of this experiment (resumed); another experiment's batch is refused without
    ``--force``; with it, whatever is there is renamed aside (``.NAME.replaced-PID``)
    until the new store exists (:func:`settle_replaced`). Returns the aside path."""
    real = out_target(out)
    found = inspect_dir(real)
    if found.empty:
        return None
    exp = (found.manifest or {}).get("experiment")
    have = exp.get("content_hash") if isinstance(exp, dict) else None
    if found.kind == BATCH and have == experiment.content_hash:
        return None  # resumed (also with --force: finished runs are never discarded)
    if not force:
        if found.kind == BATCH and have is not None:
            raise UserError(
                f"--out {out}: holds a batch of a different experiment ({exp.get('name')!r}, "
                f"{exp.get('path')}, hash {have[:12]}); this one ({experiment.name!r}, hash "
                f"{experiment.content_hash[:12]}) differs in the experiment file or in a "
                "scenario it names. Name a new --out, or add --force to replace it with a "
                "new batch"
            )
        return None  # check_out_dir has let it through: a batch store the store checks
    aside = real.with_name(f".{real.name}.replaced-{os.getpid()}")
    with StoreLock(out):  # not while another batch writes it
        os.rename(real, aside)
    return aside


def settle_replaced(aside: Path, out: Path) -> None:
    """After a ``batch --force``: the output set aside is deleted once the new store
    exists, and put back otherwise (the batch failed before it began)."""
    real = out_target(out)
    if (real / MANIFEST).is_file():
        shutil.rmtree(aside, ignore_errors=True)
        if os.path.lexists(aside):
            print(f"warning: could not remove all of the replaced {aside}", file=sys.stderr)
    elif not os.path.lexists(real):
        os.rename(aside, real)
    else:
        print(f"warning: what --out held before is kept in {aside}", file=sys.stderr)


def store_ledger(design: dict) -> dict:
    """The manifest's ``ledger``: where the parts' ledgers are, and the design's line."""
    return {
        "format": LEDGER_FORMAT,
        "parts": "parts/chunk-NNNNNN/ledger.json (SHA-256, bytes and rows of each file)",
        "design": design,
    }


def pid_alive(pid: int) -> bool:
    """A process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Store:
    """An open batch directory."""

    out: Path
    manifest: dict
    runs: pd.DataFrame  # the design table (run_id order), with `chunk`
    repairs: list[str] = field(default_factory=list)  # what resuming found damaged

    @property
    def parts(self) -> Path:
        """The directory of the finished chunks' parts."""
        return self.out / "parts"

    # ---- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        out: str | Path,
        experiment: Experiment,
        runs: pd.DataFrame,
        manifest: dict,
        shard: dict | None = None,
    ) -> tuple[Store, bool]:
        """Create the store, or reopen, check and repair it to resume. Returns (store,
        resumed). The caller holds the store's lock (:class:`sim.batch.lock.StoreLock`).

        ``runs`` must already carry the ``chunk`` column (used for a new store only: a
        resumed batch keeps the chunking it started with). ``shard`` is the manifest's
        shard record a resumed store must have (``None``: an unsharded batch).
        """
        out = check_out_dir(out, "batch")
        if (out / MANIFEST).is_file():
            return cls.reopen(out, experiment, shard), True
        with atomic_dir(out, "batch") as tmp:
            (tmp / "parts").mkdir()
            design = runs  # the caller's table, completed in place (no copy)
            design["status"] = "pending"
            design["error"] = pd.Series([None] * len(design), dtype=object)
            data = design_bytes(design)
            (tmp / DESIGN).write_bytes(data)
            manifest["ledger"] = store_ledger(design_entry(data, len(design)))
            write_manifest(tmp, manifest)
            release_arrow_memory()
        return cls(out, manifest, design), False

    @classmethod
    def reopen(cls, out: Path, experiment: Experiment, shard: dict | None = None) -> Store:
        """Open an existing store of ``experiment`` (of its shard ``shard``, a manifest's
        shard record), check it, and repair its parts.

        Raises:
            UserError: it holds something else (another experiment, another shard), or
                its manifest or design is damaged.
        """
        old = read_manifest(out)
        if old.get("format") != FORMAT:
            raise UserError(
                f"--out {out}: holds a {old.get('format', 'single run')!r} output, not a "
                "batch; name a new directory"
            )
        check_manifest(out, old)
        have = old["experiment"]["content_hash"]
        if have != experiment.content_hash:
            raise UserError(
                f"--out {out}: holds a batch of a different experiment "
                f"({old['experiment'].get('name')!r}, {old['experiment'].get('path')}, "
                f"hash {have[:12]}); this one ({experiment.name!r}, hash "
                f"{experiment.content_hash[:12]}) differs in the experiment file or in a "
                "scenario it names. Name a new --out, or delete the old batch to start over"
            )
        if old.get("shard") != shard:
            raise UserError(
                f"--out {out}: holds {describe_shard(old.get('shard'))} of "
                f"{old['experiment'].get('name')!r}, not {describe_shard(shard)}: "
                f"resume it with {resume_command(out, old)}, or name another --out"
            )
        design, entry = read_design(out, old)
        store = cls(out, old, design)
        store.clean_temporaries()
        store.repair(entry)
        return store

    def repair(self, design: dict) -> None:
        """Check every part; remove the damaged ones (saying so) and the parts of chunks
        that failed on the executor, so that the batch runs them again. A store without
        a ledger gets one (``design``: the design's ledger line)."""
        if not self.parts.is_dir():
            if self.parts.exists():
                raise UserError(f"{self.parts}: is not a directory; move it away and rerun")
            self.parts.mkdir()
            self.say(f"{self.parts}: missing, running every chunk again")
        scan = scan_parts(self.out, self.runs, self.manifest)
        for cid, path, damage in scan.damaged:
            self.say(f"chunk {cid}: {damage}, rerunning")
            remove_part(path)
        for path, why in scan.foreign:
            self.say(f"{path}: not a chunk of this batch ({why}), removed")
            remove_part(path)
        for cid in scan.missing:
            self.say(f"chunk {cid}: missing (design.parquet records it finished), rerunning")
        for cid, part in list(scan.sound.items()):
            runs = part.tables[RUNS].to_pandas()
            if (runs["status"] == "failed").all() and (
                runs["error"].fillna("").str.startswith(EXECUTOR_FAILURE).all()
            ):  # rerun a chunk that failed on the executor; runs that raised stay failed
                remove_part(self.parts / part_name(cid))
                del scan.sound[cid]
        if "ledger" not in self.manifest:
            self._add_ledgers(scan.sound, design)

    def _add_ledgers(self, sound: dict, design: dict) -> None:
        """Give the parts of a store written before ledgers existed their ledgers (they
        passed every check but the checksums), then the manifest the design's."""
        old = [cid for cid, part in sound.items() if part.ledger is None]
        for cid in old:
            part = sound[cid]
            n = part.tables[RUNS].num_rows
            write_ledger(self.parts / part_name(cid), cid, n, part.files, atomic=True)
        self.manifest["ledger"] = store_ledger(design)
        write_manifest(self.out, self.manifest)
        print(
            f"note: {self.out} was written by an earlier version without checksums: "
            f"checked the row counts and run ids of its {len(old)} finished chunk(s) "
            "and added their checksums (ledger.json) and the design's",
            file=sys.stderr,
        )

    def say(self, message: str) -> None:
        """Report a repair on stderr, and keep it for the session's record."""
        print(message, file=sys.stderr)
        self.repairs.append(message)

    def clean_temporaries(self) -> None:
        """Remove what dead writers left half-written; another live process's temporary
        files (a worker of a killed batch still finishing its chunk) are left alone."""
        for p in [*self.parts.glob(".*"), *self.out.glob(".*.tmp-*")]:
            m = _TEMPORARY.search(p.name)
            if m and int(m.group(1)) != os.getpid() and pid_alive(int(m.group(1))):
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    # ---- chunks -------------------------------------------------------------------------

    def done_chunks(self) -> set[int]:
        """The ids of the finished chunks."""
        return {int(PART.fullmatch(p.name).group(1)) for p in part_dirs(self.parts)}

    def write_chunk(self, result: ChunkResult) -> bool:
        """Write a finished chunk atomically; False if it was already there (a duplicate)."""
        return write_part(self.parts, result)

    # ---- finishing ----------------------------------------------------------------------

    def finish(self, extra: dict) -> dict:
        """Refresh design.parquet's status column (and its checksum) and the manifest's
        counts."""
        design = self.runs.drop(columns=["status", "error"], errors="ignore")
        code = np.zeros(len(design), dtype=np.int8)  # 0 pending, 1 ok, 2 failed
        error = np.full(len(design), None, dtype=object)
        scan = scan_parts(self.out, self.runs, self.manifest, hash_all=False)
        for cid, _, damage in scan.damaged:  # damaged while this batch ran
            print(f"chunk {cid}: {damage}; rerun the batch to repair it", file=sys.stderr)
        tables = [p.tables[RUNS].select(["run_id", "status", "error"]) for p in scan.sound.values()]
        if tables:
            t = pa.concat_tables(tables, promote_options="permissive")
            pos = t["run_id"].to_numpy() - first_run_id(self.manifest)  # rows of the design
            ok = t["status"].to_numpy(zero_copy_only=False) == "ok"
            code[pos] = np.where(ok, 1, 2)
            bad = np.flatnonzero(~ok)
            if len(bad):
                error[pos[bad]] = t["error"].take(bad).to_pylist()
        design["status"] = pd.Categorical.from_codes(code, categories=["pending", "ok", "failed"])
        design["error"] = error
        self._replace_design(design)
        counts = dict(zip(["pending", "ok", "failed"], np.bincount(code, minlength=3), strict=True))
        self.manifest["status"] = {k: int(counts.get(k, 0)) for k in ("ok", "failed", "pending")}
        self.manifest["updated"] = utc_now()
        self.manifest.setdefault("sessions", []).append(extra)
        write_manifest(self.out, self.manifest)
        return self.manifest["status"]

    def _replace_design(self, design: pd.DataFrame) -> None:
        """Write design.parquet anew. The manifest first accepts both checksums, the old
        and the new, so that a crash between the two files leaves a store that verifies."""
        data = design_bytes(design)
        ledger = self.manifest["ledger"]
        ledger["design"] = design_entry(data, len(design), previous=ledger["design"]["sha256"])
        write_manifest(self.out, self.manifest)
        with atomic_file(self.out / DESIGN) as tmp:
            tmp.write_bytes(data)
        ledger["design"] = design_entry(data, len(design))
        release_arrow_memory()
        self.runs = design


def remove_part(path: Path) -> None:
    """Remove a part: renamed to a temporary name first, so that a crash halfway leaves
    no half part under a chunk's name (the next resume removes the rest)."""
    tmp = temporary_path(path)
    try:
        os.rename(path, tmp)
    except FileNotFoundError:
        return
    shutil.rmtree(tmp, ignore_errors=True)


def parquet_file(path: Path, df: pd.DataFrame) -> dict:
    """Write ``df`` as the Parquet file ``path``; its ledger line (checksummed from the
    very bytes written)."""
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=COMPRESSION, use_dictionary=dictionary_columns(table))
    data = buf.getbuffer()
    path.write_bytes(data)
    return file_entry(data, len(df))


def write_part(parts: Path, result: ChunkResult) -> bool:
    """Write a chunk's part and its ledger under a temporary name in ``parts`` and rename
    it into place; False if the chunk was already there (a rerun whose first try had
    finished)."""
    final = parts / part_name(result.chunk)
    if final.exists():
        return False
    tmp = temporary_path(final)
    tmp.mkdir()
    try:
        runs = result.runs.astype({"status": "string", "error": "string", "wall_s": float})
        files = {RUNS: parquet_file(tmp / RUNS, runs)}
        for name in ("indices", "ties", "shocks"):
            df = getattr(result, name)
            if df is not None and len(df):
                files[f"{name}.parquet"] = parquet_file(tmp / f"{name}.parquet", df)
        write_ledger(tmp, result.chunk, len(runs), files)
        os.rename(tmp, final)
        release_arrow_memory()
    except FileExistsError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in (39, 66):  # ENOTEMPTY: another writer finished it first
            return False
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


@dataclass
class Stored:
    """What a worker that wrote its chunk itself sends back: only the counts."""

    chunk: int
    runs: int
    failed: int


def run_and_store(chunk, parts: Path) -> Stored:
    """Run a chunk and write its part from the worker (local processes, and Dask workers
    once :meth:`~sim.batch.executors.Backend.share_store` has seen them share the store),
    so that only a few numbers travel back to the batch process."""
    from sim.batch.runner import run_chunk

    result = run_chunk(chunk)
    write_part(parts, result)
    return Stored(chunk.chunk, len(result.runs), int((result.runs["status"] != "ok").sum()))


def new_manifest(
    experiment: Experiment, n_runs: int, n_chunks: int, chunk_size: int, shard: dict | None = None
) -> dict:
    """The manifest of a new batch: the experiment, its arms and design, the chunking,
    the shard's record (:mod:`sim.batch.shards`; none unsharded) and the common stamp
    (:func:`sim.outputs.manifest.stamped`), with every run pending."""
    fields = {
        "format": FORMAT,
        "experiment": {
            "name": experiment.name,
            "path": str(experiment.path) if experiment.path else None,
            "content_hash": experiment.content_hash,
            "document": experiment.content,
        },
        "arms": {
            a.name: {
                "scenario": str(a.scenario.path) if a.scenario.path else None,
                "scenario_name": a.scenario.name,
                "content_hash": a.scenario.content_hash,
                "shocks_off": list(a.shocks_off),
            }
            for a in experiment.arms
        },
        "states": experiment.arms[0].scenario.state_ids,
        "design": {
            "kind": experiment.spec.design.kind,
            "parameters": list(experiment.spec.design.parameters),
            "complement": experiment.spec.design.complement,
            "samples": experiment.spec.design.samples,
            "second_order": experiment.spec.design.second_order,
        },
        "replicates": experiment.spec.replicates,
        "root_seed": experiment.spec.seed,
        "seeds": experiment.spec.seeds,
        "keep": experiment.spec.keep,
        "dates": [d.isoformat() for d in experiment.dates] if experiment.dates else None,
        "design_table": "design.parquet (one row per run: ids, seeds, parameters, status)",
        "parts": "parts/chunk-NNNNNN/ (one directory per finished chunk, with its ledger)",
        "runs": n_runs,
        "chunks": n_chunks,
        "chunk_size": chunk_size,
        **({"shard": shard} if shard is not None else {}),
    }
    return {**stamped(fields), "status": {"ok": 0, "failed": 0, "pending": n_runs}}
