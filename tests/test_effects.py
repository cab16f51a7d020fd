"""Effects of counterfactuals in observable units (sim/calibration/effects.py and
``multivector effects``): known answers on a four-state world with a hand-made observed
table, and bad input. One test uses the real data folder and skips without it."""

from __future__ import annotations

import copy
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from worlds import pair, sourced, state, world, write_posterior

import sim
from sim.calibration import measure
from sim.calibration.effects import EFFECTS_SEED_START, effects
from sim.calibration.predictive import simulate
from sim.errors import UserError
from sim.tools.cli import main

#: The link of each observable in the hand-made table: observed = a + b * simulated.
SLOPES = {"unga_agreement": 0.6, "ideal_distance": -1.5, "ideal_axis": 0.8}
TRAIN = [2019, 2020, 2021]
WINDOW = [2023, 2024, 2025]


def small_world() -> dict:
    """Model 2 with continuous ties: S (the focus) and T between a West pole W and a
    Russia pole R. In 2022 R turns on S (``crisis``); in 2023 W and T sign a trade deal."""
    v2 = {"cross_pressure": None}
    states = {
        "S": state("S", power=1, energy=0.3, security=0.5, alignment=0.2, autonomy=0.2, **v2),
        "T": state("T", power=1, energy=0.4, security=0.3, alignment=0.3, autonomy=0.2, **v2),
        "W": state("W", power=8, energy=0.4, security=0.3, alignment=0.3, **v2),
        "R": state("R", power=6, energy=0.4, security=0.3, alignment=0.3, **v2),
    }
    relations = {
        "S": {
            "W": pair(energy=0.3, affinity=0.1),
            "R": pair(energy=0.3, threat=0.2, proximity=1.0),
        },
        "T": {"W": pair(energy=0.2), "R": pair(energy=0.3, affinity=0.2)},
        "W": {"S": pair(energy=0.05), "T": pair(energy=0.05), "R": pair(threat=0.3)},
        "R": {"S": pair(energy=0.05), "T": pair(energy=0.05), "W": pair(threat=0.3)},
    }
    d = world(states, relations, model={"version": 2, "candidates": "continuous"}, steps=28)
    d["time"]["start"] = dt.date(2019, 1, 1)
    d["shocks"] = {
        "crisis": _shock("R turns on S", 2022, [("threat", "S", "R", 0.4, [0.2, 0.6])]),
        "trade_deal": _shock("W and T trade", 2023, [("energy", "T", "W", 0.3, None)]),
    }
    d.update(
        name="effects test world",
        focus="S",
        poles={"West": ["W"], "Russia": ["R"]},
        alignment_axis={"toward": "West", "away": "Russia"},
        observed={"codes": {"S": "AZE", "T": "GEO", "W": "USA", "R": "RUS"}},
    )
    return d


