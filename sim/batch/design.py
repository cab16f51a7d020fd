"""Design points and run seeds.

Design kinds (``design.kind`` in an experiment file):

- ``none``: one point, the scenarios as written.
- ``grid``: every combination of each parameter's ``values`` (or ``levels`` evenly spaced
  values from ``low`` to ``high``), the first parameter varying slowest.
- ``lhs``: ``samples`` points of a Latin hypercube over the ``[low, high]`` box
  (SALib ``sample.latin``; McKay, Beckman & Conover 1979).
- ``sobol``: the Saltelli scheme for Sobol indices (SALib ``sample.sobol``: a scrambled
  Sobol sequence; Saltelli 2002, Saltelli et al. 2010): ``samples`` base points give
  ``samples * (D + 2)`` points for D parameters (``samples * (2D + 2)`` with
  ``second_order``), in the order ``SALib.analyze.sobol`` expects.

``complement: {target: [p, q]}`` sets ``target = 1 - p - q`` at every point, so three
payoff weights that must sum to 1 can be designed by varying two.

Seeds. The root seed is a :class:`numpy.random.SeedSequence` entropy; the run of
replicate ``k`` (at design point ``p``) gets the child ``SeedSequence(root,
spawn_key=(k,))`` (``(p, k)`` when the experiment says ``seeds: per_point``), and its
integer seed is that child's first 63 bits. The same replicate in every arm (and, with
``seeds: common``, at every design point) has the same seed: common random numbers.
``multivector run SCENARIO --seed S`` reproduces a run of a design-free experiment.
The design's own random draws (LHS, scrambling) use ``SeedSequence(root, spawn_key=(2**32,))``.

Size. An experiment asks for arms x design points x replicates runs, counted from the
file before anything is built (:func:`run_count`); more than :data:`MAX_RUNS` is refused
(:func:`check_size`, a :class:`~sim.errors.UserError`) before the design is built.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from sim.batch.experiment import DesignSpec, Experiment
from sim.errors import UserError

DESIGN_SPAWN_KEY = 2**32
#: The most runs one experiment may ask for (arms x design points x replicates): its run
#: table alone is about 100 bytes a run in memory and on disk, and at the batch's usual
#: rates ten million runs are days of work. Split a bigger study into experiments.
MAX_RUNS = 10_000_000


def point_count(design: DesignSpec) -> int:
    """How many design points ``design`` gives, counted without building them."""
    if design.kind == "none":
        return 1
    if design.kind == "grid":
        return math.prod(
            len(p.values) if p.values is not None else (p.levels or 0)
            for p in design.parameters.values()
        )
    samples = design.samples or 0
    if design.kind == "sobol":
        d = len(design.parameters)
        return samples * (2 * d + 2 if design.second_order else d + 2)
    return samples


def run_count(experiment: Experiment) -> int:
    """How many runs ``experiment`` asks for: arms x design points x replicates."""
    spec = experiment.spec
    return len(experiment.arms) * point_count(spec.design) * spec.replicates


def check_size(experiment: Experiment) -> int:
    """Refuse an experiment of more than :data:`MAX_RUNS` runs; returns its run count.

    Raises:
        UserError: it asks for too many (the message gives the product).
    """
    spec = experiment.spec
    points = point_count(spec.design)
    n = len(experiment.arms) * points * spec.replicates
    if n > MAX_RUNS:
        where = experiment.path or experiment.name
        raise UserError(
            f"{where}: the experiment asks for {n:,} runs ({len(experiment.arms)} arm(s) x "
            f"{points:,} design point(s) x {spec.replicates:,} replicate(s)); at most "
            f"{MAX_RUNS:,} runs per batch: use fewer replicates, samples or levels, or "
            "split the study into several experiments"
        )
    return n


def problem(design: DesignSpec) -> dict:
    """The SALib problem dict of a design (names and bounds, in file order)."""
    names = list(design.parameters)
    return {
        "num_vars": len(names),
        "names": names,
        "bounds": [[design.parameters[n].low, design.parameters[n].high] for n in names],
    }


def midpoint_overrides(design: DesignSpec) -> dict[str, float]:
    """One valid-looking point (range midpoints, first grid values): for checking paths."""
    out = {}
    for name, p in design.parameters.items():
        out[name] = p.values[0] if p.values is not None else (p.low + p.high) / 2
    return _with_complement(design, out)


def _with_complement(design: DesignSpec, point: dict[str, float]) -> dict[str, float]:
    for target, sources in design.complement.items():
        point[target] = round(1.0 - sum(point[s] for s in sources), 12)
    return point


def _design_seed(root: int) -> int:
    ss = np.random.SeedSequence(root, spawn_key=(DESIGN_SPAWN_KEY,))
    return int(ss.generate_state(1, np.uint32)[0])


def points(experiment: Experiment) -> pd.DataFrame:
    """The design points: one row per point, one column per parameter (and complement).

    Raises:
        UserError: the experiment asks for more than :data:`MAX_RUNS` runs.
    """
    check_size(experiment)
    d = experiment.spec.design
    names = list(d.parameters)
    if d.kind == "none":
        X = np.empty((1, 0))
    elif d.kind == "grid":
        axes = []
        for n in names:
            p = d.parameters[n]
            axes.append(p.values if p.values is not None else np.linspace(p.low, p.high, p.levels))
        X = np.array(list(itertools.product(*axes)), dtype=float)
    elif d.kind == "lhs":
        from SALib.sample import latin

        X = latin.sample(problem(d), d.samples, seed=_design_seed(experiment.spec.seed))
    else:
        from SALib.sample import sobol

        X = sobol.sample(
            problem(d),
            d.samples,
            calc_second_order=d.second_order,
            scramble=True,
            seed=_design_seed(experiment.spec.seed),
        )
    table = pd.DataFrame(X, columns=names)
    for target, sources in d.complement.items():
        table[target] = (1.0 - table[sources].sum(axis=1)).round(12)
    table.insert(0, "point", np.arange(len(table), dtype=np.int64))
    return table


def run_seed(root: int, spawn_key: tuple[int, ...]) -> int:
    """The integer seed of one run: the first 63 bits of ``SeedSequence(root, spawn_key)``."""
    ss = np.random.SeedSequence(root, spawn_key=spawn_key)
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def run_table(experiment: Experiment, run_ids: range | None = None) -> pd.DataFrame:
    """Every run (or the runs ``run_ids``, a contiguous range: a shard's): run_id, arm,
    point, replicate, seed, seed_entropy, seed_spawn_key, and the point's parameter
    values. Ordered by arm, point, replicate; run_id is the row of the whole table.

    A run's row depends on its run id alone (its arm, point and replicate follow from
    it, its seed from the root seed and its replicate, or point and replicate), so the
    rows of a range equal the same rows of the whole table, dtypes included. Built
    column by column (no Python object per run), so the table of 100,000 runs is a few
    MB (texts as Arrow strings or categories, not Python objects); the seeds are derived
    only for the runs asked for.

    Raises:
        UserError: the experiment asks for more than :data:`MAX_RUNS` runs.
    """
    n_runs = check_size(experiment)
    spec = experiment.spec
    pts = points(experiment)
    reps = spec.replicates
    ids = np.arange(n_runs, dtype=np.int64) if run_ids is None else _ids_in(run_ids, n_runs)
    arm, within = np.divmod(ids, len(pts) * reps)  # within: the run's place in its arm
    point, replicate = np.divmod(within, reps)
    seeds, key = _seeds(spec.seed, reps, within, per_point=spec.seeds == "per_point")
    runs = pd.DataFrame(
        {
            "run_id": ids,
            "arm": pd.Categorical.from_codes(arm, categories=[a.name for a in experiment.arms]),
            "point": point,
            "replicate": replicate,
            "seed": seeds,
            "seed_entropy": pd.Categorical.from_codes(
                np.zeros(len(ids), dtype=np.int8), categories=[str(spec.seed)]
            ),
            "seed_spawn_key": pd.array(key, dtype="str"),
        }
    )
    for col in pts.columns[1:]:  # the design parameters, by point
        runs[col] = pts[col].to_numpy()[point]
    return runs


def _ids_in(run_ids: range, n_runs: int) -> np.ndarray:
    """The run ids of a contiguous range, checked to lie in ``0..n_runs - 1``."""
    if run_ids.step != 1 or run_ids.start < 0 or run_ids.stop > n_runs:
        raise ValueError(f"run ids {run_ids} are not a contiguous range in 0..{n_runs - 1}")
    return np.arange(run_ids.start, run_ids.stop, dtype=np.int64)


def _seeds(root: int, reps: int, within: np.ndarray, per_point: bool):
    """The seeds and spawn keys of runs at places ``within`` their arm (point * reps +
    replicate): each distinct seed derived once (the arms share them)."""
    places, at = np.unique(within, return_inverse=True)
    point, replicate = np.divmod(places, reps)
    if per_point:
        seeds = [run_seed(root, (int(p), int(k))) for p, k in zip(point, replicate, strict=True)]
        key = np.char.add(np.char.add(np.char.mod("%d", point), ","), np.char.mod("%d", replicate))
    else:
        reps_used, of_rep = np.unique(replicate, return_inverse=True)
        seeds = np.array([run_seed(root, (int(k),)) for k in reps_used], dtype=np.int64)[of_rep]
        key = np.char.mod("%d", replicate)
    return np.array(seeds, dtype=np.int64)[at], key[at]


def overrides_of(runs: pd.DataFrame, experiment: Experiment) -> list[dict[str, float]]:
    """The scenario overrides of each run (its point's parameter values)."""
    d = experiment.spec.design
    cols = [*d.parameters, *d.complement]
    if not cols:
        return [{} for _ in range(len(runs))]
    values = runs[cols].to_numpy(dtype=float)
    return [dict(zip(cols, map(float, row), strict=True)) for row in values]
