"""Benchmarks that print their figures (``python -m sim.bench run``).

Machines are shared and noisy, so every figure is a median over repeats, reported with
the spread; compare figures measured in one invocation rather than across machines.

``run``: one baseline run in process (imports and scenario loading excluded; the model
is built and run to the end of its horizon, burn-in included, and its tidy tables are
made: what ``sim.run`` does), its parts (the model alone, with and without per-step
agent data collection; the figure), and ``multivector run`` end to end in a fresh
process (interpreter start, imports, loading, running, writing the four outputs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


def _median(xs: list[float]) -> str:
    xs = sorted(xs)
    med = statistics.median(xs) * 1000
    return f"median {med:8.1f} ms  (min {xs[0] * 1000:.1f}, max {xs[-1] * 1000:.1f}, n={len(xs)})"


def bench_run(scenario: Path, repeats: int, cli_repeats: int) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.model import BalancingModel
    from sim.run import run
    from sim.scenario import load_scenario
    from sim.world import compile_world

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
    print(f"sim.run (model + tidy tables)          {_median(full)}")
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run", help="one baseline run in process, and the CLI end to end")
    r.add_argument("--scenario", type=Path, default=SCENARIO)
    r.add_argument("--repeats", type=int, default=30)
    r.add_argument("--cli-repeats", type=int, default=5)
    args = p.parse_args(argv)
    if args.what == "run":
        bench_run(args.scenario, args.repeats, args.cli_repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
