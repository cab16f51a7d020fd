"""Text summaries printed after ``multivector run``: of one run, and of an ensemble.

Both are about the scenario's focus state (:func:`focus_state`) and open with the same
headline (:func:`_headline`): the scenario's name, then what ran, how long, how fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.drivers.run import RunResult
    from sim.outputs.ensemble_files import SavedEnsemble
    from sim.world.compiled import World


def focus_state(world: World) -> str:
    """The state the summaries and figures are about: the scenario's ``focus``, or its
    first state."""
    return world.scenario.spec.focus or world.ids[0]


def _headline(name: str, *details: str) -> str:
    """The first line of a summary: ``NAME  (DETAIL, DETAIL, ...)``."""
    return f"{name}  ({', '.join(details)})"


def run_summary(result: RunResult) -> str:
    """A short text summary of a run: the focus state's ties and indices at key dates."""
    w = result.world
    focus = focus_state(w)
    last = int(result.ties["step"].max())
    steps = sorted({0, last // 2, last})
    lines = [
        _headline(
            result.scenario.name,
            f"seed {result.seed}",
            f"{last} periods",
            f"{result.wall_time * 1000:.0f} ms",
        )
    ]
    t = result.ties[result.ties["state"] == focus]
    header = f"  {focus} ties     " + "".join(f"{str(w.date(s)):>12}" for s in steps)
    lines.append(header)
    for partner in w.ids:
        if partner == focus:
            continue
        row = t[t["partner"] == partner].set_index("step")["tie"]
        lines.append(
            f"    {partner:<12}" + "".join(f"{round(row[s], 10) + 0.0:>12.2f}" for s in steps)
        )
    ix = result.indices[result.indices["state"] == focus].set_index("step")
    for col in ("alignment_index", "hedging_index"):
        lines.append(
            f"  {col:<14}" + "".join(f"{round(ix[col][s], 10) + 0.0:>12.2f}" for s in steps)
        )
    if len(result.shocks):
        fired = result.shocks[["date", "label"]].itertuples(index=False)
        lines.append("  shocks: " + "; ".join(f"{d} {label}" for d, label in fired))
    return "\n".join(lines)


def ensemble_summary(saved: SavedEnsemble) -> str:
    """The focus state's alignment index at a few dates: median and 90% range."""
    w = saved.world
    focus = focus_state(w)
    i = w.index(focus)
    r = len(saved.seeds)
    steps = saved.steps
    picks = sorted({0, len(steps) // 2, len(steps) - 1})
    lines = [
        _headline(
            w.scenario.name,
            f"{r} replicates",
            f"{w.n_periods} periods",
            f"{saved.wall_time:.2f} s: {saved.wall_time / r * 1000:.2f} ms per run",
        ),
        f"  {focus} alignment index      median   [5%, 95%] over replicates",
    ]
    for k in picks:
        col = saved.alignment[:, k, i]
        lo, med, hi = np.nanquantile(col, [0.05, 0.5, 0.95])
        lines.append(f"    {str(w.date(int(steps[k]))):<22} {med:+7.2f}   [{lo:+.2f}, {hi:+.2f}]")
    prob = saved.shocks[saved.shocks["kind"] == "probabilistic"]
    for sid, g in prob.groupby("id", observed=True):
        lines.append(f"  {sid} fired in {g['replicate'].nunique() / r:.0%} of replicates")
    return "\n".join(lines)
