"""Batches on Dask distributed: a LocalCluster on 127.0.0.1 gives the same tables as the
in-process executor; an unreachable scheduler is a clear error, not a hang."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("distributed")

from test_batch import SMALL, assert_same, write  # noqa: E402

import sim.batch  # noqa: E402
from sim.tools.cli import main  # noqa: E402


def test_dask_local_cluster_gives_the_same_tables(tmp_path):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    sim.batch.run(exp, tmp_path / "inproc", workers=1, progress=False)
    summary = sim.batch.run(exp, tmp_path / "dask", dask_local=2, chunk_size=3, progress=False)
    assert summary.backend.startswith("dask LocalCluster tcp://127.0.0.1:")
    assert summary.ok == 32 and summary.chunks == 12  # two arms of 16 runs, 3 a chunk
    assert_same(sim.batch.load(tmp_path / "inproc"), sim.batch.load(tmp_path / "dask"))


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
