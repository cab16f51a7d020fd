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


def run_table(experiment: Experiment) -> pd.DataFrame:
    """Every run: run_id, arm, point, replicate, seed, seed_entropy, seed_spawn_key, and
    the point's parameter values. Ordered by arm, point, replicate (run_id is the row).

    Built column by column (no Python object per run), so the table of 100,000 runs is a
    few MB (texts as Arrow strings or categories, not Python objects).

    Raises:
        UserError: the experiment asks for more than :data:`MAX_RUNS` runs.
    """
    check_size(experiment)
    spec = experiment.spec
    pts = points(experiment)
    n_pts, reps, n_arms = len(pts), spec.replicates, len(experiment.arms)
    point = np.repeat(np.arange(n_pts, dtype=np.int64), reps)
    replicate = np.tile(np.arange(reps, dtype=np.int64), n_pts)
    if spec.seeds == "per_point":
        seeds = np.array(
            [run_seed(spec.seed, (p, k)) for p in range(n_pts) for k in range(reps)],
            dtype=np.int64,
        )
        key = np.char.add(np.char.add(np.char.mod("%d", point), ","), np.char.mod("%d", replicate))
    else:
        per_rep = np.array([run_seed(spec.seed, (k,)) for k in range(reps)], dtype=np.int64)
        seeds = per_rep[replicate]
        key = np.char.mod("%d", replicate)
    per_arm = n_pts * reps
    runs = pd.DataFrame(
        {
            "run_id": np.arange(n_arms * per_arm, dtype=np.int64),
            "arm": pd.Categorical.from_codes(
                np.repeat(np.arange(n_arms), per_arm), categories=[a.name for a in experiment.arms]
            ),
            "point": np.tile(point, n_arms),
            "replicate": np.tile(replicate, n_arms),
            "seed": np.tile(seeds, n_arms),
            "seed_entropy": pd.Categorical.from_codes(
                np.zeros(n_arms * per_arm, dtype=np.int8), categories=[str(spec.seed)]
            ),
            "seed_spawn_key": pd.array(np.tile(key, n_arms), dtype="str"),
        }
    )
    for col in pts.columns[1:]:  # the design parameters, by point
        runs[col] = pts[col].to_numpy()[runs["point"].to_numpy()]
    return runs


def overrides_of(runs: pd.DataFrame, experiment: Experiment) -> list[dict[str, float]]:
    """The scenario overrides of each run (its point's parameter values)."""
    d = experiment.spec.design
    cols = [*d.parameters, *d.complement]
    if not cols:
        return [{} for _ in range(len(runs))]
    values = runs[cols].to_numpy(dtype=float)
    return [dict(zip(cols, map(float, row), strict=True)) for row in values]
