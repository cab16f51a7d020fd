"""Validation against history: the baseline's stylised facts hold over 200 seeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.analysis.facts import check, table

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def baseline_results():
    scenario = sim.load_scenario(ROOT / "scenarios" / "baseline.yaml")
    return scenario, check(scenario)  # the scenario's own seed count: 200


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


@pytest.mark.slow
def test_every_baseline_fact_holds(baseline_results):
    scenario, results = baseline_results
    print(table(results, scenario, scenario.spec.validation.seeds))
    failed = [f"{r.fact.id}: {r.measured} (needs {r.threshold})" for r in results if not r.passed]
    assert not failed, failed


def test_paired_effect_is_reported_with_a_confidence_interval(baseline_results):
    _, results = baseline_results
    war = next(r for r in results if r.fact.id == "ukraine_war_effect")
    lo, hi = war.ci
    assert lo < war.value < hi
    assert lo > 0  # the effect of the war (with the memorandum) on the EU tie is positive


def test_teaching_world_answers_hold():
    """The answers the teaching world's header gives hold over its 100 seeds."""
    scenario = sim.load_scenario(ROOT / "scenarios" / "teaching.yaml")
    results = check(scenario)
    assert [r.fact.id for r in results if not r.passed] == []


def test_validate_exit_code_is_one_when_a_fact_fails(tmp_path):
    """A fact that cannot hold makes `multivector validate` print FAIL and exit 1."""
    text = (ROOT / "scenarios" / "teaching.yaml").read_text()
    text = (
        text.split("\nvalidation:")[0]
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


def test_alliance_level_in_the_facts_is_the_documented_one(baseline_results):
    """The ODD defines alliance level once (sim.kernel.indices.ALLIANCE_LEVEL); the fact that
    keeps Azerbaijan below it with Russia uses that number."""
    from sim.kernel.indices import ALLIANCE_LEVEL

    _, results = baseline_results
    fact = next(r.fact for r in results if r.fact.id == "az_ties_positive")
    assert fact.bands["RU"][1] == ALLIANCE_LEVEL
