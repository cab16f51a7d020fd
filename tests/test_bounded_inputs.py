"""Bounded inputs: a hostile or oversized scenario or experiment file ends with one message.

An adversarial tester found files that crashed Multivector (``RecursionError``,
``OverflowError``, ``year 10000 is out of range``, a matplotlib error), exhausted its
memory (a YAML "billion laughs"), produced NaN results (``power: 1e160``) or made an
error echo another file (``extends: /etc/passwd``). Each is reproduced here and must now
end with a :class:`~sim.errors.ScenarioError` (exit code 2 in the CLI) that names the
file, the line and the limit. The limits are in :mod:`sim.scenario.limits`.

Most cases go through :func:`sim.scenario.load_scenario`; each class goes once through the
CLI in a subprocess (with a ``timeout`` so that a regression cannot hang the suite).
"""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from cli_helpers import cli_run

import sim.scenario.documents
from sim.batch.experiment import load_experiment
from sim.errors import ScenarioError
from sim.scenario import load_scenario, scenario_from_dict
from sim.scenario.limits import (
    DATE_MAX,
    MAX_EXTENDS_CHAIN,
    MAX_FILE_BYTES,
    MAX_MAGNITUDE,
    MAX_PERIODS,
    MAX_SHOCK_FIRINGS,
    MAX_SHOCKS,
    MAX_STATES,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
)
from sim.tools import cli

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ROOT / "scenarios" / "teaching.yaml"
TEACHING_TEXT = TEACHING.read_text(encoding="utf-8")
PASSWD = Path("/etc/passwd")

#: A YAML "billion laughs": nine levels of nine aliases, 9**9 (387 million) leaves.
BILLION_LAUGHS = "name: lol\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def teaching_with(folder: Path, name: str, old: str, new: str) -> tuple[Path, str]:
    """teaching.yaml with ``old`` (which must occur once) replaced by ``new``."""
    assert TEACHING_TEXT.count(old) == 1, old
    text = TEACHING_TEXT.replace(old, new)
    return write(folder, name, text), text


def line_of(text: str, marker: str) -> int:
    return text[: text.index(marker)].count("\n") + 1


def refused(path: Path) -> str:
    """The message of loading ``path``: a ScenarioError, never another exception."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


def refused_dict(data: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    return str(info.value)


def teaching_dict() -> dict:
    return copy.deepcopy(load_scenario(TEACHING).content)


def effect(**kw) -> dict:
    out = {"param": "energy", "pair": ["SM", "WE"], "op": "add", "value": 0.01}
    return {**out, **kw, "assumption": "a test"}


def dated_shocks(n: int) -> dict:
    return {
        f"s{k}": {
            "label": f"shock {k}",
            "date": dt.date(2020, 1, 1) + dt.timedelta(days=20 * k),
            "assumption": "a test",
            "effects": [effect()],
        }
        for k in range(n)
    }


def cli_check(*files: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m sim check FILES`` from the repository root."""
    return cli_run("check", *map(str, files), timeout=timeout)


def assert_one_clear_message(res: subprocess.CompletedProcess, *fragments: str) -> None:
    err = res.stderr
    assert res.returncode == 2, f"exit {res.returncode}:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.startswith("error: ") and err.count("error: ") == 1, err
    assert len(err) < 1000, err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in:\n{err}"


def passwd_lines() -> list[str]:
    """The non-trivial lines of /etc/passwd (skipped where there is none)."""
    if not PASSWD.is_file():
        pytest.skip("no /etc/passwd here")
    lines = [ln for ln in PASSWD.read_text(errors="replace").splitlines() if len(ln) > 8]
    if not lines:
        pytest.skip("/etc/passwd is empty")
    return lines


# --------------------------------------------------------------------------------------
# Safe YAML with limits
# --------------------------------------------------------------------------------------


def test_billion_laughs_is_refused_in_under_a_second(tmp_path):
    path = write(tmp_path, "laughs.yaml", BILLION_LAUGHS)
    t0 = time.perf_counter()
    msg = refused(path)
    assert time.perf_counter() - t0 < 1.0
    assert "laughs.yaml:" in msg and "aliases" in msg and "200,000 YAML nodes" in msg, msg


