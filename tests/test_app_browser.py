"""The dashboard end to end, in a real headless Chromium.

Starts ``multivector app`` on a free port of 127.0.0.1, loads the page in Debian's
``chromium`` driven by Playwright (never ``playwright install``: nothing is downloaded)
and walks every path of ``docs/LESSON_PLAN.md``: the 45-minute lesson at 1366x768 (seed
7, the run, *Why did it move?* for Azerbaijan at the quarters the plan names, playing
Azerbaijan, *With and without* for TAP and the Ukraine war, the Guide) and the 20-minute
version at 800x600 (switch to ``teaching.yaml``, change a slider, Reset), and a phone in
portrait. On the way it checks what a classroom needs: no horizontal scrolling, named
buttons, keyboard operation with a visible focus, chart text of 12 px and more, notices
with WCAG AA contrast, Guide links that stay in the page; it prints how long Step and
Reset take (``step_ms_median=``, ``reset_ms_median=``) and saves screenshots into
``test-artifacts/``. Every page must ask nothing of any host but 127.0.0.1, and the
server must fetch nothing from the internet for it. A soak (marked ``slow``, run in CI)
keeps six busy pages open a minute and more: none loses its websocket.

Without a Chromium the test is skipped, unless ``MULTIVECTOR_REQUIRE_BROWSER=1`` (CI sets
it, after installing ``chromium``), where a missing browser fails it.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from headless import CHROMIUM_FLAGS, free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
LAPTOP, SMALL, PHONE = (1366, 768), (800, 600), (360, 640)
STEP = "Step (one quarter)"
#: WCAG AA: text against its background.
AA_CONTRAST = 4.5
#: Chart text large enough to read from the back of a classroom (at 1366x768).
SMALLEST_TEXT_PX = 12.0


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


@pytest.fixture(scope="module")
def browser(browser_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium_ = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
        yield chromium_
        chromium_.close()


# ---- what the page is checked for (JavaScript run in the page) -------------------------

#: What scrolls sideways: the page, or the dashboard inside it.
OVERFLOW_JS = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > innerWidth) out.push(`page ${doc.scrollWidth} > ${innerWidth}`);
  for (const el of document.querySelectorAll('.mv-page, .mv-main, .mv-settings')) {
    if (el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.className} ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return out;
}"""

#: Buttons (and elements acting as buttons) with no accessible name.
UNNAMED_JS = """() => Array.from(document.querySelectorAll('button, [role=button], [role=tab]'))
  .filter(el => el.getClientRects().length)
  .filter(el => !(el.getAttribute('aria-label') || el.textContent || '').trim())
  .map(el => el.outerHTML.slice(0, 120))"""

#: Text inside the charts rendered smaller than ``px`` (its font size times the scale).
SMALL_TEXT_JS = """(px) => Array.from(document.querySelectorAll('.mv-view svg text'))
  .filter(t => t.getBBox().width > 0)
  .map(t => {
    const m = t.getScreenCTM();
    return [t.textContent, parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b)];
  })
  .filter(([, size]) => size < px - 0.05)
  .map(([text, size]) => `${text}: ${size.toFixed(1)} px`)"""

#: Charts without a text alternative (role img and a title).
UNLABELLED_CHARTS_JS = """() => Array.from(document.querySelectorAll('.mv-view svg'))
  .filter(s => !s.parentElement.closest('svg'))
  .filter(s => s.getAttribute('role') !== 'img'
               || !(s.querySelector('title')?.textContent || '').trim())
  .map(s => s.outerHTML.slice(0, 120))"""

#: The lowest contrast of any text in the element against the element's background.
CONTRAST_JS = """(selector) => {
  const box = document.querySelector(selector);
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ground = lum(rgb(getComputedStyle(box).backgroundColor));
  let lowest = Infinity;
  for (const el of [box, ...box.querySelectorAll('*')]) {
    const text = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!text) continue;
    const ink = lum(rgb(getComputedStyle(el).color));
    lowest = Math.min(lowest, (Math.max(ink, ground) + 0.05) / (Math.min(ink, ground) + 0.05));
  }
  return lowest;
}"""

