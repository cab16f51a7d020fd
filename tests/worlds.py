"""Small worlds for the theory tests, built as Python dicts.

Every number is an assumption of the test (``sourced``), so the dicts pass the same
validation as scenario files. The builders return plain dicts so a test can change one
field before calling :func:`build`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import numpy as np

from sim.scenario import Scenario, load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ROOT / "scenarios" / "teaching.yaml"
START = dt.date(2020, 1, 1)


def sourced(value: float, why: str = "a test world") -> dict:
    """A number with the provenance the scenario schema requires."""
    return {"value": float(value), "assumption": why}


def state(
    name: str,
    power: float = 1.0,
    energy: float = 0.0,
    security: float = 0.0,
    alignment: float = 0.0,
    autonomy: float = 0.0,
    cross_pressure: float | None = 0.0,
    rule: str = "logit",
) -> dict:
    """One state; the three weights must sum to 1. ``cross_pressure=None`` leaves the
    field out (Model 2 refuses it)."""
    out = {
        "name": name,
        "power": sourced(power),
        "weights": {
            "energy": sourced(energy),
            "security": sourced(security),
            "alignment": sourced(alignment),
        },
        "autonomy": sourced(autonomy),
        "rule": rule,
    }
    if cross_pressure is not None:
        out["cross_pressure"] = sourced(cross_pressure)
    return out


def pair(**params: float) -> dict:
    """Pair parameters (energy=..., threat=..., ...) as sourced numbers."""
    return {k: sourced(v) for k, v in params.items()}


def world(
    states: dict,
    relations: dict,
    *,
    rivalries: list[tuple[str, str, float]] = (),
    shocks: dict | None = None,
    model: dict | None = None,
    steps: int = 24,
    burn_in: int = 40,
    name: str = "test world",
) -> dict:
    """A scenario dict: quarterly periods from 2020-01-01."""
    return {
        "name": name,
        "time": {"start": START, "steps": steps, "step": "quarter", "burn_in": burn_in},
        "model": dict(model or {}),
        "states": states,
        "relations": relations,
        "rivalries": [
            {"pair": [a, b], "value": float(v), "assumption": "a test world"}
            for a, b, v in rivalries
        ],
        "shocks": dict(shocks or {}),
    }


def build(d: dict) -> Scenario:
    return scenario_from_dict(copy.deepcopy(d))


def teaching_dict() -> dict:
    """The teaching world's merged content, as a dict a test may change."""
    return copy.deepcopy(load_scenario(TEACHING).content)


# ---- the worlds ----------------------------------------------------------------------


def blume_world(
    beta: float = 0.5,
    w_energy: float = 0.75,
    energy: float = 1.0,
    affinity_a: float = -0.6,
    affinity_b: float = -0.3,
    tie_cost: float = 0.2,
    tie_noise: float = 0.2,
    delta: float = 0.1,
    steps: int = 1000,
    burn_in: int = 20,
) -> dict:
    """Two states with only energy and affinity terms: a potential game.

    Security weight 0, no threat/protection/leverage/rivalry, autonomy and cross-pressure
    0, ``energy[A][B] == energy[B][A]`` and equal weights, so the pairwise energy term is
    symmetric. One state revises per period, over the whole grid, with no move cost.
    """
    s = {
        "A": state("A", energy=w_energy, alignment=1.0 - w_energy),
        "B": state("B", energy=w_energy, alignment=1.0 - w_energy),
    }
    rel = {
        "A": {"B": pair(energy=energy, affinity=affinity_a)},
        "B": {"A": pair(energy=energy, affinity=affinity_b)},
    }
    model = {
        "candidates": "grid",
        "update": "one_at_a_time",
        "delta": sourced(delta),
        "tie_cost": sourced(tie_cost),
        "tie_noise": sourced(tie_noise),
        "move_cost": sourced(0.0, "no move cost, so logit revision is a Gibbs sampler"),
        "reciprocity_floor": sourced(beta),
    }
    return world(s, rel, model=model, steps=steps, burn_in=burn_in, name="Blume check")


