"""Figures of a calibration: prior against posterior, and the posterior predictive."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.calibration.predictive import predictive
from sim.scenario.priors import UncertainInput

#: Posterior particles resampled for the posterior-predictive figures.
PREDICTIVE_DRAWS = 40


def prior_posterior_figure(inputs: list[UncertainInput], posterior: pd.DataFrame) -> Figure:
    """One panel per calibrated input: its prior density (line) and the weighted
    posterior histogram (bars), the file's point value marked."""
    n = len(inputs)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 2.9 * rows), layout="constrained")
    w = posterior["weight"].to_numpy(dtype=float)
    for k, inp in enumerate(inputs):
        ax = fig.add_subplot(rows, cols, k + 1)
        grid = np.linspace(inp.low, inp.high, 201)
        ax.plot(grid, _prior_density(inp, grid), color="0.35", lw=2, label="prior")
        ax.hist(
            posterior[inp.path],
            bins=20,
            range=(inp.low, inp.high),
            weights=w,
            density=True,
            color="#0072B2",
            alpha=0.6,
            label="posterior",
        )
        ax.axvline(inp.value, color="#D55E00", ls="--", lw=1.5, label="value in the file")
        ax.set_title(inp.path, fontsize=10)
        ax.tick_params(labelsize=9)
        if k == 0:
            ax.legend(fontsize=9)
    fig.suptitle("Calibrated inputs: prior against posterior", fontsize=12)
    return fig


def _prior_density(inp: UncertainInput, x: np.ndarray) -> np.ndarray:
    width = inp.high - inp.low
    if inp.dist != "triangular":
        return np.full_like(x, 1.0 / width)
    mode = inp.value
    up = np.where(x <= mode, (x - inp.low) / max(mode - inp.low, 1e-12), 0.0)
    down = np.where(x > mode, (inp.high - x) / max(inp.high - mode, 1e-12), 0.0)
    return 2.0 / width * (up + down)


def posterior_predictive_figures(scenario, objective, posterior: pd.DataFrame) -> dict:
    """Per observable, the posterior predictive bands over the training years against
    the observed points (one panel per dyad)."""
    from sim.calibration.calibrate import resample
    from sim.calibration.scoring import score_figure

    rng = np.random.default_rng([objective.seeds[0], 1])
    draws = resample(scenario, posterior, PREDICTIVE_DRAWS, rng)
    pred = predictive(
        scenario,
        objective.observed,
        seeds=objective.seeds,
        input_draws=draws,
        fit_until=objective.years[-1],
        years=objective.years,
        rng=rng,
        level=objective.level,
    )
    out = {}
    for obs in sorted(objective.variance):
        samples = pred.samples[pred.samples["observable"] == obs]
        observed = objective.observed[objective.observed["observable"] == obs]
        if len(samples):
            out[obs] = score_figure(samples, observed, observable=obs)
    return out
