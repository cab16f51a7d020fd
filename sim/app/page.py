"""The classroom dashboard: Mesa's SolaraViz page with Multivector's views.

SolaraViz gives the frame: the Controls card (Reset, play/pause, Step), the Model
Parameters card (the sliders, the shock switches, who the student plays) and the app bar.
Its parameters take effect on Reset, when it builds a new model from them; the page says
so while a change is pending. The views (World, Why did it move?, With and without,
Play, Guide) are tabs in the main area, drawn from the current model.

Run it with ``multivector app`` (see :mod:`sim.app.serve`). Each browser tab is a
session of its own, with its own model.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import markdown
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import solara  # noqa: E402
import solara.lab  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mesa.visualization import SolaraViz  # noqa: E402
from mesa.visualization.utils import force_update, update_counter  # noqa: E402

from sim.analysis.alignment import undefined_alignment  # noqa: E402
from sim.analysis.explain import against_staying, partner_summary, plain_reasons  # noqa: E402
from sim.app.classroom import (  # noqa: E402
    DEFAULT_SCENARIO,
    NOBODY,
    REPO,
    SHOCK_PREFIX,
    WEIGHTS,
    ClassroomModel,
    cached_scenario,
    defaults,
    focus_of,
    scenario_files,
)
from sim.drivers.run import RunResult  # noqa: E402
from sim.outputs.plots import alignment_figure, mark_shocks  # noqa: E402

SCENARIO_ENV = "MULTIVECTOR_APP_SCENARIO"  # the scenario `multivector app` was given
DOCS = {
    "Teacher's guide": REPO / "docs" / "TEACHERS_GUIDE.md",
    "Lesson plan (45 minutes)": REPO / "docs" / "LESSON_PLAN.md",
    "Model description (ODD)": REPO / "docs" / "ODD.md",
    "Notebooks": REPO / "notebooks" / "README.md",
}
NOBODY_LABEL = "nobody (every state is an agent)"


def start_scenario() -> Path:
    return Path(os.environ.get(SCENARIO_ENV) or DEFAULT_SCENARIO).resolve()


# ---- the model SolaraViz builds --------------------------------------------------------


class DashboardModel(ClassroomModel):
    """What SolaraViz builds on Reset.

    The page binds each input to a :class:`solara.Reactive` (to tell when a change is
    pending), and SolaraViz passes an input's initial value as given, so values may
    arrive wrapped; the played state arrives as its label.
    """

    def __init__(self, **settings):
        plain = {k: v.value if isinstance(v, solara.Reactive) else v for k, v in settings.items()}
        plain["player"] = _player_id(plain.get("player", NOBODY))
        super().__init__(**plain)


def _player_label(scenario, sid: str) -> str:
    return NOBODY_LABEL if not sid else f"{scenario.spec.states[sid].name} ({sid})"


def _player_id(label: str) -> str:
    """The state id of a "You play" label ("Azerbaijan (AZ)"); NOBODY for nobody."""
    if label in (NOBODY, NOBODY_LABEL):
        return NOBODY
    return label.rsplit("(", 1)[-1].rstrip(")") if label.endswith(")") else label


class Inputs:
    """The SolaraViz inputs of one scenario, each bound to a reactive value."""

    def __init__(self, path: Path):
        scenario = cached_scenario(path)
        self.path = path
        self.scenario = scenario
        focus = focus_of(scenario)
        name = scenario.spec.states[focus].name
        d = defaults(scenario)
        self.values: dict[str, solara.Reactive] = {}

        def bind(key, value):
            self.values[key] = solara.reactive(value)
            return self.values[key]

        p: dict = {"scenario_file": str(path)}
        p["seed"] = {
            "type": "SliderInt",
            "label": "Seed: which of the possible histories",
            "value": bind("seed", 7),
            "min": 0,
            "max": 99,
            "step": 1,
        }
        for w in WEIGHTS:
            p[w] = {
                "type": "SliderFloat",
                "label": f"How much {name} cares about {w}",
                "value": bind(w, float(d[w])),
                "min": 0.0,
                "max": 1.0,
                "step": 0.05,
            }
        for key, label, lo, hi, step in (
            ("tie_cost", "Tie cost: how hard it is to hold a tie near +-1", 0.05, 0.5, 0.01),
            ("tie_noise", "Randomness of choices (tie noise)", 0.01, 0.2, 0.01),
            ("move_cost", "Cost of changing a tie (in units of the randomness)", 0.0, 5.0, 0.25),
        ):
            p[key] = {
                "type": "SliderFloat",
                "label": label,
                "value": bind(key, float(d[key])),
                "min": lo,
                "max": hi,
                "step": step,
            }
        for sid, shock in scenario.spec.shocks.items():
            chance = f"chance {shock.probability.value:g} a quarter" if shock.probability else ""
            when = str(shock.date) if shock.date else chance
            p[SHOCK_PREFIX + sid] = {
                "type": "Checkbox",
                "label": f"{when}: {shock.label}",
                "value": bind(SHOCK_PREFIX + sid, True),
            }
        players = [NOBODY_LABEL] + [_player_label(scenario, s) for s in scenario.state_ids]
        p["player"] = {
            "type": "Select",
            "label": "You play",
            "value": bind("player", NOBODY_LABEL),
            "values": players,
        }
        self.params = p

    def wanted(self) -> dict:
        """The settings the inputs ask for, in the model's terms."""
        out = {k: r.value for k, r in self.values.items()}
        out["player"] = _player_id(out["player"])
        total = sum(out[w] for w in WEIGHTS)
        for w in WEIGHTS:  # importances become shares
            out[w] = out[w] / total if total > 0 else np.nan
        return out

    def pending(self, model: ClassroomModel) -> list[str]:
        """The inputs whose value differs from the model's (they wait for Reset)."""
        applied = dict(model.settings)
        total = sum(applied[w] for w in WEIGHTS)
        for w in WEIGHTS:
            applied[w] = applied[w] / total
        out = []
        for key, value in self.wanted().items():
            have = applied.get(key)
            if isinstance(value, float) and isinstance(have, float):
                if abs(value - have) > 1e-9:
                    out.append(key)
            elif value != have:
                out.append(key)
        return out