#: Click a button and wait until the status shows ``want`` and the view has changed (its
#: first chart, else its content): the time that takes, in ms, measured in the page.
TIMED_CLICK_JS = """async ([name, want]) => {
  const button = Array.from(document.querySelectorAll('button'))
    .find(b => b.textContent.trim() === name);
  const view = () => {
    const v = document.querySelector('.mv-view');
    const chart = v && v.querySelector('svg');
    return chart ? chart.outerHTML : (v ? v.innerHTML : '');
  };
  const status = () => document.querySelector('.mv-status').textContent;
  const before = view();
  const t0 = performance.now();
  button.click();
  await new Promise((resolve, reject) => {
    const done = () => status().includes(want) && view() !== before;
    const watch = new MutationObserver(() => {
      if (done()) { watch.disconnect(); resolve(); }
    });
    watch.observe(document.body, {subtree: true, childList: true, characterData: true,
                                  attributes: true});
    setTimeout(() => { watch.disconnect(); reject(new Error('no update: ' + status())); },
               60000);
  });
  return performance.now() - t0;
}"""


class Visit:
    """One browser tab on the dashboard at a given size: its page, every URL it asked
    for, and the checks every step of a lesson makes."""

    def __init__(self, browser, url: str, size: tuple[int, int]):
        from playwright.sync_api import expect

        self.expect = expect
        self.url = url
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.set_default_timeout(60_000)
        self.page.goto(url)
        self.status("quarter 0 of")

    def status(self, text: str) -> None:
        self.expect(self.page.locator(".mv-status", has_text=text)).to_be_visible()

    def button(self, name: str):
        return self.page.get_by_role("button", name=name, exact=True)

    def step_to(self, quarter: int, of: int) -> None:
        now = int(re.search(r"quarter (\d+) of", self.page.locator(".mv-status").inner_text())[1])
        for k in range(now + 1, quarter + 1):
            self.button(STEP).click()
            self.status(f"quarter {k} of {of}")

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name, exact=True).click()
        self.expect(self.page.locator(".mv-view, .mv-document").first).to_be_visible()

    def choose(self, label: str, option: str) -> None:
        """Pick ``option`` (the start of its text) in the select labelled ``label``."""
        field = self.page.locator(".v-select").filter(
            has=self.page.locator("label", has_text=re.compile("^" + re.escape(label)))
        )
        field.first.click()
        menu = self.page.locator(".menuable__content__active")
        menu.get_by_role("option", name=re.compile("^" + re.escape(option))).first.click()
        self.expect(menu).to_be_hidden()

    def row(self, partner: str) -> str:
        """The text of the view's table row of ``partner``, cells separated by tabs."""
        return self.page.locator(".mv-view tr", has_text=partner).first.inner_text()

    def fits(self, where: str) -> None:
        """No sideways scrolling, no error on the page."""
        # a tab's content slides in, a moment wider; on a loaded machine (a test suite on
        # the other core) that moment passed 5 s once: wait up to 15
        deadline = time.monotonic() + 15
        while (overflow := self.page.evaluate(OVERFLOW_JS)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert overflow == [], where
        self.expect(self.page.locator(".mv-error")).to_have_count(0)
        self.expect(self.page.get_by_text("Traceback")).to_have_count(0)

    def charts_readable(self, where: str) -> None:
        self.expect(self.page.locator(".mv-view svg").first).to_be_visible()
        assert self.page.evaluate(SMALL_TEXT_JS, SMALLEST_TEXT_PX) == [], where
        assert self.page.evaluate(UNLABELLED_CHARTS_JS) == [], where

    def timed_click(self, name: str, want: str) -> float:
        return self.page.evaluate(TIMED_CLICK_JS, [name, want])

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"dashboard_{name}.png", full_page=True)

    def close(self, log: Path) -> None:
        """Close the tab; it asked nothing of other hosts, the server logged no error."""
        self.page.close()
        outside = sorted(
            {u for u in self.requests if urlparse(u).hostname not in ("127.0.0.1", None)}
            - {u for u in self.requests if u.startswith(("data:", "blob:"))}
        )
        assert not outside, f"the page asked other hosts: {outside}"
        assert len(self.requests) > 10  # the page did load its assets (through 127.0.0.1)
        text = log.read_text()
        assert "Could not load URL" not in text, text  # the server fetched nothing for it
        assert "Traceback" not in text, text


# ---- the 45-minute lesson --------------------------------------------------------------


