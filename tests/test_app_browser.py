"""The dashboard end to end, in a real headless Chromium.

Starts ``multivector app`` on a free port of 127.0.0.1, loads the page in Debian's
``chromium`` driven by Playwright (never ``playwright install``: nothing is downloaded),
moves a slider, resets, steps, opens the views, and saves screenshots into
``test-artifacts/``. It also checks that the page asked nothing of any host but
127.0.0.1 and that the server fetched nothing from the internet for it. A soak (marked
``slow``, run in CI) keeps six busy pages open a minute and more: none loses its websocket.

Without a Chromium the test is skipped, unless ``MULTIVECTOR_REQUIRE_BROWSER=1`` (CI sets
it, after installing ``chromium``), where a missing browser fails it.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
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


#: The classroom soak: this many pages, each sending this many Step clicks at once, kept
#: open this many seconds after the last one loaded (the drop came 40-60 s after loading).
SESSIONS = 6
BURST = 3
HOLD = 60


def silent_websocket(port: int) -> socket.socket:
    """A kernel websocket that reads nothing, so it answers no ping: a page whose messages
    wait for the server, seen from the server."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    kernel, page, session = (uuid.uuid4() for _ in range(3))
    sock.sendall(
        (
            f"GET /jupyter/api/kernels/{kernel}/channels?session_id={page} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Cookie: solara-session-id={session}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: read nothing past the handshake
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def websocket_closed(sock: socket.socket) -> str | None:
    """Read what the server sent: how it closed the websocket, or None if it is open."""
    sock.settimeout(2)
    data = b""
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
        eof = True
    except TimeoutError:
        eof = False
    while len(data) >= 2:  # the server's frames: opcode, length, payload (never masked)
        opcode, size, start = data[0] & 0x0F, data[1] & 0x7F, 2
        if size >= 126:
            width = 2 if size == 126 else 8
            size, start = int.from_bytes(data[2 : 2 + width], "big"), 2 + width
        if opcode == 0x8:
            payload = data[start : start + size]
            return f"close frame {int.from_bytes(payload[:2], 'big')} {payload[2:].decode()!r}"
        data = data[start + size :]
    return "connection ended" if eof else None


@pytest.mark.slow
def test_busy_sessions_keep_their_websocket(browser_path, server):
    """Six pages step at once (three clicks each, without waiting) and stay open over a
    minute: every page keeps its websocket (none closes), every click is applied, and Step
    still works. Meanwhile a websocket that answers no ping at all is not closed either.

    uvicorn's default keepalive (a pong due 20 s after each ping) closed such pages with
    1011 "keepalive ping timeout" when their messages waited longer than that for the
    server (8 pages with 4 clicks each on two cores), and it closes the silent websocket
    after 40 s on any machine: see ``WS_PING_TIMEOUT`` in ``sim/app/server.py``."""
    from playwright.sync_api import expect, sync_playwright

    url, log = server
    closed: list[str] = []

    def watch(ws):
        if "/jupyter/api/kernels/" in ws.url:
            ws.on("close", lambda _: closed.append(f"{time.monotonic() - t0:.0f} s: {ws.url}"))

    t0 = time.monotonic()
    silent = silent_websocket(urlparse(url).port)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
        pages = []
        for _ in range(SESSIONS):
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(120_000)
            page.on("websocket", watch)
            page.goto(url)
            pages.append(page)
        for page in pages:
            expect(page.get_by_text("quarter 0 of 52")).to_be_visible(timeout=120_000)
        loaded = time.monotonic()
        for page in pages:
            for _ in range(BURST):
                page.get_by_role("button", name="Step").click()
        for page in pages:
            expect(page.get_by_text(f"quarter {BURST} of 52")).to_be_visible(timeout=180_000)
        time.sleep(max(0.0, loaded + HOLD - time.monotonic()))
        assert not closed, f"websockets closed: {closed}"
        for page in pages:
            page.get_by_role("button", name="Step").click()
        for page in pages:
            expect(page.get_by_text(f"quarter {BURST + 1} of 52")).to_be_visible(timeout=120_000)
        browser.close()
    assert not closed, f"websockets closed: {closed}"
    how = websocket_closed(silent)
    silent.close()
    assert how is None, f"the server closed a websocket that did not answer its pings: {how}"
    assert "Traceback" not in log.read_text()
