"""``multivector classroom``: one shared world for a class, each group playing a state.

``multivector classroom [SCENARIO]`` opens a room (:class:`sim.app.room.Room`) on the
scenario (default: the baseline) and serves it (:mod:`sim.app.room_server`) on
``--host``/``--port`` (default 127.0.0.1:8766, this machine only; ``--host 0.0.0.0``
shares it on the classroom network). It prints the students' address and the room code,
the teacher's console and the projector's addresses with the teacher's key. Every action
goes to a log (``--log``, default ``classroom-logs/<date>-<code>.jsonl``); ``--replay LOG``
opens the console on a saved session, which students cannot join. Nothing is fetched from
the internet.

Bad input (a scenario, a busy port, a log that is not one) is one line and exit 2.
``cli.py`` wires this in with :func:`add_commands` and :func:`dispatch`;
``python -m sim.app.room_server`` runs the same command through :func:`main`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import socket
import sys
from pathlib import Path

from sim.app.serve import check_port
from sim.errors import UserError

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8766
LOG_DIR = Path("classroom-logs")
#: A room code: letters and digits, as students type it on a phone.
CODE_PATTERN = re.compile(r"[A-Za-z0-9]{3,12}")
#: ``--timer``: seconds per quarter.
TIMER_LIMITS = (5, 3600)
EVERY_INTERFACE = ("0.0.0.0", "::")


def add_commands(sub) -> None:
    """Add ``classroom`` to the CLI's subparsers ``sub``."""
    parser = sub.add_parser(
        "classroom",
        help="a shared world for a class: each group plays a state from a phone or laptop",
        description="Open one shared world and serve it: students join with the room code "
        "from their phones or laptops, each group plays a state, the teacher's console "
        "advances the quarters, fires shocks and ends with a debrief. Offline; nothing is "
        "fetched from the internet.",
    )
    add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (shared by ``multivector classroom`` and
    ``python -m sim.app.room_server``)."""
    from sim.tools.cli import _port, _seed, whole_number

    parser.add_argument(
        "scenario", nargs="?", default=None, help="scenario file (default: the baseline)"
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}, this machine only; 0.0.0.0 "
        "shares the room on the classroom network)",
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"1 to 65535 (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--seed", type=_seed, default=None, help="the world's seed, 0 to 2**63 - 1 (default 7)"
    )
    parser.add_argument(
        "--code", type=_code, default=None, help="the room code, 3 to 12 letters or digits "
        "(default: a new random one)",
    )  # fmt: skip
    parser.add_argument(
        "--timer",
        type=whole_number(*TIMER_LIMITS),
        default=None,
        metavar="SECONDS",
        help=f"start with a timer: the quarter advances after SECONDS ({TIMER_LIMITS[0]} to "
        f"{TIMER_LIMITS[1]}); the console can start, change or stop it",
    )
    parser.add_argument(
        "--log",
        default=None,
        metavar="FILE",
        help="the session's log, for --replay (default: classroom-logs/<date>-<code>.jsonl; "
        "its folder is created; an existing file is refused)",
    )
    parser.add_argument(
        "--replay",
        default=None,
        metavar="LOG",
        help="open the teacher's console on a saved session (students cannot join)",
    )


def _code(text: str) -> str:
    if not CODE_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected 3 to 12 letters or digits, got {text!r}")
    return text.upper()


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``classroom`` and return its exit code; None when ``args`` is another command."""
    if getattr(args, "command", None) != "classroom":
        return None
    return run(args)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.app.room_server ARGS``: the command on its own, with the CLI's
    handling of bad input (one line, exit 2)."""
    parser = argparse.ArgumentParser(
        prog="python -m sim.app.room_server", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace) -> int:
    """Open the room (or its replay), check the address, print where to go, serve."""
    room, log_path = open_replay(args) if args.replay else open_room(args)
    check_port(args.host, args.port)
    urls = addresses(args.host, args.port, room)
    shared = args.host in EVERY_INTERFACE
    print_addresses(urls, room, log_path, replay=bool(args.replay), shared=shared)
    from sim.app import room_server

    try:
        room_server.serve(room, args.host, args.port, urls=urls, replay=bool(args.replay))
    except KeyboardInterrupt:  # Ctrl-C: how the teacher closes the room
        pass
    print(f"The room is closed. Its log: {log_path}", flush=True)
    return 0


def open_room(args: argparse.Namespace):
    """A new room on the scenario, logging to ``--log`` (or the default file)."""
    from sim.app.classroom import DEFAULT_SCENARIO
    from sim.app.room import Room, new_code
    from sim.scenario import load_scenario

    scenario = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    load_scenario(scenario)  # a bad file is reported here, in one line
    code = args.code or new_code()
    log_path = Path(args.log) if args.log else LOG_DIR / f"{dt.date.today()}-{code}.jsonl"
    if log_path.exists():
        raise UserError(
            f"--log {log_path}: exists (an earlier session?); name another --log, or look "
            f"at it with --replay {log_path}"
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    room = Room(
        scenario,
        seed=7 if args.seed is None else args.seed,
        code=code,
        timer=args.timer,
        log=log_path,
    )
    return room, log_path


def open_replay(args: argparse.Namespace):
    """The saved session of ``--replay``, refusing the options it takes from its log."""
    from sim.app.room import Room

    given = [
        name
        for name, value in (
            ("SCENARIO", args.scenario),
            ("--seed", args.seed),
            ("--code", args.code),
            ("--timer", args.timer),
            ("--log", args.log),
        )
        if value is not None
    ]
    if given:
        raise UserError(
            f"--replay takes the scenario, seed and code from its log: leave out {', '.join(given)}"
        )
    path = Path(args.replay)
    if not path.is_file():
        raise UserError(f"--replay {path}: no such file")
    return Room.replay(path), path


def addresses(host: str, port: int, room) -> dict[str, str]:
    """The pages' addresses: where students go (as they type it), the console's and the
    projector's with the teacher's key, and the log's (relative, for the console)."""
    shown = reachable_host(host)
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    return {
        "join_url": f"{base}/",
        "code": room.code,
        "teacher_url": f"{base}/teacher?key={room.teacher_key}",
        "projector_url": f"/projector?key={room.teacher_key}",
        "log_url": f"/log?key={room.teacher_key}",
    }


