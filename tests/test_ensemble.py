"""The ensemble driver equals the Mesa model, replicate for replicate, bit for bit."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest
from worlds import blume_world, build, teaching_dict

import sim
from sim.drivers.engine import model_generator
from sim.drivers.ensemble import run_ensemble
from sim.drivers.model import BalancingModel
from sim.errors import UserError
from sim.scenario import with_overrides

SCENARIOS = sorted(
    str(p) for p in [*Path("scenarios").glob("*.yaml"), *Path("scenarios/model2").glob("*.yaml")]
)


def child(k: int) -> np.random.SeedSequence:
    """The k-th child of a root seed, as ``SeedSequence(2026).spawn`` would make it."""
    return np.random.SeedSequence(2026, spawn_key=(k,))


def mesa_tables(scenario, seed, shocks_off=()):
    m = BalancingModel(scenario, rng=seed, shocks_off=shocks_off, agent_data=False).run()
    return m.ties_table(), m.indices_table(), list(m.shock_log)


def replicate(result, k: int, table: str) -> pd.DataFrame:
    t = getattr(result, table)
    return t[t["replicate"] == k].drop(columns=["replicate", "seed"]).reset_index(drop=True)


def assert_same_as_mesa(result, k, scenario, seed, shocks_off=()):
    ties, ix, log = mesa_tables(scenario, seed, shocks_off)
    pd.testing.assert_frame_equal(
        replicate(result, k, "ties"), ties.drop(columns="seed"), check_exact=True
    )
    pd.testing.assert_frame_equal(
        replicate(result, k, "indices"), ix.drop(columns="seed"), check_exact=True
    )
    fired = result.shocks[result.shocks["replicate"] == k]
    assert list(zip(fired["period"], fired["id"].astype(str), strict=True)) == log


@pytest.mark.parametrize("seed", [0, 7, 2**40, child(0)], ids=str)
def test_model_generator_is_mesas(seed):
    """The ensemble starts each replicate's draws where mesa.Model leaves its generator."""
    ref = mesa.Model(rng=seed).rng.bit_generator.state
    assert model_generator(seed).bit_generator.state == ref


@pytest.mark.parametrize("path", SCENARIOS)
def test_every_replicate_equals_its_mesa_run(path):
    """For every shipped scenario: int and SeedSequence seeds, chunks that split the
    replicates, probabilistic shocks that fire in some replicates only."""
    scenario = sim.load_scenario(path)
    seeds = [0, 1, 2, 19, 123456789, child(0), child(1), child(7)]
    result = run_ensemble(scenario, seeds, keep="ties", chunk_size=3)
    assert result.n == len(seeds)
    for k, seed in enumerate(seeds):
        assert_same_as_mesa(result, k, scenario, seed)
    assert result.replicates["seed"].tolist() == [0, 1, 2, 19, 123456789, -1, -1, -1]
    assert result.replicates["spawn_key"].tolist()[-3:] == [[0], [1], [7]]
    assert set(result.replicates["entropy"].iloc[-3:]) == {"2026"}


def test_probabilistic_shocks_fire_per_replicate():
    """Across 40 replicates the baseline's probabilistic shocks fire in some and not in
    others, each as its own Mesa run would have it."""
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    result = run_ensemble(scenario, 40, keep="ties")
    prob = result.shocks[result.shocks["kind"] == "probabilistic"]
    fired_in = prob.groupby("id", observed=True)["replicate"].nunique()
    assert ((fired_in > 0) & (fired_in < 40)).any()
    split = sorted(set(prob["replicate"]))[:2] + sorted(set(range(40)) - set(prob["replicate"]))[:1]
    for k in split:
        assert_same_as_mesa(result, k, scenario, k)


