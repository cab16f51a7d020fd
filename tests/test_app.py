"""The classroom dashboard without a browser: its model, the numbers its views show, and
the views under solara.render (the frame around them: tests/test_page.py)."""

from __future__ import annotations

import datetime as dt
import html
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ipyvuetify as v
import numpy as np
import pandas as pd
import pytest
import solara

import sim
from sim.analysis.explain import against_staying
from sim.app import views
from sim.app.classroom import (
    ALIGNMENT,
    POINT,
    SCENARIOS,
    ClassroomModel,
    configured,
    defaults,
    focus_of,
    in_points,
)
from sim.drivers.model import BalancingModel
from sim.errors import UserError
from sim.kernel import decision

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


def test_reasons_say_what_the_table_says():
    m = ClassroomModel(BASELINE, seed=7)
    m.run(20)
    names = dict(zip(m.world.ids, m.world.names, strict=True))
    for sid in ("AZ", "EU"):
        rows = views.why_rows(m, sid, 19)
        reasons = views.reasons(rows, sid, names)
        assert len(reasons) == m.world.n - 1
        for r, text in zip(rows.itertuples(), reasons, strict=True):
            if r.pinned:
                assert "held" in text
            elif r.after > r.before:
                assert " up from " in text
            elif r.after < r.before:
                assert " down from " in text
            else:
                assert "kept its tie" in text
            if not r.pinned and not np.isnan(r.total):
                verdict = (
                    "close to even"
                    if abs(r.total) < views.EVEN
                    else ("would have paid" if r.total > 0 else "would not have paid")
                )
                assert verdict in text
    # the EU's tie to Russia is held by the sanctions (an exogenous tie) in 2022-23
    assert any("held at \u22120.80 by a shock" in t for t in reasons)


# ---- the numbers the views show ------------------------------------------------------


def number(text: str) -> float:
    """A number as the views show it (a true minus sign)."""
    return float(text.replace("\u2212", "-"))


@pytest.fixture(scope="module")
def seed7():
    """The lesson's history: the baseline, seed 7, run to the end."""
    return ClassroomModel(BASELINE, seed=7).run()


def test_points_are_rounded_terms_and_their_sum():
    terms = pd.DataFrame(
        {
            "energy": [0.00044, -0.00004, np.nan],
            "security": [0.00026, 0.0, 0.0],
            "alignment": [-0.00016, 0.0, 0.0],
            "tie_cost": [0.0, 0.00003, 0.0],
            "move_cost": [-0.00075, 0.0, -0.00075],
        }
    )
    pts = in_points(terms)
    assert pts.loc[0].tolist() == pytest.approx([0.4, 0.3, -0.2, 0.0, -0.8, -0.3])
    assert pts.loc[1, "total"] == 0.0 and not np.signbit(pts.loc[1, "energy"])  # no -0.0
    assert np.isnan(pts.loc[2, "total"])  # a move that cannot be made has no total
    assert POINT == 0.001


def test_why_rows_add_up_in_every_quarter(seed7):
    """Every row of "Why did it move?", every state, every quarter of seed 7: the total
    is the sum of the numbers shown, the cost of moving is its own column, and the
    total is the score the choice rule uses (the net gain of moving up) to rounding."""
    m = seed7
    w = m.world
    names = views.names_of(m)
    heads = [h for c, h in views.TERM_HEADS.items() if c != "total"]
    checked = 0
    for period, ev in m.kept.items():
        for sid in w.ids:
            i = w.index(sid)
            rows = views.why_rows(m, sid, period)
            shown = views.why_table(rows, m.against_the_odds(sid).iloc[:0], names)
            table = m.explain(sid, ev)
            net = against_staying(table)["net"][table["move"] > 0]
            net = dict(zip(table.loc[net.index, "partner"], net / POINT, strict=True))
            for k, r in enumerate(rows.itertuples()):
                if r.pinned or np.isnan(r.total):
                    continue
                cells = [number(shown.loc[k, h]) for h in heads]
                assert number(shown.loc[k, "total"]) == pytest.approx(sum(cells), abs=1e-9)
                assert r.move_cost == round(-ev.params.gamma[i] / POINT, 1)
                assert abs(r.total - net[r.partner]) <= 0.25 + 1e-9
                checked += 1
    assert checked > 52 * 8 * 8  # nearly every row has a total


