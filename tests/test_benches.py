"""The benchmarks start and print their figures (smallest sizes: a smoke test, not a
timing; the figures themselves are read from the README's Performance section): every
figure as a ``key=value`` line, CPU time beside wall time, the machine's load."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT / "tests",  # not the repository root: default paths must not depend on it
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def keys(out: str) -> dict[str, str]:
    """The ``key=value`` lines a bench printed."""
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line and " " not in line)


MACHINE = {"cores", "cores_usable", "load_start", "load_end"}


def test_ensemble_bench_prints_cpu_and_wall_and_finds_identical_tables():
    out = _bench("sim.tools.bench", "ensemble", "--runs", "4", "--sizes", "8", "--repeats", "2")
    assert "(b) and (c) made identical tables: True" in out
    assert out.count("(a) mesa.batch_run") == 3  # two repeats as they come, then the median
    found = keys(out)
    assert float(found["ensemble_4_first_cpu_s"]) > 0
    per_path = {f"{p}_{m}" for p in ("batch_run", "loop", "ensemble_4", "ensemble_8")
                for m in ("wall_s", "cpu_s", "peak_rss_mb")}  # fmt: skip
    ratios = {"ratio_batch_run_over_ensemble", "ratio_batch_run_over_ensemble_wall"}
    assert MACHINE | per_path | ratios | {"ratio_loop_over_ensemble"} <= set(found)
    assert all(float(found[k]) > 0 for k in per_path | ratios)


def test_batch_bench_prints_every_process_s_cpu_and_the_overheads():
    dask = importlib.util.find_spec("distributed") is not None
    out = _bench("sim.tools.bench_batch", "--repeats", "1", "--replicates", "4")
    found = keys(out)
    executors = ["local_processes"] + (["dask_local_cluster"] if dask else [])
    pools = ["plain_split", "split_written", *executors]  # the plain loop split too
    timed = ["in_process", *pools]
    expected = MACHINE | {"plain_cpu_s", "plain_wall_s", "tables_identical"}
    expected |= {"plain_written_cpu_s", "overhead_plain_written_pct"}  # storing, alone
    expected |= {f"overhead_{e}_pct" for e in timed}
    expected |= {f"overhead_{e}_vs_plain_split_pct" for e in executors}
    stored = ["in_process", *executors]
    expected |= {f"overhead_{e}_vs_stored{p}_pct" for e in stored for p in ("", "_paired")}
    expected |= {f"overhead_{e}_vs_stored_paired_range_pct" for e in stored}
    expected |= {f"{e}_{m}" for e in timed for m in ("cpu_s", "wall_s", "cpu_batch_process_s")}
    expected |= {f"{p}_{m}" for p in pools for m in ("cpu_per_process_s", "start_cpu_s")}
    assert expected <= set(found) and found["tables_identical"] == "yes"
    for pool in pools:  # the workers' CPU is counted: one figure per busy worker at most
        per_process = [float(x) for x in found[f"{pool}_cpu_per_process_s"].split(",") if x]
        assert 1 <= len(per_process) and all(x > 0 for x in per_process)
        assert float(found[f"{pool}_cpu_s"]) >= sum(per_process)
    for e in stored:  # one repeat: the paired overhead is the overhead of the medians
        low, high = (float(x) for x in found[f"overhead_{e}_vs_stored_paired_range_pct"].split(","))
        paired = float(found[f"overhead_{e}_vs_stored_paired_pct"])
        assert low == paired == high == float(found[f"overhead_{e}_vs_stored_pct"])


def test_dask_idle_bench_prints_both_settings():
    pytest.importorskip("distributed")
    found = keys(_bench("sim.tools.bench_batch", "--dask-idle", "0.5"))
    assert MACHINE | {"dask_idle_default_cpu_s_per_s", "dask_idle_batch_cpu_s_per_s"} <= set(found)
    # half a second can fall under the clock's 10 ms tick: the figures, not their size
    assert all(float(found[f"dask_idle_{k}_cpu_s_per_s"]) >= 0 for k in ("default", "batch"))


def test_threads_bench_prints_each_setting_on_all_cores_and_one():
    out = _bench("sim.tools.bench", "threads", "--states", "12", "--runs", "2", "--repeats", "1")
    found = keys(out)
    expected = {
        f"ms_per_run_{m}_threads_{t}_{place}"
        for m in ("wall", "cpu") for t in (1, 2) for place in ("all_cores", "one_core")
    }  # fmt: skip
    assert MACHINE | expected <= set(found)
    assert all(float(found[k]) > 0 for k in expected)


def test_kernel_bench_prints_both_kernels_and_the_floor():
    out = _bench("sim.tools.bench", "kernel", "--replicates", "4", "--repeats", "1")
    found = keys(out)
    figures = {
        "kernel_ns_per_tie", "numpy_ns_per_tie", "ratio_numpy_over_compiled",
        "limit_ns_per_tie", "ratio_compiled_over_limit", "kernel_ms_per_run",
        "limit_ms_per_run",
    }  # fmt: skip
    assert MACHINE | figures <= set(found)
    assert all(float(found[k]) > 0 for k in figures)
    assert "aim: within 3x of the compiled limit" in out


def test_kernel_bench_on_a_model2_world_times_its_gains():
    out = _bench(
        "sim.tools.bench", "kernel", "--scenario", str(ROOT / "scenarios/model2/baseline.yaml"),
        "--replicates", "4", "--repeats", "1",
    )  # fmt: skip
    found = keys(out)
    figures = {
        "model2_gains_ns_per_tie", "model2_numpy_ns_per_tie", "ratio_numpy_over_compiled",
        "kernel_ms_per_run",
    }  # fmt: skip
    assert MACHINE | figures <= set(found)
    assert all(float(found[k]) > 0 for k in figures)
    assert "limit_ns_per_tie" not in found  # the floor counts Model 1's operations


def test_load_bench_reads_a_batch_whole_and_cut(tmp_path):
    import sim.batch
    from sim.tools.bench_batch import experiment

    sim.batch.run(experiment(2), tmp_path / "b", workers=1, progress=False)
    out = _bench("sim.tools.bench_batch", "--load", str(tmp_path / "b"))
    found = keys(out)
    assert int(found["load_whole_rows"]) == 2 * 2 * 53 * 9  # 2 arms x 2 seeds x 53 records
    assert int(found["load_selected_rows"]) == 2 * 2  # AZ at 2030-12-31, each run
    assert all(float(found[f"load_{k}_peak_mib"]) > 0 for k in ("whole", "selected"))
