"""Predictive distributions of observables: simulate, link, draw.

For each input draw (a set of parameter values: the point values, a prior draw or a
posterior particle) the ensemble engine runs the same seeds (common random numbers), the
measurement model is fitted on that draw's training years, and each replicate yields one
predictive draw per observable, dyad and year. Seeds, input draws and the link's own
uncertainty all end up in the spread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration import measure
from sim.drivers.ensemble import run_ensemble
from sim.errors import UserError
from sim.scenario import Scenario
from sim.world.compiled import world_for

#: First seed of calibration and scoring runs: disjoint from tuning seeds (0-39) and from
#: validation seeds (100000 onwards, scenarios' ``validation.seed_start``).
CALIBRATION_SEED_START = 200_000


@dataclass
class Predictive:
    """Predictive draws and the links fitted for each input draw.

    Attributes:
        samples: ``observable, state, partner, year, draw, value`` (draw = replicate).
        fits: one row per input draw and observable (``input_draw`` and the link's fit).
        input_of_draw: ``(R,)`` the input draw of each replicate.
    """

    samples: pd.DataFrame
    fits: pd.DataFrame
    input_of_draw: np.ndarray


def observed_for(
    scenario: Scenario, data: str | Path | None = None, *, until: int | None = None
) -> pd.DataFrame:
    """The observed series the measurement model scores for ``scenario``: its mapped
    states (``observed.codes``), the UN observables, years up to ``until``.

    Raises:
        UserError: no code table (a fictional world), a scored state without a code, or
            no data folder.
    """
    from sim.observed import observed_series, resolve_data_dir

    spec = getattr(scenario.spec, "observed", None)
    codes = dict(spec.codes) if spec is not None and spec.codes else {}
    where = scenario.path or scenario.name
    if not codes:
        raise UserError(
            f"{where}: no `observed: codes:` section, so its states map to no country and "
            "there is no observed series to compare with (a fictional world has none; "
            "see docs/DATA.md to map a real one)"
        )
    states, partners = measure.scored_pairs(scenario)
    missing = [s for s in [*states, *partners] if s not in codes]
    if missing:
        raise UserError(
            f"{where}: observed.codes: scenario state {missing[0]!r} has no code mapping "
            f"(also missing: {', '.join(missing[1:]) or 'none'}); add it, e.g. "
            f"{missing[0]}: ISO3, under observed.codes"
        )
    table = observed_series(
        codes,
        resolve_data_dir(data),
        observables=list(measure.SCORED),
        axis=measure.anchors(scenario),
    )
    if until is not None:
        provenance = table.attrs.get("provenance", {})
        table = table[table["year"] <= until].reset_index(drop=True)
        table.attrs["provenance"] = provenance
    return measure.scored_observed(table, scenario)


def record_dates(scenario: Scenario, years: Sequence[int]):
    """The record dates of the scenario that fall in ``years``, the start record (the
    initial ties, dated the day before the start) left out: it is not a simulated year."""
    world = world_for(scenario)
    wanted = set(int(y) for y in years)
    return [d for d in world.dates()[1:] if d.year in wanted]


def simulate(
    scenario: Scenario,
    seeds: Sequence[int],
    input_draws: Sequence[Mapping[str, float]],
    years: Sequence[int],
    *,
    shocks_off: Sequence[str] = (),
) -> pd.DataFrame:
    """Calendar-year means of ties and alignment indices for every input draw times every
    seed (replicate ``d * len(seeds) + k`` is input draw d with seed k)."""
    dates = record_dates(scenario, years)
    if not dates:
        span = f"{min(years)}-{max(years)}" if len(years) else "(none)"
        raise UserError(f"{scenario.name}: its horizon has no records in the years {span}")
    seeds = list(seeds)
    overrides = [dict(d) for d in input_draws for _ in seeds]
    result = run_ensemble(
        scenario,
        seeds * len(input_draws),
        overrides=overrides,
        keep="ties",
        dates=dates,
        shocks_off=shocks_off,
    )
    return measure.simulated_years(result.ties, result.indices)


def predictive(
    scenario: Scenario,
    observed: pd.DataFrame,
    *,
    seeds: Sequence[int],
    input_draws: Sequence[Mapping[str, float]] = ({},),
    fit_until: int,
    years: Sequence[int],
    rng: np.random.Generator,
    sim: pd.DataFrame | None = None,
    shocks_off: Sequence[str] = (),
    level: str = "partner",
) -> Predictive:
    """Predictive draws for ``years``, the links fitted on years up to ``fit_until``.

    ``sim`` may pass a table from :func:`simulate` already run (for several origins of a
    backtest); it must cover the fit years and ``years``. ``level``: the links'
    intercepts (:data:`sim.calibration.measure.LEVELS`).
    """
    k = len(seeds)
    if sim is None:
        fit_years = sorted(set(observed["year"].astype(int)) & set(range(0, fit_until + 1)))
        sim = simulate(
            scenario, seeds, input_draws, sorted(set(fit_years) | set(years)), shocks_off=shocks_off
        )
    input_of = sim["replicate"].to_numpy() // k
    samples, fits = [], []
    for d in range(len(input_draws)):
        part = sim[input_of == d]
        fitted = measure.fit_all(
            observed, measure.mean_over_replicates(part), scenario, until=fit_until, level=level
        )
        for fit in fitted.values():
            samples.append(measure.predict(fit, part, rng, years=years))
            fits.append({"input_draw": d, **fit.row()})
    reps = np.arange(len(input_draws) * k)
    return Predictive(
        samples=pd.concat(samples, ignore_index=True),
        fits=pd.DataFrame(fits),
        input_of_draw=reps // k,
    )


def quantiles(samples: pd.DataFrame, qs=(0.05, 0.25, 0.5, 0.75, 0.95)) -> pd.DataFrame:
    """Predictive quantiles per observable, dyad and year: columns ``q05 .. q95``."""
    keys = ["observable", "state", "partner", "year"]
    g = samples.groupby(keys, sort=True)["value"]
    out = g.quantile(list(qs)).unstack()
    out.columns = [f"q{round(q * 100):02d}" for q in qs]
    out["draws"] = g.size()
    return out.reset_index()
