"""The scorecard: the model's predictive samples against observed values.

Tables
------
``predictive``: one row per draw, columns ``observable, state, partner, year, draw,
value`` (``draw`` numbers the samples of one key; ``partner`` is ``""`` for a quantity of
one state; a missing partner is read as ``""``).
``observed``: one row per observation, columns ``observable, state, partner, year,
value``; other columns are ignored. A *dyad* is ``(observable, state, partner)``; a
*key* is a dyad and a year.

Scores
------
CRPS, the continuous ranked probability score (Gneiting & Raftery 2007, "Strictly proper
scoring rules, prediction, and estimation", JASA 102:359-378, sec. 4.2; here as a loss,
the negative of their reward orientation)::

    CRPS(F, y) = E|X - y| - 1/2 E|X - X'|,    X, X' ~ F independent,

in the units of the observable, lower is better, 0 only for a point mass on ``y``. For
draws ``x_1..x_m`` the *fair* form (Ferro 2014, QJRMS 140:1917; Zamo & Naveau 2018,
Math. Geosci. 50:209) divides the pair term by ``m(m-1)`` instead of ``m^2``, which makes
it an unbiased estimate of the CRPS of the distribution the draws come from, so that it
can be set beside the closed-form CRPS of the Gaussian naive forecasts. The *standard*
form is the CRPS of the empirical distribution of the draws. Both cost ``O(m log m)``.

Skill against a reference forecast: ``1 - mean CRPS / mean CRPS_reference`` over the
same keys (Hyndman & Athanasopoulos, sec. 5.9; positive: the model is better; ``NaN``
when the reference is perfect).

Naive forecasts from an *origin* year ``t`` use observed values of years ``<= t`` only:
persistence (the last value), a linear trend (OLS through the last ``window``
observations) and the recent mean (the mean of the last ``window`` observations: what a
forecaster who expects the series to return to its recent level says; a measurement
model with one intercept per dyad leans the same way, so beating persistence is not
enough to credit the model's dynamics). Scored as points their CRPS is the absolute
error; as Gaussians (the default) their sd is the root mean square of their own
one-step-ahead errors inside the training years, widened by ``sqrt(h)`` at ``h`` years
past the last observation (the random-walk rule of Hyndman & Athanasopoulos,
"Forecasting: Principles and Practice", 3rd ed., sec. 5.5).

Rolling-origin evaluation (Hyndman & Athanasopoulos, sec. 5.10, "time series
cross-validation"): for each origin ``t`` the model is given information up to ``t`` and
scored on years ``t+1..t+horizon``, by lead ``year - t``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.errors import UserError

DYAD = ["observable", "state", "partner"]
KEY = [*DYAD, "year"]
OBSERVED_COLUMNS = [*KEY, "value"]
PREDICTIVE_COLUMNS = [*KEY, "draw", "value"]
NAIVE = ("gaussian", "point")
SCORE_COLUMNS = [
    "n_years",
    "coverage50",
    "coverage90",
    "crps",
    "crps_persistence",
    "crps_trend",
    "crps_mean",
    "skill_vs_persistence",
    "skill_vs_trend",
    "skill_vs_mean",
]


# ---------------------------------------------------------------- scores of one forecast


def crps_samples(
    samples: np.ndarray, y: float | np.ndarray, *, fair: bool = True
) -> float | np.ndarray:
    """CRPS of an ensemble forecast: ``samples[..., m]`` draws against ``y[...]``.

    ``E|X - y| - 1/2 E|X - X'|`` with the pair term from the sorted draws,
    ``sum_{i<j} |x_i - x_j| = sum_k (2k - m + 1) x_(k)`` (k = 0..m-1), so ``O(m log m)``.
    ``fair=True`` divides it by ``m(m-1)``, ``fair=False`` by ``m^2`` (see the module
    docstring); with one draw both give ``|x - y|``. Returns a float for 1-d ``samples``
    and an array of shape ``samples.shape[:-1]`` otherwise.
    """
    x = _finite_array(samples, "samples")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise UserError("crps_samples: samples need at least one draw along the last axis")
    yy = _finite_array(y, "y")
    m = x.shape[-1]
    try:
        spread = np.mean(np.abs(x - yy[..., None]), axis=-1)
    except ValueError as e:
        raise UserError(f"crps_samples: y of shape {yy.shape} does not match {x.shape}") from e
    weights = 2.0 * np.arange(m) - m + 1
    pairs = np.sort(x, axis=-1) @ weights
    pairs = pairs / (m * (m - 1) if fair and m > 1 else m * m)
    out = spread - pairs
    return float(out) if np.ndim(out) == 0 else out


def crps_gaussian(
    mu: float | np.ndarray, sigma: float | np.ndarray, y: float | np.ndarray
) -> float | np.ndarray:
    """CRPS of ``N(mu, sigma^2)`` at ``y`` in closed form (Gneiting et al. 2005, Mon. Wea.
    Rev. 133:1098; Gneiting & Raftery 2007, sec. 4.2).

    ``sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi))`` with ``z = (y - mu) / sigma``;
    ``|y - mu|`` where ``sigma == 0`` (a point forecast).
    """
    mu, sigma, y = np.broadcast_arrays(
        *(_finite_array(a, n) for a, n in ((mu, "mu"), (sigma, "sigma"), (y, "y")))
    )
    if np.any(sigma < 0):
        raise UserError("crps_gaussian: sigma must be >= 0")
    safe = np.where(sigma > 0, sigma, 1.0)
    z = (y - mu) / safe
    cdf = 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    score = safe * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))
    out = np.where(sigma > 0, score, np.abs(y - mu))
    return float(out) if out.ndim == 0 else out


def interval_coverage(
    samples: np.ndarray, y: float | np.ndarray, level: float
) -> bool | np.ndarray:
    """Whether ``y`` lies in the central ``level`` interval of the draws (ends included).

    The interval runs from the ``(1 - level)/2`` to the ``(1 + level)/2`` sample quantile
    (``numpy.quantile``, linear interpolation); ``0 < level < 1``. Vectorised like
    :func:`crps_samples`.
    """
    if not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise UserError(f"interval_coverage: level must lie strictly between 0 and 1, not {level}")
    x = _finite_array(samples, "samples")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise UserError("interval_coverage: samples need at least one draw along the last axis")
    yy = _finite_array(y, "y")
    lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2], axis=-1)
    inside = (lo <= yy) & (yy <= hi)
    return bool(inside) if np.ndim(inside) == 0 else inside


# ---------------------------------------------------------------- naive forecasts


def persistence(observed: pd.DataFrame, origin: int, horizon: int) -> pd.DataFrame:
    """The last observed value at or before ``origin``, carried to ``origin+1..+horizon``.

    Returns one row per dyad and target year: ``observable, state, partner, year, lead,
    value, sd`` with ``lead = year - origin`` and ``sd = sigma1 * sqrt(year - last observed
    year)``, ``sigma1`` the root mean square of the rule's own one-step-ahead errors in the
    training years (0 when there are none). Dyads with no observation at or before
    ``origin`` are left out.
    """
    return _naive_table(observed, origin, horizon, _last_value, first_error=1)


def linear_trend(
    observed: pd.DataFrame, origin: int, horizon: int, *, window: int = 5
) -> pd.DataFrame:
    """An OLS line through the last ``window`` observations at or before ``origin``,
    extrapolated to ``origin+1..origin+horizon``.

    ``value = a + b * year`` with ``b = sum (x - x̄)(y - ȳ) / sum (x - x̄)^2``; a dyad
    with a single observation gets a flat line (the persistence forecast). Same columns
    as :func:`persistence`; ``window >= 2``.
    """
    if int(window) < 2:
        raise UserError(f"linear_trend: window must be at least 2 years, not {window}")

    def line(years: np.ndarray, values: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return _ols_line(years[-window:], values[-window:], targets)

    return _naive_table(observed, origin, horizon, line, first_error=2)


def recent_mean(
    observed: pd.DataFrame, origin: int, horizon: int, *, window: int = 5
) -> pd.DataFrame:
    """The mean of the last ``window`` observations at or before ``origin``, carried to
    ``origin+1..origin+horizon``. Same columns as :func:`persistence`; ``window >= 1``."""
    if int(window) < 1:
        raise UserError(f"recent_mean: window must be at least 1 year, not {window}")

    def mean(years: np.ndarray, values: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return np.full(len(targets), float(values[-window:].mean()))

    return _naive_table(observed, origin, horizon, mean, first_error=1)


def _last_value(years: np.ndarray, values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.full(len(targets), values[-1], dtype=float)


def _ols_line(years: np.ndarray, values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if len(years) < 2:
        return np.full(len(targets), values[-1], dtype=float)
    dx = years - years.mean()
    slope = float(dx @ (values - values.mean()) / (dx @ dx))
    return values.mean() + slope * (np.asarray(targets, dtype=float) - years.mean())


def _naive_table(observed, origin, horizon, point, *, first_error: int) -> pd.DataFrame:
    """Point forecasts and Gaussian sds for every dyad, from years ``<= origin`` only.

    ``sd = sigma1 * sqrt(year - last observed year)``, where ``sigma1`` is the root mean
    square of the forecaster's one-step-ahead errors over the training observations
    (observation ``i`` forecast from observations ``< i``, each error divided by the square
    root of its gap in years; ``first_error`` observations are needed before the first).
    No such error (too short a history) gives ``sd = 0``: a point forecast.
    """
    obs = _check_observed(observed)
    origin, horizon = _check_int(origin, "origin"), _check_int(horizon, "horizon", 1)
    targets = np.arange(origin + 1, origin + horizon + 1)
    rows = []
    history = obs[obs["year"] <= origin].sort_values(KEY)
    for dyad, g in history.groupby(DYAD, sort=True):
        years, values = g["year"].to_numpy(float), g["value"].to_numpy(float)
        errors = [
            (values[i] - point(years[:i], values[:i], years[i : i + 1])[0])
            / math.sqrt(years[i] - years[i - 1])
            for i in range(first_error, len(years))
        ]
        sigma1 = math.sqrt(np.mean(np.square(errors))) if errors else 0.0
        sd = sigma1 * np.sqrt(targets - years[-1])
        for year, value, s in zip(targets, point(years, values, targets), sd, strict=True):
            rows.append((*dyad, int(year), int(year - origin), float(value), float(s)))
    return pd.DataFrame(rows, columns=[*KEY, "lead", "value", "sd"])


def _naive_crps(forecast: pd.DataFrame, y: np.ndarray, naive: str) -> np.ndarray:
    if naive == "point":
        return np.abs(y - forecast["value"].to_numpy(float))
    return np.asarray(
        crps_gaussian(forecast["value"].to_numpy(float), forecast["sd"].to_numpy(float), y)
    )


# ---------------------------------------------------------------- scoring tables


def scorecard(
    predictive: pd.DataFrame,
    observed: pd.DataFrame,
    *,
    years: Sequence[int] | None = None,
    origin: int | None = None,
    naive: str = "gaussian",
    window: int = 5,
    fair: bool = True,
) -> pd.DataFrame:
    """Scores per dyad, and pooled per observable (``state == "ALL"``, ``partner == ""``).

    Scored years: ``years`` (default: every year of ``predictive``), after ``origin`` if
    given. ``origin`` (default: the year before the first scored year) is where the naive
    forecasts start: they use observed years ``<= origin`` only (``naive="gaussian"`` or
    ``"point"``, ``window`` for the trend and the recent mean). Columns: ``observable,
    state, partner`` and ``n_years`` (matched years; dyad-years in the pooled rows),
    ``coverage50``, ``coverage90`` (shares of years inside the central 50% and 90%
    intervals), ``crps``, ``crps_persistence``, ``crps_trend``, ``crps_mean`` (means
    over years), ``skill_vs_persistence``, ``skill_vs_trend``, ``skill_vs_mean`` (``1 -
    crps / crps_reference`` over the keys where the reference exists). Dyads found in
    one table only have ``n_years == 0``; every key in one table only is listed in
    ``attrs["unmatched"]``.
    """
    pred, obs = _check_predictive(predictive), _check_observed(observed)
    scored = sorted(set(pred["year"]) if years is None else {_check_int(y, "year") for y in years})
    if origin is not None:
        scored = [y for y in scored if y > _check_int(origin, "origin")]
    if not scored:
        raise UserError("scorecard: no year to score (check `years` and `origin`)")
    origin = scored[0] - 1 if origin is None else int(origin)
    pairs = _pair_scores(pred, obs, origin, scored, naive=naive, window=window, fair=fair)
    per_dyad = _summarise(pairs, DYAD)
    missing = _dyads_in_window(pred, obs, scored).merge(per_dyad[DYAD], how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"][DYAD].assign(n_years=0)
    pooled = _summarise(pairs, ["observable"]).assign(state="ALL", partner="")
    table = pd.concat([per_dyad, missing, pooled], ignore_index=True)
    table["n_years"] = table["n_years"].fillna(0).astype(int)
    table["pooled"] = table["state"].eq("ALL") & table["partner"].eq("")
    table = table.sort_values(["observable", "pooled", "state", "partner"])
    table = table[[*DYAD, *SCORE_COLUMNS]].reset_index(drop=True)
    table.attrs["unmatched"] = pairs.attrs["unmatched"]
    return table


def backtest(
    predictive_by_origin: Callable[[int], pd.DataFrame],
    observed: pd.DataFrame,
    origins: Sequence[int],
    horizon: int = 3,
    *,
    naive: str = "gaussian",
    window: int = 5,
    fair: bool = True,
) -> pd.DataFrame:
    """Rolling-origin evaluation (Hyndman & Athanasopoulos, sec. 5.10).

    For each origin ``t``, ``predictive_by_origin(t)`` returns predictive samples made with
    information up to year ``t`` (the caller's duty, e.g. a measurement model refitted on
    years ``<= t``); its years ``t+1..t+horizon`` are scored against ``observed``, beside
    naive forecasts from observed years ``<= t``. One row per origin, lead
    (``year - t``, 1..horizon) and dyad: ``origin, lead, observable, state, partner, year,
    crps, crps_persistence, crps_trend, crps_mean, covered50, covered90``; keys in one
    table only are listed in ``attrs["unmatched"]`` (prefixed by the origin).
    """
    obs = _check_observed(observed)
    horizon = _check_int(horizon, "horizon", 1)
    origins = [_check_int(t, "origin") for t in origins]
    if not origins or len(set(origins)) != len(origins):
        raise UserError(f"backtest: origins must be a non-empty list of distinct years: {origins}")
    tables, unmatched = [], []
    for t in origins:
        pred = _check_predictive(predictive_by_origin(t), f"predictive_by_origin({t})")
        scored = list(range(t + 1, t + horizon + 1))
        if not pred["year"].isin(scored).any():
            raise UserError(
                f"backtest: predictive_by_origin({t}) returned no samples for "
                f"years {scored[0]}-{scored[-1]}"
            )
        pairs = _pair_scores(pred, obs, t, scored, naive=naive, window=window, fair=fair)
        tables.append(pairs.assign(origin=t))
        unmatched += [f"origin {t}: {u}" for u in pairs.attrs["unmatched"]]
    columns = [
        "origin",
        "lead",
        *KEY,
        "crps",
        "crps_persistence",
        "crps_trend",
        "crps_mean",
        "covered50",
        "covered90",
    ]
    table = pd.concat(tables, ignore_index=True)[columns]
    table.attrs["unmatched"] = unmatched
    return table


def backtest_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The backtest pooled per observable and lead over origins and dyads.

    Columns: ``observable, lead, n`` (scored keys), ``coverage50``, ``coverage90``,
    ``crps``, ``crps_persistence``, ``crps_trend``, ``crps_mean`` (means),
    ``skill_vs_persistence``, ``skill_vs_trend``, ``skill_vs_mean`` (``1 - mean crps /
    mean crps_reference`` over the keys where the reference exists).
    """
    needed = [
        "observable",
        "lead",
        "crps",
        "crps_persistence",
        "crps_trend",
        "crps_mean",
        "covered50",
        "covered90",
    ]
    _check_columns(table, needed, "backtest table")
    out = _summarise(table, ["observable", "lead"]).rename(columns={"n_years": "n"})
    out.attrs["unmatched"] = list(table.attrs.get("unmatched", []))
    return out


