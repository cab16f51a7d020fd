"""Bad input ends with one clear message, exit code 2, no traceback, nothing half-written.

Every class of bad input is checked at least once through the real CLI in a subprocess
(``python -m sim``); the finer cases go through :func:`sim.scenario.load_scenario`, which
is what every command calls. Broken files are copies of ``scenarios/teaching.yaml`` with
one thing changed; the expected line number is computed from the broken text, so it is
the actual line of the broken field.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import cli_run

from sim.errors import ScenarioError, UserError
from sim.scenario import load_scenario
from sim.tools import cli

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ROOT / "scenarios" / "teaching.yaml"
TEACHING_TEXT = TEACHING.read_text(encoding="utf-8")
OUTPUTS = {"ties.parquet", "indices.parquet", "manifest.json", "alignment.png"}
#: Smallland's power line in teaching.yaml (line 28)
SM_POWER = (
    '    power: {value: 1, assumption: "a small state: one tenth of each power\'s capability"}'
)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def assert_clean_user_error(res: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, no traceback, no internal-error banner, every fragment in stderr."""
    err = res.stderr
    assert res.returncode == 2, f"exit {res.returncode}, stderr:\n{err}"
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in stderr:\n{err}"


def break_teaching(tmp_path: Path, name: str, old: str, new: str) -> tuple[Path, str]:
    """Write teaching.yaml with ``old`` (which must occur once) replaced by ``new``."""
    assert TEACHING_TEXT.count(old) == 1, f"{old!r} must occur exactly once in teaching.yaml"
    text = TEACHING_TEXT.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text: str, marker: str) -> int:
    """1-based line of the first occurrence of ``marker`` in ``text``."""
    assert text.count(marker) >= 1, marker
    return text[: text.index(marker)].count("\n") + 1


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    assert problems, "a ScenarioError must carry at least one problem"
    assert str(info.value) == "\n".join(problems)
    return problems


def problem_about(problems: list[str], field: str) -> str:
    """The one problem line about ``field`` (``field PATH:`` appears in it)."""
    hits = [p for p in problems if f"field {field}: " in p]
    assert hits, f"no problem about field {field!r}; got:\n" + "\n".join(problems)
    return hits[0]


def no_leftovers(parent: Path, name: str) -> list[str]:
    """Temporary or backup directories that a failed write left beside ``parent/name``."""
    return sorted(
        p.name
        for p in parent.iterdir()
        if p.name.startswith(f".{name}.tmp-") or p.name.startswith(f".{name}.old-")
    )


# --------------------------------------------------------------------------------------
# Broken copies of teaching.yaml: one problem each
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    id: str
    old: str
    new: str
    field: str  # the dotted field path the message must name
    fragments: tuple[str, ...]  # text the message must contain
    marker: str  # text on the line the message must point to (in the broken file)
    next_line_ok: bool = False  # a block key: its value starts on the next line


