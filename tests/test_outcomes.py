"""Outcomes: the one language of "which number of a run", from parsing to files.

Each form is evaluated on small hand-made tables whose values are computed by hand;
then on an ensemble (``by="replicate"``), in experiment files (named outcomes, problems
at their line), and through ``compare`` and ``sensitivity`` (files named after the
outcome, never overwriting another outcome's)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sim
import sim.batch
import sim.tools.cli as cli
from sim.analysis.outcomes import OutcomeError, evaluate, label, parse_outcome, slug
from sim.batch import analysis
from sim.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
TEACHING = ROOT / "scenarios" / "teaching.yaml"


def analyse(*argv) -> int:
    """``multivector plot|compare|sensitivity ARGS``: through ``sim.tools.cli.main`` once
    ``cli.py`` wires in :mod:`sim.tools.cli_analysis`, else through that module alone
    (the same parser and code, with ``main``'s handling of a UserError)."""
    argv = [str(a) for a in argv]
    if hasattr(cli, "cli_analysis"):
        return cli.main(argv)
    from sim.tools import cli_analysis

    parser = argparse.ArgumentParser(prog="multivector")
    cli_analysis.add_commands(parser.add_subparsers(dest="command", required=True))
    try:
        return cli_analysis.dispatch(parser.parse_args(argv))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


# ---- a hand-made world: four states, two runs, quarterly records 2019-12-31..2021-12-31 ----

IDS = ["A", "B", "C", "D"]
POLES = {"West": ["B", "C"], "East": ["D"]}
#: The tie from row to column at step 0 of run 0; each step adds 0.01, run 1 adds 0.1.
BASE = np.array(
    [
        [0.0, 0.2, 0.4, -0.3],
        [0.5, 0.0, 0.6, -0.5],
        [0.3, 0.7, 0.0, -0.4],
        [-0.2, -0.6, -0.1, 0.0],
    ]
)
DATES = pd.to_datetime(
    ["2019-12-31", "2020-03-31", "2020-06-30", "2020-09-30", "2020-12-31"]
    + ["2021-03-31", "2021-06-30", "2021-09-30", "2021-12-31"]
)


def _tables(steps=range(9)):
    ties, ix = [], []
    for run in (0, 1):
        for step in steps:
            for i, s in enumerate(IDS):
                for j, p in enumerate(IDS):
                    if i != j:
                        tie = BASE[i, j] + 0.01 * step + 0.1 * run
                        ties.append((run, step, DATES[step], s, p, tie))
                ix.append(
                    (run, step, DATES[step], s, 0.1 * i + 0.01 * step + run,
                     0.5 + 0.02 * step - 0.1 * run, 1.0 * i + step, 2.0 * i - step + run)
                )  # fmt: skip
    ties = pd.DataFrame(ties, columns=["run_id", "step", "date", "state", "partner", "tie"])
    columns = ["run_id", "step", "date", "state", "alignment_index", "hedging_index"]
    ix = pd.DataFrame(ix, columns=[*columns, "energy", "utility"])
    for t in (ties, ix):
        t["state"] = pd.Categorical(t["state"], categories=IDS)
    ties["partner"] = pd.Categorical(ties["partner"], categories=IDS)
    return ties, ix


TIES, INDICES = _tables()


def value(text: str, ties=TIES, indices=INDICES) -> list[float]:
    o = parse_outcome(text, IDS, POLES)
    return list(evaluate(o, ties=ties, indices=indices, by="run_id"))


@pytest.mark.parametrize(
    "text, expected",
    [
        # the record that closes the period containing 2020-08-15: 2020-09-30, step 3
        ("tie A B at 2020-08-15", [0.2 + 0.03, 0.2 + 0.03 + 0.1]),
        ("tie A B at 2020-09-30", [0.23, 0.33]),
        ("tie A B at 2019-12-31", [0.2, 0.3]),  # record 0, the day before the start
        # the records dated in 2020: steps 1-4, mean step 2.5
        ("tie A B mean 2020..2020", [0.2 + 0.025, 0.2 + 0.025 + 0.1]),
        # dates: steps 2 and 3
        ("hedging_index A mean 2020-04-01..2020-09-30", [0.5 + 0.05, 0.4 + 0.05]),
        ("alignment_index B at 2021-12-31", [0.1 + 0.08, 1.1 + 0.08]),
        ("energy C at 2020-03-31", [2.0 + 1, 2.0 + 1]),
        ("utility B mean 2021..2021", [2.0 - 6.5, 2.0 - 6.5 + 1]),
        # pole: A's mean tie to B and C (0.2, 0.4 -> 0.3), steps 5-8 (mean 6.5)
        ("pole A West mean 2021..2021", [0.3 + 0.065, 0.3 + 0.065 + 0.1]),
        # B is in West: its tie to C alone
        ("pole B West at 2020-03-31", [0.6 + 0.01, 0.6 + 0.01 + 0.1]),
        ("pole A East at 2020-03-31", [-0.3 + 0.01, -0.3 + 0.01 + 0.1]),
        # change: steps 5-8 minus steps 1-4: 0.01 * (6.5 - 2.5)
        ("change tie A B 2020..2020 -> 2021..2021", [0.04, 0.04]),
        ("change pole A West 2020..2020->2021..2021", [0.04, 0.04]),
        ("change hedging_index C 2020..2020 -> 2021-01-01..2021-06-30", [0.02 * 3, 0.02 * 3]),
        # the deprecated form
        ("B alignment_index at 2021-12-31", [0.18, 1.18]),
    ],
)
def test_each_form_evaluates_to_its_value_by_hand(text, expected):
    np.testing.assert_allclose(value(text), expected, atol=1e-12)


def test_a_pole_outcome_of_the_poles_only_member_is_undefined():
    assert all(np.isnan(value("pole D East mean 2020..2021")))


def test_the_issues_examples_parse():
    ids, poles = ["AZ", "MN", "US", "EU", "RU"], {"West": ["US", "EU"], "East": ["RU"]}
    texts = {
        "tie MN US mean 2023..2030": ("tie", "mean", "tie_MN_US_mean_2023-2030"),
        "change hedging_index MN 2021..2022 -> 2024..2025": (
            "index",
            "change",
            "change_hedging_index_MN_2021-2022_to_2024-2025",
        ),
        "alignment_index AZ at 2030-12-31": ("index", "at", "alignment_index_AZ_at_2030-12-31"),
        "tie AZ EU at 2025-12-31": ("tie", "at", "tie_AZ_EU_at_2025-12-31"),
        "energy AZ mean 2022..2024": ("term", "mean", "energy_AZ_mean_2022-2024"),
        "pole AZ West mean 2023..2025": ("pole", "mean", "pole_AZ_West_mean_2023-2025"),
        "AZ alignment_index at 2030-12-31": ("index", "at", "alignment_index_AZ_at_2030-12-31"),
    }
    for text, (kind, when, name) in texts.items():
        o = parse_outcome(text, ids, poles)
        assert (o.kind, o.when, slug(o)) == (kind, when, name), text
    old = parse_outcome("AZ alignment_index at 2030-12-31", ids)
    assert old.deprecated and old.canonical == "alignment_index AZ at 2030-12-31"
    assert parse_outcome("pole AZ West mean 2023..2025", ids, poles).members == ("US", "EU")
    assert label(parse_outcome("tie MN US mean 2023..2030", ids)) == "tie MN to US, mean 2023-2030"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("tie A X mean 2020..2021", "no partner 'X'"),
        ("tie A BB mean 2020..2021", "did you mean 'B'"),
        ("alignmnt_index A at 2020-12-31", "did you mean 'alignment_index'"),
        ("hedging_idx A at 2020-12-31", "did you mean 'hedging_index'"),
        ("enrgy A mean 2020..2021", "did you mean 'energy'"),
        ("A alignmnt_index at 2020-12-31", "did you mean 'alignment_index'"),
        ("pole A Wset mean 2020..2021", "did you mean 'West'"),
        ("tie A B", "no WHEN"),
        ("tie A B at 2020", "'2020' is not a date"),
        ("tie A B at 2020-02-30", "'2020-02-30' is not a date"),
        ("tie A B mean 2021..2020", "ends before it starts"),
        ("tie A B mean 2020", "not a window"),
        ("tie A A at 2020-12-31", "two different states"),
        ("change tie A B 2020..2020", "expected 'change X FIRST..LAST -> FIRST..LAST'"),
        ("change tie A B at 2020-12-31 2020..2020 -> 2021..2021", "expected 'tie STATE PARTNER'"),
    ],
)
def test_bad_texts_say_what_is_wrong_and_show_the_grammar(text, needle):
    with pytest.raises(OutcomeError) as err:
        parse_outcome(text, IDS, POLES)
    message = str(err.value)
    assert needle in message and message.startswith(f"--outcome {text!r}")
    assert "tie STATE PARTNER WHEN" in message and "mean FIRST..LAST" in message
    assert isinstance(err.value, UserError)


