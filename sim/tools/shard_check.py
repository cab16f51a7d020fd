"""Check a sharded batch against unsharded runs of the same experiment.

    python -m sim.tools.shard_check DIR [--sample 2000] [--prefix PREFIX]

``DIR`` is a directory of shards (``multivector batch EXP --out DIR --shard K/M`` for
every K), of an experiment with one arm and no design parameters (replicates of one
scenario, such as ``scenarios/experiments/million.yaml``). It reads the union with
``sim.batch.load`` (timed, with its peak memory and the store's size on disk) and checks:

- a sample of runs drawn across every shard, run again by the ensemble engine from their
  seeds, in one unsharded ensemble: their indices must equal the stored ones;
- with ``--prefix PREFIX``, an unsharded batch of the same experiment with fewer
  replicates (``multivector batch`` without ``--shard``; a run's seed comes from the root
  seed and its replicate alone, so its runs are the union's first runs): its ``runs``,
  ``indices`` and ``shocks`` tables must equal the union's first rows, dtype for dtype.

Prints ``key=value`` lines; exit code 1 if a table differs.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ["run_id", "step", "state"]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _same(a: pd.Series, b: pd.Series) -> bool:
    """The same values (floats bit for bit, NaN where NaN; dates at any resolution)."""
    if pd.api.types.is_float_dtype(a):
        return np.array_equal(a.to_numpy().view(np.int64), b.to_numpy().view(np.int64))
    if pd.api.types.is_datetime64_any_dtype(a):
        return np.array_equal(a.to_numpy("datetime64[ns]"), b.to_numpy("datetime64[ns]"))
    return np.array_equal(a.astype(str).to_numpy(), b.astype(str).to_numpy())


def _sample_equal(union, n: int) -> bool:
    """Rerun ``n`` runs drawn across the union in one ensemble; are their indices the
    stored ones?"""
    from sim.batch.experiment import load_experiment
    from sim.drivers.ensemble import run_ensemble

    manifest = union.manifest
    exp = load_experiment(Path(manifest["experiment"]["path"]))
    if len(exp.arms) != 1 or exp.spec.design.parameters:
        raise SystemExit("shard_check: only an experiment of one arm without a design")
    runs = union.runs
    rng = np.random.default_rng(0)
    picked = np.sort(rng.choice(len(runs), size=min(n, len(runs)), replace=False))
    chosen = runs.iloc[picked]
    shards = chosen["shard"].nunique()
    again = run_ensemble(
        exp.arms[0].scenario,
        [int(s) for s in chosen["seed"]],
        keep="indices",
        dates=list(exp.spec.dates) if exp.spec.dates else None,
    ).indices
    again.insert(0, "run_id", chosen["run_id"].to_numpy()[again["replicate"].to_numpy()])
    stored = union.indices[union.indices["run_id"].isin(chosen["run_id"])]
    stored = stored.sort_values(KEYS, ignore_index=True)
    again = again.sort_values(KEYS, ignore_index=True)
    cols = ["run_id", "seed", "step", "date", *stored.columns[stored.columns.get_loc("state") :]]
    same = len(stored) == len(again) and all(_same(stored[c], again[c]) for c in cols)
    print(f"sample: {len(chosen):,} runs from {shards} shards rerun unsharded: "
          f"{'identical' if same else 'DIFFERENT'} ({len(stored):,} index rows)")  # fmt: skip
    print(f"sample_runs={len(chosen)}")
    print(f"sample_shards={shards}")
    print(f"sample_identical={same}")
    return same


def _prefix_equal(union, prefix_dir: Path) -> bool:
    """Is an unsharded batch of the same experiment with fewer replicates the union's
    first runs, table for table?"""
    from sim.batch import load

    prefix = load(prefix_dir, ties=False)
    n = len(prefix.runs)
    same = True
    for name in ("runs", "indices", "shocks"):
        mine = getattr(prefix, name)
        theirs = getattr(union, name)
        theirs = theirs[theirs["run_id"] < n].reset_index(drop=True)
        if name == "runs":  # bookkeeping of the stores, not results
            drop = ["chunk", "shard", "wall_s"]
            mine = mine.drop(columns=drop, errors="ignore")
            theirs = theirs.drop(columns=drop, errors="ignore")
        try:
            pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
        except AssertionError as exc:
            print(f"prefix: {name} differ: {str(exc).splitlines()[0]}")
            same = False
    print(f"prefix: the unsharded batch of {n:,} runs is the union's first {n:,} runs: "
          f"{'identical' if same else 'DIFFERENT'} (runs, indices, shocks)")  # fmt: skip
    print(f"prefix_runs={n}")
    print(f"prefix_identical={same}")
    return same


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sim.tools.shard_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("dir", type=Path, help="a directory of shards")
    ap.add_argument("--sample", type=int, default=2000, help="runs to rerun (default 2000)")
    ap.add_argument("--prefix", type=Path, help="an unsharded batch with fewer replicates")
    args = ap.parse_args(argv)
    from sim.batch import load

    t0, c0 = time.perf_counter(), time.process_time()
    union = load(args.dir, ties=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shards = union.manifest["shards"]
    size = _size(args.dir)
    print(f"{args.dir}: {len(union.runs):,} runs in {shards['count']} shards, "
          f"{len(union.indices):,} index rows, {size / 2**30:.2f} GiB on disk")  # fmt: skip
    print(f"load: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak:,.0f} MiB")
    print(f"runs={len(union.runs)}")
    print(f"shards={shards['count']}")
    print(f"store_gib={size / 2**30:.2f}")
    print(f"load_wall_s={wall:.1f}")
    print(f"load_cpu_s={cpu:.1f}")
    print(f"load_peak_mib={peak:.0f}")
    ok = _sample_equal(union, args.sample)
    if args.prefix is not None:
        ok = _prefix_equal(union, args.prefix) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