CASES = [
    # unknown fields, with a did-you-mean suggestion
    Broken(
        "unknown-field-pair-param",
        'energy: {value: 0.1, assumption: "some trade',
        'enrgy: {value: 0.1, assumption: "some trade',
        "relations.SM.EA.enrgy",
        ("unknown field 'enrgy'", "did you mean 'energy'?"),
        "enrgy:",
    ),
    Broken(
        "unknown-field-sourced",
        'cross_pressure: {value: 0.3, assumption: "being close',
        'cross_pressure: {value: 0.3, sorce: "being close',
        "states.SM.cross_pressure.sorce",
        ("unknown field 'sorce'", "did you mean 'source'?"),
        "sorce:",
    ),
    Broken(
        "unknown-field-time",
        "  burn_in: 40\n",
        "  burnin: 40\n",
        "time.burnin",
        ("unknown field 'burnin'", "did you mean 'burn_in'?"),
        "burnin:",
    ),
    # wrong types
    Broken(
        "string-for-number",
        "power: {value: 1, assumption",
        "power: {value: one, assumption",
        "states.SM.power.value",
        ("valid number", "'one'"),
        "value: one",
    ),
    Broken(
        "quoted-number",
        "power: {value: 1, assumption",
        'power: {value: "1", assumption',
        "states.SM.power.value",
        ("valid number",),
        'value: "1"',
    ),
    Broken(
        "string-for-integer",
        "  burn_in: 40\n",
        "  burn_in: forty\n",
        "time.burn_in",
        ("valid integer", "'forty'"),
        "burn_in: forty",
    ),
    Broken(
        "quoted-date",
        "    date: 2021-01-01\n",
        '    date: "2021-01-01"\n',
        "shocks.pipeline.date",
        ("valid date",),
        'date: "2021-01-01"',
    ),
    Broken(
        "word-for-boolean",
        '{param: energy, pair: [WE, SM], op: add, value: 0.1, assumption: "Westland gains',
        "{param: energy, pair: [WE, SM], op: add, value: 0.1, both_ways: yes, "
        'assumption: "Westland gains',
        "shocks.pipeline.effects[1].both_ways",
        ("valid boolean",),
        "both_ways: yes",
    ),
    Broken(
        "bad-enum",
        "  step: quarter\n",
        "  step: quartr\n",
        "time.step",
        ("quarter", "month", "year"),
        "step: quartr",
    ),
    # out of range, not finite
    Broken(
        "affinity-out-of-range",
        'affinity: {value: 0.2, assumption: "a shared past"}',
        'affinity: {value: 1.5, assumption: "a shared past"}',
        "relations.SM.EA.affinity.value",
        ("expected a number in [-1, 1]", "got 1.5"),
        "value: 1.5",
    ),
    Broken(
        "power-zero",
        "power: {value: 1, assumption",
        "power: {value: 0, assumption",
        "states.SM.power.value",
        ("expected a number in [1e-09, 1e+12]", "got 0"),
        "power: {value: 0",
    ),
    Broken(
        "delta-out-of-range",
        "poles:\n",
        'model:\n  delta: {value: 0.9, assumption: "too fast"}\npoles:\n',
        "model.delta.value",
        ("expected a number in [0.001, 0.5]", "got 0.9"),
        "delta: {value: 0.9",
    ),
    Broken(
        "affinity-nan",
        'affinity: {value: 0.2, assumption: "a shared past"}',
        'affinity: {value: .nan, assumption: "a shared past"}',
        "relations.SM.EA.affinity.value",
        ("finite", "nan"),
        "value: .nan",
    ),
    Broken(
        "power-inf",
        "power: {value: 1, assumption",
        "power: {value: .inf, assumption",
        "states.SM.power.value",
        ("finite", "inf"),
        "value: .inf",
    ),
    Broken(
        "rivalry-nan",
        'value: 0.8, assumption: "the two',
        'value: .nan, assumption: "the two',
        "rivalries[0].value",
        ("nan",),
        "value: .nan",
    ),
    Broken(
        "effect-inf",
        "op: add, value: 0.3,",
        "op: add, value: .inf,",
        "shocks.pipeline.effects[0].value",
        ("finite", "inf"),
        "value: .inf",
    ),
    # provenance
    Broken(
        "bare-number",
        'power: {value: 1, assumption: "a small state: one tenth of each power\'s capability"}',
        "power: 1",
        "states.SM.power",
        ("a bare number (1)", "source", "assumption"),
        "power: 1\n",
    ),
    Broken(
        "no-provenance",
        'power: {value: 1, assumption: "a small state: one tenth of each power\'s capability"}',
        "power: {value: 1}",
        "states.SM.power",
        ("exactly one of `source:`", "`assumption:`"),
        "power: {value: 1}",
    ),
    Broken(
        "both-provenances",
        'power: {value: 1, assumption: "a small state: one tenth of each power\'s capability"}',
        'power: {value: 1, assumption: "a", source: "b"}',
        "states.SM.power",
        ("exactly one of `source:`",),
        "power: {value: 1, assumption",
    ),
    # sums
    Broken(
        "weights-sum",
        'alignment: {value: 0.2, assumption: "identity matters',
        'alignment: {value: 0.3, assumption: "identity matters',
        "states.SM.weights",
        ("must sum to 1", "got 1.1"),
        "    weights:\n",
        next_line_ok=True,
    ),
    Broken(
        "row-shares-above-1",
        'arms: {value: 0.6, assumption: "most arms',
        'arms: {value: 0.95, assumption: "most arms',
        "relations.SM",
        ("`arms` shares of SM's partners sum to 1.05", "at most 1"),
        "relations:\n  SM:\n",  # the line of `SM:` is computed below from this marker
        next_line_ok=True,
    ),
    # unknown state ids (with did-you-mean where the typo is close)
    Broken(
        "unknown-id-relations-row",
        "relations:\n  SM:\n",
        "relations:\n  SMM:\n",
        "relations.SMM",
        ("unknown state id 'SMM'", "did you mean 'SM'?", "the states are SM, EA, WE"),
        "  SMM:\n",
        next_line_ok=True,
    ),
    Broken(
        "unknown-id-relations-partner",
        "    WE:\n      energy: {value: 0.2",
        "    WEE:\n      energy: {value: 0.2",
        "relations.SM.WEE",
        ("unknown state id 'WEE'", "did you mean 'WE'?"),
        "    WEE:\n",
        next_line_ok=True,
    ),
    Broken(
        "unknown-id-pole",
        "  East: [EA]",
        "  East: [EAA]",
        "poles.East[0]",
        ("unknown state id 'EAA'", "did you mean 'EA'?"),
        "East: [EAA]",
    ),
    Broken(
        "unknown-id-rivalry",
        "pair: [EA, WE], value: 0.8",
        "pair: [EA, WEE], value: 0.8",
        "rivalries[0].pair[1]",
        ("unknown state id 'WEE'", "did you mean 'WE'?"),
        "pair: [EA, WEE]",
    ),
    Broken(
        "unknown-id-effect-pair",
        "pair: [SM, WE], op: add, value: 0.3",
        "pair: [SMM, WE], op: add, value: 0.3",
        "shocks.pipeline.effects[0].pair[0]",
        ("unknown state id 'SMM'", "did you mean 'SM'?"),
        "pair: [SMM, WE]",
    ),
    Broken(
        "unknown-id-effect-state",
        "{param: leverage, pair: [SM, EA], op: set, value: 0.0,",
        "{param: power, state: EAA, op: multiply, value: 0.5,",
        "shocks.base_closes.effects[0].state",
        ("unknown state id 'EAA'", "did you mean 'EA'?"),
        "state: EAA",
    ),
    Broken(
        "unknown-id-far-typo-lists-states",
        "pair: [EA, WE], value: 0.8",
        "pair: [EA, XY], value: 0.8",
        "rivalries[0].pair[1]",
        ("unknown state id 'XY'", "the states are SM, EA, WE"),
        "pair: [EA, XY]",
    ),
    Broken(
        "unknown-id-focus",
        "poles:\n",
        "focus: SMM\npoles:\n",
        "focus",
        ("unknown state id 'SMM'", "did you mean 'SM'?"),
        "focus: SMM",
    ),
    Broken(
        "unknown-effect-param",
        "{param: leverage, pair: [SM, EA]",
        "{param: leverag, pair: [SM, EA]",
        "shocks.base_closes.effects[0].param",
        ("unknown parameter 'leverag'", "did you mean 'leverage'?"),
        "param: leverag",
    ),
    # dates outside the horizon (2020-01-01 to 2025-12-31)
    Broken(
        "shock-date-after-horizon",
        "    date: 2024-01-01\n",
        "    date: 2027-01-01\n",
        "shocks.base_closes.date",
        ("2027-01-01", "outside the horizon 2020-01-01 to 2025-12-31"),
        "date: 2027-01-01",
    ),
    Broken(
        "shock-date-before-horizon",
        "    date: 2021-01-01\n",
        "    date: 2019-06-30\n",
        "shocks.pipeline.date",
        ("2019-06-30", "outside the horizon"),
        "date: 2019-06-30",
    ),
    Broken(
        "window-outside-horizon",
        "    date: 2024-01-01\n",
        '    probability: {value: 0.1, assumption: "a test"}\n'
        "    window: {start: 2024-01-01, end: 2026-06-30}\n",
        "shocks.base_closes.window.end",
        ("2026-06-30", "outside the horizon 2020-01-01 to 2025-12-31"),
        "window: {start: 2024-01-01, end: 2026-06-30}",
    ),
    # a tie set by a shock must be marked exogenous
    Broken(
        "tie-without-exogenous",
        '{param: leverage, pair: [SM, EA], op: set, value: 0.0, assumption: "no base',
        '{param: tie, pair: [SM, EA], op: set, value: 0.0, assumption: "no base',
        "shocks.base_closes.effects[0]",
        ("exogenous: true",),
        "param: tie",
    ),
]


