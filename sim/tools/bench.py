"""Benchmarks that print their figures (``python -m sim.tools.bench run`` / ``ensemble``).

Machines are shared and noisy, so every figure is a median over repeats, reported with
the spread; compare figures measured in one invocation rather than across machines.

``run``: one baseline run in process (imports and scenario loading excluded; the model
is built and run to the end of its horizon, burn-in included, and its tidy tables are
made: what ``sim.drivers.run`` does), its parts (the model alone, with and without per-step
agent data collection; the figure), and ``multivector run`` end to end in a fresh
process (interpreter start, imports, loading, running, writing the four outputs).

``ensemble``: the same baseline replicated, in one process: (a) ``mesa.batch_run`` of the
model as a Mesa user would run it, (b) a plain loop of ``sim.drivers.run`` (the fastest Mesa path
to the same tables), (c) the vectorized ensemble (``sim.run_ensemble``) at R = 1,000 and
10,000 with every record's indices kept in memory, and R = 100,000 streamed to Parquet
chunk by chunk (yearly records). Wall time, runs per second and peak resident memory
(sampled every 10 ms) for each; the ratios a/c and b/c on 1,000 runs; a check that (b)
and (c) made identical tables; last line ``ratio_batch_run_over_ensemble=<number>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"


def _median(xs: list[float]) -> str:
    xs = sorted(xs)
    med = statistics.median(xs) * 1000
    return f"median {med:8.1f} ms  (min {xs[0] * 1000:.1f}, max {xs[-1] * 1000:.1f}, n={len(xs)})"


def bench_run(scenario: Path, repeats: int, cli_repeats: int) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.drivers.model import BalancingModel
    from sim.drivers.run import run
    from sim.scenario import load_scenario
    from sim.world.compiled import compile_world

    t0 = time.perf_counter()
    sc = load_scenario(scenario)
    load_s = time.perf_counter() - t0
    world = compile_world(sc)
    BalancingModel(world=world, rng=0).run()  # warm-up

    model_only, with_agents, full, fig_t = [], [], [], []
    for seed in range(repeats):
        t = time.perf_counter()
        BalancingModel(world=world, rng=seed, agent_data=False).run()
        model_only.append(time.perf_counter() - t)
        t = time.perf_counter()
        BalancingModel(world=world, rng=seed, agent_data=True).run()
        with_agents.append(time.perf_counter() - t)
        t = time.perf_counter()
        res = run(sc, seed=seed)
        full.append(time.perf_counter() - t)
    for seed in range(max(3, repeats // 10)):
        res = run(sc, seed=seed)
        t = time.perf_counter()
        fig = res.figure()
        fig_t.append(time.perf_counter() - t)
        plt.close(fig)

    cli = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(cli_repeats):
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sim",
                    "run",
                    str(scenario),
                    "--seed",
                    str(k),
                    "--out",
                    str(Path(tmp) / f"r{k}"),
                    "--quiet",
                ],
                check=True,
            )
            cli.append(time.perf_counter() - t)

    steps = world.n_periods
    print(f"scenario: {sc.name} ({world.n} states, {steps} periods + {world.burn_in} burn-in)")
    print(f"load and validate the scenario file   {load_s * 1000:8.1f} ms")
    print(f"model only (build, burn-in, {steps} steps)  {_median(model_only)}")
    print(f"  the same, Mesa agent data every step {_median(with_agents)}")
    print(f"sim.drivers.run (model + tidy tables)          {_median(full)}")
    print(f"alignment figure                       {_median(fig_t)}")
    print(f"multivector run, end to end (process)  {_median(cli)}")
    figures = {
        "run_ms": statistics.median(full) * 1000,
        "model_ms": statistics.median(model_only) * 1000,
        "cli_s": statistics.median(cli),
    }
    print(
        f"aim: one run < 50 ms in process -> {figures['run_ms']:.1f} ms; "
        f"CLI end to end < 4 s -> {figures['cli_s']:.2f} s"
    )
    print(f"run_ms={figures['run_ms']:.1f}")
    print(f"cli_s={figures['cli_s']:.2f}")
    return figures


class _PeakRSS:
    """Peak resident set size of this process while a block runs (Linux /proc; else NaN)."""

    def __init__(self):
        self.peak = float("nan")

    @staticmethod
    def now() -> float:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError):
            return float("nan")

    @contextmanager
    def watch(self):
        stop = threading.Event()
        self.start = self.peak = self.now()

        def sample():
            while not stop.wait(0.01):
                self.peak = max(self.peak, self.now())

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            yield self
        finally:
            stop.set()
            t.join()
            self.peak = max(self.peak, self.now())


def bench_ensemble(scenario: Path, runs: int, sizes: list[int], mesa_runs: int) -> dict:
    """Time (a) ``mesa.batch_run``, (b) a loop of ``sim.run`` and (c) the ensemble on
    ``mesa_runs`` runs, then the ensemble alone at each of ``sizes``; print the ratios."""
    import mesa

    from sim.drivers.ensemble import run_ensemble
    from sim.drivers.run import run
    from sim.scenario import load_scenario
    from sim.world.compiled import world_for

    sc = load_scenario(scenario)
    w = world_for(sc)
    print(f"scenario: {sc.name} ({w.n} states, {w.n_periods} periods + {w.burn_in} burn-in)")
    print(f"python {sys.version.split()[0]}, mesa {mesa.__version__}; one process, {_pin()}")
    run(sc, seed=0)
    run_ensemble(sc, 20)  # warm-up: imports, compiled world, caches
    rows: list[tuple[str, int, float, float]] = []
    a, b, c, same = _time_three_paths(sc, mesa_runs, rows)
    _time_sizes(sc, w, [r for r in sizes if r != mesa_runs], rows)
    ratio_a, ratio_b = a / c, b / c
    print(f"ratio a/c (batch_run over ensemble, {mesa_runs} runs): {ratio_a:.1f}")
    print(f"ratio b/c (loop of sim.run over ensemble): {ratio_b:.1f}")
    print(f"(b) and (c) made identical tables: {same}")
    print(f"aim: a/c >= 30 -> {ratio_a:.1f}")
    for _label, n, wall, peak in rows:
        if n == 10_000:
            print(f"aim: 10,000 runs < 10 s -> {wall:.1f} s")
        if n == 100_000:
            print(f"aim: 100,000 runs < 2 GB peak -> {peak:.0f} MB")
    print(f"ratio_batch_run_over_ensemble={ratio_a:.1f}")
    return {"a": a, "b": b, "c": c, "rows": rows}


def _pin() -> str:
    """Pin this process to one core, as the aims say (and no BLAS threads on another)."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return "pinned to one core"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity here)"


