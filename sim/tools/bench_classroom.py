"""Load test of the shared classroom world: one room, many students, one advance.

``python -m sim.tools.bench_classroom --students 30`` starts ``python -m
sim.app.room_server`` on a free port of 127.0.0.1 (a process of its own, as in class),
connects the teacher's console and N students as websocket clients, and plays
``--quarters`` quarters. Students sit in groups, one group per state (as many groups as
the world has states, or fewer with fewer students): the first student of a group joins
and picks its state, the others open the same group on their own devices (the group's
token, as a second phone of the group does). Every quarter each group sends the moves with
the best total on its card, and once all have, the teacher advances; the time measured is
from the teacher's advance message to the moment every one of the N students has the new
quarter's card.

Prints ``key=value`` lines: the advance time's median and maximum (goal: under
:data:`GOAL_S` for everyone), the server's resident memory before and after the
students joined and per student, and its CPU time per advance (Linux ``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: Every student has the new quarter within this many seconds of the advance.
GOAL_S = 2.0
#: How long any one wait may take before the bench gives up (a hang is a failure).
WAIT_S = 120.0
CODE = "BENCH"


@dataclass(eq=False)
class Page:
    """One websocket client and what it has received: the latest message of each type,
    when each quarter's card first arrived, and any error the server sent."""

    socket: object
    latest: dict[str, dict] = field(default_factory=dict)
    arrived: dict[int, float] = field(default_factory=dict)  # quarter -> perf_counter
    error: str | None = None
    token: str | None = None  # the group's, once it has joined
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, **message) -> None:
        await self.socket.send(json.dumps(message))

    async def read_forever(self) -> None:
        async for text in self.socket:
            msg = json.loads(text)
            if msg["type"] == "card" and msg["state"]:
                self.arrived.setdefault(msg["quarter"], time.perf_counter())
            if msg["type"] == "error":
                self.error = msg["message"]
            self.latest[msg["type"]] = msg
            self.changed.set()

    async def until(self, test: Callable[[Page], bool]) -> None:
        """Wait until ``test(self)`` holds (checked after each message); an error from
        the server, or no answer within :data:`WAIT_S`, ends the run."""
        async with asyncio.timeout(WAIT_S):
            while not test(self):
                if self.error:
                    raise RuntimeError(f"the server refused a message: {self.error}")
                self.changed.clear()
                await self.changed.wait()


class Pages:
    """The open clients of a run, each with its reading task; all closed at the end."""

    def __init__(self, url: str):
        self.url = url
        self.open: list[tuple[Page, asyncio.Task]] = []

    async def new(self) -> Page:
        from websockets.asyncio.client import connect

        page = Page(await connect(self.url, max_size=2**22, ping_interval=None))
        self.open.append((page, asyncio.create_task(page.read_forever())))
        return page

    async def close(self) -> None:
        for page, task in self.open:
            task.cancel()
            await page.socket.close()


@dataclass
class ClassRun:
    """What a simulated class measured: seconds from each advance to the last student's
    new card, and the size of the class."""

    advance_s: list[float]
    students: int
    groups: int


async def simulate_class(
    url: str, key: str, code: str, students: int, quarters: int, stage: Callable = print
) -> ClassRun:
    """Play ``quarters`` quarters with ``students`` websocket clients against the room
    at ``url`` (``ws://host:port/ws``); ``stage(name)`` is called when the teacher is in
    (``"teacher"``) and when every student has a card (``"joined"``)."""
    pages = Pages(url)
    try:
        teacher = await pages.new()
        await teacher.send(type="hello", view="teacher", key=key)
        await teacher.until(lambda p: "status" in p.latest)
        stage("teacher")
        states = [s["id"] for s in teacher.latest["status"]["free_states"]][:students]
        leaders = [await _lead_group(pages, code, k, state) for k, state in enumerate(states)]
        members = [await pages.new() for _ in range(students - len(leaders))]
        await asyncio.gather(
            *(m.send(type="rejoin", code=code, token=leaders[k % len(leaders)].token)
              for k, m in enumerate(members))
        )  # fmt: skip
        everyone = [*leaders, *members]
        await asyncio.gather(*(p.until(lambda p: 0 in p.arrived) for p in everyone))
        stage("joined")
        times = [await _play_quarter(q, teacher, leaders, everyone) for q in range(quarters)]
        return ClassRun(times, students, len(leaders))
    finally:
        await pages.close()


