"""The scorecard's mathematics (``sim/calibration/scoring.py``): CRPS and coverage against
known answers, naive forecasts on hand-made series, scorecards and rolling-origin
backtests on synthetic forecasts, the figure and the text table, bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from scipy import integrate, stats

from sim.calibration.scoring import (
    backtest,
    backtest_summary,
    crps_gaussian,
    crps_samples,
    format_scorecard,
    interval_coverage,
    linear_trend,
    persistence,
    recent_mean,
    score_figure,
    scorecard,
)
from sim.errors import UserError

YEARS = np.arange(2000, 2021)


def observed_table(series: dict[tuple[str, str], dict[int, float]], observable="unga"):
    """``{(state, partner): {year: value}}`` as an observed table."""
    rows = [
        (observable, state, partner, year, value)
        for (state, partner), by_year in series.items()
        for year, value in by_year.items()
    ]
    return pd.DataFrame(rows, columns=["observable", "state", "partner", "year", "value"])


def predictive_table(centres: pd.DataFrame, sd: float, draws: int, rng) -> pd.DataFrame:
    """``draws`` Gaussian samples around each row's ``value``."""
    values = centres["value"].to_numpy()[:, None] + rng.normal(0.0, sd, (len(centres), draws))
    out = centres.drop(columns="value").loc[centres.index.repeat(draws)].reset_index(drop=True)
    out["draw"] = np.tile(np.arange(draws), len(centres))
    out["value"] = values.ravel()
    return out


def line(intercept: float, slope: float, years=YEARS) -> dict[int, float]:
    return {int(y): intercept + slope * (y - 2000) for y in years}


def brute_crps(x: np.ndarray, y: float, fair: bool) -> float:
    m = len(x)
    pairs = np.abs(x[:, None] - x[None, :]).sum()
    return np.mean(np.abs(x - y)) - pairs / (2 * m * (m - 1) if fair else 2 * m * m)


def normal_crps(mu: float, sigma: float, y: float) -> float:
    z = (y - mu) / sigma
    phi, cdf = stats.norm.pdf(z), stats.norm.cdf(z)
    return sigma * (z * (2 * cdf - 1) + 2 * phi - 1 / math.sqrt(math.pi))


# ---------------------------------------------------------------- CRPS and coverage


@pytest.mark.parametrize("fair", [True, False])
def test_crps_of_one_draw_is_the_absolute_error(fair):
    assert crps_samples(np.array([0.7]), 0.2, fair=fair) == pytest.approx(0.5)
    assert crps_samples(np.array([-1.0]), 2.0, fair=fair) == pytest.approx(3.0)


@pytest.mark.parametrize("fair", [True, False])
def test_crps_of_a_point_mass_on_the_truth_is_zero(fair):
    assert crps_samples(np.full(50, 0.3), 0.3, fair=fair) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("fair", [True, False])
def test_sorted_crps_equals_the_pairwise_definition(fair):
    rng = np.random.default_rng(3)
    for m in (2, 3, 7, 40):
        x = rng.normal(size=m)
        y = float(rng.normal())
        assert crps_samples(x, y, fair=fair) == pytest.approx(brute_crps(x, y, fair), rel=1e-12)


def test_crps_of_many_normal_draws_matches_the_closed_form():
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 1.0, 20_000)
    for y in (-1.5, 0.0, 0.7, 2.5):
        assert crps_samples(x, y) == pytest.approx(normal_crps(0.0, 1.0, y), abs=0.02)
        assert crps_samples(x, y, fair=False) == pytest.approx(normal_crps(0.0, 1.0, y), abs=0.02)


def test_fair_crps_is_unbiased_and_the_standard_form_is_not():
    # E|X - X'| / (2 m) = (2 / sqrt(pi)) / (2 m) is the standard form's excess for N(0, 1)
    rng = np.random.default_rng(5)
    m, y = 5, 0.3
    ensembles = rng.normal(size=(20_000, m))
    fair = crps_samples(ensembles, np.full(len(ensembles), y)).mean()
    standard = crps_samples(ensembles, y, fair=False).mean()
    exact = normal_crps(0.0, 1.0, y)
    assert fair == pytest.approx(exact, abs=0.01)
    assert standard - exact == pytest.approx(1 / (math.sqrt(math.pi) * m), abs=0.01)


def test_crps_is_vectorised_over_keys():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 30)), rng.normal(size=4)
    got = crps_samples(x, y)
    assert got.shape == (4,)
    assert got == pytest.approx([crps_samples(x[k], y[k]) for k in range(4)])


