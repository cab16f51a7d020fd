"""Running a batch: plan the runs, cut them into chunks, feed an executor, store the parts.

``run(experiment, out)`` is what ``multivector batch`` calls; ``run(..., shard=(K, M))``
runs only the K-th of M slices of the runs, into ``out/shard-K-of-M/`` (a store of its
own, with every guarantee below: :mod:`sim.batch.shards`). It holds the store's lock
for as long as it runs (a second batch on the same ``out`` is refused, naming the
holder), resumes an interrupted batch in the same ``out`` (the finished chunks are
checked against their ledgers, kept and skipped; damaged ones are rerun), keeps a
bounded number of chunks in flight (so memory does not grow with the batch), records a
failing run as data, and reruns the chunks of a worker that died.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.batch.design import check_size, overrides_of, run_table
from sim.batch.executors import CONNECT_TIMEOUT_S, Backend, backend_for
from sim.batch.experiment import Experiment, load_experiment
from sim.batch.ledger import describe_shard
from sim.batch.lock import StoreLock
from sim.batch.runner import Chunk, ChunkResult, empty_indices, empty_shocks, run_chunk
from sim.batch.shards import Shard, check_shard_out, check_siblings, refuse_shards
from sim.batch.store import (
    EXECUTOR_FAILURE,
    Store,
    Stored,
    check_batch_out,
    make_way,
    new_manifest,
    run_and_store,
    settle_replaced,
)
from sim.outputs.files import MANIFEST, check_out_dir, make_parents, out_target
from sim.outputs.kinds import BATCH
from sim.outputs.manifest import utc_now, versions

#: Target wall time of one chunk: long enough that scheduling costs little (Dask spends
#: 2-4 ms per task), short enough to spread work and lose little on a crash.
TARGET_CHUNK_S = 1.0
MAX_ATTEMPTS = 3


@dataclass
class Summary:
    """What a batch session did: the run counts, the time it took, the commonest errors."""

    out: Path
    runs: int
    ok: int
    failed: int
    pending: int
    resumed_runs: int  # finished before this session
    ran: int  # run in this session
    wall_s: float
    backend: str
    chunks: int
    chunk_size: int
    reruns: int  # chunks rerun after a worker died
    errors: list[tuple[str, int]] = field(default_factory=list)  # the commonest, with counts
    repaired: list[str] = field(default_factory=list)  # damaged parts found and rerun
    shard: dict | None = None  # the shard's record (None: the whole batch)

    @property
    def rate(self) -> float:
        """Runs per second in this session."""
        return self.ran / self.wall_s if self.wall_s > 0 else float("nan")

    def text(self) -> str:
        """The summary ``multivector batch`` prints."""
        lines = [
            f"batch {self.out}: {self.runs} runs in {self.chunks} chunks of up to "
            f"{self.chunk_size} ({self.backend})"
            + (f"; {describe_shard(self.shard)}" if self.shard else ""),
            f"  this session: {self.ran} runs in {self.wall_s:.1f} s ({self.rate:.1f} runs/s)"
            + (f"; {self.resumed_runs} were already done" if self.resumed_runs else ""),
            f"  ok {self.ok}, failed {self.failed}, pending {self.pending}"
            + (
                f"; {self.reruns} time(s) chunks were rerun after a worker failed"
                if self.reruns
                else ""
            ),
        ]
        if self.repaired:
            lines.append(
                f"  repaired: {len(self.repaired)} damaged or missing part(s) found on "
                "resuming and run again (listed on stderr and in the manifest's sessions)"
            )
        if self.failed:
            lines.append(
                f"  {self.failed} run(s) failed: their arm, seed, design point, error and how "
                f"to rerun each are in sim.batch.load({str(self.out)!r}).failed(); "
                f"the commonest error{'s' if len(self.errors) > 1 else ''}:"
            )
            for text, count in self.errors:
                first = text.strip().splitlines()
                more = "\n      ".join(first[1:4])
                lines.append(f"    {count} x {first[0]}" + (f"\n      {more}" if more else ""))
        return "\n".join(lines)


def plan(experiment: Experiment, chunk_size: int, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The run table with a ``chunk`` column: runs of one arm, ``chunk_size`` at a time."""
    runs = run_table(experiment) if runs is None else runs
    chunk = np.empty(len(runs), dtype=np.int64)
    next_id = 0
    codes = runs["arm"].cat.codes.to_numpy()
    for k in range(len(experiment.arms)):
        at = np.flatnonzero(codes == k)
        chunk[at] = next_id + np.arange(len(at)) // chunk_size
        next_id += math.ceil(len(at) / chunk_size)
    runs["chunk"] = chunk
    return runs


