"""Uncertain inputs: `range`/`dist` in the schema, `observed`, `calibration`, the validation
seeds, the priors API (sim.scenario.priors) and ensembles with `inputs="prior"`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli_run

import sim
from sim.drivers.ensemble import run_ensemble
from sim.errors import ScenarioError, UserError
from sim.scenario import (
    UncertainInput,
    calibrated_inputs,
    draw_inputs,
    input_rng,
    load_scenario,
    prior_table,
    uncertain_inputs,
    with_overrides,
)

ROOT = Path(__file__).resolve().parents[1]
TEACHING = (ROOT / "scenarios" / "teaching.yaml").read_text()
BASELINE = ROOT / "scenarios" / "baseline.yaml"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


@pytest.fixture(scope="module")
def teaching():
    return load_scenario(ROOT / "scenarios" / "teaching.yaml")


def edited(
    tmp_path: Path, old: str, new: str, text: str = TEACHING, at: str | None = None
) -> tuple[Path, int]:
    """The teaching scenario with ``old`` replaced by ``new`` (once), and the line of
    ``at`` within ``new`` (default: its first line)."""
    assert text.count(old) == 1, old
    path = tmp_path / "edited.yaml"
    out = text.replace(old, new)
    path.write_text(out)
    start = out.index(new)
    return path, out[: start + new.index(at or new)].count("\n") + 1


def problem(
    tmp_path: Path, old: str, new: str, *expected: str, text: str = TEACHING, at: str | None = None
) -> str:
    """Load the edited file: a ScenarioError naming the file, the line and ``expected``."""
    path, line = edited(tmp_path, old, new, text, at)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert f"edited.yaml:{line}:" in msg, msg
    for e in expected:
        assert e in msg, msg
    return msg


SM_THREAT = 'assumption: "Eastland has threatened Smallland before", range: [0.2, 0.6]}'


# --------------------------------------------------------------------------------------
# The schema and the checks
# --------------------------------------------------------------------------------------


def test_shipped_scenarios_accept_ranges(baseline, teaching):
    assert baseline.spec.states["AZ"].weights.energy.range == [0.4, 0.65]
    assert baseline.spec.model.tie_cost.range == [0.1, 0.2]
    assert teaching.spec.validation.tuning_seeds == [0, 39]
    assert baseline.spec.validation.seed_start == 100_000
    assert baseline.spec.observed.codes["EU"] == "EU27"
    assert baseline.spec.calibration.until == 2021


def test_a_triangular_range_and_a_sourced_range_are_accepted(tmp_path):
    path, _ = edited(
        tmp_path,
        SM_THREAT,
        'source: "a survey", range: [0.2, 0.6], dist: triangular}',
    )
    s = load_scenario(path)
    (u,) = [u for u in uncertain_inputs(s) if u.path == "relations.SM.EA.threat"]
    assert (u.dist, u.provenance, u.low, u.high) == ("triangular", "a survey", 0.2, 0.6)
    assert u.where == f"{path}:{_line_of(path, 'dist: triangular')}"


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        ("range: [0.6, 0.2]", "low < high, got [0.6, 0.2]"),
        ("range: [0.3, 0.3]", "low < high, got [0.3, 0.3]"),
        ("range: [0.5, 0.6]", "the value 0.4 lies outside its range [0.5, 0.6]"),
        ("range: [0.2, 1.2]", "inside this field's bounds [0, 1], got [0.2, 1.2]"),
        ("range: [0.2]", "relations.SM.EA.threat.range"),
        ("range: [0.2, 0.6], dist: normal", "relations.SM.EA.threat.dist"),
    ],
)
def test_a_bad_range_is_a_problem_at_its_line(tmp_path, new, expected):
    msg = problem(tmp_path, SM_THREAT, SM_THREAT.replace("range: [0.2, 0.6]", new), expected)
    assert "relations.SM.EA.threat" in msg


def test_a_range_outside_affinity_bounds_and_on_an_effect(tmp_path):
    old = 'assumption: "admires Western prosperity", range: [-0.05, 0.45]}'
    problem(tmp_path, old, old.replace("[-0.05, 0.45]", "[-1.5, 0.45]"), "bounds [-1, 1]")
    old = 'no leverage", range: [0, 0.05]}'
    problem(tmp_path, old, 'no leverage", range: [-0.1, 0.05]}', "effects[0].range")


def test_dist_without_a_range_is_a_problem(tmp_path):
    old = 'assumption: "a neighbour", range: [0.9, 1]}'
    new = 'assumption: "a neighbour", dist: triangular}'
    problem(tmp_path, old, new, "relations.SM.EA.proximity.dist", "give `range: [low, high]`")


def test_a_range_problem_through_the_cli(tmp_path):
    path, line = edited(tmp_path, SM_THREAT, SM_THREAT.replace("[0.2, 0.6]", "[0.6, 0.2]"))
    r = cli_run("check", str(path))
    assert r.returncode == 2
    assert f"edited.yaml:{line}: field relations.SM.EA.threat.range" in r.stderr + r.stdout


VALIDATION = "validation:\n  seeds: 100\n"


def test_observed_codes(tmp_path):
    problem(
        tmp_path,
        VALIDATION,
        "observed:\n  codes: {SM: SML, EAA: EAS}\n" + VALIDATION,
        "observed.codes.EAA",
        "unknown state id 'EAA' (did you mean 'EA'?)",
        at="  codes",
    )
    problem(
        tmp_path, VALIDATION, "observed:\n  codes: {SM: sm}\n" + VALIDATION, "got 'sm'", at="  c"
    )
    problem(tmp_path, VALIDATION, "observed:\n  codes: {SM: []}\n" + VALIDATION, "got []", at="  c")
    ok = "observed:\n  codes: {SM: [AAA, B12], EA: EU27}\n"
    path, _ = edited(tmp_path, VALIDATION, ok + VALIDATION)
    assert load_scenario(path).spec.observed.codes == {"SM": ["AAA", "B12"], "EA": "EU27"}


def test_calibration_inputs_need_a_range(tmp_path):
    text = TEACHING.replace(
        'base in Smallland", range: [0.15, 0.45]}',
        'base in Smallland"}',
    )
    assert text != TEACHING
    cal = "calibration:\n  inputs: [relations.SM.EA.threat, relations.SM.EA.leverage]\n"
    msg = problem(
        tmp_path,
        VALIDATION,
        cal + VALIDATION,
        "calibration.inputs[1]",
        "relations.SM.EA.leverage is not uncertain: give it a range",
        text=text,
        at="  inputs",
    )
    assert "inputs[0]" not in msg
    cal = "calibration:\n  inputs: [relations.SM.EA.treat]\n  until: 2021\n"
    problem(
        tmp_path,
        VALIDATION,
        cal + VALIDATION,
        "no number at 'relations.SM.EA.treat'",
        "did you mean 'relations.SM.EA.threat'",
        at="  inputs",
    )
    cal = "calibration:\n  inputs: [relations.SM.EA.threat]\n  until: 2019\n"
    problem(
        tmp_path, VALIDATION, cal + VALIDATION, "calibration.until", "2020 to 2025", at="  until"
    )


def test_calibrated_inputs(baseline, teaching):
    cal = calibrated_inputs(baseline)
    assert [u.path for u in cal] == baseline.spec.calibration.inputs
    assert "model.tie_cost" in [u.path for u in cal] and 6 <= len(cal) <= 10
    with pytest.raises(UserError, match="no `calibration:` section"):
        calibrated_inputs(teaching)
    # an override fixes an input: the scenario stays valid, but it is no longer uncertain
    fixed = with_overrides(baseline, {"model.tie_cost": 0.12})
    with pytest.raises(UserError, match="model.tie_cost"):
        calibrated_inputs(fixed)


SEEDS = "  tuning_seeds: [0, 39]\n  seed_start: 100000\n"


def test_tuning_and_validation_seeds(tmp_path):
    problem(tmp_path, SEEDS, "  tuning_seeds: [9, 3]\n", "validation.tuning_seeds", "[9, 3]")
    msg = problem(
        tmp_path,
        SEEDS,
        "  tuning_seeds: [0, 39]\n  seed_start: 20\n",
        "validation.seed_start",
        "20..119",
        "0..39",
        at="  seed_start",
    )
    assert "overlap" in msg
    problem(tmp_path, SEEDS, "  tuning_seeds: [-1, 3]\n", "validation.tuning_seeds")
    path, _ = edited(tmp_path, SEEDS, "  tuning_seeds: [0, 39]\n")  # seed_start: 100000
    assert load_scenario(path).spec.validation.seed_start == 100_000


# --------------------------------------------------------------------------------------
# The priors API
# --------------------------------------------------------------------------------------


def test_every_range_is_an_uncertain_input(baseline, teaching):
    for s in (baseline, teaching):
        n = len(re.findall(r"\brange: \[", s.path.read_text()))
        assert len(uncertain_inputs(s)) == n
    assert len(uncertain_inputs(baseline)) == 323 and len(uncertain_inputs(teaching)) == 42
    table = prior_table(baseline)
    assert list(table.columns) == ["path", "value", "low", "high", "dist", "provenance", "where"]
    assert ((table.low <= table.value) & (table.value <= table.high)).all()
    assert table.path.iloc[0] == "model.delta"
    assert table["where"].iloc[0].endswith(f"baseline.yaml:{_line_of(BASELINE, 'delta: {value')}")


def test_ppf_known_answers():
    uni = UncertainInput("x", 0.5, 0.0, 2.0, "uniform", "test", "?:0")
    assert uni.ppf(np.array([0.0, 0.25, 1.0])).tolist() == [0.0, 0.5, 2.0]
    # triangular on [0, 2] with mode 0.5: F(0.5) = 0.25
    tri = UncertainInput("x", 0.5, 0.0, 2.0, "triangular", "test", "?:0")
    u = np.array([0.0, 0.04, 0.25, 1 - 0.5 * 0.75, 1.0])
    # u < 0.25: sqrt(u * 2 * 0.5); else 2 - sqrt((1 - u) * 2 * 1.5)
    expected = [0.0, 0.2, 0.5, 2 - np.sqrt(0.375 * 3), 2.0]
    np.testing.assert_allclose(tri.ppf(u), expected)
    # the median of a symmetric triangle is its mode
    sym = UncertainInput("x", 1.0, 0.0, 2.0, "triangular", "test", "?:0")
    np.testing.assert_allclose(sym.ppf(np.array([0.5])), [1.0])


def test_draws_are_reproducible_and_inside_their_ranges(baseline):
    a = draw_inputs(baseline, np.random.default_rng(11), 50)
    b = draw_inputs(baseline, np.random.default_rng(11), 50)
    assert a == b
    assert a != draw_inputs(baseline, np.random.default_rng(12), 50)
    priors = {u.path: u for u in uncertain_inputs(baseline)}
    for d in a:
        assert set(d) == set(priors)
        for path, v in d.items():
            u = priors[path]
            if ".weights." in path:  # renormalised: still shares in [0, 1]
                assert 0.0 <= v <= 1.0
            elif re.fullmatch(r"relations\.\w+\.\w+\.(energy|arms|leverage)", path):
                assert 0.0 <= v <= u.high + 1e-12  # may be scaled down to keep the row <= 1
            else:
                assert u.low <= v <= u.high, path
        for sid in baseline.spec.states:
            w = [d[f"states.{sid}.weights.{n}"] for n in ("energy", "security", "alignment")]
            assert sum(w) == pytest.approx(1.0, abs=1e-12)
    for d in a[:5]:
        with_overrides(baseline, d)  # every draw is a valid scenario


def test_a_partial_draw_keeps_the_drawn_weight(baseline):
    (energy,) = [u for u in uncertain_inputs(baseline) if u.path == "states.AZ.weights.energy"]
    for d in draw_inputs(baseline, np.random.default_rng(1), 20, [energy]):
        e, s, a = (d[f"states.AZ.weights.{n}"] for n in ("energy", "security", "alignment"))
        assert energy.low <= e <= energy.high
        assert e + s + a == pytest.approx(1.0) and s / a == pytest.approx(0.25 / 0.2)


# --------------------------------------------------------------------------------------
# Ensembles with inputs="prior"
# --------------------------------------------------------------------------------------


def _drawn(result, k: int) -> dict:
    row = result.replicates.iloc[k]
    fixed = {"replicate", "seed", "entropy", "spawn_key", "point"}
    return {c: float(v) for c, v in row.items() if c not in fixed and not np.isnan(v)}


def test_a_prior_replicate_equals_its_drawn_overrides(baseline):
    seeds = [3, 8]
    res = run_ensemble(baseline, seeds, inputs="prior", keep="ties")
    drawn = _drawn(res, 1)
    assert len(drawn) == len(uncertain_inputs(baseline))
    assert drawn == draw_inputs(baseline, input_rng(8), 1)[0]
    alone = run_ensemble(baseline, [8], overrides=[drawn], keep="ties")
    mine = res.ties[res.ties.replicate == 1].drop(columns="replicate").reset_index(drop=True)
    other = alone.ties.drop(columns="replicate").reset_index(drop=True)
    assert mine.equals(other)


def test_explicit_overrides_win_over_the_draws(baseline):
    res = run_ensemble(baseline, [4], inputs="prior", overrides=[{"states.AZ.weights.energy": 0.5}])
    d = _drawn(res, 0)
    assert d["states.AZ.weights.energy"] == 0.5
    assert sum(d[f"states.AZ.weights.{n}"] for n in ("energy", "security", "alignment")) == (
        pytest.approx(1.0)
    )


def test_prior_ensembles_are_deterministic(teaching):
    a = run_ensemble(teaching, 6, inputs="prior", keep="ties")
    b = run_ensemble(teaching, 6, inputs="prior", keep="ties")
    assert a.ties.equals(b.ties) and a.replicates.equals(b.replicates)


def test_prior_inputs_spread_the_ties(teaching):
    def spread(inputs: str) -> float:
        r = run_ensemble(teaching, 30, inputs=inputs, keep="ties", dates=["2025-12-31"])
        t = r.ties[(r.ties.state == "SM") & (r.ties.partner == "WE")]
        return float(t.tie.var())

    assert spread("prior") > spread("fixed")


def test_a_bad_inputs_value(teaching, tmp_path):
    with pytest.raises(UserError, match="inputs: expected one of fixed, prior, got 'drawn'"):
        run_ensemble(teaching, 2, inputs="drawn")
    plain = re.sub(r", range: \[[^\]]*\]", "", TEACHING)
    path = tmp_path / "plain.yaml"
    path.write_text(plain)
    with pytest.raises(UserError, match="no uncertain inputs"):
        run_ensemble(load_scenario(path), 2, inputs="prior")


def _line_of(path: Path, text: str) -> int:
    lines = Path(path).read_text().splitlines()
    return next(k + 1 for k, line in enumerate(lines) if text in line)


def test_an_override_fixes_an_uncertain_number(baseline):
    s = with_overrides(baseline, {"rivalries.0.value": 0.1, "states.AZ.power": 0.01})
    assert s.spec.rivalries[0].value == 0.1  # outside its range [0.2, 0.6]: a sweep may go there
    paths = {u.path for u in uncertain_inputs(s)}
    assert "rivalries.0.value" not in paths and "states.AZ.power" not in paths
    assert len(paths) == len(uncertain_inputs(baseline)) - 2


def test_run_replicates_with_prior_inputs_writes_the_draws(tmp_path):
    out = tmp_path / "ens"
    r = cli_run(
        "run", "scenarios/teaching.yaml", "--replicates", "6", "--inputs", "prior",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    drawn = pd.read_parquet(out / "inputs.parquet").sort_values("replicate")
    ens = sim.run_ensemble("scenarios/teaching.yaml", 6, inputs="prior")
    table = prior_table(sim.load_scenario("scenarios/teaching.yaml"))
    for row in table.itertuples():
        assert drawn[row.path].between(row.low, row.high).all()
        np.testing.assert_allclose(drawn[row.path], ens.replicates[row.path])
    written = pd.read_parquet(out / "indices.parquet").sort_values(["replicate", "step", "state"])
    expected = ens.indices.sort_values(["replicate", "step", "state"])
    np.testing.assert_allclose(written["alignment_index"], expected["alignment_index"])


def test_prior_inputs_need_replicates(tmp_path):
    r = cli_run("run", "scenarios/teaching.yaml", "--inputs", "prior", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "--replicates" in r.stderr
    assert not (tmp_path / "x").exists()