def test_gaussian_crps_equals_the_integral_definition():
    # CRPS(F, y) = integral of (F(x) - 1{x >= y})^2 dx
    for mu, sigma, y in [(0.0, 1.0, 0.0), (0.4, 0.1, 0.55), (-2.0, 3.0, 1.0)]:
        law = stats.norm(mu, sigma)
        below = integrate.quad(lambda x, law=law: law.cdf(x) ** 2, -np.inf, y)[0]
        above = integrate.quad(lambda x, law=law: law.sf(x) ** 2, y, np.inf)[0]
        assert crps_gaussian(mu, sigma, y) == pytest.approx(below + above, rel=1e-6)
    assert crps_gaussian(0.0, 1.0, 0.0) == pytest.approx((math.sqrt(2) - 1) / math.sqrt(math.pi))


def test_gaussian_crps_with_zero_sd_is_the_absolute_error():
    got = crps_gaussian(np.array([0.0, 1.0]), np.array([0.0, 0.0]), np.array([0.5, 1.0]))
    assert got == pytest.approx([0.5, 0.0])


def test_interval_coverage_uses_central_quantiles_with_ends_included():
    x = np.arange(101.0)  # quantiles at 25/75 (50%) and 5/95 (90%)
    assert interval_coverage(x, 25.0, 0.5) and interval_coverage(x, 75.0, 0.5)
    assert not interval_coverage(x, 24.9, 0.5) and not interval_coverage(x, 75.1, 0.5)
    assert interval_coverage(x, 5.0, 0.9) and not interval_coverage(x, 96.0, 0.9)
    hits = interval_coverage(np.stack([x, x + 50]), np.array([50.0, 50.0]), 0.5)
    assert hits.tolist() == [True, False]


# ---------------------------------------------------------------- naive forecasts


def test_a_constant_series_is_forecast_exactly_by_both_naive_rules():
    obs = observed_table({("AZ", "US"): {int(y): 0.4 for y in YEARS}})
    for forecast in (persistence(obs, 2010, 3), linear_trend(obs, 2010, 3)):
        assert forecast["year"].tolist() == [2011, 2012, 2013]
        assert forecast["lead"].tolist() == [1, 2, 3]
        assert forecast["value"].tolist() == pytest.approx([0.4] * 3)
        assert forecast["sd"].tolist() == pytest.approx([0.0] * 3)


def test_a_straight_line_is_exact_for_the_trend_and_off_by_slope_times_lead_for_persistence():
    obs = observed_table({("AZ", "US"): line(0.2, 0.05)})
    trend = linear_trend(obs, 2010, 3)
    assert trend["value"].tolist() == pytest.approx([0.75, 0.8, 0.85])
    assert trend["sd"].tolist() == pytest.approx([0.0] * 3, abs=1e-12)
    last = persistence(obs, 2010, 3)
    assert last["value"].tolist() == pytest.approx([0.7] * 3)
    assert (trend["value"] - last["value"]).tolist() == pytest.approx([0.05, 0.10, 0.15])
    # every one-step error of persistence is the slope; sd grows as sqrt(lead)
    assert last["sd"].tolist() == pytest.approx([0.05 * math.sqrt(h) for h in (1, 2, 3)])


def test_naive_forecasts_see_nothing_after_the_origin():
    series = line(0.2, 0.05)
    clean = observed_table({("AZ", "US"): series})
    spoiled = observed_table({("AZ", "US"): {y: v + 9.0 * (y > 2010) for y, v in series.items()}})
    for rule in (persistence, linear_trend):
        pd.testing.assert_frame_equal(rule(clean, 2010, 3), rule(spoiled, 2010, 3))


def test_naive_forecasts_start_from_the_last_observation_before_the_origin():
    obs = observed_table({("AZ", "US"): line(0.2, 0.05, range(2000, 2009))})  # ends in 2008
    last = persistence(obs, 2010, 2)
    assert last["value"].tolist() == pytest.approx([0.6, 0.6])
    assert last["lead"].tolist() == [1, 2]
    assert last["sd"].tolist() == pytest.approx([0.05 * math.sqrt(3), 0.05 * 2])


def test_the_trend_uses_only_the_last_window_years():
    kinked = {y: 1.0 if y <= 2005 else 1.0 + 0.1 * (y - 2005) for y in range(2000, 2011)}
    obs = observed_table({("AZ", "US"): kinked})
    assert linear_trend(obs, 2010, 1, window=4)["value"].iloc[0] == pytest.approx(1.6)
    assert linear_trend(obs, 2010, 1, window=11)["value"].iloc[0] < 1.6