def _pair_scores(pred, obs, origin, scored, *, naive, window, fair) -> pd.DataFrame:
    """One row per key of ``scored`` years in both tables: the model's and naive scores."""
    if naive not in NAIVE:
        raise UserError(f"naive must be one of {', '.join(NAIVE)}, not {naive!r}")
    pred = pred[pred["year"].isin(scored)]
    truth = obs[obs["year"].isin(scored)].rename(columns={"value": "y"})[[*KEY, "y"]]
    rows = pred.merge(truth, on=KEY, how="inner").sort_values([*KEY, "draw"])
    keys, samples, y = _draws_by_key(rows)
    keys["lead"] = keys["year"] - origin
    for column, values in _model_scores(samples, y, fair).items():
        keys[column] = values
    horizon = max(scored) - origin
    forecasts = {
        "persistence": persistence(obs, origin, horizon),
        "trend": linear_trend(obs, origin, horizon, window=window),
        "mean": recent_mean(obs, origin, horizon, window=window),
    }
    for name, forecast in forecasts.items():
        matched = keys[KEY].merge(forecast, on=KEY, how="left")  # keeps the order of keys
        has = matched["value"].notna().to_numpy()
        keys[f"crps_{name}"] = np.full(len(keys), np.nan)
        keys.loc[has, f"crps_{name}"] = _naive_crps(matched[has], y[has], naive)
    keys["y"] = y
    keys.attrs["unmatched"] = _unmatched(pred, truth)
    return keys


