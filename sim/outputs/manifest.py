"""What every output records about how it was made.

Each manifest is its own fields inside one common stamp (:func:`stamped`): the kind of
output (:mod:`sim.outputs.kinds`) and the scenario first; package versions, git commit,
wall time, creation time and the command last.
:func:`run_manifest` and :func:`ensemble_manifest` build the manifests of a run and of an
ensemble; the batch store builds its own (:func:`sim.batch.store.new_manifest`) on the
same stamp.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from sim.outputs.kinds import BATCH, BATCH_FORMAT, ENSEMBLE, RUN
from sim.world.compiled import resolved_parameters

if TYPE_CHECKING:
    import numpy as np

    from sim.drivers.ensemble import Seed
    from sim.drivers.run import RunResult
    from sim.scenario import Scenario

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
    """Python, the platform, this package and its dependencies (``None`` when not
    installed), and the git commit of the code."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("multivector", *_DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["git_commit"] = _git_commit()
    return out


def _git_commit() -> str | None:
    """The commit of the repository this code runs from, ending in ``+dirty`` when
    tracked files have changed since; ``None`` outside a git checkout."""
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


def utc_now() -> str:
    """The time now in UTC, ISO 8601 to the second: how manifests record times."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def stamped(
    fields: dict,
    *,
    kind: str | None = None,
    scenario: Scenario | None = None,
    wall_time_s: float | None = None,
) -> dict:
    """``fields`` inside the stamp every manifest carries.

    Args:
        fields: what is particular to the output.
        kind: the kind of output (:mod:`sim.outputs.kinds`: ``run``, ``ensemble``,
            ``batch``, ``analysis``), recorded first; a batch store's manifest (its
            ``format`` says so) is stamped ``batch`` without being told.
        scenario: the scenario it ran; recorded after the kind, as ``scenario`` (its
            reference: name, path, content hash).
        wall_time_s: the seconds it took (rounded as it should be shown).

    Returns:
        ``kind``, ``scenario``, then ``fields``, then ``versions``, ``wall_time_s``,
        ``created`` and ``command`` (``kind``, ``scenario`` and ``wall_time_s`` only
        when given or known).
    """
    if kind is None and str(fields.get("format", "")).startswith(BATCH_FORMAT):
        kind = BATCH
    manifest = {} if kind is None else {"kind": kind}
    if scenario is not None:
        manifest["scenario"] = scenario.reference()
    manifest.update(fields)
    manifest["versions"] = versions()
    if wall_time_s is not None:
        manifest["wall_time_s"] = wall_time_s
    manifest["created"] = utc_now()
    manifest["command"] = sys.argv
    return manifest


def run_manifest(result: RunResult) -> dict:
    """The manifest of one run (:class:`~sim.drivers.run.RunResult`)."""
    return stamped(
        {
            "seed": result.seed,
            "shocks_off": list(result.shocks_off),
            "shocks_fired": result.shock_events(),
            "resolved_parameters": resolved_parameters(result.world),
        },
        kind=RUN,
        scenario=result.scenario,
        wall_time_s=round(result.wall_time, 4),
    )


def ensemble_manifest(
    scenario: Scenario,
    seeds: Sequence[Seed],
    steps: np.ndarray,
    *,
    keep: str,
    shocks_off: Sequence[str],
    wall_time: float,
) -> dict:
    """The manifest of an ensemble written by :func:`sim.outputs.ensemble_files.save_ensemble`.

    Args:
        scenario: the scenario.
        seeds: one seed per replicate.
        steps: the recorded steps.
        keep: the tables kept ("indices" or "ties").
        shocks_off: the shocks switched off.
        wall_time: the seconds it took.
    """
    return stamped(
        {
            "engine": (
                "ensemble (sim.drivers.ensemble); "
                "replicate k equals `multivector run --seed SEED_k`"
            ),
            "replicates": len(seeds),
            "seeds": _seed_record(seeds),
            "keep": keep,
            "steps_recorded": [int(x) for x in steps],
            "shocks_off": list(shocks_off),
        },
        kind=ENSEMBLE,
        scenario=scenario,
        wall_time_s=round(wall_time, 3),
    )


def _seed_record(seeds: Sequence[Seed]) -> dict | list[str]:
    """Consecutive int seeds as their first and last; any others one by one, as text."""
    int_seeds = [x for x in seeds if isinstance(x, int)]
    if int_seeds and int_seeds == list(range(int_seeds[0], int_seeds[0] + len(seeds))):
        return {"first": int_seeds[0], "last": int_seeds[-1]}
    return [str(x) for x in seeds]