def reachable_host(host: str) -> str:
    """The address students type: the host itself, or for ``0.0.0.0`` this machine's
    address on the network (found without sending anything), else its name."""
    if host not in EVERY_INTERFACE:
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # a UDP "connect" only picks the interface
            return s.getsockname()[0]
        except OSError:
            return socket.gethostname()


def print_addresses(
    urls: dict[str, str], room, log_path: Path, *, replay: bool, shared: bool
) -> None:
    """What the teacher needs: where students go, the code, the console and projector
    addresses (with the key), the log, and how the room is reached on the network."""
    if replay:
        print(f"Replay of {log_path} (students cannot join)")
    else:
        print(f"Students open:   {urls['join_url']}   room code: {room.code}")
    print(f"Teacher console: {urls['teacher_url']}")
    print(f"Projector view:  {urls['join_url'].rstrip('/')}{urls['projector_url']}")
    if not replay:
        print(f"Log:             {log_path}")
        print(network_hint(urls["join_url"], shared))
    print("Ctrl-C closes the room.", flush=True)


def network_hint(join_url: str, shared: bool) -> str:
    if shared:
        return (
            "  (shared on every network interface: students type the address above, this "
            "machine's on the classroom network)"
        )
    if join_url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        return (
            "  (this machine only: to let students' phones and laptops join, start it with "
            "--host 0.0.0.0 on the classroom network)"
        )
    return f"  (on the network of {join_url})"
