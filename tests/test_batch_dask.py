"""Batches on Dask distributed: a LocalCluster on 127.0.0.1 gives the same tables as the
in-process executor, its workers writing their parts themselves and sending back only a
status; the workers of a scheduler write into a store they share and are refused one
they cannot see; an unreachable scheduler is a clear error, not a hang."""

from __future__ import annotations

import pickle
import time
from concurrent.futures import Executor

import pytest

pytest.importorskip("distributed")

import dask  # noqa: E402
from distributed import LocalCluster  # noqa: E402
from test_batch import SMALL, assert_same, write  # noqa: E402

import sim.batch  # noqa: E402
from sim.batch import executors  # noqa: E402
from sim.batch.executors import Dask  # noqa: E402
from sim.batch.store import Stored  # noqa: E402
from sim.errors import UserError  # noqa: E402
from sim.tools.cli import main  # noqa: E402

#: Where a test cluster serves its HTTP routes: any free port, on this machine only.
LOOPBACK = "127.0.0.1:0"


class Recorder(Executor):
    """An executor that keeps the future of every call it passes on."""

    def __init__(self, inner: Executor):
        self.inner, self.futures = inner, []

    def submit(self, fn, /, *args, **kwargs):
        future = self.inner.submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future


class RecordingDask(Dask):
    """The Dask backend, recording what every chunk sent back to the batch process."""

    @property
    def executor(self) -> Recorder:
        if not hasattr(self, "recorder"):
            self.recorder = Recorder(super().executor)
        return self.recorder

    def sent_back(self) -> list:
        return [f.result() for f in self.recorder.futures]


def assert_only_status_came_back(sent: list, chunks: int) -> None:
    assert len(sent) == chunks and all(isinstance(s, Stored) for s in sent)
    assert max(len(pickle.dumps(s)) for s in sent) < 200  # bytes: no table travelled


def test_dask_local_workers_write_their_parts_and_send_back_only_status(tmp_path):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    sim.batch.run(exp, tmp_path / "inproc", workers=1, progress=False)
    with RecordingDask(local_workers=2) as backend:  # what --dask-local 2 starts
        summary = sim.batch.run(
            exp, tmp_path / "dask", backend=backend, chunk_size=3, progress=False
        )
        sent = backend.sent_back()
        settings = backend.client.run(dask.config.get, "distributed.worker.profile.enabled")
    assert settings and not any(settings.values())  # the workers got the quiet settings
    assert summary.backend.startswith("dask LocalCluster tcp://127.0.0.1:")
    assert summary.ok == 32 and summary.chunks == 12  # two arms of 16 runs, 3 a chunk
    assert_only_status_came_back(sent, 12)
    assert_same(sim.batch.load(tmp_path / "inproc"), sim.batch.load(tmp_path / "dask"))


@pytest.fixture(scope="module")
def scheduler():
    """The address of a Dask scheduler with one worker process (as a remote one is)."""
    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=LOOPBACK,
        silence_logs=40,
    ) as cluster:  # fmt: skip
        yield cluster.scheduler_address


def test_a_scheduler_s_workers_write_into_a_store_they_share(tmp_path, scheduler):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    sim.batch.run(exp, tmp_path / "inproc", workers=1, progress=False)
    with RecordingDask(scheduler=scheduler) as backend:
        assert not backend.workers_write  # not before they are seen to share the store
        summary = sim.batch.run(
            exp, tmp_path / "remote", backend=backend, chunk_size=8, progress=False
        )
        sent = backend.sent_back()
        assert backend.workers_write  # the run saw them share it
    assert not list((tmp_path / "remote" / "parts").glob("*shared-check*"))
    assert summary.ok == 32 and summary.backend.startswith(f"dask scheduler {scheduler}")
    assert_only_status_came_back(sent, 4)
    assert_same(sim.batch.load(tmp_path / "inproc"), sim.batch.load(tmp_path / "remote"))


def _elsewhere(path: str) -> str:
    raise FileNotFoundError(2, "No such file or directory", path)


def _another_store(path: str) -> str:
    return "0123456789abcdef"


@pytest.mark.parametrize(
    "reader, why",
    [(_elsewhere, "FileNotFoundError"), (_another_store, "another file is at that path")],
)
def test_workers_that_cannot_see_the_store_are_refused(tmp_path, monkeypatch, reader, why):
    # a worker on another machine, without the store's file system (or with another
    # store at that path): played by a worker thread of this process reading elsewhere
    monkeypatch.setattr(executors, "_read_probe", reader)
    parts = tmp_path / "out" / "parts"
    parts.mkdir(parents=True)
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=LOOPBACK) as cluster,
        Dask(scheduler=cluster.scheduler_address) as backend,
    ):
        with pytest.raises(UserError) as err:
            backend.share_store(parts)
    msg = str(err.value)
    assert f"--out {parts.parent}: 1 of the 1 Dask workers cannot see the store" in msg
    assert why in msg and "shares, at the same path" in msg
    assert not backend.workers_write and list(parts.iterdir()) == []  # the probe is gone


def test_unreachable_scheduler_is_a_clear_error_not_a_hang(tmp_path, capsys):
    exp = write(tmp_path, SMALL)
    t0 = time.monotonic()
    code = main(
        [
            "batch",
            str(exp),
            "--out",
            str(tmp_path / "out"),
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--scheduler-timeout",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Dask scheduler" in err and "Traceback" not in err
    assert time.monotonic() - t0 < 15
    assert not (tmp_path / "out").exists()
    code = main(["batch", str(exp), "--out", str(tmp_path / "out"), "--scheduler", "localhost"])
    assert code == 2 and "tcp://HOST:PORT" in capsys.readouterr().err
