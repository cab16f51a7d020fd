"""Scenario discovery: which boxes of a batch's design inputs lead to an outcome of
interest, and which inputs matter most for it.

An analyst asks "when does Azerbaijan's tie to the EU fall below 0.3?". The batch's
runs are the cases; each carries the design parameters of its point (an ``lhs``,
``sobol`` or ``grid`` design, :mod:`sim.batch.design`) and one value of the outcome.
A comparison (:class:`Condition`, ``< 0.3``) marks the *cases of interest*.

**PRIM** (the patient rule induction method, Friedman and Fisher 1999, as used for
scenario discovery by Bryant and Lempert 2010; EMA Workbench's implementation, Kwakkel
2017) peels the input hypercube, a few per cent of the cases at a time, toward a box
that holds ever denser cases of interest, then pastes back what it can. Every box of
that *peeling trajectory* has:

- ``coverage``: the share of all cases of interest that fall in the box;
- ``density``: the share of the cases in the box that are of interest;
- ``mass``: the share of all cases that fall in the box;
- ``restricted``: how many inputs the box restricts (fewer is easier to read).

Coverage falls as density rises. :func:`choose_box` picks, among the boxes whose density
reaches a threshold (0.8 by default), the one with the largest coverage (ties: fewer
restricted inputs, then the earlier box); when none reaches it, the densest box, and
says so. Its limits are inclusive, as PRIM's are. Only the first box is sought (PRIM's
covering step, which looks for further boxes among the cases left out, is not run).

**Cases are runs, not design points.** Each finished run is one case, with its point's
inputs (and every replicate of a point is a case with the same inputs). The model is
stochastic: a density is then the probability that a run in the box ends in the
outcome of interest, seed noise included, which is what an analyst wants to know; the
mean over a point's replicates would hide that noise and make boxes look sharper than
the model is (and "the mean is below X" is not "a run is below X"). ``by="point"`` uses
the per-point mean instead, for designs with many replicates per point. Inputs derived
by ``complement:`` are left out: they are functions of the sampled ones, so the box
lives in the space that was sampled.

**Feature scoring** ranks the inputs by their importance for the outcome: extra trees
(Geurts, Ernst and Wehenkel 2006; EMA Workbench's ``get_ex_feature_scores``, one third of
the inputs tried per split, as Jaxa-Rozen and Kwakkel 2018 recommend) regressed on the
outcome's value, or classifying the cases of interest when a condition is given. The
scores are impurity-based importances and sum to 1; the out-of-bag R² (accuracy when
classifying) says how much of the outcome the inputs explain at all.

References:
    Friedman, J. H., Fisher, N. I. (1999). Bump hunting in high-dimensional data.
    Statistics and Computing 9(2), 123-143. doi:10.1023/A:1008894516817
    Bryant, B. P., Lempert, R. J. (2010). Thinking inside the box: a participatory,
    computer-assisted approach to scenario discovery. Technological Forecasting and
    Social Change 77(1), 34-49. doi:10.1016/j.techfore.2009.08.002
    Kwakkel, J. H. (2017). The Exploratory Modeling Workbench. Environmental Modelling &
    Software 96, 239-250. doi:10.1016/j.envsoft.2017.06.054
    Geurts, P., Ernst, D., Wehenkel, L. (2006). Extremely randomized trees. Machine
    Learning 63(1), 3-42. doi:10.1007/s10994-006-6226-1
    Jaxa-Rozen, M., Kwakkel, J. H. (2018). Tree-based ensemble methods for sensitivity
    analysis of environmental models. Environmental Modelling & Software 107, 245-266.
    doi:10.1016/j.envsoft.2018.06.011
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.outcomes import Outcome
from sim.errors import UserError

#: Density a chosen box must reach by default.
THRESHOLD = 0.8
#: ``by``: one case per run, or per design point (the mean over its replicates).
BY = ("run", "point")
#: The comparisons ``--where`` accepts, and how they read in file names.
OPERATORS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
#: A restriction whose quasi-p value (Bryant and Lempert 2010) is above this is reported
#: as weak: the box would be nearly as dense without it.
WEAK = 0.05
#: Trees of the extra-trees forest.
TREES = 100
_WHERE = re.compile(r"^\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_NEED_EMA = (
    "scenario discovery needs EMA Workbench, an optional extra that is not installed: "
    "`pip install 'multivector[discover]'`, or `./dev setup`"
)


@dataclass(frozen=True)
class Condition:
    """A comparison that marks the cases of interest: ``value op threshold``."""

    op: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.op} {self.value:g}"

    @property
    def slug(self) -> str:
        """For file names: ``lt_0.3``."""
        return f"{OPERATORS[self.op]}_{self.value:g}"

    def holds(self, values) -> np.ndarray:
        """A boolean array: which values meet the condition."""
        return _COMPARE[self.op](np.asarray(values, dtype=float), self.value)


def parse_condition(text: str, *, where: str = "--where") -> Condition:
    """Read ``< 0.3``, ``<= -0.1``, ``> 0.5`` or ``>= 1e-3``.

    Raises:
        UserError: anything else (naming ``where``, the option it came from).
    """
    m = _WHERE.match(str(text))
    if not m:
        raise UserError(
            f"{where} {text!r}: expected a comparison with a number, '< X', '<= X', '> X' "
            "or '>= X', e.g. '< 0.3' (quote it in the shell)"
        )
    return Condition(m.group(1), float(m.group(2)))


@dataclass
class Cases:
    """The cases of a batch for one outcome: one row per run (or design point).

    Attributes:
        x: the design parameters (sampled ones only), one column each.
        y: the outcome's value per case (same index as ``x``).
        outcome: the outcome (:class:`~sim.analysis.outcomes.Outcome`).
        arm: the arm; ``by``: ``run`` or ``point``.
        left_out: finished runs whose outcome is undefined (NaN), left out.
    """

    x: pd.DataFrame
    y: pd.Series
    outcome: Outcome
    arm: str
    by: str
    left_out: int = 0

    @property
    def text(self) -> str:
        """The outcome as given: ``tie AZ EU mean 2024..2025``, or for one the
        experiment file declares, ``eu_tie (tie AZ EU mean 2024..2025)``."""
        o = self.outcome
        return f"{o.name} ({o.canonical})" if o.name else o.text


def batch_cases(result, outcome, *, arm: str | None = None, by: str = "run") -> Cases:
    """The cases of ``result`` (a :class:`~sim.batch.results.BatchResult`) for an outcome
    of ``arm`` (default: the first arm).

    Args:
        outcome: an outcome text (:mod:`sim.analysis.outcomes`), the name of an outcome
            the experiment file declares, or an :class:`~sim.analysis.outcomes.Outcome`;
            evaluated by :func:`sim.batch.analysis.outcome`.
        by: ``run`` (one case per run) or ``point`` (the mean over its replicates).

    Raises:
        UserError: the batch has no design parameters (design ``none``), an unknown arm
            or ``by``, a bad outcome, or no finished run with a defined outcome.
    """
    from sim.batch import analysis

    if by not in BY:
        raise UserError(f"--by {by!r}: expected one of: {', '.join(BY)}")
    design = result.manifest.get("design") or {}
    params = list(design.get("parameters") or [])
    if not params:
        raise UserError(
            f"{result.path}: the batch has no design parameters (design "
            f"{design.get('kind', 'none')!r}); scenario discovery needs a batch whose "
            "experiment varies inputs (design: {kind: lhs, samples: N, parameters: ...}, "
            "or a sobol or grid design)"
        )
    arm = analysis.check_arm(result, arm or result.arms[0], "--arm")
    o = analysis.parse_outcome(outcome, result)
    values = analysis.outcome(result, o, arm).set_index("run_id")["value"]
    runs = result.runs.set_index("run_id")
    runs = runs[(runs["arm"] == arm) & (runs["status"] == "ok")]
    table = runs[["point", *params]].join(values.rename("value"), how="inner")
    defined = table["value"].notna()
    left_out = int((~defined).sum())
    table = table[defined]
    if by == "point":
        table = table.groupby("point").agg({**dict.fromkeys(params, "first"), "value": "mean"})
    if table.empty:
        raise UserError(
            f"{result.path}: no finished run of arm {arm!r} has a value of {o.text!r}"
            + (f" ({left_out} runs have none: NaN)" if left_out else "")
        )
    x = table[params].astype(float)
    return Cases(x, table["value"].astype(float), o, arm, by, left_out)


def of_interest(cases: Cases, condition: Condition) -> np.ndarray:
    """Which cases meet ``condition``, checked to be neither none nor all of them.

    Raises:
        UserError: no case, or every case, meets the condition (nothing to discover).
    """
    y = condition.holds(cases.y)
    lo, hi = float(cases.y.min()), float(cases.y.max())
    span = f"its values run from {lo:.3g} to {hi:.3g} over {len(y):,} {cases.by}s"
    if not y.any():
        raise UserError(
            f"--where {condition.text!r}: no {cases.by} of arm {cases.arm!r} has "
            f"{cases.text} {condition.text} ({span}); nothing to discover"
        )
    if y.all():
        raise UserError(
            f"--where {condition.text!r}: every {cases.by} of arm {cases.arm!r} has "
            f"{cases.text} {condition.text} ({span}); nothing to discover"
        )
    return y


@dataclass
class Discovery:
    """PRIM's result: the peeling trajectory and the chosen box.

    Attributes:
        trajectory: one row per box: box, coverage, density, mass, n (cases in the
            box), of_interest (cases of interest in it), restricted (inputs restricted),
            dimensions (their names, ``; ``-separated), chosen.
        limits: the chosen box, one row per input (restricted ones first): parameter,
            low, high (inclusive), range_low, range_high (the inputs' range over the
            cases), restricted, qp_low, qp_high (the quasi-p values of a restricted
            limit, Bryant and Lempert 2010; NaN for an unrestricted one).
        chosen: the chosen box's number in ``trajectory``.
        threshold: the density asked for; ``meets_threshold``: whether the chosen box
            reaches it.
        cases, of_interest: how many cases, and of interest, there were.
    """

    trajectory: pd.DataFrame
    limits: pd.DataFrame
    chosen: int
    threshold: float
    meets_threshold: bool
    cases: int
    of_interest: int

    @property
    def box(self) -> pd.Series:
        """The chosen box's row of the trajectory."""
        return self.trajectory.loc[self.chosen]

    def text(self) -> str:
        """The chosen box in words: ``model.tie_cost <= 0.12 and ...: coverage 0.71,
        density 0.86``, and the rule that chose it."""
        b = self.box
        words = describe_limits(self.limits)
        head = (
            f"{words}: coverage {b['coverage']:.2f}, density {b['density']:.2f}\n"
            f"  (box {self.chosen} of the {len(self.trajectory)} on the peeling trajectory, box 0 "
            f"the whole design: "
            f"{int(b['n']):,} of {self.cases:,} cases (mass {b['mass']:.2f}), holding "
            f"{int(b['of_interest']):,} of the {self.of_interest:,} cases of interest; "
            f"{self.of_interest / self.cases:.2f} of all cases are of interest)"
        )
        if self.meets_threshold:
            rule = (
                f"  chosen: the largest coverage among the boxes with density >= {self.threshold:g}"
            )
        else:
            rule = (
                f"  no box reaches density {self.threshold:g}; chosen: the densest box "
                "(lower --threshold to trade density for coverage)"
            )
        weak = self.limits[self.limits[["qp_low", "qp_high"]].max(axis=1) > WEAK]
        if len(weak):
            names = ", ".join(
                f"{r.parameter} ({max(r.qp_low, r.qp_high):.2g})"
                for r in weak.fillna(0).itertuples()
            )
            rule += f"\n  weak restrictions (quasi-p above {WEAK:g}): {names}"
        return head + "\n" + rule


def describe_limits(limits: pd.DataFrame) -> str:
    """The restricted limits in words: ``0.2 <= a <= 0.4 and b >= 0.5``."""
    parts = []
    for r in limits[limits["restricted"]].itertuples():
        low, high = r.low > r.range_low, r.high < r.range_high
        if low and high:
            parts.append(f"{r.low:.3g} <= {r.parameter} <= {r.high:.3g}")
        elif low:
            parts.append(f"{r.parameter} >= {r.low:.3g}")
        else:
            parts.append(f"{r.parameter} <= {r.high:.3g}")
    return " and ".join(parts) or "the whole design (no input restricted)"


def prim(
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    threshold: float = THRESHOLD,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> Discovery:
    """Find the first PRIM box of the cases of interest ``y`` over the inputs ``x``.

    Args:
        x: the inputs, one float column each, one row per case.
        y: booleans, True for a case of interest (same length as ``x``).
        threshold: the density the chosen box must reach (in (0, 1]).
        peel_alpha, paste_alpha: the share of cases peeled off (pasted back) per step.
        mass_min: the smallest box, as a share of the cases.

    Raises:
        UserError: a threshold outside (0, 1], or EMA Workbench is not installed.
    """
    if not 0 < threshold <= 1:
        raise UserError(f"--threshold {threshold:g}: expected a density in (0, 1]")
    ema_prim = _ema("prim")
    y = np.asarray(y, dtype=bool)
    x = x.reset_index(drop=True).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EMA's own deprecation warnings under pandas 3
        finder = ema_prim.Prim(
            x, y.astype(int), peel_alpha=peel_alpha, paste_alpha=paste_alpha, mass_min=mass_min
        )
        box = finder.find_box()
    init = finder.box_init
    traj = box.peeling_trajectory.reset_index(drop=True)
    dims = [_restricted(lims, init) for lims in box.box_lims]
    trajectory = pd.DataFrame(
        {
            "box": np.arange(len(traj)),
            "coverage": traj["coverage"].astype(float),
            "density": traj["density"].astype(float),
            "mass": traj["mass"].astype(float),
            "n": traj["n"].astype(int),
            "of_interest": traj["k"].astype(int),
            "restricted": [len(d) for d in dims],
            "dimensions": ["; ".join(d) for d in dims],
        }
    )
    chosen, meets = choose_box(trajectory, threshold)
    trajectory["chosen"] = trajectory["box"] == chosen
    limits = _limits(box.box_lims[chosen], init, box.p_values[chosen], dims[chosen])
    return Discovery(trajectory, limits, chosen, threshold, meets, len(y), int(y.sum()))


def choose_box(trajectory: pd.DataFrame, threshold: float) -> tuple[int, bool]:
    """The box that reaches ``threshold`` density with the largest coverage (ties: fewer
    restricted inputs, then the earlier box), and True; when no box reaches it, the
    densest box (ties: the larger coverage, then the earlier box), and False."""
    t = trajectory
    ok = t[t["density"] >= threshold - 1e-12]
    if len(ok):
        best = ok.sort_values(["coverage", "restricted", "box"], ascending=[False, True, True])
        return int(best["box"].iloc[0]), True
    best = t.sort_values(["density", "coverage", "box"], ascending=[False, False, True])
    return int(best["box"].iloc[0]), False


def _restricted(lims: pd.DataFrame, init: pd.DataFrame) -> list[str]:
    """The inputs a box restricts: those whose limits differ from the whole range."""
    return [c for c in init.columns if not np.array_equal(lims[c].to_numpy(), init[c].to_numpy())]


def _limits(lims: pd.DataFrame, init: pd.DataFrame, qp: dict, restricted: list[str]):
    rows = []
    for c in init.columns:
        q = [np.nan if v is None or v < 0 else float(v) for v in qp.get(c, [-1, -1])]
        rows.append(
            {
                "parameter": c,
                "low": float(lims[c].iloc[0]),
                "high": float(lims[c].iloc[1]),
                "range_low": float(init[c].iloc[0]),
                "range_high": float(init[c].iloc[1]),
                "restricted": c in restricted,
                "qp_low": q[0],
                "qp_high": q[1],
            }
        )
    table = pd.DataFrame(rows)
    order = np.argsort(~table["restricted"].to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


@dataclass
class FeatureScores:
    """Extra-trees importances of the inputs for an outcome.

    Attributes:
        table: parameter, score (impurity-based importance; they sum to 1), rank (1 the
            most important).
        oob_score: the forest's out-of-bag R² (regression) or accuracy (classification):
            how well the inputs predict the outcome at all. With several replicates per
            design point and one case per run it is optimistic (a run's replicates share
            its inputs and are often in the bag); one case per point gives a fair one.
        kind: ``regression`` (on the outcome's value) or ``classification`` (of the
            cases of interest).
    """

    table: pd.DataFrame
    oob_score: float
    kind: str

    def text(self) -> str:
        what = "R²" if self.kind == "regression" else "accuracy"
        body = self.table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return f"{body}\n  (out-of-bag {what} of the extra trees: {self.oob_score:.2f})"


def feature_scores(
    x: pd.DataFrame, y, *, classify: bool = False, seed: int = 0, trees: int = TREES
) -> FeatureScores:
    """Rank the inputs ``x`` by their extra-trees importance for ``y``.

    Args:
        x: the inputs, one column each, one row per case.
        y: the outcome's values (regression), or booleans with ``classify``.
        classify: classify the cases of interest rather than regress on the value.
        seed: the forest's random state (identical scores for identical arguments).
        trees: the number of trees.

    Raises:
        UserError: EMA Workbench is not installed.
    """
    fs = _ema("feature_scoring")
    from ema_workbench.analysis.scenario_discovery_util import RuleInductionType

    mode = RuleInductionType.CLASSIFICATION if classify else RuleInductionType.REGRESSION
    y = np.asarray(y, dtype=int if classify else float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, forest = fs.get_ex_feature_scores(
            x.reset_index(drop=True).astype(float),
            y,
            mode=mode,
            nr_trees=trees,
            max_features=max(1, round(x.shape[1] / 3)),
            random_state=seed,
        )
    table = pd.DataFrame({"parameter": scores.index.astype(str), "score": scores[1].to_numpy()})
    table["rank"] = np.arange(1, len(table) + 1)
    kind = "classification" if classify else "regression"
    return FeatureScores(table, float(forest.oob_score_), kind)


def analysis_seed(root_seed: int) -> int:
    """The forest's seed for a batch: from its root seed, a stream of its own
    (``SeedSequence(root, spawn_key=(2**32 + 2,))``, beside the design's and the Sobol
    bootstrap's)."""
    from sim.batch.design import DESIGN_SPAWN_KEY

    ss = np.random.SeedSequence(root_seed, spawn_key=(DESIGN_SPAWN_KEY + 2,))
    return int(ss.generate_state(1, np.uint32)[0])


def file_stem(outcome: str, condition: Condition | None = None, **extra) -> str:
    """A file name stem from the outcome's slug (:func:`sim.analysis.outcomes.slug`) or
    name, the condition and other choices that change the result:
    ``tie_AZ_EU_mean_2024-2025_lt_0.3``, ``..._arm-gas_deal_fails``."""
    words = [outcome, *([condition.slug] if condition else [])]
    words += [f"{k}-{v}" for k, v in extra.items() if v is not None]
    stem = "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "_", w).strip("_") for w in words)
    return stem[:150]


def _ema(module: str):
    """``ema_workbench.analysis.<module>``, or a UserError saying how to install it."""
    import importlib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "ipyparallel not installed", altair notes
            return importlib.import_module(f"ema_workbench.analysis.{module}")
    except ImportError:
        raise UserError(_NEED_EMA) from None


# --- figures -------------------------------------------------------------------------


def tradeoff_figure(discovery: Discovery, title: str):
    """Density against coverage along the peeling trajectory, coloured by the number of
    restricted inputs, the threshold dashed and the chosen box ringed."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm

    t = discovery.trajectory
    top = int(t["restricted"].max())
    fig, ax = plt.subplots(figsize=(7.2, 5.4))
    cmap = plt.get_cmap("viridis", top + 1)
    norm = BoundaryNorm(np.arange(-0.5, top + 1.5), cmap.N)
    pts = ax.scatter(t["coverage"], t["density"], c=t["restricted"], cmap=cmap, norm=norm, s=36)
    b = discovery.box
    ax.scatter(
        [b["coverage"]], [b["density"]], s=220, facecolors="none", edgecolors="#b2182b", lw=2
    )
    ax.annotate(
        f"chosen box {discovery.chosen}\ncoverage {b['coverage']:.2f}, density {b['density']:.2f}",
        (b["coverage"], b["density"]),
        xytext=(-12, -34),
        textcoords="offset points",
        ha="right",
        fontsize=10,
        color="#b2182b",
    )
    ax.axhline(discovery.threshold, color="0.4", ls="--", lw=1)
    ax.text(0.01, discovery.threshold + 0.01, f"threshold {discovery.threshold:g}", fontsize=9)
    ax.set_xlim(0, 1.03)
    ax.set_ylim(0, 1.03)
    ax.set_xlabel("coverage (share of the cases of interest in the box)", fontsize=11)
    ax.set_ylabel("density (share of the box's cases of interest)", fontsize=11)
    ax.set_title(title, fontsize=11, loc="left")
    cb = fig.colorbar(pts, ax=ax, ticks=range(top + 1))
    cb.set_label("restricted inputs", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def box_figure(discovery: Discovery, title: str):
    """The chosen box over every input: its range (grey) and the box's limits (blue),
    each on its input's range scaled to [0, 1], the limits written at the bar ends."""
    import matplotlib.pyplot as plt

    lim = discovery.limits
    n = len(lim)
    fig, ax = plt.subplots(figsize=(8.5, 1.3 + 0.75 * n))
    for k, r in enumerate(lim.itertuples()):
        row = n - 1 - k
        span = r.range_high - r.range_low or 1.0
        lo, hi = (r.low - r.range_low) / span, (r.high - r.range_low) / span
        ax.barh(row, 1, left=0, height=0.5, color="0.88")
        colour = "#1f5fa8" if r.restricted else "#9fb7d6"
        ax.barh(row, hi - lo, left=lo, height=0.5, color=colour)
        for end, ha in ((r.range_low, "left"), (r.range_high, "right")):
            at = 0.0 if ha == "left" else 1.0
            ax.text(at, row - 0.4, _near(end, span), ha=ha, va="center", fontsize=8, color="0.35")
        if r.restricted and r.low > r.range_low:
            ax.text(lo, row + 0.3, _near(r.low, span), ha="center", fontsize=9, color=colour)
        if r.restricted and r.high < r.range_high:
            ax.text(hi, row + 0.3, _near(r.high, span), ha="center", fontsize=9, color=colour)
    ax.set_yticks(range(n), [r.parameter for r in lim.itertuples()][::-1], fontsize=10)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.65, n - 0.35)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    b = discovery.box
    ax.set_title(
        f"{title}\nbox {discovery.chosen}: coverage {b['coverage']:.2f}, density "
        f"{b['density']:.2f}, mass {b['mass']:.2f} (dark: the inputs it restricts)",
        fontsize=10,
        loc="left",
    )
    fig.tight_layout()
    return fig


def _near(value: float, span: float) -> str:
    """A value to a hundredth of its input's range or finer (on a range of 0.35,
    ``0.35431`` reads ``0.354``; on a range of 1, ``0.000096`` reads ``0``)."""
    # a range sampled from [0.1, 0.2] spans 0.0999: read it as 0.1
    decimals = max(0, 2 - math.floor(math.log10(abs(span) * 1.01))) if span else 3
    return f"{round(value, decimals) + 0.0:.{decimals}f}".rstrip("0").rstrip(".") or "0"


def scores_figure(scores: FeatureScores, title: str):
    """Horizontal bars of the feature scores, the most important on top."""
    import matplotlib.pyplot as plt

    t = scores.table
    n = len(t)
    fig, ax = plt.subplots(figsize=(8.0, 1.3 + 0.45 * n))
    ax.barh(np.arange(n)[::-1], t["score"], color="#1f5fa8", height=0.6)
    ax.set_yticks(np.arange(n)[::-1], t["parameter"], fontsize=10)
    for row, v in zip(np.arange(n)[::-1], t["score"], strict=True):
        ax.text(v + 0.005, row, f"{v:.3f}", va="center", fontsize=9)
    ax.set_xlim(0, max(0.05, math.ceil(t["score"].max() * 11) / 10))
    what = "R²" if scores.kind == "regression" else "accuracy"
    ax.set_xlabel(
        f"extra-trees importance ({scores.kind}; out-of-bag {what} {scores.oob_score:.2f})",
        fontsize=10,
    )
    ax.set_title(title, fontsize=11, loc="left")
    fig.tight_layout()
    return fig