def test_sweep_points_equal_mesa_runs_of_the_overridden_scenarios():
    """Replicates with different parameters (stacked) and one that changes the structure
    (the tie step: run as a separate stack) each equal the overridden scenario's run."""
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    points = [
        None,
        {"states.AZ.weights.energy": 0.45, "states.AZ.weights.security": 0.35},
        {"model.tie_cost": 0.25, "rivalries.0.value": 0.7},
        {"model.delta": 0.1},
    ]
    overrides = [points[k % 4] for k in range(8)]
    seeds = [5, 5, 5, 5, 6, 7, 8, 9]
    result = run_ensemble(scenario, seeds, overrides=overrides, keep="ties", chunk_size=3)
    for k in range(8):
        ov = overrides[k]
        assert_same_as_mesa(result, k, with_overrides(scenario, ov) if ov else scenario, seeds[k])
    reps = result.replicates
    assert reps["point"].tolist() == [0, 1, 2, 3] * 2
    assert reps["model.delta"].iloc[3] == 0.1 and np.isnan(reps["model.delta"].iloc[0])
    # the same seed with different parameters gives different paths
    a, b = replicate(result, 0, "ties")["tie"], replicate(result, 1, "ties")["tie"]
    assert not np.array_equal(a, b)


def test_small_worlds_with_grid_candidates_and_one_at_a_time_updating():
    """The other candidate and update modes go through the same functions."""
    scenario = build(blume_world(steps=30, burn_in=5))
    result = run_ensemble(scenario, [1, 2, 3], keep="ties", chunk_size=2)
    for k, seed in enumerate([1, 2, 3]):
        assert_same_as_mesa(result, k, scenario, seed)


def test_shocks_off_and_pinned_ties():
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    off = ("ukraine_war", "gas_memorandum")
    result = run_ensemble(scenario, [3, 4], keep="ties", shocks_off=off)
    for k, seed in enumerate([3, 4]):
        assert_same_as_mesa(result, k, scenario, seed, off)
    assert "ukraine_war" not in set(result.shocks["id"].astype(str))


def test_results_do_not_depend_on_chunking_or_order():
    scenario = sim.load_scenario("scenarios/teaching.yaml")
    one = run_ensemble(scenario, [4, 8, 15, 16, 23], chunk_size=1)
    all_ = run_ensemble(scenario, [4, 8, 15, 16, 23])
    pd.testing.assert_frame_equal(one.indices, all_.indices, check_exact=True)
    rev = run_ensemble(scenario, [23, 16, 15, 8, 4], chunk_size=2)
    for k in range(5):
        a = replicate(all_, k, "indices")
        b = replicate(rev, 4 - k, "indices")
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_selected_dates_are_the_full_tables_filtered():
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    full = run_ensemble(scenario, 4, keep="ties")
    dates = [dt.date(2017, 12, 31), dt.date(2022, 6, 1), "2030-12-31"]
    part = run_ensemble(scenario, 4, keep="ties", dates=dates)
    steps = [0, full.world.step_of(dt.date(2022, 6, 1)), full.world.n_periods]
    assert sorted(part.indices["step"].unique()) == steps
    for table in ("indices", "ties"):
        want = getattr(full, table)
        want = want[want["step"].isin(steps)].reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(part, table), want, check_exact=True)
    assert (
        part.indices["date"]
        .dt.date.isin([dt.date(2017, 12, 31), dt.date(2022, 6, 30), dt.date(2030, 12, 31)])
        .all()
    )


def test_indices_only_by_default_and_identical_seeds_identical_replicates():
    scenario = sim.load_scenario("scenarios/teaching.yaml")
    result = run_ensemble(scenario, [9, np.int64(9)])
    assert result.ties is None
    pd.testing.assert_frame_equal(replicate(result, 0, "indices"), replicate(result, 1, "indices"))
    _, ix, _ = mesa_tables(scenario, np.int64(9))
    pd.testing.assert_frame_equal(replicate(result, 1, "indices"), ix.drop(columns="seed"))


