"""Batch benchmark: ``python -m sim.tools.bench_batch`` (prints its figures).

Runs the same experiment (the gas-deal pair, ``--replicates`` seeds in each arm, 1,000 by
default: 2,000 runs; indices only, every step kept) seven ways:

- *plain loop*: the ensemble engine called once per arm over all its seeds, in this
  process, results kept in memory (no chunks, no store, no executor): the floor; the
  same in the chunks ``--workers 1`` cuts, each stored as the batch stores a chunk (its
  own ``run_chunk`` and ``write_part``: Parquet files, checksums, ledger), with no
  executor, writer thread, design, manifest or probe (what storing costs by itself);
  the plain loop split over the local worker processes; and the same on those
  workers in the chunks a batch on them cuts, each stored by its worker as a batch's
  worker does (``run_and_store``);
- ``--workers 1``: the batch in this process (chunks, Parquet parts, manifest);
- local worker processes (one per core);
- a Dask ``LocalCluster`` on 127.0.0.1 (one worker per core).

For each it prints the wall time and the CPU time (user + system) of every process that
took part: this one (the batch process: the chunk-size probe, the bookkeeping, Dask's
scheduler) and each process it started (pool workers and their fork server, Dask's
nannies and workers), counted with psutil just before the pool or cluster closes.
Starting a pool or a cluster (worker processes importing the package) is counted apart.
The executor overhead is ``(CPU of all processes - CPU of the plain loop) / CPU of the
plain loop``: what the executor costs whatever the other jobs on the machine do, where
wall time would assume idle cores. Processes that run at once share the machine's caches
and memory, and each takes more CPU for the same work than one alone; so the plain loop
also runs split over as many worker processes (one part a worker, nothing stored or sent
back), and the pools' overhead is also given against that split loop. Every executor's
overhead is also given against the same work stored by as many processes: the plain
loop that stores its parts for ``--workers 1``, the split loop whose workers store theirs
for the pools (``overhead_<executor>_vs_stored_pct``): what the executor itself adds,
beyond computing and storing the results; and repeat by repeat, each executor against
its floor timed in the same repeat, with the median and the range of those paired
overheads (``overhead_<executor>_vs_stored_paired_pct``, ``..._paired_range_pct``): how
far the spread of the shared machine moves the figure. A repeat's store is deleted once
the next repeat has been timed (the last ones are kept to compare), so that the page
cache does not fill up over the bench.

The machine's load (1, 5 and 15 minute averages) and cores are printed at the start and
the end; every figure is also a ``key=value`` line; ``--repeats`` runs every way in
turn that many times (so that a slow spell of the shared machine hits them alike) and
gives medians. The three batches' tables are compared and must be identical.

``--memory`` instead runs 10,000 and 100,000 indices-only runs (one date kept) in fresh
processes and prints each one's peak resident memory: results stream to disk, so the
peak should not grow with the number of runs.

``--dask-idle`` instead starts a LocalCluster with Dask's default settings and one with
those a batch starts its own with (:data:`sim.batch.executors.LOCAL_CLUSTER_CONFIG`),
and prints the CPU seconds its idle processes take each second.

``--load DIR`` reads a batch with ``sim.batch.load`` whole and cut to one state, date
and index column (``--select``), each in a fresh process, and prints the rows, the CPU
time and the peak resident memory of each.
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
from dataclasses import dataclass, field
from pathlib import Path

from sim.tools.bench import machine

SCENARIOS = Path(__file__).resolve().parent.parent.parent / "scenarios"
#: Processes that used less CPU than this are left out of the per-process listing
#: (the idle fork server, Dask's idle helpers).
IDLE_S = 0.02


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


def plain_calls(exp, parts: int = 1) -> list[tuple]:
    """The plain loop's calls of :func:`engine`: each arm's seeds, cut in ``parts``."""
    from sim.batch.design import run_table

    runs = run_table(exp)
    calls = []
    for arm in exp.arms:
        seeds = runs.loc[runs["arm"] == arm.name, "seed"].astype(int).tolist()
        for k in range(parts):
            calls.append((arm.scenario, seeds[k::parts], arm.shocks_off, exp.spec.keep))
    return calls


def engine(scenario, seeds: list[int], shocks_off, keep: str) -> None:
    """The ensemble engine over ``seeds``, results kept in memory and dropped."""
    from sim.drivers.ensemble import run_ensemble

    run_ensemble(scenario, seeds, shocks_off=shocks_off, keep=keep)


def plain_loop(exp) -> None:
    """The floor: the engine over every seed of each arm, in this process, in memory."""
    for call in plain_calls(exp):
        engine(*call)


def plain_written(exp, parts: Path, size: int) -> None:
    """The plain loop in the chunks of ``size`` runs that ``--workers 1`` makes, each
    chunk's results stored as the batch stores it (its own ``run_chunk`` and
    ``write_part``: run ids, Parquet files, checksums and ledger), in this process, one
    after the other: what storing the results costs without an executor, writer thread,
    design, manifest, chunk-size probe or bookkeeping."""
    from sim.batch.runner import run_chunk
    from sim.batch.store import write_part

    parts.mkdir(parents=True)
    for chunk in _sized_chunks(exp, size):
        write_part(parts, run_chunk(chunk))


def _sized_chunks(exp, size: int) -> list:
    """The experiment's chunks of ``size`` runs (as a batch cuts them)."""
    from sim.batch.design import run_table
    from sim.batch.driver import _chunks, plan

    runs = run_table(exp)
    return _chunks(exp, plan(exp, chunk_size=size, runs=runs))


