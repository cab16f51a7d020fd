"""The alignment and hedging indices of :mod:`sim.kernel.indices`, compiled with numba.

The tables of both drivers compute the two indices of every state at every record
(:func:`sim.drivers.records.index_columns`); in numpy that is a dozen array calls a block
of records, about a tenth of an ensemble run's time. Here one loop over the records does
both. The numpy functions stay as the reference: the tests hold these equal to them to
1e-12, NaN where they are NaN (``tests/test_compiled.py``); ``MULTIVECTOR_KERNEL=numpy``
runs the reference instead. No ``fastmath`` (NaN must stay NaN).
"""

from __future__ import annotations

import numba
import numpy as np

from sim.kernel.compiled import _frozen, _readonly

_SIGNATURE = numba.types.void(
    _readonly(numba.float64, 3),  # T: (B, N, N)
    _readonly(numba.int64, 1),  # toward: pole members
    _readonly(numba.int64, 1),  # away
    _readonly(numba.float64, 2),  # groups: (N, G)
    _readonly(numba.int64, 1),  # group_of: (N,) each state's one group, or all -1
    numba.types.Array(numba.float64, 2, "C"),  # alignment (written): (B, N)
    numba.types.Array(numba.float64, 2, "C"),  # hedging (written): (B, N)
)


@numba.njit(_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def _record_indices(T, toward, away, groups, group_of, alignment, hedging):
    """Fill ``alignment`` and ``hedging`` ``(B, N)`` from the ties ``T`` ``(B, N, N)``,
    as :func:`~sim.kernel.indices.alignment_index` and
    :func:`~sim.kernel.indices.hedging_index` do (an empty pole: NaN everywhere).

    ``group_of``: where ``groups`` is one-hot (every world's autonomy groups are), each
    state's group, and a partner's tie is added to its group alone: the other groups'
    sums would only gain ``+0.0``, which leaves a sum of non-negative terms as it is, so
    the bits are those of the full loop over groups (a non-finite tie, which would make
    every group's sum NaN there, makes the index 0 here as there). Otherwise all -1:
    the full loop."""
    b_count, n = T.shape[0], T.shape[1]
    g_count = groups.shape[1]
    axis = toward.shape[0] > 0 and away.shape[0] > 0
    # per state: how many members of each pole are others, and its groups' normaliser
    count_toward = np.zeros(n)
    count_away = np.zeros(n)
    norm = np.ones(n)
    for i in range(n):
        for j in toward:
            count_toward[i] += j != i
        for j in away:
            count_away[i] += j != i
        held = 0
        for k in range(g_count):
            mass = 0.0
            for j in range(n):
                if j != i:
                    mass += groups[j, k]
            held += mass > 0.0
        if held > 1:
            norm[i] = 1.0 - 1.0 / held
    one_hot = n > 0 and group_of[0] >= 0
    weight = np.empty(g_count)
    for b in range(b_count):
        for i in range(n):
            if axis and count_toward[i] > 0 and count_away[i] > 0:
                total_toward = 0.0
                for j in toward:
                    if j != i:
                        total_toward += T[b, i, j]
                total_away = 0.0
                for j in away:
                    if j != i:
                        total_away += T[b, i, j]
                alignment[b, i] = total_toward / count_toward[i] - total_away / count_away[i]
            else:
                alignment[b, i] = np.nan
            for k in range(g_count):
                weight[k] = 0.0
            finite = True
            if one_hot:
                for j in range(n):
                    if j != i:
                        x = max(T[b, i, j], 0.0)
                        finite &= np.isfinite(x)
                        weight[group_of[j]] += x
            else:
                for j in range(n):
                    if j != i:
                        x = max(T[b, i, j], 0.0)
                        for k in range(g_count):
                            weight[k] += x * groups[j, k]
            total = 0.0
            for k in range(g_count):
                total += weight[k]
            if finite and total > 0.0:
                hhi = 0.0
                for k in range(g_count):
                    share = weight[k] / total
                    hhi += share * share
                hedging[b, i] = (1.0 - hhi) / norm[i]
            else:
                hedging[b, i] = 0.0


def record_indices(
    T: np.ndarray, toward: np.ndarray, away: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(alignment_index, hedging_index)`` of ties ``T`` ``(B, N, N)``, each ``(B, N)``:
    :func:`~sim.kernel.indices.alignment_index` and
    :func:`~sim.kernel.indices.hedging_index` to rounding."""
    T = _frozen(T, np.float64)
    groups = _frozen(groups, np.float64)
    out = np.empty((2, T.shape[0], T.shape[1]))
    _record_indices(
        T,
        _frozen(np.asarray(toward, dtype=np.int64).ravel(), np.int64),
        _frozen(np.asarray(away, dtype=np.int64).ravel(), np.int64),
        groups,
        _group_of(groups),
        out[0],
        out[1],
    )
    return out[0], out[1]


def _group_of(groups: np.ndarray) -> np.ndarray:
    """Each state's group if ``groups`` ``(N, G)`` is one-hot (one 1 and zeros in every
    row), else all -1 (:func:`_record_indices` then runs its full loop over groups)."""
    one_hot = bool(np.all((groups == 0.0) | (groups == 1.0)) and np.all(groups.sum(axis=1) == 1))
    of = np.argmax(groups, axis=1) if one_hot else np.full(groups.shape[0], -1)
    return _frozen(of, np.int64)
