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
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from sim.errors import UserError

CONNECT_TIMEOUT_S = 10


class InProcess(Executor):
    """An executor that runs each call at submission, in the calling process."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001  handed to the caller via the future
            f.set_exception(exc)
        return f


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

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def executor(self) -> Executor:
        raise NotImplementedError

    def restart(self) -> None:
        raise RuntimeError(f"the {self.name} executor cannot be restarted")

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"


class InProcessBackend(Backend):
    """Every chunk in this process (``--workers 1``)."""

    name = "in-process"

    def __init__(self):
        self._ex = InProcess()

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
        # forkserver: workers start from a clean process (no threads or open files of
        # the parent), and importing the package once in the server makes them cheap
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["sim.batch.runner", "sim.drivers.model"])
        self._ex = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx)

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
            from distributed import Client, LocalCluster
        except ImportError:
            raise UserError(
                "Dask is not installed: it is an optional extra; install it with "
                "pip install 'multivector[dask]' (or dask and distributed)"
            ) from None
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
            self.cluster = LocalCluster(
                n_workers=local_workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=40,  # logging.ERROR: no worker chatter on the terminal
            )
            self.client = Client(self.cluster, set_as_default=False)
            self.address = self.cluster.scheduler_address
            self.workers_write = True  # a LocalCluster shares this machine's file system
        self.workers = len(self.client.scheduler_info(n_workers=-1)["workers"])
        self._ex = self.client.get_executor()

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

    def describe(self) -> str:
        where = "LocalCluster" if self.cluster is not None else "scheduler"
        return f"dask {where} {self.address} ({self.workers} workers)"

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


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