def energy_world() -> dict:
    """S cares only about energy, which it trades with P alone; Q is a bystander."""
    s = {
        "S": state("S", energy=1.0),
        "P": state("P", power=5, energy=0.5, alignment=0.5),
        "Q": state("Q", power=5, energy=0.5, alignment=0.5),
    }
    rel = {
        "S": {"P": pair(energy=0.5)},
        "P": {"S": pair(energy=0.2), "Q": pair(energy=0.2)},
        "Q": {"P": pair(energy=0.2)},
    }
    return world(s, rel, steps=16)


def protector_world(extra_threat: float = 0.5) -> dict:
    """S lives beside a hostile power H; P offers protection. In 2021 H's threat grows."""
    s = {
        "S": state("S", energy=0.2, security=0.6, alignment=0.2),
        "P": state("P", power=10, energy=0.4, security=0.3, alignment=0.3),
        "H": state("H", power=10, energy=0.4, security=0.3, alignment=0.3),
    }
    rel = {
        "S": {
            "P": pair(protection=0.6, arms=0.5, proximity=0.3, energy=0.1),
            "H": pair(threat=0.2, proximity=1.0, energy=0.1),
        },
        "P": {"S": pair(energy=0.05, affinity=0.2)},
        "H": {"S": pair(energy=0.05, affinity=-0.2)},
    }
    shocks = {
        "threat_rises": {
            "label": "H turns hostile",
            "date": dt.date(2021, 1, 1),
            "assumption": "a test event",
            "effects": [
                {
                    "param": "threat",
                    "pair": ["S", "H"],
                    "op": "add",
                    "value": float(extra_threat),
                    "assumption": "a test event",
                },
            ],
        }
    }
    return world(s, rel, shocks=shocks, steps=16)


def autonomy_world(autonomy: float) -> dict:
    """S between two rival poles, with more energy at stake with P1 than with P2."""
    s = {
        "S": state("S", energy=0.5, alignment=0.5, autonomy=autonomy, cross_pressure=1.0),
        "P1": state("P1", power=10, energy=0.5, alignment=0.5),
        "P2": state("P2", power=10, energy=0.5, alignment=0.5),
    }
    rel = {
        "S": {"P1": pair(energy=0.6), "P2": pair(energy=0.3)},
        "P1": {"S": pair(energy=0.1, affinity=0.2), "P2": pair(affinity=-0.5)},
        "P2": {"S": pair(energy=0.1, affinity=0.2), "P1": pair(affinity=-0.5)},
    }
    return world(s, rel, rivalries=[("P1", "P2", 0.8)], steps=16)


def leverage_world(leverage: float) -> dict:
    """S would rather drift toward W, its energy partner and E's rival (cross-pressure
    makes closeness to both costly); E holds leverage over S. In 2023 the leverage ends
    (E's base closes).
    """
    s = {
        "S": state("S", energy=0.3, security=0.6, alignment=0.1, cross_pressure=1.0),
        "E": state("E", power=10, energy=0.3, security=0.4, alignment=0.3),
        "W": state("W", power=10, energy=0.4, security=0.3, alignment=0.3),
    }
    rel = {
        "S": {"E": pair(leverage=leverage), "W": pair(energy=0.5, affinity=0.3)},
        "E": {"S": pair(energy=0.05, affinity=0.3), "W": pair(affinity=-0.3)},
        "W": {"S": pair(energy=0.1, affinity=0.2), "E": pair(affinity=-0.3)},
    }
    shocks = {
        "base_closes": {
            "label": "E's base closes",
            "date": dt.date(2023, 1, 1),
            "assumption": "a test event",
            "effects": [
                {
                    "param": "leverage",
                    "pair": ["S", "E"],
                    "op": "set",
                    "value": 0.0,
                    "assumption": "no base, no leverage",
                },
            ],
        }
    }
    return world(s, rel, rivalries=[("E", "W", 0.8)], shocks=shocks, steps=24)


def random_ties(rng: np.random.Generator, n: int, bound: float = 0.9) -> np.ndarray:
    """A random tie matrix with entries uniform in [-bound, bound] and a zero diagonal."""
    T = rng.uniform(-bound, bound, (n, n))
    np.fill_diagonal(T, 0.0)
    return T


