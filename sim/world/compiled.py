"""A validated scenario compiled to numpy arrays: the world the kernel works on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from sim.errors import UserError
from sim.kernel import decision
from sim.kernel.payoffs import Params
from sim.scenario import (
    MODEL_CONSTANTS,
    PAIR_PARAMS,
    WEIGHT_NAMES,
    Scenario,
    did_you_mean,
    n_periods,
    period_end,
    record_date,
    record_step,
)
from sim.world.shocks import CompiledShock, apply_effects, compile_shocks


@dataclass
class World:
    """Everything a driver needs to run a scenario, as arrays and plain values.

    Attributes:
        ids, names: state ids (row order of every array) and display names.
        base: parameters before any shock (the burn-in runs under these).
        rules: ``(N,)`` decision-rule codes (see :mod:`sim.kernel.decision`).
        delta: tie step per period; ``update``: "simultaneous" or "one_at_a_time";
            ``candidates``: "local", "grid" or "continuous"; ``adjustment``: the share of
            the way to the best reply a continuous tie moves in a period.
        model: the model version, 1 or 2 (Model 2 carries a credibility state:
            :mod:`sim.kernel.balance`).
        n_periods, burn_in: recorded periods and unrecorded burn-in periods.
        shocks: compiled shocks, in scenario order.
        toward, away: indices of the poles of the alignment axis (empty if none).
        group_labels: the label of each autonomy group (columns of ``base.groups``).
    """

    scenario: Scenario
    ids: list[str]
    names: list[str]
    base: Params
    rules: np.ndarray
    delta: float
    update: str
    candidates: str
    adjustment: float
    model: int
    n_periods: int
    burn_in: int
    shocks: list[CompiledShock]
    toward: np.ndarray
    away: np.ndarray
    group_labels: list[str]
    _dates: np.ndarray | None = field(default=None, repr=False)
    _params_cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.ids)

    def index(self, state_id: str) -> int:
        return self.ids.index(state_id)

    def date(self, step: int) -> dt.date:
        """Date of a record (:func:`sim.scenario.record_date`): step 0 is the day before
        the start, step t the last day of period t - 1, also past the horizon (a model
        stepped beyond it)."""
        if step <= self.n_periods:
            return record_date(self.scenario.spec.time, step)
        return period_end(self.scenario.spec.time, step - 1)

    def step_of(self, date: dt.date) -> int:
        """The record that closes the period containing ``date``
        (:func:`sim.scenario.record_step`; ValueError outside the records)."""
        return record_step(self.scenario.spec.time, date)

    def dates(self) -> list[dt.date]:
        return [self.date(t) for t in range(self.n_periods + 1)]

    def record_dates(self, steps: np.ndarray) -> np.ndarray:
        """``datetime64[D]`` dates of the records at ``steps`` (cached for the horizon)."""
        steps = np.asarray(steps, dtype=np.int64)
        if self._dates is None:
            self._dates = np.array(self.dates(), dtype="datetime64[D]")
        if steps.size and steps.max() >= len(self._dates):  # a model run past its horizon
            return np.array([self.date(int(t)) for t in steps], dtype="datetime64[D]")
        return self._dates[steps]

    def params_with(self, fired: list[CompiledShock]) -> Params:
        """The parameters with these shocks' effects applied in this order.

        Cached per sequence of shocks: every run of the world that reaches the same
        sequence shares one (read-only) ``Params`` and its derived quantities.
        """
        key = tuple(s.id for s in fired)
        P = self._params_cache.get(key)
        if P is None:
            P = self._params_cache[key] = apply_effects(self.base, fired)
        return P

    def candidate_values(self, T: np.ndarray) -> np.ndarray:
        if self.candidates == "grid":
            return decision.grid_values(T, self.delta)
        return decision.local_values(T, self.delta)


def constant(scenario: Scenario, name: str) -> float:
    s = getattr(scenario.spec.model, name)
    return MODEL_CONSTANTS[name][1] if s is None else s.value


_WORLDS: dict[str, World] = {}


def world_for(scenario: Scenario) -> World:
    """The compiled world of a scenario, shared by every run of the same content.

    A world is read-only once compiled (its caches only grow, deterministically), so runs
    can share it and, with it, the parameter sets and derived quantities of each shock
    sequence. Keyed by the scenario's content hash; the last few worlds are kept.
    """
    world = _WORLDS.get(scenario.content_hash)
    if world is None:
        if len(_WORLDS) >= 8:
            _WORLDS.pop(next(iter(_WORLDS)))
        world = _WORLDS[scenario.content_hash] = compile_world(scenario)
    return world


def compile_world(scenario: Scenario) -> World:
    """Compile a validated scenario into a :class:`World`."""
    spec = scenario.spec
    ids = list(spec.states)
    n = len(ids)
    pos = {sid: k for k, sid in enumerate(ids)}
    states = [spec.states[s] for s in ids]

    pair = {name: np.zeros((n, n)) for name in PAIR_PARAMS}
    for i, row in spec.relations.items():
        for j, ps in row.items():
            for name in PAIR_PARAMS:
                s = getattr(ps, name)
                if s is not None:
                    pair[name][pos[i], pos[j]] = s.value
    rivalry = np.zeros((n, n))
    for r in spec.rivalries:
        a, b = pos[r.pair[0]], pos[r.pair[1]]
        rivalry[a, b] = rivalry[b, a] = r.value

    # Autonomy groups: each pole is one group, every other state its own group. Keys are
    # tagged so that a pole named like a state never merges with that state.
    keys: list[tuple[str, str]] = []
    pole_of = {m: pole for pole, ms in spec.poles.items() for m in ms}
    for sid in ids:
        key = ("pole", pole_of[sid]) if sid in pole_of else ("state", sid)
        if key not in keys:
            keys.append(key)
    member = np.zeros((n, len(keys)))
    for sid in ids:
        key = ("pole", pole_of[sid]) if sid in pole_of else ("state", sid)
        member[pos[sid], keys.index(key)] = 1.0
    labels = [name for _, name in keys]

    kappa = constant(scenario, "tie_cost")
    sigma = constant(scenario, "tie_noise")
    tau = 2.0 * kappa * sigma**2
    gamma = constant(scenario, "move_cost") * tau
    base = Params(
        power=np.array([s.power.value for s in states]),
        autonomy=np.array([s.autonomy.value for s in states]),
        cross_pressure=np.array(
            [s.cross_pressure.value if s.cross_pressure else 0.0 for s in states]
        ),
        kappa=np.full(n, kappa),
        tau=np.full(n, tau),
        gamma=np.full(n, gamma),
        weights=np.array([[getattr(s.weights, w).value for w in WEIGHT_NAMES] for s in states]),
        rivalry=rivalry,
        beta=np.array(constant(scenario, "reciprocity_floor")),
        lam=np.array(constant(scenario, "threat_reduction")),
        phi=np.array(constant(scenario, "leverage_threshold")),
        balance=np.array(constant(scenario, "balance")),
        bandwagon=np.array(constant(scenario, "bandwagon")),
        credibility_rate=np.array(constant(scenario, "credibility_rate")),
        groups=member,
        **pair,
    )
    axis = spec.alignment_axis
    toward = np.array([pos[m] for m in spec.poles[axis.toward]] if axis else [], dtype=int)
    away = np.array([pos[m] for m in spec.poles[axis.away]] if axis else [], dtype=int)
    return World(
        scenario=scenario,
        ids=ids,
        names=[s.name for s in states],
        base=base,
        rules=np.array([decision.RULES.index(s.rule) for s in states]),
        delta=constant(scenario, "delta"),
        update=spec.model.update,
        candidates=spec.model.candidates,
        adjustment=constant(scenario, "adjustment"),
        model=spec.model.version,
        n_periods=n_periods(spec.time),
        burn_in=spec.time.burn_in,
        shocks=compile_shocks(scenario, pos),
        toward=toward,
        away=away,
        group_labels=labels,
    )


def resolved_parameters(world: World) -> dict:
    """The base parameters as nested plain data, for the run manifest."""
    b = world.base
    ids = world.ids
    out: dict = {
        "states": {
            sid: {
                "power": float(b.power[i]),
                "autonomy": float(b.autonomy[i]),
                "cross_pressure": float(b.cross_pressure[i]),
                "weights": dict(zip(WEIGHT_NAMES, map(float, b.weights[i]), strict=True)),
                "rule": decision.RULES[int(world.rules[i])],
            }
            for i, sid in enumerate(ids)
        },
        "pairs": {
            name: {
                ids[i]: {ids[j]: float(v) for j, v in enumerate(row) if v != 0.0}
                for i, row in enumerate(getattr(b, name))
                if np.any(row != 0.0)
            }
            for name in (*PAIR_PARAMS, "rivalry")
        },
        "constants": {
            "delta": world.delta,
            "model": world.model,
            "reciprocity_floor": float(b.beta),
            "threat_reduction": float(b.lam),
            "leverage_threshold": float(b.phi),
            "balance": float(b.balance),
            "bandwagon": float(b.bandwagon),
            "credibility_rate": float(b.credibility_rate),
            "tie_cost": float(b.kappa[0]),
            "tau": float(b.tau[0]),
            "gamma": float(b.gamma[0]),
            "burn_in": world.burn_in,
            "update": world.update,
            "candidates": world.candidates,
            "adjustment": world.adjustment,
        },
        "groups": world.group_labels,
    }
    return out


def check_shock_ids(world: World, ids) -> None:
    """Every id in ``ids`` names a shock of the world, or a clear error (``--shock-off``)."""
    known = [s.id for s in world.shocks]
    for sid in ids:
        if sid not in known:
            raise UserError(
                f"--shock-off: no shock {sid!r} in {world.scenario.path}"
                f"{did_you_mean(sid, known)}; "
                f"the shocks are: {', '.join(known) or '(none)'}"
            )