def plain_split(exp, backend) -> None:
    """The plain loop's work cut in one part a worker, run on ``backend``'s workers at
    once: what the same work costs when the processes share the machine's caches and
    memory, without chunks, store or results travelling."""
    futures = [backend.executor.submit(engine, *c) for c in plain_calls(exp, backend.workers)]
    for f in futures:
        f.result()


def split_written(exp, backend, parts: Path, size: int) -> None:
    """The same on ``backend``'s worker processes: the chunks of ``size`` runs that a
    batch on as many workers makes, each run and stored into ``parts`` by a worker as a
    batch's worker does (``run_and_store``)."""
    from sim.batch.store import run_and_store

    parts.mkdir(parents=True)
    futures = [backend.executor.submit(run_and_store, c, parts) for c in _sized_chunks(exp, size)]
    for f in futures:
        f.result()


def cpu_by_process() -> dict[int, float]:
    """CPU seconds so far of this process and of every live process under it, by pid
    (each with its reaped children's)."""
    import psutil

    me = psutil.Process()
    out = {}
    for p in (me, *me.children(recursive=True)):
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:  # ended meanwhile
            continue
        out[p.pid] = t.user + t.system + t.children_user + t.children_system
    return out


class Meter:
    """Wall time and CPU time of every process from its creation to :meth:`read`."""

    def __init__(self):
        self.before = cpu_by_process()
        self.t0 = time.perf_counter()

    def read(self) -> tuple[float, dict[int, float]]:
        wall = time.perf_counter() - self.t0
        now = cpu_by_process()
        return wall, {pid: cpu - self.before.get(pid, 0.0) for pid, cpu in now.items()}


@dataclass
class Row:
    """One way of running the experiment, over the repeats."""

    label: str
    key: str
    wall: list[float] = field(default_factory=list)
    cpu: list[dict[int, float]] = field(default_factory=list)  # pid -> CPU s, a repeat each
    start_cpu: list[float] = field(default_factory=list)  # starting the pool or cluster

    def add(self, meter: Meter) -> None:
        wall, cpu = meter.read()
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def cpu_total(self) -> float:
        return statistics.median(self.cpu_totals())

    def cpu_totals(self) -> list[float]:
        """The CPU seconds of all processes in each repeat."""
        return [sum(c.values()) for c in self.cpu]

    @property
    def cpu_batch(self) -> float:
        return statistics.median(c[os.getpid()] for c in self.cpu)

    def cpu_others(self) -> list[float]:
        """The other processes' CPU seconds in the last repeat, the busiest first."""
        others = [v for pid, v in self.cpu[-1].items() if pid != os.getpid() and v >= IDLE_S]
        return sorted(others, reverse=True)


@dataclass
class Way:
    """One way of running the experiment: ``work(k, backend)`` does repeat ``k`` (on a
    new backend from ``make``; None: in this process, ``backend`` None); ``made(k)``
    is where it wrote its store, if it writes one."""

    label: str
    key: str
    work: object
    make: object = None
    made: object = None


