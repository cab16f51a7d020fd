"""Validation against history: the stylised facts, on seeds that tuned nothing, at the
point values and across the prior of the uncertain inputs."""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from worlds import write_posterior

import sim
from sim.analysis.facts import check, check_prior, frame, seed_range, table
from sim.errors import UserError
from sim.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
TEACHING = ROOT / "scenarios" / "teaching.yaml"


@pytest.fixture(scope="module")
def baseline_results():
    scenario = sim.load_scenario(ROOT / "scenarios" / "baseline.yaml")
    return scenario, check(scenario)  # the scenario's own seed count: 200, from 100000


def test_baseline_declares_the_required_facts(baseline_results):
    scenario, results = baseline_results
    ids = {r.fact.id for r in results}
    assert {
        "az_ties_positive",
        "turkiye_strongest",
        "eu_tie_rises",
        "ukraine_war_effect",
        "az_hedges_more_than_am",
    } <= ids
    assert scenario.spec.validation.seeds >= 200


def test_default_seeds_are_fresh_and_named(baseline_results):
    """By default the facts are measured on the seeds 100000 .. 100199, which tuned
    nothing (the tuning used 0-39), and the report says so."""
    scenario, results = baseline_results
    assert all(r.seeds == range(100_000, 100_200) for r in results)
    tuned = scenario.spec.validation.tuning_seeds
    if tuned is not None:
        assert tuned[1] < 100_000 or tuned[0] > 100_199
    assert "seeds 100000-100199" in table(results, scenario)


@pytest.mark.slow
def test_every_baseline_fact_holds_except_iran_dip(baseline_results):
    """On fresh seeds every fact holds but ``iran_dip``, which passed (93%) only on the
    seeds 0-199 that include the 40 tuning seeds: 88% on 100000-100199, below its 90%
    threshold. This test once asserted that every fact holds on the seeds 0-199; it now
    records the honest result (and still passes if ``iran_dip`` comes to hold)."""
    scenario, results = baseline_results
    print(table(results, scenario))
    failed = {r.fact.id for r in results if not r.passed}
    assert failed <= {"iran_dip"}, [
        f"{r.fact.id}: {r.measured} (needs {r.threshold})" for r in results if not r.passed
    ]


def test_paired_effect_is_reported_with_a_confidence_interval(baseline_results):
    _, results = baseline_results
    war = next(r for r in results if r.fact.id == "ukraine_war_effect")
    lo, hi = war.ci
    assert lo < war.value < hi
    assert lo > 0  # the effect of the war (with the memorandum) on the EU tie is positive


def test_teaching_world_answers_hold():
    """The answers the teaching world's header gives hold over its 100 seeds (from
    100000 now, no longer 0-99)."""
    scenario = sim.load_scenario(TEACHING)
    results = check(scenario)
    assert results[0].seeds == range(100_000, 100_100)
    assert [r.fact.id for r in results if not r.passed] == []


def test_validate_exit_code_is_one_when_a_fact_fails(tmp_path):
    """A fact that cannot hold makes `multivector validate` print FAIL and exit 1."""
    text = (
        TEACHING.read_text().split("\nvalidation:")[0]
        + """
validation:
  seeds: 5
  facts:
    - id: impossible
      kind: tie_range
      description: "Smallland's tie to Westland stays below -0.9 (it never does)"
      source: "a deliberately false fact"
      state: SM
      bands: {WE: [-1.0, -0.9]}
      window: {start: 2020-01-01, end: 2025-12-31}
    - id: pipeline_pulls_west
      kind: mean_change
      description: "Smallland's tie to Westland rises after the pipeline opens"
      source: "the teaching world's design"
      state: SM
      partner: WE
      early: {start: 2020-01-01, end: 2020-12-31}
      late: {start: 2022-01-01, end: 2023-12-31}
"""
    )
    path = tmp_path / "teaching_facts.yaml"
    path.write_text(text)
    res = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(path), "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    lines = {ln.split()[0]: ln for ln in res.stdout.splitlines() if ln[:1].isalpha()}
    assert lines["impossible"].rstrip().endswith("FAIL")
    assert lines["pipeline_pulls_west"].rstrip().endswith("PASS")
    # where it broke: the tie, the record and in how many seeds
    assert "impossible: fails in 5 of 5 seeds; most often: SM-WE at 20" in res.stdout