def auto_chunk_size(
    experiment: Experiment, n_runs: int, workers: int, runs: pd.DataFrame | None = None
) -> int:
    """Runs per chunk for about :data:`TARGET_CHUNK_S` of work (twice that in one
    process), at most enough to give every worker three chunks. Timed here on chunks of
    2 and 18 runs of the first arm (the engine has a fixed cost per chunk and a cost per
    run)."""
    runs = run_table(experiment) if runs is None else runs
    first = runs.iloc[:18]
    first = first[first["arm"] == runs["arm"].iloc[0]]
    small, big = (_chunks(experiment, first.iloc[:k].assign(chunk=0))[0] for k in (2, 18))
    run_chunk(small)  # warm up (imports, compiled world)
    t0 = time.perf_counter()
    run_chunk(small)
    t1 = time.perf_counter()
    run_chunk(big)
    t2 = time.perf_counter()
    n_small, n_big = len(small.run_ids), len(big.run_ids)
    if n_big > n_small:
        per_run = max((t2 - t1 - (t1 - t0)) / (n_big - n_small), (t2 - t1) / n_big / 20, 1e-6)
        fixed = max(t1 - t0 - n_small * per_run, 0.0)
    else:
        per_run, fixed = max((t1 - t0) / n_small, 1e-6), 0.0
    # in one process nothing is spread, so chunks twice as long halve the fixed costs
    target = TARGET_CHUNK_S if workers > 1 else 2 * TARGET_CHUNK_S
    size = max(1, round((target - min(fixed, target / 2)) / per_run))
    spread = math.ceil(n_runs / (3 * workers)) if workers > 1 else n_runs
    return int(max(1, min(size, spread, 20_000)))


def _chunks(experiment: Experiment, runs: pd.DataFrame, only=None) -> list[Chunk]:
    lazy = _LazyChunks(experiment, runs)
    return [lazy[c] for c in sorted(lazy.rows) if only is None or c in only]


class _LazyChunks:
    """The chunks of a run table, built when asked for (a batch of 100,000 runs does
    not hold 100,000 runs' overrides at once)."""

    def __init__(self, experiment: Experiment, runs: pd.DataFrame):
        self.experiment, self.runs = experiment, runs
        self.rows = runs.groupby("chunk", sort=True).indices  # chunk id -> row positions
        self.arms = {a.name: a for a in experiment.arms}
        self.origin = str(experiment.path) if experiment.path else "experiment"
        self.line = experiment.line_of("design", "parameters")[1]

    def size(self, cid: int) -> int:
        return len(self.rows[cid])

    def __getitem__(self, cid: int) -> Chunk:
        df = self.runs.iloc[self.rows[cid]]
        arm = self.arms[str(df["arm"].iloc[0])]
        return Chunk(
            chunk=int(cid),
            arm=arm.name,
            scenario=arm.scenario,
            shocks_off=arm.shocks_off,
            run_ids=df["run_id"].astype(int).tolist(),
            seeds=df["seed"].astype(int).tolist(),
            overrides=overrides_of(df, self.experiment),
            points=df["point"].astype(int).tolist(),
            keep=self.experiment.spec.keep,
            dates=self.experiment.dates,
            origin=self.origin,
            line=self.line,
        )


