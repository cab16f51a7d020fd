"""The propagation table (``python -m sim.tools.propagation``) on small worlds.

What it must show: the perturbed dyad's own tie moves the way the theory says, Model 2's
structural balance carries a change in one state's stake to ties other states hold (and
switching that term off stops it), the tables have their documented shape, the same
seeds give the same table, and bad input gets a message and exit code 2.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from worlds import ROOT, alliance_world, build, energy_world, pair, sourced

from sim.errors import UserError
from sim.tools.propagation import (
    COLUMNS,
    MOVES,
    NONE,
    SUMMARY_COLUMNS,
    main,
    perturbations,
    propagation,
)

SEEDS = range(30)
BASELINE = str(ROOT / "scenarios" / "baseline.yaml")


def effect(result, dyad: str, tie: str) -> tuple[float, float]:
    """The effect of perturbing ``dyad`` on ``tie``, with its standard error."""
    t = result.table
    row = t[(t["perturbed_dyad"] == dyad) & (t["tie"] == tie)]
    assert len(row) == 1
    return float(row["effect"].iloc[0]), float(row["se"].iloc[0])


# --------------------------------------------------------------------------------------
# What the effects say
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("world", "dyad"),
    [(energy_world, "S->P"), (alliance_world, "S->P")],
    ids=["model 1: more energy at stake", "model 2: a stronger protector"],
)
def test_own_tie_moves_the_way_the_theory_says(world, dyad):
    """S cares about energy (and, in the alliance world, about protection from H): more
    energy at stake with P (and more protection, arms and reach) raises S's tie to P,
    by more than noise (3 standard errors over paired seeds)."""
    result = propagation(build(world()), SEEDS, focus="S")
    own, se = effect(result, dyad, dyad)
    assert own > 3 * se > 0
    summary = result.summary.set_index("perturbed_dyad")
    assert summary.loc[dyad, "own_effect"] == own


def test_model_2_carries_a_stake_to_ties_other_states_hold():
    """Alliance world (Model 2): S is threatened by H and counts on P. A stronger stake of
    S in P raises S's tie to P; by structural balance H, S's enemy, cools toward S's new
    friend (H's payoff reads the tie S holds). With the balance weight at 0 that path is
    gone and H's tie to P barely moves."""
    on = propagation(build(alliance_world()), SEEDS, focus="S")
    moved, se = effect(on, "S->P", "H->P")
    assert moved < 0 and abs(moved) > 3 * se
    row = on.summary.set_index("perturbed_dyad").loc["S->P"]
    assert not row["max_elsewhere_tie"].startswith("S->")
    assert abs(row["max_elsewhere_effect"]) >= abs(moved)

    d = alliance_world()
    d["model"]["balance"] = sourced(0.0, "structural balance switched off")
    off = propagation(build(d), SEEDS, focus="S")
    assert abs(effect(off, "S->P", "H->P")[0]) < abs(moved) / 3


# --------------------------------------------------------------------------------------
# The perturbations
# --------------------------------------------------------------------------------------


def _share_world() -> dict:
    """S's energy row sums to 0.9: +20% on its 0.8 with P would pass 1."""
    d = energy_world()
    d["relations"]["S"] = {
        "P": pair(energy=0.8, proximity=1.0, affinity=-0.5, threat=0.0),
        "Q": pair(energy=0.1),
    }
    d["relations"]["Q"] = {"P": pair(proximity=1.0)}
    return d


def test_perturbations_clip_to_ranges_and_hold_share_rows():
    found = {p.dyad: p for p in perturbations(build(_share_world()), 0.2)}
    assert set(found) == {"S->P", "S->Q", "P->S", "P->Q", "Q->P"}
    changes = {c.name: c for c in found["S->P"].changes}
    assert set(changes) == {"energy", "proximity", "affinity"}  # threat 0: not perturbed
    # the share row: the rest (0.1) leaves room for 0.1 more, not 0.16
    assert changes["energy"].new == pytest.approx(0.9) and changes["energy"].held == "share row"
    assert changes["proximity"].new == 1.0 and changes["proximity"].held == "bound"
    assert changes["affinity"].new == pytest.approx(-0.6) and not changes["affinity"].held
    assert found["S->Q"].changes[0].new == pytest.approx(0.12)
    assert not found["Q->P"].moves  # its only parameter sits at its bound
    assert found["S->P"].overrides() == {
        "relations.S.P.energy": changes["energy"].new,
        "relations.S.P.affinity": changes["affinity"].new,
    }


def test_a_dyad_that_cannot_move_is_left_out_and_named():
    result = propagation(build(_share_world()), range(3), focus="S")
    assert [p.dyad for p in result.unmoved] == ["Q->P"]
    assert "Q->P" not in set(result.table["perturbed_dyad"])


# --------------------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------------------


def test_table_shape_and_columns():
    result = propagation(build(alliance_world()), range(4), focus="S")
    dyads = [p.dyad for p in perturbations(result.scenario, 0.2) if p.moves]
    n = len(result.scenario.state_ids)
    t = result.table
    assert list(t.columns) == COLUMNS
    assert len(t) == len(dyads) * n * (n - 1)
    assert t.groupby("perturbed_dyad")["tie"].nunique().eq(n * (n - 1)).all()
    assert not t.duplicated(["perturbed_dyad", "tie"]).any()
    assert t[["effect", "se"]].notna().all().all()
    s = result.summary
    assert list(s.columns) == SUMMARY_COLUMNS
    assert s["perturbed_dyad"].tolist() == dyads
    for row in s.itertuples():
        other = t[(t["perturbed_dyad"] == row.perturbed_dyad) & (t["tie"] != row.perturbed_dyad)]
        assert row.other_ties_moved == int((other["effect"].abs() > MOVES).sum())
        assert abs(row.max_other_effect) == other["effect"].abs().max()
        assert row.focus_tie == NONE or row.focus_tie.startswith("S->")


def test_same_seeds_same_table():
    scenario = build(alliance_world())
    a = propagation(scenario, range(5, 10), focus="S")
    b = propagation(scenario, range(5, 10), focus="S")
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    c = propagation(scenario, range(10, 15), focus="S")
    assert not np.array_equal(a.table["effect"], c.table["effect"])


def test_command_writes_the_tables_and_prints_the_summary(tmp_path, capsys):
    path = tmp_path / "alliance.yaml"
    path.write_text(yaml.safe_dump(alliance_world(), sort_keys=False))
    csv, md = tmp_path / "effects.csv", tmp_path / "summary.md"
    args = [str(path), "--seeds", "4", "--focus", "S", "--csv", str(csv), "--markdown", str(md)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "median over dyads of the largest effect on another tie" in out
    assert "largest effect on a tie S holds from a dyad outside S's row" in out
    assert out.rstrip().splitlines()[-1].startswith("wall_time_s=")
    table = pd.read_csv(csv)
    assert list(table.columns) == COLUMNS and len(table) == 6 * 6
    assert md.read_text().startswith("# Propagation: alliance")
    assert "| perturbed_dyad | parameters | own_effect |" in md.read_text()


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.yaml"], "nope.yaml: no such scenario file"),
        ([BASELINE, "--window", "2023-01-01"], "expected START:END"),
        ([BASELINE, "--window", "2023-01-01:2025-13-31"], "expected two dates YYYY-MM-DD"),
        ([BASELINE, "--window", "2025-01-01:2023-01-01"], "ends before it starts"),
        ([BASELINE, "--window", "2040-01-01:2041-01-01"], "holds no record of the scenario"),
        ([BASELINE, "--focus", "AX"], "--focus 'AX': not a state of the scenario (did you mean"),
        ([BASELINE, "--scale", "0"], "--scale 0.0: expected a relative change above -1"),
        ([BASELINE, "--csv", "no/such/dir/x.csv"], "--csv no/such/dir/x.csv: the folder"),
    ],
)
def test_bad_input_gets_a_message_and_exit_code_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_bad_counts_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([BASELINE, "--seeds", "1"])
    assert exit_.value.code == 2
    assert "--seeds: expected at least 2, got 1" in capsys.readouterr().err


def test_a_scenario_without_a_focus_asks_for_one():
    d = alliance_world()
    assert "focus" not in d
    with pytest.raises(UserError, match="names no focus state; give --focus"):
        propagation(build(d), range(2))


def test_the_module_runs_as_a_command_without_a_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "sim.tools.propagation", "missing.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "missing.yaml: no such scenario file" in done.stderr
    assert "Traceback" not in done.stderr