def test_alliance_level_in_the_facts_is_the_documented_one(baseline_results):
    """The ODD defines alliance level once (sim.kernel.indices.ALLIANCE_LEVEL); the fact that
    keeps Azerbaijan below it with Russia uses that number."""
    from sim.kernel.indices import ALLIANCE_LEVEL

    _, results = baseline_results
    fact = next(r.fact for r in results if r.fact.id == "az_ties_positive")
    assert fact.bands["RU"][1] == ALLIANCE_LEVEL


# ---- seeds: fresh, and never the tuning seeds ----------------------------------------

#: The teaching world (with its uncertain inputs, the numbers with a ``range``), declared
#: tuning seeds 0-39, and three facts, one a paired effect against a counterfactual that
#: removes the pipeline (whose effects are uncertain inputs it does not have).
_FACTS = """
seeds: 20
tuning_seeds: [0, 39]
facts:
  - id: east_first
    kind: greater
    description: "Before the pipeline, Smallland is closer to Eastland than to Westland"
    source: "the teaching world's design"
    state: SM
    partner: EA
    than: {state: SM, partner: WE}
    window: {start: 2020-01-01, end: 2020-12-31}
  - id: east_tie_holds
    kind: tie_range
    description: "The tie to Eastland stays friendly (0.3 to 0.9) throughout"
    source: "the teaching world's design"
    state: SM
    bands: {EA: [0.3, 0.9]}
    window: {start: 2020-01-01, end: 2025-12-31}
  - id: pipeline_effect
    kind: paired_effect
    description: "The pipeline raises Smallland's tie to Westland, 2022-2023"
    source: "the teaching world's design"
    state: SM
    partner: WE
    counterfactual: no_pipeline.yaml
    window: {start: 2022-01-01, end: 2023-12-31}
"""


def _write_prior_world(folder: Path, change=None) -> Path:
    content = copy.deepcopy(sim.load_scenario(TEACHING).content)
    content["validation"] = yaml.safe_load(_FACTS)
    if change is not None:
        change(content)
    path = folder / "prior_world.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    (folder / "no_pipeline.yaml").write_text(
        "extends: prior_world.yaml\nname: no pipeline\nremove_shocks: [pipeline]\n"
        "validation: null\n"
    )
    return path


@pytest.fixture
def prior_world(tmp_path) -> Path:
    return _write_prior_world(tmp_path)


def test_seeds_that_overlap_the_tuning_seeds_are_refused(prior_world):
    scenario = sim.load_scenario(prior_world)
    assert seed_range(scenario) == range(100_000, 100_020)
    assert seed_range(scenario, 10, 40) == range(40, 50)
    for start in (0, 30, 39):
        with pytest.raises(UserError, match="overlap the tuning seeds 0-39"):
            check(scenario, seed_start=start)
    results = check(scenario)
    assert "seeds 100000-100019 (tuning seeds 0-39 excluded)" in table(results, scenario)


