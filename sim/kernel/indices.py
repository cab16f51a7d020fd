"""Derived measures of a tie matrix (pure numpy, any leading batch shape).

- pole positions (the alignment vector): a state's mean tie to the members of each pole
  (itself left out), in [-1, 1] per pole; the alignment index of docs/ODD.md 7.6 is the
  difference of two of them;
- alignment index: mean tie to the ``toward`` pole minus mean tie to the ``away`` pole
  (West minus Russia in the shipped worlds), in [-2, 2]: the position toward ``toward``
  minus the position toward ``away``;
- hedging index: how evenly a state spreads its positive ties over partner groups
  (poles grouped, every other partner on its own): one minus the Herfindahl index of the
  shares, normalised by its maximum so that 1 is perfectly even and 0 is all on one group.
"""

from __future__ import annotations

import numpy as np

#: A tie at or above this level is alliance-level cooperation (see docs/ODD.md, 7.6).
ALLIANCE_LEVEL = 0.6


def pole_positions(T: np.ndarray, members_by_pole) -> np.ndarray:
    """``(B..., N, P)``: each state's position toward each pole.

    Args:
        T: ``(B..., N, N)`` tie matrices (row i: i's ties).
        members_by_pole: ``P`` integer arrays, the row indices of each pole's members.

    The position of i toward pole p is the mean of ``T[i, j]`` over the members j of p
    other than i, in [-1, 1]; NaN where p has no member but i (i is the pole's only
    member) or no member at all.
    """
    n = T.shape[-1]
    off = ~np.eye(n, dtype=bool)
    out = np.empty((*T.shape[:-1], len(members_by_pole)))
    for p, members in enumerate(members_by_pole):
        cols = np.asarray(members, dtype=int)
        mask = off[:, cols]  # (N, len(cols)): the members other than the row's state
        total = np.where(mask, T[..., cols], 0.0).sum(axis=-1)
        count = mask.sum(axis=-1)
        out[..., p] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def alignment_index(T: np.ndarray, toward: np.ndarray, away: np.ndarray) -> np.ndarray:
    """``(B..., N)``: mean of ``T[i, toward]`` minus mean of ``T[i, away]``.

    The one-axis case of :func:`pole_positions`: the position toward ``toward`` minus the
    position toward ``away``. A state's own entry is left out of either mean; NaN where
    the axis is undefined (no axis, or the state is the only member of either pole).
    """
    if len(toward) == 0 or len(away) == 0:
        return np.full(T.shape[:-1], np.nan)
    pos = pole_positions(T, [toward, away])
    return pos[..., 0] - pos[..., 1]


def hedging_index(T: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(B..., N)``: evenness of positive ties over partner groups, in [0, 1].

    ``groups`` is the ``(N, G)`` one-hot membership used by the autonomy term. For state
    i, the weight of group g is the sum of i's positive ties to its members (i excluded);
    with shares ``s_g`` over the ``G_i`` groups that hold at least one partner, the index
    is ``(1 - sum s_g^2) / (1 - 1 / G_i)``; 0 when i has no positive tie.
    """
    n = T.shape[-1]
    off = ~np.eye(n, dtype=bool)
    pos = np.where(off, np.maximum(T, 0.0), 0.0)
    g = pos @ groups  # (B..., N, G)
    total = g.sum(axis=-1, keepdims=True)
    shares = g / np.where(total > 0, total, 1.0)
    hhi = np.einsum("...j,...j->...", shares, shares)
    n_groups = ((off.astype(float) @ groups) > 0).sum(axis=-1)  # (N,) groups with a partner
    norm = np.where(n_groups > 1, 1.0 - 1.0 / np.maximum(n_groups, 1), 1.0)
    h = (1.0 - hhi) / norm
    return np.where(total[..., 0] > 0, h, 0.0)
