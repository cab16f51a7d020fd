"""What every output records about how it was made: package versions and the git commit."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from sim.world.compiled import resolved_parameters

if TYPE_CHECKING:
    from sim.drivers.run import RunResult

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
    here = Path(__file__).resolve().parents[2]  # the repository root
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


def run_manifest(result: RunResult) -> dict:
    """The manifest of one run (:class:`~sim.drivers.run.RunResult`)."""
    return {
        "scenario": result.scenario.reference(),
        "seed": result.seed,
        "shocks_off": list(result.shocks_off),
        "shocks_fired": result.shocks,
        "resolved_parameters": resolved_parameters(result.world),
        "versions": versions(),
        "wall_time_s": round(result.wall_time, 4),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
    }