def test_deep_nesting_is_refused_without_recursion_error(tmp_path):
    path = write(tmp_path, "deep.yaml", "name: deep\na: " + "[" * 100_000 + "]" * 100_000 + "\n")
    t0 = time.perf_counter()
    msg = refused(path)
    assert time.perf_counter() - t0 < 5.0
    assert f"deep.yaml:2: mappings and lists are nested more than {MAX_YAML_DEPTH}" in msg, msg


def test_nesting_at_the_limit_is_read(tmp_path):
    depth = MAX_YAML_DEPTH - 1  # the top-level mapping is the first level
    path = write(tmp_path, "ok.yaml", "a: " + "[" * depth + "]" * depth + "\n")
    doc = sim.scenario.documents.read_yaml(path, "ok.yaml")
    assert isinstance(doc.data["a"], list)


def test_deep_nesting_through_aliases_is_refused(tmp_path):
    lines = ["l0: &l0 [x]"] + [f"l{k}: &l{k} [*l{k - 1}]" for k in range(1, 70)]
    path = write(tmp_path, "alias_deep.yaml", "\n".join(lines) + "\n")
    msg = refused(path)
    assert "aliases (*name) expanded" in msg and f"{MAX_YAML_DEPTH} levels" in msg, msg


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "loop.yaml", "name: loop\na: &a {b: *a}\n")
    msg = refused(path)
    assert "loop.yaml:2:" in msg and "repeat without end" in msg, msg


def test_too_many_aliases(tmp_path):
    items = ", ".join(["*x"] * (MAX_YAML_ALIASES + 1))
    path = write(tmp_path, "aliases.yaml", f"x: &x 1\ny: [{items}]\n")
    msg = refused(path)
    assert f"more than {MAX_YAML_ALIASES:,} YAML aliases" in msg, msg


def test_too_many_nodes(tmp_path, monkeypatch):
    monkeypatch.setattr(sim.scenario.documents, "MAX_YAML_NODES", 1000)
    path = write(tmp_path, "many.yaml", "a: [" + ", ".join(["1"] * 1200) + "]\n")
    msg = refused(path)
    assert "many.yaml:1: the file holds more than 1,000 YAML nodes" in msg, msg


def test_file_too_large_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.write(b"name: x\n")
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no time or disk spent
    t0 = time.perf_counter()
    msg = refused(path)
    assert time.perf_counter() - t0 < 1.0
    assert f"larger than {MAX_FILE_BYTES:,} bytes" in msg, msg


@pytest.mark.parametrize(
    "old, new, tag",
    [
        (
            "alignment_axis: {toward: West, away: East}",
            "alignment_axis: !!python/object:os.system {toward: West, away: East}",
            "!!python/object:os.system",
        ),
        ("  East: [EA]", "  East: !foo [EA]", "!foo"),
        ("    name: Smallland", "    name: !!binary U21hbGxsYW5k", "!!binary"),
        (
            "alignment_axis: {toward: West, away: East}",
            "alignment_axis: !!set {West, East}",
            "!!set",
        ),
        (
            "  start: 2020-01-01",
            "  !!python/name:os.system start: 2020-01-01",
            "!!python/name:os.system",
        ),
    ],
    ids=["python-object-on-mapping", "custom-tag-on-list", "binary", "set", "tag-on-key"],
)
def test_non_standard_tags_are_refused_with_file_and_line(tmp_path, old, new, tag):
    path, text = teaching_with(tmp_path, "tag.yaml", old, new)
    msg = refused(path)
    assert f"tag.yaml:{line_of(text, tag)}:" in msg and f"tag {tag} is not allowed" in msg, msg


def test_anchors_and_aliases_within_the_limits_still_work(tmp_path):
    line = '    cross_pressure: {value: 0.3, assumption: "teaching value"}\n'
    assert TEACHING_TEXT.count(line) == 2  # Eastland's and Westland's
    text = TEACHING_TEXT.replace(line, line.replace("{", "&cp {", 1), 1)
    text = text.replace(line, "    cross_pressure: *cp\n", 1)
    scenario = load_scenario(write(tmp_path, "anchors.yaml", text))
    assert scenario.spec.states["WE"].cross_pressure.value == 0.3


def _python_tree(text: str):
    """The node tree of PyYAML's pure-Python composer, counting as it goes."""
    loader = sim.scenario.documents._BoundedLoader(text, "x.yaml")
    try:
        return loader.get_single_node(), loader.aliases
    finally:
        loader.dispose()


