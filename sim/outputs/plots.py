"""Figures. Each function returns a matplotlib ``Figure``; callers save or show it.

Plots read the tidy tables only (never the model), so they work the same on a fresh
run and on tables read back from Parquet.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt  # the caller picks the backend (the CLI: Agg)
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.alignment import alignment_table, undefined_alignment, undefined_note
from sim.outputs.summary import focus_state


def mark_shocks(axes, shocks: list[dict], label_ax=None) -> None:
    """Dashed vertical lines at each shock's date, numbered at the top of ``label_ax``.

    Shocks on the same date share one line and one label ("2,3").
    """
    by_date: dict[pd.Timestamp, list[int]] = {}
    for k, s in enumerate(shocks, start=1):
        by_date.setdefault(pd.Timestamp(s["date"]), []).append(k)
    for date, numbers in by_date.items():
        for ax in axes:
            ax.axvline(date, color="0.45", linestyle="--", linewidth=0.8, zorder=0)
        if label_ax is not None:
            label_ax.annotate(
                ",".join(map(str, numbers)),
                xy=(date, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
                color="0.2",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.5", "lw": 0.6},
            )


def legend_lines(shocks: list[dict]) -> int:
    """How many lines :func:`shock_legend` takes for ``shocks``."""
    return (len(shocks) + 1) // 2


def shock_legend(fig: Figure, shocks: list[dict], y: float = 0.02) -> None:
    """The numbered list of shocks under the axes, in two columns."""
    if not shocks:
        return
    drawn = {True: " (drawn)", False: ""}
    items = [
        f"{k:>2}  {s['date'][:10]}  {s['label']}{drawn[s.get('kind') == 'probabilistic']}"
        for k, s in enumerate(shocks, start=1)
    ]
    half = legend_lines(shocks)
    for c, col in enumerate((items[:half], items[half:])):
        text = "\n".join(textwrap.shorten(t, 64) for t in col)
        fig.text(
            0.04 + 0.49 * c,
            y,
            text,
            fontsize=7.5,
            va="bottom",
            ha="left",
            family="monospace",
            color="0.15",
        )


#: The poles' lines: shades of grey told apart by line style, so that no reader needs
#: colour and no pole's colour is mistaken for a state's.
POLE_COLOURS = ("0.0", "0.35", "0.0", "0.35", "0.55")
POLE_STYLES = ("-", "--", ":", "-.", "-")
#: Line styles of the states, the cue beside colour (shared by every panel of a figure).
STATE_STYLES = ("-", "--", "-.", ":")


def alignment_figure(result) -> Figure:
    """Alignment trajectories with the shocks marked.

    Top: every state's alignment index (toward pole minus away pole), the focus state
    in bold; a state whose index is undefined (the only member of a pole of the axis)
    has no line and no legend entry, and a note under the legend says why. With more
    than two poles, a middle panel shows the focus state's alignment vector: its mean
    tie to each pole's members (:func:`sim.analysis.alignment.alignment_table`), one
    line per pole. Bottom: the focus state's ties to each partner.
    """
    w = result.world
    spec = w.scenario.spec
    focus = focus_state(w)
    ix = result.indices
    ties = result.ties
    axis = spec.alignment_axis
    vector = len(spec.poles) > 2
    shocks = result.shock_events()
    bottom = 0.1 + 0.018 * legend_lines(shocks)
    heights = [1, 0.9, 1.25] if vector else [1, 1.25]
    fig, axes, colour, scale = _panels(w, heights, top=0.9, bottom=bottom)
    ax1, ax2 = axes[0], axes[-1]
    style = _state_styles(w)

    if axis is not None:
        reasons = undefined_alignment(w.scenario)
        for sid in w.ids:
            d = ix[ix["state"] == sid]
            if d["alignment_index"].isna().all():
                continue
            ax1.plot(
                d["date"],
                d["alignment_index"],
                color=colour[sid],
                ls=style[sid],
                lw=2.6 if sid == focus else 1.0,
                alpha=1.0 if sid == focus else 0.7,
                label=f"{w.names[w.index(sid)]} ({sid})",
            )
        ax1.axhline(0, color="0.3", lw=0.6)
        ax1.set_ylabel(f"alignment index\n({axis.toward} minus {axis.away})")
        ax1.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        _note(ax1, undefined_note(reasons, w.ids))
    else:
        ax1.text(
            0.5,
            0.5,
            "no alignment axis defined in this scenario",
            transform=ax1.transAxes,
            ha="center",
        )
    ax1.set_title(f"{spec.name}\nseed {result.seed}", fontsize=11, loc="left")
    if vector:
        _pole_positions(axes[1], w, alignment_table(ties[ties["state"] == focus], w.scenario))

    t = ties[ties["state"] == focus]
    for partner in w.ids:
        if partner == focus:
            continue
        d = t[t["partner"] == partner]
        ax2.plot(
            d["date"],
            d["tie"],
            color=colour[partner],
            ls=style[partner],
            lw=1.6,
            label=f"{w.names[w.index(partner)]} ({partner})",
        )
    ax2.axhline(0, color="0.3", lw=0.6)
    ax2.set_ylim(-1, 1)
    ax2.set_ylabel(f"{w.names[w.index(focus)]}'s tie to ...")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax2.set_xlabel("date (records at period ends)")
    mark_shocks(axes, shocks, label_ax=ax1)
    shock_legend(fig, shocks, y=0.02 * scale)
    start = pd.Timestamp(w.date(0))
    ax2.set_xlim(start, pd.Timestamp(w.date(w.n_periods)) + pd.Timedelta(days=10))
    return fig


def _pole_positions(ax, world, table: pd.DataFrame) -> None:
    """The focus state's alignment vector: one line per pole (colour and line style),
    none for a pole it is the only member of (said in a note)."""
    focus = focus_state(world)
    poles = world.scenario.spec.poles
    table = table[table["state"] == focus]
    alone = []
    for k, (pole, members) in enumerate(poles.items()):
        d = table[table["pole"] == pole]
        if d["position"].isna().all():
            alone.append(pole)
            continue
        ax.plot(
            d["date"],
            d["position"],
            color=POLE_COLOURS[k % len(POLE_COLOURS)],
            ls=POLE_STYLES[k % len(POLE_STYLES)],
            lw=2.0,
            label=f"{pole} ({', '.join(members)})",
        )
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_ylim(-1, 1)
    name = world.names[world.index(focus)]
    ax.set_ylabel(f"{name}'s mean tie to ...")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if alone:
        _note(ax, f"no position toward {', '.join(alone)}:\n{focus} is its only member")


def _note(ax, text: str) -> None:
    """A small note in the right margin of ``ax``, at its bottom (under the legend),
    wrapped to the margin's width."""
    if text:
        lines = [textwrap.fill(t, 34, subsequent_indent="  ") for t in text.split("\n")]
        ax.text(
            1.01,
            0.0,
            "\n".join(lines),
            transform=ax.transAxes,
            fontsize=7.5,
            va="bottom",
            color="0.25",
        )


