"""The shared classroom world's server (``sim.app.room_server``) over real HTTP and
websockets: a room served by uvicorn in a thread of this process, pages played by
``websockets`` clients, and the command line's refusals in a subprocess.

What a class relies on: joining needs the room code and the teacher's pages the key; a
group that reconnects gets its state back; every bad message is answered with an error
and leaves the connection usable; an advance (by the teacher, by "everyone has chosen",
or by the timer) reaches every page; 30 students in one world all get the new quarter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ROOT / "scenarios" / "teaching.yaml"
WAIT = 30  # seconds any one message may take to come


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A room served on a free port of 127.0.0.1 from a thread of this process."""

    def __init__(self, room, replay: bool = False):
        from sim.app import room_server
        from sim.tools.cli_classroom import addresses

        self.room = room
        self.port = free_port()
        urls = addresses("127.0.0.1", self.port, room)
        self.server = room_server.server_for(room, "127.0.0.1", self.port, urls=urls, replay=replay)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def page(self) -> Page:
        return Page(f"ws://127.0.0.1:{self.port}/ws")

    def teacher(self, view: str = "teacher") -> Page:
        page = self.page()
        page.send(type="hello", view=view, key=self.room.teacher_key)
        page.expect("welcome")
        return page

    def student(self, name: str, state: str | None = None) -> Page:
        page = self.page()
        page.send(type="join", code=self.room.code, name=name)
        page.token = page.expect("welcome")["token"]
        if state:
            page.send(type="pick", state=state)
            page.expect("card", lambda m: m["state"] == state)
        return page


class Page:
    """A page's websocket, read message by message."""

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=2**22, legacy=True)
        self.token: str | None = None

    def send(self, **message) -> None:
        self.ws.send(json.dumps(message))

    def expect(self, kind: str, test=lambda m: True) -> dict:
        """The next message of type ``kind`` that passes ``test`` (others are skipped)."""
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            message = json.loads(self.ws.recv(timeout=left))
            if message["type"] == kind and test(message):
                return message
        raise AssertionError(f"no {kind!r} message within {WAIT} s")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def served(tmp_path):
    from sim.app.room import Room

    room = Room(TEACHING, seed=7, code="TEST7", log=tmp_path / "room.jsonl")
    with Served(room) as s:
        yield s


def get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


# ---- pages and keys ---------------------------------------------------------------


def test_pages_need_the_key_and_say_so(served):
    key = served.room.teacher_key
    status, body, headers = get(served.url("/"))
    assert status == 200 and 'lang="en"' in body and "Room code" in body
    assert "default-src 'self'" in headers["content-security-policy"]
    for path in ("/teacher", "/teacher?key=wrong", "/projector?key=", "/log?key=%C3%A9"):
        status, body, _ = get(served.url(path))
        assert status == 403, path
        assert "Wrong or missing key" in body and "Traceback" not in body
    for path in (f"/teacher?key={key}", f"/projector?key={key}"):
        assert get(served.url(path))[0] == 200
    status, body, headers = get(served.url(f"/log?key={key}"))
    assert status == 200 and "attachment" in headers["content-disposition"]
    assert json.loads(body.splitlines()[0])["event"] == "created"
    assert get(served.url("/static/../room.py"))[0] == 404


def test_static_files_name_no_other_host():
    """Everything the pages load comes from the room's own server (offline)."""
    from sim.app.room_server import STATIC

    files = sorted(STATIC.iterdir())
    assert {f.suffix for f in files} == {".html", ".css", ".js"}
    for f in files:
        text = f.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f


# ---- joining ------------------------------------------------------------------------


def test_a_wrong_code_is_refused_and_the_page_can_try_again(served):
    page = served.page()
    for code in ("WRONG", "ÇODE"):
        page.send(type="join", code=code, name="Blue")
        assert "wrong room code" in page.expect("error")["message"]
    assert not served.room.groups
    page.send(type="join", code=served.room.code.lower(), name="Blue")  # any case
    assert page.expect("welcome")["name"] == "Blue"
    room = page.expect("room")
    assert [s["id"] for s in room["free_states"]] == ["SM", "EA", "WE"]


def test_a_group_that_reconnects_gets_its_state_back(served):
    first = served.student("Blue", "EA")
    token = first.token
    first.close()
    again = served.page()
    again.send(type="rejoin", code=served.room.code, token=token)
    assert again.expect("welcome")["name"] == "Blue"
    card = again.expect("card")
    assert card["state"] == "EA" and card["group"]["connected"]
    assert len(served.room.groups) == 1
    stranger = served.page()
    stranger.send(type="rejoin", code=served.room.code, token="not-a-token")
    assert "join again" in stranger.expect("error")["message"]


def test_a_closed_page_shows_its_group_disconnected(served):
    page = served.student("Blue", "SM")
    teacher = served.teacher()
    teacher.expect("status", lambda m: m["groups"][0]["connected"])
    page.close()
    teacher.expect("status", lambda m: not m["groups"][0]["connected"])


# ---- the teacher's key and bad messages -------------------------------------------------


