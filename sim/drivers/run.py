"""Running one scenario: the Mesa model over the horizon, as tidy tables.

``run(scenario, seed)`` builds a :class:`~sim.drivers.model.BalancingModel`, runs it over
the scenario's horizon and returns a :class:`RunResult`. ``RunResult.save`` writes its
outputs through :mod:`sim.outputs.run_files`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.drivers import records
from sim.drivers.model import BalancingModel
from sim.scenario import Scenario, load_scenario
from sim.world.compiled import World, check_shock_ids, world_for


@dataclass
class RunResult:
    """One run: its tables, the shocks that fired, and how to reproduce it."""

    scenario: Scenario
    world: World
    seed: int
    ties: pd.DataFrame
    indices: pd.DataFrame
    shocks: list[dict]
    wall_time: float
    shocks_off: tuple[str, ...] = ()
    model: BalancingModel | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls, model: BalancingModel, seed: int, shocks_off: tuple[str, ...] = (), wall_time=0.0
    ) -> RunResult:
        """The records of a model so far (run to the end or not) as a result."""
        world = model.world
        return cls(
            scenario=world.scenario,
            world=world,
            seed=seed,
            ties=model.ties_table(seed),
            indices=model.indices_table(seed),
            shocks=records.shock_events(model.shocks_table(seed)),
            wall_time=wall_time,
            shocks_off=shocks_off,
            model=model,
        )

    def figure(self):
        """The alignment figure (a matplotlib Figure)."""
        from sim.outputs.plots import alignment_figure

        return alignment_figure(self)

    def manifest(self) -> dict:
        """What ``manifest.json`` records: scenario, seed, parameters, versions."""
        from sim.outputs.manifest import run_manifest

        return run_manifest(self)

    def save(self, out: str | Path, *, force: bool = False) -> Path:
        """Write the outputs into ``out`` atomically; returns the directory.

        ``out`` may be new, empty or an earlier run's output (and nothing else);
        anything else is refused (:class:`~sim.errors.UserError`) unless ``force``.
        """
        from sim.outputs.run_files import write_outputs

        return write_outputs(self, out, force=force)


def run(
    scenario: Scenario | str | Path,
    seed: int = 0,
    shocks_off: tuple[str, ...] | list[str] = (),
    steps: int | None = None,
) -> RunResult:
    """Run a scenario once.

    Args:
        scenario: a loaded :class:`Scenario` or a path to a scenario file.
        seed: the run's seed (an int >= 0).
        shocks_off: shock ids to switch off (they must exist in the scenario).
        steps: periods to run (default: the scenario's horizon).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    world = world_for(scenario)
    check_shock_ids(world, shocks_off)
    t0 = time.perf_counter()
    model = BalancingModel(
        world=world, rng=seed, shocks_off=tuple(shocks_off), agent_data=False
    ).run(steps)
    wall = time.perf_counter() - t0
    return RunResult.of(model, seed, tuple(shocks_off), wall)
