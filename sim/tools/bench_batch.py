"""Batch benchmark: ``python -m sim.tools.bench_batch`` (prints its figures).

Runs the same 2,000-run experiment (the gas-deal pair, 1,000 seeds in each arm, indices
only, every step kept) four ways and prints the wall time, runs per second and the
overhead against a plain in-process loop:

- *plain loop*: the ensemble engine called once per arm over all its seeds, in this
  process, results kept in memory (no chunks, no store, no executor): the floor;
- ``--workers 1``: the batch in this process (chunks, Parquet parts, manifest);
- default: the batch on local worker processes (one per core; starting the pool, about
  a second of imports, is timed apart);
- Dask: the batch on a ``LocalCluster`` on 127.0.0.1 (cluster start timed apart).

For the parallel executors the overhead is in core-seconds: ``wall x workers`` against
the plain loop's wall (0% would be perfect scaling). The three batches' tables are
compared and must be identical. Machines are shared and noisy: ``--repeats`` gives the
median and the spread; compare figures from one invocation.

``--memory`` instead runs 10,000 and 100,000 indices-only runs (one date kept) in fresh
processes and prints each one's peak resident memory: results stream to disk, so the
peak should not grow with the number of runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent.parent / "scenarios"


def experiment(replicates: int = 1000, dates=None):
    from sim.batch import experiment_from_dict

    doc = {
        "name": f"benchmark: gas deal pair, {replicates} seeds",
        "scenarios": {
            "baseline": "baseline.yaml",
            "gas_deal_fails": "counterfactual_gas_deal_fails.yaml",
        },
        "replicates": replicates,
        "seed": 1,
        "keep": "indices",
    }
    if dates:
        doc["dates"] = dates
    return experiment_from_dict(doc, base_dir=SCENARIOS, name="<benchmark>")


def plain_loop(exp) -> float:
    """The floor: the engine over every seed of each arm, in this process, in memory."""
    from sim.batch.design import run_table
    from sim.drivers.ensemble import run_ensemble

    runs = run_table(exp)
    t0 = time.perf_counter()
    for arm in exp.arms:
        seeds = runs.loc[runs["arm"] == arm.name, "seed"].astype(int).tolist()
        run_ensemble(arm.scenario, seeds, shocks_off=arm.shocks_off, keep=exp.spec.keep)
    return time.perf_counter() - t0


def _fmt(xs: list[float]) -> str:
    med = statistics.median(xs)
    spread = f" ({min(xs):.2f}-{max(xs):.2f})" if len(xs) > 1 else ""
    return f"{med:6.2f} s{spread}"


def bench(repeats: int, replicates: int, dask: bool) -> None:
    import pandas as pd

    import sim.batch
    from sim.batch.executors import Dask, LocalProcesses, default_workers

    exp = experiment(replicates)
    n = len(exp.arms) * replicates
    cores = default_workers()
    print(
        f"{n} runs: {', '.join(a.name for a in exp.arms)} x {replicates} seeds "
        f"(baseline scenario, {exp.arms[0].scenario.spec.time.start} on, indices only); "
        f"{cores} cores; {repeats} repeat(s), median (min-max)"
    )
    plain_loop(experiment(4))  # warm up: imports, compiled worlds
    plain = [plain_loop(exp) for _ in range(repeats)]
    p = statistics.median(plain)
    rows = [("plain loop (engine only)", plain, 1, None)]
    tmp = Path(tempfile.mkdtemp(prefix="mv-batch-bench-"))
    tables = {}
    try:
        label = "--workers 1 (in process)"
        times = []
        for k in range(repeats):
            t0 = time.perf_counter()
            sim.batch.run(exp, tmp / f"inproc-{k}", progress=False, workers=1)
            times.append(time.perf_counter() - t0)
        tables[label] = sim.batch.load(tmp / f"inproc-{k}").indices
        rows.append((label, times, 1, None))
        times, starts = [], []
        for k in range(repeats):
            t0 = time.perf_counter()
            with LocalProcesses(cores) as backend:
                backend.warm_up()
                starts.append(time.perf_counter() - t0)
                t1 = time.perf_counter()
                sim.batch.run(exp, tmp / f"procs-{k}", progress=False, backend=backend)
                times.append(time.perf_counter() - t1)
        tables["default"] = sim.batch.load(tmp / f"procs-{k}").indices
        rows.append((f"default ({cores} processes)", times, cores, starts))
        if dask:
            times, starts = [], []
            for k in range(repeats):
                t0 = time.perf_counter()
                with Dask(local_workers=cores) as backend:
                    backend.warm_up()
                    starts.append(time.perf_counter() - t0)
                    out = tmp / f"dask-{k}"
                    t1 = time.perf_counter()
                    sim.batch.run(exp, out, progress=False, backend=backend)
                    times.append(time.perf_counter() - t1)
            tables["dask"] = sim.batch.load(out).indices
            rows.append((f"dask LocalCluster ({cores} workers)", times, cores, starts))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'how':<30} {'wall':>10}   {'runs/s':>7}   overhead against the plain loop")
    for label, times, workers, starts in rows:
        t = statistics.median(times)
        if label.startswith("plain"):
            note = "-"
        elif workers == 1:
            note = f"{100 * (t - p) / p:+.1f}% time"
        else:
            note = (
                f"{100 * (t * workers - p) / p:+.1f}% core-time "
                f"(speed-up {p / t:.2f}x on {workers})"
            )
        if starts:
            note += f"; start {statistics.median(starts):.1f} s not included"
        print(f"{label:<30} {_fmt(times):>10}   {n / t:7.0f}   {note}")
    ref_label, ref = next(iter(tables.items()))
    same = all(ref.equals(t) for t in tables.values())
    for name, t in tables.items():
        pd.testing.assert_frame_equal(ref, t, check_exact=True, obj=f"{name} vs {ref_label}")
    print(f"tables identical across {', '.join(tables)}: {'yes' if same else 'NO'}")


def _memory_child(runs: int, out: str) -> None:
    import sim.batch

    exp = experiment(runs // 2, dates=["2030-12-31"])
    sim.batch.run(exp, out, progress=False)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(peak_kib, worker_kib)


def memory(sizes: list[int]) -> None:
    print("peak resident memory (indices only, one date kept, local processes):")
    for runs in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="mv-batch-mem-"))
        try:
            t0 = time.perf_counter()
            res = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sim.tools.bench_batch",
                    "--memory-child",
                    str(runs),
                    str(tmp / "out"),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - t0
            peak, worker = (int(x) / 1024 for x in res.stdout.strip().splitlines()[-1].split())
            size = sum(f.stat().st_size for f in (tmp / "out").rglob("*") if f.is_file())
            print(
                f"  {runs:>7} runs: batch process {peak:5.0f} MiB, largest worker "
                f"{worker:5.0f} MiB; {wall:6.1f} s; store {size / 2**20:.1f} MiB"
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sim.tools.bench_batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--replicates", type=int, default=1000, help="seeds per arm (default 1000)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster")
    ap.add_argument("--memory", action="store_true", help="the memory check instead")
    ap.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        _memory_child(int(args.memory_child[0]), args.memory_child[1])
        return 0
    if args.memory:
        memory([10_000, 100_000])
        return 0
    try:
        import distributed  # noqa: F401

        dask = not args.no_dask
    except ImportError:
        print("(Dask not installed: skipping the LocalCluster)")
        dask = False
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    bench(args.repeats, args.replicates, dask)
    return 0


if __name__ == "__main__":
    sys.exit(main())
