"""Scenario overrides: the parameter paths that sweeps and experiments vary."""

from __future__ import annotations

import pytest

from sim.errors import ScenarioError
from sim.scenario import load_scenario, with_overrides
from sim.world.compiled import compile_world


@pytest.fixture(scope="module")
def baseline():
    return load_scenario("scenarios/baseline.yaml")


def test_override_changes_only_the_named_values(baseline):
    s = with_overrides(
        baseline,
        {
            "states.AZ.weights.energy": 0.5,
            "states.AZ.weights.security": 0.3,
            "model.tie_cost": 0.25,
            "relations.AZ.EU.energy": 0.4,
        },
        origin="exp.yaml",
        line=3,
    )
    w0, w1 = compile_world(baseline), compile_world(s)
    az, eu = w1.index("AZ"), w1.index("EU")
    assert w1.base.weights[az].tolist() == [0.5, 0.3, 0.2]
    assert w1.base.kappa.tolist() == [0.25] * w1.n
    assert w1.base.energy[az, eu] == 0.4
    changed = w1.base.energy != w0.base.energy
    assert changed.sum() == 1 and changed[az, eu]
    assert (w1.base.power == w0.base.power).all()
    assert s.spec.states["AZ"].weights.energy.assumption == "set by exp.yaml"
    assert s.content_hash != baseline.content_hash
    assert baseline.spec.states["AZ"].weights.energy.value == 0.55  # the original is untouched


def test_no_overrides_is_the_same_scenario(baseline):
    assert with_overrides(baseline, {}) is baseline


def test_a_model_constant_in_a_scenario_without_a_model_section():
    teaching = load_scenario("scenarios/teaching.yaml")
    assert "model" not in teaching.content
    s = with_overrides(teaching, {"model.tie_cost": 0.3})
    assert compile_world(s).base.kappa.tolist() == [0.3] * 3


def test_override_in_a_list_and_a_missing_constant(baseline):
    s = with_overrides(baseline, {"rivalries.0.value": 0.1, "model.delta": 0.1})
    assert s.spec.rivalries[0].value == 0.1
    assert s.spec.model.delta.value == 0.1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"states.AX.power": 1},
            "exp.yaml:7: parameter states.AX.power: no state 'AX' (did you mean 'AZ'?)",
        ),
        ({"states.AZ.weigths.energy": 0.5}, "unknown field 'weigths' (did you mean 'weights'?)"),
        ({"rivalries.99.value": 0.5}, "rivalries is a list of"),
        ({"states.AZ": 3}, "names a whole section, not a value"),
        ({"states.AZ.power.value.x": 3}, "states.AZ.power.value is a value ("),
        ({"model.tie_cost": -1.0}, "expected a number in [0.001, 10], got -1"),
        ({"states.AZ.weights.energy": 0.9}, "must sum to 1, got 1.35"),
        ({"a..b": 1}, "expected a dotted path"),
        (
            {"shocks.ukraine_wr.label": "x"},
            "no 'ukraine_wr' in shocks (did you mean 'ukraine_war'?)",
        ),
    ],
)
def test_bad_overrides_name_origin_and_path(baseline, overrides, expected):
    with pytest.raises(ScenarioError) as err:
        with_overrides(baseline, overrides, origin="exp.yaml", line=7)
    text = str(err.value)
    assert text.startswith("exp.yaml:7: ")
    assert expected in text
