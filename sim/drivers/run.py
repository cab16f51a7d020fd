"""Running one scenario and writing its outputs.

``run(scenario, seed)`` builds a :class:`~sim.drivers.model.BalancingModel`, runs it over the
scenario's horizon and returns a :class:`RunResult` with tidy tables. ``save`` writes
``ties.parquet``, ``indices.parquet``, ``manifest.json`` and ``alignment.png`` into a
temporary directory beside the target and moves it into place only when all are written,
so an interrupted or failed run never leaves a half-written output directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from sim.errors import UserError
from sim.drivers.model import BalancingModel
from sim.scenario import Scenario, did_you_mean, load_scenario, period_start
from sim.world.compiled import World, resolved_parameters, world_for

_DEPENDENCIES = (
    "mesa",
    "numpy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "pydantic",
    "pyyaml",
    "networkx",
    "scipy",
)


@dataclass
class RunResult:
    """One run: its tables, the shocks that fired, and how to reproduce it."""

    scenario: Scenario
    world: World
    seed: int
    ties: pd.DataFrame
    indices: pd.DataFrame
    shocks: list[dict]
    wall_time: float
    shocks_off: tuple[str, ...] = ()
    model: BalancingModel | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls, model: BalancingModel, seed: int, shocks_off: tuple[str, ...] = (), wall_time=0.0
    ) -> RunResult:
        """The records of a model so far (run to the end or not) as a result."""
        world = model.world
        return cls(
            scenario=world.scenario,
            world=world,
            seed=seed,
            ties=model.ties_table(seed),
            indices=model.indices_table(seed),
            shocks=fired_shocks(world, model.timeline.log),
            wall_time=wall_time,
            shocks_off=shocks_off,
            model=model,
        )

    def figure(self):
        """The alignment figure (a matplotlib Figure)."""
        from sim.outputs.plots import alignment_figure

        return alignment_figure(self)

    def manifest(self) -> dict:
        return {
            "scenario": self.scenario.reference(),
            "seed": self.seed,
            "shocks_off": list(self.shocks_off),
            "shocks_fired": self.shocks,
            "resolved_parameters": resolved_parameters(self.world),
            "versions": versions(),
            "wall_time_s": round(self.wall_time, 4),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": sys.argv,
        }

    def save(self, out: str | Path) -> Path:
        """Write the outputs into ``out`` atomically; returns the directory."""
        return write_outputs(self, out)


def run(
    scenario: Scenario | str | Path,
    seed: int = 0,
    shocks_off: tuple[str, ...] | list[str] = (),
    steps: int | None = None,
) -> RunResult:
    """Run a scenario once.

    Args:
        scenario: a loaded :class:`Scenario` or a path to a scenario file.
        seed: the run's seed (an int >= 0).
        shocks_off: shock ids to switch off (they must exist in the scenario).
        steps: periods to run (default: the scenario's horizon).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    world = world_for(scenario)
    check_shock_ids(world, shocks_off)
    t0 = time.perf_counter()
    model = BalancingModel(
        world=world, rng=seed, shocks_off=tuple(shocks_off), agent_data=False
    ).run(steps)
    wall = time.perf_counter() - t0
    return RunResult.of(model, seed, tuple(shocks_off), wall)


def fired_shocks(world: World, log: list[tuple[int, str]]) -> list[dict]:
    """The shocks that fired in a run: id, label, period, and the event's date (a dated
    shock's own date; the first day of its period for a probabilistic one)."""
    specs = world.scenario.spec.shocks
    out = []
    for p, sid in log:
        when = specs[sid].date or period_start(world.scenario.spec.time, p)
        kind = "dated" if specs[sid].date else "probabilistic"
        out.append(
            {
                "id": sid,
                "label": specs[sid].label,
                "kind": kind,
                "period": p,
                "date": when.isoformat(),
            }
        )
    return out


def check_shock_ids(world: World, ids) -> None:
    known = [s.id for s in world.shocks]
    for sid in ids:
        if sid not in known:
            raise UserError(
                f"--shock-off: no shock {sid!r} in {world.scenario.path}"
                f"{did_you_mean(sid, known)}; "
                f"the shocks are: {', '.join(known) or '(none)'}"
            )


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("multivector", *_DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["git_commit"] = _git_commit()
    return out


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        res = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return res.stdout.strip() + ("+dirty" if dirty else "")


def check_out_dir(out: str | Path, what: str = "run") -> Path:
    """Validate an output directory argument before any work is done.

    ``out`` may be new, empty, or an earlier output (it holds a ``manifest.json``); the
    messages name ``what`` writes there ("run", "batch").
    """
    out = Path(out)
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(
            f"--out {out}: the parent directory {parent} does not exist; create it first"
        )
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise UserError(
            f"--out {out}: is the current directory or one of its parents; "
            f"name a new directory for the {what}"
        )
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise UserError(
            f"--out {out}: exists and is not the output of an earlier {what} "
            "(no manifest.json); refusing to write into it: name a new directory"
        )
    if not os.access(parent, os.W_OK):
        raise UserError(f"--out {out}: cannot write in {parent}")
    return out


@contextlib.contextmanager
def atomic_dir(out: str | Path):
    """Yield a temporary directory beside ``out``; on success it becomes ``out``.

    On any error (or an interrupt) the temporary directory is removed and ``out`` is left
    as it was, so no reader ever sees a half-written output.
    """
    out = check_out_dir(out)
    parent = out.resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; an output directory is not
    try:
        yield tmp
        if out.exists():
            old = parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
