"""The dashboard's frame without a browser: the page under ``solara.render``.

Every control from every state (after a scenario switch, at the end of the run, in and
out of Play), failures as messages on the page, the pending-changes notice, and the
Guide's links kept inside the page.
"""

from __future__ import annotations

import shutil
import time

import ipyvuetify as v
import pytest
import solara

from sim.app import guide, page, views
from sim.app.classroom import SCENARIOS, ClassroomModel, cached_scenario

BASELINE = (SCENARIOS / "baseline.yaml").resolve()
TEACHING = (SCENARIOS / "teaching.yaml").resolve()
STEP = "Step (one quarter)"
HINT = "The run has reached {date}: press Reset to start again."


class Rendered:
    """The page rendered in-process, its session, and ways to find and use its controls."""

    def __init__(self, rc, session: page.Session):
        self.rc = rc
        self.session = session

    def text(self) -> str:
        """Everything the page shows as text (Markdown as HTML, the notices)."""
        out = [w.unsafe_innerHTML for w in self.rc.find(solara.widgets.HTML).widgets]
        return "\n".join(out + [self.notice(kind) for kind in ("pending", "error", "end")])

    def notice(self, kind: str) -> str:
        """The text of the notice of ``kind`` ("pending", "error", "end"); "" if none."""
        out = []
        for box in self.rc.find(v.Html, class_=f"mv-notice mv-{kind}").widgets:
            for child in box.children:
                if isinstance(child, str):
                    out.append(child)
                elif isinstance(child, solara.widgets.HTML):
                    out.append(child.unsafe_innerHTML)
        return "\n".join(out)

    def button(self, label: str) -> v.Btn:
        return self.rc.find(v.Btn, children=[label]).widget

    def click(self, label: str) -> None:
        button = self.button(label)
        assert not button.disabled, f"{label} is disabled"
        button.click()

    def slider(self, label: str) -> v.Slider:
        return self.rc.find(v.Slider, label=label).widget

    def select(self, label: str) -> v.Select:
        return self.rc.find(v.Select, label=label).widget

    def choose_scenario(self, file_name: str) -> None:
        select = self.select("Scenario (loads at once and restarts the run)")
        select.v_model = next(k for k in select.items if f"({file_name})" in k)

    def tab(self, title: str) -> None:
        self.rc.find(v.Tabs).widget.v_model = page.TABS.index(title)

    def wait_for(self, condition, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)


@pytest.fixture
def start(monkeypatch):
    """Render the page on a scenario (default: the baseline); yields a :class:`Rendered`."""
    opened = []
    contexts = []
    real_open = page.open_session

    def spy():
        opened.append(real_open())
        return opened[-1]

    monkeypatch.setattr(page, "open_session", spy)

    def render(scenario=BASELINE) -> Rendered:
        monkeypatch.setenv(page.SCENARIO_ENV, str(scenario))
        _, rc = solara.render(page.Page(), handle_error=False)
        contexts.append(rc)
        return Rendered(rc, opened[-1])

    yield render
    for rc in contexts:
        rc.close()


# ---- the controls ----------------------------------------------------------------------


def test_step_run_to_end_and_reset(start):
    p = start()
    assert "quarter 0 of 52" in p.text()
    p.click(STEP)
    p.click(STEP)
    assert "quarter 2 of 52" in p.text()
    assert p.session.model.period == 2
    p.click("Run to end")
    assert "quarter 52 of 52" in p.text() and not p.session.model.running
    p.click("Reset")
    assert "quarter 0 of 52" in p.text()
    assert p.session.model.running and not p.notice("end")


def test_end_of_run_disables_step_and_play_with_a_hint_and_reset_works(start):
    p = start(TEACHING)
    p.click("Run to end")
    hint = HINT.format(date="2025-12-31")
    assert hint in p.notice("end")
    for label in (STEP, "Play", "Run to end"):
        assert p.button(label).disabled, label
    assert not p.button("Reset").disabled
    p.session.step()  # a stray click from a page that had not caught up: nothing happens
    assert "quarter 24 of 24" in p.text() and not p.notice("error")
    p.click("Reset")
    assert not p.notice("end") and "quarter 0 of 24" in p.text()
    p.click(STEP)
    assert "quarter 1 of 24" in p.text()


