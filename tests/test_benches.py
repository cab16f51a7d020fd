"""The benchmarks start and print their figures (smallest sizes: a smoke test, not a
timing; the figures themselves are read from the README's Performance section)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_ensemble_bench_runs_and_finds_identical_tables():
    out = _bench("sim.tools.bench", "ensemble", "--runs", "4", "--sizes", "8")
    assert "(b) and (c) made identical tables: True" in out
    assert "ratio_batch_run_over_ensemble=" in out


def test_batch_bench_runs_and_compares_its_tables():
    out = _bench("sim.tools.bench_batch", "--repeats", "1", "--replicates", "4", "--no-dask")
    assert "identical" in out.lower()
