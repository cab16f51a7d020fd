"""Running the command line in a subprocess, as a user would, for the bad-input tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m sim ARGS`` from the repository root."""
    env = {k: v for k, v in os.environ.items() if k != "MULTIVECTOR_DEBUG"}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