async def _lead_group(pages: Pages, code: str, k: int, state: str) -> Page:
    """The first student of group ``k`` joins and picks ``state``."""
    page = await pages.new()
    await page.send(type="join", code=code, name=f"group {k + 1}")
    await page.until(lambda p: "welcome" in p.latest)
    page.token = page.latest["welcome"]["token"]
    await page.send(type="pick", state=state)
    await page.until(lambda p: p.latest.get("card", {}).get("state") == state)
    return page


def best_moves(card: dict) -> dict[str, str]:
    """The move with the highest total toward every partner (a group that reads its card)."""
    return {
        o["partner"]: max(o["moves"], key=lambda m: m["total"])["move"] for o in card["options"]
    }


async def _play_quarter(q: int, teacher: Page, leaders: list[Page], everyone: list[Page]) -> float:
    """Every group chooses, the teacher advances; seconds until all have quarter q + 1."""
    for page in leaders:
        await page.send(type="choose", moves=best_moves(page.latest["card"]))
    await teacher.until(lambda p: p.latest["status"]["chosen"] == len(leaders))
    start = time.perf_counter()
    await teacher.send(type="advance")
    await asyncio.gather(*(p.until(lambda p: q + 1 in p.arrived) for p in everyone))
    return max(p.arrived[q + 1] for p in everyone) - start


# ---- the server process ------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(scenario: str, port: int, folder: Path) -> tuple[subprocess.Popen, str]:
    """``python -m sim.app.room_server`` on ``port``; returns it and the teacher's key
    (read from the addresses it prints)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.app.room_server", scenario, "--port", str(port),
         "--code", CODE, "--log", str(folder / "bench.jsonl")],
        stdout=subprocess.PIPE,
        stderr=open(folder / "server.err", "w"),  # noqa: SIM115 (closed with the process)
        text=True,
    )  # fmt: skip
    for line in proc.stdout:
        if found := re.search(r"/teacher\?key=(\S+)", line):
            return proc, found.group(1)
    proc.wait()
    raise SystemExit(f"the server did not start:\n{(folder / 'server.err').read_text()}")


async def wait_listening(port: int) -> None:
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def cpu_s(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` so far, in seconds (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    from sim.app.classroom import DEFAULT_SCENARIO

    parser = argparse.ArgumentParser(
        prog="python -m sim.tools.bench_classroom", description=__doc__
    )
    parser.add_argument("--students", type=int, default=30, help="simulated students (default 30)")
    parser.add_argument("--quarters", type=int, default=10, help="quarters to play (default 10)")
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="default: the baseline")
    args = parser.parse_args(argv)
    if not (1 <= args.students <= 250 and 1 <= args.quarters <= 50):
        parser.error("--students from 1 to 250, --quarters from 1 to 50")
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        proc, key = start_server(args.scenario, port, Path(folder))
        try:
            figures = asyncio.run(_measure(proc.pid, port, key, args.students, args.quarters))
        finally:
            proc.terminate()
            proc.wait(30)
    for name, value in figures.items():
        print(f"{name}={value}")
    return 0 if figures["advance_s_max"] < GOAL_S else 1


async def _measure(pid: int, port: int, key: str, students: int, quarters: int) -> dict:
    await wait_listening(port)
    rss, cpu = {}, {}

    def stage(name: str) -> None:
        rss[name], cpu[name] = rss_mb(pid), cpu_s(pid)

    url = f"ws://127.0.0.1:{port}/ws"
    run = await simulate_class(url, key, CODE, students, quarters, stage)
    stage("end")
    return {
        "students": run.students,
        "groups": run.groups,
        "quarters": quarters,
        "advance_s_median": round(statistics.median(run.advance_s), 3),
        "advance_s_max": round(max(run.advance_s), 3),
        "goal_s": GOAL_S,
        "server_rss_mb_before": round(rss["teacher"], 1),
        "server_rss_mb_after": round(rss["joined"], 1),
        "server_rss_kb_per_student": round((rss["joined"] - rss["teacher"]) * 1024 / students, 1),
        "server_cpu_s_per_quarter": round((cpu["end"] - cpu["joined"]) / quarters, 3),
    }


if __name__ == "__main__":
    sys.exit(main())