def test_validate_refuses_tuning_seeds_with_exit_two(prior_world, capsys):
    """(needs `validate` wired to sim.tools.cli_validate in sim.tools.cli)"""
    assert main(["validate", str(prior_world), "--seed-start", "20", "--quiet"]) == 2
    assert "overlap the tuning seeds 0-39" in capsys.readouterr().err
    assert main(["validate", str(prior_world), "--seed-start", "40", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "seeds 40-59 (tuning seeds 0-39 excluded)" in out


# ---- across the prior ------------------------------------------------------------------


def test_prior_mode_is_reproducible_and_reports_shares(prior_world):
    scenario = sim.load_scenario(prior_world)
    point = check(scenario)
    one = check_prior(scenario, 30, point=point)
    two = check_prior(scenario, 30, point=point)
    pd.testing.assert_frame_equal(frame(point, one), frame(point, two))
    assert all(p.seeds == range(100_000, 100_030) for p in one)
    for p in one:
        assert 0.0 <= p.share <= 1.0
    effect = next(p for p in one if p.fact.id == "pipeline_effect")
    lo, hi = effect.band
    assert lo <= effect.mean <= hi
    assert effect.mean > 0  # the pipeline pulls Smallland west across the prior too
    text = table(point, scenario, prior=one)
    assert "Across the prior: 30 draws" in text
    assert "of draws" in text
    # another seed range: other seeds and other draws
    other = check_prior(scenario, 30, seed_start=200_000, point=point)
    assert frame(point, other)["prior_share"].between(0, 1).all()


def test_draw_k_is_the_prior_ensembles_replicate_with_seed_start_plus_k(prior_world):
    """Across the prior, draw k runs the inputs and seed of replicate k of
    ``run_ensemble(..., inputs="prior")`` over the same seeds, whatever the number of
    draws: the first 10 of 20 draws are the 10 draws."""
    from sim.analysis.facts import SeedPanel
    from sim.drivers.ensemble import run_ensemble
    from sim.scenario import draw_inputs, input_rng
    from sim.world.compiled import world_for

    scenario = sim.load_scenario(prior_world)
    seeds = range(100_000, 100_010)
    overrides = [draw_inputs(scenario, input_rng(s), 1)[0] for s in seeds]
    panel = SeedPanel(world_for(scenario), seeds, overrides=overrides)
    ens = run_ensemble(scenario, list(seeds), inputs="prior", keep="ties")
    t = ens.ties[(ens.ties["state"] == "SM") & (ens.ties["partner"] == "WE")]
    np.testing.assert_array_equal(
        panel.quantity("SM", "WE", None), t["tie"].to_numpy().reshape(10, -1)
    )
    ten, twenty = check_prior(scenario, 10), check_prior(scenario, 20)
    assert ten[0].seeds == range(100_000, 100_010)
    east = [next(p for p in res if p.fact.id == "east_first") for res in (ten, twenty)]
    assert east[0].share * 10 <= east[1].share * 20 <= east[0].share * 10 + 10


def test_the_counterfactual_of_a_draw_shares_its_inputs_and_seed(tmp_path):
    """Draw k runs its own inputs with seed seed_start + k, and its counterfactual the same
    inputs (less those of the shock it removes) and seed: with the pipeline's effects
    fixed at 0 the two arms are the same runs, and the paired effect is 0 in every draw
    (were the inputs or seeds not shared, it would not be)."""

    def no_effect(content):
        for effect in content["shocks"]["pipeline"]["effects"]:
            effect.update(value=0.0, range=[0.0, 1e-12])

    scenario = sim.load_scenario(_write_prior_world(tmp_path, no_effect))
    prior = check_prior(scenario, 20)
    effect = next(p for p in prior if p.fact.id == "pipeline_effect")
    assert effect.band == (0.0, 0.0) and effect.mean == 0.0 and effect.share == 0.0


def test_a_fact_that_holds_only_at_the_point_values_is_flagged(tmp_path):
    """A fact that holds at the point values but in fewer than its threshold of the prior
    draws is flagged "holds only near the point values", with where it broke. Here the
    tie to Eastland must stay in 0.45-0.8 in every seed (threshold 100%): it does at the
    point values (0.5 to 0.75), and not in every draw of the prior."""

    def strict(content):
        content["validation"]["facts"][1].update(threshold=1.0, bands={"EA": [0.45, 0.8]})

    scenario = sim.load_scenario(_write_prior_world(tmp_path, strict))
    point = check(scenario)
    prior = check_prior(scenario, 40, point=point)
    east_point = next(r for r in point if r.fact.id == "east_tie_holds")
    east = next(p for p in prior if p.fact.id == "east_tie_holds")
    assert east_point.passed and east.share < east.threshold
    assert east.near_point_only
    text = table(point, scenario, prior=prior)
    line = next(ln for ln in text.splitlines() if ln.startswith("east_tie_holds"))
    assert line.endswith("holds only near the point values")
    assert "east_tie_holds across the prior: fails in " in text
    assert "of 40 draws; most often: SM-EA at 20" in text
    effect = next(p for p in prior if p.fact.id == "pipeline_effect")
    assert not effect.near_point_only


def test_validate_prior_and_csv_from_the_command_line(prior_world, tmp_path, capsys):
    """(needs `validate` wired to sim.tools.cli_validate in sim.tools.cli)"""
    csv = tmp_path / "facts.csv"
    args = ["validate", str(prior_world), "--prior", "20", "--csv", str(csv), "--quiet"]
    code = main(args)
    assert code in (0, 1)
    out = capsys.readouterr().out
    assert "Across the prior: 20 draws" in out
    table_ = pd.read_csv(csv)
    assert list(table_["fact"]) == ["east_first", "east_tie_holds", "pipeline_effect"]
    assert table_["prior_share"].between(0, 1).all()
    assert np.isfinite(table_.loc[2, "prior_mean"])
    assert main(args) == 2  # the CSV exists: refused without --force
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--force"]) == code


# ---- absolute bands on an index --------------------------------------------------------


def _index_band_world(folder: Path, bands: dict) -> Path:
    content = copy.deepcopy(sim.load_scenario(TEACHING).content)
    content["validation"] = {
        "seeds": 6,
        "facts": [
            {
                "id": "hedges",
                "kind": "tie_range",
                "description": "Smallland's hedging index within a band",
                "source": "a test",
                "state": "SM",
                "bands": bands,
                "window": {"start": dt.date(2022, 1, 1), "end": dt.date(2025, 12, 31)},
            }
        ],
    }
    path = folder / "index_band.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    return path


def test_a_band_on_an_index_bounds_the_states_index_at_every_record(tmp_path):
    """`bands: {hedging_index: [lo, hi]}` bounds the state's index (not a tie to a state
    named 'hedging_index'): the share of seeds is the share whose index stays strictly
    inside at every record of the window, measured here against the ensemble's own
    indices; a failing band names the index and the record where it broke most often."""
    seeds = range(100_000, 100_006)
    ens = sim.run_ensemble(TEACHING, list(seeds))
    ix = ens.indices[
        (ens.indices["state"] == "SM")
        & (ens.indices["date"] >= "2022-01-01")
        & (ens.indices["date"] <= "2025-12-31")
    ]
    lo, hi = float(ix["hedging_index"].min()), float(ix["hedging_index"].max())
    mid = float(ix["hedging_index"].median())
    # wide enough for every seed: holds in all; cut at the median: fails in some
    wide = check(
        sim.load_scenario(_index_band_world(tmp_path, {"hedging_index": [lo - 0.01, hi + 0.01]}))
    )
    assert wide[0].value == 1.0 and wide[0].passed
    cut = check(sim.load_scenario(_index_band_world(tmp_path, {"hedging_index": [lo - 0.01, mid]})))
    inside = ix.groupby("replicate")["hedging_index"].apply(lambda x: bool((x < mid).all()))
    assert cut[0].value == pytest.approx(inside.mean())
    assert not cut[0].passed
    b = cut[0].breaks
    assert b.pair == "SM hedging_index" and b.date.startswith("202")
    assert "most often: SM hedging_index at 202" in table(
        cut, sim.load_scenario(tmp_path / "index_band.yaml")
    )


def test_an_index_band_with_a_typo_or_no_index_is_a_problem_at_its_line(tmp_path):
    with pytest.raises(UserError) as err:
        sim.load_scenario(_index_band_world(tmp_path, {"hedgng_index": [0.0, 1.0]}))
    text = str(err.value)
    assert "index_band.yaml:" in text and "did you mean 'hedging_index'" in text

    # Eastland is the East pole's only member: its alignment index is undefined
    path = _index_band_world(tmp_path, {"alignment_index": [-1.0, 1.0]})
    content = yaml.safe_load(path.read_text())
    content["validation"]["facts"][0]["state"] = "EA"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    with pytest.raises(UserError, match="only member of the pole East"):
        sim.load_scenario(path)


def _point_posterior(folder: Path, scenario) -> Path:
    """A finished calibration folder whose only particle is the scenario's point values."""
    from sim.scenario.priors import uncertain_inputs

    values = {u.path: [float(u.value)] for u in uncertain_inputs(scenario)}
    return write_posterior(folder, scenario.content_hash, values)


def test_facts_at_a_posterior_of_the_point_values_are_the_point_results(tmp_path):
    """A posterior of one particle at the point values: draw k runs the point values with
    seed N+k, so every share fact holds in the same share of draws as of seeds, and the
    table says it is at the posterior (Model 2's baseline, 20 seeds)."""
    scenario = sim.load_scenario("scenarios/model2/baseline.yaml")
    post = _point_posterior(tmp_path / "post", scenario)
    point = check(scenario, 20)
    at = check_prior(scenario, 20, point=point, posterior=post)
    for r, p in zip(point, at, strict=True):
        assert p.source == "posterior" and not p.near_point_only
        if r.ci is None:
            assert p.share == pytest.approx(r.value)  # both: a share of the same seeds
        else:
            assert p.mean == pytest.approx(r.value)
    text = table(point, scenario, prior=at)
    assert "At the posterior: 20 posterior draws" in text
    assert "facts hold at the posterior" in text


def test_posterior_of_another_scenario_is_refused(tmp_path):
    other = sim.load_scenario("scenarios/baseline.yaml")
    post = _point_posterior(tmp_path / "post", other)
    code = main(
        [
            "validate",
            "scenarios/model2/baseline.yaml",
            "--seeds",
            "10",
            "--posterior",
            str(post),
            "--quiet",
        ]
    )
    assert code == 2


def test_a_variant_meets_its_own_counterfactual(tmp_path):
    """A file that extends the baseline and changes a constant is compared like for like:
    its paired facts set it against itself without the counterfactual file's shocks (not
    against the unchanged baseline's counterfactual). A counterfactual that changes more
    than shocks cannot be rebuilt that way: the table notes it."""
    import shutil

    from sim.analysis.facts import like_for_like, unlike_counterfactuals
    from sim.drivers.ensemble import ensemble_ties
    from sim.world.compiled import world_for

    shutil.copytree("scenarios", tmp_path / "scenarios")
    folder = tmp_path / "scenarios" / "model2"
    (folder / "variant.yaml").write_text(
        "extends: baseline.yaml\nname: variant\nmodel:\n"
        "  balance: {value: 0.0, assumption: a test, range: [0, 1]}\n"
    )
    variant = sim.load_scenario(folder / "variant.yaml")
    no_war = folder / "counterfactual_no_ukraine_war.yaml"
    assert like_for_like(variant, no_war) == ("ukraine_war", "gas_memorandum")
    assert like_for_like(sim.load_scenario(folder / "baseline.yaml"), no_war) is None
    assert unlike_counterfactuals(variant) == []
    (result,) = [r for r in check(variant, 10) if r.fact.id == "ukraine_war_effect"]
    seeds = list(result.seeds)
    both = (
        ensemble_ties(variant, seeds),
        ensemble_ties(variant, seeds, shocks_off=like_for_like(variant, no_war)),
    )
    w = world_for(variant)
    az, eu = w.index("AZ"), w.index("EU")
    dates = w.record_dates(np.arange(w.n_periods + 1))
    inside = (dates >= np.datetime64("2023-01-01")) & (dates <= np.datetime64("2025-12-31"))
    effect = (both[0][:, inside, az, eu].mean(1) - both[1][:, inside, az, eu].mean(1)).mean()
    assert result.value == pytest.approx(effect, abs=1e-12)
    # a counterfactual that also changes a parameter is used as it is, with a note
    no_war.write_text(
        no_war.read_text() + "model:\n  tie_cost: {value: 0.25, assumption: t, range: [0.1, 0.3]}\n"
    )
    notes = unlike_counterfactuals(variant)
    assert any("ukraine_war_effect" in n and "does not extend variant.yaml" in n for n in notes)
