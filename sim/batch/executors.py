"""Executors: where the chunks run. The batch layer only sees
:class:`concurrent.futures.Executor`.

- :class:`InProcess` (``--workers 1``): runs each chunk as it is submitted, in this
  process (simplest to debug; no pickling).
- :class:`LocalProcesses` (the default): a :class:`~concurrent.futures.ProcessPoolExecutor`
  with one worker per core. A worker that dies breaks the pool; the batch starts a new
  pool and reruns the chunks that were in flight.
- :class:`Dask` (``--scheduler tcp://HOST:PORT`` or ``--dask-local N``): the executor of a
  ``distributed.Client`` (``Client.get_executor()``). Dask is an optional extra
  (``pip install 'multivector[dask]'``); Dask itself reruns the tasks of a worker that
  dies.

Workers write their chunks' Parquet parts into the store themselves and send back only
a :class:`~sim.batch.store.Stored` (a few numbers), so the batch process writes only the
bookkeeping. Local processes and a LocalCluster share this machine's file system; the
workers of a remote Dask scheduler must see the store at the same path (a shared file
system), which :meth:`Dask.share_store` checks before the first chunk goes out.

Every worker runs with numpy's BLAS (and OpenMP) limited to
:func:`~sim.drivers.engine.blas_threads` threads, one unless ``MULTIVECTOR_BLAS_THREADS``
says otherwise (read in the batch process and passed on to its workers: local processes
when they start, Dask workers at each task; a Dask worker keeps the setting after the
batch, and Dask starts its workers with one BLAS thread anyway).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import uuid
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from threadpoolctl import threadpool_limits

from sim.drivers.engine import THREADS_ENV, blas_threads, limited_threads
from sim.errors import UserError
from sim.outputs.files import temporary_path

CONNECT_TIMEOUT_S = 10
#: Dask settings for the LocalCluster a batch starts itself (``--dask-local``). Left at
#: Dask's defaults, its idle processes take 0.13-0.17 CPU-seconds a second between them
#: on this project's 2-core machine (about 0.4 s over the 3 s that a batch of 10,000 runs
#: lasts); with these, 0.015 (``python -m sim.tools.bench_batch --dask-idle``). Each only slows what
#: nobody reads here: the cluster has no dashboard, so the workers' stack sampler
#: (``profile``, every 10 ms) and the system monitor feed nothing; the event-loop tick
#: only measures how late the loop runs (20 ms by default); and the workers look at their
#: memory against their limits once a second, not ten times. A scheduler given with
#: ``--scheduler`` keeps the settings its owner chose.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def pin_worker_threads(threads: int) -> None:
    """Limit this whole worker process to ``threads`` BLAS and OpenMP threads for good,
    and set :data:`~sim.drivers.engine.THREADS_ENV` in its environment so that the
    engine's own limit agrees with the batch process's setting."""
    os.environ[THREADS_ENV] = str(threads)
    threadpool_limits(limits=threads)


def _pinned(threads: int, fn, /, *args, **kwargs):
    """Call ``fn`` on a Dask worker once its threads are pinned (:func:`pin_worker_threads`)."""
    pin_worker_threads(threads)
    return fn(*args, **kwargs)


class InProcess(Executor):
    """An executor that runs each call at submission, in the calling process, with BLAS
    limited to ``threads`` during the call (the caller's own limits come back after)."""

    def __init__(self, threads: int | None = None):
        self.threads = blas_threads() if threads is None else threads

    def submit(self, fn, /, *args, **kwargs) -> Future:
        f: Future = Future()
        try:
            with limited_threads(self.threads):
                f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001  handed to the caller via the future
            f.set_exception(exc)
        return f


class _Pinning(Executor):
    """A Dask client's executor whose tasks first pin their worker's BLAS threads."""

    def __init__(self, inner: Executor, threads: int):
        self.inner, self.threads = inner, threads

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self.inner.submit(_pinned, self.threads, fn, *args, **kwargs)


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Backend:
    """Owns an executor; ``restart()`` replaces a broken one."""

    name = "backend"
    workers = 1
    restartable = False
    #: Workers write their chunks' parts themselves (they share the batch process's
    #: file system); otherwise results travel back and the batch process writes them.
    workers_write = False
    #: BLAS and OpenMP threads in each worker (:func:`~sim.drivers.engine.blas_threads`).
    threads = 1

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def executor(self) -> Executor:
        raise NotImplementedError

    def restart(self) -> None:
        raise RuntimeError(f"the {self.name} executor cannot be restarted")

    def share_store(self, parts: Path) -> Path:
        """The store's folder of parts as the workers are to be given it (absolute: a
        worker's current directory may differ), once the store exists and before any
        chunk goes out. Dask checks here that its workers see it."""
        return Path(os.path.abspath(parts))

    def check_workers(self) -> None:
        """Before any chunk goes out: the workers can start (local processes check)."""

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.sizes()})"

    def sizes(self) -> str:
        """How many workers, and the BLAS threads of each (recorded in the manifest)."""
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        return f"{workers}, {self.threads} BLAS thread{'s' if self.threads != 1 else ''} each"


