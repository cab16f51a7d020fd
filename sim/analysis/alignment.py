"""Alignment with any number of poles: each state's position toward each pole.

The alignment index (``docs/ODD.md`` 7.6) is one axis, one pole against one pole. A
world with more poles (Mongolia between Russia, China and a West) needs the whole
**alignment vector**: a state's position toward pole p is the mean of its ties to p's
members, its own entry left out (:func:`sim.kernel.indices.pole_positions`). It is
undefined (NaN) for a pole's only member toward its own pole. The alignment index is the
special case ``position(toward) - position(away)``.

- :func:`alignment_table`: the positions of every state at every record of a ties table;
- :func:`pole_members`: the row indices of each pole's members;
- :func:`undefined_alignment`: which states have no alignment index, and why (the
  figures say so instead of drawing an empty line).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.kernel.indices import pole_positions

#: The columns of a ties table that are not keys of a record.
_TIE_COLUMNS = ("state", "partner", "tie")


def _scenario(scenario):
    """A :class:`~sim.scenario.Scenario`, also when given a compiled world."""
    return getattr(scenario, "scenario", scenario)


def pole_members(scenario) -> dict[str, np.ndarray]:
    """``{pole: row indices of its members}``, in the scenario's pole order."""
    sc = _scenario(scenario)
    ids = list(sc.state_ids)
    return {
        pole: np.array([ids.index(m) for m in members], dtype=int)
        for pole, members in sc.spec.poles.items()
    }


def alignment_table(ties: pd.DataFrame, scenario) -> pd.DataFrame:
    """Each state's position toward each pole at every record of ``ties``.

    Args:
        ties: a ties table (of a run, an ensemble or a batch): key columns (such as
            replicate, seed, run_id, step, date), then state, partner, tie.
        scenario: the scenario (or its compiled world) the ties come from.

    Returns:
        A tidy table: the ties table's key columns, ``state``, ``pole`` and
        ``position`` (the mean tie to the pole's members other than the state, in
        [-1, 1]; NaN for a pole's only member toward its own pole), one row per record,
        state and pole, in the order of the records, the states and the poles.
    """
    sc = _scenario(scenario)
    ids = list(sc.state_ids)
    members = pole_members(sc)
    poles = list(members)
    keys = [c for c in ties.columns if c not in _TIE_COLUMNS]
    n = len(ids)
    if keys:
        record = ties.groupby(keys, sort=False, observed=True, dropna=False).ngroup().to_numpy()
        records = ties[keys].drop_duplicates(ignore_index=True)
    else:
        record = np.zeros(len(ties), dtype=int)
        records = pd.DataFrame(index=range(1 if len(ties) else 0))
    i = pd.Categorical(ties["state"].astype(str), categories=ids).codes
    j = pd.Categorical(ties["partner"].astype(str), categories=ids).codes
    T = np.full((len(records), n, n), np.nan)
    T[:, np.arange(n), np.arange(n)] = 0.0
    T[record, i, j] = ties["tie"].to_numpy(dtype=float)
    pos = pole_positions(T, list(members.values()))  # (records, N, P)
    out = records.loc[records.index.repeat(n * len(poles))].reset_index(drop=True)
    r = len(records)
    out["state"] = pd.Categorical.from_codes(
        np.tile(np.repeat(np.arange(n), len(poles)), r), categories=ids
    )
    out["pole"] = pd.Categorical.from_codes(np.tile(np.arange(len(poles)), r * n), categories=poles)
    out["position"] = pos.reshape(-1)
    return out


def undefined_alignment(scenario) -> dict[str, str]:
    """``{state id: why its alignment index is undefined}`` for every such state.

    Without an ``alignment_axis`` every state's index is undefined; with one, the only
    member of the ``toward`` or the ``away`` pole has no mean tie to that pole.
    """
    sc = _scenario(scenario)
    spec = sc.spec
    axis = spec.alignment_axis
    if axis is None:
        return dict.fromkeys(sc.state_ids, "no alignment axis in this scenario")
    out = {}
    for pole in (axis.toward, axis.away):
        members = spec.poles[pole]
        if len(members) == 1:
            out[members[0]] = f"the only member of its pole ({pole})"
    return out


def undefined_note(reasons: dict[str, str], shown) -> str:
    """A figure's note on the states in ``shown`` whose index is undefined, one a line:
    ``"no alignment index:\\nRU: the only member of its pole (Russia)"``; "" if none."""
    lines = [f"{sid}: {reasons[sid]}" for sid in shown if sid in reasons]
    return "no alignment index:\n" + "\n".join(lines) if lines else ""
