"""The dashboard's views: World, Why did it move?, With and without, Play.

Each view is a solara component drawn from the current model. The frame
(:mod:`sim.app.page`) calls ``WorldView(model, version)``, ``WhyView(model, version)``,
``CompareView(model, version)`` and ``PlayView(model, version, on_play, on_step)`` and
bumps ``version`` after every step or reset; each view computes what it shows once per
``(id(model), version)`` and only while it is shown.

What the views hold to, for a class reading them from a projector and a worksheet:

- every state keeps one line style in every chart (its index in the world), lines are
  labelled at their ends, shocks are numbered on the chart;
- ties run from -1 to +1; the alignment index, a difference of mean ties, runs from -2
  to +2, and its chart and text say so;
- payoffs are in points (:data:`~sim.app.classroom.POINT`), one decimal, with the cost
  of moving as its own column and a total that is the sum of the numbers shown;
- With and without compares runs in which every state is an agent;
- every chart has a title, a description and its numbers as a table; every control has
  a name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import reacton.ipyvuetify as rv
import solara

from sim.analysis.alignment import undefined_alignment
from sim.analysis.explain import against_staying, partner_summary
from sim.app import charts
from sim.app.charts import Band, Event, Line, signed
from sim.app.classroom import (
    AGAINST_THE_ODDS,
    ALIGNMENT,
    POINT,
    ClassroomModel,
    earned_points,
    focus_of,
    in_points,
    measure_path,
    tie_paths,
)
from sim.app.widgets import Chart, Prose, Table, html_table
from sim.drivers.model import BalancingModel
from sim.kernel import decision, indices

SEEDS = (20, 100, 400)  # the choices of seeds for the bands and the mean difference
TERM_HEADS = {
    "energy": "energy",
    "security": "security",
    "alignment": "alignment",
    "tie_cost": "tie cost",
    "move_cost": "cost of moving",
    "total": "total",
}
POINTS_NOTE = (
    f"1 point = {POINT:g} of the weighted payoff; positive is better for the state. "
    "The cost of moving is paid for any move, up or down; the total is the sum of the "
    "numbers shown."
)
#: The same for continuous ties, which pay no cost of moving.
STEP_POINTS_NOTE = (
    f"1 point = {POINT:g} of the weighted payoff; positive is better for the state; the "
    "total is the sum of the numbers shown."
)
#: The terms shown for continuous ties: no cost of moving.
STEP_TERM_HEADS = {k: v for k, v in TERM_HEADS.items() if k != "move_cost"}
ODDS_LIMIT = f"{AGAINST_THE_ODDS:.0%}"
#: Flex items that wrap: a line chart needs about 820 px for 12 px text, a heat map or a
#: table about 480, a partner's choice card about 420.
WIDE = {"flex": "1 1 820px", "min-width": "0", "max-width": "100%"}
NARROW = {"flex": "1 1 480px", "min-width": "0", "max-width": "100%"}
CARD = {"flex": "1 1 420px", "min-width": "0", "max-width": "100%"}
LINE_MIN = 720  # px: a line chart scrolls sideways rather than shrink below this
EVEN = 0.5  # points: a total this close to 0 is within the rounding of its terms


# ---- shared pieces -----------------------------------------------------------------


def names_of(model: BalancingModel) -> dict[str, str]:
    """State id -> name."""
    return dict(zip(model.world.ids, model.world.names, strict=True))


def x_range(model: BalancingModel) -> tuple[dt.date, dt.date]:
    """The dates of the whole run, first record to last."""
    return model.world.date(0), model.world.date(model.world.n_periods)


def record_dates(model: BalancingModel) -> np.ndarray:
    """The dates of the records so far (steps 0 .. period)."""
    return model.world.record_dates(np.arange(model.period + 1))


def shock_events(model: ClassroomModel) -> list[Event]:
    """The shocks so far, numbered in firing order, then the dated shocks still ahead,
    marked "scheduled" (shocks that happen only by chance show once they happen)."""
    fired = model.shocks_so_far()
    out = [
        Event(s["date"], s["label"] + (" (by chance)" if s["kind"] != "dated" else ""), k)
        for k, s in enumerate(fired, start=1)
    ]
    done = {s["id"] for s in fired}
    ahead = [
        (shock.date, shock.label)
        for sid, shock in model.world.scenario.spec.shocks.items()
        if shock.date and sid not in done and sid not in model.shocks_off
    ]
    for k, (date, label) in enumerate(sorted(ahead), start=len(out) + 1):
        out.append(Event(date, f"{label} (scheduled)", k))
    return out


@dataclass(frozen=True)
class AxisText:
    """How a measure is named on a chart: its label, its range and what it means."""

    short: str  # in a title
    label: str  # on the axis
    y_range: tuple[float, float]  # the measure's whole range
    note: str


def alignment_text(model: BalancingModel) -> AxisText:
    """The alignment index's axis: a difference of two mean ties, from -2 to +2."""
    spec = model.world.scenario.spec
    axis = spec.alignment_axis
    toward = ", ".join(spec.poles[axis.toward])
    away = ", ".join(spec.poles[axis.away])
    return AxisText(
        "alignment index",
        f"alignment index: mean tie to {axis.toward} minus mean tie to {axis.away} "
        "(runs from \u22122 to +2)",
        (-2.0, 2.0),
        f"The **alignment index** is a difference of ties: the mean tie to {axis.toward} "
        f"({toward}) minus the mean tie to {axis.away} ({away}). Each tie runs from \u22121 "
        "to +1, so the index runs from \u22122 to +2: above 0 the state leans toward "
        f"{axis.toward}, below 0 toward {axis.away}. It is not a tie.",
    )


