"""Scenario discovery (PRIM) and feature scoring: known boxes found, inputs ranked, the
command's files written without overwriting, bad input refused with a clear message."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.batch
from sim.analysis import discover as disc
from sim.batch import analysis
from sim.errors import UserError
from sim.tools import cli_discover

pytest.importorskip("ema_workbench")

ROOT = Path(__file__).resolve().parent.parent
TEACHING = ROOT / "scenarios" / "teaching.yaml"
SHIPPED = ROOT / "scenarios" / "experiments" / "discovery.yaml"
OUTCOME = "tie SM WE mean 2024..2025"

LHS = f"""\
name: tiny discovery
scenarios:
  base: {TEACHING}
design:
  kind: lhs
  samples: 60
  parameters:
    relations.SM.WE.energy: {{low: 0.1, high: 0.3}}
    relations.SM.WE.affinity: {{low: -0.05, high: 0.45}}
    states.SM.cross_pressure: {{low: 0.1, high: 0.5}}
replicates: 2
seed: 5
keep: ties
dates: [2024-06-30, 2024-12-31, 2025-06-30, 2025-12-31]
outcomes:
  west_tie: tie SM WE mean 2024..2025
"""


def known_box(n: int = 2000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Uniform inputs a, b, noise; of interest exactly when a > 0.6 and b < 0.3."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(size=(n, 3)), columns=["a", "b", "noise"])
    return x, ((x["a"] > 0.6) & (x["b"] < 0.3)).to_numpy()


def discover(*argv: str) -> int:
    """``multivector discover ARGV`` through this module's parser and dispatch."""
    parser = argparse.ArgumentParser(prog="multivector")
    cli_discover.add_commands(parser.add_subparsers(dest="command", required=True))
    return cli_discover.dispatch(parser.parse_args(["discover", *argv]))


@pytest.fixture(scope="module")
def lhs_batch(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("discover")
    (d / "exp.yaml").write_text(LHS)
    sim.batch.run(d / "exp.yaml", d / "out", workers=1, progress=False)
    return d / "out"


def test_prim_recovers_a_known_box():
    x, y = known_box()
    found = disc.prim(x, y, threshold=0.9)
    box = found.box
    assert box["density"] >= 0.9 and box["coverage"] >= 0.9
    lim = found.limits.set_index("parameter")
    assert list(lim.index[lim["restricted"]]) == ["a", "b"]
    assert abs(lim.loc["a", "low"] - 0.6) < 0.05 and lim.loc["a", "high"] == x["a"].max()
    assert abs(lim.loc["b", "high"] - 0.3) < 0.05 and lim.loc["b", "low"] == x["b"].min()
    # the rule: the largest coverage among the boxes at or above the threshold
    t = found.trajectory
    assert t["chosen"].sum() == 1 and t.loc[found.chosen, "chosen"]
    assert box["coverage"] == t.loc[t["density"] >= 0.9, "coverage"].max()
    assert (t["coverage"] <= 1).all() and (t["density"] <= 1).all()
    assert t["mass"].iloc[0] == 1 and t["restricted"].iloc[0] == 0
    text = found.text()
    assert text.startswith("a >= 0.") and " and b <= 0." in text
    assert f"density {box['density']:.2f}" in text and "noise" not in text.splitlines()[0]


def test_choose_box_takes_the_densest_when_none_reaches_the_threshold():
    t = pd.DataFrame(
        {
            "box": [0, 1, 2, 3],
            "coverage": [1.0, 0.9, 0.6, 0.5],
            "density": [0.2, 0.5, 0.7, 0.7],
            "restricted": [0, 1, 2, 3],
        }
    )
    assert disc.choose_box(t, 0.5) == (1, True)  # reaches 0.5 with the most coverage
    assert disc.choose_box(t, 0.6) == (2, True)
    assert disc.choose_box(t, 0.9) == (2, False)  # none does: the densest, most coverage


def test_feature_scores_rank_the_inputs_that_matter_above_noise():
    x, y = known_box()
    for target, classify in ((y, True), (x["a"] + 2 * (x["b"] < 0.3), False)):
        scores = disc.feature_scores(x, target, classify=classify, seed=3)
        table = scores.table.set_index("parameter")
        assert set(scores.table["parameter"].iloc[:2]) == {"a", "b"}
        assert table.loc["noise", "rank"] == 3
        assert table["score"].sum() == pytest.approx(1.0)
        assert scores.oob_score > 0.9
    first, again = (disc.feature_scores(x, y, classify=True, seed=3) for _ in range(2))
    pd.testing.assert_frame_equal(first.table, again.table)  # the seed fixes the forest


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [("< 0.3", "<", 0.3), ("<=-0.1", "<=", -0.1), (" > 1e-3 ", ">", 0.001), (">= .5", ">=", 0.5)],
)
def test_conditions(text, op, value):
    c = disc.parse_condition(text)
    assert (c.op, c.value) == (op, value)
    assert list(c.holds([value - 1, value, value + 1])) == [
        op.startswith("<"),
        op in ("<=", ">="),
        op.startswith(">"),
    ]


