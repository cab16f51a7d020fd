"""The scenario format of Model 2: ``model.version``, its constants and ``attack``, and
what each version refuses (``scenarios/README.md``, sections 5, 8 and 13).

Small worlds are written as YAML files into ``tmp_path`` (so every message names a
file and a line), built with the helpers of :mod:`worlds`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from worlds import attack_shock as worlds_attack_shock
from worlds import pair, sourced, state, world

from sim.errors import ScenarioError
from sim.scenario import load_scenario, uncertain_inputs, with_overrides
from sim.scenario.vocabulary import (
    MODEL_2_ONLY,
    MODEL_CONSTANTS,
    PAIR_PARAMS,
    REPLACED_IN_MODEL_2,
    SHARE_PARAMS,
    in_version,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(
    [
        *ROOT.glob("scenarios/*.yaml"),
        *ROOT.glob("scenarios/examples/*.yaml"),
        *ROOT.glob("scenarios/model2/*.yaml"),
    ]
)
#: The content hash of scenarios/baseline.yaml before Model 2's fields were added (computed
#: with `load_scenario("scenarios/baseline.yaml").content_hash` at commit c146fd6): the
#: hash is of the merged file content, so new optional fields leave it unchanged.
BASELINE_HASH = "c2d591966c22e924f994a20b918d273be31e0390a0f4820d40b7803ab2b49a32"
#: The new constants' ranges and defaults, as issue 12's design states them.
MODEL_2_CONSTANTS = {
    "balance": ((0.0, 10.0), 1.0),
    "bandwagon": ((0.0, 1.0), 0.5),
    "credibility_rate": ((0.0, 1.0), 0.1),
}


# ---- helpers -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Run in ``tmp_path``, so messages name its files by their bare names."""
    monkeypatch.chdir(tmp_path)


def v2_state(name: str, **kw) -> dict:
    """A state of a version-2 world: :func:`worlds.state` without ``cross_pressure``."""
    out = state(name, **kw)
    del out["cross_pressure"]
    return out


def small_world(version: int) -> dict:
    """Three states (S beside a hostile H, protected by P), no rivalries, no shocks;
    version 1 gives every state a cross-pressure, version 2 none."""
    make = state if version == 1 else v2_state
    states = {
        "S": make("S", energy=0.2, security=0.6, alignment=0.2),
        "P": make("P", power=10, energy=0.4, security=0.3, alignment=0.3),
        "H": make("H", power=10, energy=0.4, security=0.3, alignment=0.3),
    }
    relations = {
        "S": {"P": pair(protection=0.6, energy=0.1), "H": pair(threat=0.4, proximity=1.0)},
        "P": {"S": pair(energy=0.05)},
        "H": {"S": pair(energy=0.05)},
    }
    model = {"version": version} if version == 2 else {}
    return world(states, relations, model=model, steps=8)


def attack_shock(value: float = 1.0) -> dict:
    """H attacks S in 2021 for one period (``set attack VALUE``, duration 1)."""
    return worlds_attack_shock(dt.date(2021, 1, 1), value)


def effect_shock(param: str, target: dict) -> dict:
    """A dated shock with one effect on ``param`` (``target``: ``state:`` or ``pair:``)."""
    effect = {"param": param, "op": "set", "value": 0.5, "assumption": "a test", **target}
    return {"label": "a test shock", "date": dt.date(2021, 1, 1), "assumption": "a test",
            "effects": [effect]}  # fmt: skip


def write(folder: Path, name: str, data: dict) -> tuple[Path, str]:
    """``data`` written as YAML to ``folder/name``; returns the path and the text."""
    text = yaml.safe_dump(data, sort_keys=False, width=200)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path, text


def problems_of(path: Path) -> list[str]:
    """The problems ``load_scenario(path)`` reports (it must refuse the file)."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value.problems


def problem_about(problems: list[str], field: str) -> str:
    """The one problem about ``field``; fails if there is none, or more than one."""
    hits = [p for p in problems if f"field {field}: " in p]
    assert len(hits) == 1, f"expected one problem about {field}; got:\n" + "\n".join(problems)
    return hits[0]


def line_of(text: str, marker: str) -> int:
    """The 1-based line of ``marker``'s first occurrence in ``text``."""
    assert marker in text, marker
    return text[: text.index(marker)].count("\n") + 1