def _same_tree(a, b) -> None:
    assert type(a) is type(b) and a.tag == b.tag, (a, b)
    assert (a.start_mark.line, a.start_mark.column) == (b.start_mark.line, b.start_mark.column)
    if isinstance(a, yaml.ScalarNode):
        assert (a.value, a.style) == (b.value, b.style), (a, b)
        return
    assert a.flow_style == b.flow_style and len(a.value) == len(b.value), (a, b)
    pairs = a.value if isinstance(a, yaml.SequenceNode) else [x for kv in a.value for x in kv]
    other = b.value if isinstance(b, yaml.SequenceNode) else [x for kv in b.value for x in kv]
    for x, y in zip(pairs, other, strict=True):
        _same_tree(x, y)


YAML_FILES = sorted(p for p in (ROOT / "scenarios").rglob("*.yaml"))


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_libyaml_reads_every_shipped_file_as_the_python_composer_does(path):
    """Files are composed by libyaml (6x faster); the tree, with every line, style and
    alias count, must be the one the pure-Python composer builds."""
    text = path.read_text(encoding="utf-8")
    fast = sim.scenario.documents._compose_with_libyaml(text)
    assert fast is not None
    slow = _python_tree(text)
    assert fast[1] == slow[1]
    _same_tree(fast[0], slow[0])


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
def test_libyaml_counts_aliases_and_hands_limits_to_the_python_path(tmp_path, monkeypatch):
    text = TEACHING_TEXT + "extra: &e [1, 2]\nmore: [*e, *e, {k: *e}]\n"
    fast = sim.scenario.documents._compose_with_libyaml(text)
    assert fast is not None and fast[1] == _python_tree(text)[1] == 3
    _same_tree(fast[0], _python_tree(text)[0])
    monkeypatch.setattr(sim.scenario.documents, "MAX_YAML_ALIASES", 2)
    assert sim.scenario.documents._compose_with_libyaml(text) is None
    # the Python path then words the refusal
    msg = refused(write(tmp_path, "three.yaml", text))
    assert "more than 2 YAML aliases" in msg, msg


def test_files_read_the_same_without_libyaml(tmp_path, monkeypatch):
    fast = load_scenario(TEACHING)
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    assert sim.scenario.documents._compose_with_libyaml(TEACHING_TEXT) is None
    assert load_scenario(TEACHING).spec == fast.spec


# --------------------------------------------------------------------------------------
# extends: a bounded chain, confined to one folder, never echoing another file
# --------------------------------------------------------------------------------------


def chain(folder: Path, n: int) -> Path:
    """``c0.yaml`` extends ``c1.yaml`` ... extends ``c{n}.yaml`` (the teaching world)."""
    write(folder, f"c{n}.yaml", TEACHING_TEXT)
    for k in range(n):
        write(folder, f"c{k}.yaml", f"extends: c{k + 1}.yaml\nname: level {k}\n")
    return folder / "c0.yaml"


def test_extends_chain_at_the_limit_loads(tmp_path):
    assert load_scenario(chain(tmp_path, MAX_EXTENDS_CHAIN)).name == "level 0"


def test_long_extends_chain_is_refused_without_recursion_error(tmp_path):
    top = chain(tmp_path, 1500)
    t0 = time.perf_counter()
    msg = refused(top)
    assert time.perf_counter() - t0 < 5.0
    assert f"c{MAX_EXTENDS_CHAIN}.yaml:1: field extends:" in msg, msg
    assert f"at most {MAX_EXTENDS_CHAIN} files" in msg, msg


def test_very_long_extends_value_is_a_short_message(tmp_path):
    path = write(tmp_path, "long.yaml", "name: L\nextends: " + "a" * 5000 + ".yaml\n")
    msg = refused(path)
    assert "long.yaml:2: field extends: expected a file name of at most 1,000 characters" in msg
    assert len(msg) < 300, msg


@pytest.mark.parametrize("ref", ["/etc/passwd", "../../../../../../../../etc/passwd"])
def test_extends_passwd_is_refused_and_nothing_of_it_is_shown(tmp_path, ref):
    lines = passwd_lines()
    path = write(tmp_path, "pw.yaml", f"name: P\nextends: {ref}\n")
    msg = refused(path)
    assert "pw.yaml:2: field extends:" in msg and "leads outside" in msg, msg
    for line in lines:
        assert line not in msg, msg
    assert len(msg) < 600, msg