def test_play_totals_add_up_and_the_agents_picks_replay_the_agent():
    """Every choice offered in every quarter of seed 7 adds up as shown, staying is 0,
    and a student who takes the agent's picks lives the computer's history."""
    m = ClassroomModel(BASELINE, seed=7, player="AZ")
    i = m.player
    while m.running:
        rows = views.choice_rows(m)
        gain = m.candidates()["gain"].to_numpy() / POINT
        for _, g in rows.groupby("partner", sort=False):
            shown = views.choice_table(g, show_odds=True).set_index("points")
            for col in shown.columns:
                cells = [number(v) for v in shown.loc[list(views.TERM_HEADS.values())[:-1], col]]
                assert number(shown.loc["total", col]) == pytest.approx(sum(cells), abs=1e-9)
            stay = g[g["kind"] == "stay"]
            assert (stay[list(views.TERM_HEADS)] == 0).all(axis=None)
        free = ~rows["pinned"]
        assert (np.abs(rows["total"] - gain)[free] <= 0.25 + 1e-9).all()
        ev = m.upcoming()
        m.moves = {j: int(c) for j, c in enumerate(ev.choice[i]) if j != i}
        m.step()
    plain = sim.run(BASELINE, seed=7)
    np.testing.assert_array_equal(m.ties_table(7)["tie"], plain.ties["tie"])


def test_moves_against_the_odds_are_a_scan_of_the_kept_decisions(seed7):
    """The list equals a scan of the kept evaluations with the decision rule's own
    probabilities, and the World chart rings exactly those points."""
    m = seed7
    w = m.world
    for sid in ("AZ", "EU", "AM"):
        i = w.index(sid)
        expected = []
        for period, ev in sorted(m.kept.items()):
            one = slice(i, i + 1)
            V = decision.net_utility(
                ev.utility[one], ev.moved[one], ev.params.gamma[one], ev.stay[one]
            )
            prob = decision.logit_probabilities(V, ev.params.tau[one])[0]
            held = {j for a, j, _v in ev.pinned if a == i}
            for j in range(w.n):
                chance = prob[j, ev.choice[i, j]]
                if ev.revising[i] and j != i and j not in held and chance < 0.10:
                    expected.append((period, w.ids[j], chance))
        odds = m.against_the_odds(sid)
        assert list(zip(odds["period"], odds["partner"], strict=True)) == [e[:2] for e in expected]
        np.testing.assert_allclose(odds["chance"], [e[2] for e in expected])
        for line in views.tie_lines(m, sid):
            partner = w.ids[w.names.index(line.label)]
            assert set(line.markers) == set(odds.loc[odds["partner"] == partner, "period"] + 1)
    # the lesson plan's example: in the quarter ending 2022-09-30 Azerbaijan raised its
    # US tie although that move had 2 chances in 100
    az = m.against_the_odds("AZ")
    us = az[(az["date"] == dt.date(2022, 9, 30)) & (az["partner"] == "US")]
    assert len(us) == 1 and us["chance"].iloc[0] == pytest.approx(0.02, abs=0.005)


@pytest.mark.parametrize("scenario", [BASELINE, TEACHING])
def test_hedging_table_and_alignment_path_match_the_indices_table(scenario):
    m = ClassroomModel(scenario, seed=7)
    m.run(10)
    m.upcoming()  # looking ahead (the Play tab does) changes nothing shown
    table = m.indices_table(7)
    now = table[table["step"] == 10]
    shown = views.hedging_table(m)
    np.testing.assert_allclose(shown["hedging index"], now["hedging_index"])
    np.testing.assert_allclose(shown["alignment index"], now["alignment_index"])
    focus = focus_of(m.world.scenario)
    mine = table[table["state"] == focus]["alignment_index"]
    np.testing.assert_allclose(views.measure_path(m, focus, ALIGNMENT), mine)