@pytest.mark.parametrize("bad", ["= 0.3", "< x", "0.3", "<< 0.3", "", "< 0.3 and > 0.1", "< nan"])
def test_bad_where_is_a_clear_user_error(bad):
    with pytest.raises(UserError, match=r"--where .*expected a comparison with a number"):
        disc.parse_condition(bad)


def test_missing_ema_workbench_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ema_workbench.analysis.prim", None)
    x, y = known_box(200)
    with pytest.raises(UserError, match=r"pip install 'multivector\[discover\]'.*\./dev setup"):
        disc.prim(x, y)


def test_discover_on_a_small_batch_writes_its_files_and_refuses_to_overwrite(
    lhs_batch, tmp_path, capsys
):
    res = sim.batch.load(lhs_batch)
    values = analysis.outcome(res, OUTCOME, "base")["value"]
    cut = f"< {float(values.median()):.4f}"
    out = tmp_path / "an"
    args = [str(lhs_batch), "--outcome", OUTCOME, "--where", cut, "--out", str(out)]
    assert discover(*args, "--features") == 0
    printed = capsys.readouterr().out
    assert "coverage" in printed and "density" in printed and "Feature scores" in printed
    stem = disc.file_stem("tie_SM_WE_mean_2024-2025", disc.parse_condition(cut))
    files = {p.name for p in out.iterdir()}
    for part in cli_discover.PRIM_FILES:
        assert f"discover__{stem}_{part}" in files
    assert {f"features__{stem}.csv", f"features__{stem}.png"} <= files
    traj = pd.read_csv(out / f"discover__{stem}_trajectory.csv")
    assert {"coverage", "density", "mass", "restricted", "dimensions", "chosen"} <= set(traj)
    box = pd.read_csv(out / f"discover__{stem}_box.csv")
    assert set(box["parameter"]) == set(res.manifest["design"]["parameters"])
    # another threshold would replace the same files: refused, then allowed with --force
    with pytest.raises(UserError, match="would replace .*--force"):
        discover(*args, "--threshold", "0.95")
    assert discover(*args, "--threshold", "0.95", "--force") == 0
    # another question (a declared outcome, no condition) writes files of its own
    assert discover(str(lhs_batch), "--outcome", "west_tie", "--features", "--out", str(out)) == 0
    assert "west_tie (tie SM WE mean 2024..2025)" in capsys.readouterr().out
    assert (out / "features__west_tie.csv").is_file()
    assert f"discover__{stem}_box.csv" in {p.name for p in out.iterdir()}


def test_cases_are_runs_or_point_means(lhs_batch):
    res = sim.batch.load(lhs_batch)
    per_run = disc.batch_cases(res, OUTCOME)
    per_point = disc.batch_cases(res, OUTCOME, by="point")
    assert len(per_run.y) == 120 and len(per_point.y) == 60
    assert list(per_run.x.columns) == res.manifest["design"]["parameters"]
    runs = res.runs.set_index("run_id")
    means = per_run.y.groupby(runs.loc[per_run.y.index, "point"]).mean()
    np.testing.assert_allclose(per_point.y.sort_index(), means.sort_index())
    with pytest.raises(UserError, match="nothing to discover"):
        disc.of_interest(per_run, disc.parse_condition("< -5"))
    with pytest.raises(UserError, match="every run .* nothing to discover"):
        disc.of_interest(per_run, disc.parse_condition("> -5"))


def test_a_batch_without_a_design_is_refused(tmp_path):
    (tmp_path / "exp.yaml").write_text(
        f"name: no design\nscenarios: {{base: {TEACHING}}}\nreplicates: 3\nseed: 1\n"
        "dates: [2025-12-31]\n"
    )
    sim.batch.run(tmp_path / "exp.yaml", tmp_path / "out", workers=1, progress=False)
    with pytest.raises(UserError, match=r"no design parameters \(design 'none'\)"):
        discover(
            str(tmp_path / "out"),
            "--outcome",
            "alignment_index SM at 2025-12-31",
            "--where",
            "< 0",
        )


def test_discover_needs_where_or_features(lhs_batch):
    with pytest.raises(UserError, match="--where .*--features"):
        discover(str(lhs_batch), "--outcome", OUTCOME)


def test_the_command_line_offers_discover(lhs_batch, tmp_path, capsys):
    """Wired into ``multivector``: bad input is exit code 2 with a message."""
    from sim.tools.cli import main

    code = main(["discover", str(lhs_batch), "--outcome", OUTCOME, "--where", "= 1"])
    err = capsys.readouterr().err
    assert code == 2 and "expected a comparison" in err and "Traceback" not in err


def test_the_shipped_discovery_experiment_is_valid():
    design = sim.batch.load_experiment(SHIPPED).spec.design
    assert design.kind == "lhs" and 6 <= len(design.parameters) <= 8