def test_lesson_45_minutes(browser, server):
    """docs/LESSON_PLAN.md phases 2-5 with seed 7 at 1366x768, and the Guide."""
    url, log = server
    visit = Visit(browser, url, LAPTOP)
    page = visit.page
    assert page.title().startswith("Multivector")
    assert page.evaluate("document.documentElement.lang") == "en"
    seed = page.get_by_role("slider", name="Seed: which of the possible histories")
    assert seed.get_attribute("aria-valuenow") == "7"
    visit.fits("start")

    # 2. Run the baseline and mark the shocks: step to the quarter after the invasion.
    visit.step_to(19, 52)
    visit.charts_readable("World, 2022-09-30")
    visit.screenshot("world")

    # 3. Why did it move? Azerbaijan at the three quarters the plan names, with the odds
    # the plan quotes for seed 7 (down / stay / up): the screen must say what the plan says.
    visit.tab("Why did it move?")
    visit.expect(page.get_by_text("quarter ending 2022-09-30").first).to_be_visible()
    assert re.search(r"\b4%\s+50%\s+46%", visit.row("European Union")), visit.row("European Union")
    assert "2%" in visit.row("United States")  # up, with 2 chances in 100
    visit.screenshot("why")
    visit.step_to(21, 52)
    visit.expect(page.get_by_text("quarter ending 2023-03-31").first).to_be_visible()
    assert re.search(r"\b45%\s+50%\s+5%", visit.row("Iran")), visit.row("Iran")
    visit.step_to(26, 52)
    visit.expect(page.get_by_text("quarter ending 2024-06-30").first).to_be_visible()
    assert "81%" in visit.row("European Union")
    visit.fits("Why")

    # 4. Play Azerbaijan: a few moves, then the score against the agent.
    visit.tab("Play")
    visit.button("Play Azerbaijan (restarts the run)").click()
    visit.status("quarter 0 of 52")
    visit.expect(page.get_by_text("Your move as Azerbaijan")).to_be_visible()
    for quarter in (1, 2, 3):
        page.get_by_role("radiogroup", name="Your move on the tie to European Union").get_by_text(
            re.compile("^up")
        ).click()
        visit.button("Make my moves (one quarter)").click()
        visit.status(f"quarter {quarter} of 52")
    visit.expect(page.locator(".mv-status", has_text="You play Azerbaijan")).to_be_visible()
    visit.charts_readable("Play")
    visit.fits("Play")
    visit.screenshot("play")

    # 5. With and without: TAP, then the Ukraine war, after a run to the end.
    visit.button("Run to end").click()
    visit.status("quarter 52 of 52")
    visit.tab("With and without")
    for shock in ("Gas flows to Europe through TAP", "Russia invades Ukraine"):
        visit.choose("Shock", shock)
        visit.expect(
            page.locator(".mv-view svg title", has_text=re.compile("TAP|Ukraine")).first
        ).to_be_attached()
        visit.charts_readable(f"With and without: {shock}")
        visit.fits("With and without")
    visit.screenshot("compare")

    guide_links_stay_in_the_page(visit)
    visit.close(log)


def guide_links_stay_in_the_page(visit: Visit) -> None:
    """The Guide: links between its documents switch the document or scroll, without
    leaving the page (Back would lose the run); other sites open in a new tab."""
    page = visit.page
    status = page.locator(".mv-status").inner_text()
    history = page.evaluate("history.length")
    visit.tab("Guide")
    visit.button("Lesson plan (45 minutes)").click()
    page.locator(".mv-document a", has_text="ODD.md").first.click()
    visit.expect(
        page.get_by_role("heading", name="Multivector: model description (ODD)")
    ).to_be_visible()
    page.locator(".mv-document a", has_text="References").first.click()
    visit.expect(page.locator("#mv-references")).to_be_focused()
    visit.button("Teacher's guide").click()
    page.locator(".mv-document a", has_text="How to use it").first.click()
    visit.expect(page.locator("#mv-how-to-use-it")).to_be_in_viewport()
    external = page.locator('.mv-document a[href^="http"]').first
    assert external.get_attribute("target") == "_blank"
    assert "noopener" in external.get_attribute("rel")
    visit.button("Lesson plan (45 minutes)").click()
    visit.expect(
        page.locator(".mv-document .mv-file", has_text="scenarios/README.md")
    ).to_be_visible()
    assert page.url == visit.url and page.evaluate("history.length") == history
    visit.expect(page.get_by_text("Page not found")).to_have_count(0)
    assert page.locator(".mv-status").inner_text() == status  # the run is still there
    visit.fits("Guide")