class InProcessBackend(Backend):
    """Every chunk in this process (``--workers 1``)."""

    name = "in-process"

    def __init__(self):
        self.threads = blas_threads()
        self._ex = InProcess(self.threads)

    @property
    def executor(self) -> Executor:
        return self._ex


class LocalProcesses(Backend):
    """A pool of local worker processes that write their chunks' parts themselves."""

    name = "local processes"
    restartable = True
    workers_write = True

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()
        self.threads = blas_threads()
        # forkserver: workers start from a clean process (no threads or open files of
        # the parent), and importing the package once in the server makes them cheap
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["sim.batch.runner", "sim.drivers.model"])
        self._ex = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._ctx,
            initializer=pin_worker_threads,
            initargs=(self.threads,),
        )

    @property
    def executor(self) -> Executor:
        return self._ex

    def restart(self) -> None:
        self._ex.shutdown(wait=False, cancel_futures=True)
        self._ex = self._new()

    def warm_up(self, wait: bool = True) -> None:
        """Start every worker now (a pool starts its processes at its first tasks); with
        ``wait=False`` they start while this process does something else."""
        futures = [self._ex.submit(os.getpid) for _ in range(2 * self.workers)]
        for f in futures if wait else ():
            f.result()

    def check_workers(self) -> None:
        """Wait for the workers to start. Workers that die as they start (a script that
        starts the batch at its top level, which each worker imports again) would fail
        every chunk three times: refuse at once, saying how to guard the script."""
        try:
            self.warm_up(wait=True)
        except BrokenProcessPool:
            main = sys.modules.get("__main__")
            script = getattr(main, "__file__", None)
            where = f"{script}" if script else "the script that started the batch"
            raise UserError(
                "the worker processes died as they started. Each worker imports "
                f"{where} again (Python's multiprocessing): if it calls sim.batch.run at "
                'its top level, put the call under `if __name__ == "__main__":`, or run '
                "with workers=1. Rerun to resume the batch."
            ) from None

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests that kill one)."""
        return [p.pid for p in (self._ex._processes or {}).values()]

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)


class Dask(Backend):
    """A Dask distributed client: an existing scheduler, or a LocalCluster on 127.0.0.1."""

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        local_workers: int | None = None,
        timeout: float = CONNECT_TIMEOUT_S,
    ):
        try:
            from distributed import Client
        except ImportError:
            raise UserError(
                "Dask is not installed: it is an optional extra; install it with "
                "pip install 'multivector[dask]' (or dask and distributed)"
            ) from None
        self.threads = blas_threads()
        self.cluster = None
        if scheduler is not None:
            try:
                self.client = Client(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise UserError(
                    f"--scheduler {scheduler}: cannot reach the Dask scheduler within "
                    f"{timeout:g} s ({type(exc).__name__}: {exc}); is it running and is "
                    "the address tcp://HOST:PORT?"
                ) from None
            self.address = scheduler
        else:
            self.cluster = local_cluster(local_workers or default_workers())
            self.client = Client(self.cluster, set_as_default=False)
            self.address = self.cluster.scheduler_address
            self.workers_write = True  # a LocalCluster shares this machine's file system
        self.workers = len(self.client.scheduler_info(n_workers=-1)["workers"])
        # pure=False: each chunk a task of its own, its key drawn at random, not hashed from
        # its arguments (which took 60 ms a chunk); a chunk writes files, so it is not pure
        self._ex = _Pinning(self.client.get_executor(pure=False), self.threads)

    @property
    def executor(self) -> Executor:
        return self._ex

    def warm_up(self, wait: bool = True) -> None:
        """Import the batch code on every worker now (a Dask worker imports it at its
        first task otherwise: a second or two of pandas, pyarrow and Mesa)."""
        futures = [
            self.client.submit(_import_runner, w, workers=[w], pure=False)
            for w in self.client.scheduler_info(n_workers=-1)["workers"]
        ]
        self._warming = futures  # held: Dask forgets tasks whose futures are dropped
        if wait:
            self.client.gather(futures)

    def share_store(self, parts: Path) -> Path:
        """Check that every worker sees the store's folder of parts at the same path (a
        file the batch process writes there, with a random token, must read the same on
        each), then let the workers write their parts themselves.

        Raises:
            UserError: a worker cannot see it (the store is not on a file system the
                workers share, at the same path).
        """
        parts = super().share_store(parts)
        token = uuid.uuid4().hex
        probe = temporary_path(parts / "shared-check")
        probe.write_text(token)
        try:
            found = self.client.run(_read_probe, str(probe), on_error="return")
        finally:
            probe.unlink(missing_ok=True)
        blind = {w: why for w, text in found.items() if (why := _unseen(text, token))}
        if blind:
            worker, why = next(iter(blind.items()))
            raise UserError(
                f"--out {parts.parent}: {len(blind)} of the {len(found)} Dask workers cannot "
                f"see the store (worker {worker}: {why}). The workers write their results "
                "into the store themselves, so --out must be on a file system that every "
                "worker shares, at the same path (NFS, Lustre, BeeGFS, ...): put it there"
            )
        self.workers_write = True
        return parts

    def describe(self) -> str:
        where = "LocalCluster" if self.cluster is not None else "scheduler"
        return f"dask {where} {self.address} ({self.sizes()})"

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def local_cluster(workers: int, config: dict | None = None):
    """A Dask LocalCluster on 127.0.0.1: ``workers`` processes of one thread each, no
    dashboard, with the settings ``config`` (default :data:`LOCAL_CLUSTER_CONFIG`)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(LOCAL_CLUSTER_CONFIG if config is None else config):
        return LocalCluster(  # the nannies hand the settings on to the worker processes
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR: no worker chatter on the terminal
        )


def _read_probe(path: str) -> str:
    """What a worker reads in the batch process's probe file (:meth:`Dask.share_store`)."""
    return Path(path).read_text()


def _unseen(found: str | BaseException, token: str) -> str:
    """Why a worker that read ``found`` did not see the store ("" if it did)."""
    if isinstance(found, BaseException):
        return f"{type(found).__name__}: {found}"
    return "" if found == token else "another file is at that path: not this store"


def _import_runner(_worker: str) -> int:
    import sim.batch.runner  # noqa: F401

    return os.getpid()


def backend_for(
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
) -> Backend:
    """The backend the command-line options ask for."""
    if scheduler is not None and dask_local is not None:
        raise UserError("give either --scheduler or --dask-local, not both")
    if (scheduler is not None or dask_local is not None) and workers is not None:
        raise UserError("--workers is for local processes; with Dask the cluster has the workers")
    if scheduler is not None:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise UserError(f"--scheduler {scheduler!r}: expected an address like tcp://HOST:PORT")
        return Dask(scheduler=scheduler, timeout=timeout)
    if dask_local is not None:
        return Dask(local_workers=dask_local)
    if workers == 1:
        return InProcessBackend()
    return LocalProcesses(workers)
