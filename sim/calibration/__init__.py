"""Holding the model against observed data: measurement model, calibration, forecasts,
scorecard.

::

    from sim.calibration import calibrate, forecast, score, Settings
    card = score("scenarios/baseline.yaml", "runs/score", prior=True)   # Scorecard
    cal = calibrate("scenarios/baseline.yaml", "runs/posterior", settings=Settings())
    table = forecast("scenarios/baseline.yaml", "runs/forecast", posterior="runs/posterior")

The observed data come from the folder named by ``data=`` (or ``MULTIVECTOR_DATA``, or
``multivector.toml``, or ``../shared/validation``): see :mod:`sim.observed`.
"""

from sim.calibration.calibrate import Calibration, Settings, calibrate, load_posterior
from sim.calibration.forecast import Scorecard, forecast, score
from sim.calibration.measure import LINKS, SCORED

__all__ = [
    "LINKS",
    "SCORED",
    "Calibration",
    "Scorecard",
    "Settings",
    "calibrate",
    "forecast",
    "load_posterior",
    "score",
]