def ring_world(n: int, rivalry_every: int = 5, steps: int = 6, burn_in: int = 4) -> dict:
    """A large made-up world: a ring of ``n`` states, each with an energy stake, a
    threat and proximity toward the next, and a rivalry every ``rivalry_every`` states."""
    ids = [f"S{i}" for i in range(n)]
    states = {
        s: state(s, power=1.0 + i % 3, energy=0.3, security=0.4, alignment=0.3,
                 autonomy=0.5, cross_pressure=0.5)
        for i, s in enumerate(ids)
    }  # fmt: skip
    relations = {
        a: {ids[(i + 1) % n]: pair(energy=0.05, threat=0.2, proximity=0.5)}
        for i, a in enumerate(ids)
    }
    rivalries = [(ids[k], ids[k + 1], 0.5) for k in range(0, n - 1, rivalry_every)]
    return world(states, relations, rivalries=rivalries, steps=steps, burn_in=burn_in)


def alliance_world(courting: float = 0.6, attack: bool = False, steps: int = 24) -> dict:
    """Model 2: S (small) is threatened by H next door and counts on P, which opposes H.
    In 2021 P gains an energy stake with H (a shock on the P-H pair only), so P draws
    closer to H by its own choice; with ``attack``, H attacks S for one quarter in 2022.
    """
    v2 = {"cross_pressure": None}
    s = {
        "S": state("S", power=1, energy=0.2, security=0.6, alignment=0.2, autonomy=0.2, **v2),
        "P": state("P", power=6, energy=0.5, security=0.3, alignment=0.2, **v2),
        "H": state("H", power=4, energy=0.4, security=0.3, alignment=0.3, **v2),
    }
    rel = {
        "S": {
            "P": pair(protection=0.9, arms=0.5, energy=0.2, proximity=0.3),
            "H": pair(threat=0.6, proximity=1.0, energy=0.1),
        },
        "P": {"S": pair(energy=0.1, affinity=0.4), "H": pair(threat=0.3, proximity=0.5)},
        "H": {"S": pair(energy=0.05, affinity=-0.3), "P": pair(threat=0.3, proximity=0.5)},
    }
    shocks = {
        "energy_deal": {
            "label": "P and H strike an energy deal",
            "date": dt.date(2021, 1, 1),
            "assumption": "a test event",
            "effects": [
                {
                    "param": "energy",
                    "pair": ["P", "H"],
                    "op": "set",
                    "value": courting,
                    "assumption": "a test event",
                },
                {
                    "param": "threat",
                    "pair": ["P", "H"],
                    "op": "set",
                    "value": 0.0,
                    "assumption": "a test event",
                },
            ],
        }
    }
    if attack:
        shocks["attack"] = attack_shock(dt.date(2022, 1, 1))
    model = {"version": 2}
    return world(s, rel, shocks=shocks, model=model, steps=steps, name="alliance")


def attack_shock(date: dt.date, value: float = 1.0) -> dict:
    """H attacks S for one period from ``date`` (``set attack VALUE``, duration 1)."""
    return {
        "label": "H attacks S",
        "date": date,
        "duration": 1,
        "assumption": "a test event",
        "effects": [
            {
                "param": "attack",
                "pair": ["S", "H"],
                "op": "set",
                "value": float(value),
                "assumption": "a test event",
            }
        ],
    }


def write_posterior(folder: Path, content_hash: str, particles: dict[str, list[float]]) -> Path:
    """A hand-made finished calibration folder (``multivector calibrate``'s files): the
    particles' inputs with equal weights, and a manifest naming the scenario's hash."""
    import pandas as pd

    folder.mkdir()
    n = len(next(iter(particles.values())))
    pd.DataFrame({**particles, "weight": [1.0 / n] * n}).to_parquet(
        folder / "posterior.parquet", index=False
    )
    manifest = {
        "kind": "calibration",
        "status": "complete",
        "scenario": {"content_hash": content_hash},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder
