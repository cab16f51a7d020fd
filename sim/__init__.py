"""Multivector: an agent-based simulation of strategic balancing.

The Python API for notebooks and scripts::

    import sim
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    result = sim.run(scenario, seed=7)      # RunResult: .ties, .indices, .figure(), .save(dir)
    model = sim.BalancingModel(scenario, rng=7)   # the Mesa model, to step by hand
    model, table = sim.explain(scenario, seed=7, state="AZ", date=datetime.date(2022, 9, 30))
    ens = sim.run_ensemble(scenario, seeds=1000)   # 1000 replicates at once, same tables
"""

from sim.analysis.explain import explain
from sim.drivers.ensemble import EnsembleResult, iter_ensemble, run_ensemble
from sim.drivers.model import BalancingModel
from sim.drivers.run import RunResult, run
from sim.errors import ScenarioError, UserError
from sim.scenario import Scenario, load_scenario, scenario_from_dict, with_overrides

__all__ = [
    "BalancingModel",
    "EnsembleResult",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "UserError",
    "explain",
    "iter_ensemble",
    "load_scenario",
    "run",
    "run_ensemble",
    "scenario_from_dict",
    "with_overrides",
]
