"""The result store of a batch: a directory that survives crashes and resumes.

Layout of ``OUT/``::

    manifest.json          experiment (name, path, document, content hash), arms, what is
                           kept, chunking, package and dependency versions, git commit,
                           platform, start and end times, the command, the run counts
    design.parquet         one row per run: run_id, arm, point, replicate, seed,
                           seed_entropy, seed_spawn_key, the design parameters, chunk,
                           status (ok / failed / pending), error
    parts/chunk-000012/    one directory per finished chunk: runs.parquet (status, error,
                           wall time per run), indices.parquet, shocks.parquet and, when
                           ties are kept, ties.parquet

A new store is built in a temporary directory beside ``OUT`` and renamed into place; a
chunk's part is written under a temporary name inside ``parts/`` and renamed when
complete. A chunk is finished exactly when its directory exists, so a batch killed at
any moment resumes without losing or duplicating a run. ``design.parquet``'s status
column and the manifest's counts are refreshed when a batch ends; the parts are the
truth in between.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from sim.batch.experiment import Experiment
from sim.batch.runner import ChunkResult
from sim.errors import UserError
from sim.outputs.files import (
    MANIFEST,
    atomic_dir,
    atomic_file,
    check_out_dir,
    temporary_path,
    write_manifest,
)
from sim.outputs.manifest import stamped, utc_now

FORMAT = "multivector-batch/1"
#: Parquet compression of the parts: LZ4 writes random-looking floats fastest here, at
#: about the size of Snappy (pandas' default); every Parquet reader of note reads it.
COMPRESSION = "lz4"
#: How the error of a run starts when its chunk failed on the executor, not in the model.
EXECUTOR_FAILURE = "its chunk failed"
_PART = re.compile(r"chunk-(\d{6,})")


def release_arrow_memory() -> None:
    """Hand the memory Arrow freed back to the system. Arrow's allocator keeps freed
    blocks for reuse, so without this every table once converted for Parquet would stay
    in the process's resident memory (tens of MB at 100,000 runs)."""
    pa.default_memory_pool().release_unused()


def read_manifest(out: Path) -> dict:
    """The manifest of the batch in ``out``.

    Raises:
        UserError: it is missing or not JSON.
    """
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{out}/{MANIFEST}: cannot read the batch manifest ({exc})") from None


def part_dirs(parts: Path) -> list[Path]:
    """The directories of the finished chunks in ``parts`` (``chunk-NNNNNN``), in order."""
    return sorted(p for p in parts.iterdir() if _PART.fullmatch(p.name) and p.is_dir())


