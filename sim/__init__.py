"""Multivector: an agent-based simulation of strategic balancing.

The Python API for notebooks and scripts::

    import sim
    scenario = sim.load_scenario("scenarios/baseline.yaml")
    result = sim.run(scenario, seed=7)      # RunResult: .ties, .indices, .figure(), .save(dir)
    model = sim.BalancingModel(scenario, rng=7)   # the Mesa model, to step by hand
    model, table = sim.explain(scenario, seed=7, state="AZ", date=datetime.date(2022, 9, 30))
"""

from sim.errors import ScenarioError, UserError
from sim.explain import explain
from sim.model import BalancingModel
from sim.run import RunResult, run
from sim.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = [
    "BalancingModel",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "UserError",
    "explain",
    "load_scenario",
    "run",
    "scenario_from_dict",
]
