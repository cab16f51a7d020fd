"""Reading a batch: quantile bands, paired counterfactual effects, Sobol indices.

All functions take a :class:`~sim.batch.results.BatchResult` and return DataFrames; the
figures in :mod:`sim.batch.plots` draw them.

- Bands are quantiles over runs (seeds, and design points when there are several), never
  min-max envelopes.
- Effects pair the runs of two arms by design point and replicate: the same seed in both
  (common random numbers), so the difference removes the noise the arms share. The
  confidence interval of the mean paired difference is Student's t.
- Sobol indices come from ``SALib.analyze.sobol`` (Saltelli 2002; Saltelli et al. 2010;
  confidence intervals by bootstrap), on the per-point mean of the outcome over the
  replicates.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
from scipy import stats

from sim.batch.results import BatchResult
from sim.drivers.model import INDEX_COLUMNS
from sim.errors import UserError

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

_OUTCOME = re.compile(r"^\s*(\S+)\s+(\S+)\s+at\s+(\d{4}-\d{2}-\d{2})\s*$")


def record_date(result: BatchResult, date: dt.date | str) -> pd.Timestamp:
    """The kept record for a date: the record of the period containing it (the batch's
    records are dated at period ends)."""
    date = pd.Timestamp(date)
    dates = np.sort(result.indices["date"].unique())
    if len(dates) == 0:
        raise UserError(f"{result.path}: the batch has no finished runs yet")
    at = np.searchsorted(dates, np.datetime64(date), side="left")
    if at >= len(dates) or date < dates[0] - pd.Timedelta(days=400):
        raise UserError(
            f"date {date.date()} is outside the batch's records "
            f"({pd.Timestamp(dates[0]).date()} to {pd.Timestamp(dates[-1]).date()})"
        )
    return pd.Timestamp(dates[at])


def check_index(index: str) -> str:
    if index not in INDEX_COLUMNS:
        from sim.scenario import did_you_mean

        raise UserError(
            f"no index {index!r}{did_you_mean(index, INDEX_COLUMNS)}; "
            f"expected one of: {', '.join(INDEX_COLUMNS)}"
        )
    return index


def check_states(result: BatchResult, states) -> list[str]:
    """The states asked for (checked), or by default every state whose indices are
    defined (a pole's own members have no alignment index)."""
    known = list(result.manifest.get("states") or result.indices["state"].cat.categories)
    if not states:
        defined = result.indices.groupby("state", observed=True)["alignment_index"].count()
        return [s for s in known if defined.get(s, 0) > 0] or known
    from sim.scenario import did_you_mean

    for s in states:
        if s not in known:
            raise UserError(
                f"no state {s!r} in the batch{did_you_mean(s, known)}; the states are: "
                f"{', '.join(known)}"
            )
    return list(states)


def check_arm(result: BatchResult, arm: str, option: str) -> str:
    if arm not in result.arms:
        from sim.scenario import did_you_mean

        raise UserError(
            f"{option} {arm}: no arm {arm!r} in the batch{did_you_mean(arm, result.arms)}; "
            f"the arms are: {', '.join(result.arms)}"
        )
    return arm


def bands(
    result: BatchResult, index: str = "alignment_index", states=None, arms=None
) -> pd.DataFrame:
    """Quantiles of an index over runs: arm, state, date, q05, q25, q50, q75, q95, n."""
    check_index(index)
    states = check_states(result, states)
    ix = result.indices
    ix = ix[ix["state"].isin(states)]
    if arms is not None:
        ix = ix[ix["arm"].isin(arms)]
    g = ix.groupby(["arm", "state", "date"], observed=True)[index]
    q = g.quantile(list(QUANTILES)).unstack()
    q.columns = [f"q{round(100 * c):02d}" for c in q.columns]
    q["n"] = g.count()
    return q.reset_index()


def paired(
    result: BatchResult, baseline: str, variant: str, index: str = "alignment_index", states=None
) -> pd.DataFrame:
    """Paired differences (variant minus baseline) per point, replicate, state and date."""
    check_index(index)
    check_arm(result, baseline, "--baseline")
    check_arm(result, variant, "--variant")
    if baseline == variant:
        raise UserError("--baseline and --variant name the same arm; compare two different arms")
    states = check_states(result, states)
    ix = result.indices
    ix = ix[ix["state"].isin(states)]
    keys = ["point", "replicate", "state", "date"]
    a = ix[ix["arm"] == baseline][[*keys, "seed", index]]
    b = ix[ix["arm"] == variant][[*keys, "seed", index]]
    m = a.merge(b, on=keys, suffixes=("_base", "_variant"))
    if len(m) == 0:
        raise UserError(f"no finished runs of both {baseline!r} and {variant!r} to pair")
    if not (m["seed_base"] == m["seed_variant"]).all():
        raise UserError(
            f"the runs of {baseline!r} and {variant!r} do not share seeds; cannot pair them"
        )
    m["difference"] = m[f"{index}_variant"] - m[f"{index}_base"]
    return m.rename(columns={"seed_base": "seed"}).drop(columns=["seed_variant"])


def effects(
    result: BatchResult,
    baseline: str,
    variant: str,
    dates=None,
    index: str = "alignment_index",
    states=None,
    level: float = 0.95,
) -> pd.DataFrame:
    """The effect of variant against baseline at dates: the mean paired difference with
    its ``level`` confidence interval (Student's t), the median, and the share of pairs
    where the variant is higher.

    Columns: state, date, n, mean, ci_low, ci_high, sd, median, share_higher.
    ``dates`` default to the last record.
    """
    d = paired(result, baseline, variant, index, states)
    if dates is None or len(dates) == 0:
        wanted = [d["date"].max()]
    else:
        wanted = [record_date(result, x) for x in dates]
    d = d[d["date"].isin(wanted)]
    rows = []
    for (state, date), g in d.groupby(["state", "date"], observed=True):
        x = g["difference"].to_numpy()
        n = len(x)
        mean, sd = float(x.mean()), float(x.std(ddof=1)) if n > 1 else float("nan")
        half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n) if n > 1 else np.nan
        rows.append(
            {
                "state": state,
                "date": pd.Timestamp(date).date(),
                "n": n,
                "mean": mean,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "sd": sd,
                "median": float(np.median(x)),
                "share_higher": float((x > 0).mean()),
            }
        )
    return pd.DataFrame(rows)