def test_extends_dot_dot_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "teaching.yaml").write_text(TEACHING_TEXT, encoding="utf-8")
    child = write(tmp_path / "sub", "cf.yaml", "extends: ../teaching.yaml\nname: CF\n")
    msg = refused(child)
    assert "cf.yaml:1: field extends: '../teaching.yaml' leads outside" in msg, msg


def test_extends_absolute_path_inside_the_folder_is_allowed(tmp_path):
    parent = write(tmp_path, "base/teaching.yaml", TEACHING_TEXT)
    child = write(tmp_path, "cf.yaml", f"extends: {parent}\nname: CF\n")
    assert load_scenario(child).name == "CF"


def test_extends_within_a_scenarios_folder_may_go_up(tmp_path):
    write(tmp_path, "scenarios/teaching.yaml", TEACHING_TEXT)
    child = write(tmp_path, "scenarios/mine/cf.yaml", "extends: ../teaching.yaml\nname: CF\n")
    assert load_scenario(child).name == "CF"
    outside = write(tmp_path, "other.yaml", TEACHING_TEXT)
    child.write_text(f"extends: {outside}\nname: CF\n", encoding="utf-8")
    assert "leads outside" in refused(child)


def test_extends_symlink_escaping_the_folder_is_refused(tmp_path):
    outside = write(tmp_path, "outside/teaching.yaml", TEACHING_TEXT)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "link.yaml").symlink_to(outside)
    (proj / "inner.yaml").symlink_to(write(proj, "real/teaching.yaml", TEACHING_TEXT))
    child = write(proj, "cf.yaml", "extends: link.yaml\nname: CF\n")
    assert "cf.yaml:1: field extends: 'link.yaml' leads outside" in refused(child)
    child.write_text("extends: inner.yaml\nname: CF\n", encoding="utf-8")
    assert load_scenario(child).name == "CF"  # a link that stays inside is fine


def test_extends_a_file_that_is_not_a_scenario_lists_none_of_its_keys(tmp_path):
    write(tmp_path, "secrets.yaml", "db_password: hunter2\napi_token: abc123\n")
    child = write(tmp_path, "cf.yaml", "name: CF\nextends: secrets.yaml\n")
    msg = refused(child)
    assert "cf.yaml:2: field extends: " in msg, msg
    assert "secrets.yaml is not a scenario file" in msg, msg
    for secret in ("db_password", "hunter2", "api_token", "abc123"):
        assert secret not in msg, msg


# --------------------------------------------------------------------------------------
# Numbers: finite and within stated ranges, at load time
# --------------------------------------------------------------------------------------

SM_POWER = "power: {value: 1, assumption"
PIPELINE_EFFECT = "op: add, value: 0.3,"


@pytest.mark.parametrize(
    "old, new, field, fragments",
    [
        (
            SM_POWER,
            "power: {value: 1" + "0" * 400 + ", assumption",
            "states.SM.power.value",
            ("expected a number from -9223372036854775807 to 9223372036854775807",),
        ),
        (
            SM_POWER,
            "power: {value: 1e400, assumption",
            "states.SM.power.value",
            ("expected a finite number, got 1e400",),
        ),
        (
            SM_POWER,
            "power: {value: -.inf, assumption",
            "states.SM.power.value",
            ("expected a finite number, got -.inf",),
        ),
        (
            SM_POWER,
            "power: {value: 1e160, assumption",
            "states.SM.power.value",
            ("expected a number in [1e-09, 1e+12], got 1e+160",),
        ),
        (
            PIPELINE_EFFECT,
            "op: multiply, value: 1e300,",
            "shocks.pipeline.effects[0].value",
            ("expected a number in [0, 1e+12], got 1e+300",),
        ),
        (
            PIPELINE_EFFECT,
            "op: add, value: -1e200,",
            "shocks.pipeline.effects[0].value",
            ("expected a number in [-1e+12, 1e+12], got -1e+200",),
        ),
        (
            PIPELINE_EFFECT,
            "op: add, value: .nan,",
            "shocks.pipeline.effects[0].value",
            ("expected a finite number, got .nan",),
        ),
        ("  burn_in: 40", "  burn_in: 1" + "0" * 400, "time.burn_in", ("expected a number from",)),
    ],
    ids=[
        "int-1e400",
        "float-1e400",
        "minus-inf",
        "power-1e160",
        "multiply-1e300",
        "add-1e200",
        "effect-nan",
        "burn-in-1e400",
    ],
)
def test_numbers_are_finite_and_in_range(tmp_path, old, new, field, fragments):
    path, text = teaching_with(tmp_path, "num.yaml", old, new)
    msg = refused(path)
    marker = new.split(",")[0].split("{")[0].strip()
    assert f"num.yaml:{line_of(text, marker)}: field {field}: " in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    assert len(msg) < 400, msg


