"""A shared classroom session end to end, in a real headless Chromium.

Starts the classroom server (``python -m sim.app.room_server``, what ``multivector
classroom`` runs) on a free port of 127.0.0.1 and plays a lesson in Debian's
``chromium`` driven by Playwright (never ``playwright install``): the teacher's console
at 1366x768 and three students, one at 1024x768, one at 800x600 and one on a phone in
portrait (360x640). Students join and pick states (the phone's group waits and is given
one), choose their moves with the keyboard and the mouse, the teacher advances twice, a
student reloads and gets its state back, the teacher fires a shock and ends with the
debrief. Along the way: every button has a visible name, Tab reaches the moves, text
meets WCAG AA contrast and is at least 16 px in the body, nothing needs sideways
scrolling, and no page asks anything of a host but 127.0.0.1. Screenshots go to
``test-artifacts/classroom-teacher.png`` and ``test-artifacts/classroom-student.png`` (and
the projector, the phone and the debrief beside them).

Without a Chromium the test is skipped, unless ``MULTIVECTOR_REQUIRE_BROWSER=1`` (CI),
where a missing browser fails it.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from headless import CHROMIUM_FLAGS, free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CODE = "CLASS"
#: (group, viewport, state it picks; None: waits for the teacher to give it one)
STUDENTS = [
    ("Blue", {"width": 1024, "height": 768}, "Azerbaijan"),
    ("Red", {"width": 800, "height": 600}, "Russia"),
    ("Green", {"width": 360, "height": 640}, None),
]

#: Problems a page shows, found in the page itself: buttons without a visible name, text
#: under 4.5:1 contrast against its background, a body under 16 px, sideways scrolling.
AUDIT = """() => {
  const problems = [];
  for (const b of document.querySelectorAll("button, a.button")) {
    if (b.offsetParent && !b.innerText.trim()) problems.push("a button with no visible name");
  }
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (node) => {
    for (; node && node.nodeType === 1; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || !node.offsetParent) continue;
    if (node.closest("svg") || node.closest(".visually-hidden")) continue;
    const style = getComputedStyle(node);
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(node))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const text = node.innerText.slice(0, 40);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} for "${text}"`);
  }
  const body = parseFloat(getComputedStyle(document.body).fontSize);
  if (body < 16) problems.push(`body text of ${body} px`);
  const wide = document.documentElement.scrollWidth;
  if (wide > window.innerWidth + 1) problems.push(`sideways scrolling: ${wide} px`);
  return [...new Set(problems)];
}"""


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """The classroom server on the baseline; yields the teacher's console address."""
    folder = tmp_path_factory.mktemp("classroom")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.app.room_server", "--port", str(port), "--code", CODE,
         "--log", str(folder / "room.jsonl")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=open(folder / "server.err", "w"), text=True,
    )  # fmt: skip
    console = None
    for line in proc.stdout:
        if found := re.search(r"(http://\S+/teacher\?key=\S+)", line):
            console = found.group(1)
            break
    if console is None:
        pytest.fail(f"the classroom did not start:\n{(folder / 'server.err').read_text()}")
    yield console, folder
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def audit(page, who: str) -> None:
    problems = page.evaluate(AUDIT)
    assert not problems, f"{who}: {problems}"


def join(page, url: str, name: str, state: str | None) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    page.get_by_label("Room code").fill(CODE.lower())
    page.get_by_label("Your group’s name").fill(name)
    page.get_by_role("button", name="Join the room").click()
    expect(page.get_by_role("heading", name="Choose your state")).to_be_visible()
    if state:
        page.get_by_role("button", name=f"Play {state}").click()
        expect(playing(page, state)).to_be_visible()


def playing(page, state: str):
    """The card's heading that names the group's state."""
    return page.get_by_role("heading", name=re.compile(f"you play {state}"))


def choose_with_keyboard(page) -> None:
    """Tab from the top of the card to the first move, pick "Up" with the arrow keys,
    and send: the moves work without a mouse."""
    page.get_by_label("What would the computer do?").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "radio":
            break
    else:
        raise AssertionError("Tab did not reach the move buttons")
    page.keyboard.press("ArrowRight")  # stay -> up
    assert page.evaluate("document.activeElement.value") == "up"
    page.get_by_role("button", name="Send our moves").click()


def choose_with_mouse(page, partner: str) -> None:
    page.get_by_role("group", name=re.compile(partner)).get_by_label("Down").check()
    page.get_by_role("button", name="Send our moves").click()


def test_a_shared_session_in_chromium(browser_path, classroom):
    from playwright.sync_api import expect, sync_playwright

    console, folder = classroom
    base = console.split("/teacher")[0] + "/"
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)

        def new_page(viewport, who):
            page = browser.new_context(viewport=viewport).new_page()
            page.set_default_timeout(60_000)
            page.on("request", lambda r: requests.append(r.url))
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.on("pageerror", lambda e: errors.append(f"{who}: {e}"))
            return page

        teacher = new_page({"width": 1366, "height": 768}, "teacher")
        teacher.goto(base + "teacher?key=wrong")
        expect(teacher.get_by_role("heading", name="Wrong or missing key")).to_be_visible()
        teacher.goto(console)
        expect(teacher.get_by_text(CODE, exact=True)).to_be_visible()
        advance = teacher.get_by_role("button", name=re.compile("Advance to next quarter"))

        students = []
        for name, viewport, state in STUDENTS:
            page = new_page(viewport, name)
            join(page, base, name, state)
            students.append(page)
        blue, red, green = students
        expect(green.get_by_text("or wait for the teacher")).to_be_visible()
        teacher.get_by_label("State for Green").select_option(label="Georgia")
        teacher.get_by_role("button", name="Give to Green").click()
        expect(playing(green, "Georgia")).to_be_visible()
        for page, who in zip(students, ("Blue", "Red", "Green"), strict=True):
            audit(page, who)

        times = []
        for quarter in (1, 2):
            choose_with_keyboard(blue)
            choose_with_mouse(red, "European Union")
            choose_with_mouse(green, "Russia")
            for page in students:
                expect(page.get_by_text("Your moves are sent.")).to_be_visible()
            expect(advance).to_have_text(re.compile("3 of 3 groups have chosen"))
            start = time.perf_counter()
            advance.click()
            for page in students:
                expect(page.get_by_text(f"After {quarter} of 52 quarters")).to_be_visible()
            times.append(time.perf_counter() - start)
        expect(blue.get_by_text("You moved your tie to")).to_be_visible()
        blue.screenshot(path=ARTIFACTS / "classroom-student.png")  # what the group sees
        audit(teacher, "teacher")
        teacher.screenshot(path=ARTIFACTS / "classroom-teacher.png", full_page=True)

        red.reload()  # the group's token is kept: the same state comes back
        expect(playing(red, "Russia")).to_be_visible()
        expect(red.get_by_text("After 2 of 52 quarters")).to_be_visible()

        projector = new_page({"width": 1366, "height": 768}, "projector")
        projector.goto(base + "projector?" + console.split("?")[1])
        expect(projector.get_by_role("img", name=re.compile("alignment index"))).to_be_visible()
        audit(projector, "projector")
        projector.screenshot(path=ARTIFACTS / "classroom-projector.png", full_page=True)
        green.screenshot(path=ARTIFACTS / "classroom-phone.png", full_page=True)

        ukraine = "Russia invades Ukraine; EU sanctions"
        teacher.get_by_role("button", name=f"Fire {ukraine}").click()
        expect(teacher.get_by_text("fired by the teacher")).to_be_visible()
        advance.click()
        expect(blue.get_by_text("Russia invades Ukraine")).to_be_visible()
        teacher.get_by_label("With and without").select_option(label=ukraine)
        teacher.get_by_role("button", name="End and debrief").click()
        debrief = teacher.get_by_role("heading", name="Points over the game")
        expect(debrief).to_be_visible(timeout=180_000)
        expect(teacher.get_by_text("Mean paired difference")).to_be_visible()
        expect(blue.get_by_text("The game is over")).to_be_visible()
        teacher.screenshot(path=ARTIFACTS / "classroom-debrief.png", full_page=True)
        browser.close()

    print(f"classroom_advance_s_median={statistics.median(times):.3f} (3 browsers, click to card)")
    outside = sorted({u for u in requests if urlparse(u).hostname not in ("127.0.0.1", None)})
    assert not outside, f"the pages asked other hosts: {outside}"
    assert any(u.startswith("ws://127.0.0.1") for u in requests)
    assert not errors, errors
    assert "Traceback" not in (folder / "server.err").read_text()
    for name in ("teacher", "student"):
        assert (ARTIFACTS / f"classroom-{name}.png").stat().st_size > 20_000