# ---- the 20-minute lesson, on a small screen -------------------------------------------


def test_lesson_20_minutes_on_a_small_screen(browser, server):
    """The 20-minute version at 800x600: switch to teaching.yaml, change a slider, Reset
    (a traceback under Mesa's frame), run it, With and without for the base closing."""
    url, log = server
    visit = Visit(browser, url, SMALL)
    page = visit.page
    visit.fits("start")
    visit.button("Show settings").click()
    visit.choose("Scenario", "Teaching world")
    visit.status("quarter 0 of 24")
    visit.expect(page.locator(".mv-status", has_text="Teaching world")).to_be_visible()
    slider = page.get_by_role("slider", name="How much Smallland cares about energy")
    slider.focus()
    for _ in range(2):
        slider.press("ArrowRight")
    pending = page.locator(".mv-pending")
    visit.expect(pending).to_contain_text("how much Smallland cares about energy: 0.4 → 0.5")
    value = page.locator(".mv-setting", has_text="How much Smallland cares about energy")
    value = value.locator(".mv-setting-value")
    visit.expect(value).to_have_text("0.50")  # the value beside the slider, always shown
    visit.fits("a change pending")
    visit.button("Reset").click()
    visit.expect(pending).to_be_hidden()
    visit.expect(page.locator(".mv-status", has_text="Teaching world")).to_be_visible()
    visit.status("quarter 0 of 24")
    assert slider.get_attribute("aria-valuenow") == "0.5"
    visit.button("Hide settings").click()
    visit.step_to(3, 24)
    visit.fits("World")
    visit.button("Run to end").click()
    visit.expect(
        page.get_by_text("The run has reached 2025-12-31: press Reset to start again.")
    ).to_be_visible()
    visit.expect(visit.button(STEP)).to_be_disabled()
    visit.tab("With and without")
    visit.choose("Shock", "Eastland's base closes")
    visit.expect(page.locator(".mv-view svg").first).to_be_visible()
    visit.fits("With and without")
    visit.screenshot("small_compare")
    visit.button("Reset").click()
    visit.status("quarter 0 of 24")
    visit.expect(visit.button(STEP)).to_be_enabled()
    visit.close(log)


def test_phone_in_portrait(browser, server):
    """360x640: every tab and the settings fit the width; the controls work."""
    url, log = server
    visit = Visit(browser, url, PHONE)
    visit.step_to(2, 52)
    for tab in ("World", "Why did it move?", "With and without", "Play", "Guide"):
        visit.tab(tab)
        visit.fits(tab)
    visit.button("Show settings").click()
    visit.expect(visit.page.get_by_text("Seed: which of the possible histories")).to_be_visible()
    visit.fits("settings")
    visit.screenshot("phone")
    visit.close(log)


# ---- keyboard, names, contrast ---------------------------------------------------------