# ---- model.version -------------------------------------------------------------------


def test_version_defaults_to_1_and_accepts_2(tmp_path):
    v1, _ = write(tmp_path, "v1.yaml", small_world(1))
    v2, _ = write(tmp_path, "v2.yaml", small_world(2))
    assert load_scenario(v1).spec.model.version == 1
    assert load_scenario(v2).spec.model.version == 2
    explicit = small_world(1)
    explicit["model"] = {"version": 1}
    path, _ = write(tmp_path, "v1_explicit.yaml", explicit)
    assert load_scenario(path).spec.model.version == 1


@pytest.mark.parametrize(
    ("written", "shown"),
    [("0", "0"), ("3", "3"), ("-1", "-1"), ('"2"', "'2'"), ("2.0", "2.0"), ("true", "True"),
     ("null", "None"), ("[2]", "[2]"), ("two", "'two'")],
)  # fmt: skip
def test_a_bad_version_names_file_line_field_and_what_is_expected(tmp_path, written, shown):
    data = small_world(2)
    path, text = write(tmp_path, "bad.yaml", data)
    text = text.replace("  version: 2\n", f"  version: {written}\n")
    path.write_text(text, encoding="utf-8")
    msg = problem_about(problems_of(path), "model.version")
    assert msg.startswith(f"bad.yaml:{line_of(text, '  version: ')}: field model.version: ")
    assert "expected the model version, the whole number 1 or 2" in msg
    assert msg.endswith(f"got {shown}")


def test_a_huge_bad_version_is_cut_short_in_the_message(tmp_path):
    data = small_world(2)
    data["model"]["version"] = "x" * 10_000
    path, _ = write(tmp_path, "huge.yaml", data)
    msg = problem_about(problems_of(path), "model.version")
    assert len(msg) < 300


# ---- the new vocabulary --------------------------------------------------------------


def test_the_new_constants_and_attack_are_in_the_vocabulary():
    for name, entry in MODEL_2_CONSTANTS.items():
        assert MODEL_CONSTANTS[name] == entry
    assert PAIR_PARAMS["attack"] == (0.0, 1.0)
    assert "attack" not in SHARE_PARAMS


def test_in_version_keeps_what_each_model_reads():
    v1, v2 = in_version(MODEL_CONSTANTS, 1), in_version(MODEL_CONSTANTS, 2)
    assert not set(v1) & set(MODEL_2_CONSTANTS)
    assert set(MODEL_2_CONSTANTS) <= set(v2)
    assert "threat_reduction" in v1 and "leverage_threshold" in v1
    assert "threat_reduction" not in v2 and "leverage_threshold" not in v2
    assert set(v1) | set(v2) == set(MODEL_CONSTANTS)
    assert "attack" in in_version(PAIR_PARAMS, 2) and "attack" not in in_version(PAIR_PARAMS, 1)


@pytest.mark.parametrize("name", list(MODEL_2_CONSTANTS))
def test_a_model_2_constant_at_its_bounds_loads_and_beyond_them_is_refused(tmp_path, name):
    (lo, hi), _default = MODEL_2_CONSTANTS[name]
    for value in (lo, hi):
        data = small_world(2)
        data["model"][name] = sourced(value)
        path, _ = write(tmp_path, f"{name}_ok.yaml", data)
        assert getattr(load_scenario(path).spec.model, name).value == value
    for value in (lo - 0.1, hi + 0.1):
        data = small_world(2)
        data["model"][name] = sourced(value)
        path, _ = write(tmp_path, f"{name}_bad.yaml", data)
        msg = problem_about(problems_of(path), f"model.{name}.value")
        assert f"expected a number in [{lo:g}, {hi:g}], got {value:g}" in msg


