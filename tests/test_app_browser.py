"""The dashboard end to end, in a real headless Chromium.

Starts ``multivector app`` on a free port of 127.0.0.1, loads the page in Debian's
``chromium`` driven by Playwright (never ``playwright install``: nothing is downloaded),
moves a slider, resets, steps, opens the views, and saves screenshots into
``test-artifacts/``. It also checks that the page asked nothing of any host but
127.0.0.1 and that the server fetched nothing from the internet for it.

Without a Chromium the test is skipped, unless ``MULTIVECTOR_REQUIRE_BROWSER=1`` (CI sets
it, after installing ``chromium``), where a missing browser fails it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
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
    for name in (os.environ.get("MULTIVECTOR_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_path():
    path = chromium()
    if path is None:
        if os.environ.get("MULTIVECTOR_REQUIRE_BROWSER") == "1":
            pytest.fail("MULTIVECTOR_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim", "app", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"the app did not listen within 90 s:\n{log.read_text()}")
    yield f"http://127.0.0.1:{port}/", log
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_dashboard_in_chromium(browser_path, server):
    from playwright.sync_api import expect, sync_playwright

    url, log = server
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.set_default_timeout(60_000)
        page.goto(url)
        status = page.get_by_text("quarter 0 of 52")
        expect(status).to_be_visible()

        # Move a parameter: Azerbaijan's energy importance, with the keyboard.
        slider = page.get_by_role("slider").nth(3)  # play, render, seed, energy
        slider.focus()
        for _ in range(4):
            slider.press("ArrowRight")
        pending = page.get_by_text("take effect when you press Reset")
        expect(pending).to_be_visible()
        page.get_by_role("button", name="Reset").click()
        expect(pending).to_be_hidden()

        step = page.get_by_role("button", name="Step")
        for k in range(1, 13):
            step.click()
            expect(page.get_by_text(f"quarter {k} of 52")).to_be_visible()
        expect(page.get_by_text("Second Karabakh war").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "dashboard_world.png", full_page=True)

        page.get_by_role("tab", name="Why did it move?").click()
        expect(page.get_by_text("P(down)")).to_be_visible()
        expect(page.get_by_text("pushed up most").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "dashboard_why.png", full_page=True)

        page.get_by_role("tab", name="Play").click()
        page.get_by_role("button", name="Play Azerbaijan (restarts the run)").click()
        expect(page.get_by_text("Your move as Azerbaijan")).to_be_visible()
        page.get_by_role("button", name="up").first.click()
        page.get_by_role("button", name="Make my moves (one quarter)").click()
        expect(page.get_by_text("quarter 1 of 52")).to_be_visible()
        expect(page.get_by_text("the agent's, same world and seed")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "dashboard_play.png", full_page=True)

        page.get_by_role("tab", name="With and without").click()
        expect(page.get_by_text("same seed without the shock").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "dashboard_compare.png", full_page=True)
        browser.close()

    outside = sorted(
        {u for u in requests if urlparse(u).hostname not in ("127.0.0.1", None)}
        - {u for u in requests if u.startswith(("data:", "blob:"))}
    )
    assert not outside, f"the page asked other hosts: {outside}"
    assert len(requests) > 10  # the page did load its assets (through 127.0.0.1)
    text = log.read_text()
    assert "Could not load URL" not in text, text  # the server fetched nothing for it
    assert "Traceback" not in text, text
    for name in ("world", "why", "play", "compare"):
        assert (ARTIFACTS / f"dashboard_{name}.png").stat().st_size > 20_000
