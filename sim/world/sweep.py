"""Worlds that run side by side: the points of a parameter sweep, stacked.

A :class:`Sweep` holds compiled worlds that differ only in parameter values (one world per
sweep point; a single run is a sweep of one point). For each regime of active shocks it
gives the parameters in force, stacked over the points on a leading axis, and the ties
the regime pins. Both drivers read parameters and pins from here, so a regime means the
same numbers on either path.

Stacking keeps each point's own derived quantities (computed on the point alone, as the
Mesa model does), so the arithmetic of a stacked replicate is the same as its own run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.kernel.payoffs import Params, stack_params, take
from sim.world.compiled import World
from sim.world.schedule import Regime
from sim.world.shocks import pinned_ties

#: How many sets of regimes side by side (:meth:`Sweep.mixed`) a sweep keeps, the oldest
#: dropped first: a chunk's replicates may be in a set of their own, and in a large world
#: each set is large.
MIXED_KEPT = 16


@dataclass(frozen=True)
class Pins:
    """Ties held by exogenous shocks: ``T[..., rows, cols] = values[point]``.

    ``rows``, ``cols``: ``(K,)`` tie positions; ``values``: ``(points, K)``.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray

    def apply(
        self, T: np.ndarray, points: np.ndarray | None = None, members: np.ndarray | None = None
    ) -> None:
        """Pin the ties of ``T`` in place: ``(N, N)`` for one point, or ``(R, N, N)``
        with ``points`` the ``(R,)`` sweep point of each replicate; ``members``: only
        those replicates (indices into the first axis; None: all)."""
        if members is None:
            if points is None or len(self.values) == 1:
                T[..., self.rows, self.cols] = self.values[0]
            else:
                T[:, self.rows, self.cols] = self.values[points]
            return
        at = members[:, None]
        if points is None or len(self.values) == 1:
            T[at, self.rows, self.cols] = self.values[0]
        else:
            T[at, self.rows, self.cols] = self.values[points[members]]

    def triples(self, point: int = 0) -> tuple[tuple[int, int, float], ...]:
        """``(i, j, value)`` of every pinned tie at one point."""
        return tuple(
            (int(i), int(j), float(v))
            for i, j, v in zip(self.rows, self.cols, self.values[point], strict=True)
        )


class Sweep:
    """Worlds with one structure (see :func:`structure`), and their shocks' regimes.

    Args:
        worlds: one compiled world per sweep point (at least one).
        shocks_off: ids of shocks switched off in every point.
    """

    def __init__(self, worlds: Sequence[World], shocks_off: Sequence[str] = ()):
        self.worlds = list(worlds)
        self.world = self.worlds[0]
        self.shocks = self.world.shocks
        off = set(shocks_off)
        #: ``(shocks,)`` bool: the shock may fire.
        self.enabled = np.array([s.id not in off for s in self.shocks], dtype=bool)
        #: ``(points, shocks)`` per-period probability of each shock (NaN for dated ones).
        self.probability = np.array(
            [
                [np.nan if s.probability is None else s.probability for s in w.shocks]
                for w in self.worlds
            ]
        ).reshape(len(self.worlds), len(self.shocks))
        self._params: dict[Regime, Params] = {}
        self._mixed: dict[tuple[Regime, ...], Params] = {}
        self._pins: dict[Regime, Pins | None] = {}

    @property
    def n_points(self) -> int:
        return len(self.worlds)

    def params(self, regime: Regime, points: np.ndarray | None = None) -> Params:
        """Parameters in force under ``regime`` (shock indices, in firing order).

        One point: that world's own cached ``Params`` (the object the Mesa model uses).
        Several: the points' parameter sets stacked on a leading axis, then, if
        ``points`` is given, the rows of those points (one per replicate).
        """
        P = self._params.get(regime)
        if P is None:
            per = [w.params_with([w.shocks[k] for k in regime]) for w in self.worlds]
            P = self._params[regime] = per[0] if len(per) == 1 else stack_params(per)
        if points is None or self.n_points == 1:
            return P
        return take(P, points)

    def mixed(self, regimes: tuple[Regime, ...]) -> Params:
        """The parameters of several regimes in one ``Params``: row ``g * n_points + k``
        holds point k under ``regimes[g]`` (what one kernel call needs when replicates
        are in different regimes). One regime at one point: that world's own unbatched
        ``Params``, as :meth:`params` gives it."""
        P = self._mixed.get(regimes)
        if P is None:
            per = [self.params(regime) for regime in regimes]
            P = per[0] if len(per) == 1 else stack_params(per)
            if len(self._mixed) >= MIXED_KEPT:  # each chunk may bring its own set
                del self._mixed[next(iter(self._mixed))]
            self._mixed[regimes] = P
        return P

    def in_force(
        self, regime: np.ndarray, regimes: Sequence[Regime], points: np.ndarray
    ) -> tuple[Params, np.ndarray | None]:
        """The parameters of replicates (or records) in different regimes, for one kernel
        call: :meth:`mixed` of the regimes that occur, and the row each one reads.

        Args:
            regime: ``(R,)`` index into ``regimes`` of each one's regime.
            regimes: the regimes (``ShockSchedule.regimes``).
            points: ``(R,)`` each one's sweep point.

        Returns:
            ``P`` and ``rows`` ``(R,)``; rows None where ``P`` is one unbatched set.
        """
        groups = np.unique(regime)
        P = self.mixed(tuple(regimes[g] for g in groups))
        if P.power.ndim == 1:
            return P, None
        return P, np.searchsorted(groups, regime) * self.n_points + points

    def pins(self, regime: Regime) -> Pins | None:
        """The ties pinned under ``regime`` at every point (None if none)."""
        if regime not in self._pins:
            per = [pinned_ties([w.shocks[k] for k in regime]) for w in self.worlds]
            if not per[0]:
                self._pins[regime] = None
            else:
                at = list(per[0])
                self._pins[regime] = Pins(
                    rows=np.array([i for i, _ in at]),
                    cols=np.array([j for _, j in at]),
                    values=np.array([[d[ij] for ij in at] for d in per]),
                )
        return self._pins[regime]


def structure(w: World) -> tuple:
    """What must be equal for worlds to run in one sweep (parameter values may differ)."""
    shocks = tuple(
        (
            s.id,
            s.period,
            s.window,
            s.duration,
            s.max_fires,
            s.probability is None,
            tuple(
                (e.param, e.op, e.rows.tobytes(), None if e.cols is None else e.cols.tobytes())
                for e in s.effects
            ),
            tuple((i, j) for i, j, _ in s.ties),
        )
        for s in w.shocks
    )
    return (
        tuple(w.ids),
        w.rules.tobytes(),
        w.delta,
        w.update,
        w.candidates,
        w.adjustment,
        w.model,
        w.n_periods,
        w.burn_in,
        w.base.groups.tobytes(),
        w.toward.tobytes(),
        w.away.tobytes(),
        shocks,
    )