def test_play_steps_on_its_own_until_pause(start):
    p = start()
    p.select("Play speed").v_model = next(k for k, s in page.SPEEDS.items() if s == 0.3)
    p.click("Play")
    assert p.button("Pause")
    assert p.button(STEP).disabled is False  # Step still works while playing
    p.wait_for(lambda: p.session.model.period >= 2)
    p.click(STEP)  # from Play mode
    p.click("Pause")
    stopped = p.session.model.period
    time.sleep(0.8)
    assert p.session.model.period == stopped
    p.wait_for(lambda: f"quarter {stopped} of 52" in p.text())  # (Play's thread draws it)
    p.click("Play")  # and back in
    p.wait_for(lambda: p.session.model.period >= stopped + 1)
    p.click("Reset")  # Reset ends Play
    assert p.button("Play") and p.session.model.period == 0
    time.sleep(0.8)
    assert p.session.model.period == 0
    p.click("Play")
    p.choose_scenario("teaching.yaml")  # so does a scenario switch
    assert p.button("Play") and "quarter 0 of 24" in p.text()
    p.click("Play")
    p.click("Run to end")  # and the end of the run
    assert not p.session.playing.value and p.session.model.period == 24
    p.wait_for(lambda: "quarter 24 of 24" in p.text())
    assert p.button("Play").disabled


def test_play_stops_at_the_end_of_the_run(start):
    p = start(TEACHING)
    p.select("Play speed").v_model = next(k for k, s in page.SPEEDS.items() if s == 0.3)
    p.session.run_to_end()
    p.click("Reset")
    for _ in range(21):
        p.click(STEP)
    p.click("Play")
    p.wait_for(lambda: not p.session.model.running and not p.session.playing.value)
    p.wait_for(lambda: p.rc.find(v.Btn, children=["Play"]).widgets)  # (Play's thread draws it)
    assert p.button("Play").disabled and "quarter 24 of 24" in p.text()
    assert HINT.format(date="2025-12-31") in p.notice("end")


# ---- settings and scenarios ------------------------------------------------------------


def test_switch_to_teaching_change_a_setting_and_reset(start):
    """The 20-minute lesson's path, which crashed under Mesa's frame."""
    p = start()
    p.click(STEP)
    p.choose_scenario("teaching.yaml")
    assert "Teaching world" in p.text() and "quarter 0 of 24" in p.text()
    assert p.session.model.scenario_file == TEACHING
    p.slider("How much Smallland cares about energy").v_model = 0.8
    p.select("You play").v_model = "Smallland (SM)"
    pending = p.notice("pending")
    assert "how much Smallland cares about energy: 0.4 → 0.8" in pending
    assert "You play: nobody (every state is an agent) → Smallland (SM)" in pending
    p.click("Reset")
    model = p.session.model
    assert model.scenario_file == TEACHING  # never quietly the baseline
    assert model.settings["energy"] == pytest.approx(0.8) and model.player_id == "SM"
    assert not p.notice("pending") and not p.notice("error")
    assert "Teaching world" in p.text() and "quarter 0 of 24" in p.text()
    p.click(STEP)
    assert "quarter 1 of 24" in p.text()


def test_reset_with_nothing_changed_keeps_the_scenario_shown(start):
    p = start()
    p.choose_scenario("teaching.yaml")
    p.click("Reset")
    assert p.session.model.scenario_file == TEACHING and "Teaching world" in p.text()


def test_pending_notice_lists_every_change_and_undo_restores(start):
    p = start()
    assert not p.notice("pending")
    p.slider("Seed: which of the possible histories").v_model = 8
    p.rc.find(
        v.Switch, label="2022-02-24: Russia invades Ukraine; EU sanctions"
    ).widget.v_model = False
    p.slider("Tie cost: how hard it is to hold a tie near ±1").v_model = 0.2
    pending = p.notice("pending")
    assert "3 changes wait for Reset" in pending
    for line in (
        "seed: 7 → 8",
        "tie cost: 0.15 → 0.2",
        "Russia invades Ukraine; EU sanctions: on → off",
    ):
        assert line in pending, line
    p.click("Undo these changes")
    assert not p.notice("pending")
    assert p.session.form.value == page.applied(p.session.model)


def test_settings_at_the_scenarios_values_give_the_scenarios_run():
    """Reset with nothing changed builds exactly `multivector run`'s model."""
    scenario = cached_scenario(BASELINE)
    model = page.build(BASELINE, page.form_for(scenario))
    plain = ClassroomModel(BASELINE, seed=7)
    model.run(12)
    plain.run(12)
    assert (model.ties == plain.ties).all()
    assert model.world.scenario is plain.world.scenario


