"""The shock schedule: which shocks are in force in each replicate and period.

Whether a shock fires depends only on the period, on how often it has fired, on whether
it is still active and, for a probabilistic shock, on a uniform number from the shock's
own random stream. It never depends on the ties. So the whole schedule (the *regime*,
the set of active shocks in firing order, of every replicate in every period, and the
log of every firing) is computed once, before stepping, by :func:`schedule_shocks`. The
Mesa model reads its one row; the ensemble engine reads all rows.

Timing, per period ``p``: shocks whose ``duration`` has run out end first; then, in
scenario order, a dated shock fires in its own period, and a probabilistic shock fires
when ``p`` lies in its window, it is not active, it has fired fewer than ``max_fires``
times and its uniform for ``p`` is below its probability. The regime of period ``p``
holds the active shocks ordered by the period they fired in, then scenario order: the
order in which their effects are applied (:func:`sim.world.shocks.apply_effects`).

Streams. Each probabilistic shock draws one uniform per period from a stream derived
from the run's seed and the shock's id (:func:`shock_uniforms`): adding or removing a
shock never shifts the draws of anything else, which keeps counterfactual arms on common
random numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from sim.world import streams
from sim.world.shocks import CompiledShock

#: Spawn-key tag for the shock streams (keeps them apart from any other child stream).
SHOCK_STREAM_TAG = 0x5_0C_C5

#: A regime: indices of the active shocks (into the world's shock list), in firing order.
Regime = tuple[int, ...]


def _stream_key(shock_id: str) -> tuple[int, int]:
    """The spawn-key tail of a shock's stream."""
    return SHOCK_STREAM_TAG, zlib.crc32(shock_id.encode("utf-8"))


def shock_uniforms(seed_seq: np.random.SeedSequence, shock_id: str, periods: int) -> np.ndarray:
    """One uniform number per period for a probabilistic shock, from the shock's own stream
    (numpy's own generator: the reference :func:`shock_draws` is held to)."""
    child = np.random.SeedSequence(
        entropy=seed_seq.entropy, spawn_key=(*seed_seq.spawn_key, *_stream_key(shock_id))
    )
    return np.random.default_rng(child).random(periods)


def shock_draws(
    seed_seqs: Sequence[np.random.SeedSequence], shocks: Sequence[CompiledShock], periods: int
) -> np.ndarray:
    """``(R, shocks, periods)`` uniforms: row r from replicate r's seed; NaN for dated
    shocks. Each stream is :func:`shock_uniforms`'s, made for all replicates in one compiled
    call (:func:`sim.world.streams.uniforms`: 50 times faster, the same bits)."""
    out = np.full((len(seed_seqs), len(shocks), periods), np.nan)
    drawn = [k for k, s in enumerate(shocks) if s.probability is not None]
    if not drawn:
        return out
    fast = [r for r, seq in enumerate(seed_seqs) if streams.readable(seq)]
    tails = [_stream_key(shocks[k].id) for k in drawn]
    if fast:
        out[np.ix_(fast, drawn)] = streams.uniforms([seed_seqs[r] for r in fast], tails, periods)
    for r in sorted(set(range(len(seed_seqs))) - set(fast)):  # another pool size: numpy's
        for k in drawn:
            out[r, k] = shock_uniforms(seed_seqs[r], shocks[k].id, periods)
    return out


@dataclass(frozen=True)
class ShockSchedule:
    """The regimes of R replicates over the periods of a horizon.

    Attributes:
        shocks: the world's compiled shocks (regimes index into this list).
        regimes: every regime that occurs; ``regimes[0]`` is ``()``, no shock active.
        regime: ``(R, periods)`` index into ``regimes`` of the regime in force when the
            states decide in each period.
        fired_replicate, fired_period, fired_shock: one entry per firing, ordered by
            replicate, then period, then scenario order (the order shocks fire in).
    """

    shocks: tuple[CompiledShock, ...]
    regimes: tuple[Regime, ...]
    regime: np.ndarray
    fired_replicate: np.ndarray
    fired_period: np.ndarray
    fired_shock: np.ndarray

    @property
    def periods(self) -> int:
        return self.regime.shape[1]

    def active(self, regime: int) -> list[CompiledShock]:
        """The shocks of a regime, in firing order."""
        return [self.shocks[k] for k in self.regimes[regime]]

    def record_regimes(self, steps: np.ndarray) -> np.ndarray:
        """``(R, len(steps))`` regime of each record: step 0 (before any period) has none,
        step t the regime of period t - 1 (the record closes that period)."""
        steps = np.asarray(steps, dtype=np.intp)
        out = np.zeros((self.regime.shape[0], len(steps)), dtype=np.intp)
        later = steps > 0
        out[:, later] = self.regime[:, steps[later] - 1]
        return out

    def log(self, replicate: int = 0, before: int | None = None) -> list[tuple[int, str]]:
        """``(period, shock id)`` of one replicate's firings, optionally before a period."""
        at = self.fired_replicate == replicate
        if before is not None:
            at &= self.fired_period < before
        return [
            (int(p), self.shocks[k].id)
            for p, k in zip(self.fired_period[at], self.fired_shock[at], strict=True)
        ]