def _state_styles(world) -> dict[str, str]:
    """Each state's line style, the cue beside its colour (colours repeat after ten)."""
    return {sid: STATE_STYLES[k % len(STATE_STYLES)] for k, sid in enumerate(world.ids)}


def bands(ax, x, q, colour, label: str | None = None, lw: float = 2.2, band_labels=True):
    """Median line and 50%/90% bands from quantiles ``q`` = (q05, q25, q50, q75, q95)."""
    names = ("90% of replicates", "50% of replicates") if band_labels else (None, None)
    ax.fill_between(x, q[0], q[4], color=colour, alpha=0.15, lw=0, label=names[0])
    ax.fill_between(x, q[1], q[3], color=colour, alpha=0.3, lw=0, label=names[1])
    ax.plot(x, q[2], color=colour, lw=lw, label=label or "median")


def fan(ax, x, samples, colour, label: str | None = None) -> None:
    """Median line with 50% and 90% bands of ``samples`` ``(replicates, len(x))``."""
    bands(ax, x, np.nanquantile(samples, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0), colour, label)


def ensemble_figure(world, steps, alignment, hedging, shocks: pd.DataFrame) -> Figure:
    """Replicates of a scenario: the focus state's alignment and hedging indices as fan
    charts (median, 50% and 90% bands over replicates), the other states' medians, and
    the dated shocks marked; probabilistic shocks are listed with how often they fired.

    Args:
        world: the scenario's compiled world; steps: the recorded steps ``(S,)``;
        alignment, hedging: ``(R, S, N)`` indices of every replicate; shocks: the shock
            table of the replicates (replicate, id, label, kind, date).
    """
    w = world
    spec = w.scenario.spec
    focus = focus_state(w)
    fi = w.index(focus)
    r = len(alignment)
    x = pd.to_datetime(w.record_dates(steps))
    dated = shocks[shocks["kind"] == "dated"].drop_duplicates("id")
    marks = [
        {"date": d, "label": lab, "kind": "dated"}
        for d, lab in zip(dated["date"], dated["label"], strict=True)
    ]
    prob = shocks[shocks["kind"] == "probabilistic"]
    drawn = [
        f"{g['label'].iloc[0]}: drawn in {g['replicate'].nunique() / r:.0%} of replicates"
        for _, g in prob.groupby("id", observed=True)
    ]
    extra = 0.016 * len(drawn)
    bottom = 0.1 + 0.018 * legend_lines(marks) + extra
    fig, (ax1, ax2), colour, scale = _panels(w, [1.25, 1], top=0.86, bottom=bottom)
    style = _state_styles(w)
    axis = spec.alignment_axis
    if axis is not None:
        for k, sid in enumerate(w.ids):
            if sid != focus and not np.isnan(alignment[:, :, k]).all():
                med = np.nanmedian(alignment[:, :, k], axis=0)
                ax1.plot(x, med, color=colour[sid], ls=style[sid], lw=0.9, alpha=0.7,
                         label=f"{sid} median")  # fmt: skip
        if not np.isnan(alignment[:, :, fi]).all():
            fan(ax1, x, alignment[:, :, fi], colour[focus], f"{focus} median")
        ax1.axhline(0, color="0.3", lw=0.6)
        ax1.set_ylabel(f"alignment index\n({axis.toward} minus {axis.away})")
        _note(ax1, undefined_note(undefined_alignment(w.scenario), w.ids))
    ax1.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax1.set_title(
        f"{spec.name}\n{r} replicates: median and 50%/90% bands of {w.names[fi]} ({focus})",
        fontsize=11,
        loc="left",
        pad=18,
    )
    fan(ax2, x, hedging[:, :, fi], colour[focus], f"{focus} median")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel(f"{w.names[fi]}'s hedging index\n(1 = ties spread evenly)")
    ax2.set_xlabel("date (records at period ends)")
    mark_shocks([ax1, ax2], marks, label_ax=ax1)
    shock_legend(fig, marks, y=(0.025 + extra) * scale)
    if drawn:
        fig.text(
            0.04, 0.02 * scale, "\n".join(drawn), fontsize=7.5, family="monospace", color="0.15"
        )
    ax2.set_xlim(x[0], x[-1] + pd.Timedelta(days=10))
    return fig