def test_huge_numbers_from_python_are_scenario_errors():
    d = teaching_dict()
    d["states"]["SM"]["power"]["value"] = 10**400
    assert "field states.SM.power.value: expected a finite number" in refused_dict(d)
    d = teaching_dict()
    d["rivalries"][0]["value"] = 10**400
    msg = refused_dict(d)
    assert "rivalries[0].value" in msg and "401 digits" in msg and "0" * 100 not in msg, msg


@pytest.mark.parametrize("command", ["check", "run", "explain", "validate", "batch"])
def test_every_command_refuses_a_huge_integer_with_exit_2(tmp_path, monkeypatch, capsys, command):
    monkeypatch.delenv("MULTIVECTOR_DEBUG", raising=False)
    path, _ = teaching_with(
        tmp_path, "big.yaml", SM_POWER, f"power: {{value: {10**400}, assumption"
    )
    exp = write(tmp_path, "exp.yaml", "name: E\nscenarios: {a: big.yaml}\nreplicates: 1\nseed: 1\n")
    argv = {
        "check": ["check", str(path)],
        "run": ["run", str(path), "--out", str(tmp_path / "o")],
        "explain": ["explain", str(path), "--state", "SM", "--date", "2022-01-01"],
        "validate": ["validate", str(path), "--seeds", "2"],
        "batch": ["batch", str(exp), "--out", str(tmp_path / "b")],
    }[command]
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "big.yaml:" in err and "states.SM.power.value" in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------------------
# Dates and periods: the calendar never leaves Python's dates
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, field",
    [
        (
            "  start: 2020-01-01\n  end: 2025-12-31",
            "  start: 9999-10-01\n  end: 9999-12-31",
            "time.start",
        ),
        ("  start: 2020-01-01", "  start: 0001-01-01", "time.start"),
        ("    date: 2021-01-01", "    date: 9999-12-31", "shocks.pipeline.date"),
        ("  end: 2025-12-31", "  end: 2201-01-01", "time.end"),
        (
            "window: {start: 2020-01-01, end: 2025-12-31}",
            "window: {start: 2020-01-01, end: 9999-12-31}",
            "validation.facts[3].window.end",
        ),
    ],
    ids=["start-9999", "start-0001", "shock-9999", "end-2201", "fact-window-9999"],
)
def test_dates_outside_the_supported_range(tmp_path, old, new, field):
    path, _ = teaching_with(tmp_path, "date.yaml", old, new)
    msg = refused(path)
    assert f"field {field}: date " in msg, msg
    assert f"outside the dates a scenario may use, 1900-01-01 to {DATE_MAX}" in msg, msg


def test_probabilistic_window_near_the_end_of_time(tmp_path):
    path, _ = teaching_with(
        tmp_path,
        "win.yaml",
        "    date: 2021-01-01\n",
        '    probability: {value: 0.1, assumption: "a test"}\n'
        "    window: {start: 2021-01-01, end: 9999-12-31}\n",
    )
    assert "field shocks.pipeline.window.end: date 9999-12-31 is outside" in refused(path)


def test_too_many_periods(tmp_path):
    path, _ = teaching_with(
        tmp_path,
        "long.yaml",
        "  start: 2020-01-01\n  end: 2025-12-31\n  step: quarter",
        "  start: 1900-01-01\n  end: 2200-12-31\n  step: month",
    )
    msg = refused(path)
    assert "field time.end: the horizon holds 3,612 periods of one month" in msg, msg
    assert f"at most {MAX_PERIODS:,} periods" in msg
    d = teaching_dict()
    d["time"] = {"start": dt.date(2020, 1, 1), "steps": MAX_PERIODS + 1, "step": "year"}
    assert f"field time.steps: Input should be less than or equal to {MAX_PERIODS}" in (
        refused_dict(d)
    )


