"""The engine's memory settings (``sim.drivers.engine.reuse_freed_memory``): once an
ensemble has run, numpy no longer asks Linux for huge pages on its large arrays (the
faults of a fresh table would otherwise wait on the kernel's memory compaction), unless
the user set ``NUMPY_MADVISE_HUGEPAGE``, whose choice stands. Each case runs in a fresh
process: the setting is the process's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.drivers.engine import HUGEPAGE_ENV

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import numpy as np
from sim.drivers.ensemble import run_ensemble
from sim.scenario import load_scenario

get = np._core.multiarray._get_madvise_hugepage
before = get()
run_ensemble(load_scenario("scenarios/baseline.yaml"), 2)
print(before, get())
"""


def _advice(setting: str | None) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != HUGEPAGE_ENV}
    if setting is not None:
        env[HUGEPAGE_ENV] = setting
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.split()
    return before, after


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages: Linux only")
def test_an_ensemble_turns_numpys_huge_page_advice_off():
    before, after = _advice(None)
    assert after == "False"  # numpy's default is on from Linux 4.6 (before: off already)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages: Linux only")
@pytest.mark.parametrize("setting, advice", [("1", "True"), ("0", "False")])
def test_the_users_setting_stands(setting, advice):
    assert _advice(setting) == (advice, advice)
