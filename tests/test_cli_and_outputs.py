"""The command line and the outputs of a run: tables, manifest, plot; the Python API.

Subprocess calls (about 2 s each) are shared through module-scoped fixtures; everything
else runs in process (a baseline run takes about 0.2 s).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.scenario import n_periods

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline.yaml"
NO_WAR = SCENARIOS / "counterfactual_no_ukraine_war.yaml"
ALL_SCENARIOS = sorted([*SCENARIOS.glob("*.yaml"), *SCENARIOS.glob("model2/*.yaml")])
COUNTERFACTUALS = sorted(SCENARIOS.glob("counterfactual_*.yaml"))
OUTPUTS = {"ties.parquet", "indices.parquet", "manifest.json", "alignment.png"}

TIES_COLUMNS = ["seed", "step", "date", "state", "partner", "tie"]
INDICES_COLUMNS = [
    "seed",
    "step",
    "date",
    "state",
    "alignment_index",
    "hedging_index",
    "energy",
    "security",
    "alignment",
    "cost",
    "utility",
]
BASELINE_STEPS = 53  # steps 0..52: 2017-12-31, then the last day of each quarter to 2030Q4
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MULTIVECTOR_DEBUG"}
    env["MPLBACKEND"] = "Agg"
    return env


def run_cmd(*cmd: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(cmd), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=_env()
    )


def multivector_exe() -> str:
    """The `multivector` console script of the interpreter running the tests."""
    exe = Path(sys.executable).parent / "multivector"
    if exe.exists():
        return str(exe)
    found = shutil.which("multivector")
    if found is None:
        pytest.skip("the multivector console script is not installed")
    return found


# --------------------------------------------------------------------------------------
# Subprocess runs, shared
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory) -> Path:
    """`multivector run scenarios/baseline.yaml --seed 7 --out DIR`."""
    out = tmp_path_factory.mktemp("cli") / "baseline_seed7"
    res = run_cmd(
        multivector_exe(), "run", "scenarios/baseline.yaml", "--seed", "7", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "wrote" in res.stdout and "AZ" in res.stdout  # the summary of the focus state
    return out


@pytest.fixture(scope="module")
def module_out(tmp_path_factory) -> Path:
    """The same run through `python -m sim`."""
    out = tmp_path_factory.mktemp("module") / "baseline_seed7"
    res = run_cmd(
        sys.executable,
        "-m",
        "sim",
        "run",
        "scenarios/baseline.yaml",
        "--seed",
        "7",
        "--out",
        str(out),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""  # --quiet
    return out


@pytest.fixture(scope="module")
def baseline_seed7() -> sim.RunResult:
    return sim.run(BASELINE, seed=7)


# --------------------------------------------------------------------------------------
# multivector run: the files
# --------------------------------------------------------------------------------------


def test_run_writes_the_four_outputs(cli_out):
    assert {p.name for p in cli_out.iterdir()} == OUTPUTS
    # nothing temporary left beside it
    assert [p.name for p in cli_out.parent.iterdir()] == [cli_out.name]


def test_ties_table(cli_out):
    ties = pd.read_parquet(cli_out / "ties.parquet")
    assert list(ties.columns) == TIES_COLUMNS
    ids = sim.load_scenario(BASELINE).state_ids
    n = len(ids)
    assert n == 9
    assert len(ties) == BASELINE_STEPS * n * (n - 1)
    assert not ties.duplicated(["step", "state", "partner"]).any()
    assert (ties["state"].astype(str) != ties["partner"].astype(str)).all()
    per_step = ties.groupby("step").size()
    assert list(per_step.index) == list(range(BASELINE_STEPS))
    assert (per_step == n * (n - 1)).all()
    assert set(ties["state"].astype(str)) == set(ids)
    assert set(ties["partner"].astype(str)) == set(ids)
    assert (ties["seed"] == 7).all()
    assert ties["tie"].between(-1, 1).all() and not ties["tie"].isna().any()
    dates = pd.to_datetime(ties["date"])
    assert dates.min() == pd.Timestamp("2017-12-31")
    assert dates.max() == pd.Timestamp("2030-12-31")
    # each step has one date, the last day of a quarter, increasing with the step
    step_dates = ties.groupby("step")["date"].agg(["min", "max"])
    assert (step_dates["min"] == step_dates["max"]).all()
    d = pd.to_datetime(step_dates["min"])
    assert d.is_monotonic_increasing and d.is_unique
    assert all(x.is_quarter_end for x in d)


def test_indices_table(cli_out):
    ix = pd.read_parquet(cli_out / "indices.parquet")
    assert list(ix.columns) == INDICES_COLUMNS
    n = 9
    assert len(ix) == BASELINE_STEPS * n
    assert not ix.duplicated(["step", "state"]).any()
    assert sorted(ix["step"].unique()) == list(range(BASELINE_STEPS))
    assert (ix["seed"] == 7).all()
    dates = pd.to_datetime(ix["date"])
    assert dates.min() == pd.Timestamp("2017-12-31")
    assert dates.max() == pd.Timestamp("2030-12-31")
    numeric = ix[INDICES_COLUMNS[5:]]
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    # the alignment index is defined for AZ (the baseline has an axis); it is NaN only for a
    # state that is the whole of one end of the axis (its own entry is excluded)
    align = ix["alignment_index"]
    assert align[ix["state"] == "AZ"].notna().all()
    assert align.dropna().between(-2, 2).all()
    assert set(ix.loc[align.isna(), "state"].astype(str)) <= {"RU"}


def test_manifest(cli_out):
    m = json.loads((cli_out / "manifest.json").read_text(encoding="utf-8"))
    scenario = sim.load_scenario(BASELINE)
    assert m["seed"] == 7
    assert re.fullmatch(r"[0-9a-f]{64}", m["scenario"]["content_hash"])
    assert m["scenario"]["content_hash"] == scenario.content_hash
    assert m["scenario"]["name"] == scenario.name
    params = m["resolved_parameters"]
    assert isinstance(params, dict) and params
    versions = m["versions"]
    for pkg in ("python", "mesa", "numpy", "pandas", "pyarrow", "matplotlib", "pydantic"):
        assert versions.get(pkg), f"manifest lacks the version of {pkg}"
    assert versions["numpy"] == np.__version__
    import mesa

    assert versions["mesa"] == mesa.__version__
    assert isinstance(m["wall_time_s"], int | float) and 0 <= m["wall_time_s"] < 60
    assert m["shocks_off"] == []
    fired = {s["id"] for s in m["shocks_fired"]}
    assert {"ukraine_war", "gas_memorandum"} <= fired


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_is_a_real_png(cli_out):
    data = (cli_out / "alignment.png").read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 10_000 < len(data) < 10_000_000
    width, height = _png_size(data)
    assert 300 <= width <= 6000 and 200 <= height <= 6000


def test_python_m_sim_matches_the_console_script(cli_out, module_out):
    assert {p.name for p in module_out.iterdir()} == OUTPUTS
    for name in ("ties.parquet", "indices.parquet"):
        a = pd.read_parquet(cli_out / name)
        b = pd.read_parquet(module_out / name)
        pd.testing.assert_frame_equal(a, b)
    ma = json.loads((cli_out / "manifest.json").read_text(encoding="utf-8"))
    mb = json.loads((module_out / "manifest.json").read_text(encoding="utf-8"))
    assert ma["scenario"]["content_hash"] == mb["scenario"]["content_hash"]
    assert ma["resolved_parameters"] == mb["resolved_parameters"]
    assert (module_out / "alignment.png").read_bytes()[:8] == PNG_MAGIC


def test_cli_tables_equal_the_in_process_run(cli_out, baseline_seed7):
    ties = pd.read_parquet(cli_out / "ties.parquet")
    r = baseline_seed7.ties
    assert len(ties) == len(r)
    np.testing.assert_array_equal(ties["tie"].to_numpy(), r["tie"].to_numpy())
    assert list(ties["state"].astype(str)) == list(r["state"].astype(str))
    assert list(ties["partner"].astype(str)) == list(r["partner"].astype(str))


# --------------------------------------------------------------------------------------
# explain and check
# --------------------------------------------------------------------------------------


def test_explain_names_every_partner_of_az():
    res = run_cmd(
        multivector_exe(),
        "explain",
        "scenarios/baseline.yaml",
        "--seed",
        "7",
        "--state",
        "AZ",
        "--date",
        "2022-09-30",
    )
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    out = res.stdout
    assert "AZ" in out and "2022-09-30" in out  # the period of the date, ending 2022-09-30
    partners = [s for s in sim.load_scenario(BASELINE).state_ids if s != "AZ"]
    assert len(partners) == 8
    for p in partners:
        assert re.search(rf"^{p}\s", out, re.MULTILINE), f"partner {p} missing:\n{out}"


def test_check_all_shipped_scenarios():
    res = run_cmd(multivector_exe(), "check", *(str(p.relative_to(ROOT)) for p in ALL_SCENARIOS))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    for p in ALL_SCENARIOS:
        assert f"{p.relative_to(ROOT)}: ok" in res.stdout


# --------------------------------------------------------------------------------------
# Every shipped scenario runs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=[p.stem for p in ALL_SCENARIOS])
def test_every_scenario_runs(path):
    result = sim.run(path, seed=1)
    scenario = result.scenario
    n = len(scenario.state_ids)
    steps = n_periods(scenario.spec.time) + 1
    ties, ix = result.ties, result.indices
    assert list(ties.columns) == TIES_COLUMNS
    assert list(ix.columns) == INDICES_COLUMNS
    assert len(ties) == steps * n * (n - 1)
    assert len(ix) == steps * n
    assert not ties.duplicated(["step", "state", "partner"]).any()
    assert sorted(ties["step"].unique()) == list(range(steps))
    assert not ties["tie"].isna().any()
    assert ties["tie"].between(-1, 1).all()
    assert (ties["seed"] == 1).all() and (ix["seed"] == 1).all()
    assert not ix["hedging_index"].isna().any()


def test_baseline_has_53_steps_and_teaching_25(baseline_seed7):
    assert baseline_seed7.ties["step"].nunique() == BASELINE_STEPS
    teaching = sim.run(SCENARIOS / "teaching.yaml", seed=0)
    assert teaching.ties["step"].nunique() == 25  # 2020Q1..2025Q4 plus step 0
    assert len(teaching.ties) == 25 * 3 * 2


# --------------------------------------------------------------------------------------
# Counterfactuals
# --------------------------------------------------------------------------------------


def test_no_ukraine_war_removes_the_war_and_the_memorandum():
    base = sim.load_scenario(BASELINE)
    cf = sim.load_scenario(NO_WAR)
    assert {"ukraine_war", "gas_memorandum"} <= set(base.spec.shocks)
    assert "ukraine_war" not in cf.spec.shocks
    assert "gas_memorandum" not in cf.spec.shocks
    # the rest is the baseline, unchanged
    assert set(cf.spec.shocks) == set(base.spec.shocks) - {"ukraine_war", "gas_memorandum"}
    for sid, shock in cf.spec.shocks.items():
        assert shock == base.spec.shocks[sid]
    assert cf.spec.states == base.spec.states
    assert cf.name != base.name
    assert cf.content_hash != base.content_hash


def _first_changed_date(base, cf) -> dt.date:
    """The earliest date of a baseline shock that the counterfactual removes or changes."""
    changed = [
        s
        for sid, s in base.spec.shocks.items()
        if sid not in cf.spec.shocks or cf.spec.shocks[sid] != s
    ]
    added = [s for sid, s in cf.spec.shocks.items() if sid not in base.spec.shocks]
    assert changed or added, "a counterfactual that changes no shock"
    return min(s.date or s.window.start for s in changed + added)


def _extended(path: Path) -> Path:
    """The scenario a counterfactual file extends (its `extends:` line)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("extends:"):
            return path.parent / line.split(":", 1)[1].strip()
    raise AssertionError(f"{path.name}: a counterfactual that extends nothing")


