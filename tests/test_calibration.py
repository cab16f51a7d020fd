"""Calibration, forecasts and the scorecard on the baseline, against the observed data
folder (these tests skip without it, and fail instead when MULTIVECTOR_REQUIRE_DATA=1, as
in CI); and the errors of bad settings, which need no data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli_run as run_cli

import sim
from sim.calibration import measure
from sim.calibration.calibrate import Settings, calibrate
from sim.calibration.forecast import forecast, score
from sim.errors import UserError

BASELINE = "scenarios/baseline.yaml"
SMALL = Settings(population=20, generations=1, seeds=2)


@pytest.fixture(scope="module")
def baseline():
    return sim.load_scenario(BASELINE)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, data_folder, baseline):
    out = tmp_path_factory.mktemp("cal") / "posterior"
    first = calibrate(baseline, out, settings=SMALL, data=data_folder, progress=None)
    resumed = calibrate(
        baseline,
        out,
        settings=Settings(population=20, generations=2, seeds=2),
        data=data_folder,
        progress=None,
    )
    return out, first, resumed


def test_calibration_writes_a_weighted_posterior_of_the_declared_inputs(calibrated, baseline):
    out, first, resumed = calibrated
    declared = [p for p in baseline.spec.calibration.inputs]
    assert [i.path for i in resumed.inputs] == declared
    post = pd.read_parquet(out / "posterior.parquet")
    assert list(post.columns) == [*declared, "weight"]
    assert len(post) == 20 and post["weight"].sum() == pytest.approx(1.0)
    for inp in resumed.inputs:
        assert post[inp.path].between(inp.low, inp.high).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "calibration" and manifest["status"] == "complete"
    assert manifest["seeds"]["first"] >= 200_000  # disjoint from tuning and validation seeds
    assert manifest["years"][1] <= 2021
    assert "unga_ideal_points_1991_2021.csv" in json.dumps(manifest["data"])  # checksums
    for name in ("prior_vs_posterior.png", "diagnostics.csv", "abc.db"):
        assert (out / name).is_file()


def test_a_resumed_calibration_keeps_its_finished_generations(calibrated):
    _, first, resumed = calibrated
    assert first.manifest["generations_done"] == 1
    assert resumed.manifest["generations_done"] == 2
    pd.testing.assert_frame_equal(first.diagnostics.iloc[:1], resumed.diagnostics.iloc[:1])
    # a second generation can only tighten the threshold
    eps = resumed.diagnostics["epsilon"].to_numpy()
    assert eps[1] <= eps[0]


def test_a_calibration_is_reproducible_from_its_seed(calibrated, tmp_path, data_folder, baseline):
    out, first, _ = calibrated
    again = calibrate(baseline, tmp_path / "again", settings=SMALL, data=data_folder, progress=None)
    pd.testing.assert_frame_equal(first.posterior, again.posterior)


def test_a_calibration_with_other_settings_is_not_mixed_in(calibrated, data_folder, baseline):
    out, *_ = calibrated
    with pytest.raises(UserError, match="another settings"):
        calibrate(
            baseline,
            out,
            settings=Settings(population=20, generations=2, seeds=3),
            data=data_folder,
            progress=None,
        )


def test_forecast_from_the_posterior_gives_ordered_quantiles_for_2022_2025(
    calibrated, tmp_path, data_folder, baseline
):
    out, *_ = calibrated
    table = forecast(baseline, tmp_path / "fc", posterior=out, draws=8, seeds=2, data=data_folder)
    assert sorted(table["year"].unique()) == [2022, 2023, 2024, 2025]
    assert set(table["observable"]) <= set(measure.SCORED)
    q = table[["q05", "q25", "q50", "q75", "q95"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    written = pd.read_parquet(tmp_path / "fc" / "forecast.parquet")
    pd.testing.assert_frame_equal(written, table)
    manifest = json.loads((tmp_path / "fc" / "manifest.json").read_text())
    assert manifest["kind"] == "forecast" and manifest["inputs"] == "posterior"
    assert manifest["posterior"]["path"] == str(out)
    assert manifest["scenario"]["content_hash"] == baseline.content_hash


def test_the_scorecard_of_the_point_values(tmp_path, data_folder, baseline):
    card = score(baseline, tmp_path / "sc", draws=1, seeds=3, data=data_folder)
    table = card.table
    assert {"coverage50", "coverage90", "crps"} <= set(table.columns)
    assert table["coverage90"].between(0, 1).all()
    assert (table["crps"] >= 0).all()
    assert len(card.backtest) > 0
    assert set(card.backtest["lead"]) <= {1, 2, 3}
    for name in ("scorecard.csv", "backtest.csv", "scorecard.png", "manifest.json"):
        assert (tmp_path / "sc" / name).is_file()
    # the sourced arms shares (SIPRI 2014-18, as the file cites) against the register
    arms = card.inputs[card.inputs["parameter"] == "arms"].set_index(["state", "partner"])
    assert arms.loc[("AZ", "RU"), "value"] == 0.51
    assert 0.4 < arms.loc[("AZ", "RU"), "observed"] < 0.65
    assert arms.loc[("AM", "RU"), "observed"] > 0.9
    assert arms["inside_range"].all()
    assert (tmp_path / "sc" / "inputs_vs_data.csv").is_file()


def test_scoring_twice_gives_identical_tables(tmp_path, data_folder, baseline):
    a = score(baseline, None, draws=1, seeds=2, data=data_folder)
    b = score(baseline, None, draws=1, seeds=2, data=data_folder)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.backtest, b.backtest)


# --- bad settings (no data needed) ------------------------------------------------------


def test_a_fictional_world_is_told_it_has_no_data(tmp_path):
    r = run_cli("score", "scenarios/teaching.yaml", "--out", str(tmp_path / "s"))
    assert r.returncode == 2
    assert "observed: codes:" in r.stderr and "Traceback" not in r.stderr


def test_a_missing_data_folder_is_a_clear_error(tmp_path):
    r = run_cli("score", BASELINE, "--out", str(tmp_path / "s"), "--data", str(tmp_path / "nope"))
    assert r.returncode == 2
    assert "nope" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s").exists()


def test_a_scored_state_without_a_code_is_named(tmp_path):
    text = open(BASELINE, encoding="utf-8").read()
    assert ", GE: GEO}" in text
    path = tmp_path / "no_ge.yaml"
    path.write_text(text.replace(", GE: GEO}", "}"), encoding="utf-8")
    r = run_cli("score", str(path), "--out", str(tmp_path / "s"), "--data", str(tmp_path))
    assert r.returncode == 2
    assert "'GE' has no code mapping" in r.stderr


def test_calibrate_needs_a_calibration_section(tmp_path):
    r = run_cli("calibrate", "scenarios/teaching.yaml", "--out", str(tmp_path / "c"))
    assert r.returncode == 2
    assert "calibration" in r.stderr and "Traceback" not in r.stderr


def test_forecast_years_must_follow_the_training_years(tmp_path):
    r = run_cli("forecast", BASELINE, "--out", str(tmp_path / "f"), "--years", "2020-2023")
    assert r.returncode == 2
    assert "--years" in r.stderr
