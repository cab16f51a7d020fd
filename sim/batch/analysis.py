"""Reading a batch: quantile bands, outcomes, paired counterfactual effects, Sobol
indices.

All functions take a :class:`~sim.batch.results.BatchResult` and return DataFrames; the
figures in :mod:`sim.batch.plots` draw them.

- Outcomes are the numbers asked of each run, in the language of
  :mod:`sim.analysis.outcomes` (``"tie AZ EU mean 2023..2025"``,
  ``"alignment_index AZ at 2030-12-31"``, ``"change hedging_index AZ 2021..2022 ->
  2024..2025"``), or names the experiment file declares under ``outcomes:``.
  :func:`outcome` gives one value per run.
- Bands are quantiles over runs (seeds, and design points when there are several), never
  min-max envelopes.
- Effects pair the runs of two arms by design point and replicate: the same seed in both
  (common random numbers), so the difference removes the noise the arms share. The
  confidence interval of the mean paired difference is the paired t interval of
  ``scipy.stats.ttest_rel``.
- Sobol indices come from ``SALib.analyze.sobol`` (Saltelli 2002; Saltelli et al. 2010;
  confidence intervals by bootstrap), on the per-point mean of the outcome over the
  replicates.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from sim.analysis.outcomes import (
    GRAMMAR,
    Outcome,
    OutcomeError,
    evaluate,
    named,
    series,
)
from sim.analysis.outcomes import parse_outcome as parse_outcome_text
from sim.batch.results import RUN_KEYS, BatchResult
from sim.drivers.model import INDEX_COLUMNS
from sim.errors import UserError
from sim.scenario.problems import did_you_mean

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


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
    for s in states:
        if s not in known:
            raise UserError(
                f"no state {s!r} in the batch{did_you_mean(s, known)}; the states are: "
                f"{', '.join(known)}"
            )
    return list(states)


def check_arm(result: BatchResult, arm: str, option: str) -> str:
    if arm not in result.arms:
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
    *,
    outcomes=None,
) -> pd.DataFrame:
    """The effect of variant against baseline on outcomes: the mean paired difference
    with its ``level`` confidence interval (paired t, ``scipy.stats.ttest_rel``), the
    median, and the share of pairs where the variant is higher.

    Args:
        outcomes: outcome texts (``"tie AZ EU mean 2023..2025"``; the grammar is in
            :mod:`sim.analysis.outcomes`), names declared under ``outcomes:`` in the
            experiment file, or parsed :class:`~sim.analysis.outcomes.Outcome` objects.
            One row per outcome, in order.
        dates, index, states: without ``outcomes`` (the earlier form, kept): the outcomes
            ``INDEX STATE at DATE`` for every state and date (``dates`` default to the
            last record; ``states`` to every state with the index defined).

    Returns:
        Columns: outcome (the canonical text), name (the declared name, or empty), state,
        date (the record date of an ``at`` outcome, else empty), n, mean, ci_low,
        ci_high, sd, median, share_higher. ``n`` counts the pairs where the outcome is
        defined in both arms.
    """
    if outcomes is None:
        outcomes = index_outcomes(result, index, states, dates)
    rows = []
    for o in outcomes:
        o = parse_outcome(o, result)
        d = paired_outcome(result, baseline, variant, o)
        d = d[d["difference"].notna()]
        rows.append(
            {
                "outcome": o.canonical,
                "name": o.name or "",
                "state": o.state,
                "date": o.date if o.when == "at" else None,
                **paired_summary(d["variant"].to_numpy(), d["base"].to_numpy(), level),
            }
        )
    return pd.DataFrame(rows)


def paired_summary(variant: np.ndarray, base: np.ndarray, level: float = 0.95) -> dict:
    """n, mean, ci_low, ci_high, sd, median, share_higher of ``variant - base`` (pairs);
    the interval from ``scipy.stats.ttest_rel`` (NaN with fewer than two pairs)."""
    x = variant - base
    n = len(x)
    if n > 1 and np.ptp(x) == 0:  # every pair differs alike: no spread, a point interval
        lo = hi = float(x[0])
        sd = 0.0
    elif n > 1:
        with warnings.catch_warnings():  # scipy warns of precision loss for near-equal pairs
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = stats.ttest_rel(variant, base).confidence_interval(confidence_level=level)
        lo, hi, sd = float(ci.low), float(ci.high), float(x.std(ddof=1))
    else:
        lo = hi = sd = float("nan")
    return {
        "n": n,
        "mean": float(x.mean()) if n else float("nan"),
        "ci_low": lo,
        "ci_high": hi,
        "sd": sd,
        "median": float(np.median(x)) if n else float("nan"),
        "share_higher": float((x > 0).mean()) if n else float("nan"),
    }


def index_outcomes(result: BatchResult, index: str, states=None, dates=None) -> list[Outcome]:
    """The outcomes ``INDEX STATE at DATE`` for each state and date (the earlier
    ``compare --index --state --date``): states default to those with the index defined,
    dates to the last record; each date is the record of its period."""
    check_index(index)
    states = check_states(result, states)
    if dates is None or len(dates) == 0:
        wanted = [result.indices["date"].max()]
    else:
        wanted = sorted({record_date(result, x) for x in dates})
    ids = _ids(result)
    return [
        parse_outcome_text(f"{index} {s} at {pd.Timestamp(d).date()}", ids)
        for s in states
        for d in wanted
    ]


def paired_outcome(result: BatchResult, baseline: str, variant: str, outcome) -> pd.DataFrame:
    """The outcome in both arms, paired by design point and replicate (the same seed):
    point, replicate, seed, base, variant, difference (variant minus base)."""
    check_arm(result, baseline, "--baseline")
    check_arm(result, variant, "--variant")
    if baseline == variant:
        raise UserError("--baseline and --variant name the same arm; compare two different arms")
    o = parse_outcome(outcome, result)
    keys = ["point", "replicate"]
    a = outcome_values(result, o, baseline)[[*keys, "seed", "value"]]
    b = outcome_values(result, o, variant)[[*keys, "seed", "value"]]
    m = a.merge(b, on=keys)
    if len(m) == 0:
        raise UserError(f"no finished runs of both {baseline!r} and {variant!r} to pair")
    if not (m["seed_x"] == m["seed_y"]).all():
        raise UserError(
            f"the runs of {baseline!r} and {variant!r} do not share seeds; cannot pair them"
        )
    m = m.rename(columns={"seed_x": "seed", "value_x": "base", "value_y": "variant"})
    m = m.drop(columns=["seed_y"])
    m["difference"] = m["variant"] - m["base"]
    return m


def difference_bands(
    result: BatchResult,
    baseline: str,
    variant: str,
    index: str = "alignment_index",
    states=None,
    *,
    outcome=None,
) -> pd.DataFrame:
    """Quantiles of the paired difference (q05 .. q95), and the mean with its 95% CI
    (paired t), by state and date: of ``index`` for ``states``, or with ``outcome`` of
    that outcome's quantity at every record (its state only)."""
    if outcome is None:
        d = paired(result, baseline, variant, index, states)
    else:
        o = parse_outcome(outcome, result)
        check_arm(result, baseline, "--baseline")
        check_arm(result, variant, "--variant")
        keys = ["point", "replicate", "date"]
        arms = [
            _arm_series(result, o, arm).merge(result.runs[RUN_KEYS], on="run_id")[[*keys, "value"]]
            for arm in (baseline, variant)
        ]
        d = arms[0].merge(arms[1], on=keys, suffixes=("_base", "_variant"))
        d["difference"] = d["value_variant"] - d["value_base"]
        d["state"] = o.state
    d = d[d["difference"].notna()]
    rows = []
    for (state, date), g in d.groupby(["state", "date"], observed=True):
        x = g["difference"].to_numpy()
        s = paired_summary(x, np.zeros_like(x))
        q = np.quantile(x, QUANTILES)
        rows.append(
            {
                "state": state,
                "date": date,
                **{f"q{round(100 * p):02d}": v for p, v in zip(QUANTILES, q, strict=True)},
                **{k: s[k] for k in ("mean", "n", "ci_low", "ci_high")},
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Outcomes of a batch
# --------------------------------------------------------------------------------------


def declared_outcomes(result: BatchResult) -> dict[str, str]:
    """The outcomes the experiment file declares (``outcomes:``): name -> text."""
    doc = (result.manifest.get("experiment") or {}).get("document") or {}
    found = doc.get("outcomes") if isinstance(doc, dict) else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def parse_outcome(text, result: BatchResult, where: str = "--outcome") -> Outcome:
    """An outcome of the batch: a name its experiment file declares under ``outcomes:``,
    or an outcome text (:mod:`sim.analysis.outcomes`), checked against the batch's
    states and poles; an :class:`~sim.analysis.outcomes.Outcome` is returned as it is.
    Dates are checked against the records when the outcome is evaluated.

    Raises:
        UserError: neither a declared name nor a text that parses (the message shows
            the grammar, the declared names, and a did-you-mean).
    """
    if isinstance(text, Outcome):
        return text
    declared = declared_outcomes(result)
    if text in declared:
        return named(parse_outcome_text(declared[text], _ids(result), _Poles(result)), text)
    try:
        return parse_outcome_text(text, _ids(result), _Poles(result), where=where)
    except OutcomeError:
        if declared and " " not in str(text).strip():
            raise UserError(
                f"{where} {text}: no outcome named {text!r} in the experiment file"
                f"{did_you_mean(text, declared)}; the declared outcomes are: "
                f"{', '.join(declared)} (or give an outcome text)\n{GRAMMAR}"
            ) from None
        raise


def outcome(result: BatchResult, text, arm: str | None = None) -> pd.DataFrame:
    """One value of an outcome per finished run: run_id, arm, point, replicate, seed,
    value.

    Args:
        text: an outcome text such as ``"tie AZ EU mean 2023..2025"`` or
            ``"alignment_index AZ at 2030-12-31"`` (the grammar:
            :mod:`sim.analysis.outcomes`), a name the experiment file declares under
            ``outcomes:``, or a parsed :class:`~sim.analysis.outcomes.Outcome`.
        arm: only this arm's runs (default: every arm).

    Raises:
        UserError: an unknown name or a bad text; a tie or pole outcome on a batch that
            kept only indices (``keep: ties``); a date or window without a record.
    """
    return outcome_values(result, text, arm)


def outcome_values(result: BatchResult, text, arm: str | None = None) -> pd.DataFrame:
    """:func:`outcome` (the name the rest of this module calls it by)."""
    o = parse_outcome(text, result)
    if arm is not None:
        check_arm(result, arm, "--arm")
    ties, indices = _arm_tables(result, o, arm)
    values = evaluate(o, ties=ties, indices=indices, by="run_id").rename("value")
    runs = result.runs[RUN_KEYS]
    if arm is not None:
        runs = runs[runs["arm"] == arm]
    return runs.merge(values.reset_index(), on="run_id", how="inner").reset_index(drop=True)


def _arm_series(result: BatchResult, o: Outcome, arm: str) -> pd.DataFrame:
    ties, indices = _arm_tables(result, o, arm)
    return series(o, ties=ties, indices=indices, by="run_id")


def _arm_tables(result: BatchResult, o: Outcome, arm: str | None):
    """The tie and indices tables an outcome reads (one arm's rows, or all)."""
    if o.needs_ties and result.ties is None and result.manifest.get("keep") == "ties":
        raise UserError(
            f"outcome {o.text!r} needs the tie table: the batch kept it, but it was loaded "
            "without it (sim.batch.load(DIR) reads it; ties=False does not)"
        )
    tables = []
    for table in (result.ties if o.needs_ties else None, result.indices):
        if table is not None and arm is not None:
            table = table[table["arm"] == arm]
        tables.append(table)
    return tables


def _ids(result: BatchResult) -> list[str]:
    states = result.manifest.get("states") or result.indices["state"].cat.categories
    return [str(s) for s in states]


class _Poles(Mapping):
    """The poles of a batch's scenario, read from its first arm's scenario file when
    first asked for (only ``pole`` outcomes need them)."""

    def __init__(self, result: BatchResult):
        self._result = result
        self._poles: dict | None = None

    def _load(self) -> dict:
        if self._poles is None:
            self._poles = dict(self._result.manifest.get("poles") or {})
            arm = next(iter(self._result.manifest["arms"].values()))
            if not self._poles and arm.get("scenario"):
                from sim.scenario import load_scenario

                try:
                    self._poles = dict(load_scenario(arm["scenario"]).spec.poles)
                except (UserError, OSError):
                    raise UserError(
                        f"{self._result.path}: a pole outcome needs the scenario's poles, "
                        f"and its scenario file {arm['scenario']!r} cannot be read"
                    ) from None
        return self._poles

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def sobol_indices(
    result: BatchResult, text, arm: str | None = None, seed: int | None = None
) -> pd.DataFrame:
    """First-order and total Sobol indices of an outcome, with 95% confidence intervals.

    ``text``: any outcome (a text, a declared name, or an
    :class:`~sim.analysis.outcomes.Outcome`; see :func:`outcome`).

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