def test_the_longest_horizon_at_the_latest_start_is_computable():
    from sim.scenario import horizon, record_date

    d = teaching_dict()
    d["time"] = {"start": DATE_MAX, "steps": MAX_PERIODS, "step": "year", "burn_in": 0}
    d["shocks"] = {}
    d.pop("validation")
    scenario = scenario_from_dict(d)
    first, last = horizon(scenario.spec.time)
    assert last.year == DATE_MAX.year + MAX_PERIODS
    assert record_date(scenario.spec.time, MAX_PERIODS) == last


# --------------------------------------------------------------------------------------
# States and shocks: counts the drivers and the figures can handle
# --------------------------------------------------------------------------------------


def test_two_thousand_states_are_refused_by_check():
    d = teaching_dict()
    for k in range(2000):
        d["states"][f"X{k}"] = copy.deepcopy(d["states"]["SM"])
    msg = refused_dict(d)
    assert f"field states: a scenario has at most {MAX_STATES} states, got 2,003" in msg, msg


def with_yaml_shocks(n: int) -> str:
    """teaching.yaml with ``n`` more dated shocks (block YAML, 20 days apart)."""
    shocks = "".join(
        f"  s{k}:\n    label: shock {k}\n"
        f"    date: {dt.date(2020, 1, 1) + dt.timedelta(days=20 * k)}\n"
        '    assumption: "a test"\n    effects:\n'
        '      - {param: energy, pair: [SM, WE], op: add, value: 0.001, assumption: "a test"}\n'
        for k in range(n)
    )
    return TEACHING_TEXT.replace("\nvalidation:", shocks + "\nvalidation:")


def test_a_hundred_shocks_are_refused_by_check(tmp_path):
    text = with_yaml_shocks(100)
    path = write(tmp_path, "shocks.yaml", text)
    msg = refused(path)
    assert f"shocks.yaml:{line_of(text, 'shocks:')}: field shocks: a scenario has at most " in msg
    assert f"at most {MAX_SHOCKS} shocks, got 102" in msg, msg


def test_shocks_that_can_fire_too_often_are_refused():
    d = teaching_dict()
    d["shocks"]["often"] = {
        "label": "often",
        "probability": {"value": 0.5, "assumption": "a test"},
        "duration": 1,
        "max_fires": 200,
        "assumption": "a test",
        "effects": [effect()],
    }
    assert scenario_from_dict(d)  # 24 quarters in its window: at most 24 + 2 firings
    d["time"]["end"] = dt.date(2040, 12, 31)
    msg = refused_dict(d)
    assert "these shocks can fire up to 86 times in one run" in msg, msg
    assert f"at most {MAX_SHOCK_FIRINGS} firings" in msg


def test_the_most_firings_allowed_still_draw_a_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import sim

    d = teaching_dict()
    d["shocks"].update(dated_shocks(MAX_SHOCKS - 3))
    d["shocks"]["often"] = {
        "label": "often",
        "probability": {"value": 1.0, "assumption": "a test"},
        "duration": 1,
        "max_fires": MAX_SHOCK_FIRINGS - (MAX_SHOCKS - 1),
        "assumption": "a test",
        "effects": [effect()],
    }
    d.pop("validation")
    result = sim.run(scenario_from_dict(d), seed=1)
    assert len(result.shocks) == MAX_SHOCK_FIRINGS
    result.figure().savefig(tmp_path / "fig.png")  # used to raise "bottom cannot be >= top"


# --------------------------------------------------------------------------------------
# Experiment files: the same reading limits, dates and magnitudes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ("seed: 1" + "0" * 400 + "\n", "field seed: expected a number from"),
        ("seed: 1\ndates: [9999-12-31]\n", "field dates[0]: date 9999-12-31 is outside"),
        (
            "seed: 1\ndesign:\n  kind: lhs\n  samples: 4\n  parameters:\n"
            "    states.SM.power: {low: 1, high: 1e400}\n",
            "field design.parameters.states.SM.power.high: expected a finite number",
        ),
        (
            "seed: 1\ndesign:\n  kind: lhs\n  samples: 4\n  parameters:\n"
            "    states.SM.power: {low: 1, high: 1e300}\n",
            f"expected low and high in [-{MAX_MAGNITUDE:g}, {MAX_MAGNITUDE:g}]",
        ),
        ("seed: 1\nx: !!python/object:os.system {a: 1}\n", "tag !!python/object:os.system"),
        (BILLION_LAUGHS.replace("name: lol\n", "seed: 1\n"), "200,000 YAML nodes"),
    ],
    ids=["seed-1e400", "date-9999", "high-1e400", "high-1e300", "tag", "billion-laughs"],
)
def test_experiment_files_are_bounded_too(tmp_path, extra, fragment):
    write(tmp_path, "teaching.yaml", TEACHING_TEXT)
    path = write(
        tmp_path, "exp.yaml", "name: E\nscenarios: {a: teaching.yaml}\nreplicates: 1\n" + extra
    )
    with pytest.raises(ScenarioError) as info:
        load_experiment(path)
    assert "exp.yaml:" in str(info.value) and fragment in str(info.value), str(info.value)