def test_evaluating_needs_the_right_table_and_a_record():
    o = parse_outcome("tie A B mean 2020..2021", IDS)
    with pytest.raises(UserError, match="keep: ties"):
        evaluate(o, ties=None, indices=INDICES)
    for text, needle in [
        ("alignment_index A at 2023-12-31", "outside the records"),
        ("alignment_index A at 2019-11-30", "before the first record"),
        ("alignment_index A mean 2023..2024", "holds no record"),
    ]:
        with pytest.raises(UserError, match=needle):
            value(text)
    with pytest.raises(UserError, match="by='replicate'"):
        evaluate(o, ties=TIES, indices=INDICES, by="replicate")


def test_a_date_whose_record_was_not_kept_is_refused_not_moved():
    """With only the records of 2019-12-31, 2020-12-31 and 2021-12-31 kept, a date in
    2020's second quarter has no record: it is not read off the next kept one."""
    ties, ix = _tables(steps=[0, 4, 8])
    with pytest.raises(UserError, match="whose record was not kept"):
        value("alignment_index A at 2020-06-30", ties, ix)
    assert value("alignment_index A at 2020-11-15", ties, ix) == pytest.approx([0.04, 1.04])


def test_by_replicate_on_an_ensemble():
    ens = sim.run_ensemble(TEACHING, 4, keep="ties")
    ids, poles = ["SM", "EA", "WE"], {"East": ["EA"], "West": ["WE"]}
    tie = evaluate(
        parse_outcome("tie SM WE mean 2023..2024", ids),
        ties=ens.ties,
        indices=ens.indices,
        by="replicate",
    )
    t = ens.ties
    by_hand = t[
        (t["state"] == "SM") & (t["partner"] == "WE") & (t["date"].dt.year.isin([2023, 2024]))
    ]
    assert list(tie.index) == [0, 1, 2, 3]
    np.testing.assert_allclose(tie, by_hand.groupby("replicate")["tie"].mean())
    pole = evaluate(
        parse_outcome("pole SM West mean 2023..2024", ids, poles),
        ties=ens.ties,
        indices=ens.indices,
        by="replicate",
    )
    np.testing.assert_allclose(pole, tie)  # West is WE alone
    ix = ens.indices
    at = ix[(ix["state"] == "SM") & (ix["date"] == "2025-12-31")]["alignment_index"]
    aligned = evaluate(
        parse_outcome("alignment_index SM at 2025-12-31", ids),
        ties=None,
        indices=ens.indices,
        by="replicate",
    )
    np.testing.assert_allclose(aligned, at)


