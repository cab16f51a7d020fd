"""Shared fixtures.

``data_folder``: the observed data folder (``docs/DATA.md``), from ``MULTIVECTOR_DATA``
or ``../shared/validation`` beside the repository. Tests that use it skip, saying why,
when the folder is absent, unless ``MULTIVECTOR_REQUIRE_DATA=1`` (CI) makes that a
failure, so that they can never be skipped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from headless import chromium

_REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_folder() -> Path:
    """The observed data folder, or skip (fail under ``MULTIVECTOR_REQUIRE_DATA=1``)."""
    env = os.environ.get("MULTIVECTOR_DATA", "").strip()
    folder = Path(env).expanduser() if env else (_REPO / ".." / "shared" / "validation")
    if folder.is_dir():
        return folder.resolve()
    reason = (
        f"observed data folder not found: set MULTIVECTOR_DATA to the folder of public "
        f"series (looked at {folder}; see docs/DATA.md)"
    )
    if os.environ.get("MULTIVECTOR_REQUIRE_DATA") == "1":
        pytest.fail(reason + " [MULTIVECTOR_REQUIRE_DATA=1]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_path() -> str:
    """Debian's chromium for Playwright; skips without one, fails under
    ``MULTIVECTOR_REQUIRE_BROWSER=1`` (CI installs it and sets that)."""
    path = chromium()
    if path is None:
        if os.environ.get("MULTIVECTOR_REQUIRE_BROWSER") == "1":
            pytest.fail("MULTIVECTOR_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    return path