def _model_scores(samples, y: np.ndarray, fair: bool) -> dict[str, np.ndarray]:
    """CRPS and interval hits per key, from an ``(n, m)`` array or a list of draws."""
    if isinstance(samples, list):  # keys with different numbers of draws
        parts = [_model_scores(s[None, :], y[i : i + 1], fair) for i, s in enumerate(samples)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return {
        "crps": np.asarray(crps_samples(samples, y, fair=fair), dtype=float),
        "covered50": np.asarray(interval_coverage(samples, y, 0.5), dtype=bool),
        "covered90": np.asarray(interval_coverage(samples, y, 0.9), dtype=bool),
    }


def _draws_by_key(rows: pd.DataFrame):
    """Keys (a DataFrame), their draws (an ``(n, m)`` array, or a list when the number
    of draws differs between keys) and their observed values, from rows sorted by key."""
    if rows.empty:
        return pd.DataFrame(columns=KEY).astype({"year": int}), np.empty((0, 1)), np.empty(0)
    start = np.flatnonzero(rows[KEY].ne(rows[KEY].shift()).any(axis=1).to_numpy())
    keys = rows.iloc[start][KEY].reset_index(drop=True)
    y = rows["y"].to_numpy(float)[start]
    values = rows["value"].to_numpy(float)
    sizes = np.diff(np.append(start, len(rows)))
    if np.all(sizes == sizes[0]):
        return keys, values.reshape(len(start), sizes[0]), y
    return keys, np.split(values, start[1:]), y


def _summarise(pairs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    def one(g: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "n_years": len(g),
                "coverage50": g["covered50"].astype(float).mean(),
                "coverage90": g["covered90"].astype(float).mean(),
                "crps": g["crps"].mean(),
                "crps_persistence": g["crps_persistence"].mean(),
                "crps_trend": g["crps_trend"].mean(),
                "crps_mean": g["crps_mean"].mean(),
                "skill_vs_persistence": _skill(g["crps"], g["crps_persistence"]),
                "skill_vs_trend": _skill(g["crps"], g["crps_trend"]),
                "skill_vs_mean": _skill(g["crps"], g["crps_mean"]),
            }
        )

    if pairs.empty:
        return pd.DataFrame(columns=[*by, *SCORE_COLUMNS])
    out = pairs.groupby(by, sort=True)[list(pairs.columns)].apply(one).reset_index()
    out["n_years"] = out["n_years"].astype(int)
    return out


def _skill(crps: pd.Series, reference: pd.Series) -> float:
    """``1 - mean crps / mean reference`` over the keys where the reference exists."""
    has = reference.notna().to_numpy()
    denominator = reference[has].mean() if has.any() else np.nan
    if not denominator > 0:
        return np.nan
    return float(1.0 - crps[has].mean() / denominator)


def _unmatched(pred: pd.DataFrame, truth: pd.DataFrame) -> list[str]:
    """One line per dyad with scored years in one table only."""
    merged = pred[KEY].drop_duplicates().merge(truth[KEY], how="outer", indicator=True)
    lines = []
    side = {
        "left_only": "predictive samples but no observed value",
        "right_only": "an observed value but no predictive samples",
    }
    for (which, *dyad), g in merged[merged["_merge"] != "both"].groupby(
        ["_merge", *DYAD], observed=True
    ):
        years = ", ".join(str(y) for y in sorted(g["year"]))
        lines.append(f"{_dyad_name(*dyad)}: {side[which]} in {years}")
    return lines


def _dyads_in_window(pred, obs, scored) -> pd.DataFrame:
    both = pd.concat([pred[pred["year"].isin(scored)][DYAD], obs[obs["year"].isin(scored)][DYAD]])
    return both.drop_duplicates().reset_index(drop=True)


# ---------------------------------------------------------------- reports


def score_figure(
    predictive: pd.DataFrame,
    observed: pd.DataFrame,
    *,
    observable: str,
    origin: int | None = None,
    max_panels: int = 12,
) -> Figure:
    """One panel per dyad of ``observable``: the 50% and 90% predictive bands over years,
    the predictive median, the observed points and a dashed line at ``origin`` if given.

    The first ``max_panels`` dyads in sorted order are drawn (the title says when some are
    left out). Fonts are 10 pt or more.
    """
    pred, obs = _check_predictive(predictive), _check_observed(observed)
    pred, obs = pred[pred["observable"] == observable], obs[obs["observable"] == observable]
    if pred.empty and obs.empty:
        known = sorted(set(predictive["observable"]) | set(observed["observable"]))
        raise UserError(
            f"score_figure: no rows for observable {observable!r}; "
            f"found: {', '.join(map(str, known))}"
        )
    dyads = sorted(set(map(tuple, pd.concat([pred[DYAD[1:]], obs[DYAD[1:]]]).to_numpy())))
    shown = dyads[: _check_int(max_panels, "max_panels", 1)]
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    for ax, (state, partner) in zip(axes, shown, strict=False):
        _draw_panel(
            ax,
            pred[(pred["state"] == state) & (pred["partner"] == partner)],
            obs[(obs["state"] == state) & (obs["partner"] == partner)],
            origin,
        )
        ax.set_title(f"{state} - {partner}" if partner else state, fontsize=12)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    note = f" ({len(shown)} of {len(dyads)} dyads)" if len(shown) < len(dyads) else ""
    fig.suptitle(f"{observable}: predictive bands and observed values{note}", fontsize=13)
    axes[0].legend(fontsize=10, loc="best")
    return fig


def _draw_panel(ax, pred: pd.DataFrame, obs: pd.DataFrame, origin: int | None) -> None:
    if not pred.empty:
        q = pred.groupby("year")["value"].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
        years = q.index.to_numpy()
        ax.fill_between(years, q[0.05], q[0.95], color="C0", alpha=0.2, lw=0, label="90%")
        ax.fill_between(years, q[0.25], q[0.75], color="C0", alpha=0.4, lw=0, label="50%")
        ax.plot(years, q[0.5], color="C0", lw=1.5, label="median")
    ax.plot(obs["year"], obs["value"], "o", color="k", ms=4, label="observed")
    if origin is not None:
        ax.axvline(origin, color="0.4", ls="--", lw=1, label="origin")
    ax.tick_params(labelsize=10)
    ax.grid(alpha=0.3)


def format_scorecard(table: pd.DataFrame, digits: int = 3) -> str:
    """A plain-text table (numbers rounded to ``digits`` decimals, ``-`` for none), then
    the lines of ``table.attrs["unmatched"]`` if any. Works on :func:`scorecard` and
    :func:`backtest_summary` tables."""
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise UserError("format_scorecard: expected a non-empty scorecard table")
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else f"{v:.{digits}f}")
    shown = shown.replace("", "-")
    text = shown.to_string(index=False)
    unmatched = table.attrs.get("unmatched", [])
    if unmatched:
        text += "\n\nIn one table only:\n" + "\n".join(f"  {u}" for u in unmatched)
    return text


