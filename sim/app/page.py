"""The classroom dashboard's page: Multivector's own Solara frame around its views.

The frame holds one browser tab's :class:`Session`: the scenario and the settings shown,
the model built from them (a :class:`~sim.app.classroom.ClassroomModel`, a Mesa model),
and the controls that drive it (Step, Play/Pause, Run to end, Reset). The views (World,
Why did it move?, With and without, Play) come from :mod:`sim.app.views`; the Guide tab
(the project's documents, their links kept inside the page) is :mod:`sim.app.guide`.

- Choosing a scenario loads it and restarts the run at once. The other settings wait for
  Reset, and the page lists what changed meanwhile; Reset builds the model of the
  scenario shown with the settings shown.
- A model that does not build (bad settings, a scenario file that no longer loads) leaves
  the last one in place, and the page says why; so does any other failed action.
- Only the visible tab is drawn, once per step.

Run it with ``multivector app`` (see :mod:`sim.app.serve`). Each browser tab is a
session of its own, with its own model.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass
from html import escape
from pathlib import Path

import solara
import solara.lab

from sim.app import guide, views, widgets
from sim.app.classroom import (
    CONSTANTS,
    DEFAULT_SCENARIO,
    NOBODY,
    SHOCK_PREFIX,
    WEIGHTS,
    ClassroomModel,
    cached_scenario,
    defaults,
    focus_of,
    scenario_files,
)
from sim.errors import UserError
from sim.scenario import Scenario

log = logging.getLogger(__name__)

SCENARIO_ENV = "MULTIVECTOR_APP_SCENARIO"  # the scenario `multivector app` was given
NOBODY_LABEL = "nobody (every state is an agent)"
#: Play's pace: label -> seconds between two quarters.
SPEEDS = {
    "slow (1.2 s a quarter)": 1.2,
    "medium (0.6 s a quarter)": 0.6,
    "fast (0.3 s a quarter)": 0.3,
}
TABS = ("World", "Why did it move?", "With and without", "Play", "Guide")


def start_scenario() -> Path:
    """The scenario file the page opens with: the one ``multivector app`` was given."""
    return Path(os.environ.get(SCENARIO_ENV) or DEFAULT_SCENARIO).resolve()


# ---- the settings a class can change ---------------------------------------------------


@dataclass(frozen=True)
class Slider:
    """A setting shown as a slider: its key in the settings, what it is, and its range."""

    key: str
    label: str
    lo: float
    hi: float
    step: float

    def snap(self, raw) -> float | int:
        """A value the page sent, on the slider's steps (an int for an int step)."""
        steps = round((float(raw) - self.lo) / self.step)
        value = min(max(round(self.lo + steps * self.step, 10), self.lo), self.hi)
        return int(value) if isinstance(self.step, int) else value


def focus_name(scenario: Scenario) -> str:
    """The name of the state the scenario is about (whose importances the panel sets)."""
    return scenario.spec.states[focus_of(scenario)].name


def sliders(scenario: Scenario) -> list[Slider]:
    """The settings panel's sliders for a scenario, in their order."""
    name = focus_name(scenario)
    return [
        Slider("seed", "Seed: which of the possible histories", 0, 99, 1),
        *(Slider(w, f"How much {name} cares about {w}", 0.0, 1.0, 0.05) for w in WEIGHTS),
        Slider("tie_cost", "Tie cost: how hard it is to hold a tie near ±1", 0.05, 0.5, 0.01),
        Slider("tie_noise", "Randomness of choices (tie noise)", 0.01, 0.2, 0.01),
        Slider("move_cost", "Cost of changing a tie (in units of the randomness)", 0, 5, 0.25),
    ]


def shock_labels(scenario: Scenario) -> dict[str, str]:
    """``{settings key: "when: what"}`` of the scenario's shocks."""
    out = {}
    for sid, shock in scenario.spec.shocks.items():
        chance = f"chance {shock.probability.value:g} a quarter" if shock.probability else ""
        out[SHOCK_PREFIX + sid] = f"{shock.date or chance}: {shock.label}"
    return out


def player_labels(scenario: Scenario) -> dict[str, str]:
    """``{state id: label}`` of the "You play" choices; NOBODY for nobody."""
    states = scenario.spec.states
    return {NOBODY: NOBODY_LABEL, **{s: f"{states[s].name} ({s})" for s in scenario.state_ids}}


def setting_names(scenario: Scenario) -> dict[str, str]:
    """Every setting's name as the pending-changes notice says it, in the panel's order."""
    name = focus_name(scenario)
    return {
        "seed": "seed",
        **{w: f"how much {name} cares about {w}" for w in WEIGHTS},
        "tie_cost": "tie cost",
        "tie_noise": "randomness (tie noise)",
        "move_cost": "cost of changing a tie",
        **{key: f"shock {label}" for key, label in shock_labels(scenario).items()},
        "player": "You play",
    }


def form_for(scenario: Scenario, seed: int = 7) -> dict:
    """The settings a scenario starts with: its own values, every shock on, nobody played."""
    shocks = {SHOCK_PREFIX + sid: True for sid in scenario.spec.shocks}
    return {"seed": seed, **defaults(scenario), **shocks, "player": NOBODY}


def differs(a, b) -> bool:
    """Whether two setting values differ (numbers by more than rounding)."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return abs(a - b) > 1e-9
    return a != b


def build(path: Path, form: dict) -> ClassroomModel:
    """The model of a scenario file with ``form``'s settings.

    A weight or constant at the scenario's own value is left to the scenario, so that a
    run with the scenario's settings is exactly ``multivector run``'s.
    """
    own = defaults(cached_scenario(path))
    kwargs = {k: v for k, v in form.items() if k not in own}
    if any(differs(form[w], own[w]) for w in WEIGHTS):
        kwargs.update({w: form[w] for w in WEIGHTS})
    kwargs.update({k: form[k] for k in CONSTANTS if differs(form[k], own[k])})
    return ClassroomModel(path, **kwargs)


def applied(model: ClassroomModel) -> dict:
    """The settings ``model`` was built with, as the form holds them."""
    return {k: v for k, v in model.settings.items() if k != "scenario_file"}


def shown(scenario: Scenario, key: str, value) -> str:
    """A setting's value as the pending-changes notice says it."""
    if key == "player":
        return player_labels(scenario).get(value, value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def changes(scenario: Scenario, before: dict, after: dict) -> list[str]:
    """What ``after`` changes against ``before``, one line a setting ("seed: 7 → 8")."""
    return [
        f"{name}: {shown(scenario, key, before.get(key))} → {shown(scenario, key, after[key])}"
        for key, name in setting_names(scenario).items()
        if key in after and differs(before.get(key), after[key])
    ]


def problem(exc: Exception) -> str:
    """An exception as the page says it: a user's error as it is, anything else named."""
    if isinstance(exc, UserError):
        return str(exc)
    return f"That did not work ({type(exc).__name__}: {exc})."


# ---- one browser tab's session ---------------------------------------------------------


def guarded(action):
    """A session's action whose failure becomes the page's error message (the model in
    place stays), never a traceback; it returns None then."""

    @functools.wraps(action)
    def run(self: Session, *args):
        try:
            with self.lock:
                result = action(self, *args)
            self.error.set("")
            return result
        except Exception as exc:  # any failure: a message on the page, the page goes on
            log.warning("%s failed: %s: %s", action.__name__, type(exc).__name__, exc)
            self.playing.set(False)
            self.error.set(f"{problem(exc)} The run on the page is the one you had.")
            self.failures.value += 1
            return None

    return run


class Session:
    """One browser tab's dashboard: the scenario and settings shown, the model built from
    them (the last one that built), and what the controls do to it.

    The model is not reactive itself: ``version`` counts its changes (steps, resets), and
    what reads the model reads ``version`` too. ``lock`` serialises the changes (Play
    steps from a thread of its own).
    """

    def __init__(self, path: Path):
        self.lock = threading.RLock()
        self.scenario = cached_scenario(path)
        self.path = solara.reactive(path)
        self.form = solara.reactive(form_for(self.scenario))
        self.version = solara.reactive(0)
        self.error = solara.reactive("")
        self.failures = solara.reactive(0)  # failed actions, to redraw what they left behind
        self.playing = solara.reactive(False)
        self.interval = solara.reactive(0.6)
        self.tab = solara.reactive(0)
        self.settings_open = solara.reactive(False)  # on a narrow screen; a wide one shows them
        self.model = build(path, self.form.value)

    @property
    def ended(self) -> bool:
        return not self.model.running

    def _replace(self, path: Path, form: dict) -> None:
        model = build(path, form)  # first: a failure leaves everything as it was
        self.playing.set(False)
        self.model = model
        self.scenario = cached_scenario(path)
        self.path.set(path)
        self.form.set(form)
        self.version.value += 1

    @guarded
    def step(self) -> bool:
        """One quarter (none once the run has ended); whether the run goes on."""
        if self.model.running:
            self.model.step()
            self.version.value += 1
        if not self.model.running:
            self.playing.set(False)
        return self.model.running

    @guarded
    def run_to_end(self) -> None:
        while self.model.running:
            self.model.step()
        self.playing.set(False)
        self.version.value += 1

    @guarded
    def reset(self) -> None:
        """Restart: the scenario shown, with the settings shown."""
        self._replace(self.path.value, self.form.value)

    @guarded
    def switch(self, path: Path | None) -> None:
        """Load another scenario and restart with its own settings (the seed stays)."""
        if path is None:
            raise UserError("that scenario is not among the choices")
        scenario = cached_scenario(path)
        self._replace(path, form_for(scenario, seed=self.form.value["seed"]))

    @guarded
    def play_as(self, state_id: str) -> None:
        """Restart with ``state_id`` played by the student (the settings shown otherwise)."""
        self._replace(self.path.value, {**self.form.value, "player": state_id})

    @guarded
    def toggle_play(self) -> None:
        self.playing.set(not self.playing.value and self.model.running)

    @guarded
    def change(self, key: str, value) -> None:
        """Set one setting; it takes effect on Reset."""
        self.form.set({**self.form.value, key: value})

    @guarded
    def slide(self, setting: Slider, raw) -> None:
        """Set a slider's setting from the value the page sent."""
        self.form.set({**self.form.value, setting.key: setting.snap(raw)})

    @guarded
    def choose(self, key: str, label: str, options: dict) -> None:
        """Set ``key`` to the option shown as ``label`` (``options``: label -> value)."""
        if label not in options:
            raise UserError(f"{label!r} is not among the choices")
        self.form.set({**self.form.value, key: options[label]})

    @guarded
    def set_pace(self, label: str) -> None:
        """Play's pace, one of :data:`SPEEDS`."""
        if label not in SPEEDS:
            raise UserError(f"{label!r} is not among the paces")
        self.interval.set(SPEEDS[label])

    @guarded
    def undo_changes(self) -> None:
        self.form.set(applied(self.model))

    def pending(self) -> list[str]:
        """The changes waiting for Reset."""
        return changes(self.scenario, applied(self.model), self.form.value)


# ---- the frame -------------------------------------------------------------------------

CSS = """
.mv-page {padding: 8px 12px; max-width: 100%; box-sizing: border-box}
.mv-page h1 {font-size: 20px; font-weight: 600; margin: 0 0 4px}
.mv-bar {display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin-bottom: 8px}
.mv-bar .v-select {flex: 0 1 230px; max-width: 230px}
.mv-body {display: flex; flex-wrap: wrap; align-items: flex-start; gap: 16px}
.mv-settings {flex: 0 0 300px; max-width: 100%; min-width: 0}
.mv-main {flex: 1 1 600px; min-width: 0; max-width: 100%}
.mv-settings-toggle {display: none}
@media (max-width: 999px) {
  .mv-settings {flex: 1 1 100%}
  .mv-settings-toggle {display: inline-flex}
  .mv-settings:not(.mv-open) .mv-settings-body {display: none}
  .mv-settings-body {display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
                     column-gap: 16px}
}
.mv-setting-label {font-size: 14px; color: #222; margin-top: 10px}
.mv-slider {margin-top: 6px}
.mv-slider .v-input__slot {flex-wrap: wrap}
.mv-slider .v-input__slot > .v-label {flex: 1 1 100%; white-space: normal; height: auto;
  max-width: 100%; margin-bottom: 2px; color: #222 !important; font-size: 14px}
.mv-setting {display: flex; align-items: flex-end; gap: 8px}
.mv-setting .mv-slider {flex: 1 1 auto; min-width: 0}
.mv-setting-value {flex: 0 0 3.2em; text-align: right; font-weight: 600; color: #111;
  padding-bottom: 4px}
.mv-notice {border-left: 5px solid; padding: 8px 12px; margin: 6px 0; font-size: 15px;
            border-radius: 3px}
.mv-notice ul {margin: 4px 0 0}
.mv-pending {background: #fff4ce; color: #3b2f00; border-color: #8a6d00}
.mv-error {background: #fde7e9; color: #6b0010; border-color: #a4262c}
.mv-end {background: #e6f0fb; color: #0b2e59; border-color: #1a4fa0}
.mv-main .mv-prose, .mv-main .mv-document {overflow-x: auto; max-width: 100%}
.mv-document img {max-width: 100%}
.mv-file {font-family: monospace}
.mv-page .v-icon.mdi {overflow: hidden}  /* the glyphs are 4 px wider than their box */
.mv-page .v-btn:focus-visible, .mv-page [role=slider]:focus-visible, .mv-page a:focus-visible,
.mv-page .v-tab:focus-visible {outline: 3px solid #0b57d0; outline-offset: 2px}
.mv-page .v-tab {text-transform: none; font-size: 15px; letter-spacing: normal}
.mv-page .v-btn {text-transform: none; letter-spacing: normal; font-size: 15px}
"""


@solara.component
def Notice(kind: str, children=()):
    """A message box with dark text on a light ground (WCAG AA contrast): ``kind`` is
    "pending", "error" or "end"."""
    role = "alert" if kind == "error" else "status"
    solara.v.Html(
        tag="div", class_=f"mv-notice mv-{kind}", attributes={"role": role}, children=list(children)
    )


@solara.component
def ControlBar(session: Session):
    """Step, Play/Pause (and its pace), Run to end, Reset."""
    session.version.value  # noqa: B018 (read: the buttons follow the run)
    over = session.ended
    playing = session.playing.value
    pace = next((k for k, s in SPEEDS.items() if s == session.interval.value), None)
    with solara.Div(classes=["mv-bar"]):
        solara.Button("Step (one quarter)", on_click=session.step, disabled=over, color="primary")
        solara.Button(
            "Pause" if playing else "Play",
            on_click=session.toggle_play,
            disabled=over and not playing,
            outlined=True,
        )
        solara.Select(
            "Play speed",
            value=pace,
            values=list(SPEEDS),
            on_value=session.set_pace,
            dense=True,
        )
        solara.Button("Run to end", on_click=session.run_to_end, disabled=over, outlined=True)
        solara.Button("Reset", on_click=session.reset, outlined=True)
        shown_settings = session.settings_open.value
        solara.Button(
            "Hide settings" if shown_settings else "Show settings",
            on_click=lambda: session.settings_open.set(not shown_settings),
            classes=["mv-settings-toggle"],
            outlined=True,
            attributes={"aria-expanded": "true" if shown_settings else "false"},
        )


@solara.component
def SliderSetting(setting: Slider, value, on_value):
    """A slider with its label above it and its value beside it, always visible;
    ``on_value`` gets the value the page sends."""
    with solara.Div(classes=["mv-setting"]):
        solara.v.Slider(
            label=setting.label,
            v_model=value,
            on_v_model=on_value,
            min=setting.lo,
            max=setting.hi,
            step=setting.step,
            hide_details=True,
            class_="mv-slider",
        )
        shown = str(value) if isinstance(value, int) else f"{value:.2f}"
        solara.Div(children=[shown], classes=["mv-setting-value"])


@solara.component
def SettingsPanel(session: Session):
    """The scenario (loaded at once) and the settings that wait for Reset."""
    path = session.path.value
    form = session.form.value
    scenario = session.scenario
    files = solara.use_memo(lambda: scenario_choices(path), [path])
    classes = ["mv-settings"] + (["mv-open"] if session.settings_open.value else [])
    with solara.Div(classes=classes):
        with solara.Div(classes=["mv-settings-body"]):
            solara.Select(
                "Scenario (loads at once and restarts the run)",
                value=next(k for k, p in files.items() if p == path),
                values=list(files),
                on_value=lambda k: session.switch(files.get(k)),
            ).key(f"scenario-{path}-{session.failures.value}")
            for setting in sliders(scenario):
                SliderSetting(setting, form[setting.key], functools.partial(session.slide, setting))
            solara.Div(
                children=["Shocks (switch one off to remove it)"], classes=["mv-setting-label"]
            )
            for key, label in shock_labels(scenario).items():
                solara.Switch(
                    label=label, value=form[key], on_value=functools.partial(session.change, key)
                )
            players = {label: sid for sid, label in player_labels(scenario).items()}
            solara.Select(
                "You play",
                value=next(label for label, sid in players.items() if sid == form["player"]),
                values=list(players),
                on_value=lambda label: session.choose("player", label, players),
            )


def scenario_choices(path: Path) -> dict[str, Path]:
    """The scenarios beside ``path`` (``{label: path}``), ``path`` among them."""
    try:
        files = scenario_files(path.parent)
    except OSError:  # a file vanished while listing: show the one in use
        files = {}
    if path not in files.values():
        files[f"{cached_scenario(path).name} ({path.name})"] = path
    return files


@solara.component
def Messages(session: Session):
    """The failure of the last action, the changes waiting for Reset, the end of the run."""
    session.version.value  # noqa: B018 (read: the messages follow the run)
    session.form.value  # noqa: B018
    error = session.error.value
    if error:
        Notice("error", children=[error])
    pending = session.pending()
    if pending:
        items = "".join(f"<li>{escape(p, quote=False)}</li>" for p in pending)
        waiting = (
            f"{len(pending)} change waits" if len(pending) == 1 else f"{len(pending)} changes wait"
        )
        text = (
            f"<strong>{waiting} for Reset</strong> (the run then restarts from the start "
            f"with them):<ul>{items}</ul>"
        )
        with Notice("pending"):
            solara.HTML(tag="div", unsafe_innerHTML=text)
            solara.Button("Undo these changes", on_click=session.undo_changes, text=True)
    if session.ended:
        Notice(
            "end",
            children=[f"The run has reached {session.model.date}: press Reset to start again."],
        )


@solara.component
def Status(session: Session):
    """Where the run is: scenario, seed, quarter, date, the played state, shocks so far."""
    session.version.value  # noqa: B018
    model = session.model
    w = model.world
    text = (
        f"**{session.scenario.name}**, seed {model.seed}: quarter {model.period} of "
        f"{w.n_periods}, records up to **{model.date}**."
    )
    if model.player is not None:
        text += f" You play **{w.names[model.player]}**."
    fired = model.shocks_so_far()
    if fired:  # the whole list is the chart's key: one line here keeps the chart in view
        last = fired[-1]
        text += f" Shocks so far: {len(fired)}, the latest {last['date']} {last['label']}."
    with solara.v.Html(tag="div", attributes={"aria-live": "polite"}, class_="mv-status"):
        widgets.Prose(text)


@solara.component
def LiveView(session: Session, index: int):
    """The view of tab ``index``, drawn from the model at its current version. A view that
    fails says so in its place."""
    failure, clear = solara.use_exception()
    if failure is not None:
        log.warning("the %s tab failed: %s: %s", TABS[index], type(failure).__name__, failure)
        Notice("error", children=[f"This tab could not be drawn: {problem(failure)}"])
        solara.Button("Try again", on_click=clear, outlined=True)
        return
    model, version = session.model, session.version.value
    makers = (
        lambda: views.WorldView(model, version),
        lambda: views.WhyView(model, version),
        lambda: views.CompareView(model, version),
        lambda: views.PlayView(model, version, session.play_as, session.step),
    )
    with solara.Div(classes=["mv-view"]):
        makers[index]()


@solara.component
def Tabs(session: Session):
    """The tabs; only the visible one is drawn."""
    shown_tab = session.tab.value
    with solara.lab.Tabs(value=session.tab, lazy=True):
        for i, title in enumerate(TABS):
            with solara.lab.Tab(title):
                if i == shown_tab:
                    guide.GuideView() if title == "Guide" else LiveView(session, i)


@solara.component
def AutoStep(session: Session):
    """Play: a step every ``interval`` seconds, from a thread, until Pause or the end."""
    playing, interval = session.playing.value, session.interval.value

    def play(cancel: threading.Event) -> None:
        while playing and not cancel.wait(interval):
            if not session.step():
                return

    solara.use_thread(play, dependencies=[playing, interval], intrusive_cancel=False)


def open_session() -> Session | str:
    """The session of the scenario ``multivector app`` was given, else of the default
    scenario; if neither builds, why not."""
    try:
        return Session(start_scenario())
    except Exception as exc:  # the file broke after the app started: try the default
        first = problem(exc)
    try:
        session = Session(DEFAULT_SCENARIO)
    except Exception as exc:
        return f"{first} The default scenario did not load either: {problem(exc)}"
    session.error.set(f"{first} Here is the default scenario instead.")
    return session


@solara.component
def Page():
    session = solara.use_memo(open_session, [])
    solara.Style(CSS)
    if isinstance(session, str):
        solara.Title("Multivector")
        Notice("error", children=[session])
        return
    session.path.value  # noqa: B018 (read: the titles follow the scenario)
    title = f"Multivector: {session.scenario.name}"
    solara.Title(title)
    with solara.Div(classes=["mv-page"]):
        solara.v.Html(tag="h1", children=[title])
        ControlBar(session)
        Messages(session)
        with solara.Div(classes=["mv-body"]):
            SettingsPanel(session)
            with solara.Div(classes=["mv-main"]):
                Status(session)
                Tabs(session)
        AutoStep(session)
