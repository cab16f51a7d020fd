"""The analyst's workbench (issue 14): ``new``, ``schema``, ``params``, files of the
wrong kind, and the consistency of the command line (``--version``, ``--out`` parents,
quoted dates, one progress style, ``--format csv``, ``RunResult.shocks``)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import sim
from sim.scenario.vocabulary import in_version
from sim.tools import cli
from sim.tools.cli_new import EXPERIMENT_SCHEMA, SCENARIO_SCHEMA, params_table
from tests.cli_helpers import ROOT, cli_run

TEACHING = ROOT / "scenarios" / "teaching.yaml"
BASELINE = ROOT / "scenarios" / "baseline.yaml"
GAS_DEAL = ROOT / "scenarios" / "experiments" / "gas_deal.yaml"


@pytest.fixture
def main(monkeypatch, capsys):
    """``cli.main(argv)`` in process; returns (exit code, stdout, stderr)."""
    monkeypatch.delenv("MULTIVECTOR_DEBUG", raising=False)

    def call(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


# ---- new ---------------------------------------------------------------------------


def test_new_writes_a_skeleton_that_loads_and_runs(main, tmp_path):
    out = tmp_path / "worlds" / "steppe.yaml"  # the folder is created
    code, text, err = main(
        "new", "Steppe world", "--states", "MN,RU,CN,US", "--poles", "West=US;East=RU,CN",
        "--focus", "MN", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    assert f"wrote {out}" in text
    scenario = sim.load_scenario(out)
    spec = scenario.spec
    assert spec.name == "Steppe world" and spec.focus == "MN"
    assert list(spec.states) == ["MN", "RU", "CN", "US"]
    assert spec.poles == {"West": ["US"], "East": ["RU", "CN"]}
    assert (spec.alignment_axis.toward, spec.alignment_axis.away) == ("West", "East")
    # every section, every field: all model constants, every ordered pair with every
    # parameter, one shock, one fact; every number a TODO assumption
    assert all(
        getattr(spec.model, c) is not None
        for c in in_version(sim.scenario.vocabulary.MODEL_CONSTANTS, 1)
    )
    pairs = [(i, j) for i in spec.states for j in spec.states if i != j]
    assert sorted((i, j) for i in spec.relations for j in spec.relations[i]) == sorted(pairs)
    for i, j in pairs:
        pair = spec.relations[i][j]
        assert all(
            getattr(pair, p) is not None for p in in_version(sim.scenario.vocabulary.PAIR_PARAMS, 1)
        )
    assert len(spec.shocks) == 1 and len(spec.validation.facts) == 1
    table = params_table(scenario)
    sourced = table[table["provenance"].str.startswith(("assumption", "source"))]
    assert sourced["provenance"].str.startswith("assumption: TODO").all()
    raw = out.read_text()
    assert "# observed:" in raw and "# calibration:" in raw
    # it passes check as written, and runs
    assert main("check", out)[0] == 0
    code, _, err = main("run", out, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert (tmp_path / "run" / "indices.parquet").is_file()


def test_new_refuses_to_overwrite_without_force(main, tmp_path):
    out = tmp_path / "w.yaml"
    out.write_text("# mine\n")
    code, _, err = main("new", "W", "--states", "A,B", "--out", out)
    assert code == 2 and "exists" in err and "--force" in err
    assert out.read_text() == "# mine\n"
    assert main("new", "W", "--states", "A,B", "--out", out, "--force")[0] == 0
    assert sim.load_scenario(out).state_ids == ["A", "B"]


def test_new_default_file_name_and_quoted_ids(main, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = main("new", "My World!", "--states", "NO,yes,A-1")
    assert code == 0, err
    assert sim.load_scenario(tmp_path / "my_world.yaml").state_ids == ["NO", "yes", "A-1"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--states", "A"], "at least two states"),
        (["--states", "A,A"], "given twice"),
        (["--states", "A,,B"], "an empty id"),
        (["--states", "A,B", "--poles", "West=C"], "'C' is not one of --states"),
        (["--states", "A,B", "--poles", "West=A;East=A"], "in two poles"),
        (["--states", "A,B", "--poles", "West"], "expected POLE=A,B;POLE=C"),
        (["--states", "A,B", "--focus", "C"], "--focus 'C'"),
    ],
)
def test_new_bad_arguments(main, tmp_path, args, says):
    code, _, err = main("new", "W", *args, "--out", tmp_path / "w.yaml")
    assert code == 2 and says in err, err
    assert not (tmp_path / "w.yaml").exists()


# ---- schema ------------------------------------------------------------------------


def _as_json(path: Path):
    """A YAML file as JSON would hold it (dates as text, as an editor sees them)."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