def test_mean_paired_difference_is_the_ensembles():
    m = ClassroomModel(TEACHING, seed=1)
    step, seeds = 20, 30
    scenario = m.world.scenario
    runs = [
        sim.run_ensemble(scenario, seeds, keep="ties", shocks_off=off)
        for off in ((), ("base_closes",))
    ]
    ties = [r.ties for r in runs]
    tie = [t[(t["state"] == "SM") & (t["partner"] == "WE") & (t["step"] == step)] for t in ties]
    d = tie[0]["tie"].to_numpy() - tie[1]["tie"].to_numpy()
    got = m.paired_difference("base_closes", "WE", step, seeds)
    assert got["n"] == seeds
    assert got["mean"] == pytest.approx(d.mean())
    assert got["ci_low"] <= got["mean"] <= got["ci_high"]
    same = np.abs(d) < 1e-9
    assert (got["higher"], got["lower"], got["equal"]) == (
        int((d > 0)[~same].sum()),
        int((d < 0)[~same].sum()),
        int(same.sum()),
    )
    assert got["higher"] == seeds  # the lesson plan: higher in every seed
    ix = [r.indices for r in runs]
    a = [x[(x["state"] == "SM") & (x["step"] == step)]["alignment_index"].to_numpy() for x in ix]
    index = m.paired_difference("base_closes", ALIGNMENT, step, seeds)
    assert index["mean"] == pytest.approx((a[0] - a[1]).mean())


def test_with_and_without_compares_computer_played_runs():
    """A student's moves change the student's world, not the comparison."""
    played = ClassroomModel(BASELINE, seed=7, player="AZ")
    w = played.world
    for _ in range(14):  # go West
        table = played.candidates()
        up = (table["partner"] == "EU") & (table["move"] > 0)
        down = (table["partner"] == "RU") & (table["move"] < 0)
        west = table[up | down]
        played.moves = {
            w.index(p): int(c) for p, c in zip(west["partner"], west["candidate"], strict=True)
        }
        played.step()
    plain = ClassroomModel(BASELINE, seed=7).run(14)
    assert not np.array_equal(played.ties, plain.ties)
    mine = views.comparison(played, "tap_start", "EU", 14, 20)
    agent = views.comparison(plain, "tap_start", "EU", 14, 20)
    assert (
        mine.this_seed
        == agent.this_seed
        == (
            plain.ties[w.index("AZ"), w.index("EU")],
            plain.without("tap_start").ties[w.index("AZ"), w.index("EU")],
        )
    )
    assert mine.paired == agent.paired
    box, rc = solara.render(views.CompareView(played, 0), handle_error=False)
    assert "Both runs compared here are played by the computer" in texts(rc)
    rc.close()


# ---- the views, rendered without a browser ------------------------------------------


def texts(rc) -> str:
    """Everything a rendered view shows as text (HTML, entities unescaped, and alerts)."""
    out = [html.unescape(w.unsafe_innerHTML) for w in rc.find(solara.widgets.HTML).widgets]
    for w in rc.find(v.Alert).widgets:
        out.extend(map(str, w.children))
    return "\n".join(out)