def measure_text(model: BalancingModel, state: str, measure: str) -> AxisText:
    """The axis of ``state``'s ``measure``: :data:`ALIGNMENT` or its tie to a partner."""
    if measure == ALIGNMENT:
        return alignment_text(model)
    names = names_of(model)
    return AxisText(
        f"tie to {names[measure]}",
        f"{names[state]}'s tie to {names[measure]} (\u22121 hostile to +1 closest)",
        (-1.0, 1.0),
        "A tie runs from \u22121 (hostile) to +1 (closest).",
    )


# ---- World -------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldCharts:
    """What the World view shows at one step, drawn once."""

    ties: str
    ties_table: str
    alignment: str | None  # None: the state has no alignment index (see ``note``)
    alignment_table: str | None
    note: str
    heat: str
    heat_table: str
    hedging: pd.DataFrame


def world_charts(model: ClassroomModel, state: str) -> WorldCharts:
    """The World view's charts and tables for ``state`` at the model's current step."""
    w = model.world
    names = names_of(model)
    lines = tie_lines(model, state)
    title = f"{names[state]}'s ties to each partner, to {model.date}"
    ties = charts.line_chart(
        lines,
        title=title,
        y_label="tie: \u22121 hostile, 0 neutral, +1 closest",
        x_range=x_range(model),
        events=shock_events(model),
        now=model.date,
        height=360,  # its shock key starts in view at 1366x768
    )
    alignment, alignment_table, note = _alignment_chart(model, state)
    heat = charts.heat_map(
        [f"{n} ({s})" for s, n in names.items()],
        list(w.ids),
        np.where(np.eye(w.n, dtype=bool), np.nan, model.ties),
        title=f"Ties at {model.date}: row state's tie to column partner",
    )
    return WorldCharts(
        ties,
        charts.data_table(lines, every=4, caption=title),
        alignment,
        alignment_table,
        note,
        heat,
        html_table(tie_matrix(model), caption=f"Ties at {model.date} (row: the state)"),
        hedging_table(model),
    )


def tie_lines(model: ClassroomModel, state: str) -> list[Line]:
    """``state``'s tie to each partner over the run so far, one line per partner in the
    partner's style, the moves ``state`` took against the odds ringed."""
    w = model.world
    i = w.index(state)
    dates, paths = record_dates(model), tie_paths(model)
    odds = model.against_the_odds(state)
    return [
        Line(
            w.names[j],
            dates,
            paths[:, i, j],
            style=j,
            markers=tuple(odds.loc[odds["partner"] == p, "period"] + 1),
        )
        for j, p in enumerate(w.ids)
        if j != i
    ]


def _alignment_chart(model, state: str):
    """The state's alignment index over the run so far (chart, table, note), or only a
    note saying why it has none. (The shocks are on the ties chart above it.)"""
    name = names_of(model)[state]
    undefined = undefined_alignment(model.world.scenario)
    if state in undefined:
        return None, None, f"{name} has no alignment index: {undefined[state]}."
    text = alignment_text(model)
    path = measure_path(model, state, ALIGNMENT)
    line = Line(name, record_dates(model), path, style=model.world.index(state))
    title = f"{name}'s alignment index, to {model.date}"
    svg = charts.line_chart(
        [line],
        title=title,
        y_label=text.label,
        x_range=x_range(model),
        y_range=text.y_range,
        now=model.date,
        height=300,
    )
    return svg, charts.data_table([line], every=4, caption=title), text.note


def tie_matrix(model: BalancingModel) -> pd.DataFrame:
    """The tie matrix now as a table of signed text (a state's row: its ties)."""
    w = model.world
    cells = {
        p: [("" if i == j else signed(model.ties[i, j])) for i in range(w.n)]
        for j, p in enumerate(w.ids)
    }
    return pd.DataFrame({"state": [f"{n} ({s})" for s, n in names_of(model).items()], **cells})


def hedging_table(model: BalancingModel) -> pd.DataFrame:
    """Every state's hedging and alignment index at the latest record, as numbers
    (NaN where a state has no alignment index)."""
    w = model.world
    return pd.DataFrame(
        {
            "state": [f"{n} ({s})" for s, n in names_of(model).items()],
            "hedging index": indices.hedging_index(model.ties, w.base.groups),
            "alignment index": indices.alignment_index(model.ties, w.toward, w.away),
        }
    )