def test_teacher_actions_need_the_key(served):
    page = served.page()
    for guess in ("guess", "clé"):
        page.send(type="hello", view="teacher", key=guess)
        assert "wrong teacher key" in page.expect("error")["message"]
    page.send(type="advance")
    assert "not possible from this page" in page.expect("error")["message"]
    student = served.student("Blue", "SM")
    student.send(type="advance")
    assert "not possible from this page" in student.expect("error")["message"]
    projector = served.teacher("projector")
    projector.send(type="fire", shock="pipeline")
    assert "not possible from this page" in projector.expect("error")["message"]
    assert served.room.model.period == 0


BAD = [
    ("not json", "not a JSON message"),
    ("[1, 2]", "expected a JSON object"),
    ('{"type": "dance"}', "unknown message type"),
    ('{"type": "choose"}', "missing fields ['moves']"),
    ('{"type": "choose", "moves": {"EA": "up"}, "extra": 1}', "unexpected fields ['extra']"),
    ('{"type": "choose", "moves": {"EA": "sideways"}}', "expected one of down, stay, up"),
    ('{"type": "choose", "moves": []}', "expected an object of partner: move"),
    ('{"type": "choose", "moves": {"XX": "up"}}', "no partner 'XX'"),
    ('{"type": "pick", "state": 5}', "state: expected text"),
    ('{"type": "pick", "state": "a\\u0000b"}', "control characters"),
    ('{"type": "pick", "state": "SM"}', "plays a state already"),
    ("{" * 5000, "not a JSON message"),
    ('{"type": "choose", "moves": "' + "x" * 9000 + '"}', "8192 bytes at most"),
]


def test_bad_messages_get_an_error_and_the_page_stays_usable(served):
    page = served.student("Blue", "SM")
    for text, said in BAD:
        page.ws.send(text)
        assert said in page.expect("error")["message"], text
    page.ws.send(b"\x00\x01binary")
    assert "JSON text" in page.expect("error")["message"]
    page.send(type="choose", moves={"EA": "up"})
    assert page.expect("card", lambda m: m["chosen"])["picked"] == {"EA": "up"}


def test_a_refused_action_says_why(served):
    page = served.student("Blue", "SM")
    other = served.page()
    other.send(type="join", code=served.room.code, name="blue")
    assert "is taken" in other.expect("error")["message"]
    other.send(type="join", code=served.room.code, name="Red")
    other.expect("welcome")
    other.send(type="pick", state="SM")
    assert "'SM' is taken" in other.expect("error")["message"]
    page.close()


# ---- advancing reaches every page ----------------------------------------------------


def test_an_advance_reaches_every_page(served):
    students = [served.student(n, s) for n, s in (("A", "SM"), ("B", "EA"), ("C", "WE"))]
    teacher, projector = served.teacher(), served.teacher("projector")
    for page in students:
        page.send(type="choose", moves={})
    teacher.expect("status", lambda m: m["chosen"] == 3)
    teacher.send(type="advance")
    for page in [*students, served.student("Late")]:
        page.expect("room", lambda m: m["quarter"] == 1)
    for page in students:
        assert page.expect("card", lambda m: m["quarter"] == 1)["last_quarter"]
    shown = projector.expect("projector", lambda m: m["quarter"] == 1)
    assert "<svg" in shown["chart"] and "<title" in shown["chart"] and "<table" in shown["table"]
    teacher.expect("projector", lambda m: m["quarter"] == 1)

    teacher.send(type="auto", on=True)  # advance when everyone has chosen
    teacher.expect("status", lambda m: m["auto"])
    for page in students:
        page.send(type="choose", moves={})
    for page in students:
        page.expect("card", lambda m: m["quarter"] == 2)
    assert served.room.model.period == 2


def test_the_projector_is_drawn_once_per_version(served):
    calls = []
    projector = served.room.projector
    served.room.projector = lambda: calls.append(served.room.version) or projector()
    pages = [served.teacher(), served.teacher(), served.teacher("projector")]
    student = served.student("A", "SM")
    student.send(type="choose", moves={})
    pages[0].send(type="advance")
    for page in pages:
        page.expect("projector", lambda m: m["quarter"] == 1)
    assert calls and len(calls) == len(set(calls)), calls


def test_the_timer_advances_the_quarter(tmp_path):
    from sim.app.room import Room

    now = [1000.0]
    room = Room(TEACHING, code="TIME1", clock=lambda: now[0])
    with Served(room) as served:
        teacher = served.teacher()
        student = served.student("A", "SM")
        teacher.send(type="timer", seconds=30)
        assert teacher.expect("status", lambda m: m["timer"] == 30)["seconds_left"] == 30
        now[0] += 31
        student.expect("card", lambda m: m["quarter"] == 1)
        teacher.send(type="timer", seconds=None)
        teacher.expect("status", lambda m: m["timer"] is None)


