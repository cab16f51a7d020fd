"""The resolution tool: a lattice hides effects below its step, continuous ties do not."""

from __future__ import annotations

import datetime as dt

import yaml
from worlds import alliance_world, build

from sim.tools.resolution import main, resolution_row

WINDOW = (dt.date(2022, 1, 1), dt.date(2025, 12, 31))


def test_continuous_ties_show_every_paired_difference_a_lattice_hides_some():
    seeds = list(range(30))
    tie = ("H", "S")  # H barely reacts to the P-H deal: a small effect
    lattice = resolution_row(build(alliance_world()), tie, ("energy_deal",), WINDOW, seeds)
    d = alliance_world()
    d["model"]["candidates"] = "continuous"
    smooth = resolution_row(build(d), tie, ("energy_deal",), WINDOW, seeds)
    assert lattice["zero_share"] > 0.5 and lattice["candidates"] == "local"
    assert smooth["zero_share"] == 0.0 and smooth["candidates"] == "continuous"
    for row in (lattice, smooth):
        assert row["se"] > 0 and row["noise"] > 0
        assert row["in_steps"] == row["effect"] / row["delta"]


def test_the_command_prints_one_line_a_setting_and_refuses_bad_input(tmp_path, capsys):
    path = tmp_path / "alliance.yaml"
    path.write_text(yaml.safe_dump(alliance_world(), sort_keys=False, default_flow_style=False))
    args = [
        str(path),
        "--tie",
        "S-P",
        "--off",
        "energy_deal",
        "--window",
        "2022-01-01:2025-12-31",
        "--seeds",
        "5",
    ]
    assert main([*args, "--setting", "model.candidates=continuous"]) == 0
    out = capsys.readouterr().out
    assert "as in the file: local" in out and "model.candidates=continuous: continuous" in out
    assert main([*args[:-2], "--seeds", "1"]) == 2
    assert main([str(path), "--tie", "S", "--off", "x", "--window", "2022-01-01:2025-12-31"]) == 2
    assert main([str(path), "--tie", "S-P", "--off", "x", "--window", "2025:2022"]) == 2
    assert "error:" in capsys.readouterr().err