HEDGING_NOTE = (
    "**Hedging index**: how evenly a state spreads its friendly (positive) ties over "
    "its partners, a bloc such as the West counting as one: 1 = spread evenly, 0 = all "
    "on one partner (or no friendly tie)."
)


@solara.component
def WorldView(model: ClassroomModel, version: int):
    """The state's ties and alignment index over time, the tie map, and every state's
    hedging index now."""
    w = model.world
    focus = focus_of(w.scenario)
    state, set_state = solara.use_state(focus)
    state = state if state in w.ids else focus
    shown = solara.use_memo(lambda: world_charts(model, state), [id(model), version, state])
    labels = {f"{n} ({s})": s for s, n in names_of(model).items()}
    solara.Select(
        "Whose ties",
        value=_key(labels, state),
        values=list(labels),
        on_value=lambda k: set_state(labels[k]),
    )
    with solara.Row(style={"flex-wrap": "wrap", "gap": "12px"}):
        with solara.Column(style=WIDE):
            Chart(shown.ties, shown.ties_table, LINE_MIN)
            Prose(
                "Numbered circles: shocks (listed under the chart; *scheduled* ones are "
                "still ahead). Ringed points: moves taken **against the odds**, with a "
                f"chance below {ODDS_LIMIT} (see *Why did it move?*)."
            )
            if shown.alignment is not None:
                Chart(shown.alignment, shown.alignment_table, LINE_MIN)
            Prose(shown.note)
        with solara.Column(style=NARROW):
            Chart(shown.heat, shown.heat_table)
            Prose(HEDGING_NOTE)
            rows = shown.hedging.assign(
                **{
                    "hedging index": shown.hedging["hedging index"].map(lambda v: f"{v:.2f}"),
                    "alignment index": shown.hedging["alignment index"].map(signed),
                }
            )
            Table(rows, caption=f"Every state at {model.date}")


# ---- Why did it move? --------------------------------------------------------------


def why_rows(model: ClassroomModel, state: str, period: int) -> pd.DataFrame:
    """One row per partner of ``state``'s decision in a kept ``period``: partner,
    before, after, p_down, p_stay, p_up, pinned, and what moving up one step changes
    against staying in points (:func:`~sim.app.classroom.in_points`: the terms, the
    cost of moving, and their total; NaN where the tie cannot move up or is held)."""
    w = model.world
    ev = model.kept[period]
    table = model.explain(state, ev)
    summary = partner_summary(table, ev, w.index(state), list(w.ids))
    up = table[table["move"] > 0]
    points = in_points(against_staying(table).loc[up.index]).set_axis(up["partner"].astype(str))
    points = points.reindex(summary["partner"]).reset_index(drop=True)
    keep = ["partner", "before", "after", "p_down", "p_stay", "p_up", "pinned"]
    out = pd.concat([summary[keep], points], axis=1)
    if ev.continuous is not None:  # a step, not a pick: no cost of moving; pull and chance
        out["move_cost"] = 0.0
        out["total"] = out[[k for k in STEP_TERM_HEADS if k != "total"]].sum(axis=1).round(1)
        i = w.index(state)
        if i in model.picks:  # a person moved these ties, not pull and chance
            out["pull"] = out["chance"] = np.nan
        else:
            pull = np.zeros(w.n)
            if ev.revising[i]:
                pull = decision.continuous_pull(
                    ev.ties, ev.params, w.rules, w.adjustment, ev.credibility, model.kernel
                )[i]
            out["pull"] = [pull[w.index(p)] for p in out["partner"]]
            out["chance"] = out["after"] - out["before"] - out["pull"]
            out.loc[out["pinned"], ["pull", "chance"]] = np.nan
    out.loc[out["pinned"], list(points.columns)] = np.nan
    return out


