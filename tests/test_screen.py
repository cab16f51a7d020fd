"""Morris screening: an input the model ignores has no effect, the input that drives the
outcome ranks first, and the same arguments give the same table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import worlds

from sim.analysis.screen import (
    default_outcomes,
    parse_outcome,
    planned_runs,
    screen,
    screen_figure,
    summary,
)
from sim.drivers.ensemble import run_ensemble
from sim.errors import UserError
from sim.scenario import with_overrides
from sim.scenario.priors import uncertain_inputs
from sim.tools.cli import main

#: The outcome: S's tie to P over the records of 2023 (the world runs 2020-2023).
OUTCOME = "tie S P 2023"
IGNORED = "relations.S.P.affinity"


def _world_dict() -> dict:
    """The energy world (S cares only about energy, which it trades with P; Q a
    bystander) with four uncertain inputs: S's energy stake in P (the driver of S's tie
    to P), the tie cost, P's energy stake in S (the reciprocity that scales S's gain),
    and S's affinity to P, which S's payoff weighs by its alignment weight, 0: the model
    ignores it."""
    d = worlds.energy_world()
    rel = d["relations"]
    rel["S"]["P"]["energy"]["range"] = [0.2, 0.8]
    rel["S"]["P"]["affinity"] = {**worlds.sourced(0.0), "range": [-0.5, 0.5]}
    rel["P"]["S"]["energy"]["range"] = [0.05, 0.4]
    d["model"]["tie_cost"] = {**worlds.sourced(0.2), "range": [0.1, 0.3]}
    d["focus"] = "S"
    d["poles"] = {"P": ["P"], "Q": ["Q"]}
    return d


@pytest.fixture(scope="module")
def world():
    return worlds.build(_world_dict())


@pytest.fixture(scope="module")
def table(world):
    return screen(world, [OUTCOME], trajectories=8, seeds=3, seed=1)


def test_the_ignored_input_really_has_no_effect(world):
    """The premise, checked directly: S's affinity to P at either end of its range gives
    the same ties, record for record, in every seed."""
    seeds = [0, 1, 2, 3]
    runs = [
        run_ensemble(with_overrides(world, {IGNORED: v}), seeds, keep="ties").ties["tie"]
        for v in (-0.5, 0.5)
    ]
    np.testing.assert_array_equal(runs[0].to_numpy(), runs[1].to_numpy())


def test_the_ignored_input_is_flagged_and_the_driver_ranks_first(table):
    assert set(table.columns) >= {
        "outcome",
        "path",
        "mu_star",
        "mu_star_conf",
        "sigma",
        "rank",
        "no_effect",
    }
    row = table.set_index("path")
    assert row.loc[IGNORED, "no_effect"] and row.loc[IGNORED, "mu_star"] == 0.0
    assert row.loc[IGNORED, "negligible"]
    assert table.iloc[0]["path"] == "relations.S.P.energy"
    assert table.iloc[0]["rank"] == 1
    assert not row.drop(IGNORED)["no_effect"].any()
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert (table["mu_star"].diff().dropna() <= 0).all()


def test_same_seed_same_table(world, table):
    again = screen(world, [OUTCOME], trajectories=8, seeds=3, seed=1)
    pd.testing.assert_frame_equal(table, again)


def test_an_outcome_of_a_bystander_has_no_input_with_an_effect(world):
    """Q trades with P only through P's own rows, none uncertain: no input moves S's tie
    to Q (S has no energy with Q and weighs nothing else)."""
    t = screen(world, ["tie S Q 2023", "index hedging_index S 2023"], trajectories=4, seeds=2)
    assert t[t["outcome"] == "tie S Q 2023"]["no_effect"].all()
    assert set(t["outcome"]) == {"tie S Q 2023", "index hedging_index S 2023"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("tie S 2023", "expected `tie STATE PARTNER YEAR` or `index NAME STATE YEAR`"),
        ("ties S P 2023", "expected `tie STATE PARTNER YEAR`"),
        ("tie S XX 2023", "unknown state 'XX'; expected one of S, P, Q"),
        ("tie S S 2023", "two different states"),
        ("index wealth S 2023", "unknown index 'wealth'; expected one of alignment_index"),
        ("tie S P 2031", "no record falls in 2031; the records run from 2019 to 2023"),
        ("tie S P next", "the year 'next' is not a whole number"),
    ],
)
def test_a_bad_outcome_is_a_clear_user_error(world, text, message):
    with pytest.raises(UserError, match="outcome .*" + _escaped(message)):
        parse_outcome(text, world)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_default_outcomes_are_the_focus_ties_to_the_poles(world):
    texts = [o.text for o in default_outcomes(world)]
    assert texts == ["tie S P 2023", "tie S Q 2023"]  # no 2025 in this world: its last year


def test_cost_figure_and_summary(table):
    assert planned_runs(320, 10, 4) == 12_840
    text = summary(table)
    assert "1 of 4 inputs have no effect" in text
    fig = screen_figure(table)
    assert len(fig.axes) == 1
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[-1] == "S→P energy"  # the largest at the top
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_screen_writes_its_files_and_never_overwrites_others(tmp_path, capsys):
    """(needs `screen` wired to sim.tools.cli_validate in sim.tools.cli)"""
    import yaml

    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(_world_dict(), sort_keys=False))
    out = tmp_path / "screen"
    args = ["screen", str(path), "--outcome", OUTCOME, "--trajectories", "4", "--seeds", "2"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "4 uncertain inputs on 1 outcomes: 4 trajectories x 5 points x 2 seeds = 40 runs" in (
        text
    )
    assert "1 of 4 inputs have no effect" in text
    assert (out / "screen.csv").is_file() and (out / "screen.png").is_file()
    csv = pd.read_csv(out / "screen.csv")
    assert csv.loc[csv["path"] == IGNORED, "no_effect"].item()
    # the same command again replaces its own files; other arguments are refused
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    other = [*args[:-1], "3", "--out", str(out), "--quiet"]
    assert main(other) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*other, "--force"]) == 0
    # a folder of one's own files is not written into
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main([*args, "--out", str(mine), "--quiet"]) == 2
    assert (mine / "notes.txt").read_text() == "mine"
    assert main([*args, "--outcome", "tie S 2023", "--out", str(tmp_path / "x")]) == 2
    assert "expected `tie STATE PARTNER YEAR`" in capsys.readouterr().err


def test_a_scenario_without_uncertain_inputs_is_refused():
    w = worlds.build(worlds.energy_world())
    assert uncertain_inputs(w) == []
    with pytest.raises(UserError, match="no uncertain inputs"):
        screen(w, [OUTCOME])