# --------------------------------------------------------------------------------------
# The CLI, in a subprocess: each class once, exit 2, one message, no traceback, quickly
# --------------------------------------------------------------------------------------


def cli_cases(folder: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    cases = {}
    cases["billion-laughs"] = (write(folder, "laughs.yaml", BILLION_LAUGHS), ("200,000 YAML",))
    deep = "name: deep\na: " + "[" * 100_000 + "]" * 100_000 + "\n"
    cases["deep"] = (write(folder, "deep.yaml", deep), ("deep.yaml:2:", "64 levels"))
    top = chain(folder / "chain", 1500)
    cases["chain"] = (top, (f"c{MAX_EXTENDS_CHAIN}.yaml:1: field extends", "at most 16 files"))
    long_ref = write(folder, "long.yaml", "name: L\nextends: " + "a" * 5000 + ".yaml\n")
    cases["long-extends"] = (long_ref, ("long.yaml:2: field extends: expected a file name",))
    cases["passwd"] = (
        write(folder, "pw.yaml", "name: P\nextends: /etc/passwd\n"),
        ("pw.yaml:2: field extends: '/etc/passwd' leads outside",),
    )
    big, _ = teaching_with(folder, "big.yaml", SM_POWER, f"power: {{value: {10**400}, assumption")
    cases["huge-int"] = (big, ("states.SM.power.value: expected a number from",))
    far, _ = teaching_with(
        folder,
        "far.yaml",
        "  start: 2020-01-01\n  end: 2025-12-31",
        "  start: 9999-10-01\n  end: 9999-12-31",
    )
    cases["year-9999"] = (far, ("field time.start: date 9999-10-01 is outside",))
    strong, _ = teaching_with(folder, "strong.yaml", SM_POWER, "power: {value: 1e160, assumption")
    cases["power-1e160"] = (strong, ("expected a number in [1e-09, 1e+12], got 1e+160",))
    tagged, _ = teaching_with(folder, "tagged.yaml", "  East: [EA]", "  East: !foo [EA]")
    cases["tag"] = (tagged, ("tagged.yaml:", "tag !foo is not allowed"))
    many = with_yaml_shocks(100)
    cases["many-shocks"] = (write(folder, "many.yaml", many), ("at most 40 shocks, got 102",))
    states = "".join(
        f"  X{k}: {{name: X, power: {{value: 1, assumption: a}}, weights: {{energy: {{value: 1,"
        " assumption: a}, security: {value: 0, assumption: a}, alignment: {value: 0, "
        "assumption: a}}, autonomy: {value: 0, assumption: a}, cross_pressure: {value: 0, "
        "assumption: a}}\n"
        for k in range(2000)
    )
    crowd = TEACHING_TEXT.replace("relations:\n", states + "relations:\n", 1)
    cases["states"] = (write(folder, "crowd.yaml", crowd), ("at most 500 states, got 2,003",))
    return cases


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    return cli_cases(tmp_path_factory.mktemp("cli"))


CLI_IDS = [
    "billion-laughs",
    "deep",
    "chain",
    "long-extends",
    "passwd",
    "huge-int",
    "year-9999",
    "power-1e160",
    "tag",
    "many-shocks",
    "states",
]


@pytest.mark.parametrize("case", CLI_IDS)
def test_cli_check_refuses_with_one_clear_message(cli_files, case):
    path, fragments = cli_files[case]
    t0 = time.perf_counter()
    res = cli_check(path)
    assert time.perf_counter() - t0 < 30
    assert_one_clear_message(res, *fragments)
    if case == "passwd" and PASSWD.is_file():
        for line in PASSWD.read_text(errors="replace").splitlines():
            if len(line) > 8:
                assert line not in res.stderr and line not in res.stdout
