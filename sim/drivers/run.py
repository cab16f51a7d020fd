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

from sim.drivers.model import BalancingModel
from sim.errors import UserError
from sim.scenario import Scenario, did_you_mean, load_scenario, period_start
from sim.world.compiled import World, world_for


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
            shocks=fired_shocks(world, model.timeline.log),
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

    def save(self, out: str | Path) -> Path:
        """Write the outputs into ``out`` atomically; returns the directory."""
        from sim.outputs.run_files import write_outputs

        return write_outputs(self, out)


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


def fired_shocks(world: World, log: list[tuple[int, str]]) -> list[dict]:
    """The shocks that fired in a run: id, label, period, and the event's date (a dated
    shock's own date; the first day of its period for a probabilistic one)."""
    specs = world.scenario.spec.shocks
    out = []
    for p, sid in log:
        when = specs[sid].date or period_start(world.scenario.spec.time, p)
        kind = "dated" if specs[sid].date else "probabilistic"
        out.append(
            {
                "id": sid,
                "label": specs[sid].label,
                "kind": kind,
                "period": p,
                "date": when.isoformat(),
            }
        )
    return out


def check_shock_ids(world: World, ids) -> None:
    known = [s.id for s in world.shocks]
    for sid in ids:
        if sid not in known:
            raise UserError(
                f"--shock-off: no shock {sid!r} in {world.scenario.path}"
                f"{did_you_mean(sid, known)}; "
                f"the shocks are: {', '.join(known) or '(none)'}"
            )