def _report(rows: list, label: str, n: int, wall: float, mem: _PeakRSS) -> None:
    rows.append((label, n, wall, mem.peak))
    print(
        f"{label:<46} {n:>7} runs {wall:8.2f} s {n / wall:9.0f} runs/s "
        f"  peak RSS {mem.peak:7.0f} MB",
        flush=True,
    )


def _time_three_paths(sc, n: int, rows: list) -> tuple[float, float, float, bool]:
    """Seconds of (a), (b), (c) on ``n`` runs, and whether (b) and (c) agree."""
    import mesa

    from sim.drivers.ensemble import run_ensemble
    from sim.drivers.model import BalancingModel
    from sim.drivers.run import run

    m = _PeakRSS()
    with m.watch():
        t = time.perf_counter()
        mesa.batch_run(
            BalancingModel,
            parameters={"scenario": sc},
            rng=list(range(n)),
            number_processes=1,
            data_collection_period=-1,
            display_progress=False,
        )
        a = time.perf_counter() - t
    _report(rows, "(a) mesa.batch_run (agent data, last step kept)", n, a, m)
    with m.watch():
        t = time.perf_counter()
        loop = [run(sc, seed=k).indices for k in range(n)]
        b = time.perf_counter() - t
    _report(rows, "(b) loop of sim.run (full tables)", n, b, m)
    with m.watch():
        t = time.perf_counter()
        ens = run_ensemble(sc, n)
        c = time.perf_counter() - t
    _report(rows, "(c) ensemble, indices of every record", n, c, m)
    same = all(
        ens.indices[ens.indices["replicate"] == k]
        .drop(columns="replicate")
        .reset_index(drop=True)
        .equals(loop[k])
        for k in range(n)
    )
    return a, b, c, same


def _time_sizes(sc, w, sizes: list[int], rows: list) -> None:
    """The ensemble alone at each size: in memory up to 10,000 runs, streamed beyond."""
    import pandas as pd

    from sim.drivers.ensemble import run_ensemble
    from sim.outputs.ensemble_files import save_ensemble

    m = _PeakRSS()
    for r in sizes:
        with m.watch():
            t = time.perf_counter()
            if r <= 10_000:
                res = run_ensemble(sc, r)
                del res
                label = "(c) ensemble, indices of every record"
            else:
                years = pd.date_range(w.date(0), w.date(w.n_periods), freq="YE").date
                with tempfile.TemporaryDirectory() as tmp:
                    save_ensemble(sc, r, Path(tmp) / "out", dates=list(years))
                label = f"(c) ensemble, streamed to Parquet ({len(years)} dates)"
            wall = time.perf_counter() - t
        _report(rows, label, r, wall, m)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m sim.tools.bench", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run", help="one baseline run in process, and the CLI end to end")
    r.add_argument("--scenario", type=Path, default=SCENARIO)
    r.add_argument("--repeats", type=int, default=30)
    r.add_argument("--cli-repeats", type=int, default=5)
    e = sub.add_parser("ensemble", help="batch_run vs a loop vs the vectorized ensemble")
    e.add_argument("--scenario", type=Path, default=SCENARIO)
    e.add_argument("--runs", type=int, default=1000, help="runs for (a), (b), (c)")
    e.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="ensemble sizes, comma-separated (above 10,000: streamed to disk)",
    )
    args = p.parse_args(argv)
    if args.what == "run":
        bench_run(args.scenario, args.repeats, args.cli_repeats)
    else:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        bench_ensemble(args.scenario, args.runs, sizes, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