@pytest.mark.parametrize("path", COUNTERFACTUALS, ids=[p.stem for p in COUNTERFACTUALS])
def test_common_random_numbers_before_the_first_removed_shock(path, baseline_seed7):
    parent = _extended(path)
    base = baseline_seed7 if parent.name == "baseline.yaml" else sim.run(parent, seed=7)
    cf = sim.run(path, seed=7)
    first = _first_changed_date(base.scenario, cf.scenario)
    assert cf.scenario.spec.time == base.scenario.spec.time
    assert cf.scenario.spec.states == base.scenario.spec.states
    before_b = base.ties[base.ties["date"] < pd.Timestamp(first)]
    before_c = cf.ties[cf.ties["date"] < pd.Timestamp(first)]
    assert len(before_b) > 0
    pd.testing.assert_frame_equal(before_b.reset_index(drop=True), before_c.reset_index(drop=True))
    assert len(base.ties) == len(cf.ties)


def test_no_ukraine_war_diverges_after_the_invasion(baseline_seed7):
    cf = sim.run(NO_WAR, seed=7)
    war = pd.Timestamp(baseline_seed7.scenario.spec.shocks["ukraine_war"].date)
    after_b = baseline_seed7.ties[baseline_seed7.ties["date"] >= war]
    after_c = cf.ties[cf.ties["date"] >= war]
    assert not np.array_equal(after_b["tie"].to_numpy(), after_c["tie"].to_numpy())