def expected_lines(case: Broken, text: str) -> set[int]:
    line = line_of(text, case.marker)
    if case.marker.startswith("relations:\n"):
        line += 1  # the marker starts at `relations:`; the field is the row key below it
    return {line, line + 1} if case.next_line_ok else {line}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_scenario_names_file_line_and_field(tmp_path, case):
    path, text = break_teaching(tmp_path, case.id, case.old, case.new)
    problems = problems_of(path)
    msg = problem_about(problems, case.field)
    for frag in case.fragments:
        assert frag in msg, f"{frag!r} not in: {msg}"
    lines = expected_lines(case, text)
    assert any(f"{path.name}:{n}: field {case.field}: " in msg for n in lines), (
        f"expected {path.name}:{sorted(lines)}: in: {msg}"
    )
    # problem lines have the documented shape FILE:LINE: field PATH: message
    for p in problems:
        assert f"{path.name}:" in p and ": field " in p, p


def test_all_problems_of_one_pass_are_reported_together(tmp_path):
    path, text = break_teaching(
        tmp_path,
        "two-problems",
        'affinity: {value: 0.2, assumption: "a shared past"}',
        'affinity: {value: 1.5, assumption: "a shared past"}',
    )
    text = text.replace("  East: [EA]", "  East: [EAA]")
    path.write_text(text, encoding="utf-8")
    problems = problems_of(path)
    problem_about(problems, "relations.SM.EA.affinity.value")
    problem_about(problems, "poles.East[0]")
    # sorted by file and line
    lines = [int(p.split(f"{path.name}:", 1)[1].split(":", 1)[0]) for p in problems]
    assert lines == sorted(lines)


