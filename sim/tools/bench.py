"""Benchmarks that print their figures (``python -m sim.tools.bench run`` / ``ensemble`` /
``kernel`` / ``threads``).

Machines are shared and noisy, so every figure is a median over repeats, reported with
the spread; compare figures measured in one invocation rather than across machines.

``run``: one baseline run in process (imports and scenario loading excluded; the model
is built and run to the end of its horizon, burn-in included, and its tidy tables are
made: what ``sim.drivers.run`` does), its parts (the model alone, with and without per-step
agent data collection; the figure), and ``multivector run`` end to end in a fresh
process (interpreter start, imports, loading, running, writing the four outputs).

``ensemble``: the same baseline replicated, in one process pinned to one core with one
BLAS thread: (a) ``mesa.batch_run`` of the model as a Mesa user would run it, (b) a plain
loop of ``sim.drivers.run`` (the fastest Mesa path to the same tables), (c) the vectorized
ensemble (``sim.run_ensemble``) at R = 1,000 and 10,000 with every record's indices kept
in memory, and R = 100,000 streamed to Parquet chunk by chunk (yearly records). (a), (b)
and (c) run in turn ``--repeats`` times (default 3), then each in-memory size as often,
and the figures are medians; the streamed size runs once. Wall time, CPU time
(``time.process_time``: this process, all its threads), runs per second and peak
resident memory (sampled every 10 ms; the highest of the repeats) for each; the ratios
a/c and b/c on 1,000 runs, in CPU time (what another job on the machine does not change)
and in wall time; a check that (b) and (c) made identical tables; the machine's load and
cores at the start and the end; every figure also as a ``key=value`` line. The first
repeat also pays for the memory the process touches for the first time, which on some
virtual machines costs as much as the arithmetic: the medians are the steady state of a
process that runs many ensembles (a batch), the single figures printed as they come
show the first.

``kernel``: the period kernel alone (Model 1's gains and choices for every tie of a batch
of replicates, on the ties a baseline ensemble passes through): the compiled kernel
(:mod:`sim.kernel.compiled`) against the numpy reference, in nanoseconds per tie decision,
medians of interleaved repeats; the share of an ensemble run spent in the kernel; and an
estimate of what a fused SIMD kernel could reach on this machine (:func:`kernel_limit`),
with the compiled kernel's distance from it. With a Model 2 scenario (``--scenario
scenarios/model2/baseline.yaml``): Model 2's compiled gains
(:mod:`sim.kernel.compiled_balance`) against its numpy reference, without a floor.

``threads``: the ensemble on a made-up ring of 100 states (:func:`ring_scenario`) with
one and with two BLAS threads (``MULTIVECTOR_BLAS_THREADS``), on every core and pinned to
one (Linux: ``sched_setaffinity``): milliseconds a run, wall and CPU (why the engine and
the batch workers use one).
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
from dataclasses import dataclass
from pathlib import Path

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"


def machine(when: str) -> None:
    """Print the machine's load (the 1, 5 and 15 minute averages of runnable processes)
    as ``load_<when>=...`` and, at the start, its cores and those this process may use:
    on a shared machine, figures mean little without them."""
    try:
        load = ",".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available here
        load = "unknown"
    if when == "start":
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            usable = os.cpu_count()
        print(f"cores={os.cpu_count()}")
        print(f"cores_usable={usable}")
    print(f"load_{when}={load}", flush=True)


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


def bench_ensemble(
    scenario: Path, runs: int, sizes: list[int], mesa_runs: int, repeats: int = 3
) -> dict:
    """Time (a) ``mesa.batch_run``, (b) a loop of ``sim.run`` and (c) the ensemble on
    ``mesa_runs`` runs, in turn ``repeats`` times, then the ensemble alone at each of
    ``sizes``; print the medians and the ratios of the medians."""
    import mesa

    from sim.drivers.ensemble import run_ensemble
    from sim.drivers.run import run
    from sim.scenario import load_scenario
    from sim.world.compiled import world_for

    sc = load_scenario(scenario)
    w = world_for(sc)
    machine("start")
    print(f"scenario: {sc.name} ({w.n} states, {w.n_periods} periods + {w.burn_in} burn-in)")
    print(f"python {sys.version.split()[0]}, mesa {mesa.__version__}; one process, {_pin()}")
    print(f"{repeats} repeat(s) in turn; each repeat printed as it comes, then the medians")
    run(sc, seed=0)
    run_ensemble(sc, 20)  # warm-up: imports, compiled world, caches
    timings: list[Timed] = []
    same = True
    for _ in range(repeats):
        same &= _time_three_paths(sc, mesa_runs, timings)
    for _ in range(repeats):
        _time_sizes(sc, w, [r for r in sizes if r != mesa_runs and r <= IN_MEMORY], timings)
    _time_sizes(sc, w, [r for r in sizes if r > IN_MEMORY], timings)
    rows = _medians(timings)
    print(f"medians of {repeats}:")
    for row in rows:
        _print_row(row)
    a, b, c = (
        next(r for r in rows if r.key == key)
        for key in ("batch_run", "loop", f"ensemble_{mesa_runs}")
    )
    print(f"ratio a/c (batch_run over ensemble, {mesa_runs} runs): {a.cpu / c.cpu:.1f} in CPU")
    print(f"ratio b/c (loop of sim.run over ensemble): {b.cpu / c.cpu:.1f} in CPU")
    print(f"(b) and (c) made identical tables: {same}")
    print(f"aim: a/c >= 50 -> {a.cpu / c.cpu:.1f}")
    for row in rows:
        print(f"{row.key}_wall_s={row.wall:.3f}")
        print(f"{row.key}_cpu_s={row.cpu:.3f}")
        print(f"{row.key}_peak_rss_mb={row.peak:.0f}")
        if row.n == 10_000:
            print(f"aim: 10,000 runs < 3 s of CPU -> {row.cpu:.2f} s")
        if row.n == 100_000:
            print(f"aim: 100,000 runs < 2 GB peak -> {row.peak:.0f} MB")
    first = next(r for r in timings if r.key == c.key)
    print(f"ensemble_{mesa_runs}_first_cpu_s={first.cpu:.3f}")
    print(f"ratio_loop_over_ensemble={b.cpu / c.cpu:.1f}")
    print(f"ratio_batch_run_over_ensemble_wall={a.wall / c.wall:.1f}")
    print(f"ratio_batch_run_over_ensemble={a.cpu / c.cpu:.1f}")
    machine("end")
    return {"a": a, "b": b, "c": c, "rows": rows}


#: Ensembles up to this size are kept in memory (and repeated); larger ones stream.
IN_MEMORY = 10_000


def _medians(timings: list[Timed]) -> list[Timed]:
    """One row per path, in the order first timed: median wall and CPU, highest peak."""
    keys = list(dict.fromkeys(t.key for t in timings))
    out = []
    for key in keys:
        ts = [t for t in timings if t.key == key]
        out.append(
            Timed(
                ts[0].label,
                key,
                ts[0].n,
                statistics.median(t.wall for t in ts),
                statistics.median(t.cpu for t in ts),
                max(t.peak for t in ts),
            )
        )
    return out


def _pin() -> str:
    """Pin this process to one core, as the aims say, and numpy's BLAS to the threads
    the engine uses (:func:`sim.drivers.engine.blas_threads`; else its threads share
    the one core and slow the Mesa paths)."""
    from threadpoolctl import threadpool_limits

    from sim.drivers.engine import blas_threads

    threadpool_limits(limits=blas_threads())
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return f"pinned to one core, {blas_threads()} BLAS thread(s)"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity here)"


@dataclass
class Timed:
    """One timed path: wall and CPU seconds, peak resident memory (MB)."""

    label: str
    key: str
    n: int
    wall: float
    cpu: float
    peak: float


@contextmanager
def _timed(rows: list[Timed], label: str, key: str, n: int):
    """Time the block (wall, this process's CPU, peak memory), print and keep the row."""
    mem = _PeakRSS()
    with mem.watch():
        t, c = time.perf_counter(), time.process_time()
        yield
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    row = Timed(label, key, n, wall, cpu, mem.peak)
    rows.append(row)
    _print_row(row)


def _print_row(row: Timed) -> None:
    print(
        f"{row.label:<46} {row.n:>7} runs {row.wall:8.2f} s wall {row.cpu:8.2f} s CPU "
        f"{row.n / row.cpu:7.0f} runs/CPU-s  peak RSS {row.peak:6.0f} MB",
        flush=True,
    )


def _time_three_paths(sc, n: int, rows: list[Timed]) -> bool:
    """(a), (b), (c) timed on ``n`` runs (appended to ``rows``); whether (b) and (c)
    agree."""
    import mesa

    from sim.drivers.ensemble import run_ensemble
    from sim.drivers.model import BalancingModel
    from sim.drivers.run import run

    with _timed(rows, "(a) mesa.batch_run (agent data, last step kept)", "batch_run", n):
        mesa.batch_run(
            BalancingModel,
            parameters={"scenario": sc},
            rng=list(range(n)),
            number_processes=1,
            data_collection_period=-1,
            display_progress=False,
        )
    with _timed(rows, "(b) loop of sim.run (full tables)", "loop", n):
        loop = [run(sc, seed=k).indices for k in range(n)]
    with _timed(rows, "(c) ensemble, indices of every record", f"ensemble_{n}", n):
        ens = run_ensemble(sc, n)
    same = all(
        ens.indices[ens.indices["replicate"] == k]
        .drop(columns="replicate")
        .reset_index(drop=True)
        .equals(loop[k])
        for k in range(n)
    )
    return same


def _time_sizes(sc, w, sizes: list[int], rows: list[Timed]) -> None:
    """The ensemble alone at each size: in memory up to :data:`IN_MEMORY` runs, streamed
    beyond."""
    import pandas as pd

    from sim.drivers.ensemble import run_ensemble
    from sim.outputs.ensemble_files import save_ensemble

    years = pd.date_range(w.date(0), w.date(w.n_periods), freq="YE").date
    for r in sizes:
        if r <= IN_MEMORY:
            with _timed(rows, "(c) ensemble, indices of every record", f"ensemble_{r}", r):
                run_ensemble(sc, r)
        else:
            label = f"(c) ensemble, streamed to Parquet ({len(years)} dates)"
            with _timed(rows, label, f"ensemble_streamed_{r}", r):
                with tempfile.TemporaryDirectory() as tmp:
                    save_ensemble(sc, r, Path(tmp) / "out", dates=list(years))


#: Arithmetic of one tie decision in the compiled kernel, counted from its source: the
#: affine part (energy, affinity, threat, protection, rivals' leverage, cross-pressure:
#: about 45 operations), each of the two moves (hinge, Herfindahl change, tie cost: about
#: 15 each), the choice (about 12), and the tie's share of its row's totals (2N + 10 at N
#: states: the row sums and products, the group masses and rivals' commitments); plus
#: four divisions and two exponentials (the logit weights; the third is exp(0) = 1).
KERNEL_OPS_PER_TIE = 87  # + 2N + 10, see kernel_limit
KERNEL_DIVISIONS_PER_TIE = 4
KERNEL_EXPS_PER_TIE = 2


def kernel_limit(n: int, repeats: int = 15) -> dict[str, float]:
    """A floor for a fused SIMD kernel on this machine, in ns per tie decision.

    Each operation of :data:`KERNEL_OPS_PER_TIE` (and 2N + 10 for the row's totals) at
    the rate of a compiled loop of multiply-adds over in-cache arrays (numba, which LLVM
    vectorizes: every SIMD lane busy), each division at the rate of such a loop of
    divisions, each exponential at numpy's SIMD ``exp``: the arithmetic of a tie with none
    of a real kernel's costs (loads, branches, dependencies between steps, scalar
    exponentials). No kernel reaches it; it says how far from the hardware a kernel is.
    """
    import numba
    import numpy as np

    @numba.njit(error_model="numpy")
    def fma(a, b, out, times):  # pragma: no cover - compiled
        for _ in range(times):
            for i in range(a.size):
                out[i] = a[i] * b[i] + out[i] * 0.5

    @numba.njit(error_model="numpy")
    def div(a, b, out, times):  # pragma: no cover - compiled
        for _ in range(times):
            for i in range(a.size):
                out[i] = a[i] / b[i] + out[i] * 0.5

    a = np.random.default_rng(0).uniform(0.5, 1.5, 1024)  # 8 KB: in the L1 cache
    b, out = a[::-1].copy(), np.zeros_like(a)

    def per_element(f, ops_per_element: float) -> float:
        f()
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            f()
            ts.append((time.perf_counter() - t) / (1000 * a.size * ops_per_element) * 1e9)
        return statistics.median(ts)

    per_op = per_element(lambda: fma(a, b, out, 1000), 2)
    per_div = per_element(lambda: div(a, b, out, 1000), 1)
    per_exp = per_element(lambda: [np.exp(-a, out=out) for _ in range(1000)], 1)
    ops = KERNEL_OPS_PER_TIE + 2 * n + 10
    limit = ops * per_op + KERNEL_DIVISIONS_PER_TIE * per_div + KERNEL_EXPS_PER_TIE * per_exp
    return {"ns_per_op": per_op, "ns_per_div": per_div, "ns_per_exp": per_exp, "ops": ops,
            "limit": limit}  # fmt: skip


def bench_kernel(scenario: Path, replicates: int, repeats: int) -> dict[str, float]:
    """Time the compiled kernel and the numpy reference on the same batches of ties (a
    baseline ensemble's records), interleaved; print ns per tie decision and the ratios."""
    import numpy as np

    from sim.drivers import ensemble
    from sim.kernel import compiled, decision, payoffs
    from sim.scenario import load_scenario
    from sim.world.compiled import world_for

    sc = load_scenario(scenario)
    w = world_for(sc)
    machine("start")
    print(f"scenario: {sc.name} ({w.n} states); {replicates} replicates a call; {_pin()}")
    ties = ensemble.run_ensemble(sc, replicates, keep="ties").ties
    steps = np.unique(ties["step"])[:: max(1, len(np.unique(ties["step"])) // 12)]
    off = ~np.eye(w.n, dtype=bool)
    batches = []
    for step in steps:
        T = np.zeros((replicates, w.n, w.n))
        at = ties[ties["step"] == step]
        T[:, off] = at["tie"].to_numpy().reshape(replicates, -1)
        batches.append(T)
    P = w.base
    rng = np.random.default_rng(0)
    u = rng.random((replicates, w.n, w.n))
    revising = np.ones((replicates, w.n), dtype=bool)
    decisions = replicates * w.n * (w.n - 1) * len(batches)
    if w.model == 2:
        return _bench_model2_gains(w, batches, decisions, repeats)

    def run_compiled():
        for T in batches:
            compiled.decide_local(T, P, u, revising, w.rules, w.delta)

    def run_numpy():
        for T in batches:
            gains = payoffs.local_gains(T, P, w.delta)
            decision.choose_local(gains, w.rules, P.tau, P.gamma, u)

    lanes, scalar_loop = _period_loops(w, batches, u)
    ns = _interleaved(
        {"compiled": run_compiled, "numpy": run_numpy, "lanes": lanes, "loop": scalar_loop},
        repeats,
        decisions,
    )
    compiled_ns, numpy_ns, lanes_ns = ns["compiled"], ns["numpy"], ns["lanes"]
    limit = kernel_limit(w.n)
    per_run = w.n * (w.n - 1) * (w.n_periods + w.burn_in)
    print(f"ensemble period loop, replicates in SIMD lanes: {lanes_ns:.1f} ns a tie decision "
          f"(decide, apply, pin; median of {repeats})")  # fmt: skip
    print(f"the same loop, scalar (one_at_a_time's): {ns['loop']:.1f} ns a tie decision")
    print(f"compiled decisions (the Mesa model's, a period a call): {compiled_ns:.1f} ns")
    print(f"numpy reference: {numpy_ns:.1f} ns a tie decision (gains and choice)")
    print(
        f"fused SIMD floor here: {limit['ops']} operations x {limit['ns_per_op']:.2f} ns + "
        f"{KERNEL_DIVISIONS_PER_TIE} divisions x {limit['ns_per_div']:.2f} ns + "
        f"{KERNEL_EXPS_PER_TIE} exponentials x {limit['ns_per_exp']:.2f} ns = "
        f"{limit['limit']:.1f} ns a tie"
    )
    print(f"lanes_ns_per_tie={lanes_ns:.1f}")
    print(f"scalar_loop_ns_per_tie={ns['loop']:.1f}")
    print(f"kernel_ns_per_tie={compiled_ns:.1f}")
    print(f"numpy_ns_per_tie={numpy_ns:.1f}")
    print(f"ratio_scalar_loop_over_lanes={ns['loop'] / lanes_ns:.1f}")
    print(f"ratio_numpy_over_compiled={numpy_ns / compiled_ns:.1f}")
    print(f"limit_ns_per_tie={limit['limit']:.1f}")
    print(f"ratio_compiled_over_limit={lanes_ns / limit['limit']:.1f}")
    print(f"aim: within 3x of the compiled limit -> {lanes_ns / limit['limit']:.1f}x")
    print(f"kernel_ms_per_run={lanes_ns * per_run / 1e6:.3f}")
    print(f"limit_ms_per_run={limit['limit'] * per_run / 1e6:.3f}")
    machine("end")
    return {"compiled": compiled_ns, "numpy": numpy_ns, "lanes": lanes_ns, **limit}


def _period_loops(w, batches, u):
    """The ensemble's period loop on ``batches`` (one period of each batch of ties a
    call, every state revising), replicates in SIMD lanes and scalar: two callables."""
    import numpy as np

    from sim.kernel import compiled
    from sim.kernel.compiled import simulate_lanes

    r, n = u.shape[0], w.n
    P = w.base
    draws = compiled._frozen(np.concatenate([u, u[..., :1]], axis=-1)[None], np.float64)
    zeros = compiled._frozen(np.zeros((1, r), dtype=np.int64), np.int64)
    points = compiled._frozen(np.zeros(r, dtype=np.int64), np.int64)
    no_pins = [compiled._frozen(np.zeros(k, dtype=np.int64), np.int64) for k in (2, 0, 0)]
    pin_value = compiled._frozen(np.zeros((0, 1)), np.float64)
    rules = compiled._frozen(w.rules, np.int64)
    record = compiled._frozen(np.full(1, -1, dtype=np.int64), np.int64)
    snaps = np.empty((r, 1, n, n))
    steps = compiled._step_tables(w.delta)
    head = (draws, zeros, zeros, points, *no_pins, pin_value)
    tail = (rules, float(w.delta), *P.packed, *steps, record, snaps)

    def lanes():
        for T in batches:
            simulate_lanes(T.copy(), *head, *tail)

    def scalar_loop():
        for T in batches:
            compiled._simulate_local(T.copy(), *head, False, *tail)

    return lanes, scalar_loop


def _interleaved(fs: dict, repeats: int, per: int) -> dict[str, float]:
    """Median CPU ns per unit (``per`` units a call) of each function, interleaved."""
    for f in fs.values():
        f()
    times: dict[str, list[float]] = {name: [] for name in fs}
    for _ in range(repeats):
        for name, f in fs.items():
            t = time.process_time()
            f()
            times[name].append((time.process_time() - t) / per * 1e9)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _bench_model2_gains(w, batches, decisions: int, repeats: int) -> dict[str, float]:
    """Model 2's gains (:mod:`sim.kernel.compiled_balance` against
    :func:`sim.kernel.balance.local_gains`) on the same ties, credibility at its start;
    at the continuous ties' finite step when the world's ties are continuous."""
    from sim.kernel import balance, compiled_balance, decision

    P = w.base
    C = balance.initial_credibility(P, batches[0].shape)
    step = decision.FINITE_STEP if w.candidates == "continuous" else w.delta
    ns = _interleaved(
        {
            "compiled": lambda: [compiled_balance.local_gains(T, C, P, step) for T in batches],
            "numpy": lambda: [balance.local_gains(T, C, P, step) for T in batches],
        },
        repeats,
        decisions,
    )
    per_run = w.n * (w.n - 1) * (w.n_periods + w.burn_in)
    print(f"Model 2 gains, compiled: {ns['compiled']:.1f} ns a tie (median of {repeats})")
    print(f"Model 2 gains, numpy reference: {ns['numpy']:.1f} ns a tie")
    print(f"model2_gains_ns_per_tie={ns['compiled']:.1f}")
    print(f"model2_numpy_ns_per_tie={ns['numpy']:.1f}")
    print(f"ratio_numpy_over_compiled={ns['numpy'] / ns['compiled']:.1f}")
    print(f"kernel_ms_per_run={ns['compiled'] * per_run / 1e6:.3f}")
    machine("end")
    return ns


def ring_scenario(n: int, steps: int = 20, burn_in: int = 10):
    """A made-up world of ``n`` states for timing: a ring, each state tied to the next by
    energy, threat and proximity, a rivalry every seventh pair, quarterly periods."""
    import datetime as dt

    from sim.scenario import scenario_from_dict

    def num(value: float) -> dict:
        return {"value": float(value), "assumption": "a world for timing"}

    ids = [f"S{i}" for i in range(n)]
    weights = {"energy": num(0.3), "security": num(0.4), "alignment": num(0.3)}
    states = {
        s: {"name": s, "power": num(1 + i % 3), "weights": weights, "autonomy": num(0.5),
            "cross_pressure": num(0.5), "rule": "logit"}
        for i, s in enumerate(ids)
    }  # fmt: skip
    ring = {"energy": num(0.05), "threat": num(0.2), "proximity": num(0.5)}
    rivalries = [
        {"pair": [ids[k], ids[k + 1]], "value": 0.5, "assumption": "a world for timing"}
        for k in range(0, n - 1, 7)
    ]
    return scenario_from_dict(
        {
            "name": f"a ring of {n} states (timing)",
            "time": {"start": dt.date(2020, 1, 1), "steps": steps, "step": "quarter",
                     "burn_in": burn_in},
            "states": states,
            "relations": {a: {ids[(i + 1) % n]: ring} for i, a in enumerate(ids)},
            "rivalries": rivalries,
        }
    )  # fmt: skip


def bench_threads(states: int, runs: int, threads: list[int], repeats: int) -> None:
    """The ensemble on a ring of ``states`` states with each number of BLAS threads, on
    every core this process may use and pinned to one; interleaved repeats, medians of
    milliseconds a run (wall and CPU)."""
    from sim.drivers.engine import THREADS_ENV
    from sim.drivers.ensemble import run_ensemble

    machine("start")
    sc = ring_scenario(states)
    run_ensemble(sc, 2)  # warm-up
    all_cores = os.sched_getaffinity(0)
    where = {"all_cores": all_cores, "one_core": {min(all_cores)}}
    times: dict[str, list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for place, cores in where.items():
            os.sched_setaffinity(0, cores)
            for t in threads:
                os.environ[THREADS_ENV] = str(t)
                wall, cpu = time.perf_counter(), time.process_time()
                run_ensemble(sc, runs)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                times.setdefault(f"threads_{t}_{place}", []).append((wall, cpu))
    os.sched_setaffinity(0, all_cores)
    print(f"{runs} runs of a ring of {states} states, {repeats} repeat(s), medians per run:")
    for key, seconds in times.items():
        wall, cpu = (statistics.median(x) * 1e3 / runs for x in zip(*seconds, strict=True))
        print(f"ms_per_run_wall_{key}={wall:.1f}")
        print(f"ms_per_run_cpu_{key}={cpu:.1f}")
    machine("end")


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
    e.add_argument("--repeats", type=int, default=3, help="repeats in turn (medians)")
    k = sub.add_parser("kernel", help="the compiled period kernel against the numpy one")
    k.add_argument("--scenario", type=Path, default=SCENARIO)
    k.add_argument("--replicates", type=int, default=256, help="replicates a call")
    k.add_argument("--repeats", type=int, default=15)
    t = sub.add_parser("threads", help="the ensemble with 1 and more BLAS threads")
    t.add_argument("--states", type=int, default=100, help="states in the ring (default 100)")
    t.add_argument("--runs", type=int, default=16, help="replicates a timing (default 16)")
    t.add_argument("--threads", default="1,2", help="BLAS threads to compare (default 1,2)")
    t.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    if args.what == "run":
        bench_run(args.scenario, args.repeats, args.cli_repeats)
    elif args.what == "kernel":
        bench_kernel(args.scenario, args.replicates, args.repeats)
    elif args.what == "threads":
        threads = [int(x) for x in args.threads.split(",") if x]
        bench_threads(args.states, args.runs, threads, args.repeats)
    else:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        bench_ensemble(args.scenario, args.runs, sizes, args.runs, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