def initial(params: dict) -> dict:
    """The model settings of SolaraViz inputs: each input's value, fixed ones as given."""
    return {k: v["value"] if isinstance(v, dict) else v for k, v in params.items()}


_INPUTS: dict[Path, Inputs] = {}


def inputs_for(path: Path) -> Inputs:
    if path not in _INPUTS:
        _INPUTS[path] = Inputs(path)
    return _INPUTS[path]


# ---- helpers ---------------------------------------------------------------------------


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    matplotlib.pyplot.close(fig)
    return buf.getvalue()


@solara.component
def Picture(make, dependencies: list):
    """A matplotlib figure as a PNG, redrawn only when ``dependencies`` change."""
    data = solara.use_memo(lambda: png(make()), dependencies)
    solara.Image(data, width="100%")


def names_of(model) -> dict[str, str]:
    return dict(zip(model.world.ids, model.world.names, strict=True))


def heat_map(model: ClassroomModel) -> Figure:
    w = model.world
    fig = Figure(figsize=(6.4, 5.4))
    ax = fig.subplots()
    ties = np.where(np.eye(w.n, dtype=bool), np.nan, model.ties)
    im = ax.imshow(ties, cmap="RdBu", vmin=-1, vmax=1)
    for i in range(w.n):
        for j in range(w.n):
            if i != j:
                v = model.ties[i, j]
                ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=7.5,
                        color="white" if abs(v) > 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(w.n), w.ids)
    ax.set_yticks(range(w.n), w.ids)
    ax.set_xlabel("partner")
    ax.set_ylabel("state (its own row of ties)")
    ax.set_title(f"Ties at {model.date} (blue: friendly, red: hostile)", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def comparison_figure(model: ClassroomModel, shock_id: str, seeds: int) -> Figure:
    """The focus state's alignment: this run beside the same seed without the shock, and
    the bands over ``seeds`` seeds of each world."""
    w = model.world
    spec = w.scenario.spec
    focus = focus_of(w.scenario)
    i = w.index(focus)
    fig = Figure(figsize=(10, 4.6))
    ax = fig.subplots()
    label = spec.shocks[shock_id].label
    ax.set_title(f"With and without: {label}", fontsize=11, loc="left")
    undefined = undefined_alignment(w.scenario)
    if focus in undefined:  # nothing to draw: say why instead of an empty chart
        _no_index(ax, w.names[i], focus, undefined[focus])
        ax.set_xticks([])
        return fig
    bands = model.bands(shock_id, seeds)
    colours = {"with": "#1f5fa8", "without": "#d95f02"}
    for world, colour in colours.items():
        b = bands[bands["world"] == world]
        x = pd.to_datetime(b["date"])
        ax.fill_between(x, b["q05"], b["q95"], color=colour, alpha=0.12, lw=0)
        ax.fill_between(x, b["q25"], b["q75"], color=colour, alpha=0.25, lw=0)
        text = "with" if world == "with" else "without"
        ax.plot(x, b["q50"], color=colour, lw=1.2, alpha=0.9,
                label=f"{text} the shock: median and 50%/90% bands, {seeds} seeds")  # fmt: skip
    this = model.indices_table(model.seed)
    this = this[this["state"] == focus]
    other = model.without(shock_id).indices_table(model.seed)
    other = other[other["state"] == focus]
    ax.plot(this["date"], this["alignment_index"], color=colours["with"], lw=2.6,
            label=f"this run (seed {model.seed})")  # fmt: skip
    ax.plot(other["date"], other["alignment_index"], color=colours["without"], lw=2.6,
            ls="--", label=f"same seed without: {label}")  # fmt: skip
    shock = spec.shocks[shock_id]
    if shock.date:
        mark_shocks([ax], [{"date": shock.date.isoformat()}], label_ax=None)
    axis = spec.alignment_axis
    ax.set_ylabel(f"{w.names[i]}: alignment index\n({axis.toward} minus {axis.away})")
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlim(pd.Timestamp(w.date(0)), pd.Timestamp(w.date(w.n_periods)))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return fig


def _no_index(ax, name: str, sid: str, reason: str) -> None:
    """An axes that says why a state has no alignment index (and draws nothing)."""
    ax.text(0.5, 0.5, f"{name} ({sid}) has no alignment index:\n{reason}",
            transform=ax.transAxes, ha="center", va="center", color="0.25")  # fmt: skip
    ax.set_yticks([])  # (the x axis may be shared: its ticks stay)


def play_figure(model: ClassroomModel, mine: pd.DataFrame, theirs: pd.DataFrame) -> Figure:
    """The played state's path (``mine``) against the agent's (``theirs``): the indices
    tables of the model and of its :meth:`~ClassroomModel.agent_run`."""
    w = model.world
    sid = model.player_id
    fig = Figure(figsize=(10, 5.2))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    undefined = undefined_alignment(w.scenario)
    for table, style, who in ((mine, "-", "you"), (theirs, "--", "the agent")):
        d = table[table["state"] == sid]
        if sid not in undefined:
            ax1.plot(d["date"], d["alignment_index"], ls=style, lw=2.2, label=who)
        ax2.plot(d["date"], d["utility"].cumsum(), ls=style, lw=2.2, label=who)
    ax2.set_ylabel("payoff summed\nover quarters")
    if sid in undefined:  # no line to draw: say why, and put the legend below
        _no_index(ax1, w.names[model.player], sid, undefined[sid])
        ax2.legend(fontsize=8, frameon=False)
    else:
        ax1.set_ylabel("alignment index")
        ax1.legend(fontsize=8, frameon=False)
    ax1.set_title(f"{w.names[w.index(sid)]}: your path and the agent's (seed {model.seed})",
                  fontsize=11, loc="left")  # fmt: skip
    ax2.set_xlim(pd.Timestamp(w.date(0)), pd.Timestamp(w.date(w.n_periods)))
    return fig


_MD = ("tables", "fenced_code", "sane_lists", "toc")
_PROSE_CSS = """
.mv-prose table {border-collapse: collapse; margin: 6px 0; font-size: 13px}
.mv-prose th, .mv-prose td {border: 1px solid #ccc; padding: 2px 8px; text-align: right}
.mv-prose th:first-child, .mv-prose td:first-child {text-align: left}
.mv-prose code {background: #f3f3f3; padding: 0 3px}
.mv-prose pre {background: #f6f6f6; padding: 6px; overflow-x: auto}
"""


@solara.component
def Prose(text: str):
    """Markdown rendered here, in Python. (solara.Markdown loads KaTeX from a CDN, which a
    classroom without internet does not reach.)"""
    html = solara.use_memo(lambda: markdown.markdown(text, extensions=list(_MD)), [text])
    solara.Style(_PROSE_CSS)
    solara.HTML(tag="div", unsafe_innerHTML=html, classes=["mv-prose"])


def markdown_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    rows = ("| " + " | ".join(map(str, r)) + " |\n" for r in df.itertuples(index=False))
    return head + "".join(rows)


def _fmt(v, sign=True) -> str:
    if isinstance(v, float) and np.isnan(v):
        return "-"
    return f"{v:+.4f}" if sign else f"{v:.2f}"


# ---- views -----------------------------------------------------------------------------


@solara.component
def Status(model: ClassroomModel, inputs: Inputs):
    update_counter.get()
    w = model.world
    fired = model.shocks_so_far()
    text = (
        f"**{w.scenario.name}**, seed {model.seed}: quarter {model.period} of {w.n_periods}, "
        f"records up to **{model.date}**."
    )
    if model.player is not None:
        text += f" You play **{w.names[model.player]}**."
    if fired:
        text += " Shocks so far: " + "; ".join(f"{s['date']} {s['label']}" for s in fired) + "."
    Prose(text)
    pending = inputs.pending(model)
    if pending:
        solara.Warning(
            f"You changed {len(pending)} setting(s) in Model Parameters. They take effect "
            "when you press Reset: the run restarts from the start with the new settings.",
            dense=True,
        )


@solara.component
def WorldView(model: ClassroomModel):
    update_counter.get()
    key = [id(model), model.period]
    result = lambda: RunResult.of(model, model.seed, model.shocks_off)  # noqa: E731
    with solara.Row(style={"flex-wrap": "wrap"}):
        with solara.Column(style={"min-width": "620px", "flex": "3"}):
            Picture(lambda: alignment_figure(result()), key)
        with solara.Column(style={"min-width": "360px", "flex": "2"}):
            Picture(lambda: heat_map(model), key)


@solara.component
def WhyView(model: ClassroomModel):
    update_counter.get()
    w = model.world
    state, set_state = solara.use_state(focus_of(w.scenario))
    choice, set_choice = solara.use_state(None)
    if state not in w.ids:
        state = focus_of(w.scenario)
    if not model.kept:
        solara.Info("Press Step first: there is no decision to explain yet.")
        return
    periods = sorted(model.kept)
    labels = {f"{w.date(p + 1)} (quarter {p + 1})": p for p in periods}
    label = choice if choice in labels else list(labels)[-1]
    with solara.Row():
        solara.Select("State", value=state, values=list(w.ids), on_value=set_state)
        solara.Select("Quarter ending", value=label, values=list(labels), on_value=set_choice)
    ev = model.kept[labels[label]]
    i = w.index(state)
    table = model.explain(state, ev)
    summary = partner_summary(table, ev, i, list(w.ids))
    P = ev.params
    Prose(
        f"**{w.names[i]}** weighs energy {P.weights[i, 0]:.2f}, security "
        f"{P.weights[i, 1]:.2f}, alignment {P.weights[i, 2]:.2f}. For each partner: the tie "
        "before and after, the chance of each move, and what moving **up one step** "
        "changes against staying, term by term (positive favours moving up)."
    )
    shown = pd.DataFrame(
        {
            "partner": [f"{names_of(model)[p]} ({p})" for p in summary["partner"]],
            "before": [_fmt(v, False) for v in summary["before"]],
            "after": [_fmt(v, False) for v in summary["after"]],
            "P(down)": [f"{v:.0%}" for v in summary["p_down"]],
            "P(stay)": [f"{v:.0%}" for v in summary["p_stay"]],
            "P(up)": [f"{v:.0%}" for v in summary["p_up"]],
            "energy": [_fmt(v) for v in summary["energy"]],
            "security": [_fmt(v) for v in summary["security"]],
            "alignment": [_fmt(v) for v in summary["alignment"]],
            "tie cost": [_fmt(v) for v in summary["tie_cost"]],
            "net": [_fmt(v) for v in summary["net"]],
        }
    )
    pinned = summary["pinned"].to_numpy()
    for col in ("P(down)", "P(stay)", "P(up)", "energy", "security", "alignment", "tie cost"):
        shown.loc[pinned, col] = "held by a shock" if col == "P(down)" else ""
    shown.loc[pinned, "net"] = ""
    Prose(markdown_table(shown))
    reasons = plain_reasons(summary, w.names[i], names_of(model))
    Prose("\n".join(f"- {s}" for s in reasons))


@solara.component
def CompareView(model: ClassroomModel):
    update_counter.get()
    choice, set_choice = solara.use_state(None)
    seeds, set_seeds = solara.use_state(100)
    spec = model.world.scenario.spec
    on = [sid for sid in spec.shocks if sid not in model.shocks_off]
    if not on:
        solara.Info("Every shock is switched off in this run: nothing to compare.")
        return
    labels = {f"{spec.shocks[s].label} ({s})": s for s in on}
    label = choice if choice in labels else list(labels)[0]
    with solara.Row():
        solara.Select("Shock", value=label, values=list(labels), on_value=set_choice)
        solara.Select("Seeds for the bands", value=seeds, values=[20, 100, 400], on_value=set_seeds)
    Prose(
        "Thick lines: this run, and the **same seed** without the shock, up to the current "
        "quarter (a played state is played by its agent in the world without). Bands: "
        "median, 50% and 90% of many seeds of each world over the whole horizon. One seed "
        "is one possible history; the bands show what is typical."
    )
    sid = labels[label]
    Picture(lambda: comparison_figure(model, sid, seeds), [id(model), model.period, sid, seeds])


@solara.component
def PlayView(model: ClassroomModel, on_play):
    """The Play tab: an invitation to play a state, then the student's moves each quarter
    and the student's payoff against the agent's."""
    update_counter.get()
    _, redraw = solara.use_state(0)
    show_odds, set_show_odds = solara.use_state(False)
    if model.player is None:
        play_invitation(model, on_play)
        return
    me = model.world.names[model.player]
    if not model.running:
        solara.Success(f"The run is over. Here is your {me} against the agent's.")
    else:
        move_form(model, show_odds, set_show_odds, lambda: redraw(lambda n: n + 1))
    if model.period > 0:
        play_score(model)


def play_invitation(model: ClassroomModel, on_play) -> None:
    """What the Play tab shows while nobody is played: what playing is, and a button that
    restarts the run with the focus state played (``on_play(state id)``)."""
    w = model.world
    focus = focus_of(w.scenario)
    Prose(
        "Take one state's decisions yourself: each quarter you pick, for each partner, "
        "whether to move the tie down, keep it, or move it up, seeing what each choice "
        "does to the payoff terms. Every other state stays an agent. Choose a state in "
        "**You play** (Model Parameters) and press Reset, or:"
    )
    solara.Button(
        f"Play {w.names[w.index(focus)]} (restarts the run)",
        color="primary",
        on_click=lambda: on_play(focus),
    )


def move_options(
    candidates: pd.DataFrame, terms: pd.DataFrame, show_odds: bool
) -> dict[str, tuple[int, str]]:
    """One partner's candidates as the Play tab offers them.

    Args:
        candidates: the partner's rows of :meth:`ClassroomModel.candidates`.
        terms: :func:`~sim.analysis.explain.against_staying` of the candidates' table.
        show_odds: add the agent's chance of each candidate.

    Returns:
        ``{"down" | "stay" | "up": (candidate index, the line that describes it)}``.
    """
    options = {}
    rows = zip(
        candidates.itertuples(index=False),
        terms.loc[candidates.index].itertuples(index=False),
        strict=True,
    )
    for r, t in rows:
        kind = "stay" if r.move == 0 else ("up" if r.move > 0 else "down")
        odds = f", agent {r.probability:.0%}" if show_odds else ""
        options[kind] = (
            r.candidate,
            f"{kind} to {r.tie_after:+.2f}: energy {t.energy:+.4f}, security "
            f"{t.security:+.4f}, alignment {t.alignment:+.4f}, tie cost {t.tie_cost:+.4f}, "
            f"total {t.net:+.4f}{odds}",
        )
    return options


def move_form(model: ClassroomModel, show_odds: bool, set_show_odds, redraw) -> None:
    """The played state's choices for the coming quarter: per partner, down, stay or up
    with what each changes against staying, and the button that applies them.

    ``redraw()`` redraws the tab after a pick (the picks live in :attr:`ClassroomModel.moves`).
    """
    w = model.world
    table = model.candidates()
    ev = model.upcoming()
    names = names_of(model)
    Prose(
        f"**Your move as {w.names[model.player]}**, quarter ending {w.date(model.period + 1)}. "
        "For each partner choose down, stay or up. The numbers are what each choice changes "
        "against staying in your weighted payoff (positive is better for you); a tie "
        "near +-1 costs more to hold. Then press **Make my moves** (or Step)."
    )
    solara.Checkbox(label="Show what the agent would do (its chances)", value=show_odds,
                    on_value=set_show_odds)  # fmt: skip
    terms = against_staying(table)
    for partner, g in table.groupby("partner", sort=False, observed=True):
        j = w.index(str(partner))
        if g["pinned"].any():
            Prose(f"- **{names[partner]}**: held by a shock this quarter.")
            continue
        options = move_options(g, terms, show_odds)
        current = model.moves.get(j, int(ev.stay[model.player, j]))
        kind_now = next((k for k, (c, _) in options.items() if c == current), "stay")
        with solara.Card(f"{names[partner]} ({partner}): tie now "
                         f"{g['tie_before'].iloc[0]:+.2f}", margin=0):  # fmt: skip

            def pick(kind, j=j, options=options):
                model.moves[j] = options[kind][0]  # Step or "Make my moves" applies it
                redraw()

            solara.ToggleButtonsSingle(value=kind_now, values=list(options), on_value=pick)
            Prose("\n".join(f"- {text}" for _c, text in options.values()))

    def make_moves():
        model.step()
        force_update()

    solara.Button("Make my moves (one quarter)", color="primary", on_click=make_moves)


def play_score(model: ClassroomModel) -> None:
    """The played state's payoff so far against the agent's in the same world and seed,
    and both paths."""
    agent = model.agent_run()
    mine = model.indices_table(model.seed)
    theirs = agent.indices_table(model.seed)
    sid = model.player_id
    total_mine = mine.loc[mine["state"] == sid, "utility"].sum()
    total_agent = theirs.loc[theirs["state"] == sid, "utility"].sum()
    Prose(
        f"Your {model.world.names[model.player]}'s payoff summed over the quarters so far: "
        f"**{total_mine:.4f}**; the agent's, same world and seed: **{total_agent:.4f}**."
    )
    Picture(lambda: play_figure(model, mine, theirs), [id(model), model.period])


@solara.component
def GuideView():
    which, set_which = solara.use_state(list(DOCS)[0])
    Prose(
        "The teacher's guide, the lesson plan and the model description are in the "
        f"`docs/` folder of the repository ({REPO / 'docs'}); they are shown here too."
    )
    solara.ToggleButtonsSingle(value=which, values=list(DOCS), on_value=set_which)
    path = DOCS[which]
    if path.exists():
        Prose(path.read_text(encoding="utf-8"))
    else:
        solara.Warning(f"{path} is not there (an install without the repository's docs).")


# ---- the page --------------------------------------------------------------------------


@solara.component
def ScenarioCard(path: Path, on_path):
    files = scenario_files(path.parent)
    if path not in files.values():
        files[f"{cached_scenario(path).name} ({path.name})"] = path
    label = next(k for k, v in files.items() if v == path)
    with solara.Card("Scenario"):
        solara.Select(
            "Scenario", value=label, values=list(files), on_value=lambda k: on_path(files[k])
        )
        solara.Text("Choosing a scenario loads it at once and restarts the run.")


@solara.component
def Page():
    start = solara.use_memo(start_scenario, [])
    path, set_path = solara.use_state(start)
    inputs = inputs_for(path)
    first = solara.use_memo(lambda: DashboardModel(**initial(inputs.params)), [])
    model = solara.use_reactive(first)

    def switch(new: Path):
        new_inputs = inputs_for(new)
        model.set(DashboardModel(**initial(new_inputs.params)))
        set_path(new)

    def play(sid: str):
        inputs.values["player"].set(_player_label(inputs.scenario, sid))
        model.set(DashboardModel(**initial(inputs.params)))
        force_update()

    solara.Title("Multivector")
    SolaraViz(
        model,
        components=[],
        model_params=inputs.params,
        name=f"Multivector: {inputs.scenario.name}",
        play_interval=300,
    ).key(str(path))
    with solara.Sidebar():
        ScenarioCard(path, switch)
    m = model.value
    with solara.Column(style={"padding": "0 12px"}):
        Status(m, inputs)
        with solara.lab.Tabs(lazy=True):
            for title, view in (
                ("World", lambda: WorldView(m)),
                ("Why did it move?", lambda: WhyView(m)),
                ("With and without", lambda: CompareView(m)),
                ("Play", lambda: PlayView(m, play)),
                ("Guide", GuideView),
            ):
                with solara.lab.Tab(title):
                    with solara.Column(align="stretch", style={"width": "100%"}):
                        view()
