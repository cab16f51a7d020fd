"""Effects of counterfactuals in observable units: what a headline counterfactual (no
Ukraine war, peacekeepers stay, gas deal fails) would change in what the world records.

A counterfactual file ``extends`` the baseline and drops some of its shocks. For every
input draw (the point values, prior draws or posterior particles) and every seed, the
baseline and each counterfactual run with the same seed and the same input values
(common random numbers: the engine keys its random streams so that a dropped shock
shifts no other draw). The measurement model (:mod:`sim.calibration.measure`) is fitted
on the baseline's simulated years up to ``until``, once per input draw, as
:func:`sim.calibration.predictive.predictive` does, and both arms are read through the
same link with the same draw of its parameters (no residual noise: the noise is not part
of an effect). For the linear link ``y = a + b x`` the effect is then ``b`` times the
simulated quantity's difference, with ``b``'s own uncertainty in it.

The effect of a counterfactual on an observable of a dyad is, per replicate (seed x
input draw), the mean over the window's years of baseline minus counterfactual. The
table reports its median and 90% band over replicates, the same in the simulated
quantity's units (tie or alignment index), and the yardsticks a reader needs to judge
its size: the observed series' own standard deviation over the training years and the
link's residual standard deviation.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration import measure
from sim.calibration.forecast import FORECAST_SEED_START, Inputs, choose_inputs, seed_block
from sim.calibration.predictive import observed_for, simulate
from sim.errors import UserError
from sim.scenario import Scenario, load_scenario

#: First seed of effect runs: disjoint from tuning, validation, calibration and forecasts.
EFFECTS_SEED_START = FORECAST_SEED_START + 100_000
#: The last year the measurement links may be fitted on: later years are withheld to
#: score the forecasts (docs/DATA.md).
LAST_TRAINING_YEAR = 2021
#: The band reported: 5% and 95% quantiles over replicates, around the median.
BAND = (0.05, 0.95)
#: The printed table shows another state's row when its band excludes 0 and its median
#: effect is at least this share of the observed series' standard deviation.
NOTABLE_SD = 0.1
#: A counterfactual file's label is its file name without this prefix.
_PREFIX = "counterfactual_"
_KEYS = ["counterfactual", "observable", "state", "partner"]


@dataclass(frozen=True)
class Counterfactual:
    """A counterfactual scenario beside the baseline, and the short label it is shown by."""

    label: str
    scenario: Scenario


@dataclass
class Effects:
    """The effects of some counterfactuals on every scored observable and dyad.

    Attributes:
        table: one row per counterfactual, observable, state and partner: ``effect``
            (median), ``effect_lo``/``effect_hi`` (the 90% band), the same for
            ``tie_effect`` (the simulated quantity's difference), ``observed_sd``,
            ``effect_in_sd`` (the median effect over ``observed_sd``), ``link_sigma``,
            ``slope``, ``band_excludes_0``, ``replicates``.
        replicates: the effect and tie effect of each replicate (seed x input draw).
        fits: the links fitted for each input draw (``input_draw`` and the fit's row).
        focus: the scenario's focus state, whose rows come first.
        counterfactuals: label -> scenario name, in the order given.
        settings: what ran (inputs, seeds, years, until, link level, data provenance).
    """

    table: pd.DataFrame
    replicates: pd.DataFrame
    fits: pd.DataFrame
    focus: str | None
    counterfactuals: dict[str, str]
    settings: dict = field(default_factory=dict)
    wall_time: float = 0.0

    def text(self) -> str:
        """The compact table to print (:func:`text_table`)."""
        return text_table(self)

    def markdown(self) -> str:
        """Every row, one Markdown table per counterfactual, under the settings."""
        return markdown_table(self)


def load_counterfactuals(
    baseline: Scenario, paths: Sequence[str | Path | Counterfactual]
) -> list[Counterfactual]:
    """Load each counterfactual file (one loaded already passes as it is) and check that
    it is one of ``baseline``: it extends the baseline's file (directly or through other
    files), has the same states and the same calendar, and its label (file name) is not
    used twice.

    Raises:
        UserError: a file that is missing or invalid, or is not a counterfactual of the
            baseline.
    """
    if not paths:
        raise UserError("give at least one --counterfactual FILE")
    out: list[Counterfactual] = []
    for item in paths:
        scenario = item.scenario if isinstance(item, Counterfactual) else load_scenario(item)
        _check_counterfactual(baseline, scenario)
        path = Path(scenario.path)
        label = path.stem.removeprefix(_PREFIX) or path.stem
        if label in {c.label for c in out}:
            raise UserError(
                f"--counterfactual {path}: a counterfactual labelled {label!r} is given "
                "already (counterfactuals are labelled by file name)"
            )
        out.append(Counterfactual(label, scenario))
    return out


def _check_counterfactual(baseline: Scenario, cf: Scenario) -> None:
    """Refuse a file that does not extend the baseline, or differs in states or dates."""
    from sim.world.compiled import world_for

    if baseline.path is None or cf.path is None:
        raise UserError(
            "effects compare scenario files: load the baseline and each counterfactual from a file"
        )
    path = cf.path
    if baseline.path.resolve() not in _ancestors(path):
        raise UserError(
            f"--counterfactual {path}: does not extend the baseline {baseline.path} (a "
            "counterfactual names the baseline under `extends:`, directly or through a file "
            "that does, and drops shocks with `remove_shocks:`)"
        )
    if set(cf.state_ids) != set(baseline.state_ids):
        extra = sorted(set(cf.state_ids) - set(baseline.state_ids))
        missing = sorted(set(baseline.state_ids) - set(cf.state_ids))
        raise UserError(
            f"--counterfactual {path}: its states differ from the baseline's (added: "
            f"{', '.join(extra) or 'none'}; missing: {', '.join(missing) or 'none'})"
        )
    if world_for(cf).dates() != world_for(baseline).dates():
        raise UserError(
            f"--counterfactual {path}: its calendar differs from the baseline's (time: "
            "start, end and step must be the same to compare them date by date)"
        )


def _ancestors(path: Path) -> list[Path]:
    """The files ``path`` extends, nearest first (the loader has checked the chain)."""
    from sim.scenario.documents import read_yaml
    from sim.scenario.limits import MAX_EXTENDS_CHAIN

    chain, here = [], path.resolve()
    for _ in range(MAX_EXTENDS_CHAIN + 1):
        ref = read_yaml(here, str(here)).data.get("extends")
        if not isinstance(ref, str):
            break
        here = (here.parent / ref).resolve()
        chain.append(here)
    return chain


def window_years(scenario: Scenario, years: Sequence[int]) -> list[int]:
    """``years`` sorted, each checked to have records in the scenario's horizon."""
    from sim.world.compiled import world_for

    have = sorted({d.year for d in world_for(scenario).dates()[1:]})
    outside = [y for y in years if y not in have]
    if not years or outside:
        raise UserError(
            f"--years: {', '.join(map(str, outside)) or '(none)'} outside the horizon of "
            f"{scenario.path or scenario.name} ({have[0]}-{have[-1]})"
        )
    return sorted(int(y) for y in years)


def arm_draws(cf: Scenario, draws: Sequence[dict]) -> list[dict]:
    """The input draws as the counterfactual runs them: an input of a shock that the
    counterfactual removes has nothing to set there and is left out; every other value
    is the baseline's."""
    kept = set(cf.spec.shocks)

    def applies(path: str) -> bool:
        head, _, rest = path.partition(".")
        return head != "shocks" or rest.partition(".")[0] in kept

    return [{p: v for p, v in draw.items() if applies(p)} for draw in draws]


def replicate_effects(
    fit: measure.Fit,
    base: pd.DataFrame,
    cf: pd.DataFrame,
    years: Sequence[int],
    rng_key: Sequence[int],
) -> pd.DataFrame:
    """Per scored pair of ``fit`` and replicate: the mean over ``years`` of baseline
    minus counterfactual, in the observable's units (``effect``: both arms read through
    the link with the same draw of its parameters, from two generators made from
    ``rng_key``, without residual noise) and in the simulated quantity's (``tie_effect``).

    ``base`` and ``cf`` are :func:`sim.calibration.predictive.simulate` tables of the
    same replicates (same seeds and input draws).
    """
    keys = ["observable", "state", "partner", "year", "draw"]
    arms = [
        measure.predict(fit, sim, np.random.default_rng(list(rng_key)), years=years, noise=False)
        for sim in (base, cf)
    ]
    both = arms[0].merge(arms[1], on=keys, suffixes=("_base", "_cf"), validate="one_to_one")
    quantity = measure.LINKS[fit.observable].simulated
    x = [s[s["simulated"] == quantity].drop(columns="simulated") for s in (base, cf)]
    dx = x[0].merge(x[1], on=["state", "partner", "year", "replicate"], suffixes=("_b", "_c"))
    dx = dx.assign(tie_effect=dx["x_b"] - dx["x_c"]).rename(columns={"replicate": "draw"})
    both = both.merge(dx[["state", "partner", "year", "draw", "tie_effect"]], how="left")
    both["effect"] = both["value_base"] - both["value_cf"]
    means = both.groupby(["observable", "state", "partner", "draw"], sort=True)
    out = means[["effect", "tie_effect"]].mean().reset_index()
    return out.rename(columns={"draw": "replicate"})


def effects_by_draw(
    baseline: Scenario,
    observed: pd.DataFrame,
    sims: dict[str, pd.DataFrame],
    *,
    seeds: int,
    draws: int,
    until: int,
    years: Sequence[int],
    level: str,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The effects of every replicate and the links fitted per input draw.

    ``sims`` maps ``"baseline"`` and each counterfactual's label to its simulated table
    (replicate ``d * seeds + k`` is input draw d with seed k in every arm). The links
    of input draw d are fitted on the baseline's replicates of d, years up to ``until``.
    """
    input_of = {name: sim["replicate"].to_numpy() // seeds for name, sim in sims.items()}
    parts, fits = [], []
    for d in range(draws):
        arm = {name: sim[input_of[name] == d] for name, sim in sims.items()}
        base = arm.pop("baseline")
        fitted = measure.fit_all(
            observed, measure.mean_over_replicates(base), baseline, until=until, level=level
        )
        for fit in fitted.values():
            fits.append({"input_draw": d, **fit.row()})
            key = (seed, 17, d, measure.SCORED.index(fit.observable))
            for label, cf in arm.items():
                one = replicate_effects(fit, base, cf, years, key)
                parts.append(one.assign(counterfactual=label))
    return pd.concat(parts, ignore_index=True), pd.DataFrame(fits)


def summarise(
    per_replicate: pd.DataFrame, observed: pd.DataFrame, fits: pd.DataFrame, order: dict
) -> pd.DataFrame:
    """One row per counterfactual, observable and dyad: median and 90% band of the effect
    and the tie effect, the yardsticks, and whether the band excludes 0. ``order`` maps
    each key column to its values in report order."""
    g = per_replicate.groupby(_KEYS, sort=False)
    out = pd.DataFrame(index=g.size().index)
    for col in ("effect", "tie_effect"):
        q = g[col].quantile([BAND[0], 0.5, BAND[1]]).unstack()
        out[col], out[f"{col}_lo"], out[f"{col}_hi"] = q[0.5], q[BAND[0]], q[BAND[1]]
    out["replicates"] = g["effect"].count()
    out = out.reset_index()
    sd = observed.groupby(["observable", "state", "partner"])["value"].std().rename("observed_sd")
    links = fits.groupby("observable")[["sigma", "slope"]].median()
    out = out.merge(sd.reset_index(), how="left").merge(
        links.rename(columns={"sigma": "link_sigma"}).reset_index(), how="left"
    )
    out["effect_in_sd"] = out["effect"] / out["observed_sd"]
    out["band_excludes_0"] = (out["effect_lo"] > 0) | (out["effect_hi"] < 0)
    for col, values in order.items():
        rank = {v: i for i, v in enumerate(values)}
        out[f"_{col}"] = out[col].map(lambda v, r=rank: r.get(v, len(r)))
    ranks = [f"_{c}" for c in order]
    out = out.sort_values([*ranks, *_KEYS], kind="stable").drop(columns=ranks)
    return out.reset_index(drop=True)


def report_order(baseline: Scenario, labels: Sequence[str]) -> dict:
    """The order of the table's rows: counterfactuals as given, observables as scored,
    the focus state first and then the file's order, partners in the file's order."""
    states = list(baseline.state_ids)
    focus = baseline.spec.focus
    if focus in states:
        states = [focus, *(s for s in states if s != focus)]
    return {
        "counterfactual": list(labels),
        "state": states,
        "observable": list(measure.SCORED),
        "partner": ["", *baseline.state_ids],
    }


def effects(
    scenario: Scenario | str | Path,
    counterfactuals: Sequence[str | Path | Counterfactual],
    *,
    posterior: str | Path | None = None,
    prior: bool = False,
    draws: int = 20,
    seeds: int = 10,
    years: Sequence[int] = (2023, 2024, 2025),
    until: int = LAST_TRAINING_YEAR,
    data: str | Path | None = None,
    observed: pd.DataFrame | None = None,
    seed: int = 0,
) -> Effects:
    """The effects of ``counterfactuals`` (files that extend ``scenario``) on every
    observable the measurement model scores, for the mean over ``years``.

    ``observed``: a table of observed series as
    :func:`~sim.calibration.predictive.observed_for` returns it, instead of reading the
    data folder ``data``. Every input is checked before anything runs (bad input is a
    :class:`UserError`).
    """
    t0 = time.perf_counter()
    baseline = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    cfs = load_counterfactuals(baseline, counterfactuals)
    window = window_years(baseline, list(years))
    seed_list = seed_block(seeds, EFFECTS_SEED_START)
    if until > LAST_TRAINING_YEAR:
        raise UserError(
            f"--until {until}: the links are fitted on years up to {LAST_TRAINING_YEAR} at "
            "most; later years are withheld to score the forecasts"
        )
    chosen = choose_inputs(baseline, posterior, prior, draws, seed)
    if observed is None:
        observed = observed_for(baseline, data, until=until)
    provenance = observed.attrs.get("provenance", {})
    observed = observed[observed["year"] <= until]
    level = chosen.level(None)
    fit_years = sorted(set(observed["year"].astype(int)))
    sims = _simulate_arms(baseline, cfs, seed_list, chosen, sorted(set(fit_years) | set(window)))
    per_rep, fits = effects_by_draw(
        baseline,
        observed,
        sims,
        seeds=seeds,
        draws=len(chosen.draws),
        until=until,
        years=window,
        level=level,
        seed=seed,
    )
    order = report_order(baseline, [c.label for c in cfs])
    settings = {
        **chosen.record(),
        "seeds": {"first": EFFECTS_SEED_START, "count": seeds},
        "years": window,
        "trained_until": until,
        "link_level": level,
        "data": provenance,
        "counterfactuals": {c.label: c.scenario.reference() for c in cfs},
    }
    return Effects(
        table=summarise(per_rep, observed, fits, order),
        replicates=per_rep,
        fits=fits,
        focus=baseline.spec.focus,
        counterfactuals={c.label: c.scenario.name for c in cfs},
        settings=settings,
        wall_time=time.perf_counter() - t0,
    )


def _simulate_arms(
    baseline: Scenario,
    cfs: Sequence[Counterfactual],
    seeds: list[int],
    chosen: Inputs,
    years: list[int],
) -> dict[str, pd.DataFrame]:
    """The simulated years of the baseline and of each counterfactual, on the same seeds
    and input draws."""
    sims = {"baseline": simulate(baseline, seeds, chosen.draws, years)}
    for cf in cfs:
        sims[cf.label] = simulate(cf.scenario, seeds, arm_draws(cf.scenario, chosen.draws), years)
    return sims


def content_hash(baseline: Scenario, cfs: Sequence[Scenario]) -> str:
    """One hash of the baseline and its counterfactuals: what an effects table is of."""
    text = "+".join(s.content_hash for s in (baseline, *cfs))
    return hashlib.sha256(text.encode()).hexdigest()


def _band(mid: float, lo: float, hi: float, digits: int) -> str:
    return f"{mid:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def _dyad(state: str, partner: str) -> str:
    return f"{state}>{partner}" if partner else state


def _rows_text(rows: pd.DataFrame) -> list[str]:
    """Aligned lines of some rows of the summary table."""
    lines = []
    for r in rows.itertuples():
        flag = "*" if r.band_excludes_0 else " "
        lines.append(
            f"  {r.observable:<15} {_dyad(r.state, r.partner):<7} "
            f"{_band(r.effect, r.effect_lo, r.effect_hi, 4)} {flag}  "
            f"{_band(r.tie_effect, r.tie_effect_lo, r.tie_effect_hi, 3)}  "
            f"{r.observed_sd:>7.4f} {r.effect_in_sd:>+7.2f}"
        )
    return lines


def _preamble(result: Effects) -> list[str]:
    """What the numbers are: the window, the replicates, the links."""
    from sim.calibration.forecast import fits_summary

    s = result.settings
    years = s["years"]
    reps = int(result.table["replicates"].max()) if len(result.table) else 0
    draws = f"{s['input_draws']} {s['inputs']} draw{'s' if s['input_draws'] != 1 else ''}"
    lines = [
        f"effect = baseline minus counterfactual, mean over {years[0]}-{years[-1]}, in the "
        "observable's units (through the measurement model, no residual noise) and in tie "
        "units (alignment index for ideal_axis)",
        f"median [90% band] over {reps} replicates ({s['seeds']['count']} seeds x {draws}); "
        "* the band excludes 0; obs sd: the observed series' sd up to "
        f"{s['trained_until']}; in sd: the median effect in those sds",
        f"links ({s['link_level']} intercepts, fitted on the simulated years up to "
        f"{s['trained_until']} with observed data; median over input draws):",
    ]
    fitted_on = result.fits.groupby("observable")["years"].first()
    for r in fits_summary(result.fits).itertuples():
        lines.append(
            f"  {r.observable:<15} {fitted_on[r.observable]}  slope {r.slope_median:+.3f}  "
            f"sigma {r.sigma_median:.4f}  R2 {r.r2_median:.2f}  expected sign in "
            f"{r.sign_as_expected:.0%} of draws"
        )
    return lines


def text_table(result: Effects) -> str:
    """The printed table: the preamble, then per counterfactual every row of the focus
    state, then the other states' rows whose band excludes 0 and whose median is at least
    :data:`NOTABLE_SD` observed sds (every row is in the files)."""
    head = (
        f"  {'observable':<15} {'dyad':<7} {'effect [90% band]':<26}    "
        f"{'tie units [90% band]':<23}  {'obs sd':>7} {'in sd':>7}"
    )
    lines = _preamble(result)
    for label, name in result.counterfactuals.items():
        rows = result.table[result.table["counterfactual"] == label]
        mine = rows["state"] == result.focus
        notable = rows["band_excludes_0"] & (rows["effect_in_sd"].abs() >= NOTABLE_SD)
        others = rows[~mine & notable]
        hidden = int((~mine).sum()) - len(others)
        lines += ["", f"{label}: {name}", head, *_rows_text(rows[mine])]
        if len(others):
            lines += ["  other states:", *_rows_text(others)]
        if hidden:
            lines.append(
                f"  ({hidden} rows of other states not shown: band includes 0, or the effect "
                f"is under {NOTABLE_SD:g} sd)"
            )
    return "\n".join(lines) + "\n"


def markdown_table(result: Effects) -> str:
    """Every row, one Markdown table per counterfactual, under the preamble."""
    lines = ["# Effects of counterfactuals in observable units", ""]
    lines += [f"{line}  " for line in _preamble(result)]
    cols = (
        "| observable | dyad | effect | 90% band | tie units | 90% band | obs sd | in sd | "
        "band excludes 0 |"
    )
    for label, name in result.counterfactuals.items():
        lines += ["", f"## {label}: {name}", "", cols, "|" + "---|" * 9]
        for r in result.table[result.table["counterfactual"] == label].itertuples():
            lines.append(
                f"| {r.observable} | {_dyad(r.state, r.partner)} | {r.effect:+.4f} | "
                f"[{r.effect_lo:+.4f}, {r.effect_hi:+.4f}] | {r.tie_effect:+.3f} | "
                f"[{r.tie_effect_lo:+.3f}, {r.tie_effect_hi:+.3f}] | {r.observed_sd:.4f} | "
                f"{r.effect_in_sd:+.2f} | {'yes' if r.band_excludes_0 else 'no'} |"
            )
    return "\n".join(lines) + "\n"
