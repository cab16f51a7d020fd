"""Records: tie snapshots turned into the tidy tables every output is built from.

Both drivers hand over the same things: the tie matrices at the recorded steps of R
replicates, the regime in force at each record, and the shock schedule. The Mesa model
is the case R = 1 (its tables drop the ``replicate`` column). So the ties, indices and
shocks tables of a Mesa run and of replicate k of an ensemble are built by the same code
from the same numbers.

Tables (one row per):
- ties: replicate, seed, step, date, state, partner -> ``tie`` in [-1, 1];
- indices: replicate, seed, step, date, state -> :data:`INDEX_COLUMNS`;
- shocks: every firing: replicate, seed, id, label, kind, period, date.

``seed`` is the int seed of the replicate, or -1 when it was given as a
``numpy.random.SeedSequence`` (or not at all).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from sim.drivers.engine import kernel_name
from sim.kernel import decision, indices
from sim.kernel.payoffs import COMPONENTS
from sim.scenario import period_start
from sim.world.compiled import World
from sim.world.schedule import ShockSchedule
from sim.world.sweep import Sweep

#: The columns of the indices table after the keys, in order.
INDEX_COLUMNS = ("alignment_index", "hedging_index", *COMPONENTS, "utility")


def _keys(world: World, steps: np.ndarray, replicates: np.ndarray, seeds: np.ndarray, per: int):
    """Key columns of R x S records with ``per`` rows each (replicate-major)."""
    r, s = len(replicates), len(steps)
    dates = pd.to_datetime(world.record_dates(steps))
    return {
        "replicate": np.repeat(replicates.astype(np.int64), s * per),
        "seed": np.repeat(seeds.astype(np.int64), s * per),
        "step": np.tile(np.repeat(np.asarray(steps).astype(np.int64), per), r),
        "date": np.tile(np.repeat(dates.values, per), r),
    }


def index_dtypes(world: World, steps: np.ndarray) -> dict[str, np.dtype]:
    """The dtype of each column of :func:`index_columns`, in order."""
    date = pd.to_datetime(world.record_dates(steps[:1])).values.dtype
    keys = {"replicate": np.int64, "seed": np.int64, "step": np.int64, "date": date}
    return {**keys, "state": state_codes(world.n), **dict.fromkeys(INDEX_COLUMNS, np.float64)}


def state_codes(n: int) -> type:
    """The integer type of the codes of ``n`` states: the one pandas keeps a categorical's
    codes in, so that :func:`frame` takes them as they are."""
    return np.int8 if n < 2**7 else np.int16 if n < 2**15 else np.int32


def ties_table(
    world: World, snaps: np.ndarray, steps: np.ndarray, replicates: np.ndarray, seeds: np.ndarray
) -> pd.DataFrame:
    """The ties table of ``snaps`` ``(R, S, N, N)`` recorded at ``steps`` ``(S,)``.

    ``replicates``, ``seeds``: ``(R,)`` the replicates' numbers and int seeds (-1: none).
    """
    return frame(ties_columns(world, snaps, steps, replicates, seeds), world.ids)


def ties_columns(
    world: World, snaps: np.ndarray, steps: np.ndarray, replicates: np.ndarray, seeds: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`ties_table`'s columns as arrays (``state`` and ``partner`` as codes)."""
    n = world.n
    ii, jj = np.nonzero(~np.eye(n, dtype=bool))
    r, s = snaps.shape[:2]
    out = _keys(world, steps, replicates, seeds, len(ii))
    out["state"] = np.tile(ii, r * s)
    out["partner"] = np.tile(jj, r * s)
    out["tie"] = snaps[:, :, ii, jj].ravel()
    return out


def frame(columns: dict[str, np.ndarray], ids) -> pd.DataFrame:
    """A table of :func:`ties_columns` or :func:`index_columns` (or of several chunks'
    columns put together): ``state`` and ``partner`` become categoricals of ``ids``; the
    arrays are not copied."""
    out = {
        k: pd.Categorical.from_codes(v, categories=ids) if k in ("state", "partner") else v
        for k, v in columns.items()
    }
    return pd.DataFrame(out, copy=False)