@dataclass
class Store:
    """An open batch directory."""

    out: Path
    manifest: dict
    runs: pd.DataFrame  # the design table (run_id order), with `chunk`

    @property
    def parts(self) -> Path:
        """The directory of the finished chunks' parts."""
        return self.out / "parts"

    # ---- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls, out: str | Path, experiment: Experiment, runs: pd.DataFrame, manifest: dict
    ) -> tuple[Store, bool]:
        """Create the store, or reopen it to resume. Returns (store, resumed).

        ``runs`` must already carry the ``chunk`` column (used for a new store only: a
        resumed batch keeps the chunking it started with).
        """
        out = check_out_dir(out, "batch")
        if (out / MANIFEST).is_file():
            old = read_manifest(out)
            if old.get("format") != FORMAT:
                raise UserError(
                    f"--out {out}: holds a {old.get('format', 'single run')!r} output, not a "
                    "batch; name a new directory"
                )
            have = old["experiment"]["content_hash"]
            if have != experiment.content_hash:
                raise UserError(
                    f"--out {out}: holds a batch of a different experiment "
                    f"({old['experiment'].get('name')!r}, {old['experiment'].get('path')}, "
                    f"hash {have[:12]}); this one ({experiment.name!r}, hash "
                    f"{experiment.content_hash[:12]}) differs in the experiment file or in a "
                    "scenario it names. Name a new --out, or delete the old batch to start over"
                )
            design = pd.read_parquet(out / "design.parquet")
            store = cls(out, old, design)
            store._clean_temporaries()
            store.forget_executor_failures()
            return store, True
        with atomic_dir(out, "batch") as tmp:
            (tmp / "parts").mkdir()
            design = runs  # the caller's table, completed in place (no copy)
            design["status"] = "pending"
            design["error"] = pd.Series([None] * len(design), dtype=object)
            design.to_parquet(tmp / "design.parquet", index=False)
            write_manifest(tmp, manifest)
            release_arrow_memory()
        return cls(out, manifest, design), False

    def forget_executor_failures(self) -> int:
        """Drop the parts of chunks that failed on the executor (a worker that kept
        dying, a lost cluster), so a resumed batch runs them again; returns how many.
        Runs that raised on their own stay recorded: they would raise again."""
        dropped = 0
        for p in part_dirs(self.parts):
            runs = pd.read_parquet(p / "runs.parquet", columns=["status", "error"])
            if (runs["status"] == "failed").all() and (
                runs["error"].fillna("").str.startswith(EXECUTOR_FAILURE).all()
            ):
                shutil.rmtree(p)
                dropped += 1
        return dropped

    def _clean_temporaries(self) -> None:
        for p in self.parts.glob(".*"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        for p in self.out.glob(".*.tmp-*"):
            p.unlink(missing_ok=True)

    # ---- chunks -------------------------------------------------------------------------

    def done_chunks(self) -> set[int]:
        """The ids of the finished chunks."""
        return {int(_PART.fullmatch(p.name).group(1)) for p in part_dirs(self.parts)}

    def write_chunk(self, result: ChunkResult) -> bool:
        """Write a finished chunk atomically; False if it was already there (a duplicate)."""
        return write_part(self.parts, result)

    # ---- finishing ----------------------------------------------------------------------

    def finish(self, extra: dict) -> dict:
        """Refresh design.parquet's status column and the manifest's counts."""
        design = self.runs.drop(columns=["status", "error"], errors="ignore")
        code = np.zeros(len(design), dtype=np.int8)  # 0 pending, 1 ok, 2 failed
        error = np.full(len(design), None, dtype=object)
        files = [str(p / "runs.parquet") for p in part_dirs(self.parts)]
        if files:
            t = ds.dataset(files, format="parquet").to_table(columns=["run_id", "status", "error"])
            pos = t["run_id"].to_numpy()  # run_id is the row of the design table
            ok = pc.equal(t["status"], "ok").to_numpy(zero_copy_only=False)
            code[pos] = np.where(ok, 1, 2)
            bad = np.flatnonzero(~ok)
            if len(bad):
                error[pos[bad]] = t["error"].take(bad).to_pylist()
        design["status"] = pd.Categorical.from_codes(code, categories=["pending", "ok", "failed"])
        design["error"] = error
        with atomic_file(self.out / "design.parquet") as tmp:
            design.to_parquet(tmp, index=False)
        release_arrow_memory()
        self.runs = design
        counts = dict(zip(["pending", "ok", "failed"], np.bincount(code, minlength=3), strict=True))
        self.manifest["status"] = {k: int(counts.get(k, 0)) for k in ("ok", "failed", "pending")}
        self.manifest["updated"] = utc_now()
        self.manifest.setdefault("sessions", []).append(extra)
        write_manifest(self.out, self.manifest)
        return self.manifest["status"]


def write_part(parts: Path, result: ChunkResult) -> bool:
    """Write a chunk's part under a temporary name in ``parts`` and rename it into place;
    False if the chunk was already there (a rerun whose first try had finished)."""
    final = parts / f"chunk-{result.chunk:06d}"
    if final.exists():
        return False
    tmp = temporary_path(final)
    tmp.mkdir()
    try:
        runs = result.runs.astype({"status": "string", "error": "string", "wall_s": float})
        runs.to_parquet(tmp / "runs.parquet", index=False, compression=COMPRESSION)
        for name in ("indices", "ties", "shocks"):
            df = getattr(result, name)
            if df is not None and len(df):
                df.to_parquet(tmp / f"{name}.parquet", index=False, compression=COMPRESSION)
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
    """Run a chunk and write its part from the worker (when the worker sees ``parts``:
    local processes), so that only a few numbers travel back to the batch process."""
    from sim.batch.runner import run_chunk

    result = run_chunk(chunk)
    write_part(parts, result)
    return Stored(chunk.chunk, len(result.runs), int((result.runs["status"] != "ok").sum()))


def new_manifest(experiment: Experiment, n_runs: int, n_chunks: int, chunk_size: int) -> dict:
    """The manifest of a new batch: the experiment, its arms and design, the chunking and
    the common stamp (:func:`sim.outputs.manifest.stamped`), with every run pending."""
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
        "parts": "parts/chunk-NNNNNN/ (one directory per finished chunk)",
        "runs": n_runs,
        "chunks": n_chunks,
        "chunk_size": chunk_size,
    }
    return {**stamped(fields), "status": {"ok": 0, "failed": 0, "pending": n_runs}}