def run(
    experiment: Experiment | str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    scheduler_timeout: float = CONNECT_TIMEOUT_S,
    backend: Backend | None = None,
    on_chunk=None,
    force: bool = False,
    shard: tuple[int, int] | Shard | None = None,
) -> Summary:
    """Run (or resume) a batch into ``out``.

    Args:
        experiment: an :class:`Experiment` or the path of an experiment file.
        out: the batch directory (created; an earlier batch of the same experiment
            there is resumed; another experiment's is refused).
        workers: local worker processes (default: all cores; 1 runs in this process).
        scheduler: a Dask scheduler address (``tcp://HOST:PORT``).
        dask_local: start a Dask LocalCluster with this many workers.
        scheduler_timeout: seconds to wait for the scheduler before giving up.
        chunk_size: runs per chunk (default: about 1 s of work, timed here). A
            resumed batch keeps the chunking it started with.
        progress: show progress on stderr (default: yes); a bar on a terminal, plain
            lines otherwise.
        backend: an already open :class:`~sim.batch.executors.Backend` (overrides the
            three options above; the caller closes it).
        on_chunk: called with (chunk_id, backend) after each chunk is stored (tests).
        force: replace what ``out`` holds when it is not a batch of this experiment (a
            batch of this experiment is still resumed); it is set aside until the new
            store exists, and put back if the batch fails before that. With ``shard``,
            only the shard's own folder is ever replaced.
        shard: ``(K, M)``: run the K-th of M contiguous slices of the experiment's runs
            into the store ``out/shard-K-of-M/`` (resumed there like any store), so that
            M machines can share a batch; ``sim.batch.load(out)`` reads the union.
    """
    t_start = time.perf_counter()
    shard = None if shard is None else Shard.of(shard)
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    inputs = [experiment.path] if experiment.path is not None else []
    store_out = check_out(out, shard, force=force, inputs=inputs)
    n_runs = check_size(experiment)  # before any worker starts or any table is built
    if shard is not None:
        shard.check_size(n_runs, str(experiment.path or experiment.name))
        check_siblings(out, shard, experiment, force)
        os.makedirs(out_target(out), exist_ok=True)  # shards started together all make it
    out = store_out
    make_parents(out_target(out))  # --out may name new folders (the lock sits beside it)
    aside = make_way(Path(out), experiment, force)
    try:
        out = check_batch_out(out)
        with StoreLock(out):  # released when this process ends, however it ends
            own_backend = backend is None
            if own_backend:
                backend = backend_for(workers, scheduler, dask_local, scheduler_timeout)
            try:
                request = _Request(experiment, shard, chunk_size, progress, on_chunk)
                return _run(request, out, backend, t_start)
            finally:
                if own_backend:
                    backend.close()
    finally:
        if aside is not None:
            settle_replaced(aside, Path(out))


def check_out(
    out: str | Path, shard: Shard | None = None, *, force: bool = False, inputs=()
) -> Path:
    """Check ``--out`` before any work (:func:`sim.outputs.files.check_out_dir`): an
    unsharded batch's directory (never one of shards), or a shard's folder in it
    (:func:`sim.batch.shards.check_shard_out`). Returns the store's directory.

    Raises:
        UserError: it must not be written (the message says why).
    """
    if shard is None:
        refuse_shards(out)
        return check_out_dir(out, BATCH, force=force, inputs=inputs)
    store = check_shard_out(out, shard)
    return check_out_dir(store, BATCH, force=force, inputs=inputs)


@dataclass
class _Request:
    """What a batch session is asked to do: the experiment, the shard, the chunking, the
    progress shown and the hook called after each chunk."""

    experiment: Experiment
    shard: Shard | None
    chunk_size: int | None
    progress: bool | None
    on_chunk: object

    def shard_record(self) -> dict | None:
        """The manifest's shard record (``None`` for a whole batch)."""
        if self.shard is None:
            return None
        return self.shard.record(check_size(self.experiment))

    def new_store(self, backend: Backend) -> tuple[pd.DataFrame, dict]:
        """The runs (with their chunks) and the manifest of a new store."""
        record = self.shard_record()
        ids = None if self.shard is None else self.shard.run_ids(record["experiment_runs"])
        runs = run_table(self.experiment, ids)
        chunk_size = self.chunk_size
        if chunk_size is None:
            if hasattr(backend, "warm_up"):
                backend.warm_up(wait=False)  # the workers start while the probe runs here
            chunk_size = auto_chunk_size(self.experiment, len(runs), backend.workers, runs)
        runs = plan(self.experiment, chunk_size, runs)
        n_chunks = int(runs["chunk"].max()) + 1
        return runs, new_manifest(self.experiment, len(runs), n_chunks, chunk_size, record)