def _time(row: Row, way: Way, k: int) -> None:
    """Time repeat ``k`` of ``way`` into ``row``. On a backend, a new and warmed-up one
    whose processes' CPU is read before it closes (then they are still there to be
    counted); the store of repeat ``k - 1`` is deleted once this one has been timed."""
    if way.make is None:
        meter = Meter()
        way.work(k, None)
        row.add(meter)
    else:
        start = Meter()
        with way.make() as backend:
            backend.warm_up()
            row.start_cpu.append(sum(start.read()[1].values()))
            meter = Meter()
            way.work(k, backend)
            row.add(meter)
    if way.made is not None and k > 0:
        shutil.rmtree(way.made(k - 1), ignore_errors=True)


def bench(repeats: int, replicates: int, dask: bool) -> None:
    import sim.batch
    from sim.batch.driver import auto_chunk_size
    from sim.batch.executors import Dask, LocalProcesses, default_workers

    exp = experiment(replicates)
    n = len(exp.arms) * replicates
    workers = default_workers()
    machine("start")
    print(
        f"{n} runs: {', '.join(a.name for a in exp.arms)} x {replicates} seeds "
        f"(baseline scenario, {exp.arms[0].scenario.spec.time.start} on, indices only); "
        f"{workers} workers; {repeats} repeat(s) of every way in turn, medians"
    )
    plain_loop(experiment(4))  # warm up: imports, compiled worlds
    # the chunks the batches will cut (their own probe), for the floors that store
    sizes = {w: auto_chunk_size(exp, n, w) for w in (1, workers)}
    print(
        f"chunks of {sizes[1]} runs in one process, {sizes[workers]} on {workers} workers "
        "(as the batches choose them; the floors that store cut the same)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="mv-batch-bench-"))

    def into(name: str):
        """Where repeat ``k`` of NAME writes: ``tmp/NAME-k``."""
        return lambda k: tmp / f"{name}-{k}"

    def batch_into(name: str):
        """The batch into ``tmp/NAME-k``, on ``backend`` (none: ``--workers 1``)."""

        def work(k: int, backend) -> None:
            opts = {"backend": backend} if backend is not None else {"workers": 1}
            sim.batch.run(exp, into(name)(k), progress=False, **opts)

        return work

    def pool():
        return LocalProcesses(workers)

    ways = [
        Way("plain loop (engine only)", "plain", lambda k, b: plain_loop(exp)),
        Way(
            "plain loop, parts written", "plain_written",
            lambda k, b: plain_written(exp, into("written")(k), sizes[1]), made=into("written"),
        ),
        Way("--workers 1 (in process)", "in_process", batch_into("inproc"), made=into("inproc")),
        Way(
            f"plain loop split, {workers} processes", "plain_split",
            lambda k, b: plain_split(exp, b), pool,
        ),
        Way(
            "plain loop split, parts written", "split_written",
            lambda k, b: split_written(exp, b, into("split-written")(k), sizes[workers]), pool,
            into("split-written"),
        ),
        Way(f"local processes ({workers})", "local_processes", batch_into("procs"), pool,
            into("procs")),
    ]  # fmt: skip
    if dask:
        ways.append(Way(
            f"dask LocalCluster ({workers} workers)", "dask_local_cluster", batch_into("dask"),
            lambda: Dask(local_workers=workers), into("dask"),
        ))  # fmt: skip
    rows = [Row(w.label, w.key) for w in ways]
    try:
        for k in range(repeats):  # the ways in turn, so that a slow spell hits them alike
            for way, row in zip(ways, rows, strict=True):
                _time(row, way, k)
        _check_same_tables(tmp, repeats - 1, dask)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _print_rows(rows, n)
    print("tables_identical=yes")
    machine("end")


def _check_same_tables(tmp: Path, k: int, dask: bool) -> None:
    """The last repeat's batches made identical tables (an AssertionError shows where not)."""
    import pandas as pd

    import sim.batch

    names = ["inproc", "procs"] + (["dask"] if dask else [])
    tables = {name: sim.batch.load(tmp / f"{name}-{k}").indices for name in names}
    for name, t in tables.items():
        pd.testing.assert_frame_equal(tables["inproc"], t, check_exact=True, obj=name)


def _print_rows(rows: list[Row], n: int) -> None:
    """The table, then every figure as ``key=value`` (medians over the repeats)."""
    by = {r.key: r for r in rows}
    plain, split = by["plain"], by["plain_split"]
    print(
        f"{'how':<32} {'wall s':>7} {'runs/s':>7} {'CPU s':>7} {'batch':>7}  "
        f"{'CPU s of the others (start apart)':<36}  overhead (against the split loop; "
        "against the same work stored)"
    )
    for row in rows:
        wall = statistics.median(row.wall)
        others = ", ".join(f"{v:.2f}" for v in row.cpu_others()) or "-"
        if row.start_cpu:
            others += f" (start {statistics.median(row.start_cpu):.1f})"
        overhead = "-" if row is plain else f"{_overhead(row, plain):+.1f}% CPU"
        if row.start_cpu and row is not split:
            overhead += f" ({_overhead(row, split):+.1f}%)"
        if (floor := _stored_floor(row, by)) is not None:
            overhead += f" [{_overhead(row, floor):+.1f}%]"
        print(
            f"{row.label:<32} {wall:7.2f} {n / wall:7.0f} {row.cpu_total:7.2f} "
            f"{row.cpu_batch:7.2f}  {others:<36}  {overhead}"
        )
    for row in rows:
        _print_keys(row, plain, split)
        if (floor := _stored_floor(row, by)) is not None:
            print(f"overhead_{row.key}_vs_stored_pct={_overhead(row, floor):.1f}")
            paired = _paired_overheads(row, floor)
            print(f"overhead_{row.key}_vs_stored_paired_pct={statistics.median(paired):.1f}")
            print(
                f"overhead_{row.key}_vs_stored_paired_range_pct={min(paired):.1f},{max(paired):.1f}"
            )
    print(
        f"storing the parts costs {_overhead(by['plain_written'], plain):+.1f}% CPU over the "
        "plain loop in one process, "
        f"{_overhead(by['split_written'], split):+.1f}% over the split loop; against the same "
        "work stored by as many processes, the executors cost "
        + ", ".join(
            f"{r.label} {_overhead(r, floor):+.1f}%"
            for r in rows
            if (floor := _stored_floor(r, by)) is not None
        )
    )
    print(
        "the same, repeat by repeat (each against its floor timed in the same repeat, so "
        "that a slow spell of the machine hits both): "
        + ", ".join(
            f"{r.label} median {statistics.median(p):+.1f}% (from {min(p):+.1f}% to {max(p):+.1f}%)"
            for r in rows
            if (floor := _stored_floor(r, by)) is not None and (p := _paired_overheads(r, floor))
        )
    )


def _paired_overheads(row: Row, floor: Row) -> list[float]:
    """``row``'s CPU beyond ``floor``'s in each repeat, in percent of ``floor``'s in the
    same repeat (the ways of a repeat run one after the other)."""
    return [
        100 * (mine - base) / base
        for mine, base in zip(row.cpu_totals(), floor.cpu_totals(), strict=True)
    ]


def _stored_floor(row: Row, by: dict[str, Row]) -> Row | None:
    """The same work as ``row``'s, computed and stored by as many processes with no
    executor (None: ``row`` is a floor itself)."""
    if row.key == "in_process":
        return by["plain_written"]
    if row.key in ("local_processes", "dask_local_cluster"):
        return by["split_written"]
    return None


def _print_keys(row: Row, plain: Row, split: Row) -> None:
    """One row's figures as ``key=value`` lines."""
    print(f"{row.key}_wall_s={statistics.median(row.wall):.3f}")
    print(f"{row.key}_cpu_s={row.cpu_total:.3f}")
    print(f"{row.key}_cpu_batch_process_s={row.cpu_batch:.3f}")
    if row.start_cpu:
        print(f"{row.key}_cpu_per_process_s={','.join(f'{v:.3f}' for v in row.cpu_others())}")
        print(f"{row.key}_start_cpu_s={statistics.median(row.start_cpu):.3f}")
    if row is not plain:
        print(f"overhead_{row.key}_pct={_overhead(row, plain):.1f}")
        speedup = statistics.median(plain.wall) / statistics.median(row.wall)
        print(f"wall_speedup_{row.key}={speedup:.2f}")
    if row.start_cpu and row is not split:
        print(f"overhead_{row.key}_vs_plain_split_pct={_overhead(row, split):.1f}")


def _overhead(row: Row, floor: Row) -> float:
    """The CPU ``row`` takes beyond ``floor``'s, in percent of ``floor``'s."""
    return 100 * (row.cpu_total - floor.cpu_total) / floor.cpu_total


def dask_idle(seconds: float, workers: int) -> None:
    """The CPU seconds a second that an idle LocalCluster's processes take (this one:
    scheduler, client and nannies; the workers), with Dask's default settings and with
    :data:`~sim.batch.executors.LOCAL_CLUSTER_CONFIG`."""
    from distributed import Client

    from sim.batch.executors import LOCAL_CLUSTER_CONFIG, local_cluster

    machine("start")
    print(f"an idle Dask LocalCluster of {workers} workers, {seconds:g} s each:")
    for key, label, config in (
        ("default", "Dask's default settings", {}),
        ("batch", "a batch's own (LOCAL_CLUSTER_CONFIG)", LOCAL_CLUSTER_CONFIG),
    ):
        with local_cluster(workers, config) as cluster, Client(cluster, set_as_default=False):
            time.sleep(1.0)  # the workers settle after starting
            meter = Meter()
            time.sleep(seconds)
            wall, cpu = meter.read()
        total = sum(cpu.values()) / wall
        print(f"  {label:<40} {total:.3f} CPU s per s "
              f"(this process {cpu[os.getpid()] / wall:.3f})")  # fmt: skip
        print(f"dask_idle_{key}_cpu_s_per_s={total:.4f}")
    machine("end")


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


def _load_child(path: str, selection: str) -> None:
    import sim.batch

    t0 = time.process_time()
    if selection:
        state, date, column = selection.split(",")
        res = sim.batch.load(path, states=[state], dates=[date], columns=[column])
    else:
        res = sim.batch.load(path)
    cpu = time.process_time() - t0
    print(len(res.indices), cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def load_bench(path: str, state: str, date: str, column: str) -> None:
    """``sim.batch.load`` of a batch whole and cut to one state, date and column, each in
    a fresh process: rows, CPU time and peak resident memory."""
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    print(f"reading {path} ({size / 2**20:.0f} MiB on disk), each in a fresh process:")
    for label, selection in (
        ("whole", ""),
        (f"{state}, {date}, {column}", f"{state},{date},{column}"),
    ):
        res = subprocess.run(
            [sys.executable, "-m", "sim.tools.bench_batch", "--load-child", path, selection],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows, cpu, peak = res.stdout.strip().splitlines()[-1].split()
        key = "whole" if not selection else "selected"
        print(f"  {label}: {int(rows):,} index rows, {float(cpu):.1f} s CPU, "
              f"peak {int(peak) / 1024:.0f} MiB")  # fmt: skip
        print(f"load_{key}_rows={rows}")
        print(f"load_{key}_cpu_s={float(cpu):.2f}")
        print(f"load_{key}_peak_mib={int(peak) / 1024:.0f}")


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
    ap.add_argument(
        "--dask-idle", type=float, metavar="SECONDS", nargs="?", const=10.0,
        help="CPU an idle LocalCluster takes, Dask's settings and a batch's (10 s each)",
    )  # fmt: skip
    ap.add_argument(
        "--load", metavar="DIR",
        help="time and peak memory of sim.batch.load(DIR), whole and cut (--select)",
    )  # fmt: skip
    ap.add_argument(
        "--select", default="AZ,2030-12-31,alignment_index", metavar="STATE,DATE,COLUMN",
        help="the cut of --load (default AZ,2030-12-31,alignment_index)",
    )  # fmt: skip
    ap.add_argument("--load-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.load_child:
        _load_child(*args.load_child)
        return 0
    if args.load:
        load_bench(args.load, *args.select.split(","))
        return 0
    if args.memory_child:
        _memory_child(int(args.memory_child[0]), args.memory_child[1])
        return 0
    if args.memory:
        memory([10_000, 100_000])
        return 0
    try:
        import psutil  # noqa: F401
    except ImportError:
        print("the batch bench counts every process's CPU with psutil: pip install psutil")
        return 1
    try:
        import distributed  # noqa: F401

        dask = not args.no_dask
    except ImportError:
        print("(Dask not installed: skipping the LocalCluster)")
        dask = False
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if args.dask_idle is not None:
        if not dask:
            print("--dask-idle needs Dask: pip install 'multivector[dask]'")
            return 1
        from sim.batch.executors import default_workers

        dask_idle(args.dask_idle, default_workers())
        return 0
    bench(args.repeats, args.replicates, dask)
    return 0


if __name__ == "__main__":
    sys.exit(main())
