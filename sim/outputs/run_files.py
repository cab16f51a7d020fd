"""Writing one run's outputs (tables, figure, manifest) and its text summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from sim.outputs.files import atomic_dir

if TYPE_CHECKING:
    from sim.drivers.run import RunResult


def write_outputs(result: RunResult, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with atomic_dir(out) as tmp:
        result.ties.to_parquet(tmp / "ties.parquet", index=False)
        result.indices.to_parquet(tmp / "indices.parquet", index=False)
        fig = result.figure()
        fig.savefig(tmp / "alignment.png", dpi=120)
        plt.close(fig)
        (tmp / "manifest.json").write_text(json.dumps(result.manifest(), indent=2, default=str))
    return Path(out)


def summary(result: RunResult) -> str:
    """A short text summary of a run: the focus state's ties and indices at key dates."""
    w = result.world
    focus = w.scenario.spec.focus or w.ids[0]
    last = int(result.ties["step"].max())
    steps = sorted({0, last // 2, last})
    lines = [
        f"{result.scenario.name}  (seed {result.seed}, {last} periods, "
        f"{result.wall_time * 1000:.0f} ms)",
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
    if result.shocks:
        lines.append("  shocks: " + "; ".join(f"{s['date']} {s['label']}" for s in result.shocks))
    return "\n".join(lines)