def _run(request: _Request, out: Path, backend: Backend, t_start: float) -> Summary:
    from sim.batch.progress import Progress

    experiment = request.experiment
    runs = manifest = None
    if not (out / MANIFEST).is_file():  # a resumed batch keeps the chunking it started with
        runs, manifest = request.new_store(backend)
    store, resumed = Store.open(out, experiment, runs, manifest, request.shard_record())
    runs = store.runs
    if resumed:
        _warn_if_code_changed(store.manifest)
    chunk_size = int(store.manifest["chunk_size"])
    done = store.done_chunks()
    all_chunks = sorted(runs["chunk"].unique().tolist())
    pending = [c for c in all_chunks if c not in done]
    sizes = runs.groupby("chunk").size().to_dict()
    already = int(sum(sizes[c] for c in done))
    started = utc_now()

    bar = Progress(len(runs), initial=already, enabled=request.progress)
    reruns = 0
    try:
        reruns = _execute(experiment, runs, pending, store, backend, bar, request.on_chunk)
    except KeyboardInterrupt:
        bar.write(
            f"interrupted: the finished chunks are kept in {out}; rerun the same command to resume"
        )
        raise
    finally:
        bar.close()
        session = {
            "started": started,
            "backend": backend.describe(),
            "runs_before": already,
            "wall_s": round(time.perf_counter() - t_start, 3),
            "reruns": reruns,
            "repaired": store.repairs,
            "command": sys.argv,
        }
        counts = store.finish(session)
    return Summary(
        out=out,
        runs=len(runs),
        ok=counts["ok"],
        failed=counts["failed"],
        pending=counts["pending"],
        resumed_runs=already,
        ran=len(runs) - already - counts["pending"],
        wall_s=time.perf_counter() - t_start,
        backend=backend.describe(),
        chunks=len(all_chunks),
        chunk_size=chunk_size,
        reruns=reruns,
        errors=[
            (str(k), int(v)) for k, v in store.runs["error"].dropna().value_counts().head(3).items()
        ],
        repaired=store.repairs,
        shard=store.manifest.get("shard"),
    )


def _execute(experiment, runs, todo, store: Store, backend: Backend, bar, on_chunk) -> int:
    """Feed the chunks to the executor, a bounded number in flight; returns reruns."""
    chunks = _LazyChunks(experiment, runs)
    parts = backend.share_store(store.parts)  # Dask: checks that its workers see the store
    backend.check_workers()  # local processes: they start (not killed by an unguarded script)
    queue = list(todo)
    queue.reverse()  # pop() from the end: chunks go out in order
    window = max(2, 2 * backend.workers)
    inflight: dict = {}  # future -> chunk id
    attempts: dict[int, int] = {}
    writer = _Writer(store, bar, on_chunk, backend)

    def submit(cid: int) -> None:
        if backend.workers_write:
            fut = backend.executor.submit(run_and_store, chunks[cid], parts)
        else:
            fut = backend.executor.submit(run_chunk, chunks[cid])
        inflight[fut] = cid

    try:
        reruns = _loop(queue, inflight, window, submit, chunks, attempts, writer, backend, bar)
        writer.drain()
    finally:
        writer.close()
    return reruns


