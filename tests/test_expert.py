"""The regional expert's table (sim/analysis/expert.py, ``multivector expert``): the
direction rules on hand-made changes, the scoring, the shipped public record, a small
Model 2 world end to end, determinism and bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_helpers import cli_run
from worlds import ROOT, alliance_world, attack_shock, build, write_posterior

from sim.analysis.expert import (
    AGREE,
    DEFAULT_RECORD,
    DISAGREE,
    NOT_SCORED,
    RECORD_DIRECTIONS,
    Change,
    Period,
    RecordRow,
    central_direction,
    check_record,
    direction,
    expert_table,
    load_record,
    shocks_on_pair,
    verdict,
)
from sim.errors import ScenarioError, UserError
from sim.scenario import load_scenario
from sim.tools.cli import main
from sim.world.compiled import world_for

BASELINE = ROOT / "scenarios" / "baseline.yaml"
MODEL2 = ROOT / "scenarios" / "model2" / "baseline.yaml"
SEEDS = 24


# --------------------------------------------------------------------------------------
# Directions and verdicts on hand-made changes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, eps, expected",
    [
        (np.linspace(0.06, 0.4, 101), 0.05, "up"),
        (np.linspace(-0.4, -0.06, 101), 0.05, "down"),
        (np.linspace(-0.04, 0.04, 101), 0.05, "flat"),
        (np.full(10, 0.05), 0.05, "flat"),  # on the edge: within [-eps, eps]
        (np.full(10, 0.0501), 0.05, "up"),  # just past it
        (np.linspace(0.02, 0.4, 101), 0.05, "uncertain"),  # the band reaches below +eps
        (np.linspace(-0.3, 0.3, 101), 0.05, "uncertain"),
        (np.linspace(-0.3, 0.3, 101), 0.5, "flat"),  # a wider eps calls it flat
        (np.zeros(5), 0.0, "flat"),
        (np.full(5, 1e-9), 0.0, "up"),
    ],
)
def test_the_direction_of_a_change_follows_its_90_percent_band(changes, eps, expected):
    assert Change.of(changes, eps).direction == expected


def test_a_change_reports_its_median_and_5_to_95_percent_band():
    change = Change.of(np.linspace(0.0, 1.0, 101), 0.05)
    assert change.median == pytest.approx(0.5)
    assert (change.low, change.high) == (pytest.approx(0.05), pytest.approx(0.95))
    assert change.replicates == 101 and change.direction == "uncertain"
    assert direction(change.low, change.high, 0.01) == "up"


@pytest.mark.parametrize("bad", [np.array([]), np.array([0.1, np.nan])])
def test_a_change_needs_finite_values(bad):
    with pytest.raises(ValueError, match="finite"):
        Change.of(bad, 0.05)


@pytest.mark.parametrize(
    "recorded, modelled, expected",
    [
        ("up", "up", AGREE),
        ("flat", "flat", AGREE),
        ("down", "up", DISAGREE),
        ("up", "uncertain", DISAGREE),
        ("flat", "uncertain", DISAGREE),
        ("mixed", "up", NOT_SCORED),
        ("mixed", "uncertain", NOT_SCORED),
    ],
)
def test_a_row_agrees_only_when_the_directions_match_and_mixed_is_not_scored(
    recorded, modelled, expected
):
    assert verdict(recorded, modelled) == expected


# --------------------------------------------------------------------------------------
# The shipped public record
# --------------------------------------------------------------------------------------


def test_the_baseline_record_covers_every_state_with_two_to_four_ties_and_every_period():
    record = load_record(DEFAULT_RECORD)
    baseline = load_scenario(BASELINE)
    assert set(record.states()) <= set(baseline.state_ids)
    ties = {(r.state, r.partner) for r in record.rows}
    for sid in baseline.state_ids:
        assert 2 <= sum(s == sid for s, _ in ties) <= 4, sid
    assert [p.id for p in record.periods] == ["2018-2021", "2021-2023", "2023-2025"]
    assert len(record.rows) == len(ties) * len(record.periods)
    assert {r.direction for r in record.rows} <= set(RECORD_DIRECTIONS)
    assert all(r.reason and r.source for r in record.rows)
    for path in (BASELINE, MODEL2):
        check_record(record, load_scenario(path))  # names no state the world lacks


def test_the_record_is_not_a_scenario_file():
    scenario_files = [*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("scenarios/model2/*.yaml")]
    assert DEFAULT_RECORD.resolve() not in {p.resolve() for p in scenario_files}
    with pytest.raises(UserError):
        load_scenario(DEFAULT_RECORD)


# --------------------------------------------------------------------------------------
# A small Model 2 world end to end
# --------------------------------------------------------------------------------------


def _record(tmp_path, ties: dict, periods=("2020-2022", "2022-2025"), name="record.yaml"):
    """A record file for the alliance world; ``ties``: tie -> period -> direction."""
    content = {
        "periods": list(periods),
        "ties": {
            tie: {
                p: {"direction": d, "reason": f"a test event ({tie}, {p})", "source": "the test"}
                for p, d in by_period.items()
            }
            for tie, by_period in ties.items()
        },
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


ALLIANCE_TIES = {
    "P-H": {"2020-2022": "up", "2022-2025": "mixed"},
    "S-P": {"2020-2022": "flat", "2022-2025": "down"},
    "H-S": {"2020-2022": "flat", "2022-2025": "up"},
}


@pytest.mark.parametrize(
    "recorded, expected", [("up", AGREE), ("down", DISAGREE), ("mixed", NOT_SCORED)]
)
def test_a_protector_courting_the_threat_is_up_in_the_model(tmp_path, recorded, expected):
    """Theory (tests/worlds.alliance_world): after its 2021 energy deal with H, P draws
    closer to H by its own choice, so P-H rises from 2020 to 2022."""
    record = _record(tmp_path, {"P-H": {"2020-2022": recorded, "2022-2025": "mixed"}})
    table = expert_table(build(alliance_world()), record, seeds=SEEDS)
    row = table.frame.iloc[0]
    assert (row.state, row.partner, row.period, row.model) == ("P", "H", "2020-2022", "up")
    assert row.verdict == expected


def test_the_table_applies_its_rules_to_every_row(tmp_path):
    scenario = build(alliance_world())
    table = expert_table(scenario, _record(tmp_path, ALLIANCE_TIES), seeds=SEEDS)
    f = table.frame
    assert len(f) == 6 and (f["replicates"] == SEEDS).all()
    assert table.eps == world_for(scenario).delta
    assert table.seeds == range(100_000, 100_000 + SEEDS)  # the validation seeds
    assert (f["q05"] <= f["median"]).all() and (f["median"] <= f["q95"]).all()
    for r in f.itertuples():
        assert r.band == direction(r.q05, r.q95, table.eps)
        assert r.model == central_direction(r.median)
        assert r.verdict == verdict(r.record, r.model)
        assert r.robust == (r.record == r.model == r.band)
    scored = f[f["record"] != "mixed"]
    agree = int((scored["verdict"] == AGREE).sum())
    robust = int(scored["robust"].sum())
    assert table.summary() == (
        f"agree {agree} of 5 scored rows ({robust} robust: the 90% band agrees too; "
        "1 mixed, not scored)"
    )
    text = table.markdown()
    assert text.count("| P-H | 2020-2022 | up | up |") == 1
    assert text.rstrip().endswith(table.summary())


def _row(tie: str, period: str) -> RecordRow:
    first, last = (int(y) for y in period.split("-"))
    state, partner = tie.split("-")
    return RecordRow(state, partner, Period(period, first, last), "up", "r", "s")


def test_the_shocks_that_name_a_pair_in_a_period():
    """A shock reaches a row when it names the dyad (either direction) and fires in the
    period, or fired before and ends in it; a probabilistic shock when its window meets
    the period."""
    d = alliance_world(attack=True)  # energy_deal on P-H (2021); H attacks S (2022Q1)
    d["shocks"]["long_attack"] = {**attack_shock(dt.date(2020, 7, 1)), "duration": 8}
    d["shocks"]["maybe"] = {
        "label": "a possible event",
        "probability": {"value": 0.1, "assumption": "a test event"},
        "window": {"start": dt.date(2023, 1, 1), "end": dt.date(2024, 12, 31)},
        "assumption": "a test event",
        "effects": [
            {"param": "affinity", "pair": ["P", "*"], "op": "add", "value": 0.1,
             "assumption": "a test event"},
        ],
    }  # fmt: skip
    scenario = build(d)
    assert shocks_on_pair(scenario, _row("P-H", "2020-2022")) == ["energy_deal"]
    assert shocks_on_pair(scenario, _row("H-P", "2020-2022")) == ["energy_deal"]  # reversed
    assert shocks_on_pair(scenario, _row("P-H", "2022-2022")) == []
    assert shocks_on_pair(scenario, _row("S-P", "2020-2022")) == []
    assert shocks_on_pair(scenario, _row("S-H", "2020-2020")) == ["long_attack"]  # fires
    assert shocks_on_pair(scenario, _row("S-H", "2021-2021")) == []  # in force, no change
    assert shocks_on_pair(scenario, _row("S-H", "2022-2023")) == ["attack", "long_attack"]
    assert shocks_on_pair(scenario, _row("S-H", "2023-2025")) == []  # both over
    assert shocks_on_pair(scenario, _row("P-S", "2024-2025")) == ["maybe"]
    assert shocks_on_pair(scenario, _row("P-S", "2021-2022")) == []


def test_the_summary_counts_rows_a_shock_reaches_apart(tmp_path):
    """Shown per row, and counted apart: rows a shock names and rows only the mechanisms
    reach (the energy deal names P-H and H-P, nothing names S-P)."""
    record = _record(tmp_path, ALLIANCE_TIES)
    table = expert_table(build(alliance_world()), record, seeds=SEEDS)
    f = table.frame
    assert list(f["shocks"]) == ["energy_deal", "", "", "", "", ""]
    scored = f[f["verdict"] != NOT_SCORED]
    by_shock = scored[scored["shocks"] != ""]
    alone = scored[scored["shocks"] == ""]
    agree = [int((g["verdict"] == AGREE).sum()) for g in (by_shock, alone)]
    assert table.reach_summary() == (
        f"reached by a shock that names the pair: agree {agree[0]} of 1 "
        f"({int(by_shock['robust'].sum())} robust); reached only through the mechanisms: "
        f"agree {agree[1]} of 4 ({int(alone['robust'].sum())} robust); a model in which no "
        "tie moves would agree on 2 of 5"
    )
    text = table.markdown()
    assert "| shocks on the pair |" in text and "| energy_deal |" in text
    assert f"{table.reach_summary()}\n\n{table.summary()}" in text


def test_a_wider_eps_turns_small_changes_flat(tmp_path):
    record = _record(tmp_path, ALLIANCE_TIES)
    scenario = build(alliance_world())
    wide = expert_table(scenario, record, seeds=SEEDS, eps=2.0).frame
    assert (wide["band"] == "flat").all()


def test_same_seeds_same_table_other_seeds_another(tmp_path):
    record = _record(tmp_path, ALLIANCE_TIES)
    scenario = build(alliance_world())
    a = expert_table(scenario, record, seeds=SEEDS)
    b = expert_table(scenario, record, seeds=SEEDS)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.markdown() == b.markdown()
    c = expert_table(scenario, record, seeds=SEEDS, seed_start=500)
    assert not np.array_equal(a.frame["median"], c.frame["median"])


def _posterior(tmp_path, scenario, threats=(0.2, 1.0)):
    """A hand-made calibration output: two particles of S's threat from H."""
    return write_posterior(
        tmp_path / "posterior", scenario.content_hash, {"relations.S.H.threat": list(threats)}
    )


