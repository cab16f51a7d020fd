"""Threads under control: numpy's BLAS runs on one thread inside the ensemble engine and
inside every batch worker (in process, local processes, Dask), unless
``MULTIVECTOR_BLAS_THREADS`` says otherwise; a bad setting is refused with a message;
the number of threads does not change a single number of the results."""

from __future__ import annotations

import pandas as pd
import pytest
from test_batch import SMALL, write
from threadpoolctl import threadpool_info
from worlds import build, ring_world

import sim.drivers.ensemble
from sim.batch.executors import InProcessBackend, LocalProcesses
from sim.drivers.engine import THREADS_ENV, blas_threads
from sim.drivers.ensemble import run_ensemble
from sim.errors import UserError
from sim.tools.cli import main


def blas_counts(info: list[dict]) -> set[int]:
    """The thread counts threadpoolctl reports for the BLAS libraries loaded."""
    return {lib["num_threads"] for lib in info if lib["user_api"] == "blas"}


def _dask_backend():
    pytest.importorskip("distributed")
    from sim.batch.executors import Dask

    return Dask(local_workers=1)


BACKENDS = {
    "in-process": InProcessBackend,
    "local processes": lambda: LocalProcesses(2),
    "dask": _dask_backend,
}


@pytest.mark.parametrize("setting", [None, "3"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_worker_runs_with_the_blas_threads_set(monkeypatch, backend, setting):
    if setting is None:
        monkeypatch.delenv(THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(THREADS_ENV, setting)
    caller = blas_counts(threadpool_info())
    with BACKENDS[backend]() as b:
        inside = blas_counts(b.executor.submit(threadpool_info).result())
    assert inside == {int(setting or 1)}
    assert blas_counts(threadpool_info()) == caller  # this process keeps its own setting


def test_the_engine_runs_on_the_threads_set_and_the_caller_keeps_its_own(monkeypatch):
    seen = []
    simulate = sim.drivers.ensemble.simulate

    def watched(*args):
        seen.append(blas_counts(threadpool_info()))
        return simulate(*args)

    monkeypatch.setattr(sim.drivers.ensemble, "simulate", watched)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    caller = blas_counts(threadpool_info())
    run_ensemble(build(ring_world(4)), 3)
    monkeypatch.setenv(THREADS_ENV, "2")
    run_ensemble(build(ring_world(4)), 3)
    assert seen == [{1}, {2}]
    assert blas_counts(threadpool_info()) == caller


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", "1e3"])
def test_a_bad_setting_is_refused_with_a_message(monkeypatch, tmp_path, capsys, bad):
    monkeypatch.setenv(THREADS_ENV, bad)
    with pytest.raises(UserError, match=f"{THREADS_ENV}='{bad}': expected a whole number"):
        blas_threads()
    code = main(["batch", str(write(tmp_path, SMALL)), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and THREADS_ENV in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything started


@pytest.mark.parametrize("unset", [None, "", " "])
def test_unset_or_empty_means_one_thread(monkeypatch, unset):
    if unset is None:
        monkeypatch.delenv(THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(THREADS_ENV, unset)
    assert blas_threads() == 1


def test_one_or_two_threads_give_identical_tables(monkeypatch):
    scenario = build(ring_world(80))  # from about 80 states on, OpenBLAS uses its second thread
    tables = {}
    for threads in ("1", "2"):
        monkeypatch.setenv(THREADS_ENV, threads)
        res = run_ensemble(scenario, 4, keep="ties")
        tables[threads] = (res.indices, res.ties, res.shocks)
    for one, two in zip(tables["1"], tables["2"], strict=True):
        pd.testing.assert_frame_equal(one, two, check_exact=True)
