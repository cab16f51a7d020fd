"""Batch figures. Each function returns a matplotlib ``Figure``; the CLI saves it.

- :func:`fan_chart`: the median and the 50% and 90% quantile bands of an index over
  runs, one panel per state, one colour per arm, the dated shocks marked.
- :func:`distributions`: the distribution of an index at chosen dates, per arm.
- :func:`compare_figure`: paired differences (variant minus baseline) of an index by
  date: the median with 50% and 90% bands of the per-seed differences, and the mean with
  its 95% confidence interval.
- :func:`compare_outcome_figure`: the same for any outcome (:mod:`sim.analysis.outcomes`):
  its quantity's paired difference over time with the outcome's date or windows shaded,
  beside the distribution of the per-seed differences of the outcome itself.
- :func:`sensitivity_figure`: Sobol first-order and total indices with their intervals.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt  # the caller picks the backend (the CLI: Agg)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sim.analysis import outcomes  # noqa: E402
from sim.batch import analysis  # noqa: E402
from sim.batch.results import BatchResult  # noqa: E402
from sim.outputs.plots import bands, legend_lines, mark_shocks, shock_legend  # noqa: E402

LABELS = {
    "alignment_index": "alignment index",
    "hedging_index": "hedging index",
}


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2 if n <= 4 else 3
    return math.ceil(n / cols), cols


def _colours(arms: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {a: cmap(k % 10) for k, a in enumerate(arms)}


def _state_grid(n: int, shocks: list[dict]):
    """A figure with one panel per state (``n``), room below for the shock legend."""
    rows, cols = _grid(n)
    fig = plt.figure(
        figsize=(max(9.0, 4.2 * cols + 1.5), 2.7 * rows + 1.6 + 0.16 * legend_lines(shocks))
    )
    bottom = (0.5 + 0.16 * legend_lines(shocks)) / fig.get_figheight()
    gs = fig.add_gridspec(
        rows,
        cols,
        top=1 - 0.9 / fig.get_figheight(),
        bottom=bottom + 0.06,
        left=0.07,
        right=0.98,
        hspace=0.45,
        wspace=0.22,
    )
    return fig, gs, cols


def _finish(fig, axes, shocks, title: str, legend_size: float) -> Figure:
    """Title, legend in the first panel, the shocks marked and listed below."""
    fig.suptitle(title, fontsize=11, x=0.07, ha="left")
    if axes:
        axes[0].legend(fontsize=legend_size, frameon=False, loc="best")
        mark_shocks(axes, shocks, label_ax=axes[0])
    shock_legend(fig, shocks)
    return fig


def fan_chart(
    result: BatchResult, index: str = "alignment_index", states=None, arms=None
) -> Figure:
    """Fan chart of ``index``: median and 50%/90% bands over runs, per state and arm."""
    arms = arms or result.arms
    for a in arms:
        analysis.check_arm(result, a, "--arm")
    states = analysis.check_states(result, states)
    q = analysis.bands(result, index, states, arms)
    shocks = analysis.fired_dated_shocks(result, arms)
    fig, gs, cols = _state_grid(len(states), shocks)
    colour = _colours(result.arms)
    axes = []
    for k, state in enumerate(states):
        ax = fig.add_subplot(gs[k // cols, k % cols], sharex=axes[0] if axes else None)
        axes.append(ax)
        for arm in arms:
            d = q[(q["state"] == state) & (q["arm"] == arm)]
            if d.empty:
                continue
            c = colour[arm]
            qs = [d[f"q{p:02d}"] for p in (5, 25, 50, 75, 95)]
            bands(ax, d["date"], qs, c, label=arm, lw=1.6, band_labels=False)
        ax.axhline(0, color="0.3", lw=0.5)
        ax.set_title(state, fontsize=10, loc="left")
        ax.tick_params(labelsize=8)
    n = int(q["n"].max()) if len(q) else 0
    title = (
        f"{result.manifest['experiment']['name']}: {LABELS.get(index, index)}\n"
        f"median, 50% and 90% bands over {n} runs per arm"
    )
    return _finish(fig, axes, shocks, title, legend_size=8)


def distributions(
    result: BatchResult, dates=None, index: str = "alignment_index", state: str | None = None
) -> Figure:
    """Histograms of ``index`` of one state (default: the scenario's first) at dates, per
    arm. ``dates`` default to the last record."""
    analysis.check_index(index)
    state = analysis.check_states(result, [state] if state else None)[0]
    ix = result.indices
    wanted = [analysis.record_date(result, d) for d in dates] if dates else [ix["date"].max()]
    colour = _colours(result.arms)
    fig, axes = plt.subplots(1, len(wanted), figsize=(4.2 * len(wanted) + 0.6, 3.4), squeeze=False)
    sel = ix[(ix["state"] == state) & ix["date"].isin(wanted)]
    lo, hi = sel[index].min(), sel[index].max()
    bins = np.linspace(lo, hi if hi > lo else lo + 1e-9, 31)
    for ax, date in zip(axes[0], wanted, strict=True):
        for arm in result.arms:
            x = sel[(sel["date"] == date) & (sel["arm"] == arm)][index]
            if len(x):
                ax.hist(x, bins=bins, color=colour[arm], alpha=0.45, label=f"{arm} (n={len(x)})")
                ax.axvline(x.median(), color=colour[arm], lw=1.2)
        ax.set_title(f"{state} {LABELS.get(index, index)} at {date.date()}", fontsize=10)
        ax.set_xlabel(LABELS.get(index, index))
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel("runs")
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def compare_figure(
    result: BatchResult,
    baseline: str,
    variant: str,
    index: str = "alignment_index",
    states=None,
) -> Figure:
    """Paired difference (variant minus baseline) of ``index`` over time, per state."""
    states = analysis.check_states(result, states)
    d = analysis.difference_bands(result, baseline, variant, index, states)
    shocks = analysis.fired_dated_shocks(result, [baseline, variant])
    fig, gs, cols = _state_grid(len(states), shocks)
    axes = []
    for k, state in enumerate(states):
        ax = fig.add_subplot(gs[k // cols, k % cols], sharex=axes[0] if axes else None)
        axes.append(ax)
        s = d[d["state"] == state]
        ax.fill_between(
            s["date"], s["q05"], s["q95"], color="0.5", alpha=0.2, lw=0, label="90% of pairs"
        )
        ax.fill_between(
            s["date"], s["q25"], s["q75"], color="0.4", alpha=0.3, lw=0, label="50% of pairs"
        )
        ax.plot(s["date"], s["q50"], color="0.2", lw=1.0, label="median pair")
        ax.fill_between(s["date"], s["ci_low"], s["ci_high"], color="#b2182b", alpha=0.35, lw=0)
        ax.plot(s["date"], s["mean"], color="#b2182b", lw=1.6, label="mean (95% CI)")
        ax.axhline(0, color="0.3", lw=0.5)
        ax.set_title(state, fontsize=10, loc="left")
        ax.tick_params(labelsize=8)
    n = int(d["n"].max()) if len(d) else 0
    title = f"{variant} minus {baseline}: {LABELS.get(index, index)}, paired by seed ({n} pairs)"
    return _finish(fig, axes, shocks, title, legend_size=7)


def compare_outcome_figure(result: BatchResult, baseline: str, variant: str, outcome) -> Figure:
    """Paired difference (variant minus baseline) of an outcome: left, its quantity at
    every record (median, 50% and 90% of pairs, mean with its 95% CI; the outcome's date
    or windows shaded); right, the histogram of the per-pair differences of the outcome
    with their mean and 95% CI.

    ``outcome``: a text, a name declared in the experiment file, or an
    :class:`~sim.analysis.outcomes.Outcome`.
    """
    o = analysis.parse_outcome(outcome, result)
    d = analysis.difference_bands(result, baseline, variant, outcome=o)
    pairs = analysis.paired_outcome(result, baseline, variant, o)
    x = pairs["difference"].dropna().to_numpy()
    summary = analysis.paired_summary(x, np.zeros_like(x))
    shocks = analysis.fired_dated_shocks(result, [baseline, variant])
    fig = plt.figure(figsize=(11.0, 3.9 + 0.16 * legend_lines(shocks)))
    bottom = (0.5 + 0.16 * legend_lines(shocks)) / fig.get_figheight()
    gs = fig.add_gridspec(
        1,
        2,
        width_ratios=[2.2, 1],
        top=1 - 1.05 / fig.get_figheight(),
        bottom=bottom + 0.08,
        left=0.07,
        right=0.98,
    )
    ax, hx = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    for lo, hi, grey, alpha, name in (
        ("q05", "q95", "0.5", 0.2, "90%"),
        ("q25", "q75", "0.4", 0.3, "50%"),
    ):
        ax.fill_between(
            d["date"], d[lo], d[hi], color=grey, alpha=alpha, lw=0, label=f"{name} of pairs"
        )
    ax.plot(d["date"], d["q50"], color="0.2", lw=1.0, label="median pair")
    ax.fill_between(d["date"], d["ci_low"], d["ci_high"], color="#b2182b", alpha=0.35, lw=0)
    ax.plot(d["date"], d["mean"], color="#b2182b", lw=1.6, label="mean (95% CI)")
    if o.when == "at":
        ax.axvline(pd.Timestamp(o.date), color="#1f5fa8", lw=1.2, ls="--", label="outcome date")
    names = ("first window", "second window") if o.when == "change" else ("outcome window",)
    names = names[: len(o.windows)]  # an `at` outcome has none
    for k, (w, name) in enumerate(zip(o.windows, names, strict=True)):
        alpha = 0.08 if k == 0 and o.when == "change" else 0.16
        ax.axvspan(pd.Timestamp(w.first), pd.Timestamp(w.last), color="#1f5fa8", alpha=alpha)
        ax.patches[-1].set(lw=0, label=name)
    ax.axhline(0, color="0.3", lw=0.5)
    ax.set_title(f"{o.quantity}: difference at every record", fontsize=10, loc="left", pad=18)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")
    mark_shocks([ax], shocks, label_ax=ax)
    if len(x):
        hx.hist(x, bins=min(30, max(5, len(x) // 5)), color="0.55")
        hx.axvline(summary["mean"], color="#b2182b", lw=1.6, label="mean")
        if np.isfinite(summary["ci_low"]):
            hx.axvspan(summary["ci_low"], summary["ci_high"], color="#b2182b", alpha=0.3, lw=0)
    hx.axvline(0, color="0.3", lw=0.5)
    hx.set_title("per-pair differences of the outcome", fontsize=10, loc="left", pad=18)
    hx.set_xlabel(f"{variant} minus {baseline}", fontsize=8)
    hx.set_ylabel("pairs", fontsize=8)
    hx.tick_params(labelsize=8)
    ci = (
        f"; mean {summary['mean']:+.4f} (95% CI {summary['ci_low']:+.4f} to "
        f"{summary['ci_high']:+.4f})"
        if len(x) > 1
        else ""
    )
    fig.suptitle(
        f"{variant} minus {baseline}: {outcomes.label(o)}\npaired by seed ({len(x)} pairs{ci})",
        fontsize=11,
        x=0.07,
        ha="left",
    )
    shock_legend(fig, shocks)
    return fig


def sensitivity_figure(table: pd.DataFrame, outcome) -> Figure:
    """Bars of first-order (S1) and total (ST) Sobol indices with 95% intervals.

    ``outcome``: its title (an :class:`~sim.analysis.outcomes.Outcome` is labelled)."""
    if not isinstance(outcome, str):
        outcome = outcomes.label(outcome)
    n = len(table)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * n + 2), 3.6))
    x = np.arange(n)
    w = 0.38
    for offset, col, label, colour in (
        (-w / 2, "S1", "first order S1", "#1f5fa8"),
        (w / 2, "ST", "total ST", "#b2182b"),
    ):
        ax.bar(
            x + offset,
            table[col],
            w,
            yerr=table[f"{col}_conf"],
            capsize=3,
            label=label,
            color=colour,
        )
    ax.set_xticks(
        x,
        [p.replace("states.", "").replace(".value", "") for p in table["parameter"]],
        fontsize=8,
        rotation=15 if n > 3 else 0,
    )
    ax.axhline(0, color="0.3", lw=0.5)
    ax.set_ylabel("Sobol index")
    ax.set_title(f"Sensitivity of {outcome}", fontsize=10, loc="left")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