def test_a_model_that_does_not_build_is_a_message_and_the_last_one_stays(start):
    p = start()
    p.click(STEP)
    before = p.session.model
    for w in ("energy", "security", "alignment"):
        p.slider(f"How much Azerbaijan cares about {w}").v_model = 0.0
    p.click("Reset")
    assert "at least one of the importances must be above zero" in p.notice("error")
    assert p.session.model is before and "quarter 1 of 52" in p.text()
    assert "Traceback" not in p.text()
    p.click(STEP)  # the page goes on
    assert "quarter 2 of 52" in p.text() and not p.notice("error")
    p.slider("How much Azerbaijan cares about energy").v_model = 0.5
    p.click("Reset")
    assert p.session.model.settings["energy"] == 0.5 and not p.notice("error")


def test_bad_values_from_the_page_are_messages(start):
    """What a page sends that no control offers (a hostile or confused client)."""
    p = start()
    p.select("You play").v_model = "Atlantis (AT)"
    assert "'Atlantis (AT)' is not among the choices" in p.notice("error")
    p.slider("Seed: which of the possible histories").v_model = "seven"
    assert "ValueError" in p.notice("error")
    p.select("Play speed").v_model = "warp"
    assert "'warp' is not among the paces" in p.notice("error")
    p.select("Scenario (loads at once and restarts the run)").v_model = "elsewhere.yaml"
    assert "not among the choices" in p.notice("error")
    assert p.session.model.scenario_file == BASELINE and not p.notice("pending")
    p.click(STEP)
    assert "quarter 1 of 52" in p.text() and not p.notice("error")


def test_slider_values_land_on_the_sliders_steps():
    cost = page.Slider("tie_cost", "Tie cost", 0.05, 0.5, 0.01)
    assert cost.snap(0.1500000001) == 0.15 and cost.snap("0.2") == 0.2
    assert cost.snap(9) == 0.5 and cost.snap(-1) == 0.05
    seed = page.Slider("seed", "Seed", 0, 99, 1)
    assert seed.snap(7.0) == 7 and isinstance(seed.snap(7.0), int)


def test_a_scenario_file_that_breaks_is_a_message(start, tmp_path):
    path = tmp_path / "teaching.yaml"
    shutil.copy(TEACHING, path)
    p = start(path)
    p.click(STEP)
    path.write_text(path.read_text().replace("states:", "staates:", 1))
    p.click("Reset")
    assert "teaching.yaml" in p.notice("error")
    assert p.session.model.period == 1 and "quarter 1 of 24" in p.text()
    path.unlink()
    p.click("Reset")
    assert "FileNotFoundError" in p.notice("error")