# ---- named outcomes in experiment files --------------------------------------------------

EXPERIMENT = f"""\
name: pipeline or not
scenarios:
  base: {TEACHING}
  no_pipeline: {{scenario: {TEACHING}, shocks_off: [pipeline]}}
replicates: 12
seed: 7
keep: ties
outcomes:
  late_tie: "tie SM WE mean 2023..2025"
  drift: "change alignment_index SM 2020..2021 -> 2024..2025"
  tie_SM_WE_mean_2023-2025: "tie SM WE mean 2020..2021"
"""


def test_named_outcomes_are_read_with_the_experiment(tmp_path):
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    exp = sim.batch.load_experiment(tmp_path / "exp.yaml")
    assert list(exp.outcomes) == ["late_tie", "drift", "tie_SM_WE_mean_2023-2025"]
    late = exp.outcomes["late_tie"]
    assert (late.name, late.kind, late.partner) == ("late_tie", "tie", "WE")


def test_bad_named_outcomes_are_problems_at_their_lines(tmp_path):
    text = EXPERIMENT.replace("keep: ties\n", "dates: [2025-12-31]\n") + (
        '  typo: "tie SM WX mean 2023..2025"\n'
        '  not_a_date: "alignment_index SM at 2025-13-01"\n'
        '  too_late: "alignment_index SM at 2040-12-31"\n'
        '  "no spaces": "alignment_index SM at 2025-12-31"\n'
    )
    (tmp_path / "exp.yaml").write_text(text)
    with pytest.raises(sim.errors.ScenarioError) as err:
        sim.batch.load_experiment(tmp_path / "exp.yaml")
    lines = text.splitlines()

    def line_of(key: str) -> int:
        return next(k for k, ln in enumerate(lines, 1) if ln.strip().startswith(key))

    message = str(err.value)
    for key, needle in [
        ("late_tie", "needs the tie table: set `keep: ties`"),
        ("drift", "needs a record that `dates:` does not keep"),
        ("typo", "no partner 'WX' (did you mean 'WE'?)"),
        ("not_a_date", "'2025-13-01' is not a date"),
        ("too_late", "outside the records"),
        ('"no spaces"', "an outcome name names files"),
    ]:
        problem = next(p for p in err.value.problems if f"exp.yaml:{line_of(key)}:" in p)
        assert needle in problem, (key, message)
        assert "field outcomes." in problem


