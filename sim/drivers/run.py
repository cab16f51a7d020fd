"""Running one scenario: the Mesa model over the horizon, as tidy tables.

``run(scenario, seed)`` builds a :class:`~sim.drivers.model.BalancingModel`, runs it over
the scenario's horizon and returns a :class:`RunResult`. ``RunResult.save`` writes its
outputs through :mod:`sim.outputs.run_files`.

A run's three tables have the columns of an ensemble's (:mod:`sim.drivers.records`)
without ``replicate``: ``ties`` and ``indices`` as documented there, and ``shocks`` one
row per firing (seed, id, label, kind, period, date), as an ensemble's or a batch's
``.shocks`` for one replicate.
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
    """One run: its tables, the shocks that fired, and how to reproduce it.

    Attributes:
        ties: seed, step, date, state, partner, tie.
        indices: seed, step, date, state, alignment and hedging index, payoff components.
        shocks: the shocks that fired, one row per firing in firing order: seed, id,
            label, kind (dated, probabilistic), period, date (ISO text); the columns of
            an ensemble's ``shocks`` without ``replicate``. :meth:`shock_events` gives
            them as plain dicts.
    """

    scenario: Scenario
    world: World
    seed: int
    ties: pd.DataFrame
    indices: pd.DataFrame
    shocks: pd.DataFrame
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
            shocks=model.shocks_table(seed),
            wall_time=wall_time,
            shocks_off=shocks_off,
            model=model,
        )

    def shock_events(self) -> list[dict]:
        """The shocks that fired as plain dicts (id, label, kind, period, date), in
        firing order (what the manifest records as ``shocks_fired``)."""
        return records.shock_events(self.shocks)

    def figure(self):
        """The alignment figure (a matplotlib Figure)."""
        from sim.outputs.plots import alignment_figure

        return alignment_figure(self)

    def manifest(self) -> dict:
        """What ``manifest.json`` records: scenario, seed, parameters, versions."""
        from sim.outputs.manifest import run_manifest

        return run_manifest(self)

    def save(self, out: str | Path, *, force: bool = False, format: str = "parquet") -> Path:
        """Write the outputs into ``out`` atomically; returns the directory.

        ``out`` may be new (with missing parents), empty or an earlier run's output (and
        nothing else); anything else is refused (:class:`~sim.errors.UserError`) unless
        ``force``. ``format="csv"`` writes the tables as CSV instead of Parquet.
        """
        from sim.outputs.run_files import write_outputs

        return write_outputs(self, out, force=force, format=format)


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