def test_a_posterior_band_covers_seeds_times_draws(tmp_path):
    scenario = build(alliance_world())
    record = _record(tmp_path, ALLIANCE_TIES)
    posterior = _posterior(tmp_path, scenario)
    table = expert_table(scenario, record, seeds=SEEDS, posterior=posterior, draws=3)
    again = expert_table(scenario, record, seeds=SEEDS, posterior=posterior, draws=3)
    assert (table.frame["replicates"] == 3 * SEEDS).all() and table.draws == 3
    pd.testing.assert_frame_equal(table.frame, again.frame)
    assert "3 posterior draws" in table.markdown()
    point = expert_table(scenario, record, seeds=SEEDS)
    assert not np.array_equal(table.frame["q05"], point.frame["q05"])


def test_a_posterior_of_another_scenario_is_refused(tmp_path):
    scenario = build(alliance_world())
    other = build(alliance_world(courting=0.3))
    posterior = _posterior(tmp_path, other)
    with pytest.raises(UserError, match="calibrated another version"):
        expert_table(scenario, _record(tmp_path, ALLIANCE_TIES), seeds=4, posterior=posterior)


def test_the_command_prints_the_table_and_writes_its_files(tmp_path, capsys):
    scenario = tmp_path / "alliance.yaml"
    scenario.write_text(yaml.safe_dump(alliance_world(), sort_keys=False))
    record, out = _record(tmp_path, ALLIANCE_TIES), tmp_path / "expert"
    args = ["expert", str(scenario), "--record", str(record), "--seeds", str(SEEDS)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| tie | period | record | model |" in printed
    md, csv = (out / "expert.md").read_text(), (out / "expert.csv").read_bytes()
    assert printed.startswith(md)
    summary = md.rstrip().splitlines()[-1]
    assert summary.startswith("agree ") and summary.endswith("; 1 mixed, not scored)")
    table = pd.read_csv(out / "expert.csv")
    assert len(table) == 6 and {"record", "model", "median", "q05", "q95", "verdict"} <= set(table)
    assert main([*args, "--out", str(out), "--quiet"]) == 0  # the same command replaces them
    assert (out / "expert.md").read_text() == md and (out / "expert.csv").read_bytes() == csv
    assert main([*args, "--out", str(out), "--quiet", "--eps", "0.1"]) == 2  # other arguments
    assert "--force" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def _bad_record(tmp_path, text: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


GOOD_ENTRY = "{direction: up, reason: an event, source: a publisher}"


@pytest.mark.parametrize(
    "text, message",
    [
        (f"periods: [2020-2022]\nties:\n  S-P: {{2020-2022: {GOOD_ENTRY}}}\nextra: 1\n",
         "unknown field"),
        (f"periods: [2022-2020]\nties:\n  S-P: {{2022-2020: {GOOD_ENTRY}}}\n",
         "FIRST before LAST"),
        ("periods: [2020-2022]\nties:\n  S-P: {2020-2022: {direction: sideways, reason: a, "
         "source: b}}\n", "expected one of up, down, flat, mixed; got 'sideways'"),
        ("periods: [2020-2022]\nties:\n  S-P: {2020-2022: {direction: up, reason: '', "
         "source: b}}\n", "reason: expected a line of text"),
        (f"periods: [2020-2022, 2022-2025]\nties:\n  S-P: {{2020-2022: {GOOD_ENTRY}}}\n",
         "no entry for the period 2022-2025"),
        (f"periods: [2020-2022]\nties:\n  S-S: {{2020-2022: {GOOD_ENTRY}}}\n",
         "expected a tie STATE-PARTNER of two states"),
        (f"periods: [2020-2022]\nties:\n  S-P: {{2020-2023: {GOOD_ENTRY}}}\n",
         "unknown field"),
        ("ties: {}\n", "expected a list of periods"),
    ],
)  # fmt: skip
def test_a_bad_record_file_is_named_with_its_line(tmp_path, text, message):
    with pytest.raises(ScenarioError, match="bad.yaml:[0-9]+") as info:
        load_record(_bad_record(tmp_path, text))
    assert message in str(info.value)


def test_a_record_naming_a_state_or_year_the_world_lacks_is_refused(tmp_path):
    scenario = build(alliance_world())
    unknown = _record(tmp_path, {"S-Q": {"2020-2022": "up", "2022-2025": "up"}})
    with pytest.raises(UserError, match="'Q' is not a state of 'alliance'") as info:
        expert_table(scenario, unknown, seeds=4)
    assert "record.yaml:" in str(info.value) and "its states: S, P, H" in str(info.value)
    early = _record(tmp_path, {"S-P": {"2018-2021": "up"}}, periods=["2018-2021"])
    with pytest.raises(UserError, match="need records in 2018"):
        expert_table(scenario, early, seeds=4)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--record", "no/such/record.yaml"], "cannot read the file"),
        (["--draws", "3"], "--draws goes with --posterior"),
        (["--posterior", "scenarios"], "not a finished calibration"),
        (["--eps", "-1"], "expected a number from 0 to 2"),
        (["--seeds", "1"], "expected a whole number from 2"),
    ],
)
def test_bad_arguments_give_one_message_and_exit_2(extra, message):
    done = cli_run("expert", "scenarios/baseline.yaml", *extra)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