def _panels(world, heights: list[float], top: float, bottom: float):
    """A page-sized figure with panels sharing the time axis, and a colour per state.

    ``heights`` are the panels' relative heights, top to bottom; two panels of total
    height 2.25 fill an 8.5-inch page, and more panels make the page taller in
    proportion. ``top`` and ``bottom`` are fractions of an 8.5-inch page; ``bottom``
    leaves room for the legends below the axes. When the legends would leave the axes
    less than a third of the page (a scenario with many shocks), the figure grows
    instead, keeping the axes and the legends their size. Returns the figure, the axes
    (top to bottom), the colours and ``scale``: multiply a y position meant for the
    8.5-inch page by it.
    """
    page = 8.5
    legend_in, margin_in = bottom * page, (1 - top) * page
    axes_in = max((top - bottom) * page * sum(heights) / 2.25, 0.35 * page)
    height = legend_in + axes_in + margin_in
    if abs(height - page) < 1e-9:  # the usual page, exactly
        height = page
    bottom, top = legend_in / height, 1 - margin_in / height
    fig = plt.figure(figsize=(11, height))
    gs = fig.add_gridspec(
        len(heights),
        1,
        height_ratios=heights,
        hspace=0.28,
        top=top,
        bottom=bottom,
        left=0.08,
        right=0.8,
    )
    first = fig.add_subplot(gs[0])
    axes = [first] + [fig.add_subplot(gs[k], sharex=first) for k in range(1, len(heights))]
    cmap = plt.get_cmap("tab10")
    colours = {sid: cmap(k % 10) for k, sid in enumerate(world.ids)}
    return fig, axes, colours, page / height