def test_same_seed_same_run_different_seed_different_run(baseline_seed7):
    again = sim.run(BASELINE, seed=7)
    pd.testing.assert_frame_equal(again.ties, baseline_seed7.ties)
    pd.testing.assert_frame_equal(again.indices, baseline_seed7.indices)
    other = sim.run(BASELINE, seed=8)
    assert not np.array_equal(other.ties["tie"].to_numpy(), baseline_seed7.ties["tie"].to_numpy())


# --------------------------------------------------------------------------------------
# The Python API (sim/__init__.py)
# --------------------------------------------------------------------------------------


def test_api_load_and_run(baseline_seed7):
    scenario = sim.load_scenario(str(BASELINE))
    assert isinstance(scenario, sim.Scenario)
    assert "AZ" in scenario.state_ids
    result = sim.run(scenario, seed=7)
    assert isinstance(result, sim.RunResult)
    assert result.seed == 7
    pd.testing.assert_frame_equal(result.ties, baseline_seed7.ties)  # a path or a Scenario
    assert isinstance(result.ties, pd.DataFrame) and isinstance(result.indices, pd.DataFrame)
    assert result.manifest()["scenario"]["content_hash"] == scenario.content_hash


def test_api_figure_is_a_matplotlib_figure(baseline_seed7):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = baseline_seed7.figure()
    try:
        assert isinstance(fig, Figure)
        assert fig.axes
    finally:
        plt.close(fig)


