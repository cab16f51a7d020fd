"""Batch analysis: bands, paired effects, Sobol indices, figures and their commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_outcomes import analyse  # plot, compare, sensitivity (sim.tools.cli_analysis)

import sim.batch
from sim.batch import analysis, plots
from sim.batch.design import run_table
from sim.batch.results import BatchResult
from sim.batch.store import new_manifest
from sim.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
TEACHING = ROOT / "scenarios" / "teaching.yaml"

PAIRED = f"""\
name: pipeline or not
scenarios:
  base: {TEACHING}
  no_pipeline: {{scenario: {TEACHING}, shocks_off: [pipeline]}}
replicates: 30
seed: 7
"""


@pytest.fixture(scope="module")
def paired_batch(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("paired")
    (d / "exp.yaml").write_text(PAIRED)
    sim.batch.run(d / "exp.yaml", d / "out", workers=1, progress=False)
    return d / "out"


def test_bands_are_quantiles_over_seeds(paired_batch):
    res = sim.batch.load(paired_batch)
    q = analysis.bands(res, "alignment_index", ["SM"])
    last = q[(q["arm"] == "base") & (q["date"] == q["date"].max())].iloc[0]
    x = res.indices[
        (res.indices["arm"] == "base")
        & (res.indices["state"] == "SM")
        & (res.indices["date"] == q["date"].max())
    ]["alignment_index"]
    assert last["n"] == 30
    assert last["q50"] == pytest.approx(np.quantile(x, 0.5))
    assert last["q05"] <= last["q25"] <= last["q50"] <= last["q75"] <= last["q95"]
    assert last["q05"] > x.min() or last["q95"] < x.max()  # not a min-max envelope


def test_effects_pair_by_seed(paired_batch):
    res = sim.batch.load(paired_batch)
    eff = analysis.effects(res, "base", "no_pipeline", ["2020-12-31", "2023-12-31"], states=["SM"])
    before, after = eff.iloc[0], eff.iloc[1]
    # before the pipeline date the arms are the same runs: zero difference, zero spread
    assert before["mean"] == 0 and before["sd"] == 0
    # without the pipeline Smallland leans less West: a negative effect, CI below zero
    assert after["ci_high"] < 0 and after["n"] == 30
    # pairing by seed: the paired spread is smaller than the spread of either arm
    ix = res.indices[(res.indices["state"] == "SM") & (res.indices["date"] == "2023-12-31")]
    arm_sd = ix.groupby("arm", observed=True)["alignment_index"].std().min()
    assert after["sd"] < arm_sd


def test_sobol_indices_of_the_ishigami_function(tmp_path):
    """The analysis path (design order, per-point means, SALib) on a function with known
    indices: Ishigami (a=7, b=0.1): S1 = 0.314, 0.442, 0; ST = 0.558, 0.442, 0.244."""
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text(
        f"name: ishigami\nscenarios: {{a: {TEACHING}}}\nreplicates: 2\nseed: 3\n"
        "design:\n  kind: sobol\n  samples: 2048\n  parameters:\n"
        "    states.SM.autonomy: {low: 0.1, high: 0.3}\n"
        "    states.SM.cross_pressure: {low: 0.5, high: 1.5}\n"
        "    states.EA.autonomy: {low: 0.03, high: 0.07}\n"
    )
    exp = sim.batch.load_experiment(exp_file)
    runs = run_table(exp)
    names = list(exp.spec.design.parameters)
    lo = np.array([0.1, 0.5, 0.03])
    hi = np.array([0.3, 1.5, 0.07])
    x = -np.pi + 2 * np.pi * (runs[names].to_numpy() - lo) / (hi - lo)
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    # the two replicates of a point get opposite noise: their mean is the function
    y = y + np.where(runs["replicate"] == 0, 0.5, -0.5)
    indices = runs[["run_id", "arm", "point", "replicate", "seed"]].assign(
        step=1, date=pd.Timestamp("2020-03-31"), state="SM", alignment_index=y
    )
    result = BatchResult(
        tmp_path,
        new_manifest(exp, len(runs), 1, len(runs)),
        runs.assign(status="ok"),
        indices,
        None,
        indices.iloc[:0],
    )
    si = analysis.sobol_indices(result, "SM alignment_index at 2020-03-31").set_index("parameter")
    np.testing.assert_allclose(si["S1"], [0.314, 0.442, 0.0], atol=0.04)
    np.testing.assert_allclose(si["ST"], [0.558, 0.442, 0.244], atol=0.04)
    assert (si["S1_conf"] > 0).all() and (si["S1_conf"] < 0.1).all()


def test_sobol_on_the_model_a_parameter_that_cannot_act_has_zero_indices(tmp_path, capsys):
    """A shock after the outcome date cannot change it: its Sobol indices are zero, while
    Smallland's energy weight (through the derived alignment weight) matters."""
    text = (
        f"name: sanity\nscenarios: {{a: {TEACHING}}}\nreplicates: 1\nseed: 11\n"
        "design:\n  kind: sobol\n  samples: 16\n  parameters:\n"
        "    states.SM.weights.energy: {low: 0.2, high: 0.6}\n"
        "    shocks.base_closes.effects.0.value: {low: 0.0, high: 0.3}\n"
        "  complement:\n    states.SM.weights.alignment: "
        "[states.SM.weights.energy]\n"
        "dates: [2023-12-31]\n"
    ).replace("weights.alignment: [", "weights.alignment: [")
    # security stays 0.4; alignment = 1 - energy - 0.4 would need security in the list:
    text = text.replace(
        "states.SM.weights.energy: {low: 0.2, high: 0.6}",
        "states.SM.weights.energy: {low: 0.2, high: 0.6}\n"
        "    states.SM.weights.security: {low: 0.3, high: 0.35}",
    ).replace(
        "[states.SM.weights.energy]", "[states.SM.weights.energy, states.SM.weights.security]"
    )
    (tmp_path / "exp.yaml").write_text(text)
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "exp.yaml"), "--out", str(out), "--workers", "1", "--quiet"]
    assert main(args) == 0
    res = sim.batch.load(out)
    si = analysis.sobol_indices(res, "SM alignment_index at 2023-12-31").set_index("parameter")
    shock = "shocks.base_closes.effects.0.value"
    assert si.loc[shock, "S1"] == 0 and si.loc[shock, "ST"] == 0
    assert si.loc["states.SM.weights.energy", "ST"] > 0.1
    # the files are named after the outcome (once sensitivity.png, whatever the outcome);
    # the deprecated form 'STATE INDEX at DATE' names the same outcome as the current one
    code = analyse("sensitivity", out, "--outcome", "SM alignment_index at 2023-12-31")
    plots = out / "plots"
    assert code == 0 and (plots / "sensitivity__alignment_index_SM_at_2023-12-31.png").is_file()
    table = pd.read_csv(plots / "sensitivity__alignment_index_SM_at_2023-12-31.csv")
    assert set(table["outcome"]) == {"alignment_index SM at 2023-12-31"}
    assert "S1" in capsys.readouterr().out