def difference_bands(
    result: BatchResult, baseline: str, variant: str, index: str = "alignment_index", states=None
) -> pd.DataFrame:
    """Quantiles of the paired difference, and the mean with its 95% CI, by state and date."""
    d = paired(result, baseline, variant, index, states)
    g = d.groupby(["state", "date"], observed=True)["difference"]
    q = g.quantile(list(QUANTILES)).unstack()
    q.columns = [f"q{round(100 * c):02d}" for c in q.columns]
    q["mean"] = g.mean()
    q["n"] = g.count()
    se = g.std(ddof=1) / np.sqrt(q["n"])
    half = stats.t.ppf(0.975, np.maximum(q["n"] - 1, 1)) * se
    q["ci_low"], q["ci_high"] = q["mean"] - half, q["mean"] + half
    return q.reset_index()


def parse_outcome(text: str, result: BatchResult) -> tuple[str, str, pd.Timestamp]:
    """``"AZ alignment_index at 2030-12-31"`` -> (state, index, record date)."""
    m = _OUTCOME.match(text)
    if not m:
        raise UserError(
            f"--outcome {text!r}: expected 'STATE INDEX at YYYY-MM-DD', "
            "e.g. 'AZ alignment_index at 2030-12-31'"
        )
    state, index, date = m.groups()
    check_states(result, [state])
    check_index(index)
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise UserError(f"--outcome {text!r}: {date!r} is not a date") from None
    return state, index, record_date(result, day)


def outcome(result: BatchResult, text: str, arm: str | None = None) -> pd.DataFrame:
    """One value per run: run_id, arm, point, replicate, seed, value."""
    state, index, date = parse_outcome(text, result)
    ix = result.indices
    sel = ix[(ix["state"] == state) & (ix["date"] == date)]
    if arm is not None:
        sel = sel[sel["arm"] == check_arm(result, arm, "--arm")]
    out = sel[["run_id", "arm", "point", "replicate", "seed", index]]
    return out.rename(columns={index: "value"}).reset_index(drop=True)


def sobol_indices(
    result: BatchResult, text: str, arm: str | None = None, seed: int | None = None
) -> pd.DataFrame:
    """First-order and total Sobol indices of an outcome, with 95% confidence intervals.

    Columns: parameter, S1, S1_conf, ST, ST_conf (``conf`` is the half-width of the
    bootstrap interval). The outcome is averaged over the replicates of each design
    point. Needs a ``sobol`` design and every run of the arm finished.
    """
    design = result.manifest["design"]
    if design["kind"] != "sobol":
        raise UserError(
            f"{result.path}: the batch's design is {design['kind']!r}, not 'sobol'; Sobol "
            "indices need the Saltelli sample (design: {kind: sobol, samples: N, "
            "parameters: ...} in the experiment file)"
        )
    arm = arm or result.arms[0]
    check_arm(result, arm, "--arm")
    runs = result.runs[result.runs["arm"] == arm]
    if (runs["status"] != "ok").any():
        n_bad = int((runs["status"] != "ok").sum())
        raise UserError(
            f"{result.path}: {n_bad} run(s) of arm {arm!r} are failed or not finished; Sobol "
            "indices need every design point (resume the batch, or see "
            "sim.batch.load(DIR).failed())"
        )
    y = outcome(result, text, arm).groupby("point")["value"].mean().sort_index()
    from SALib.analyze import sobol

    from sim.batch.design import DESIGN_SPAWN_KEY

    problem = {
        "num_vars": len(design["parameters"]),
        "names": design["parameters"],
        "bounds": [[0.0, 1.0]] * len(design["parameters"]),  # bounds do not enter analyze
    }
    if seed is None:
        ss = np.random.SeedSequence(result.manifest["root_seed"], spawn_key=(DESIGN_SPAWN_KEY + 1,))
        seed = int(ss.generate_state(1, np.uint32)[0])
    si = sobol.analyze(
        problem,
        y.to_numpy(),
        calc_second_order=bool(design["second_order"]),
        conf_level=0.95,
        seed=seed,
    )
    return pd.DataFrame(
        {
            "parameter": design["parameters"],
            "S1": si["S1"],
            "S1_conf": si["S1_conf"],
            "ST": si["ST"],
            "ST_conf": si["ST_conf"],
        }
    )


def fired_dated_shocks(result: BatchResult, arms=None) -> list[dict]:
    """The dated shocks that fired in the runs (any arm), in date order, for marking axes."""
    sh = result.shocks
    if arms is not None:
        sh = sh[sh["arm"].isin(arms)]
    sh = sh[sh["kind"] == "dated"].drop_duplicates("id")
    sh = sh.sort_values(["date", "period"])
    return [
        {"id": r.id, "label": r.label, "kind": r.kind, "date": pd.Timestamp(r.date).isoformat()}
        for r in sh.itertuples()
    ]