def schedule_shocks(
    shocks: Sequence[CompiledShock],
    draws: np.ndarray,
    probability: np.ndarray,
    enabled: np.ndarray,
) -> ShockSchedule:
    """Fire the shocks of R replicates over the horizon (see the module docstring).

    Args:
        shocks: the world's compiled shocks, in scenario order.
        draws: ``(R, shocks, periods)`` uniforms of :func:`shock_draws`.
        probability: ``(R, shocks)`` each replicate's per-period probability of each
            shock (sweep points may differ); ignored for dated shocks.
        enabled: ``(shocks,)`` bool; a shock switched off never fires.

    The firings are compiled (:func:`_fire`, one pass over replicates, periods and
    shocks); the regimes are then named once for the whole chunk: replicates and
    periods with the same active shocks in the same order share one.
    """
    r, n_shocks, periods = draws.shape
    dated = np.array([-1 if s.period is None else s.period for s in shocks], dtype=np.int64)
    window = np.array([s.window for s in shocks], dtype=np.int64).reshape(n_shocks, 2)
    ordered = np.empty((r, periods, n_shocks), dtype=np.int64)
    fired = np.zeros((r, periods, n_shocks), dtype=np.bool_)
    _fire(
        dated,
        window[:, 0].copy(),
        window[:, 1].copy(),
        np.array([s.max_fires for s in shocks], dtype=np.int64),
        np.array([-1 if s.duration is None else s.duration for s in shocks], dtype=np.int64),
        np.ascontiguousarray(enabled, dtype=np.bool_),
        np.ascontiguousarray(draws, dtype=np.float64),
        np.ascontiguousarray(probability, dtype=np.float64),
        ordered,
        fired,
    )
    regimes: list[Regime] = [()]
    known: dict[Regime, int] = {(): 0}
    rows, inverse = _unique_rows(ordered.reshape(r * periods, n_shocks))
    names = np.empty(len(rows), dtype=np.intp)
    for a, row in enumerate(rows):
        key = tuple(int(k) for k in row[row >= 0])
        if key not in known:
            known[key] = len(regimes)
            regimes.append(key)
        names[a] = known[key]
    regime = names[inverse].reshape(r, periods)
    rep, per, shock = (a.astype(np.intp) for a in np.nonzero(fired))
    return ShockSchedule(tuple(shocks), tuple(regimes), regime, rep, per, shock)


@numba.njit(
    "void(int64[::1], int64[::1], int64[::1], int64[::1], int64[::1], boolean[::1],"
    " float64[:, :, ::1], float64[:, ::1], int64[:, :, ::1], boolean[:, :, ::1])",
    cache=True,
    nogil=True,
)
def _fire(dated, lo, hi, max_fires, duration, enabled, draws, probability, ordered, fired):
    """Each replicate's firings over the periods, in scenario order within a period:
    ``fired[b, p, k]`` whether shock k fired in period p, and ``ordered[b, p]`` the
    shocks active when the states decide in p, by the period they fired in, then
    scenario order (then -1s). Per period, shocks whose duration has run out end first;
    a dated shock (``dated[k] >= 0``) fires in its period; a probabilistic one when p is
    in its window, it is not active, it has fired fewer than ``max_fires`` times and its
    uniform is below its probability."""
    r, n, periods = draws.shape
    fired_at = np.empty(n, np.int64)  # the period of the last firing; -1: not active
    fires = np.empty(n, np.int64)
    keys = np.empty(n, np.int64)
    for b in range(r):
        fired_at[:] = -1
        fires[:] = 0
        for p in range(periods):
            for k in range(n):
                if fired_at[k] >= 0 and duration[k] >= 0 and p >= fired_at[k] + duration[k]:
                    fired_at[k] = -1
            for k in range(n):
                if not enabled[k]:
                    continue
                if dated[k] >= 0:
                    fire = dated[k] == p
                else:
                    fire = (
                        lo[k] <= p <= hi[k]
                        and fired_at[k] < 0
                        and fires[k] < max_fires[k]
                        and draws[b, k, p] < probability[b, k]
                    )
                if fire:
                    fired_at[k] = p
                    fires[k] += 1
                    fired[b, p, k] = True
            m = 0  # the active shocks, sorted by (period fired, scenario order)
            for k in range(n):
                if fired_at[k] >= 0:
                    key = fired_at[k] * n + k
                    q = m
                    while q > 0 and keys[q - 1] > key:
                        keys[q] = keys[q - 1]
                        q -= 1
                    keys[q] = key
                    m += 1
            for q in range(n):
                ordered[b, p, q] = keys[q] % n if q < m else -1


def _unique_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(table, axis=0, return_inverse=True)`` (the inverse flat) for integers
    from -1 (here: each replicate and period's active shocks in firing order, padded
    with -1), faster: only the columns that differ between rows matter (a dated shock
    is active in every replicate alike), and those rows are told apart through one
    integer each, their entries as digits in the base of the largest entry + 2, where
    that fits in 62 bits; else by sorting them. The same rows in the same
    (lexicographic) order."""
    varying = table[:, (table != table[:1]).any(axis=0)]
    if varying.shape[1] == 0:
        return table[:1], np.zeros(len(table), dtype=np.intp)
    base = int(varying.max()) + 2
    if varying.shape[1] * np.log2(base) < 62:
        weights = base ** np.arange(varying.shape[1] - 1, -1, -1, dtype=np.int64)
        codes = (varying + 1) @ weights  # the order of the codes is that of the rows
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        return table[first], inverse
    order = np.lexsort(varying.T[::-1])
    ranked = varying[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return table[order[new]], inverse