def test_the_recent_mean_is_the_mean_of_the_last_window_years():
    """A series that alternates around a level: the recent mean forecasts the level, with
    an sd from its own one-step errors; persistence is off by the swing."""
    swing = {y: 0.5 + (0.1 if y % 2 else -0.1) for y in range(2000, 2011)}  # 2010: 0.4
    obs = observed_table({("AZ", "US"): swing})
    mean = recent_mean(obs, 2010, 2, window=4)  # 2007..2010: 0.6, 0.4, 0.6, 0.4
    assert mean["value"].tolist() == pytest.approx([0.5, 0.5])
    assert mean["lead"].tolist() == [1, 2]
    assert mean["sd"].iloc[0] > 0 and mean["sd"].iloc[1] > mean["sd"].iloc[0]
    assert recent_mean(obs, 2010, 1, window=1)["value"].iloc[0] == pytest.approx(0.4)
    pd.testing.assert_frame_equal(
        recent_mean(obs, 2010, 2, window=1), persistence(obs, 2010, 2)
    )  # a window of one year is persistence
    with pytest.raises(UserError, match="window must be at least 1"):
        recent_mean(obs, 2010, 1, window=0)
    spoiled = observed_table({("AZ", "US"): {y: v + 9.0 * (y > 2010) for y, v in swing.items()}})
    pd.testing.assert_frame_equal(recent_mean(obs, 2010, 2), recent_mean(spoiled, 2010, 2))


def test_a_dyad_without_history_gets_no_naive_forecast():
    obs = observed_table({("AZ", "US"): line(0.2, 0.05), ("AM", "RU"): {2015: 0.5}})
    assert set(persistence(obs, 2010, 2)["state"]) == {"AZ"}


# ---------------------------------------------------------------- scorecard


@pytest.fixture(scope="module")
def trending():
    """Ten dyads on straight lines with noise (sd 0.01), observed 2000-2020."""
    rng = np.random.default_rng(8)
    truth, noisy = {}, {}
    for k in range(10):
        key = (f"S{k}", "US")
        truth[key] = line(0.2 + 0.02 * k, 0.03 - 0.006 * k)
        noisy[key] = {y: v + rng.normal(0.0, 0.01) for y, v in truth[key].items()}
    return observed_table(truth), observed_table(noisy)


def forecast_around(truth: pd.DataFrame, years, shift: float, seed: int) -> pd.DataFrame:
    centres = truth[truth["year"].isin(years)].assign(value=lambda d: d["value"] + shift)
    return predictive_table(centres, 0.01, 200, np.random.default_rng(seed))


def test_scorecard_rewards_a_calibrated_forecast_of_a_trend(trending):
    truth, obs = trending
    table = scorecard(forecast_around(truth, range(2016, 2021), 0.0, 1), obs)
    assert list(table.columns[:4]) == ["observable", "state", "partner", "n_years"]
    assert len(table) == 11 and table.iloc[-1][["state", "partner"]].tolist() == ["ALL", ""]
    pooled = table.iloc[-1]
    assert pooled["n_years"] == 50
    assert 0.3 < pooled["coverage50"] < 0.7 and pooled["coverage90"] > 0.75
    assert pooled["skill_vs_persistence"] > 0.5 and pooled["skill_vs_trend"] > 0
    assert pooled["skill_vs_persistence"] == pytest.approx(
        1 - pooled["crps"] / pooled["crps_persistence"]
    )
    assert table.attrs["unmatched"] == []


def test_scorecard_penalises_a_forecast_far_off(trending):
    truth, obs = trending
    pooled = scorecard(forecast_around(truth, range(2016, 2021), 0.3, 1), obs).iloc[-1]
    assert pooled["coverage90"] == 0.0
    assert pooled["skill_vs_persistence"] < 0 and pooled["skill_vs_trend"] < 0


def test_scorecard_point_naive_scores_are_absolute_errors():
    obs = observed_table({("AZ", "US"): line(0.2, 0.05)})
    pred = forecast_around(obs, range(2011, 2014), 0.0, 2)
    row = scorecard(pred, obs, naive="point").iloc[0]
    assert row["n_years"] == 3
    assert row["crps_persistence"] == pytest.approx(np.mean([0.05, 0.10, 0.15]))
    assert row["crps_trend"] == pytest.approx(0.0, abs=1e-12)
    assert row["skill_vs_trend"] < 0  # nothing beats a perfect reference


def test_scorecard_gaussian_naive_scores_use_the_closed_form():
    obs = observed_table({("AZ", "US"): line(0.2, 0.05)})
    pred = forecast_around(obs, range(2011, 2014), 0.0, 2)
    row = scorecard(pred, obs, origin=2010).iloc[0]
    expected = np.mean([crps_gaussian(0.7, 0.05 * math.sqrt(h), 0.7 + 0.05 * h) for h in (1, 2, 3)])
    assert row["crps_persistence"] == pytest.approx(expected)