def test_attack_in_relations_loads_in_version_2_and_is_not_a_share(tmp_path):
    data = small_world(2)
    data["relations"]["S"]["H"]["attack"] = sourced(0.8)
    data["relations"]["S"]["P"]["attack"] = sourced(0.8)  # 1.6 over the row: not a share
    path, _ = write(tmp_path, "attacked.yaml", data)
    spec = load_scenario(path).spec
    assert spec.relations["S"]["H"].attack.value == 0.8
    assert spec.relations["H"]["S"].attack is None


def test_attack_out_of_range_is_refused(tmp_path):
    data = small_world(2)
    data["relations"]["S"]["H"]["attack"] = sourced(1.5)
    path, _ = write(tmp_path, "too_much.yaml", data)
    msg = problem_about(problems_of(path), "relations.S.H.attack.value")
    assert "expected a number in [0, 1], got 1.5" in msg


def test_a_shock_sets_attack_for_one_period_in_version_2(tmp_path):
    data = small_world(2)
    data["shocks"] = {"invasion": attack_shock()}
    path, _ = write(tmp_path, "invasion.yaml", data)
    shock = load_scenario(path).spec.shocks["invasion"]
    assert (shock.duration, shock.effects[0].param, shock.effects[0].value) == (1, "attack", 1.0)
    data["shocks"] = {"invasion": attack_shock(value=2.0)}
    path, _ = write(tmp_path, "invasion_bad.yaml", data)
    msg = problem_about(problems_of(path), "shocks.invasion.effects[0].value")
    assert "expected a number in [0, 1], got 2" in msg


def test_an_uncertain_attack_and_constant_are_priors_of_a_version_2_scenario(tmp_path):
    data = small_world(2)
    data["model"]["balance"] = {**sourced(1.0), "range": [0.5, 2.0]}
    data["relations"]["S"]["H"]["attack"] = {**sourced(0.5), "range": [0.2, 0.8]}
    path, _ = write(tmp_path, "priors.yaml", data)
    paths = [u.path for u in uncertain_inputs(load_scenario(path))]
    assert paths == ["model.balance", "relations.S.H.attack"]


# ---- what version 2 refuses ----------------------------------------------------------


def test_version_2_refuses_rivalries(tmp_path):
    data = small_world(2)
    data["rivalries"] = [{"pair": ["P", "H"], "value": 0.8, "assumption": "a test"}]
    path, text = write(tmp_path, "rivals.yaml", data)
    msg = problem_about(problems_of(path), "rivalries")
    assert msg.startswith(f"rivals.yaml:{line_of(text, 'rivalries:')}: ")
    assert "Model 2 derives rivalries from the states' own ties" in msg
    data["rivalries"] = []
    path, _ = write(tmp_path, "no_rivals.yaml", data)
    assert load_scenario(path).spec.rivalries == []


def test_version_2_refuses_a_states_cross_pressure(tmp_path):
    data = small_world(2)
    data["states"]["P"]["cross_pressure"] = sourced(0.3)
    path, _ = write(tmp_path, "cross.yaml", data)
    problems = problems_of(path)
    msg = problem_about(problems, "states.P.cross_pressure")
    assert "structural-balance term" in msg and "`balance`" in msg
    assert len(problems) == 1


@pytest.mark.parametrize(
    ("name", "replacement"),
    [("threat_reduction", "`bandwagon`"), ("leverage_threshold", "leverage that cuts both ways")],
)
def test_version_2_refuses_the_constants_it_replaces(tmp_path, name, replacement):
    data = small_world(2)
    data["model"][name] = sourced(0.5)
    path, text = write(tmp_path, f"{name}.yaml", data)
    msg = problem_about(problems_of(path), f"model.{name}")
    assert msg.startswith(f"{name}.yaml:{line_of(text, f'  {name}:')}: ")
    assert f"a version-2 scenario may not use the field `{name}`" in msg
    assert replacement in msg


