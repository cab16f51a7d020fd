"""The classroom dashboard without a browser: its model, and its page under solara.render."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara

import sim
from sim.analysis.explain import partner_summary, plain_reasons
from sim.app import page
from sim.app.classroom import SCENARIOS, ClassroomModel, configured, defaults
from sim.drivers.model import BalancingModel
from sim.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
BASELINE = SCENARIOS / "baseline.yaml"
TEACHING = SCENARIOS / "teaching.yaml"


# ---- the classroom model ---------------------------------------------------------------


def test_default_classroom_model_is_the_balancing_model():
    """Nobody played, the scenario's own settings: the same run as the plain model, and
    looking ahead with upcoming() before every step changes nothing."""
    m = ClassroomModel(BASELINE, seed=11)
    plain = BalancingModel(BASELINE, rng=11, agent_data=False).run(20)
    for _ in range(20):
        m.upcoming()
        m.upcoming()
        m.step()
    pd.testing.assert_frame_equal(m.ties_table(11), plain.ties_table(11), check_exact=True)
    assert sorted(m.kept) == list(range(20))


def test_student_who_picks_the_agents_choices_is_the_agent():
    m = ClassroomModel(BASELINE, seed=3, player="AZ")
    i = m.player
    for _ in range(16):
        ev = m.upcoming()
        m.moves = {j: int(c) for j, c in enumerate(ev.choice[i]) if j != i}
        m.step()
    agent = m.agent_run()
    assert agent.period == m.period == 16
    np.testing.assert_array_equal(m.ties_table(3)["tie"], agent.ties_table(3)["tie"])


def test_student_moves_are_applied_and_others_respond():
    m = ClassroomModel(TEACHING, seed=5, player="SM")
    i, n = m.player, m.world.n
    before = m.ties[i].copy()
    table = m.candidates()
    up = table[table["move"] > 0]
    picks = zip(up["partner"], up["candidate"], strict=True)
    m.moves = {m.world.index(p): int(c) for p, c in picks}
    assert m.candidates()["picked"].sum() == n - 1  # one pick per partner
    m.step()
    moved = m.ties[i] - before
    for j in range(n):
        if j != i:
            assert moved[j] == pytest.approx(m.world.delta)
    # the student's path differs from the agent's: the agent does not move every tie up
    assert not np.array_equal(m.ties, m.agent_run().ties)
    # the kept decision records the student's choice, and explain shows it
    table = m.explain("SM", m.kept[0])
    assert (table.loc[table["chosen"], "move"] > 0).all()


def test_without_a_shock_is_the_run_with_that_shock_off():
    m = ClassroomModel(BASELINE, seed=7)
    m.run(24)
    alt = m.without("ukraine_war")
    ref = sim.run(BASELINE, seed=7, shocks_off=["ukraine_war"], steps=24)
    pd.testing.assert_frame_equal(alt.ties_table(7), ref.ties, check_exact=True)
    assert not np.array_equal(alt.ties, m.ties)  # the war matters by 2024


def test_settings_become_scenario_values():
    m = ClassroomModel(BASELINE, energy=2, security=1, alignment=1, tie_cost=0.2)
    i = m.world.index("AZ")
    np.testing.assert_allclose(m.params.weights[i], [0.5, 0.25, 0.25])
    assert m.params.weights[i].sum() == 1.0
    assert m.settings["tie_cost"] == 0.2
    assert defaults(m.world.scenario)["tie_cost"] == 0.2
    off = ClassroomModel(BASELINE, shock_ukraine_war=False)
    assert off.shocks_off == ("ukraine_war",)
    assert off.settings["shock_ukraine_war"] is False
    assert configured(BASELINE.resolve(), None, ()) is configured(BASELINE.resolve(), None, ())


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"energy": 0, "security": 0, "alignment": 0}, UserError),
        ({"energy": 0.5}, TypeError),
        ({"shock_no_such_thing": False}, TypeError),
        ({"player": "XX"}, UserError),
    ],
)
def test_bad_settings_are_refused(kwargs, error):
    with pytest.raises(error):
        ClassroomModel(BASELINE, **kwargs)


def test_bands_are_quantiles_of_the_ensemble():
    m = ClassroomModel(TEACHING, seed=1)
    b = m.bands("base_closes", seeds=40)
    assert set(b["world"]) == {"with", "without"}
    q = b[["q05", "q25", "q50", "q75", "q95"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    ens = sim.run_ensemble(m.world.scenario, 40).indices
    median = ens[ens["state"] == "SM"].groupby("date")["alignment_index"].median()
    np.testing.assert_allclose(b.loc[b["world"] == "with", "q50"], median.to_numpy())


def test_plain_reasons_say_what_the_table_says():
    m = ClassroomModel(BASELINE, seed=7)
    m.run(20)
    for sid in ("AZ", "EU"):
        ev = m.kept[19]
        i = m.world.index(sid)
        summary = partner_summary(m.explain(sid, ev), ev, i, list(m.world.ids))
        names = dict(zip(m.world.ids, m.world.names, strict=True))
        reasons = plain_reasons(summary, sid, names)
        assert len(reasons) == m.world.n - 1
        for r, text in zip(summary.itertuples(), reasons, strict=True):
            if r.pinned:
                assert "held" in text
            elif r.after > r.before:
                assert " up from " in text
            elif r.after < r.before:
                assert " down from " in text
            else:
                assert "kept its tie" in text
    # the EU's tie to Russia is held by the sanctions (an exogenous tie) in 2022-23
    assert any("held at -0.80 by a shock" in t for t in reasons)


# ---- the page, rendered without a browser ----------------------------------------------


def texts(rc) -> str:
    """Everything the page shows as text (markdown as HTML, widget labels)."""
    out = [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets]
    for w in rc.find(v.Alert).widgets:
        out.extend(map(str, w.children))
    return "\n".join(out)


def button(rc, label):
    return rc.find(v.Btn, children=[label]).widget


@solara.component
def InLayout():
    """The page as the server shows it: in an app layout, which holds the sidebar."""
    with solara.AppLayout():
        page.Page()


@pytest.fixture
def rendered():
    box, rc = solara.render(InLayout(), handle_error=False)
    yield rc
    rc.close()


def test_page_steps_resets_and_shows_pending_changes(rendered):
    rc = rendered
    assert "quarter 0 of 52" in texts(rc)
    button(rc, "Step").click()
    button(rc, "Step").click()
    assert "quarter 2 of 52" in texts(rc)
    inputs = page.inputs_for(page.start_scenario())
    assert "take effect when you press Reset" not in texts(rc)
    inputs.values["energy"].set(0.9)
    assert "take effect when you press Reset" in texts(rc)
    button(rc, "Reset").click()
    text = texts(rc)
    assert "quarter 0 of 52" in text
    assert "take effect when you press Reset" not in text
    inputs.values["energy"].set(defaults(inputs.scenario)["energy"])  # as it was


def test_page_views_why_compare_play_guide(rendered):
    rc = rendered
    for _ in range(3):
        button(rc, "Step").click()
    tabs = rc.find(v.Tab)
    titles = [w.children[0] for w in tabs.widgets]
    assert titles == ["World", "Why did it move?", "With and without", "Play", "Guide"]
    rc.find(v.Tabs).widget.v_model = 1
    assert "P(down)" in texts(rc) and "pushed up most" in texts(rc)
    rc.find(v.Tabs).widget.v_model = 2
    assert "up to the current quarter" in texts(rc)
    images = rc.find(ipywidgets.Image).widgets
    assert any(len(w.value) > 20_000 for w in images)  # the comparison chart, as a PNG
    rc.find(v.Tabs).widget.v_model = 3
    button(rc, "Play Azerbaijan (restarts the run)").click()
    assert "Your move as Azerbaijan" in texts(rc)
    ups = rc.find(v.Btn, children=["up"]).widgets
    assert len(ups) == 8  # one per partner
    ups[0].click()
    button(rc, "Make my moves (one quarter)").click()
    text = texts(rc)
    assert "quarter 1 of 52" in text and "You play <strong>Azerbaijan</strong>" in text
    assert "the agent's, same world and seed" in text
    rc.find(v.Tabs).widget.v_model = 4
    assert "What is it" in texts(rc) or "WHAT IS IT" in texts(rc)


def test_page_switches_scenario(rendered):
    rc = rendered
    select = rc.find(v.Select, label="Scenario").widget
    teaching = next(k for k in select.items if "teaching.yaml" in k)
    select.v_model = teaching
    text = texts(rc)
    assert "Teaching world" in text and "quarter 0 of 24" in text
    labels = [w.label for w in rc.find(v.Slider).widgets]
    assert "How much Smallland cares about energy" in labels


# ---- the command -----------------------------------------------------------------------


def _app(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "sim", "app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_app_refuses_a_bad_scenario_before_serving(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstates: 3\n")
    r = _app(str(bad))
    assert r.returncode == 2
    assert "bad.yaml" in r.stderr and "Traceback" not in r.stderr


def test_app_refuses_a_busy_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _app("--port", str(port))
    assert r.returncode == 2
    assert f"--port {port}: something is already listening" in r.stderr