def index_columns(
    sweep: Sweep,
    snaps: np.ndarray,
    steps: np.ndarray,
    regimes: np.ndarray,
    regime_list,
    points: np.ndarray,
    replicates: np.ndarray,
    seeds: np.ndarray,
    block: int = 1 << 14,
    credibility: np.ndarray | None = None,
    out: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The indices table's columns as arrays (``state`` as codes; :func:`frame` makes the
    table): the indices and payoff components of every state at every record.

    Args:
        sweep: the worlds of the replicates' sweep points.
        snaps: ``(R, S, N, N)`` ties at ``steps`` ``(S,)``.
        regimes: ``(R, S)`` index into ``regime_list`` of the regime at each record (its
            parameters give the payoff components).
        points: ``(R,)`` each replicate's sweep point.
        replicates, seeds: ``(R,)`` as for :func:`ties_table`.
        block: records per call of the kernel (per record the arithmetic is the same
            whatever the block; small blocks stay in the CPU cache).
        credibility: ``(R, S, N, N)`` Model 2's credibility at the records (None for
            Model 1).
        out: arrays of ``R * S * N`` rows to fill, one per column of
            :func:`index_dtypes` (a slice of a larger table: filled where they are, with
            no copy in between); None: new arrays.
    """
    w = sweep.world
    n = w.n
    r, s = snaps.shape[:2]
    if out is None:
        out = {k: np.empty(r * s * n, dt) for k, dt in index_dtypes(w, steps).items()}
    dates = pd.to_datetime(w.record_dates(steps)).values
    out["replicate"].reshape(r, s * n)[:] = replicates[:, None]
    out["seed"].reshape(r, s * n)[:] = seeds[:, None]
    out["step"].reshape(r, s, n)[:] = np.asarray(steps)[:, None]
    out["date"].reshape(r, s, n)[:] = dates[:, None]
    out["state"].reshape(r * s, n)[:] = np.arange(n)
    values = [out[col].reshape(r * s, n) for col in INDEX_COLUMNS]
    flat = snaps.reshape(r * s, n, n)
    kernel = kernel_name()
    for lo in range(0, r * s, block):
        sel = slice(lo, lo + block)
        values[0][sel], values[1][sel] = state_indices(flat[sel], w, kernel)
    P, rows = sweep.in_force(regimes.ravel(), regime_list, np.repeat(points, s))
    trust = None if credibility is None else credibility.reshape(r * s, n, n)
    for lo in range(0, r * s, block):
        sel = slice(lo, lo + block)
        comp, util = decision.row_scores(
            flat[sel],
            P,
            w.delta,
            None if trust is None else trust[sel],
            rows=None if rows is None else rows[sel],
            kernel=kernel,
        )
        for c in range(comp.shape[-1]):
            values[2 + c][sel] = comp[..., c]
        values[6][sel] = util
    return out


def state_indices(T: np.ndarray, world: World, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """The alignment and hedging indices ``(B, N)`` of ties ``(B, N, N)``: compiled
    (:mod:`sim.kernel.compiled_indices`), or by the numpy reference when ``kernel`` is
    ``"numpy"``."""
    if kernel == "numpy":
        return (
            indices.alignment_index(T, world.toward, world.away),
            indices.hedging_index(T, world.base.groups),
        )
    from sim.kernel.compiled_indices import record_indices

    return record_indices(T, world.toward, world.away, world.base.groups)


def shocks_table(
    world: World,
    schedule: ShockSchedule,
    replicates: np.ndarray,
    seeds: np.ndarray,
    before: int | None = None,
) -> pd.DataFrame:
    """Every firing of the schedule (optionally only those before a period).

    A dated shock's date is its own; a probabilistic shock's, the first day of the period
    it fired in. Categories are fixed by the world, so the tables of several chunks
    concatenate without turning into objects.
    """
    spec = world.scenario.spec
    keep = slice(None) if before is None else schedule.fired_period < before
    rr = schedule.fired_replicate[keep]
    pp = schedule.fired_period[keep]
    kk = schedule.fired_shock[keep]
    specs = [spec.shocks[s.id] for s in world.shocks]
    ids = tuple(s.id for s in world.shocks)
    labels = tuple(dict.fromkeys(s.label for s in specs))
    dates = tuple(
        sorted(
            {s.date.isoformat() for s in specs if s.date}
            | {period_start(spec.time, p).isoformat() for p in range(world.n_periods)}
        )
    )
    # codes per shock, and the date's code of each distinct (shock, period), spread out
    label_code = np.array([labels.index(s.label) for s in specs], dtype=np.int64)
    kind_code = np.array([0 if s.date else 1 for s in specs], dtype=np.int64)
    at = {d: c for c, d in enumerate(dates)}
    key = kk * world.n_periods + pp
    pairs, which = np.unique(key, return_inverse=True)
    date_code = np.array(
        [
            at[(specs[k].date or period_start(spec.time, int(p))).isoformat()]
            for k, p in zip(pairs // world.n_periods, pairs % world.n_periods, strict=True)
        ],
        dtype=np.int64,
    )[which.ravel()]
    return pd.DataFrame(
        {
            "replicate": replicates[rr].astype(np.int64),
            "seed": seeds[rr].astype(np.int64),
            "id": pd.Categorical.from_codes(kk, dtype=_categories(ids)),
            "label": pd.Categorical.from_codes(label_code[kk], dtype=_categories(labels)),
            "kind": pd.Categorical.from_codes(kind_code[kk], dtype=_categories(_KINDS)),
            "period": pp.astype(np.int64),
            "date": pd.Categorical.from_codes(date_code, dtype=_categories(dates)),
        }
    )


_KINDS = ("dated", "probabilistic")


@functools.lru_cache(maxsize=256)
def _categories(values: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical type of ``values`` (made once: building one takes a millisecond)."""
    return pd.CategoricalDtype(list(values))


def shock_events(table: pd.DataFrame) -> list[dict]:
    """One run's firings as plain dicts (id, label, kind, period, date), in firing order."""
    cols = ["id", "label", "kind", "period", "date"]
    return [
        {"id": str(i), "label": str(lb), "kind": str(k), "period": int(p), "date": str(d)}
        for i, lb, k, p, d in table[cols].itertuples(index=False)
    ]