def _at(scenario: Path, when: str, player: str = "") -> ClassroomModel:
    m = ClassroomModel(scenario, seed=7, player=player)
    m.run({"start": 0, "mid": m.world.n_periods // 2, "end": None}[when])
    return m


@pytest.mark.parametrize("when", ["start", "mid", "end"])
@pytest.mark.parametrize("scenario", [BASELINE, TEACHING])
def test_views_render_at_every_stage(scenario, when):
    m = _at(scenario, when)
    focus = focus_of(m.world.scenario)
    name = m.world.names[m.world.index(focus)]
    box, rc = solara.render(views.WorldView(m, 0), handle_error=False)
    text = texts(rc)
    assert f"{name}'s ties to each partner, to {m.date}" in text
    assert "Hedging index" in text and text.count("<svg") >= 2
    assert "runs from \u22122 to +2" in text  # the focus state has an alignment index
    rc.close()
    box, rc = solara.render(views.WhyView(m, 0), handle_error=False)
    text = texts(rc)
    if when == "start":
        assert "Press Step first" in text
    else:
        assert "cost of moving" in text and f"quarter ending {m.date}" in text
    rc.close()
    box, rc = solara.render(views.CompareView(m, 0), handle_error=False)
    text = texts(rc)
    assert "mean paired difference" in text and "Both runs" not in text
    assert ("has not reached" in text) == (when == "start")
    rc.close()


@pytest.mark.parametrize("when", ["start", "mid", "end"])
@pytest.mark.parametrize("scenario", [BASELINE, TEACHING])
def test_play_view_renders_and_plays(scenario, when):
    focus = focus_of(ClassroomModel(scenario).world.scenario)
    m = _at(scenario, when, player=focus)
    steps = []
    box, rc = solara.render(
        views.PlayView(m, 0, on_play=None, on_step=lambda: steps.append(m.period)),
        handle_error=False,
    )
    text = texts(rc)
    if when == "end":
        assert "The run is over" in text and not rc.find(v.RadioGroup).widgets
    else:
        assert f"Your move as {m.world.names[m.player]}" in text
        groups = rc.find(v.RadioGroup).widgets
        free = m.candidates().groupby("partner", observed=True)["pinned"].any()
        assert len(groups) == (~free).sum()
        assert all(g.label.startswith("Your move on the tie to ") for g in groups)
        groups[0].v_model = "up"
        up = m.candidates()
        up = up[up["move"] > 0]
        assert up["picked"].sum() == 1  # the pick is the model's
        rc.find(v.Btn, children=["Make my moves (one quarter)"]).widget.click()
        assert steps == [m.period]
    assert ("you are" in text) == (when != "start")  # the score, from the first quarter
    rc.close()


def test_play_invitation_restarts_with_the_chosen_state():
    m = ClassroomModel(TEACHING, seed=7)
    asked = []
    box, rc = solara.render(views.PlayView(m, 0, asked.append, None), handle_error=False)
    rc.find(v.Select, label="State to play").widget.v_model = "Westland (WE)"
    rc.find(v.Btn, children=["Play Westland (restarts the run)"]).widget.click()
    assert asked == ["WE"]
    rc.close()


def test_world_view_follows_the_version_and_is_quick():
    """The World view redraws when the frame bumps ``version``; the time it takes is
    printed (the frame's browser test measures click to chart)."""
    m = ClassroomModel(BASELINE, seed=7).run(20)
    version = solara.reactive(0)

    @solara.component
    def Host():
        views.WorldView(m, version.value)

    box, rc = solara.render(Host(), handle_error=False)
    times = []
    for _ in range(15):
        m.step()
        t0 = time.perf_counter()
        version.value += 1
        times.append(time.perf_counter() - t0)
        assert f"to {m.date}" in texts(rc)
    rc.close()
    median = statistics.median(times) * 1000
    print(f"world_view_step_ms_median={median:.0f}")
    assert median < 3000  # a sanity bound only


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


def test_a_student_pushing_a_tie_up_every_quarter_stops_below_one():
    """A played move the agent could never take (a tie at or past +-1) is refused: the
    tie stays, as the kernel's NaN utility says; ties keep within (-1, 1]."""
    m = ClassroomModel(BASELINE, seed=3, player="AZ")
    i, j = m.world.index("AZ"), m.world.index("EU")
    while m.running:
        ev = m.upcoming()
        m.moves = {j: int(np.argmax(ev.values[i, j]))}  # always the highest candidate
        m.step()
    assert 0.9 < m.ties[i, j] <= 1.0 + 1e-9
    assert np.abs(m.ties).max() <= 1.0 + 1e-9


def test_why_with_continuous_ties_splits_each_step_into_pull_and_chance():
    """Model 2's continuous ties: a step is not a pick, so "Why did it move?" shows no
    odds and no cost of moving; each step is the pull of the payoffs plus chance (they
    add up to the move), the pull goes the way moving up pays, chance averages about 0,
    and the totals are the sums of the terms shown."""
    m = ClassroomModel(BASELINE.parent / "model2" / "baseline.yaml", seed=3)
    m.run(24)
    w = m.world
    names = views.names_of(m)
    heads = [h for c, h in views.STEP_TERM_HEADS.items() if c != "total"]
    chances, agree, checked = [], 0, 0
    for period in sorted(m.kept)[-8:]:
        for sid in w.ids:
            rows = views.why_rows(m, sid, period)
            shown = views.why_table(rows, m.against_the_odds(sid).iloc[:0], names)
            assert "cost of moving" not in shown and "chance down" not in shown
            assert {"pull of the payoffs", "chance"} <= set(shown.columns)
            free = rows[~rows["pinned"]]
            np.testing.assert_allclose(free["before"] + free["pull"] + free["chance"],
                                       free["after"], atol=1e-9)  # fmt: skip
            assert (free["move_cost"] == 0).all()
            for k, r in enumerate(rows.itertuples()):
                if r.pinned or np.isnan(r.total):
                    continue
                cells = [number(shown.loc[k, h]) for h in heads]
                assert number(shown.loc[k, "total"]) == pytest.approx(sum(cells), abs=1e-9)
                chances.append(r.chance)
                if abs(r.total) >= 1.0:
                    agree += np.sign(r.pull) == np.sign(r.total)
                    checked += 1
            text = " ".join(views.reasons(rows, sid, names))
            assert "chances:" not in text and "pulled it" in text
    assert checked > 50 and agree == checked
    chances = np.array(chances)
    assert abs(chances.mean()) < 3 * chances.std() / np.sqrt(len(chances))
    assert m.against_the_odds("AZ").empty


def test_a_played_state_with_continuous_ties_makes_its_own_moves():
    """Model 2's continuous ties: a played state's ties take the student's picks (one step
    up, down, or staying exactly where it was), while the computer's states keep moving
    continuously. Before the fix the picks were ignored there."""
    m = ClassroomModel(BASELINE.parent / "model2" / "baseline.yaml", seed=5, player="AZ")
    m.run(3)
    w = m.world
    i = w.index("AZ")
    cand = m.candidates()
    up = {w.index(p): c for p, c in zip(cand["partner"], cand["candidate"], strict=True)
          if c == 2}  # fmt: skip
    tr, eu = w.index("TR"), w.index("EU")
    m.moves = {tr: up[tr], eu: 0}  # TR one step up, EU one step down, the rest stay
    before = m.ties_snapshot
    m.step()
    after = m.ties_snapshot
    assert after[i, tr] == pytest.approx(before[i, tr] + w.delta, abs=1e-12)
    assert after[i, eu] == pytest.approx(before[i, eu] - w.delta, abs=1e-12)
    others = [j for j in range(w.n) if j not in (i, tr, eu)]
    assert np.array_equal(after[i, others], before[i, others])  # staying is staying
    moved = np.abs(after - before)[np.arange(w.n) != i]
    assert (moved > 1e-6).mean() > 0.8  # the computer's states still move continuously


def test_why_with_continuous_ties_says_a_played_state_moved_by_the_player():
    """A played state's ties move by the student's picks, not by pull and chance: the
    view says so instead of splitting its step."""
    m = ClassroomModel(BASELINE.parent / "model2" / "baseline.yaml", seed=4, player="AZ")
    m.run(2)
    rows = views.why_rows(m, "AZ", 1)
    assert rows["pull"].isna().all() and rows["chance"].isna().all()
    text = views.reasons(rows, "Azerbaijan", views.names_of(m))
    assert all("(the player's move)" in t or "held" in t for t in text)
    other = views.why_rows(m, "RU", 1)  # the computer's states keep pull and chance
    assert other.loc[~other["pinned"], "pull"].notna().all()