def test_schema_files_follow_the_models(main, tmp_path):
    out = tmp_path / "schemas" / "here"
    code, text, err = main("schema", "--out", out)
    assert code == 0, err
    assert "yaml-language-server: $schema=" in text
    scenario = json.loads((out / SCENARIO_SCHEMA).read_text())
    experiment = json.loads((out / EXPERIMENT_SCHEMA).read_text())
    full = scenario["else"]
    assert set(sim.scenario.ScenarioSpec.model_fields) <= set(full["properties"])
    assert {"extends", "remove_shocks"} <= set(full["properties"])
    assert set(full["required"]) == {"name", "time", "states"}
    assert full["additionalProperties"] is False
    assert "Sourced" in scenario["$defs"] and "TimeSpec" in scenario["$defs"]
    from sim.batch.experiment import ExperimentSpec

    assert set(experiment["properties"]) == set(ExperimentSpec.model_fields)
    assert set(experiment["required"]) == {"name", "scenarios", "replicates", "seed"}
    # existing files are not replaced without --force
    code, _, err = main("schema", "--out", out)
    assert code == 2 and "exists" in err
    assert main("schema", "--out", out, "--force")[0] == 0


def test_shipped_files_validate_against_the_schemas(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from sim.tools.cli_new import json_schemas

    schemas = json_schemas()
    validator = jsonschema.Draft202012Validator
    scenario = validator(schemas[SCENARIO_SCHEMA])
    experiment = validator(schemas[EXPERIMENT_SCHEMA])
    validator.check_schema(schemas[SCENARIO_SCHEMA])
    for path in sorted(
        [*(ROOT / "scenarios").glob("*.yaml"), *(ROOT / "scenarios").glob("model2/*.yaml")]
    ):
        errors = [e.message for e in scenario.iter_errors(_as_json(path))]
        assert errors == [], (path.name, errors[:3])
    for path in sorted((ROOT / "scenarios" / "experiments").glob("*.yaml")):
        errors = [e.message for e in experiment.iter_errors(_as_json(path))]
        assert errors == [], (path.name, errors[:3])
    # and they catch mistakes: a misspelt field, a bare number, the wrong kind of file
    bad = _as_json(BASELINE)
    bad["states"]["AZ"]["powr"] = bad["states"]["AZ"].pop("power")
    assert not scenario.is_valid(bad)
    bare = _as_json(BASELINE)
    bare["states"]["AZ"]["autonomy"] = 0.5
    assert not scenario.is_valid(bare)
    assert not experiment.is_valid(_as_json(BASELINE))
    assert not scenario.is_valid(_as_json(GAS_DEAL))


# ---- params ------------------------------------------------------------------------


def test_params_lists_every_number_with_path_and_line(main, tmp_path):
    csv = tmp_path / "params.csv"
    code, text, err = main("params", BASELINE, "--csv", csv)
    assert code == 0, err
    table = pd.read_csv(csv)
    scenario = sim.load_scenario(BASELINE)
    paths = set(table["path"])
    # every uncertain input (the numbers with a range) and every number without one
    assert set(sim.scenario.prior_table(scenario)["path"]) <= paths
    assert {"states.AZ.weights.energy", "model.tie_cost", "time.burn_in"} <= paths
    assert "validation.seeds" in paths
    assert len(table) > len(sim.scenario.prior_table(scenario))
    row = table.set_index("path").loc["states.AZ.weights.energy"]
    lines = BASELINE.read_text().splitlines()
    f, line = row["where"].rsplit(":", 1)
    assert f == "scenarios/baseline.yaml"
    assert "energy:" in lines[int(line) - 1]
    assert row["value"] == scenario.spec.states["AZ"].weights.energy.value
    assert row["provenance"].startswith(("assumption: ", "source: "))
    assert "states.AZ.weights.energy" in text
    # the paths are override paths
    changed = sim.with_overrides(scenario, {"states.RU.power": 0.2, "relations.AZ.RU.energy": 0.1})
    assert changed.spec.states["RU"].power.value == 0.2
    # a refused --csv over an existing file
    code, _, err = main("params", BASELINE, "--csv", csv)
    assert code == 2 and "exists" in err


def test_params_names_defaults_of_a_file_that_leaves_them_out(tmp_path):
    table = params_table(sim.load_scenario(TEACHING)).set_index("path")
    assert table.loc["model.tie_cost", "provenance"] == "default"
    assert table.loc["model.tie_cost", "where"] == "(default)"
    assert table.loc["model.tie_cost", "value"] == 0.2
    assert table.loc["rivalries.0.value", "low"] == 0.55


# ---- the wrong kind of file --------------------------------------------------------


def test_batch_of_a_scenario_says_it_is_a_scenario(tmp_path):
    res = cli_run("batch", str(TEACHING.relative_to(ROOT)), "--out", str(tmp_path / "b"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "scenarios/teaching.yaml: is a scenario file (it has `states:`" in lines[0]
    assert "not an experiment file: `multivector batch` runs experiments" in lines[0]
    assert "scenarios/experiments/README.md" in lines[0] and "`multivector run`" in lines[0]
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("command", ["run", "check", "validate", "explain", "params"])
def test_scenario_commands_on_an_experiment_say_it_is_an_experiment(main, tmp_path, command):
    extra = {
        "run": ["--out", tmp_path / "r"],
        "explain": ["--state", "AZ", "--date", "2022-01-01"],
    }.get(command, [])
    code, _, err = main(command, GAS_DEAL, *extra)
    assert code == 2
    assert err.count("\n") == 1, err
    assert "is an experiment file (it has `scenarios:`" in err
    assert "not a scenario file" in err and "multivector batch" in err


def test_the_api_reports_the_wrong_kind_too(tmp_path):
    from sim.batch import load_experiment

    with pytest.raises(sim.ScenarioError, match="is a scenario file"):
        load_experiment(TEACHING)
    with pytest.raises(sim.ScenarioError, match="is an experiment file"):
        sim.load_scenario(GAS_DEAL)


# ---- consistency -------------------------------------------------------------------


def test_version(tmp_path):
    res = cli_run("--version")
    assert res.returncode == 0, res.stderr
    from importlib import metadata

    assert res.stdout.startswith(f"multivector {metadata.version('multivector')}")
    from sim.outputs.manifest import versions

    commit = versions()["git_commit"]
    if commit:
        assert f"(git {commit.split('+')[0]}" in res.stdout


def test_out_creates_missing_parents(main, tmp_path):
    out = tmp_path / "a" / "b" / "run"
    assert main("run", TEACHING, "--out", out, "--quiet")[0] == 0
    assert (out / "manifest.json").is_file()
    ens = tmp_path / "c" / "d" / "ens"
    assert main("run", TEACHING, "--replicates", "3", "--out", ens, "--quiet")[0] == 0
    assert (ens / "shocks.parquet").is_file()


def test_batch_out_creates_missing_parents(main, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: tiny\nscenarios:\n  base: {TEACHING}\nreplicates: 2\nseed: 1\ndates: [2025-12-31]\n"
    )
    out = tmp_path / "x" / "y" / "batch"
    code, _, err = main("batch", exp, "--out", out, "--workers", "1", "--quiet")
    assert code == 0, err
    assert (out / "manifest.json").is_file()


def test_out_under_a_file_is_refused_clearly(main, tmp_path):
    (tmp_path / "f").write_text("x")
    code, _, err = main("run", TEACHING, "--out", tmp_path / "f" / "sub" / "out", "--quiet")
    assert code == 2
    assert "is not a directory" in err and str(tmp_path / "f") in err


def test_a_failed_write_removes_the_parents_it_made(tmp_path):
    from sim.outputs.files import atomic_dir

    out = tmp_path / "p" / "q" / "out"
    with pytest.raises(RuntimeError), atomic_dir(out):
        raise RuntimeError("the run failed")
    assert not (tmp_path / "p").exists()


def test_a_quoted_date_says_to_remove_the_quotes(main, tmp_path):
    text = TEACHING.read_text().replace("  start: 2020-01-01", '  start: "2020-01-01"')
    path = tmp_path / "q.yaml"
    path.write_text(text)
    code, _, err = main("check", path)
    assert code == 2
    assert "field time.start" in err
    assert "a date written in quotes is text: write 2020-01-01 without quotes" in err


def test_one_progress_style_plain_lines_off_a_terminal(capsys):
    update = cli.progress_callback("validate", unit="seed")
    for done in (5, 10):
        update(done, 10)
    err = capsys.readouterr().err
    assert "validate: 10/10 seeds (100%)" in err
    assert "batch" not in err


def test_the_rate_counts_from_the_start_of_the_work(capsys):
    """A first chunk that is the whole work took the time since the callback was made,
    not none (a validate panel of one chunk showed millions of runs a second)."""
    update = cli.progress_callback("validate", unit="seed")
    time.sleep(0.1)
    update(10, 10)
    err = capsys.readouterr().err
    rate = float(re.search(r"([0-9.]+) seeds/s", err).group(1))
    assert 0 < rate <= 100.0, err


def test_the_bar_on_a_terminal_counts_from_the_start_of_the_work(monkeypatch):
    """The same on a terminal: tqdm's bar, made at the first chunk, counts the time since
    the callback was made (on tqdm's own clock)."""
    import io

    from sim.batch.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    bars = []
    monkeypatch.setattr(Progress, "close", lambda self: bars.append(self.bar.format_dict))
    update = cli.progress_callback("validate", unit="seed")
    time.sleep(0.1)
    update(10, 10)
    assert 0.1 <= bars[0]["elapsed"] < 5.0
    assert bars[0]["unit"] == "seed"


def test_run_format_csv(main, tmp_path):
    pq, csv = tmp_path / "pq", tmp_path / "csv"
    assert main("run", TEACHING, "--seed", "3", "--out", pq, "--quiet")[0] == 0
    assert main("run", TEACHING, "--seed", "3", "--out", csv, "--format", "csv", "--quiet")[0] == 0
    assert sorted(p.name for p in csv.iterdir()) == [
        "alignment.png",
        "indices.csv",
        "manifest.json",
        "ties.csv",
    ]
    for name in ("ties", "indices"):
        a = pd.read_parquet(pq / f"{name}.parquet")
        b = pd.read_csv(csv / f"{name}.csv")
        assert list(a.columns) == list(b.columns)
        assert len(a) == len(b)
        assert (a["date"].dt.strftime("%Y-%m-%d") == b["date"]).all()
    assert json.loads((csv / "manifest.json").read_text())["table_format"] == "csv"
    # an earlier csv run is replaced like an earlier parquet run
    assert main("run", TEACHING, "--seed", "4", "--out", csv, "--format", "csv", "--quiet")[0] == 0


def test_replicates_format_csv(main, tmp_path):
    out = tmp_path / "ens"
    code, text, err = main(
        "run", TEACHING, "--replicates", "4", "--keep", "ties", "--out", out, "--format", "csv"
    )
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["alignment.png", "indices.csv", "manifest.json", "shocks.csv", "ties.csv"]
    ens = sim.run_ensemble(TEACHING, seeds=4, keep="ties")
    indices = pd.read_csv(out / "indices.csv")
    assert len(indices) == len(ens.indices)
    assert list(indices.columns) == list(ens.indices.columns)
    assert sorted(indices["replicate"].unique()) == [0, 1, 2, 3]  # one header, every chunk
    shocks = pd.read_csv(out / "shocks.csv")
    assert list(shocks.columns) == list(ens.shocks.columns) and len(shocks) == len(ens.shocks)
    assert "shocks.csv" in text


def test_run_result_shocks_is_the_ensemble_table_of_one_replicate():
    seed = 11
    result = sim.run(BASELINE, seed=seed)
    ens = sim.run_ensemble(BASELINE, seeds=[seed])
    assert isinstance(result.shocks, pd.DataFrame)
    assert list(result.shocks.columns) == [c for c in ens.shocks.columns if c != "replicate"]
    mine = result.shocks.astype(str).reset_index(drop=True)
    theirs = ens.shocks.drop(columns="replicate").astype(str).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, theirs)
    assert (result.shocks["kind"] == "probabilistic").any() or len(result.shocks) > 0
    events = result.shock_events()
    assert [e["id"] for e in events] == list(result.shocks["id"].astype(str))
    assert result.manifest()["shocks_fired"] == events