@pytest.mark.parametrize(
    ("param", "target"),
    [("rivalry", {"pair": ["P", "H"]}), ("cross_pressure", {"state": "S"})],
)
def test_version_2_refuses_shock_effects_on_what_it_replaces(tmp_path, param, target):
    data = small_world(2)
    data["shocks"] = {"clash": effect_shock(param, target)}
    path, _ = write(tmp_path, f"{param}_effect.yaml", data)
    msg = problem_about(problems_of(path), "shocks.clash.effects[0]")
    assert f"a version-2 scenario may not use the effect on `{param}`" in msg
    assert REPLACED_IN_MODEL_2[param] in msg


def test_an_unknown_effect_parameter_lists_what_the_version_reads(tmp_path):
    for version, absent, present in ((1, "attack", "rivalry"), (2, "rivalry", "attack")):
        data = small_world(version)
        data["shocks"] = {"typo": effect_shock("enrgy", {"pair": ["S", "P"]})}
        path, _ = write(tmp_path, f"typo{version}.yaml", data)
        msg = problem_about(problems_of(path), "shocks.typo.effects[0].param")
        listed = msg.split("expected one of: ")[1].split(", ")
        assert "did you mean 'energy'?" in msg
        assert present in listed and absent not in listed


# ---- what version 1 refuses ----------------------------------------------------------


@pytest.mark.parametrize("name", list(MODEL_2_CONSTANTS))
def test_version_1_refuses_model_2_constants_and_says_how_to_switch(tmp_path, name):
    data = small_world(1)
    data["model"][name] = sourced(0.5)
    path, _ = write(tmp_path, f"{name}.yaml", data)
    msg = problem_about(problems_of(path), f"model.{name}")
    assert f"`{name}` is Model 2's ({MODEL_2_ONLY[name]})" in msg
    assert "this scenario runs Model 1, the default" in msg
    assert "write `model: {version: 2}`" in msg


def test_version_1_refuses_attack_in_relations_and_effects(tmp_path):
    data = small_world(1)
    data["model"] = {"version": 1}
    data["relations"]["S"]["H"]["attack"] = sourced(1.0)
    data["shocks"] = {"invasion": attack_shock()}
    path, _ = write(tmp_path, "attack_v1.yaml", data)
    problems = problems_of(path)
    for field in ("relations.S.H.attack", "shocks.invasion.effects[0]"):
        msg = problem_about(problems, field)
        assert "`attack` is Model 2's" in msg and "this scenario runs Model 1:" in msg
        assert "write `model: {version: 2}`" in msg
    assert len(problems) == 2


def test_version_1_still_requires_cross_pressure(tmp_path):
    data = small_world(1)
    del data["states"]["P"]["cross_pressure"]
    data["states"]["H"]["cross_pressure"] = None  # `cross_pressure: null`
    path, text = write(tmp_path, "no_cross.yaml", data)
    problems = problems_of(path)
    assert len(problems) == 2
    for sid, marker in (("P", "  P:\n"), ("H", "cross_pressure: null")):
        msg = problem_about(problems, f"states.{sid}.cross_pressure")
        assert msg.startswith(
            f"no_cross.yaml:{line_of(text, marker)}: field states.{sid}.cross_pressure: "
            "required field is missing"
        )
        assert "`model: {version: 2}`" in msg
    # the message a missing field of the schema gets, for comparison
    data = small_world(1)
    del data["states"]["P"]["autonomy"]
    path, text = write(tmp_path, "no_autonomy.yaml", data)
    msg = problem_about(problems_of(path), "states.P.autonomy")
    assert msg == f"no_autonomy.yaml:{line_of(text, '  P:')}: field states.P.autonomy: " + (
        "required field is missing"
    )


def test_an_override_cannot_give_version_1_a_model_2_constant():
    teaching = load_scenario(ROOT / "scenarios" / "teaching.yaml")
    with pytest.raises(ScenarioError) as info:
        with_overrides(teaching, {"model.balance": 2.0}, origin="exp.yaml", line=7)
    text = str(info.value)
    assert "exp.yaml:7" in text and "field model.balance: `balance` is Model 2's" in text