def test_scorecard_reports_keys_in_one_table_only(trending):
    truth, obs = trending
    pred = forecast_around(truth, range(2016, 2021), 0.0, 1)
    pred = pred[~((pred["state"] == "S0") & (pred["year"] == 2018))]
    extra = pred[pred["state"] == "S1"].assign(state="ZZ")  # a dyad never observed
    table = scorecard(pd.concat([pred, extra]), obs)
    unmatched = "\n".join(table.attrs["unmatched"])
    assert "unga S0 - US: an observed value but no predictive samples in 2018" in unmatched
    assert "unga ZZ - US: predictive samples but no observed value in 2016" in unmatched
    rows = table.set_index("state")
    assert rows.loc["S0", "n_years"] == 4 and rows.loc["ZZ", "n_years"] == 0
    assert np.isnan(rows.loc["ZZ", "crps"])


def test_scorecard_handles_unequal_draw_counts(trending):
    truth, obs = trending
    pred = forecast_around(truth, range(2016, 2018), 0.0, 1)
    fewer = pred[~((pred["state"] == "S3") & (pred["draw"] >= 50))]
    table = scorecard(fewer, obs)
    s3 = fewer[(fewer["state"] == "S3") & (fewer["year"] == 2016)]["value"].to_numpy()
    y = obs.query("state == 'S3' and year == 2016")["value"].iloc[0]
    s3_row = table[table["state"] == "S3"].iloc[0]
    y17 = obs.query("state == 'S3' and year == 2017")["value"].iloc[0]
    s3_17 = fewer[(fewer["state"] == "S3") & (fewer["year"] == 2017)]["value"].to_numpy()
    assert len(s3) == 50
    assert s3_row["crps"] == pytest.approx((crps_samples(s3, y) + crps_samples(s3_17, y17)) / 2)


# ---------------------------------------------------------------- backtest


def test_backtest_scores_each_origin_on_the_years_after_it(trending):
    truth, obs = trending
    calls = []

    def every_year(origin: int) -> pd.DataFrame:  # samples for all years: only t+1..t+3 count
        calls.append(origin)
        return forecast_around(truth, YEARS, 0.0, origin)

    table = backtest(every_year, obs, [2008, 2012, 2016], horizon=3, naive="point")
    assert calls == [2008, 2012, 2016]
    assert len(table) == 3 * 3 * 10
    assert (table["year"] == table["origin"] + table["lead"]).all()
    assert set(table["lead"]) == {1, 2, 3}
    row = table[(table["origin"] == 2012) & (table["lead"] == 2) & (table["state"] == "S4")]
    value = obs.set_index(["state", "year"])["value"]
    expected = abs(value[("S4", 2014)] - value[("S4", 2012)])
    assert row["crps_persistence"].iloc[0] == pytest.approx(expected)


def test_backtest_summary_shows_skill_for_the_truth_and_none_far_off(trending):
    truth, obs = trending
    origins = [2006, 2009, 2012, 2015]

    def near(t):
        return forecast_around(truth, range(t + 1, t + 4), 0.0, t)

    def far(t):
        return forecast_around(truth, range(t + 1, t + 4), 0.3, t)

    good = backtest_summary(backtest(near, obs, origins))
    bad = backtest_summary(backtest(far, obs, origins))
    assert good.columns.tolist()[:3] == ["observable", "lead", "n"]
    assert good["lead"].tolist() == [1, 2, 3] and (good["n"] == 40).all()
    assert (good["skill_vs_persistence"] > 0).all()
    assert (bad["skill_vs_persistence"] < 0).all() and (bad["skill_vs_trend"] < 0).all()


def test_backtest_lists_unmatched_keys_by_origin(trending):
    truth, obs = trending

    def missing_one(t):
        pred = forecast_around(truth, range(t + 1, t + 3), 0.0, t)
        return pred[~((pred["state"] == "S2") & (pred["year"] == t + 1))]

    table = backtest(missing_one, obs, [2010], horizon=2)
    assert table.attrs["unmatched"] == [
        "origin 2010: unga S2 - US: an observed value but no predictive samples in 2011"
    ]


def test_backtest_refuses_a_function_that_forecasts_nothing_in_the_window(trending):
    truth, obs = trending
    with pytest.raises(UserError, match=r"predictive_by_origin\(2010\).*2011-2013"):
        backtest(lambda t: forecast_around(truth, [2000], 0.0, 1), obs, [2010])