def test_end_and_debrief(served):
    student = served.student("A", "SM")
    teacher = served.teacher()
    teacher.send(type="debrief", shock=None)
    assert "play a quarter first" in teacher.expect("error")["message"]
    teacher.send(type="fire", shock="base_closes")
    teacher.expect("status", lambda m: any(k["status"] == "fired by the teacher"
                                           for k in m["shocks"]))  # fmt: skip
    teacher.send(type="advance")
    student.expect("card", lambda m: m["quarter"] == 1)
    teacher.send(type="debrief", shock="base_closes")
    debrief = teacher.expect("debrief")
    assert [t["group"] for t in debrief["totals"]] == ["A"]
    assert len(debrief["paths"]) == 1 and "<svg" in debrief["paths"][0]["chart"]
    assert "mean paired difference" in debrief["compare"]["summary"].lower()
    card = student.expect("card", lambda m: m["finished"])
    total = debrief["totals"][0]
    assert "over the 1 quarter you played" in card["summary"][0]
    assert f"{total['points']:+.1f} points" in card["summary"][0]
    assert f"{total['agent_points']:+.1f} points" in card["summary"][0]
    student.send(type="choose", moves={})
    assert "ended the game" in student.expect("error")["message"]


def test_the_teacher_removes_a_group(served):
    student = served.student("A", "SM")
    teacher = served.teacher()
    group = teacher.expect("status", lambda m: m["groups"])["groups"][0]
    teacher.send(type="remove", group=group["id"])
    assert "removed" in student.expect("removed")["message"]
    teacher.expect("status", lambda m: not m["groups"])
    assert served.room.free_states() == ["SM", "EA", "WE"]


def test_a_replay_is_read_only(tmp_path):
    from sim.app.room import Room

    log = tmp_path / "room.jsonl"
    room = Room(TEACHING, code="REPL1", log=log)
    group = room.join("A", state="SM")
    room.choose(group.token, {"EA": "up"})
    room.advance()
    with Served(Room.replay(log), replay=True) as served:
        teacher = served.teacher()
        assert teacher.expect("status")["quarter"] == 1
        teacher.send(type="advance")
        assert "replay" in teacher.expect("error")["message"]
        page = served.page()
        page.send(type="rejoin", code="REPL1", token=group.token)
        assert "joining is closed" in page.expect("error")["message"]
        teacher.send(type="debrief", shock=None)
        assert teacher.expect("debrief")["totals"][0]["group"] == "A"


# ---- a class of 30 ---------------------------------------------------------------------


def test_thirty_students_in_one_world_all_get_the_new_quarter(tmp_path):
    """30 websocket clients in 9 groups (the baseline's states), as the load test plays
    them: each waits for every quarter's card (a client left behind fails the run)."""
    from sim.app.classroom import DEFAULT_SCENARIO
    from sim.app.room import Room
    from sim.tools.bench_classroom import simulate_class

    room = Room(DEFAULT_SCENARIO, code="CLASS")
    with Served(room) as served:
        url = f"ws://127.0.0.1:{served.port}/ws"
        run = asyncio.run(simulate_class(url, room.teacher_key, "CLASS", 30, 2, lambda _: None))
    assert (run.students, run.groups, len(run.advance_s)) == (30, 9, 2)
    assert room.model.period == 2
    assert sorted(g.state for g in room.groups.values()) == sorted(room.world.ids)
    print(f"advance_s_max={max(run.advance_s):.3f} (30 students, in-process server)")


# ---- the command line ------------------------------------------------------------------


def classroom(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.app.room_server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_cli_refuses_a_bad_scenario(tmp_path):
    assert "nope.yaml" in refused(classroom(str(tmp_path / "nope.yaml")))
    bad = tmp_path / "bad.yaml"
    bad.write_text("states: [")
    assert "bad.yaml" in refused(classroom(str(bad), "--log", str(tmp_path / "x.jsonl")))


def test_cli_refuses_a_busy_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = str(s.getsockname()[1])
        line = refused(classroom(str(TEACHING), "--port", port, "--log", str(tmp_path / "l")))
    assert "already listening" in line and port in line


def test_cli_refuses_a_bad_log(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not a log\n")
    assert "bad.jsonl:1" in refused(classroom("--replay", str(bad)))
    assert "no such file" in refused(classroom("--replay", str(tmp_path / "none.jsonl")))
    assert "leave out --seed" in refused(classroom("--replay", str(bad), "--seed", "3"))
    existing = tmp_path / "old.jsonl"
    existing.write_text("{}\n")
    assert "exists" in refused(classroom(str(TEACHING), "--log", str(existing)))


def test_cli_prints_where_to_go(tmp_path):
    """The command starts, prints the students' address, the code and the console's
    address with its key, and serves the console there."""
    port = free_port()
    log = tmp_path / "logs" / "room.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.app.room_server", str(TEACHING), "--port", str(port),
         "--code", "ABC12", "--log", str(log)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert f"http://127.0.0.1:{port}/" in lines[0] and "ABC12" in lines[0]
        console = lines[1].split()[-1]
        assert "/teacher?key=" in console
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                assert get(console)[0] == 200
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the console did not answer")
        assert log.is_file()
    finally:
        proc.terminate()
        proc.wait(WAIT)