def test_every_replicate_is_independent_of_the_others():
    """Replicate k's path does not depend on which other replicates run beside it."""
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    alone = run_ensemble(scenario, [11], keep="ties")
    crowd = run_ensemble(scenario, [1, 2, 11, 3], keep="ties")
    pd.testing.assert_frame_equal(
        replicate(alone, 0, "ties"), replicate(crowd, 2, "ties"), check_exact=True
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"seeds": [1, -2]},
            "seeds[1]: expected a whole number >= 0 or a numpy SeedSequence, got -2",
        ),
        ({"seeds": [1.5]}, "seeds[0]: expected a whole number"),
        ({"seeds": [True]}, "seeds[0]: expected a whole number"),
        ({"seeds": 0}, "seeds: expected at least 1 replicate"),
        ({"seeds": []}, "seeds: expected at least one seed"),
        ({"seeds": 2, "keep": "everything"}, "keep: expected one of indices, ties"),
        (
            {"seeds": 2, "overrides": [None]},
            "overrides: expected one mapping (or None) per seed, 2 in all; got 1",
        ),
        (
            {"seeds": 1, "dates": ["2040-01-01"]},
            "dates: 2040-01-01 is outside the scenario's records",
        ),
        (
            {"seeds": 1, "shocks_off": ["pipelin"]},
            "(did you mean 'pipeline'?); the shocks are: pipeline, base_closes",
        ),
        ({"seeds": 1, "overrides": [{"states.SM.weights.energy": 0.9}]}, "must sum to 1"),
        (
            {"seeds": 1, "overrides": [{"time.end": dt.date(2026, 12, 31)}]},
            "change the scenario's time axis",
        ),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    scenario = build(teaching_dict())
    with pytest.raises(UserError) as err:
        run_ensemble(scenario, **kwargs)
    assert message in str(err.value)


# --------------------------------------------------------------------------------------
# multivector run --replicates
# --------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MULTIVECTOR_DEBUG"}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def replicates_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ens") / "baseline_x30"
    res = run_cli(
        "run",
        "scenarios/baseline.yaml",
        "--replicates",
        "30",
        "--seed",
        "100",
        "--keep",
        "ties",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "30 replicates" in res.stdout and "AZ alignment index" in res.stdout
    return out


def test_run_replicates_writes_streamed_tables_manifest_and_fan_chart(replicates_out):
    files = {p.name for p in replicates_out.iterdir()}
    assert files == {
        "indices.parquet",
        "ties.parquet",
        "shocks.parquet",
        "manifest.json",
        "alignment.png",
    }
    assert (replicates_out / "alignment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((replicates_out / "manifest.json").read_text())
    assert manifest["replicates"] == 30 and manifest["seeds"] == {"first": 100, "last": 129}
    ix = pd.read_parquet(replicates_out / "indices.parquet")
    assert sorted(ix["replicate"].unique()) == list(range(30))
    assert sorted(ix["seed"].unique()) == list(range(100, 130))
    assert len(ix) == 30 * 53 * 9


def test_replicate_k_equals_run_with_seed_k(replicates_out):
    """The promise in the manifest: replicate k is `multivector run --seed SEED+k`."""
    ties = pd.read_parquet(replicates_out / "ties.parquet")
    ix = pd.read_parquet(replicates_out / "indices.parquet")
    for seed in (100, 117, 129):
        one = sim.run("scenarios/baseline.yaml", seed=seed)
        got_t = ties[ties["seed"] == seed].drop(columns="replicate").reset_index(drop=True)
        got_i = ix[ix["seed"] == seed].drop(columns="replicate").reset_index(drop=True)
        # (Parquet stores the dates in ms; the values are what is compared)
        pd.testing.assert_frame_equal(got_t, one.ties, check_exact=True, check_dtype=False)
        pd.testing.assert_frame_equal(got_i, one.indices, check_exact=True, check_dtype=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "ties"], "--keep and --date go with --replicates R"),
        (["--replicates", "3", "--date", "2040-01-01"], "dates: 2040-01-01 is outside"),
        (["--replicates", "3", "--shock-off", "ukraine"], "no shock 'ukraine'"),
    ],
)
def test_run_replicates_bad_arguments(tmp_path, args, message):
    out = tmp_path / "out"
    res = run_cli("run", "scenarios/baseline.yaml", "--out", str(out), *args)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


def test_in_memory_result_figure_and_index_arrays():
    import matplotlib.figure

    result = run_ensemble(sim.load_scenario("scenarios/baseline.yaml"), 6)
    a = result.index_array("alignment_index")
    assert a.shape == (6, 53, 9)
    az = result.world.index("AZ")
    want = result.indices[(result.indices["replicate"] == 4) & (result.indices["state"] == "AZ")]
    assert np.array_equal(a[4, :, az], want["alignment_index"].to_numpy())
    fig = result.figure()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert "6 replicates" in fig.axes[0].get_title(loc="left")
