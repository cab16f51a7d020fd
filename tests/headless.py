"""Helpers of the browser tests: Debian's chromium, driven by Playwright.

Playwright from PyPI drives the ``chromium`` Debian installs (``executable_path``); never
``playwright install``, which downloads browsers. The ``browser_path`` fixture (in
conftest.py) skips without a Chromium, unless ``MULTIVECTOR_REQUIRE_BROWSER=1`` (CI),
where a missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    """The Chromium to drive: ``MULTIVECTOR_CHROMIUM``, else ``chromium`` on the PATH."""
    for name in (os.environ.get("MULTIVECTOR_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    return None


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