# ---- compare and sensitivity on outcomes ------------------------------------------------


@pytest.fixture(scope="module")
def tie_batch(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ties")
    (d / "exp.yaml").write_text(EXPERIMENT)
    sim.batch.run(d / "exp.yaml", d / "out", workers=1, progress=False)
    return d / "out"


def test_outcome_gives_one_value_per_run(tie_batch):
    res = sim.batch.load(tie_batch)
    named = analysis.outcome(res, "late_tie")
    assert list(named.columns) == ["run_id", "arm", "point", "replicate", "seed", "value"]
    assert len(named) == 24
    t = res.ties
    by_hand = (
        t[(t["state"] == "SM") & (t["partner"] == "WE") & t["date"].dt.year.between(2023, 2025)]
        .groupby("run_id")["tie"]
        .mean()
    )
    np.testing.assert_allclose(named.set_index("run_id")["value"], by_hand)
    base = analysis.outcome(res, "tie SM WE mean 2023..2025", arm="base")
    assert set(base["arm"]) == {"base"} and len(base) == 12
    np.testing.assert_allclose(base["value"], named[named["arm"] == "base"]["value"])
    with pytest.raises(UserError, match="did you mean 'late_tie'"):
        analysis.outcome(res, "late_tei")


def test_a_tie_outcome_needs_the_tie_table(tmp_path):
    exp = EXPERIMENT.replace("keep: ties\n", "").split("outcomes:")[0]
    (tmp_path / "exp.yaml").write_text(exp.replace("replicates: 12", "replicates: 2"))
    sim.batch.run(tmp_path / "exp.yaml", tmp_path / "out", workers=1, progress=False)
    res = sim.batch.load(tmp_path / "out")
    with pytest.raises(UserError, match="keep: ties"):
        analysis.outcome(res, "tie SM WE mean 2023..2025")


def _old_t_interval(x: np.ndarray) -> tuple[float, float]:
    """The interval batch/analysis.py wrote by hand before it used ttest_rel."""
    n, mean, sd = len(x), x.mean(), x.std(ddof=1)
    half = stats.t.ppf(0.5 + 0.95 / 2, n - 1) * sd / np.sqrt(n)
    return mean - half, mean + half


def test_the_ttest_rel_interval_equals_the_old_hand_written_one(tie_batch):
    res = sim.batch.load(tie_batch)
    texts = ["late_tie", "drift", "hedging_index SM at 2023-12-31"]
    eff = analysis.effects(res, "base", "no_pipeline", outcomes=texts)
    for text, row in zip(texts, eff.itertuples(), strict=True):
        x = analysis.paired_outcome(res, "base", "no_pipeline", text)["difference"].to_numpy()
        lo, hi = _old_t_interval(x)
        assert (row.ci_low, row.ci_high) == pytest.approx((lo, hi), rel=1e-12, abs=1e-15)
    # the earlier --index form: the same numbers as its outcomes
    old = analysis.effects(res, "base", "no_pipeline", ["2023-12-31"], "hedging_index", ["SM"])
    assert old.iloc[0]["ci_low"] == pytest.approx(eff.iloc[2]["ci_low"], rel=1e-12)
    assert old.iloc[0]["outcome"] == "hedging_index SM at 2023-12-31"


def test_compare_on_a_tie_outcome_writes_files_named_after_it(tie_batch, tmp_path, capsys):
    out = tmp_path / "plots"
    cmp = ("compare", tie_batch, "--baseline", "base", "--variant", "no_pipeline", "--out", out)
    assert analyse(*cmp, "--outcome", "tie SM WE mean 2023..2025") == 0
    printed = capsys.readouterr().out
    assert "tie SM WE mean 2023..2025" in printed and "ci_low" in printed
    stem = "compare_base_vs_no_pipeline__tie_SM_WE_mean_2023-2025"
    table = pd.read_csv(out / f"{stem}.csv")
    assert list(table["outcome"]) == ["tie SM WE mean 2023..2025"]
    assert table["ci_high"].iloc[0] < 0  # without the pipeline the tie to the West is lower
    assert (out / f"{stem}.png").is_file()
    record = json.loads((out / "manifest.json").read_text())["files"][f"{stem}.csv"]
    assert record["outcome"]["text"] == "tie SM WE mean 2023..2025"

    # another outcome (by its declared name): its own files, the first ones untouched
    before = (out / f"{stem}.csv").read_bytes()
    assert analyse(*cmp, "--outcome", "drift") == 0
    assert (out / "compare_base_vs_no_pipeline__drift.csv").is_file()
    assert (out / f"{stem}.csv").read_bytes() == before
    assert pd.read_csv(out / "compare_base_vs_no_pipeline__drift.csv")["name"].iloc[0] == "drift"

    # rerunning the same command replaces its own file
    assert analyse(*cmp, "--outcome", "drift") == 0
    # an `at` outcome of a pole (the poles read from the arm's scenario file)
    assert analyse(*cmp, "--outcome", "pole SM West at 2024-12-31") == 0
    pole = pd.read_csv(out / "compare_base_vs_no_pipeline__pole_SM_West_at_2024-12-31.csv")
    assert pole["date"].iloc[0] == "2024-12-31" and pole["ci_high"].iloc[0] < 0

    # a declared name that is also another outcome's slug: the same file name, made with
    # other arguments: refused without --force
    capsys.readouterr()
    assert analyse(*cmp, "--outcome", "tie_SM_WE_mean_2023-2025") == 2
    err = capsys.readouterr().err
    assert f"{stem}.csv" in err and "--force" in err
    assert (out / f"{stem}.csv").read_bytes() == before
    assert analyse(*cmp, "--outcome", "tie_SM_WE_mean_2023-2025", "--force") == 0
    assert (out / f"{stem}.csv").read_bytes() != before


def test_compare_in_the_deprecated_index_form_refuses_other_arguments(tie_batch, tmp_path, capsys):
    out = tmp_path / "plots"
    cmp = ("compare", tie_batch, "--baseline", "base", "--variant", "no_pipeline", "--out", out)
    assert analyse(*cmp, "--state", "SM", "--date", "2023-12-31") == 0
    assert analyse(*cmp, "--index", "hedging_index", "--state", "SM") == 0  # its own file
    assert {p.name for p in out.iterdir()} >= {
        "compare_base_vs_no_pipeline__alignment_index.csv",
        "compare_base_vs_no_pipeline__hedging_index.csv",
    }
    capsys.readouterr()
    assert analyse(*cmp, "--state", "SM", "--date", "2025-12-31") == 2
    err = capsys.readouterr().err
    assert "compare_base_vs_no_pipeline__alignment_index.csv" in err and "--force" in err
    assert analyse(*cmp, "--index", "hedging_index", "--outcome", "drift") == 2
    assert "--outcome measures its own state and date" in capsys.readouterr().err


def test_sensitivity_names_its_files_after_the_outcome(tmp_path, capsys):
    text = (
        f"name: sobol\nscenarios: {{a: {TEACHING}}}\nreplicates: 1\nseed: 11\n"
        "design:\n  kind: sobol\n  samples: 8\n  parameters:\n"
        "    states.SM.autonomy: {low: 0.1, high: 0.3}\n"
        "    states.SM.cross_pressure: {low: 0.5, high: 1.5}\n"
        "dates: [2021-12-31, 2023-12-31]\n"
        'outcomes:\n  late: "alignment_index SM at 2023-12-31"\n'
    )
    (tmp_path / "exp.yaml").write_text(text)
    sim.batch.run(tmp_path / "exp.yaml", tmp_path / "out", workers=1, progress=False)
    plots = tmp_path / "out" / "plots"
    assert analyse("sensitivity", tmp_path / "out", "--outcome", "late") == 0
    assert (
        analyse("sensitivity", tmp_path / "out", "--outcome", "hedging_index SM at 2023-12-31") == 0
    )
    assert {p.name for p in plots.iterdir()} >= {
        "sensitivity__late.csv",
        "sensitivity__late.png",
        "sensitivity__hedging_index_SM_at_2023-12-31.csv",
    }
    table = pd.read_csv(plots / "sensitivity__late.csv")
    assert set(table["outcome"]) == {"alignment_index SM at 2023-12-31"}
    assert set(table["name"]) == {"late"}
    capsys.readouterr()
    assert (
        analyse("sensitivity", tmp_path / "out", "--outcome", "hedging_index SM at 2022-06-30") == 2
    )
    assert "whose record was not kept" in capsys.readouterr().err