def test_keyboard_names_and_contrast(browser, server):
    url, log = server
    visit = Visit(browser, url, LAPTOP)
    page = visit.page
    assert page.evaluate(UNNAMED_JS) == []
    for name in (STEP, "Play", "Run to end", "Reset"):
        visit.expect(visit.button(name)).to_be_visible()

    # Tab to Step, Enter steps; the focus is visible.
    page.locator("h1").click()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == STEP:
            break
    visit.expect(visit.button(STEP)).to_be_focused()
    outline = page.evaluate("parseFloat(getComputedStyle(document.activeElement).outlineWidth)")
    assert outline >= 2
    page.keyboard.press("Enter")
    visit.status("quarter 1 of 52")
    page.keyboard.press("Space")
    visit.status("quarter 2 of 52")
    page.keyboard.press("Tab")  # Play, with the keyboard, and Pause
    visit.expect(visit.button("Play")).to_be_focused()
    page.keyboard.press("Enter")
    visit.expect(visit.button("Pause")).to_be_focused()
    visit.status("quarter 4 of 52")
    page.keyboard.press("Enter")
    visit.expect(visit.button("Play")).to_be_visible()
    stopped = visit.page.locator(".mv-status").inner_text()
    time.sleep(1.5)
    assert visit.page.locator(".mv-status").inner_text() == stopped
    visit.button("Reset").click()
    visit.status("quarter 0 of 52")
    visit.button(STEP).focus()
    for k in (1, 2):
        page.keyboard.press("Enter")
        visit.status(f"quarter {k} of 52")
    guide = page.get_by_role("tab", name="Guide")  # a tab, with the keyboard
    guide.focus()
    page.keyboard.press("Enter")
    visit.expect(page.locator(".mv-document")).to_be_visible()
    page.get_by_role("tab", name="World").focus()
    page.keyboard.press("Enter")
    visit.expect(page.locator(".mv-view svg").first).to_be_visible()

    # A change waiting for Reset: a notice that says what, readable.
    slider = page.get_by_role("slider", name="Seed: which of the possible histories")
    slider.focus()
    slider.press("ArrowRight")
    visit.expect(page.locator(".mv-pending")).to_contain_text("seed: 7 → 8")
    assert page.evaluate(CONTRAST_JS, ".mv-pending") >= AA_CONTRAST
    visit.button("Undo these changes").click()
    visit.expect(page.locator(".mv-pending")).to_be_hidden()

    # A model that does not build: a readable message, the run goes on.
    for w in ("energy", "security", "alignment"):
        page.get_by_role("slider", name=f"How much Azerbaijan cares about {w}").press("Home")
    visit.button("Reset").click()
    error = page.locator(".mv-error")
    visit.expect(error).to_contain_text("at least one of the importances must be above zero")
    assert page.evaluate(CONTRAST_JS, ".mv-error") >= AA_CONTRAST
    visit.status("quarter 2 of 52")
    visit.button("Undo these changes").click()
    visit.button("Run to end").click()
    visit.expect(page.locator(".mv-end")).to_contain_text("press Reset to start again")
    assert page.evaluate(CONTRAST_JS, ".mv-end") >= AA_CONTRAST
    visit.close(log)


# ---- speed -----------------------------------------------------------------------------


def test_step_and_reset_speed(browser, server):
    """Step (click to the new quarter shown and the chart redrawn) and Reset, on the World
    tab at 1366x768: medians printed (goals: Step < 300 ms, Reset < 1 s)."""
    url, log = server
    visit = Visit(browser, url, LAPTOP)
    visit.expect(visit.page.locator(".mv-view svg").first).to_be_visible()
    steps = [visit.timed_click(STEP, f"quarter {k} of 52") for k in range(1, 21)]
    resets = []
    for _ in range(5):
        resets.append(visit.timed_click("Reset", "quarter 0 of 52"))
        visit.timed_click(STEP, "quarter 1 of 52")
    step_ms, reset_ms = statistics.median(steps), statistics.median(resets)
    print(f"step_ms_median={step_ms:.0f} (min {min(steps):.0f}, max {max(steps):.0f})")
    print(f"reset_ms_median={reset_ms:.0f} (min {min(resets):.0f}, max {max(resets):.0f})")
    assert step_ms < 3000 and reset_ms < 10_000  # sanity: 10x the goals
    visit.close(log)


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
def test_busy_sessions_keep_their_websocket(browser, server):
    """Six pages step at once (three clicks each, without waiting) and stay open over a
    minute: every page keeps its websocket (none closes), every click is applied, and Step
    still works. Meanwhile a websocket that answers no ping at all is not closed either.

    uvicorn's default keepalive (a pong due 20 s after each ping) closed such pages with
    1011 "keepalive ping timeout" when their messages waited longer than that for the
    server (8 pages with 4 clicks each on two cores), and it closes the silent websocket
    after 40 s on any machine: see ``WS_PING_TIMEOUT`` in ``sim/app/server.py``."""
    from playwright.sync_api import expect

    url, log = server
    closed: list[str] = []

    def watch(ws):
        if "/jupyter/api/kernels/" in ws.url:
            ws.on("close", lambda _: closed.append(f"{time.monotonic() - t0:.0f} s: {ws.url}"))

    t0 = time.monotonic()
    silent = silent_websocket(urlparse(url).port)
    pages = []
    try:
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
        assert not closed, f"websockets closed: {closed}"  # (closing the pages closes them)
    finally:
        for page in pages:
            page.close()
    how = websocket_closed(silent)
    silent.close()
    assert how is None, f"the server closed a websocket that did not answer its pings: {how}"
    assert "Traceback" not in log.read_text()