def test_sensitivity_needs_a_sobol_design_and_a_good_outcome(paired_batch, capsys):
    code = analyse("sensitivity", paired_batch, "--outcome", "SM alignment_index at 2025-12-31")
    err = capsys.readouterr().err
    assert code == 2 and "not 'sobol'" in err and "Traceback" not in err
    res = sim.batch.load(paired_batch)
    # the outcome language's messages (once 'expected STATE INDEX at YYYY-MM-DD'); dates
    # are checked against the records when the outcome is evaluated
    for bad, needle in [
        ("SM alignment at", "expected one date after 'at'"),
        ("XX alignment_index at 2025-12-31", "no state 'XX'"),
        ("SM alignmnt_index at 2025-12-31", "did you mean 'alignment_index'"),
        ("SM alignment_index at 2040-12-31", "outside the records"),
    ]:
        with pytest.raises(sim.UserError, match=needle.replace("(", r"\(")):
            analysis.outcome(res, bad)


def test_figures_and_commands(paired_batch, tmp_path, capsys):
    res = sim.batch.load(paired_batch)
    for fig in (
        plots.fan_chart(res),
        plots.distributions(res, ["2021-06-30", "2025-12-31"], state="SM"),
        plots.compare_figure(res, "base", "no_pipeline"),
    ):
        assert isinstance(fig, Figure)
    pd_out = tmp_path / "plots"
    assert analyse("plot", paired_batch, "--out", pd_out) == 0
    assert {p.name for p in pd_out.iterdir()} >= {
        "fan_alignment_index.png",
        "fan_hedging_index.png",
        "distributions_SM.png",
    }
    code = analyse(
        "compare",
        paired_batch,
        *("--baseline", "base", "--variant", "no_pipeline"),
        *("--state", "SM", "--date", "2025-12-31", "--out", pd_out),
    )
    out = capsys.readouterr().out
    assert code == 0 and "2025-12-31" in out and "ci_low" in out
    # named after the index measured (once compare_base_vs_no_pipeline.csv, which a
    # compare of another index silently replaced)
    assert (pd_out / "compare_base_vs_no_pipeline__alignment_index.png").is_file()
    table = pd.read_csv(pd_out / "compare_base_vs_no_pipeline__alignment_index.csv")
    assert list(table["state"]) == ["SM"] and table["ci_high"].iloc[0] < 0
    assert list(table["outcome"]) == ["alignment_index SM at 2025-12-31"]
    code = analyse("compare", paired_batch, "--baseline", "bas", "--variant", "no_pipeline")
    assert code == 2 and "did you mean 'base'" in capsys.readouterr().err
