"""Scenario batches: experiment designs, seeds, executors, a resumable store, analysis.

From a notebook, the same as ``multivector batch``::

    import sim.batch
    summary = sim.batch.run("scenarios/experiments/gas_deal.yaml", "runs/gas_deal")
    result = sim.batch.load("runs/gas_deal")      # tidy DataFrames: .runs .indices .shocks
    from sim.batch import analysis, plots
    effects = analysis.effects(result, "baseline", "gas_deal_fails", dates=["2030-12-31"])
    fig = plots.fan_chart(result, states=["AZ"])   # each figure function returns a Figure

On a cluster, each task of an array job runs one shard (``sim.batch.run(..., shard=(K,
M))``, ``multivector batch ... --shard K/M``) and ``sim.batch.load(DIR)`` reads them as
one batch.

Modules: ``experiment`` (the file format), ``design`` (points and seeds), ``runner`` (one
chunk), ``executors``, ``store`` (the directory), ``shards`` (a batch cut into slices),
``driver`` (run and resume), ``results`` (load), ``analysis``, ``plots``, ``bench``.
"""

from sim.batch.driver import Summary, run
from sim.batch.experiment import Experiment, experiment_from_dict, load_experiment
from sim.batch.results import BatchResult, load

__all__ = [
    "BatchResult",
    "Experiment",
    "Summary",
    "experiment_from_dict",
    "load",
    "load_experiment",
    "run",
]
