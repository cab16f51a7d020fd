"""Holding the model against observed data: measurement model, calibration, forecasts, scorecard."""
