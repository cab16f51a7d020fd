"""Shocks: dated and probabilistic events that change the world's parameters.

A shock never chooses for a state. Its effects ``set``, ``add`` to or ``multiply`` a
named parameter of one state, one pair, or all (``*``). The only exception is an effect
on ``tie``, which pins a tie at a value while the shock is active; the scenario must mark
it ``exogenous: true`` (a decision outside the model, such as a sanctions regime).

Parameters at a period are always recomputed from the base world plus the active shocks
in the order they fired, so a shock with a ``duration`` reverts cleanly when it ends.

When each shock fires is decided by :mod:`sim.world.schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.kernel.payoffs import Params
from sim.scenario import (
    PAIR_PARAMS,
    STATE_PARAMS,
    SYMMETRIC_PARAMS,
    Scenario,
    n_periods,
    period_of,
)

_RANGES = {**STATE_PARAMS, **PAIR_PARAMS, **SYMMETRIC_PARAMS}


@dataclass(frozen=True)
class CompiledEffect:
    param: str
    op: str
    value: float
    rows: np.ndarray  # state indices (state params) or row indices (pair params)
    cols: np.ndarray | None  # column indices for pair params; None for state params


@dataclass(frozen=True)
class CompiledShock:
    id: str
    label: str
    period: int | None  # dated shocks: the period they fire in
    probability: float | None
    window: tuple[int, int]  # periods in which a probabilistic shock may fire (inclusive)
    duration: int | None  # periods active; None: for good
    max_fires: int
    effects: tuple[CompiledEffect, ...]
    ties: tuple[tuple[int, int, float], ...]  # exogenous pinned ties (i, j, value)
    source: str = ""
    exogenous: bool = field(default=False)


def compile_shocks(scenario: Scenario, pos: dict[str, int]) -> list[CompiledShock]:
    spec = scenario.spec
    n = len(pos)
    last = n_periods(spec.time) - 1
    out = []
    for sid, sh in spec.shocks.items():
        effects: list[CompiledEffect] = []
        ties: list[tuple[int, int, float]] = []
        for e in sh.effects:
            if e.param in STATE_PARAMS:
                rows = np.arange(n) if e.state == "*" else np.array([pos[e.state]])
                effects.append(CompiledEffect(e.param, e.op, e.value, rows, None))
                continue
            a, b = e.pair
            ra = np.arange(n) if a == "*" else np.array([pos[a]])
            rb = np.arange(n) if b == "*" else np.array([pos[b]])
            ii, jj = np.meshgrid(ra, rb, indexing="ij")
            ii, jj = ii.ravel(), jj.ravel()
            if e.both_ways or e.param in SYMMETRIC_PARAMS:
                ii, jj = np.concatenate([ii, jj]), np.concatenate([jj, ii])
            keep = ii != jj
            ii, jj = ii[keep], jj[keep]
            if e.param == "tie":
                ties.extend((int(i), int(j), e.value) for i, j in zip(ii, jj, strict=True))
            else:
                effects.append(CompiledEffect(e.param, e.op, e.value, ii, jj))
        if sh.date is not None:
            period = period_of(spec.time, sh.date)
            window = (period, period)
        else:
            period = None
            w = sh.window
            window = (
                (period_of(spec.time, w.start), period_of(spec.time, w.end)) if w else (0, last)
            )
        out.append(
            CompiledShock(
                id=sid,
                label=sh.label,
                period=period,
                probability=sh.probability.value if sh.probability else None,
                window=window,
                duration=sh.duration,
                max_fires=sh.max_fires,
                effects=tuple(effects),
                ties=tuple(ties),
                source=sh.source or f"assumption: {sh.assumption}",
                exogenous=bool(ties),
            )
        )
    return out


def apply_effects(base: Params, fired: list[CompiledShock]) -> Params:
    """Parameters with the effects of ``fired`` applied in order, clipped to their ranges."""
    P = base.copy()
    for shock in fired:
        for e in shock.effects:
            arr = getattr(P, e.param)
            idx = (..., e.rows) if e.cols is None else (..., e.rows, e.cols)
            if e.op == "set":
                arr[idx] = e.value
            elif e.op == "add":
                arr[idx] = arr[idx] + e.value
            else:
                arr[idx] = arr[idx] * e.value
            lo, hi = _RANGES[e.param]
            np.clip(arr, lo, hi, out=arr)
    return P


def pinned_ties(active: list[CompiledShock]) -> dict[tuple[int, int], float]:
    """``{(i, j): value}`` of the ties pinned by the active shocks; later shocks win."""
    out: dict[tuple[int, int], float] = {}
    for shock in active:
        for i, j, v in shock.ties:
            out[(i, j)] = v
    return out