def test_a_scenario_that_does_not_load_at_start_falls_back_with_a_message(start, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstates: 3\n")
    p = start(path)
    assert "broken.yaml" in p.notice("error")
    assert "Here is the default scenario instead" in p.notice("error")
    assert p.session.model.scenario_file == BASELINE.resolve()


def test_a_view_that_fails_is_a_message_in_its_place(start, monkeypatch):
    @solara.component
    def Broken(model, version):
        raise RuntimeError("no such chart")

    monkeypatch.setattr(views, "WorldView", Broken)
    p = start()
    assert "This tab could not be drawn" in p.notice("error")
    assert "no such chart" in p.notice("error")
    p.click(STEP)  # the frame goes on
    assert "quarter 1 of 52" in p.text()


# ---- the tabs --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Failed to validate hooks")  # (a component made in a test)
def test_only_the_visible_tab_is_drawn_once_a_step(start, monkeypatch):
    drawn = []
    for name in ("WorldView", "WhyView", "CompareView"):

        def counting(model, version, name=name):
            drawn.append((name, version))

        monkeypatch.setattr(views, name, solara.component(counting))
    p = start()
    drawn.clear()
    p.click(STEP)
    assert drawn == [("WorldView", 1)]
    p.tab("Why did it move?")
    drawn.clear()
    p.click(STEP)
    assert drawn == [("WhyView", 2)]
    p.tab("Guide")
    drawn.clear()
    p.click(STEP)
    assert drawn == []


def test_play_tab_plays_a_state_and_steps(start):
    p = start()
    p.click(STEP)
    p.tab("Play")
    p.click("Play Azerbaijan (restarts the run)")
    assert p.session.model.player_id == "AZ" and p.session.model.period == 0
    assert p.session.form.value["player"] == "AZ" and not p.notice("pending")
    p.click("Make my moves (one quarter)")
    assert "quarter 1 of 52" in p.text() and "You play <strong>Azerbaijan</strong>" in p.text()


def test_tabs_are_the_five_views(start):
    p = start()
    assert [w.children[0] for w in p.rc.find(v.Tab).widgets] == list(page.TABS)


# ---- the Guide -------------------------------------------------------------------------


def test_guide_links_stay_inside_the_guide(start):
    p = start()
    p.tab("Guide")
    p.click("Lesson plan (45 minutes)")
    doc = p.rc.find(guide.DocumentView).widget
    html = doc.html
    assert 'href="ODD.md"' not in html and 'href="TEACHERS_GUIDE.md"' not in html
    assert 'data-doc="odd"' in html and 'data-doc="guide"' in html
    # a file the Guide does not show: its text and path, no link
    assert '<span class="mv-file">scenarios/README.md</span>' in html
    doc.link = {"doc": "odd", "anchor": "mv-references", "at": 1}
    doc = p.rc.find(guide.DocumentView).widget
    assert "model description (ODD)" in doc.html and doc.scroll_to == "mv-references@1"
    assert 'id="mv-references"' in doc.html


def test_document_links_are_rewritten():
    html = guide.document_html(guide.DOCUMENTS["guide"])
    assert '<a data-anchor="mv-what-is-it" data-doc="guide" href="#mv-what-is-it">' in html
    assert 'id="mv-what-is-it"' in html
    assert '<a data-anchor="mv-references" data-doc="odd" href="#mv-references">' in html
    assert '<a href="http://127.0.0.1:8765/" rel="noopener noreferrer" target="_blank">' in html
    assert "README.md (README.md)" not in html
    notebooks = guide.document_html(guide.DOCUMENTS["notebooks"])
    assert "01_what_is_balancing.ipynb (notebooks/01_what_is_balancing.ipynb)" in notebooks
    assert "<a " not in notebooks.split("<table>")[1].split("</table>")[0]


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("WHAT IS IT?", "what-is-it"),
        ("1.1 Purpose", "11-purpose"),
        ("10 Observed data, measurement, calibration and the scorecard",
         "10-observed-data-measurement-calibration-and-the-scorecard"),
    ],
)  # fmt: skip
def test_heading_ids_are_githubs(heading, anchor):
    assert guide.heading_id(heading) == guide.ANCHOR_PREFIX + anchor


def test_changes_name_each_setting():
    scenario = cached_scenario(TEACHING)
    before = page.form_for(scenario)
    after = {**before, "seed": 9, "move_cost": 2.5, "player": "SM", "shock_pipeline": False}
    assert page.changes(scenario, before, after) == [
        "seed: 7 → 9",
        "cost of changing a tie: 1 → 2.5",
        "shock 2021-01-01: Pipeline to the West opens: on → off",
        "You play: nobody (every state is an agent) → Smallland (SM)",
    ]
    assert page.changes(scenario, before, dict(before)) == []


def test_a_model2_scenario_runs_in_every_view(start):
    """Model 2 (continuous ties, credibility) in the dashboard: every view draws, a state
    can be played, and the run reaches its end, without an error message."""
    p = start((SCENARIOS / "model2" / "baseline.yaml").resolve())
    for tab in page.TABS:
        p.tab(tab)
        p.click(STEP)
        assert not p.notice("error"), (tab, p.notice("error"))
    assert "quarter 5 of 52" in p.text()
    p.tab("Play")
    p.click("Play Azerbaijan (restarts the run)")
    assert "move their ties continuously" in p.text()
    assert not p.rc.find(v.Checkbox, label="Show the agent's chances (what the computer would do)")
    p.click("Make my moves (one quarter)")
    p.click("Run to end")
    assert "quarter 52 of 52" in p.text() and not p.notice("error")


def test_the_scenario_list_offers_the_model2_files_beside_the_baseline(start):
    """A class can switch from the baseline to the same world under Model 2 on the page:
    the list holds the subfolders' scenarios too, shown with their folder."""
    p = start()
    select = p.select("Scenario (loads at once and restarts the run)")
    assert any(k.endswith("(model2/baseline.yaml)") for k in select.items)
    assert any(k.endswith("(baseline.yaml)") and "Model 2" not in k for k in select.items)
    p.choose_scenario("model2/baseline.yaml")
    p.wait_for(lambda: p.session.model.world.model == 2)
    p.click(STEP)
    assert "quarter 1 of 52" in p.text() and not p.notice("error")