# ---- extends: a version-2 file over a version-1 parent --------------------------------


def parent_world() -> dict:
    """A version-1 parent with everything Model 2 replaces: rivalries, cross-pressure,
    the constant `threat_reduction` and a shock on a rivalry."""
    data = small_world(1)
    data["model"] = {"threat_reduction": sourced(0.4)}
    data["rivalries"] = [{"pair": ["P", "H"], "value": 0.8, "assumption": "a test"}]
    data["shocks"] = {"clash": effect_shock("rivalry", {"pair": ["P", "H"]})}
    return data


def test_version_2_over_a_version_1_parent_is_refused_with_how_to_drop(tmp_path):
    write(tmp_path, "parent.yaml", parent_world())
    child = {"extends": "parent.yaml", "name": "v2 child", "model": {"version": 2}}
    path, _ = write(tmp_path, "child.yaml", child)
    problems = problems_of(path)
    drops = {
        "model.threat_reduction": "`threat_reduction: null` under `model:`",
        "states.S.cross_pressure": "`cross_pressure: null` under `states: S:`",
        "states.P.cross_pressure": "`cross_pressure: null` under `states: P:`",
        "states.H.cross_pressure": "`cross_pressure: null` under `states: H:`",
        "rivalries": "`rivalries: []`",
        "shocks.clash.effects[0]": "`remove_shocks: [clash]`",
    }
    assert len(problems) == len(drops)
    for field, drop in drops.items():
        msg = problem_about(problems, field)
        assert msg.startswith("parent.yaml:")  # the place of the inherited value
        assert "it is inherited from parent.yaml: drop it in child.yaml (where" in msg
        assert drop in msg


def test_version_2_over_a_version_1_parent_loads_once_the_child_drops_them(tmp_path):
    parent, _ = write(tmp_path, "parent.yaml", parent_world())
    child = {
        "extends": "parent.yaml",
        "name": "v2 child",
        "model": {"version": 2, "threat_reduction": None, "bandwagon": sourced(0.3)},
        "states": {sid: {"cross_pressure": None} for sid in ("S", "P", "H")},
        "rivalries": [],
        "remove_shocks": ["clash"],
    }
    path, _ = write(tmp_path, "child.yaml", child)
    scenario = load_scenario(path)
    spec = scenario.spec
    assert spec.model.version == 2 and spec.model.bandwagon.value == 0.3
    assert spec.model.threat_reduction is None and spec.rivalries == [] and not spec.shocks
    assert all(st.cross_pressure is None for st in spec.states.values())
    assert load_scenario(parent).spec.model.version == 1  # the parent is untouched


def test_a_version_2_refusal_in_the_file_itself_has_no_drop_hint(tmp_path):
    data = small_world(2)
    data["model"]["threat_reduction"] = sourced(0.5)
    path, _ = write(tmp_path, "own.yaml", data)
    msg = problem_about(problems_of(path), "model.threat_reduction")
    assert "inherited" not in msg and msg.endswith("; remove the field `threat_reduction`")


# ---- the shipped scenarios -----------------------------------------------------------


def test_there_are_shipped_scenarios_to_check():
    assert any(p.name == "baseline.yaml" for p in SHIPPED)
    assert any(p.parent.name == "examples" for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.relative_to(ROOT).as_posix() for p in SHIPPED])
def test_every_shipped_scenario_loads_as_its_folder_says(path):
    """Files in scenarios/model2/ are Model 2 worlds; every other shipped file is still
    read by Model 1, as before."""
    spec = load_scenario(path).spec
    if path.parent.name == "model2":
        assert spec.model.version == 2
        assert not spec.rivalries
        assert all(st.cross_pressure is None for st in spec.states.values())
    else:
        assert spec.model.version == 1
        assert all(st.cross_pressure is not None for st in spec.states.values())


def test_the_baseline_content_hash_is_unchanged():
    assert load_scenario(ROOT / "scenarios" / "baseline.yaml").content_hash == BASELINE_HASH