# ---------------------------------------------------------------- input checks


def _finite_array(a, name: str) -> np.ndarray:
    try:
        x = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as e:
        raise UserError(f"{name}: expected numbers ({e})") from e
    if not np.all(np.isfinite(x)):
        raise UserError(f"{name}: {int(np.sum(~np.isfinite(x)))} value(s) are NaN or infinite")
    return x


def _check_int(value, name: str, minimum: int | None = None) -> int:
    try:
        whole = not isinstance(value, bool) and float(value).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise UserError(f"{name} must be a whole number, not {value!r}")
    if minimum is not None and int(value) < minimum:
        raise UserError(f"{name} must be at least {minimum}, not {value}")
    return int(value)


def _check_columns(df, columns: list[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise UserError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(
            f"{name}: missing column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, df.columns))})"
        )
    if df.empty:
        raise UserError(f"{name}: the table is empty")


def _check_table(df, columns: list[str], name: str, unique: list[str]) -> pd.DataFrame:
    """A copy with the columns needed, ``partner`` missing read as ``""``, years as ints."""
    _check_columns(df, columns, name)
    out = df[columns].copy()
    out["partner"] = out["partner"].fillna("")
    for column in ("observable", "state", "partner"):
        out[column] = out[column].astype(str)
    for column in [c for c in ("year", "draw") if c in columns]:
        values = pd.to_numeric(out[column], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            raise UserError(
                f"{name}: column {column} holds {int(bad.sum())} value(s) that are "
                f"not whole numbers, e.g. {out[column][bad].iloc[0]!r}"
            )
        out[column] = values.astype(int)
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    bad = ~np.isfinite(out["value"].to_numpy(float))
    if bad.any():
        first = out[bad].iloc[0]
        raise UserError(
            f"{name}: {int(bad.sum())} value(s) are missing, NaN or infinite, e.g. "
            f"{_dyad_name(*first[DYAD])} {first['year']}"
        )
    duplicated = out.duplicated(unique)
    if duplicated.any():
        first = out[duplicated].iloc[0]
        raise UserError(
            f"{name}: {int(duplicated.sum())} duplicate row(s) for the same "
            f"{', '.join(unique)}, e.g. {_dyad_name(*first[DYAD])} {first['year']}"
        )
    return out


def _check_predictive(df, name: str = "predictive") -> pd.DataFrame:
    return _check_table(df, PREDICTIVE_COLUMNS, name, [*KEY, "draw"])


def _check_observed(df, name: str = "observed") -> pd.DataFrame:
    return _check_table(df, OBSERVED_COLUMNS, name, KEY)


def _dyad_name(observable: str, state: str, partner: str) -> str:
    return f"{observable} {state} - {partner}" if partner else f"{observable} {state}"