def why_table(rows: pd.DataFrame, odds: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """:func:`why_rows` as text, and the rows of moves taken against the odds (``odds``:
    that quarter's rows of :meth:`~ClassroomModel.against_the_odds`). Continuous ties
    (rows with ``pull``) show the pull and chance of each step instead of the chances of
    the moves, and no cost of moving."""
    chance = dict(zip(odds["partner"], odds["chance"], strict=True))
    shown = pd.DataFrame({"partner": [f"{names[p]} ({p})" for p in rows["partner"]]})
    for p in chance:
        shown.loc[rows["partner"] == p, "partner"] += f": against the odds ({chance[p]:.0%})"
    shown["before"] = rows["before"].map(signed)
    shown["after"] = rows["after"].map(signed)
    step = "pull" in rows
    if step:
        moves = {"pull": "pull of the payoffs", "chance": "chance"}
        for col, head in moves.items():
            shown[head] = rows[col].map(lambda v: signed(v, 3))
        heads = STEP_TERM_HEADS
    else:
        moves = {"p_down": "chance down", "p_stay": "stay", "p_up": "up"}
        for col, head in moves.items():
            shown[head] = rows[col].map(lambda v: f"{v:.0%}")
        heads = TERM_HEADS
    for col, head in heads.items():
        shown[head] = rows[col].map(lambda v: signed(v, 1))
    held = rows["pinned"].to_numpy()
    first, *rest = moves.values()
    shown.loc[held, first] = "held by a shock"
    shown.loc[held, rest] = ""
    shown.loc[held, list(heads.values())] = ""
    return shown


def reasons(rows: pd.DataFrame, who: str, names: dict[str, str]) -> list[str]:
    """One plain sentence per partner of :func:`why_rows`: what happened to the tie,
    with what odds, and which term pushed hardest for and against moving up."""
    out = []
    for r in rows.itertuples(index=False):
        partner = names[r.partner]
        if r.pinned:
            out.append(f"{who}'s tie to {partner} is held at {signed(r.after)} by a shock.")
            continue
        moved = r.after - r.before
        step = hasattr(r, "pull")
        if abs(moved) < 1e-9:
            what = f"{who} kept its tie to {partner} at {signed(r.before)}"
        elif step:
            way = "up" if moved > 0 else "down"
            what = f"{who}'s tie to {partner} went {way} by {abs(moved):.3f}"
            what += f" from {signed(r.before, 3)} to {signed(r.after, 3)}"
        else:
            way = "up" if moved > 0 else "down"
            what = f"{who} moved its tie to {partner} {way}"
            what += f" from {signed(r.before)} to {signed(r.after)}"
        odds = f"(chances: down {r.p_down:.0%}, stay {r.p_stay:.0%}, up {r.p_up:.0%})"
        if step:
            odds = (
                f"(its payoffs pulled it {signed(r.pull, 3)}, chance moved it "
                f"{signed(r.chance, 3)})"
                if np.isfinite(r.pull)
                else "(the player's move)"
            )
        if np.isnan(r.total):
            out.append(f"{what} {odds}; it was at the top and could not move up.")
            continue
        heads = STEP_TERM_HEADS if step else TERM_HEADS
        terms = {head: getattr(r, col) for col, head in heads.items() if col != "total"}
        push, hold = max(terms, key=terms.get), min(terms, key=terms.get)
        why = []
        if terms[push] > 0:
            why.append(f"{push} pushed up most ({signed(terms[push], 1)})")
        if terms[hold] < 0:
            why.append(f"{hold} held it back most ({signed(terms[hold], 1)})")
        verdict = "would have paid" if r.total > 0 else "would not have paid"
        if abs(r.total) < EVEN:
            verdict = "was close to even"
        out.append(
            f"{what} {odds}. Moving up one step {verdict} ({signed(r.total, 1)} points): "
            + (", ".join(why) or "no term moved")
            + "."
        )
    return out


def odds_table(odds: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Moves taken against the odds as a table students read."""
    moves = np.sign(odds["move"]).map({1.0: "up", -1.0: "down", 0.0: "stay"})
    return pd.DataFrame(
        {
            "quarter ending": [
                f"{d} ({p + 1})" for d, p in zip(odds["date"], odds["period"], strict=True)
            ],
            "partner": [names[p] for p in odds["partner"]],
            "move": [
                f"{m} from {signed(b)} to {signed(a)}"
                for m, b, a in zip(moves, odds["tie_before"], odds["tie_after"], strict=True)
            ],
            "chance": odds["chance"].map(lambda v: f"{v:.0%}"),
        }
    )


@solara.component
def WhyView(model: ClassroomModel, version: int):
    """One state's decision in one past quarter, partner by partner, and the moves it
    took against the odds so far."""
    w = model.world
    focus = focus_of(w.scenario)
    state, set_state = solara.use_state(focus)
    choice, set_choice = solara.use_state(None)
    state = state if state in w.ids else focus
    odds = solara.use_memo(lambda: model.against_the_odds(state), [id(model), version, state])
    if not model.kept:
        solara.Info("Press Step first: there is no decision to explain yet.")
        return
    names = names_of(model)
    flagged = set(odds["period"])
    labels = {
        f"{w.date(p + 1)} (quarter {p + 1})"
        + (": a move against the odds" if p in flagged else ""): p
        for p in sorted(model.kept)
    }
    period = choice if choice in labels.values() else max(labels.values())
    states = {f"{n} ({s})": s for s, n in names.items()}
    with solara.Row(style={"flex-wrap": "wrap"}):
        solara.Select("State", value=_key(states, state), values=list(states),
                      on_value=lambda k: set_state(states[k]))  # fmt: skip
        solara.Select("Quarter ending", value=_key(labels, period), values=list(labels),
                      on_value=lambda k: set_choice(labels[k]))  # fmt: skip
    Decision(model, state, period, odds[odds["period"] == period])
    if w.candidates == "continuous":
        Prose(
            "With continuous ties no move is drawn against odds: each step is the pull of "
            "the payoffs plus chance, both shown above."
        )
    else:
        _odds_list(odds, names[state], names)


@solara.component
def Decision(model: ClassroomModel, state: str, period: int, odds: pd.DataFrame):
    """``state``'s decision in a kept ``period``, partner by partner, the moves taken
    against the odds that quarter (``odds``) highlighted."""
    w = model.world
    names = names_of(model)
    rows = solara.use_memo(lambda: why_rows(model, state, period), [id(model), state, period])
    P = model.kept[period].params
    i = w.index(state)
    weighs = (
        f"**{names[state]}**, quarter ending {w.date(period + 1)}. It weighs energy "
        f"{P.weights[i, 0]:.2f}, security {P.weights[i, 1]:.2f}, alignment "
        f"{P.weights[i, 2]:.2f}."
    )
    if "pull" in rows:
        Prose(
            f"{weighs} Its ties are continuous: each quarter a tie moves part of the way "
            "to the level its payoffs favour (the **pull of the payoffs**), and chance moves "
            "it too (a boundedly rational state is not exact). For each partner: the tie "
            "before and after, the pull and the chance, and what moving the tie **up one "
            f"step** ({w.delta:g}) changes against keeping it, in points: the pull is up "
            f"when that total is positive. {STEP_POINTS_NOTE}"
        )
    else:
        Prose(
            f"{weighs} For each partner: the tie before and after, the chance of each "
            "move, and what moving the tie **up one step** changes against keeping it, in "
            f"points. {POINTS_NOTE}"
        )
    marked = [k for k, p in enumerate(rows["partner"]) if p in set(odds["partner"])]
    caption = (
        f"{names[state]}: moving up one step against staying, quarter ending {w.date(period + 1)}"
    )
    Table(why_table(rows, odds, names), caption=caption, marked=marked)
    Prose("\n".join(f"- {s}" for s in reasons(rows, names[state], names)))


def _odds_list(odds: pd.DataFrame, who: str, names: dict[str, str]) -> None:
    Prose(
        f"**Moves {who} took against the odds so far** (a move it gave a chance below "
        f"{ODDS_LIMIT}; they are ringed on the World chart). Boundedly rational "
        "states sometimes make an unlikely move: one history is not the typical one."
    )
    if odds.empty:
        Prose("None so far.")
        return
    Table(odds_table(odds, names))


def _key(labels: dict, value) -> str:
    """The label of ``value`` in a ``{label: value}`` mapping."""
    return next(k for k, v in labels.items() if v == value)


# ---- With and without --------------------------------------------------------------


def measures(model: BalancingModel) -> dict[str, str]:
    """The focus state's measures a class can compare: ``{label: measure}``."""
    w = model.world
    focus = focus_of(w.scenario)
    names = names_of(model)
    out = {f"{names[focus]}'s tie to {names[p]}": p for p in w.ids if p != focus}
    if focus not in undefined_alignment(w.scenario):
        out = {f"{names[focus]}'s alignment index": ALIGNMENT, **out}
    return out


@dataclass(frozen=True)
class Comparison:
    """The With-and-without chart and its numbers for one shock, measure and date."""

    svg: str
    table: str
    this_seed: tuple[float, float] | None  # (with, without) at the date; None: not reached
    paired: dict  # ClassroomModel.paired_difference


def comparison(model: ClassroomModel, shock: str, measure: str, step: int, seeds: int):
    """The focus state's ``measure`` with and without ``shock``: this seed's pair of
    computer-played runs, the bands over ``seeds`` seeds of each world, and the mean
    paired difference at record ``step``."""
    w = model.world
    focus = focus_of(w.scenario)
    text = measure_text(model, focus, measure)
    label = w.scenario.spec.shocks[shock].label
    dates = record_dates(model)
    runs = {"with": model.computer_played(), "without": model.without(shock)}
    this = {k: measure_path(run, focus, measure) for k, run in runs.items()}
    bands = model.bands(shock, seeds, measure)
    lines, shaded = [], []
    for k, (world, path) in enumerate(this.items()):
        b = bands[bands["world"] == world]
        x = b["date"].to_numpy()
        shaded += [
            Band(x, b["q05"], b["q95"], style=k, opacity=0.12, label=f"{world}: 90% of seeds"),
            Band(x, b["q25"], b["q75"], style=k, opacity=0.22, label=f"{world}: 50% of seeds"),
        ]
        lines += [
            Line(f"{world} the shock, seed {model.seed}", dates, path, style=k, width=3),
            Line(f"{world}: median of {seeds}", x, b["q50"], style=k + 14, width=1.5),
        ]
    title = f"{w.names[w.index(focus)]}'s {text.short}, with and without: {label}"
    svg = charts.line_chart(
        lines,
        title=title,
        y_label=text.label + "; axis zoomed to the lines",
        x_range=x_range(model),
        y_range=zoomed([*(line.y for line in lines), bands["q05"], bands["q95"]], text.y_range),
        bands=shaded,
        events=[e for e in shock_events(model) if e.label.startswith(label)],
        now=model.date,
    )
    reached = step <= model.period
    return Comparison(
        svg,
        charts.data_table(lines, every=4, caption=title),
        (this["with"][step], this["without"][step]) if reached else None,
        model.paired_difference(shock, measure, step, seeds),
    )


def zoomed(values, whole: tuple[float, float], step: float = 0.25) -> tuple[float, float]:
    """A y range around ``values`` (arrays; NaN ignored) in multiples of ``step``, at
    least ``2 * step`` tall, inside the measure's ``whole`` range."""
    v = np.concatenate([np.asarray(x, dtype=float).ravel() for x in values])
    v = v[np.isfinite(v)]
    if not len(v):
        return whole
    low = max(whole[0], np.floor(v.min() / step - 0.2) * step)
    high = min(whole[1], np.ceil(v.max() / step + 0.2) * step)
    if high - low < 2 * step:
        mid = (low + high) / 2
        low, high = max(whole[0], mid - step), min(whole[1], mid + step)
    return float(low), float(high)


def difference_text(model: ClassroomModel, c: Comparison, step: int, seeds: int) -> str:
    """This seed's difference and the mean paired difference, in words."""
    date = model.world.date(step)
    if c.this_seed is None:
        mine = f"This run has not reached {date} yet."
    else:
        with_, without = c.this_seed
        mine = (
            f"In seed {model.seed} at {date}: {signed(with_)} with the shock, "
            f"{signed(without)} without, a difference of **{signed(with_ - without)}**."
        )
    p = c.paired
    return (
        f"{mine}\n\nOver {p['n']} seeds (0 to {seeds - 1}), each run with and without the "
        f"shock: the **mean paired difference** at {date} is **{signed(p['mean'], 3)}** (95% "
        f"interval {signed(p['ci_low'], 3)} to {signed(p['ci_high'], 3)}). With the shock "
        f"it was higher in {p['higher']} seeds, lower in {p['lower']}, the same in "
        f"{p['equal']}. One seed is one possible history; the mean over paired seeds "
        "measures the effect."
    )


@solara.component
def CompareView(model: ClassroomModel, version: int):
    """A shock's effect on a measure of the focus state: one seed's pair of runs, the
    bands over many seeds, and the mean paired difference at a date."""
    w = model.world
    spec = w.scenario.spec
    shock, set_shock = solara.use_state(None)
    measure, set_measure = solara.use_state(None)
    step, set_step = solara.use_state(None)
    seeds, set_seeds = solara.use_state(100)
    shocks = {f"{spec.shocks[s].label} ({s})": s for s in spec.shocks if s not in model.shocks_off}
    if not shocks:
        solara.Info("Every shock is switched off in this run: nothing to compare.")
        return
    options = measures(model)
    dates = {str(w.date(t)): t for t in range(1, w.n_periods + 1)}
    shock = shock if shock in shocks.values() else next(iter(shocks.values()))
    measure = measure if measure in options.values() else next(iter(options.values()))
    step = step if step in dates.values() else (model.period or w.n_periods)
    with solara.Row(style={"flex-wrap": "wrap"}):
        solara.Select("Shock", value=_key(shocks, shock), values=list(shocks),
                      on_value=lambda k: set_shock(shocks[k]))  # fmt: skip
        solara.Select("Measure", value=_key(options, measure), values=list(options),
                      on_value=lambda k: set_measure(options[k]))  # fmt: skip
        solara.Select("Difference at", value=_key(dates, step), values=list(dates),
                      on_value=lambda k: set_step(dates[k]))  # fmt: skip
        solara.Select("Seeds for the bands and the mean", value=seeds, values=list(SEEDS),
                      on_value=set_seeds)  # fmt: skip
    _who_plays(model)
    ComparisonPanel(model, version, shock, measure, step, seeds)


@solara.component
def ComparisonPanel(
    model: ClassroomModel, version: int, shock: str, measure: str, step: int, seeds: int
):
    """The chart and the numbers of :func:`comparison`."""
    c = solara.use_memo(
        lambda: comparison(model, shock, measure, step, seeds),
        [id(model), version, shock, measure, step, seeds],
    )
    Chart(c.svg, c.table, LINE_MIN)
    Prose(difference_text(model, c, step, seeds))
    Prose(measure_text(model, focus_of(model.world.scenario), measure).note)


def _who_plays(model: ClassroomModel) -> None:
    """Which runs the comparison is between, said plainly when someone plays a state."""
    if model.picks:
        played = ", ".join(model.world.names[model.world.index(s)] for s in model.played)
        solara.Info(
            f"You play {played}. Both runs compared here are played by the computer "
            "(every state an agent, the same seed), so your moves do not change this "
            "comparison. Your own path is in the Play tab."
        )
    Prose(
        f"Thick lines: this seed ({model.seed}) with the shock and without it, up to "
        "now, every state played by the computer. Thin lines and shading: the median, "
        "50% and 90% of many seeds of each world over the whole run."
    )


# ---- Play --------------------------------------------------------------------------

MOVES = ("down", "stay", "up")


def choice_rows(model: ClassroomModel) -> pd.DataFrame:
    """The played state's choices for the coming quarter: one row per partner and move
    with partner, kind (down/stay/up), candidate, tie_before, tie_after, probability
    (the agent's), picked, pinned, and what the move changes against staying in points
    (:func:`~sim.app.classroom.in_points`)."""
    table = model.candidates()
    kind = np.sign(table["move"]).map({-1.0: "down", 0.0: "stay", 1.0: "up"})
    keep = ["partner", "candidate", "tie_before", "tie_after", "probability", "picked", "pinned"]
    out = table[keep].assign(kind=kind, partner=table["partner"].astype(str))
    return pd.concat([out, in_points(against_staying(table))], axis=1)


def choice_table(rows: pd.DataFrame, show_odds: bool) -> pd.DataFrame:
    """One partner's :func:`choice_rows` as text: one column per choice, one row per
    term, the total last (and the agent's chance of each choice, if asked)."""
    terms = list(TERM_HEADS.values()) + (["agent's chance"] if show_odds else [])
    out = pd.DataFrame({"points": terms})
    for r in rows.itertuples(index=False):
        cells = [signed(getattr(r, col), 1) for col in TERM_HEADS]
        out[f"{r.kind} {'at' if r.kind == 'stay' else 'to'} {signed(r.tie_after)}"] = cells + (
            [f"{r.probability:.0%}"] if show_odds else []
        )
    return out


@solara.component
def PartnerChoice(model: ClassroomModel, rows: pd.DataFrame, show_odds: bool, redraw):
    """One partner's down/stay/up radio group with what each choice pays and costs."""
    names = names_of(model)
    partner = rows["partner"].iloc[0]
    title = f"{names[partner]} ({partner}): tie now {signed(rows['tie_before'].iloc[0])}"
    with solara.Card(title, margin=0, style=CARD):
        if rows["pinned"].any():
            Prose("Held by a shock this quarter: no choice to make.")
            return
        by_kind = {k: int(c) for k, c in zip(rows["kind"], rows["candidate"], strict=True)}
        totals = {k: signed(t, 1) for k, t in zip(rows["kind"], rows["total"], strict=True)}
        now = rows.loc[rows["picked"], "kind"]

        def pick(kind):
            model.moves[model.world.index(partner)] = by_kind[kind]
            redraw(lambda n: n + 1)

        rv.RadioGroup(
            label=f"Your move on the tie to {names[partner]}",
            v_model=now.iloc[0] if len(now) else "stay",
            on_v_model=pick,
            row=True,
            children=[
                rv.Radio(label=f"{k} ({totals[k]} points)", value=k) for k in MOVES if k in by_kind
            ],
        )
        Table(choice_table(rows, show_odds))


def move_form(model: ClassroomModel, on_step, show_odds: bool, set_show_odds, redraw) -> None:
    """The played state's choices for the coming quarter and the button that makes them."""
    w = model.world
    Prose(
        f"**Your move as {w.names[model.player]}**, quarter ending "
        f"{w.date(model.period + 1)}. For each partner choose down, stay or up; the table "
        f"says what each choice changes against staying, in points. {POINTS_NOTE} A tie "
        "near \u00b11 costs more to hold. Then press **Make my moves**."
    )
    if w.candidates == "continuous":  # the agents take a step, not a pick: no chances
        show_odds = False
        Prose(
            "The computer's states move their ties continuously (a step toward what their "
            "payoffs favour, plus chance); you move yours one step at a time."
        )
    else:
        solara.Checkbox(label="Show the agent's chances (what the computer would do)",
                        value=show_odds, on_value=set_show_odds)  # fmt: skip
    rows = choice_rows(model)
    with solara.Row(style={"flex-wrap": "wrap", "gap": "8px"}):
        for partner, g in rows.groupby("partner", sort=False):
            PartnerChoice(model, g, show_odds, redraw).key(f"choice-{partner}")
    solara.Button("Make my moves (one quarter)", color="primary", on_click=on_step)


@dataclass(frozen=True)
class Score:
    """The played state's payoff and path against the agent's, drawn once."""

    text: str
    payoff: str
    payoff_table: str
    alignment: str | None
    alignment_table: str | None
    ties: pd.DataFrame


def score(model: ClassroomModel) -> Score:
    """The played state's payoff summed over the quarters so far, and its path, beside
    the agent's in the same world and seed."""
    sid = model.player_id
    name = model.world.names[model.player]
    runs = {"you": model, "the agent": model.agent_run()}
    summed = {who: summed_payoff(run, sid) for who, run in runs.items()}
    ahead = summed["you"] - summed["the agent"]
    line = Line("you minus the agent", record_dates(model), ahead, style=model.player)
    title = f"{name}: your payoff minus the agent's, summed over the quarters"
    top = max(1.0, float(np.abs(ahead).max()) * 1.1)
    chart = charts.line_chart(
        [line],
        title=title,
        y_label="points: above 0 you are ahead of the agent",
        x_range=x_range(model),
        y_range=(-top, top),
        now=model.date,
        height=300,
    )
    text = (
        f"Your {name}'s payoff summed over the quarters so far: **{summed['you'][-1]:.1f} "
        f"points**; the agent's, same world and seed: **{summed['the agent'][-1]:.1f} "
        f"points**: you are **{abs(ahead[-1]):.1f} points "
        + ("ahead**." if ahead[-1] >= 0 else "behind**.")
    )
    styles = {"you": model.player, "the agent": model.player + 7}
    align, align_table = _paths_chart(model, runs, styles)
    i = model.player
    ties = pd.DataFrame(
        {
            "partner": [names_of(model)[p] for j, p in enumerate(model.world.ids) if j != i],
            "your tie": [signed(v) for j, v in enumerate(model.ties[i]) if j != i],
            "the agent's": [signed(v) for j, v in enumerate(runs["the agent"].ties[i]) if j != i],
        }
    )
    table = charts.data_table([line], every=4, caption=title, digits=1)
    return Score(text, chart, table, align, align_table, ties)


def summed_payoff(run: BalancingModel, state: str) -> np.ndarray:
    """``state``'s payoff summed over the quarters, in points, at every record so far
    (0 at the start): :func:`~sim.app.classroom.earned_points`, the cost of moving
    included."""
    return np.concatenate([[0.0], np.cumsum(earned_points(run, state))])


def _paths_chart(model: ClassroomModel, runs: dict, styles: dict):
    """The played state's alignment index, yours against the agent's (None, None when
    it has none)."""
    sid = model.player_id
    if sid in undefined_alignment(model.world.scenario):
        return None, None
    text = alignment_text(model)
    dates = record_dates(model)
    lines = [
        Line(who, dates, measure_path(run, sid, ALIGNMENT), style=styles[who])
        for who, run in runs.items()
    ]
    title = f"{model.world.names[model.player]}'s alignment index: your path and the agent's"
    svg = charts.line_chart(
        lines,
        title=title,
        y_label=text.label,
        x_range=x_range(model),
        y_range=text.y_range,
        events=shock_events(model),
        now=model.date,
        height=340,
    )
    return svg, charts.data_table(lines, every=4, caption=title)


@solara.component
def ScoreView(model: ClassroomModel, version: int):
    s = solara.use_memo(lambda: score(model), [id(model), version])
    Prose(s.text)
    with solara.Row(style={"flex-wrap": "wrap", "gap": "12px"}):
        with solara.Column(style=WIDE):
            Chart(s.payoff, s.payoff_table, LINE_MIN)
            if s.alignment is not None:
                Chart(s.alignment, s.alignment_table, LINE_MIN)
        with solara.Column(style=NARROW):
            Table(s.ties, caption=f"Ties at {model.date}")


@solara.component
def PlayView(model: ClassroomModel, version: int, on_play, on_step):
    """Play a state: its choices each quarter, and its payoff against the agent's."""
    _, redraw = solara.use_state(0)
    show_odds, set_show_odds = solara.use_state(False)
    if model.player is None:
        Invitation(model, on_play)
        return
    if model.running:
        move_form(model, on_step, show_odds, set_show_odds, redraw)
    else:
        solara.Success(
            f"The run is over. Here is your {model.world.names[model.player]} against the agent's."
        )
    if model.period > 0:
        ScoreView(model, version)


@solara.component
def Invitation(model: ClassroomModel, on_play):
    """What playing is, and a button that restarts the run with a state played."""
    w = model.world
    focus = focus_of(w.scenario)
    states = {f"{n} ({s})": s for s, n in names_of(model).items()}
    chosen, set_chosen = solara.use_state(focus)
    chosen = chosen if chosen in w.ids else focus
    Prose(
        "Take one state's decisions yourself: each quarter you choose, for each partner, "
        "whether to move the tie down, keep it, or move it up, seeing what each choice "
        "pays and costs. Every other state stays an agent. Playing restarts the run "
        "(same seed and settings)."
    )
    solara.Select("State to play", value=_key(states, chosen), values=list(states),
                  on_value=lambda k: set_chosen(states[k]))  # fmt: skip
    solara.Button(f"Play {w.names[w.index(chosen)]} (restarts the run)", color="primary",
                  on_click=lambda: on_play(chosen))  # fmt: skip
