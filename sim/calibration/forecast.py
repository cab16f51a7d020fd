"""Forecasts and the scorecard: what the model predicts for data it has not seen, and how
well it predicts the data it has.

``forecast`` writes predictive quantiles (5, 25, 50, 75 and 95%) of every observable and
dyad the measurement model covers, for each year after the training years (2022-2025 by
default), from a posterior (or the prior, or the point values) to ``forecast.parquet``:
the file the withheld years will score. ``score`` compares a model with the observed
series on the training years (coverage, CRPS, skill against persistence and a linear
trend) and in a rolling-origin backtest inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.predictive import (
    CALIBRATION_SEED_START,
    observed_for,
    predictive,
    quantiles,
    simulate,
)
from sim.errors import UserError
from sim.outputs.files import atomic_dir, write_figure, write_manifest
from sim.outputs.kinds import FORECAST, SCORE
from sim.scenario import Scenario, load_scenario

#: The links' intercepts unless told otherwise (see sim.calibration.measure).
DEFAULT_LEVEL = "partner"

#: Seeds of forecasts and scorecards (disjoint from tuning, validation and calibration).
FORECAST_SEED_START = CALIBRATION_SEED_START + 100_000


@dataclass(frozen=True)
class Inputs:
    """Which input values a forecast or scorecard runs: ``point`` (the file's values),
    ``prior`` (draws from the ranges) or ``posterior`` (a calibration's particles)."""

    kind: str
    draws: list[dict]
    posterior: str | None = None
    posterior_manifest: dict | None = None

    def level(self, asked: str | None) -> str:
        """The links' intercept level: as asked, else the calibration's, else the
        default; a posterior is used with the level it was calibrated with."""
        from sim.calibration.measure import LEVELS

        settings = (self.posterior_manifest or {}).get("settings") or {}
        calibrated = settings.get("level", "partner") if self.posterior else None
        level = asked or calibrated or DEFAULT_LEVEL
        if level not in LEVELS:
            raise UserError(f"--link: expected one of {', '.join(LEVELS)}, got {level!r}")
        if calibrated and level != calibrated:
            raise UserError(
                f"--link {level}: the posterior in {self.posterior} was calibrated with "
                f"--link {calibrated}; use that, or calibrate again"
            )
        return level

    def record(self) -> dict:
        rec = {"inputs": self.kind, "input_draws": len(self.draws)}
        if self.posterior is not None:
            m = self.posterior_manifest or {}
            rec["posterior"] = {
                "path": self.posterior,
                "created": m.get("created"),
                "final_epsilon": m.get("final_epsilon"),
            }
        return rec


def choose_inputs(
    scenario: Scenario, posterior: str | Path | None, prior: bool, draws: int, seed: int
) -> Inputs:
    """The input draws: a posterior's (resampled by weight), the prior's, or the point
    values (one draw)."""
    from sim.calibration.calibrate import load_posterior, resample
    from sim.scenario.priors import draw_inputs

    if not 1 <= draws <= 100_000:
        raise UserError(f"--draws: expected 1 to 100000, got {draws}")
    rng = np.random.default_rng([seed, 7])
    if posterior is not None and prior:
        raise UserError("give --posterior DIR or --prior, not both")
    if posterior is not None:
        table, manifest = load_posterior(posterior)
        ref = (manifest.get("scenario") or {}).get("content_hash")
        if ref != scenario.content_hash:
            raise UserError(
                f"--posterior {posterior}: calibrated another version of the scenario "
                f"(content hash {str(ref)[:12]}, this file {scenario.content_hash[:12]})"
            )
        return Inputs("posterior", resample(scenario, table, draws, rng), str(posterior), manifest)
    if prior:
        return Inputs("prior", draw_inputs(scenario, rng, draws))
    return Inputs("point", [{}])


def seed_block(n: int, start: int = FORECAST_SEED_START) -> list[int]:
    """``--seeds N``: the N seeds from ``start`` (1 to 1000, or a clear error)."""
    if not 1 <= n <= 1000:
        raise UserError(f"--seeds: expected 1 to 1000, got {n}")
    return list(range(start, start + n))


def forecast(
    scenario: Scenario | str | Path,
    out: str | Path,
    *,
    posterior: str | Path | None = None,
    prior: bool = False,
    draws: int = 100,
    seeds: int = 4,
    years: Sequence[int] = (2022, 2023, 2024, 2025),
    until: int = 2021,
    data: str | Path | None = None,
    seed: int = 0,
    level: str | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """Write ``forecast.parquet`` (and a CSV, a figure, the fitted links and a manifest)
    into ``out``; returns the quantile table. ``level``: the links' intercepts (default:
    the posterior's, else ``DEFAULT_LEVEL``)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    years = sorted(int(y) for y in years)
    if years[0] <= until:
        raise UserError(f"--years: forecasts are for years after --until {until}")
    observed = observed_for(scenario, data, until=until)
    chosen = choose_inputs(scenario, posterior, prior, draws, seed)
    level = chosen.level(level)
    rng = np.random.default_rng([seed, 11])
    train = sorted(int(y) for y in observed["year"].unique())
    pred = predictive(
        scenario,
        observed,
        seeds=seed_block(seeds),
        input_draws=chosen.draws,
        fit_until=until,
        years=[*train, *years],
        rng=rng,
        level=level,
    )
    samples = pred.samples
    table = quantiles(samples[samples["year"].isin(years)])
    fields = {
        **chosen.record(),
        "seeds": {"first": FORECAST_SEED_START, "count": seeds},
        "years": years,
        "trained_until": until,
        "link_level": level,
        "data": observed.attrs.get("provenance", {}),
        "rows": len(table),
    }
    with atomic_dir(out, FORECAST, force=force, inputs=_inputs(scenario, posterior)) as tmp:
        table.to_parquet(tmp / "forecast.parquet", index=False)
        table.to_csv(tmp / "forecast.csv", index=False)
        pred.fits.to_csv(tmp / "fits.csv", index=False)
        write_figure(_forecast_figure(samples, observed, until), tmp / "forecast.png")
        write_manifest(tmp, _stamp(fields, FORECAST, scenario))
    return table


def _forecast_figure(samples: pd.DataFrame, observed: pd.DataFrame, until: int):
    from sim.calibration.scoring import score_figure

    obs = "bsv_agreement" if (samples["observable"] == "bsv_agreement").any() else None
    obs = obs or str(samples["observable"].iloc[0])
    return score_figure(
        samples[samples["observable"] == obs],
        observed[observed["observable"] == obs],
        observable=obs,
        origin=until,
    )


def _inputs(scenario: Scenario, posterior) -> list:
    return [p for p in (scenario.path, posterior) if p is not None]


def _stamp(fields: dict, kind: str, scenario: Scenario) -> dict:
    from sim.outputs.manifest import stamped

    return stamped(fields, kind=kind, scenario=scenario)


@dataclass
class Scorecard:
    """A scorecard: the training-years table, the backtest and the fitted links."""

    table: pd.DataFrame
    backtest: pd.DataFrame
    backtest_summary: pd.DataFrame
    fits: pd.DataFrame
    inputs: pd.DataFrame  # the scenario's arms and protection numbers beside the data


def score(
    scenario: Scenario | str | Path,
    out: str | Path | None = None,
    *,
    posterior: str | Path | None = None,
    prior: bool = False,
    draws: int = 50,
    seeds: int = 4,
    until: int = 2021,
    horizon: int = 3,
    data: str | Path | None = None,
    seed: int = 0,
    level: str | None = None,
    force: bool = False,
) -> Scorecard:
    """Score a model (point values, prior or posterior) against the observed series.

    On the training years: coverage of the 50% and 90% predictive bands, CRPS and skill
    against persistence and a linear trend (built from the years before the first
    training year). Rolling origin: for each training year t at which the links can be
    fitted, they are refitted on years up to t and years t+1 .. t+horizon are predicted,
    the naive forecasts built from years up to t. The simulation itself never sees
    data; only the links and, for a posterior, the calibration do, so a posterior's
    backtest is not out of sample.
    """
    from sim.calibration import scoring as metrics

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    observed = observed_for(scenario, data, until=until)
    chosen = choose_inputs(scenario, posterior, prior, draws, seed)
    level = chosen.level(level)
    seed_list = seed_block(seeds)
    sim = simulate(scenario, seed_list, chosen.draws, _simulated_years(scenario, observed))
    train = sorted(int(y) for y in sim["year"].unique() if y <= until)
    rng = np.random.default_rng([seed, 13])

    def predict_at(origin: int, years: Sequence[int]):
        """The predictive draws for ``years``, the links fitted up to ``origin``."""
        return predictive(
            scenario,
            observed,
            seeds=seed_list,
            input_draws=chosen.draws,
            fit_until=origin,
            years=years,
            rng=rng,
            sim=sim,
            level=level,
        )

    def by_origin(origin: int, years: Sequence[int]) -> pd.DataFrame:
        return _where_observed(predict_at(origin, years).samples, observed)

    pred = predict_at(until, train)
    samples = _where_observed(pred.samples, observed)
    table = metrics.scorecard(samples, observed, years=train, origin=train[0] - 1)
    origins = [t for t in train[:-1] if _fits_at(by_origin, t, horizon, train)]
    back = metrics.backtest(
        lambda t: by_origin(t, [y for y in train if t < y <= t + horizon]),
        observed,
        origins,
        horizon=horizon,
    )
    card = Scorecard(
        table, back, metrics.backtest_summary(back), pred.fits, _inputs_table(scenario, data)
    )
    if out is not None:
        extra = {
            "seeds": {"first": FORECAST_SEED_START, "count": seeds},
            "training_years": train,
            "origins": origins,
            "horizon": horizon,
            "link_level": level,
            "data": observed.attrs.get("provenance", {}),
        }
        _write_scorecard(out, card, samples, observed, scenario, chosen, force, extra)
    return card


def _inputs_table(scenario: Scenario, data) -> pd.DataFrame:
    from sim.calibration.inputs_check import inputs_against_data
    from sim.observed import observed_series, resolve_data_dir

    raw = observed_series(
        dict(scenario.spec.observed.codes),
        resolve_data_dir(data),
        observables=["arms_share", "alliance_defense"],
    )
    return inputs_against_data(scenario, raw)


def _where_observed(samples: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """The samples of the observables and years that have observed values."""
    have = observed[["observable", "year"]].drop_duplicates()
    return samples.merge(have, on=["observable", "year"], how="inner")


def _fits_at(by_origin, t: int, horizon: int, train: list[int]) -> bool:
    """Whether the links can be fitted on years up to ``t`` (a dyad-level link needs
    two years per dyad) and something is left to predict."""
    try:
        return len(by_origin(t, [y for y in train if t < y <= t + horizon])) > 0
    except UserError:
        return False


def _simulated_years(scenario: Scenario, observed: pd.DataFrame) -> list[int]:
    from sim.world.compiled import world_for

    have = {d.year for d in world_for(scenario).dates()[1:]}
    years = sorted(have & set(int(y) for y in observed["year"].unique()))
    if not years:
        raise UserError(
            f"{scenario.path or scenario.name}: its horizon ({min(have)}-{max(have)}) has no "
            "year with observed data; nothing to score"
        )
    return years


def _write_scorecard(out, card: Scorecard, samples, observed, scenario, chosen, force, extra):
    from sim.calibration import scoring as metrics

    fields = {**chosen.record(), **extra}
    with atomic_dir(out, SCORE, force=force, inputs=_inputs(scenario, chosen.posterior)) as tmp:
        card.table.to_csv(tmp / "scorecard.csv", index=False)
        card.backtest.to_csv(tmp / "backtest.csv", index=False)
        card.backtest_summary.to_csv(tmp / "backtest_summary.csv", index=False)
        card.fits.to_csv(tmp / "fits.csv", index=False)
        card.inputs.to_csv(tmp / "inputs_vs_data.csv", index=False)
        (tmp / "scorecard.txt").write_text(metrics.format_scorecard(card.table) + "\n")
        obs = "bsv_agreement" if (samples["observable"] == "bsv_agreement").any() else None
        obs = obs or str(samples["observable"].iloc[0])
        picked = samples[samples["observable"] == obs]
        seen = observed[observed["observable"] == obs]
        fig = metrics.score_figure(picked, seen, observable=obs)
        write_figure(fig, tmp / "scorecard.png")
        write_manifest(tmp, _stamp(fields, SCORE, scenario))


def fits_summary(fits: pd.DataFrame) -> pd.DataFrame:
    """The links over input draws: median slope, share of draws with the expected sign."""
    g = fits.groupby("observable")
    return pd.DataFrame(
        {
            "slope_median": g["slope"].median(),
            "r2_median": g["r2"].median(),
            "sigma_median": g["sigma"].median(),
            "sign_as_expected": g["sign_as_expected"].mean(),
            "n": g["n"].max(),
        }
    ).reset_index()
