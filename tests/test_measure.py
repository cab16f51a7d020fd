"""The measurement model (sim/calibration/measure.py): known answers on hand-made rows,
and which dyads each observable may score in the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.calibration import measure
from sim.calibration.predictive import predictive, quantiles, simulate
from sim.errors import UserError

BASELINE = "scenarios/baseline.yaml"


@pytest.fixture(scope="module")
def baseline():
    return sim.load_scenario(BASELINE)


def _rows(a: dict[str, float], b: float, xs: list[float], noise=None) -> pd.DataFrame:
    rows = []
    for k, x in enumerate(xs):
        for p, ap in a.items():
            y = ap + b * x + (0.0 if noise is None else noise[len(rows)])
            rows.append({"state": f"S{k}", "partner": p, "year": 2018 + k % 3, "value": y, "x": x})
    return pd.DataFrame(rows)


def test_fit_recovers_intercepts_and_slope_without_noise():
    rows = _rows({"RU": 0.8, "US": 0.3}, 0.5, [-0.4, -0.1, 0.2, 0.5, 0.7])
    fit = measure.fit_link(measure.LINKS["unga_agreement"], rows)
    assert fit.partners == ["RU", "US"]
    np.testing.assert_allclose(fit.coef, [0.8, 0.3, 0.5], atol=1e-12)
    assert fit.sigma < 1e-9
    assert fit.r2 == pytest.approx(1.0)
    assert fit.row()["sign_as_expected"]


def test_fit_estimates_the_noise_and_the_slope_standard_error():
    rng = np.random.default_rng(3)
    xs = list(rng.uniform(-1, 1, 400))
    noise = rng.normal(0, 0.05, 800)
    fit = measure.fit_link(
        measure.LINKS["unga_agreement"], _rows({"RU": 0.8, "US": 0.3}, 0.5, xs, noise)
    )
    assert fit.sigma == pytest.approx(0.05, rel=0.1)
    se = fit.row()["slope_se"]
    assert abs(fit.slope - 0.5) < 4 * se
    assert 0 < se < 0.01


def test_a_negative_slope_is_reported_against_the_expected_sign():
    rows = _rows({"RU": 0.8}, -0.5, [-0.4, -0.1, 0.2, 0.5, 0.7])
    fit = measure.fit_link(measure.LINKS["unga_agreement"], rows)
    assert not fit.row()["sign_as_expected"]
    fit = measure.fit_link(measure.LINKS["ideal_distance"], rows)
    assert fit.row()["sign_as_expected"]


def test_a_dyad_level_link_takes_each_dyads_level_as_given():
    # levels differ by state (not explained by x); the slope comes from changes over time
    rows = _rows({"RU": 0.8, "US": 0.3}, 0.5, [-0.4, -0.1, 0.2, 0.5, 0.7, 0.1])
    rows["state"] = ["A", "A", "B", "B", "C", "C"] * 2
    rows["year"] = [2018, 2018, 2019, 2019, 2020, 2020] * 2
    bump = rows["state"].map({"A": 0.0, "B": 0.1, "C": -0.2})
    rows["value"] = rows["value"] + bump
    fit = measure.fit_link(measure.LINKS["unga_agreement"], rows, "dyad")
    assert fit.groups == ["A>RU", "A>US", "B>RU", "B>US", "C>RU", "C>US"]
    assert fit.slope == pytest.approx(0.5)
    assert fit.sigma < 1e-9
    with pytest.raises(UserError, match="link level"):
        measure.fit_link(measure.LINKS["unga_agreement"], rows, "state")


def test_too_few_rows_are_refused_with_the_reason():
    rows = _rows({"RU": 0.8, "US": 0.3}, 0.5, [0.1])
    with pytest.raises(UserError, match="too few"):
        measure.fit_link(measure.LINKS["unga_agreement"], rows)


def test_predict_is_the_link_when_its_parameters_are_certain():
    fit = measure.Fit(
        observable="unga_agreement",
        states=["AZ"],
        partners=["RU", "US"],
        level="partner",
        groups=["RU", "US"],
        coef=np.array([0.8, 0.3, 0.5]),
        cov=np.zeros((3, 3)),
        sigma=0.0,
        n=10,
        r2=1.0,
        years=(2018, 2019),
    )
    sim_rows = pd.DataFrame(
        {
            "simulated": "tie",
            "state": ["AZ", "AZ", "AZ"],
            "partner": ["RU", "US", "TR"],
            "year": [2018, 2018, 2018],
            "replicate": [0, 1, 0],
            "x": [0.2, -0.4, 0.9],
        }
    )
    out = measure.predict(fit, sim_rows, np.random.default_rng(0), noise=False)
    assert list(out["partner"]) == ["RU", "US"]  # TR is not a partner of the link
    np.testing.assert_allclose(out["value"], [0.8 + 0.1, 0.3 - 0.2])
    assert list(out["draw"]) == [0, 1]


def test_simulated_years_average_each_calendar_year():
    ties = pd.DataFrame(
        {
            "replicate": 0,
            "date": pd.to_datetime(["2017-12-31", "2018-03-31", "2018-06-30"]),
            "state": "AZ",
            "partner": "RU",
            "tie": [1.0, 0.2, 0.4],
        }
    )
    out = measure.simulated_years(ties, None)
    got = dict(zip(out["year"], out["x"], strict=True))
    assert got == {2017: 1.0, 2018: pytest.approx(0.3)}


def test_the_un_observables_score_only_ties_to_the_poles(baseline):
    states, partners = measure.scored_pairs(baseline)
    assert sorted(partners) == ["EU", "RU", "US"]
    assert sorted(states) == ["AM", "AZ", "GE", "IL", "IR", "TR"]
    assert measure.anchors(baseline) == ("US", "RU")


def test_predictive_draws_carry_seed_and_link_uncertainty(baseline):
    # Observed values made from the model's own ties: the link must be recovered.
    seeds = [5, 6, 7]
    sim_table = simulate(baseline, seeds, [{}], [2018, 2019, 2020])
    mean = measure.mean_over_replicates(sim_table)
    ties = mean[(mean["simulated"] == "tie") & mean["partner"].isin(["RU", "US", "EU"])]
    ties = ties[~ties["state"].isin(["RU", "US", "EU"])]
    observed = ties.assign(observable="unga_agreement", value=0.6 + 0.4 * ties["x"])
    pred = predictive(
        baseline,
        observed,
        seeds=seeds,
        fit_until=2019,
        years=[2020],
        rng=np.random.default_rng(1),
        sim=sim_table,
    )
    row = pred.fits.iloc[0]
    assert row["slope"] == pytest.approx(0.4, abs=1e-9)
    q = quantiles(pred.samples)
    assert set(q["year"]) == {2020}
    assert (q["q05"] <= q["q50"]).all() and (q["q50"] <= q["q95"]).all()
    assert (q["draws"] == len(seeds)).all()