def test_api_save(tmp_path, baseline_seed7):
    out = baseline_seed7.save(tmp_path / "api_out")
    assert Path(out) == tmp_path / "api_out"
    assert {p.name for p in Path(out).iterdir()} == OUTPUTS
    ties = pd.read_parquet(Path(out) / "ties.parquet")
    np.testing.assert_array_equal(ties["tie"].to_numpy(), baseline_seed7.ties["tie"].to_numpy())
    m = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    assert m["seed"] == 7
    assert (Path(out) / "alignment.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api_out"]


def test_api_model_and_explain():
    scenario = sim.load_scenario(BASELINE)
    model = sim.BalancingModel(scenario, rng=7)
    model.step()
    model.step()
    assert model.period == 2
    m, table = sim.explain(scenario, seed=7, state="AZ", date=dt.date(2022, 9, 30))
    assert isinstance(m, sim.BalancingModel)
    assert isinstance(table, pd.DataFrame)
    assert set(table["partner"].astype(str)) == set(scenario.state_ids) - {"AZ"}
    assert table["chosen"].groupby(table["partner"].astype(str)).sum().eq(1).all()


def test_api_shocks_off_is_recorded(tmp_path):
    result = sim.run(BASELINE, seed=7, shocks_off=["ukraine_war"])
    assert result.manifest()["shocks_off"] == ["ukraine_war"]
    assert "ukraine_war" not in set(result.shocks["id"].astype(str))


def test_check_verbose_lists_states_and_shock_ids():
    import contextlib
    import io

    from sim.tools.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["check", "-v", str(ROOT / "scenarios" / "counterfactual_gas_deal_fails.yaml")])
    out = buf.getvalue()
    assert rc == 0
    assert "AZ (Azerbaijan)" in out
    assert "shock ukraine_war" in out and "gas_memorandum" not in out
    assert "p=0.03/step" in out