# --------------------------------------------------------------------------------------
# Reading stage: YAML syntax, duplicate keys, missing files, extends, remove_shocks
# --------------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    old = SM_POWER
    path, text = break_teaching(tmp_path, "syntax", old, old + "}")
    (msg,) = problems_of(path)
    line = line_of(text, old + "}")
    assert f"{path.name}:{line}: YAML syntax error" in msg, msg


def test_yaml_bad_indentation_names_file_and_line(tmp_path):
    path, text = break_teaching(
        tmp_path, "indent", "    name: Smallland\n", "    name: Smallland\n   stray: x\n"
    )
    (msg,) = problems_of(path)
    assert f"{path.name}:{line_of(text, '   stray: x')}: YAML syntax error" in msg, msg


def test_duplicate_key_names_file_line_and_field(tmp_path):
    path, text = break_teaching(
        tmp_path, "dup", "  step: quarter\n", "  step: quarter\n  step: month\n"
    )
    (msg,) = problems_of(path)
    assert f"{path.name}:{line_of(text, 'step: month')}: field time.step appears twice" in msg


def test_empty_file_and_non_mapping_are_reading_errors(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here\n", encoding="utf-8")
    (msg,) = problems_of(empty)
    assert "empty.yaml" in msg and "empty" in msg
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    (msg,) = problems_of(listy)
    assert "list.yaml:1:" in msg and "mapping" in msg


def test_missing_scenario_file_with_did_you_mean(tmp_path):
    (tmp_path / "teaching.yaml").write_text(TEACHING_TEXT, encoding="utf-8")
    (msg,) = problems_of(tmp_path / "teachng.yaml")
    assert "teachng.yaml" in msg and "no such scenario file" in msg
    assert "did you mean 'teaching.yaml'?" in msg
    (msg,) = problems_of(tmp_path / "nowhere" / "x.yaml")
    assert "x.yaml" in msg and "no such scenario file" in msg


def test_extends_cycle_between_two_files(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("# A\nextends: b.yaml\nname: A\n", encoding="utf-8")
    b.write_text("name: B\nextends: a.yaml\n", encoding="utf-8")
    (msg,) = problems_of(a)
    # the cycle is detected at b.yaml's `extends:` (line 2), and the chain is named
    assert "b.yaml:2: field extends: a cycle of extends" in msg, msg
    assert "a.yaml -> " in msg and "b.yaml -> " in msg


def test_extends_itself_is_a_cycle(tmp_path):
    me = tmp_path / "me.yaml"
    me.write_text("# me\nextends: me.yaml\nname: Me\n", encoding="utf-8")
    (msg,) = problems_of(me)
    assert "me.yaml:2: field extends: a cycle of extends" in msg, msg


def test_extends_missing_file(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("# child\nname: C\nextends: no_such_parent.yaml\n", encoding="utf-8")
    (msg,) = problems_of(child)
    assert "child.yaml:3: field extends:" in msg, msg
    assert "no such scenario file 'no_such_parent.yaml'" in msg


def test_remove_shocks_unknown_id_with_did_you_mean(tmp_path):
    (tmp_path / "teaching.yaml").write_text(TEACHING_TEXT, encoding="utf-8")
    cf = tmp_path / "cf.yaml"
    cf.write_text("extends: teaching.yaml\nname: CF\nremove_shocks:\n  - pipelin\n")
    (msg,) = problems_of(cf)
    assert "cf.yaml:3: field remove_shocks: no shock 'pipelin'" in msg or (
        "cf.yaml:4: field remove_shocks: no shock 'pipelin'" in msg
    ), msg
    assert "did you mean 'pipeline'?" in msg


def test_remove_shocks_without_extends(tmp_path):
    path = tmp_path / "noext.yaml"
    path.write_text(TEACHING_TEXT + "remove_shocks: [pipeline]\n", encoding="utf-8")
    (msg,) = problems_of(path)
    line = line_of(TEACHING_TEXT + "remove_shocks: [pipeline]\n", "remove_shocks:")
    assert f"noext.yaml:{line}:" in msg and "needs `extends:`" in msg, msg


def test_error_in_child_points_to_child_error_in_parent_points_to_parent(tmp_path):
    parent_text = TEACHING_TEXT.replace(
        'affinity: {value: 0.2, assumption: "a shared past"}',
        'affinity: {value: 1.5, assumption: "a shared past"}',
    )
    (tmp_path / "parent.yaml").write_text(parent_text, encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text(
        "extends: parent.yaml\nname: Child\nstates:\n  SM:\n"
        '    autonomy: {value: 11, assumption: "too much"}\n',
        encoding="utf-8",
    )
    problems = problems_of(child)
    in_parent = problem_about(problems, "relations.SM.EA.affinity.value")
    assert f"parent.yaml:{line_of(parent_text, 'value: 1.5')}:" in in_parent
    in_child = problem_about(problems, "states.SM.autonomy.value")
    assert "child.yaml:5:" in in_child and "[0, 10]" in in_child


# --------------------------------------------------------------------------------------
# Line numbers of block keys, and reading-stage crashes (bugs in sim/scenario/)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, field, marker",
    [
        ("poles:\n", "polse:\n", "polse", "polse:"),
        ("relations:\n  SM:\n", "relations:\n  SMM:\n", "relations.SMM", "  SMM:"),
    ],
    ids=["unknown-top-level-field", "unknown-relations-row"],
)
def test_unknown_block_key_is_reported_at_its_own_line(tmp_path, old, new, field, marker):
    path, text = break_teaching(tmp_path, "blockkey", old, new)
    msg = problem_about(problems_of(path), field)
    assert f"{path.name}:{line_of(text, marker)}: field {field}: " in msg, msg


def test_impossible_calendar_date_is_a_scenario_error(tmp_path):
    path, text = break_teaching(
        tmp_path, "feb30", "    date: 2021-01-01\n", "    date: 2021-02-30\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert f"{path.name}:{line_of(text, 'date: 2021-02-30')}:" in str(info.value)


def test_non_utf8_file_is_a_scenario_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(TEACHING_TEXT.replace("Smallland", "Smållland").encode("latin-1"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "latin1.yaml" in str(info.value)


def test_unknown_yaml_tag_is_a_scenario_error(tmp_path):
    path, text = break_teaching(
        tmp_path, "tag", "    name: Smallland\n", "    name: !!python/object:os.system x\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert f"{path.name}:{line_of(text, '!!python')}:" in str(info.value)


# --------------------------------------------------------------------------------------
# The CLI, in a subprocess: one call covers every scenario-file class via `check`
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, str, set[int] | None]]:
    """One broken file per class of bad scenario input, with text its message must hold."""
    d = tmp_path_factory.mktemp("bad_files")
    files: dict[str, tuple[Path, str]] = {}
    wanted = {
        "unknown-field-pair-param": "did you mean 'energy'?",
        "string-for-number": "states.SM.power.value: Input should be a valid number",
        "affinity-out-of-range": "relations.SM.EA.affinity.value: expected a number in [-1, 1]",
        "affinity-nan": "relations.SM.EA.affinity.value: expected a finite number",
        "bare-number": "states.SM.power: a bare number",
        "weights-sum": "states.SM.weights: the three weights",
        "row-shares-above-1": "relations.SM: the `arms` shares",
        "unknown-id-relations-partner": "unknown state id 'WEE' (did you mean 'WE'?)",
        "unknown-id-pole": "poles.East[0]: unknown state id 'EAA' (did you mean 'EA'?)",
        "unknown-id-rivalry": "rivalries[0].pair[1]: unknown state id 'WEE'",
        "unknown-id-effect-pair": "shocks.pipeline.effects[0].pair[0]: unknown state id 'SMM'",
        "shock-date-after-horizon": "shocks.base_closes.date: date 2027-01-01 is outside",
        "window-outside-horizon": "shocks.base_closes.window.end: date 2026-06-30 is outside",
        "tie-without-exogenous": "exogenous: true",
    }
    by_id = {c.id: c for c in CASES}
    for cid, frag in wanted.items():
        c = by_id[cid]
        path, text = break_teaching(d, cid, c.old, c.new)
        lines = expected_lines(c, text)
        files[cid] = (path, frag, lines)
    old = SM_POWER
    path, text = break_teaching(d, "yaml-syntax", old, old + "}")
    files["yaml-syntax"] = (path, "YAML syntax error", {line_of(text, old + "}")})
    (d / "teaching.yaml").write_text(TEACHING_TEXT, encoding="utf-8")
    (d / "cyc_a.yaml").write_text("extends: cyc_b.yaml\nname: A\n", encoding="utf-8")
    (d / "cyc_b.yaml").write_text("name: B\nextends: cyc_a.yaml\n", encoding="utf-8")
    files["extends-cycle"] = (d / "cyc_a.yaml", "a cycle of extends", None)
    (d / "orphan.yaml").write_text("name: O\nextends: gone.yaml\n", encoding="utf-8")
    files["extends-missing"] = (d / "orphan.yaml", "no such scenario file 'gone.yaml'", {2})
    (d / "rm.yaml").write_text("extends: teaching.yaml\nname: R\nremove_shocks: [pipelin]\n")
    files["remove-unknown"] = (d / "rm.yaml", "no shock 'pipelin'", {3})
    files["missing-file"] = (d / "not_there.yaml", "no such scenario file", None)
    return files


def test_cli_check_reports_every_bad_file_with_exit_2(bad_files):
    res = cli_run("check", str(TEACHING), *(str(p) for p, _, _ in bad_files.values()))
    assert_clean_user_error(res)
    err = res.stderr
    assert err.startswith("error: "), err
    assert "teaching.yaml: ok" in res.stdout  # the good file is still checked
    for cid, (path, frag, lines) in bad_files.items():
        assert frag in err, f"{cid}: {frag!r} not in stderr:\n{err}"
        if cid == "extends-cycle":
            assert "cyc_b.yaml:2: field extends" in err, err
        elif lines is not None:
            assert any(f"{path.name}:{n}: " in err for n in lines), (
                f"{cid}: {path.name}:{sorted(lines)} not in stderr:\n{err}"
            )
        else:
            assert path.name in err, err


def test_cli_run_bad_yaml_exit_2_and_no_output(tmp_path, bad_files):
    path, _, lines = bad_files["yaml-syntax"]
    out = tmp_path / "out"
    res = cli_run("run", str(path), "--out", str(out))
    (line,) = lines
    assert_clean_user_error(res, f"{path.name}:{line}: YAML syntax error")
    assert res.stderr.startswith("error: ")
    assert not out.exists()
    assert no_leftovers(tmp_path, "out") == []


def test_cli_run_extends_cycle_exit_2_and_no_output(tmp_path, bad_files):
    path, _, _ = bad_files["extends-cycle"]
    out = tmp_path / "out"
    res = cli_run("run", str(path), "--seed", "1", "--out", str(out))
    assert_clean_user_error(res, "cyc_b.yaml:2: field extends: a cycle of extends")
    assert not out.exists()


def test_cli_run_missing_scenario_file(tmp_path):
    out = tmp_path / "out"
    res = cli_run("run", "scenarios/baselin.yaml", "--out", str(out))
    assert_clean_user_error(
        res, "scenarios/baselin.yaml", "no such scenario file", "did you mean 'baseline.yaml'?"
    )
    assert not out.exists()


def test_cli_run_out_missing_parents_are_created_only_by_a_run_that_writes(tmp_path):
    out = tmp_path / "no" / "such" / "dir"
    res = cli_run("run", str(TEACHING), "--out", str(out), "--shock-off", "no_such_shock")
    assert res.returncode == 2
    assert not (tmp_path / "no").exists()  # a refused run creates no parent
    res = cli_run("run", str(TEACHING), "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert (out / "manifest.json").is_file()


def test_cli_negative_seed(tmp_path):
    out = tmp_path / "out"
    res = cli_run("run", str(TEACHING), "--seed", "-1", "--out", str(out))
    assert_clean_user_error(res, "--seed", "-1", "whole number")
    assert not out.exists()


def test_cli_explain_unknown_state():
    res = cli_run("explain", str(TEACHING), "--state", "SMM", "--date", "2022-01-01")
    assert_clean_user_error(res, "--state", "'SMM'", "did you mean 'SM'?", "SM, EA, WE")


def test_cli_explain_date_outside_horizon():
    res = cli_run("explain", str(TEACHING), "--state", "SM", "--date", "2030-06-30")
    assert_clean_user_error(res, "--date 2030-06-30", "outside", "2020-01-01 to 2025-12-31")


def test_cli_failed_run_leaves_nothing_in_out(tmp_path):
    """The out-dir check passes, then the run fails (an unknown --shock-off id)."""
    out = tmp_path / "result"
    res = cli_run("run", str(TEACHING), "--out", str(out), "--shock-off", "pipelin")
    assert_clean_user_error(res, "--shock-off", "'pipelin'", "did you mean 'pipeline'?")
    assert not out.exists()
    assert no_leftovers(tmp_path, "result") == []
    assert list(tmp_path.iterdir()) == []


def test_cli_rerun_replaces_existing_out_completely_only_with_force(tmp_path):
    """A manifest that no command wrote, beside files no run writes: refused (the old
    behaviour, replacing it, destroyed the files); --force replaces it completely."""
    out = tmp_path / "result"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run", encoding="utf-8")
    (out / "sub").mkdir()
    (out / "sub" / "old.parquet").write_bytes(b"old")
    (out / "manifest.json").write_text("{}", encoding="utf-8")
    res = cli_run("run", str(TEACHING), "--seed", "3", "--out", str(out), "--quiet")
    assert_clean_user_error(res, "--out", "stale.txt", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "stale.txt", "sub"]
    res = cli_run("run", str(TEACHING), "--seed", "3", "--out", str(out), "--quiet", "--force")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert (out / "manifest.json").read_text(encoding="utf-8") != "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


# --------------------------------------------------------------------------------------
# The CLI in process (fast): more argument errors and atomic writing
# --------------------------------------------------------------------------------------


@pytest.fixture
def main(monkeypatch, capsys):
    """Call ``sim.tools.cli.main(argv)``; returns (exit code, stdout, stderr)."""
    monkeypatch.delenv("MULTIVECTOR_DEBUG", raising=False)

    def call(*argv: str) -> tuple[int, str, str]:
        try:
            rc = cli.main(list(argv))
        except SystemExit as exc:  # argparse
            rc = exc.code
        out, err = capsys.readouterr()
        return rc, out, err

    return call


@pytest.mark.parametrize("seed", ["1.5", "abc", "", "1e3", "-5"])
def test_seed_must_be_a_whole_number(main, tmp_path, seed):
    rc, _, err = main("run", str(TEACHING), "--seed", seed, "--out", str(tmp_path / "o"))
    assert rc == 2 and "--seed" in err and "whole number" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("date", ["2022-13-01", "yesterday", "2022/01/01"])
def test_explain_date_must_be_a_date(main, date):
    rc, _, err = main("explain", str(TEACHING), "--state", "SM", "--date", date)
    assert rc == 2 and "--date" in err and "YYYY-MM-DD" in err


@pytest.mark.parametrize("date", ["2019-12-31", "2026-01-01"])
def test_explain_date_just_outside_horizon(main, date):
    rc, _, err = main("explain", str(TEACHING), "--state", "SM", "--date", date)
    assert rc == 2, err
    assert f"--date {date}" in err and "outside" in err


def test_explain_unknown_state_lists_the_states(main):
    rc, _, err = main("explain", str(TEACHING), "--state", "XY", "--date", "2022-01-01")
    assert rc == 2 and "'XY'" in err and "SM, EA, WE" in err


def test_out_that_is_a_file(main, tmp_path):
    f = tmp_path / "afile"
    f.write_text("keep me", encoding="utf-8")
    rc, _, err = main("run", str(TEACHING), "--out", str(f))
    assert rc == 2 and "not a directory" in err
    assert f.read_text(encoding="utf-8") == "keep me"


def test_validate_seeds_must_be_positive(main):
    rc, _, err = main("validate", str(TEACHING), "--seeds", "0")
    assert rc == 2 and "--seeds" in err


def test_every_command_rejects_a_bad_file_with_exit_2(main, tmp_path):
    path, _ = break_teaching(
        tmp_path, "bad", "power: {value: 1, assumption", "power: {value: one, assumption"
    )
    for argv in (
        ("check", str(path)),
        ("run", str(path), "--out", str(tmp_path / "o")),
        ("explain", str(path), "--state", "SM", "--date", "2022-01-01"),
        ("validate", str(path), "--seeds", "2"),
    ):
        rc, out, err = main(*argv)
        assert rc == 2, (argv, err)
        assert err.startswith("error: ") and "bad.yaml:" in err and "states.SM.power.value" in err
        assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_run_api_rejects_unknown_shock_off():
    import sim

    with pytest.raises(UserError, match="did you mean 'pipeline'"):
        sim.run(TEACHING, seed=0, shocks_off=["pipelin"])


def test_save_failure_leaves_no_partial_output(tmp_path, monkeypatch):
    """A failure while the outputs are being written leaves neither --out nor a temp dir."""
    import sim
    from sim.drivers.run import RunResult

    result = sim.run(TEACHING, seed=1)

    def boom(self):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(RunResult, "figure", boom)
    out = tmp_path / "result"
    with pytest.raises(RuntimeError, match="plot failed"):
        result.save(out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []

    # an existing output directory survives a failed rewrite untouched
    monkeypatch.undo()
    result.save(out)  # an earlier run's output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(RunResult, "figure", boom)
    with pytest.raises(RuntimeError, match="plot failed"):
        result.save(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_out_that_is_not_a_run_directory_is_never_replaced(main, tmp_path):
    """--out naming a non-empty directory that no run wrote is refused, not deleted."""
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("months of work", encoding="utf-8")
    rc, _, err = main("run", str(TEACHING), "--seed", "1", "--out", str(precious), "--quiet")
    assert rc == 2 and "not the output of an earlier run" in err
    assert [p.name for p in precious.iterdir()] == ["chapter1.tex"]
    rc, _, err = main("run", str(TEACHING), "--seed", "1", "--out", ".", "--quiet")
    assert rc == 2 and "current directory" in err


def test_explain_rejects_unknown_shock_off(main):
    rc, _, err = main(
        "explain", str(TEACHING), "--state", "SM", "--date", "2022-01-01", "--shock-off", "pipelin"
    )
    assert rc == 2 and "'pipelin'" in err


def test_seed_too_large_for_the_tables_is_rejected_cleanly(main, tmp_path):
    out = tmp_path / "o"
    rc, _, err = main("run", str(TEACHING), "--seed", str(2**64), "--out", str(out), "--quiet")
    assert "internal error" not in err
    assert rc == 0 or (rc == 2 and "--seed" in err), err
    if rc == 2:
        assert not out.exists()


def test_out_dot_is_rejected_cleanly(main, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine", encoding="utf-8")
    monkeypatch.chdir(work)
    rc, _, err = main("run", str(TEACHING), "--out", ".", "--quiet")
    assert (work / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert rc == 2 and "--out" in err and "internal error" not in err, err