def _shock(label: str, year: int, effects_: list) -> dict:
    """A dated shock that adds ``value`` (with a prior ``range`` when given) to each
    ``(param, state, partner, value, range)``."""
    out = [
        {"param": param, "pair": [i, j], "op": "add", **sourced(value)}
        | ({"range": span} if span else {})
        for param, i, j, value, span in effects_
    ]
    return {
        "label": label,
        "date": dt.date(year, 1, 1),
        "assumption": "a test event",
        "effects": out,
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The world as files: base.yaml and counterfactuals beside it in a scenarios folder."""
    folder = tmp_path_factory.mktemp("effects") / "scenarios"
    folder.mkdir()
    base = small_world()
    other_states = copy.deepcopy(base)
    other_states["states"]["U"] = state("U", energy=0.5, alignment=0.5, cross_pressure=None)
    docs = {
        "base": base,
        "counterfactual_no_crisis": _child("no crisis", remove_shocks=["crisis"]),
        "counterfactual_same": _child("the baseline again"),
        "standalone": {**base, "name": "a copy that extends nothing"},
        "more_states": _child("one more state", states={"U": other_states["states"]["U"]}),
    }
    paths = {}
    for name, doc in docs.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(doc, sort_keys=False))
    return paths


def _child(name: str, **fields) -> dict:
    return {"extends": "base.yaml", "name": name, **fields}


@pytest.fixture(scope="module")
def baseline(files):
    return sim.load_scenario(files["base"])


@pytest.fixture(scope="module")
def observed(baseline):
    """Observed series that lie exactly on a known line through the baseline's own
    simulated years (its point values, the seeds the effects run): the links must come
    back with the slopes of :data:`SLOPES` and no residual."""
    seeds = list(range(EFFECTS_SEED_START, EFFECTS_SEED_START + 3))
    x = measure.mean_over_replicates(simulate(baseline, seeds, [{}], TRAIN))
    x = x[x["state"].isin(["S", "T"])]
    parts = []
    for obs, slope in SLOPES.items():
        link = measure.LINKS[obs]
        rows = x[(x["simulated"] == link.simulated) & (x["partner"] != x["state"])]
        parts.append(rows.assign(observable=obs, value=0.3 + slope * rows["x"]))
    return pd.concat(parts, ignore_index=True)[["observable", "state", "partner", "year", "value"]]


def test_a_counterfactual_equal_to_the_baseline_has_no_effect(files, baseline, observed):
    out = effects(
        baseline, [files["counterfactual_same"]], observed=observed, prior=True, draws=2, seeds=3
    )
    assert len(out.table) and (out.replicates[["effect", "tie_effect"]] == 0).all().all()
    assert not out.table["band_excludes_0"].any()


def test_the_effect_is_the_slope_times_the_tie_difference(files, baseline, observed):
    out = effects(baseline, [files["counterfactual_no_crisis"]], observed=observed, seeds=3)
    fits = out.fits.set_index("observable")["slope"]
    for obs, slope in SLOPES.items():
        assert fits[obs] == pytest.approx(slope, abs=1e-6)
        rows = out.replicates[out.replicates["observable"] == obs]
        np.testing.assert_allclose(rows["effect"], slope * rows["tie_effect"], atol=1e-9)
    # the crisis (R's threat to S) moves S's tie to R, so the test can fail
    s_r = out.table[(out.table["state"] == "S") & (out.table["partner"] == "R")]
    assert (s_r["tie_effect"].abs() > 1e-3).all()
    assert (
        np.sign(s_r["effect"]) == np.sign(s_r["observable"].map(SLOPES) * s_r["tie_effect"])
    ).all()
    assert out.table["state"].iloc[0] == "S"  # the focus first


def test_bands_cover_seeds_times_draws(files, baseline, observed):
    out = effects(
        baseline,
        [files["counterfactual_no_crisis"]],
        observed=observed,
        prior=True,
        draws=3,
        seeds=4,
    )
    assert (out.table["replicates"] == 12).all()
    one = out.replicates.groupby(["observable", "state", "partner"])["replicate"].nunique()
    assert (one == 12).all()
    t = out.table
    assert ((t["effect_lo"] <= t["effect"]) & (t["effect"] <= t["effect_hi"])).all()
    row = t.iloc[0]
    mine = out.replicates[
        (out.replicates["observable"] == row["observable"])
        & (out.replicates["state"] == row["state"])
        & (out.replicates["partner"] == row["partner"])
    ]["effect"]
    assert row["effect_lo"] == pytest.approx(mine.quantile(0.05))
    assert row["effect_hi"] == pytest.approx(mine.quantile(0.95))
    assert row["band_excludes_0"] == (row["effect_lo"] > 0 or row["effect_hi"] < 0)
    assert out.fits["input_draw"].nunique() == 3


def test_effects_are_deterministic(files, baseline, observed):
    run = [
        effects(
            baseline,
            [files["counterfactual_no_crisis"]],
            observed=observed,
            prior=True,
            draws=2,
            seeds=2,
        )
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(run[0].table, run[1].table)
    assert run[0].text() == run[1].text()


@pytest.mark.parametrize(
    "which, years, words",
    [
        ("standalone", WINDOW, "does not extend the baseline"),
        ("more_states", WINDOW, "states differ"),
        ("counterfactual_no_crisis", [2030, 2031], "outside the horizon"),
    ],
)
def test_a_bad_counterfactual_or_window_is_refused(files, baseline, observed, which, years, words):
    with pytest.raises(UserError, match=words):
        effects(baseline, [files[which]], observed=observed, years=years)


def _cli(capsys, *args) -> tuple[int, str, str]:
    """``multivector effects ARGS`` in this process: exit code, stdout, stderr."""
    code = main(["effects", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bad_input_on_the_command_line_is_one_message(files, tmp_path, capsys):
    base, cf = files["base"], files["counterfactual_no_crisis"]
    other = write_posterior(tmp_path / "calib", "0" * 64, {"model.tie_cost": [0.2]})
    cases = [
        ((tmp_path / "nothing.yaml", "--counterfactual", cf), "no such scenario file"),
        ((base, "--counterfactual", tmp_path / "no.yaml"), "no such scenario file"),
        ((base, "--counterfactual", files["standalone"]), "does not extend"),
        ((base, "--counterfactual", files["more_states"]), "states differ"),
        ((base, "--counterfactual", cf, "--years", "2024-2031"), "outside the horizon"),
        ((base, "--counterfactual", cf, "--years", "later"), "FIRST-LAST"),
        ((base, "--counterfactual", cf, "--posterior", other), "another version"),
        ((base, "--counterfactual", cf, "--draws", "5"), "goes with --posterior"),
        ((base, "--counterfactual", cf, "--data", tmp_path / "no_data"), "no_data"),
    ]
    for args, words in cases:
        code, _, err = _cli(capsys, *args)
        assert code == 2, (args, err)
        assert words in err and "Traceback" not in err, (args, err)


def test_argument_limits_are_refused_by_the_parser(files, capsys):
    for extra in (["--until", "2022"], ["--seeds", "0"], ["--posterior", "x", "--prior"]):
        with pytest.raises(SystemExit) as exc:
            main(["effects", str(files["base"]), "--counterfactual", "x.yaml", *extra])
        assert exc.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_model_1_on_the_real_data_writes_its_table(data_folder, tmp_path, capsys):
    out = tmp_path / "effects"
    args = [
        "scenarios/baseline.yaml",
        "--counterfactual",
        "scenarios/counterfactual_gas_deal_fails.yaml",
        "--seeds",
        "2",
        "--data",
        data_folder,
        "--out",
        out,
    ]
    code, printed, err = _cli(capsys, *args)
    assert code == 0, err
    lines = printed.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["observable", "dyad"])
    assert lines[head + 1].split()[1].startswith("AZ>")  # the focus first
    table = pd.read_csv(out / "effects.csv", keep_default_na=False)
    assert table["state"].iloc[0] == "AZ"
    assert (table["replicates"] == 2).all() and (table["observed_sd"].astype(float) > 0).all()
    assert "gas_deal_fails" in (out / "effects.md").read_text()
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert files["effects.csv"]["settings"]["years"] == WINDOW
    assert _cli(capsys, *args)[0] == 0  # the same command may replace its own files