# ---------------------------------------------------------------- figure and text


def test_score_figure_draws_one_titled_panel_per_dyad(trending):
    truth, obs = trending
    pred = forecast_around(truth, range(2016, 2021), 0.0, 1)
    fig = score_figure(pred, obs, observable="unga", origin=2015, max_panels=4)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["S0 - US", "S1 - US", "S2 - US", "S3 - US"]
    assert "4 of 10 dyads" in fig._suptitle.get_text()
    assert len(shown[0].collections) == 2  # the 50% and 90% bands
    origin_lines = [
        ln for ln in shown[0].get_lines() if isinstance(ln, Line2D) and ln.get_linestyle() == "--"
    ]
    assert origin_lines and list(origin_lines[0].get_xdata()) == [2015, 2015]
    texts = [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    assert min(t.get_fontsize() for t in texts) >= 10


def test_score_figure_titles_a_single_state_quantity_by_the_state():
    obs = observed_table({("AZ", ""): line(0.2, 0.05)}, observable="gdp")
    pred = forecast_around(obs, range(2018, 2021), 0.0, 1)
    fig = score_figure(pred, obs, observable="gdp")
    assert fig.axes[0].get_title() == "AZ"


def test_format_scorecard_rounds_and_lists_unmatched(trending):
    truth, obs = trending
    pred = forecast_around(truth, range(2016, 2021), 0.0, 1)
    pred = pred[~((pred["state"] == "S0") & (pred["year"] == 2018))]
    text = format_scorecard(scorecard(pred, obs))
    lines = text.splitlines()
    assert "skill_vs_persistence" in lines[0] and "coverage90" in lines[0]
    assert any(line.split()[1] == "ALL" for line in lines[1:12])
    assert not re.search(r"\d\.\d{4,}", text)
    assert "In one table only:" in text and "S0 - US" in text


# ---------------------------------------------------------------- bad input


def test_bad_tables_are_refused_with_a_clear_message(trending):
    truth, obs = trending
    pred = forecast_around(truth, range(2016, 2018), 0.0, 1)
    with pytest.raises(UserError, match="predictive: missing column.*draw"):
        scorecard(pred.drop(columns="draw"), obs)
    with pytest.raises(UserError, match="observed: the table is empty"):
        scorecard(pred, obs.iloc[:0])
    with pytest.raises(UserError, match="predictive: 1 value.*NaN"):
        scorecard(pred.assign(value=lambda d: d["value"].where(d.index != 3)), obs)
    with pytest.raises(UserError, match="observed: 1 value.*infinite"):
        scorecard(pred, obs.assign(value=lambda d: d["value"].where(d.index != 0, np.inf)))
    with pytest.raises(UserError, match="column year.*whole numbers"):
        scorecard(pred, obs.assign(year=obs["year"] + 0.5))
    with pytest.raises(UserError, match="duplicate row"):
        scorecard(pd.concat([pred, pred.iloc[:1]]), obs)
    with pytest.raises(UserError, match="expected a pandas DataFrame"):
        scorecard(pred.to_dict(), obs)


def test_bad_arguments_are_refused(trending):
    truth, obs = trending
    pred = forecast_around(truth, range(2016, 2018), 0.0, 1)
    with pytest.raises(UserError, match="naive must be one of"):
        scorecard(pred, obs, naive="bogus")
    with pytest.raises(UserError, match="no year to score"):
        scorecard(pred, obs, origin=2030)
    with pytest.raises(UserError, match="window"):
        linear_trend(obs, 2010, 3, window=1)
    with pytest.raises(UserError, match="horizon must be at least 1"):
        persistence(obs, 2010, 0)
    with pytest.raises(UserError, match="distinct"):
        backtest(lambda t: pred, obs, [2015, 2015])
    with pytest.raises(UserError, match="no rows for observable 'gdp'"):
        score_figure(pred, obs, observable="gdp")
    with pytest.raises(UserError, match="non-empty"):
        format_scorecard(pd.DataFrame())


def test_bad_samples_are_refused():
    with pytest.raises(UserError, match="NaN or infinite"):
        crps_samples(np.array([0.1, np.nan]), 0.0)
    with pytest.raises(UserError, match="at least one draw"):
        crps_samples(np.array([]), 0.0)
    with pytest.raises(UserError, match="does not match"):
        crps_samples(np.zeros((3, 5)), np.zeros(4))
    with pytest.raises(UserError, match="strictly between 0 and 1"):
        interval_coverage(np.zeros(5), 0.0, 1.5)
    with pytest.raises(UserError, match="sigma must be >= 0"):
        crps_gaussian(0.0, -1.0, 0.0)