def _loop(queue, inflight, window, submit, chunks, attempts, writer, backend, bar) -> int:
    reruns = 0

    while queue or inflight:
        broken = False
        while queue and len(inflight) < window:
            cid = queue.pop()
            try:
                submit(cid)
            except BrokenProcessPool:  # a worker died since the last submission
                queue.append(cid)
                broken = True
                break
        finished = set() if broken else wait(list(inflight), return_when=FIRST_COMPLETED)[0]
        for fut in finished:
            cid = inflight.pop(fut)
            try:
                result: ChunkResult | Stored = fut.result()
            except BrokenProcessPool:
                broken = True
                attempts[cid] = attempts.get(cid, 0) + 1
                queue.append(cid)
                continue
            except Exception as exc:  # noqa: BLE001  the worker, not the run, failed
                attempts[cid] = attempts.get(cid, 0) + 1
                if attempts[cid] >= MAX_ATTEMPTS:
                    result = _chunk_failed(chunks[cid], exc, attempts[cid])
                else:
                    reruns += 1
                    queue.append(cid)
                    continue
            writer.put(result, chunks.size(cid))
        if broken:
            # the pool is unusable: every chunk in flight is lost with it; start a new
            # pool and send them again (a chunk that keeps killing workers is failed)
            for cid in list(inflight.values()):
                attempts[cid] = attempts.get(cid, 0) + 1
                queue.append(cid)
            inflight.clear()
            backend.restart() if backend.restartable else None
            bar.write("a worker process died; restarted the pool and rerunning its chunks")
            for cid in sorted({c for c in queue if attempts.get(c, 0) >= MAX_ATTEMPTS}):
                queue.remove(cid)
                writer.put(_chunk_failed(chunks[cid], "the worker process died", 3), 0)
                bar.update(chunks.size(cid))
            reruns += 1
            queue.sort(reverse=True)
    return reruns


def _warn_if_code_changed(manifest: dict) -> None:
    """A resumed batch whose code or packages changed may mix results of two versions
    (the same seeds, last-digit differences at most if the model is unchanged): say so."""
    then, now = manifest.get("versions", {}), versions()
    changed = [
        f"{k} {then.get(k)} -> {now.get(k)}"
        for k in sorted(set(then) | set(now))
        if k != "platform" and then.get(k) != now.get(k)
    ]
    if changed:
        print(
            "warning: resuming a batch started with other code or packages ("
            + "; ".join(changed)
            + "); the finished chunks keep their results",
            file=sys.stderr,
        )


class _Writer:
    """Stores finished chunks on one background thread, so that writing a chunk's Parquet
    files (which releases the GIL) overlaps the next chunk's work even in process; at
    most ``limit`` finished chunks wait in memory. A write error is raised in the
    caller at the next ``put`` or at ``drain``."""

    def __init__(self, store: Store, bar, on_chunk, backend: Backend, limit: int = 2):
        self.store, self.bar, self.on_chunk, self.backend = store, bar, on_chunk, backend
        self.limit = limit
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batch-writer")
        self.pending: deque = deque()

    def put(self, result: ChunkResult | Stored, n_runs: int) -> None:
        while len(self.pending) >= self.limit:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(self._write, result, n_runs))

    def _write(self, result: ChunkResult | Stored, n_runs: int) -> None:
        if isinstance(result, ChunkResult):  # else the worker wrote it
            self.store.write_chunk(result)
        if n_runs:
            self.bar.update(n_runs)
        if self.on_chunk is not None:
            self.on_chunk(result.chunk, self.backend)

    def drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        for f in self.pending:  # interrupted: finished results are still worth keeping
            f.exception()
        self.pool.shutdown(wait=True)


def _chunk_failed(chunk: Chunk, exc, attempts: int) -> ChunkResult:
    """A chunk that failed on the executor ``attempts`` times, as failed runs."""
    why = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    runs = pd.DataFrame(
        {
            "run_id": chunk.run_ids,
            "status": "failed",
            "error": f"{EXECUTOR_FAILURE} {attempts} times on the executor: {why} "
            "(rerun the batch to try it again)",
            "wall_s": np.nan,
        }
    )
    return ChunkResult(chunk.chunk, runs, empty_indices(), None, empty_shocks())
