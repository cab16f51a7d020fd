"""A shared classroom world: one model for a whole class, each group of students playing a state.

What NetLogo's HubNet does for its models: the teacher opens a :class:`Room` (one
:class:`~sim.app.classroom.ClassroomModel`), groups join with the room's code, each is given
a state, sees its :meth:`Room.card` (its ties, what each move would pay and cost, what
happened last quarter) and :meth:`Room.choose`\\ s its moves; the teacher
:meth:`Room.advance`\\ s the quarter (or a timer does, :meth:`Room.tick`), fires or holds
shocks, and ends with a :meth:`Room.debrief`. States no group holds are played by their
agents. The web server (:mod:`sim.app.room_server`) only moves these calls and their
JSON-able results between browsers; nothing here knows about the network.

The log is the truth. Every change is one event, one JSON line (``created``, ``joined``,
``assigned``, ``left``, ``chose``, ``advanced``, ``fired``, ``held``, ``timer``), written
(appended and flushed) as it happens; :meth:`Room.replay` rebuilds the same room from
it, ties and all. A model's shock schedule is fixed when it is built, so firing or
holding a shock rebuilds the model with the new schedule and replays every quarter
played so far with the moves logged for it; the replayed ties must equal the ties
before (a change that applies from the coming quarter cannot change the past), else
:class:`RoomInconsistency` is raised and the room stays as it was.

Every action validates before it changes anything, so a refused action
(:class:`RoomError`, with a message for the person who tried it) leaves the room as it
was. The room has no locks: the server calls it from one asyncio loop.

Payoffs are shown in points: one point is 0.001 of the weighted payoff (:data:`POINT`),
rounded to one decimal, so a card's totals add up in the numbers shown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sim.analysis.explain import against_staying
from sim.app.charts import signed
from sim.app.classroom import (
    ALIGNMENT,
    POINT,
    POINT_TERMS,
    SAME_TIE,
    SHOCK_PREFIX,
    ClassroomModel,
    cached_scenario,
    earned_points,
    focus_of,
    in_points,
    measure_path,
    tie_paths,
)
from sim.drivers.model import BalancingModel, Evaluation
from sim.errors import UserError, os_error_text
from sim.scenario import Scenario

#: One point of payoff, in units of the weighted payoff (utility): cards show utilities
#: divided by this, rounded to one decimal.
#: The moves a group can choose for a tie, as tie steps.
MOVES = {"down": -1, "stay": 0, "up": 1}
#: Join-code letters: no 0/O, 1/I/L, which are easy to mix up when read off a projector.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5
NAME_MAX = 40  # longest group name, in characters
TIMER_MAX = 3600.0  # longest timer for a quarter, in seconds
LOG_FORMAT = 1  # version of the log's format, in its ``created`` line
#: A move's terms on a card, in points, against staying: they add up to its total.


class RoomError(UserError):
    """A refused action or an unreadable log, with a message for whoever tried it."""


class RoomInconsistency(RuntimeError):
    """Replaying the quarters played so far did not give the same ties: a bug, not a
    user's mistake (the room is left as it was)."""


@dataclasses.dataclass
class Group:
    """One group of students.

    Attributes:
        token: secret that identifies the group when it reconnects (only the group's own
            browser holds it).
        id: public id (``g1``, ``g2``, ...), what the teacher's console names it by.
        name: what the group typed (trimmed, 1-40 printable characters, unique in the
            room ignoring case).
        state: id of the state it plays (``None``: not given one yet).
        chosen: it has chosen its moves for the coming quarter.
        connected: a browser of the group is connected (set by the server,
            :meth:`Room.mark_connected`).
        last_seen: the room's clock when the group was last heard from.
    """

    token: str
    id: str
    name: str
    state: str | None = None
    chosen: bool = False
    connected: bool = False
    last_seen: float = 0.0

    def public(self) -> dict:
        """The group as anyone in the room may see it (no token)."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "chosen": self.chosen,
            "connected": self.connected,
        }


def new_code() -> str:
    """A fresh join code: :data:`CODE_LENGTH` letters of :data:`CODE_ALPHABET`."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def points(utility: float) -> float:
    """A utility in points (:data:`POINT`), rounded to one decimal (never ``-0.0``)."""
    return round(float(utility) / POINT, 1) + 0.0


def total_points(terms: list[float]) -> float:
    """The sum of terms already in points, rounded as they are: exactly their sum as shown."""
    return round(sum(terms), 1) + 0.0


class Room:
    """One shared classroom world (see the module docstring).

    Args:
        scenario_file: the scenario the class plays.
        seed: the run's seed.
        code: the join code (default: a fresh :func:`new_code`).
        timer: seconds each quarter lasts before :meth:`tick` advances it (``None``: no
            timer; the teacher advances).
        log: file the log is written to, line by line (must not exist or be empty);
            ``None`` keeps it in memory only (:meth:`log_lines`).
        clock: the time in seconds, for the timer and ``last_seen`` (tests pass a fake).

    Attributes:
        code: the join code.
        teacher_key: secret of the teacher's console.
        version: bumps on every change (the server pushes views when it changes).
        groups: token -> :class:`Group`, in joining order.
        model: the :class:`ClassroomModel` of the world as played so far.
    """

    def __init__(
        self,
        scenario_file: str | Path,
        *,
        seed: int = 7,
        code: str | None = None,
        timer: float | None = None,
        log: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        path = _scenario_path(scenario_file)
        created = {
            "event": "created",
            "format": LOG_FORMAT,
            "scenario": str(path),
            "content_hash": cached_scenario(path).content_hash,
            "seed": _seed(seed),
            "code": new_code() if code is None else _code(code),
            "teacher_key": secrets.token_urlsafe(16),
        }
        self._setup(created, clock)
        self._attach_log(log)
        self._write(created)
        if timer is not None:
            self.set_timer(timer)

    def _setup(self, created: dict, clock: Callable[[], float]) -> None:
        self.scenario_file = Path(created["scenario"])
        self.seed = int(created["seed"])
        self.code = str(created["code"])
        self.teacher_key = str(created["teacher_key"])
        self.version = 0
        self.groups: dict[str, Group] = {}
        self._clock = clock
        self._log_path: Path | None = None
        self._lines: list[str] = []
        self._choices: dict[str, dict[str, str]] = {}  # token -> partner -> move
        self._quarters: list[dict[str, dict[str, str]]] = []  # per quarter: state -> moves
        self._held: list[str] = []
        self._fired: dict[str, int] = {}  # shock id -> period the teacher fired it in
        self._timer: float | None = None
        self._deadline: float | None = None
        self._cache: dict = {}
        self._generation = 0  # bumps when the model changes (a quarter, a rebuild)
        self.model = self._build(self._held, self._fired)

    # ---- groups ----------------------------------------------------------------------

    def join(self, name: str = "", *, state: str | None = None, token: str | None = None) -> Group:
        """A group joins, or comes back.

        ``token`` of a group in the room: that group back, its state kept (a reconnect;
        ``name`` and ``state`` are ignored). Otherwise a new group named ``name``, given
        ``state`` if it names a free state.

        Raises:
            RoomError: a name that is empty, too long, not printable or taken; a state
                that is unknown or taken (the message lists the free states).
        """
        if token is not None and token in self.groups:
            group = self.groups[token]
            group.last_seen = self._clock()
            return group
        event = {
            "event": "joined",
            "token": secrets.token_urlsafe(16),
            "id": f"g{self._next_group_number()}",
            "name": name,
            "state": state,
        }
        return self._commit(event)

    def _next_group_number(self) -> int:
        return 1 + max((int(g.id[1:]) for g in self.groups.values()), default=0)

    def leave(self, group: str) -> None:
        """The teacher removes a group (by token or id): its state goes back to its agent."""
        self._commit({"event": "left", "token": self._group(group).token})

    def assign(self, group: str, state: str | None) -> None:
        """Give a group (token or id) a free state, or change it (``None``: take it away).

        Allowed at any time before the end: the state is taken from its agent from the
        coming quarter (and the group's old state goes back to its agent).
        """
        self._commit({"event": "assigned", "token": self._group(group).token, "state": state})

    def mark_connected(self, group: str, connected: bool = True) -> None:
        """The server saw a group's browser connect or go (not logged: it changes no world)."""
        g = self._group(group)
        g.connected = bool(connected)
        g.last_seen = self._clock()
        self.version += 1

    def free_states(self) -> list[str]:
        """Ids of the states no group plays, in the world's order."""
        held = {g.state for g in self.groups.values()}
        return [sid for sid in self.world.ids if sid not in held]

    def _group(self, key: str) -> Group:
        """The group with token or public id ``key``."""
        group = self.groups.get(key) if isinstance(key, str) else None
        if group is None:
            group = next((g for g in self.groups.values() if g.id == key), None)
        if group is None:
            raise RoomError("that group is not in the room (the teacher may have removed it)")
        return group

    # ---- choosing and advancing ----------------------------------------------------------

    def choose(self, group: str, moves: dict[str, str]) -> None:
        """A group's moves for the coming quarter: partner id -> ``"down"``, ``"stay"``
        or ``"up"``. Partners not named stay; replaces the group's earlier choice this
        quarter.

        Raises:
            RoomError: no state, the run has ended, an unknown partner or move, a move
                that is not possible (a tie at its bound, a tie held by a shock).
        """
        self._commit({"event": "chose", "token": self._group(group).token, "moves": moves})

    def all_chosen(self) -> bool:
        """Every group that plays a state, and is connected or has chosen, has chosen."""
        return all(g.chosen for g in self.groups.values() if g.state and (g.connected or g.chosen))

    def advance(self) -> dict:
        """The teacher advances one quarter (also when not every group has chosen: those
        keep their ties, and the log names them).

        Returns:
            The quarter's summary: ``quarter`` (quarters played now), ``date``,
            ``moves`` (state -> partner -> move of every played state), ``unchosen``
            (names of groups that kept their ties without choosing), ``shocks`` (labels
            of the shocks that fired in it).
        """
        self._check_quarter({"quarter": self.model.period})
        moves = {}
        unchosen = []
        for token, g in self.groups.items():
            if g.state is None:
                continue
            chosen = self._choices.get(token, {})
            moves[g.state] = {p: chosen.get(p, "stay") for p in self.world.ids if p != g.state}
            if not g.chosen:
                unchosen.append(g.name)
        event = {
            "event": "advanced",
            "quarter": self.model.period,
            "moves": moves,
            "unchosen": unchosen,
        }
        return self._commit(event)

    @property
    def finished(self) -> bool:
        """Every quarter of the scenario has been played."""
        return self.model.period >= self.world.n_periods

    # ---- the timer -------------------------------------------------------------------------

    def set_timer(self, seconds: float | None) -> None:
        """Each quarter lasts ``seconds`` (from now, then from each advance); ``None``: no timer."""
        self._commit({"event": "timer", "seconds": seconds})

    def tick(self) -> bool:
        """Advance if this quarter's timer has run out (the server calls this every
        second); returns whether it advanced."""
        if self._deadline is None or self.finished or self._clock() < self._deadline:
            return False
        self.advance()
        return True

    def seconds_left(self) -> float | None:
        """Seconds until the timer advances the quarter (``None``: no timer running)."""
        if self._deadline is None or self.finished:
            return None
        return max(0.0, self._deadline - self._clock())

    # ---- shocks ------------------------------------------------------------------------------

    def shocks(self) -> list[dict]:
        """Every shock of the scenario: id, label, date (ISO; ``None`` for a chance),
        chance (per quarter; ``None`` for a dated shock), status: ``"scheduled"`` (dated,
        to come), ``"possible"`` (a chance, not fired), ``"fired"``, ``"held"`` (the
        teacher stopped it), ``"fired by the teacher"`` (in the coming quarter, or since);
        fired_on: the dates it fired on so far."""
        happened: dict[str, list[str]] = {}
        for e in self._fired_so_far():
            happened.setdefault(e["id"], []).append(e["date"])
        out = []
        for sid, spec in self.world.scenario.spec.shocks.items():
            base = self._scenario.spec.shocks[sid]
            date = spec.date.isoformat() if spec.date is not None else None
            chance = None if base.probability is None else float(base.probability.value)
            if sid in self._held:
                status = "held"
            elif sid in self._fired:
                status = "fired by the teacher"
            elif sid in happened:
                status = "fired"
            else:
                status = "scheduled" if base.date is not None else "possible"
            out.append(
                {
                    "id": sid,
                    "label": spec.label,
                    "date": date,
                    "chance": chance,
                    "status": status,
                    "fired_on": happened.get(sid, []),
                }
            )
        return out

    def fire(self, shock_id: str) -> None:
        """Make a shock happen in the coming quarter (refused if it has fired already)."""
        self._commit({"event": "fired", "shock": shock_id, "quarter": self.model.period})

    def hold(self, shock_id: str) -> None:
        """Stop a shock from happening (refused if it has fired already)."""
        self._commit({"event": "held", "shock": shock_id, "quarter": self.model.period})

    # ---- views -----------------------------------------------------------------------------

    def card(self, group: str) -> dict:
        """A group's card (JSON-able), what its page shows.

        Keys: ``group`` (its public fields), ``state``, ``state_name``, the keys of
        :meth:`_when` (``quarter``, ``n_periods``, ``date``, ``next_date``,
        ``finished``), ``chosen``; ``ties``: the state's
        ties now, ``[{partner, name, tie}]``; ``options``: per partner ``{partner, name,
        tie, pinned, moves}``, each move ``{move, tie_after, energy, security, alignment,
        tie_cost, move_cost, total, agent_chance}`` (see :meth:`_options`; ``agent_chance``
        is None with continuous ties, whose agents take a step instead of a pick);
        ``last_quarter``: ``{date, my_moves, what_happened, payoff}`` or ``None`` before
        the first quarter (see :meth:`_last_quarter`); ``picked``: partner -> move chosen.
        """
        g = self._group(group)
        g.last_seen = self._clock()
        out = {
            "group": g.public(),
            "state": g.state,
            "state_name": None if g.state is None else self._name(g.state),
            **self._when(),
            "chosen": g.chosen,
            "ties": [],
            "options": [],
            "last_quarter": None,
            "picked": {},
        }
        if g.state is None:
            return out
        last = self._snapshots()[-1]
        i = self.world.index(g.state)
        out["ties"] = [
            {"partner": p, "name": self._name(p), "tie": _round(last[i, j])}
            for j, p in enumerate(self.world.ids)
            if j != i
        ]
        if not self.finished:
            out["options"] = self._options(g.state)
            out["picked"] = dict(self._choices.get(g.token, {}))
        if self.model.period > 0:
            out["last_quarter"] = self._cached(
                ("last", g.state), lambda: self._last_quarter(g.state)
            )
        return out

    def projector(self) -> dict:
        """The projector view's data: ``title``, the keys of :meth:`_when`, ``series``
        (``dates``; ``alignment``: per state ``{state, name, values}`` of the alignment
        index where it is defined; ``ties``: per played state and partner ``{state,
        partner, name, values}``), ``events`` (``{number, date, label}`` of the shocks so
        far), ``groups`` (public fields), ``free_states``. Plain lists: the browser draws
        them."""
        return {
            "title": self.world.scenario.name,
            **self._when(),
            "series": self._series(),
            "events": self._events(),
            "groups": [g.public() for g in self.groups.values()],
            "free_states": self.free_states(),
        }

    def status(self) -> dict:
        """What the teacher's console shows: code, quarter, dates, groups, free states,
        whether all chose, the timer, the shocks, finished, version."""
        return {
            "code": self.code,
            "title": self.world.scenario.name,
            **self._when(),
            "groups": [
                {**g.public(), "state_name": g.state and self._name(g.state)}
                for g in self.groups.values()
            ],
            "free_states": self.free_states(),
            "all_chosen": self.all_chosen(),
            "timer": self._timer,
            "seconds_left": self.seconds_left(),
            "shocks": self.shocks(),
            "version": self.version,
        }

    def _when(self) -> dict:
        """Where the run is: ``quarter`` (quarters played), ``n_periods``, ``date`` (the
        world's date now), ``next_date`` (when the coming quarter ends; ``None`` at the
        end), ``finished``."""
        period = self.model.period
        return {
            "quarter": period,
            "n_periods": self.world.n_periods,
            "date": self._date(period),
            "next_date": None if self.finished else self._date(period + 1),
            "finished": self.finished,
        }

    def debrief(self, shock_id: str | None = None, seeds: int = 100) -> dict:
        """The end of the lesson: each group's path beside its agent's, and With and
        without a shock.

        Returns:
            ``groups``: per group with a state ``{name, state, state_name, path,
            agent_path, total_payoff, agent_total_payoff}``; a path is ``{dates,
            alignment, ties: {partner: values}}`` of the state (``agent_path`` from the
            same world and seed with every state an agent); payoffs are the points the
            state earned over the quarters people played it (see :func:`_payoff`).
            ``comparison`` (``None`` when no shock is named and none has fired): the
            shock (``shock_id``, default: the first that fired) with ``dates``,
            ``with``/``without``: the focus state's alignment index in computer-played
            runs of this seed; ``bands``: its 5-95% quantiles over ``seeds`` seeds in
            both worlds; ``difference``: the mean paired difference (with minus without)
            at the last date of the scenario with its 95% interval.
        """
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 2 <= seeds <= 1000:
            raise RoomError(
                f"the debrief's seeds must be a whole number from 2 to 1000, not {seeds!r}"
            )
        agent = self.model.agent_run()
        groups = []
        for g in self.groups.values():
            if g.state is None:
                continue
            score = self.score(g.token)
            groups.append(
                {
                    "name": g.name,
                    "state": g.state,
                    "state_name": self._name(g.state),
                    "path": _path(self.model, g.state),
                    "agent_path": _path(agent, g.state),
                    "total_payoff": score["points"],
                    "agent_total_payoff": score["agent_points"],
                }
            )
        return {"groups": groups, "comparison": self._comparison(shock_id, seeds)}

    def score(self, group: str) -> dict:
        """A group's payoff so far: ``quarters`` (how many its people played),
        ``points`` (what its state earned in them, :func:`_payoff`) and ``agent_points``
        (what the state's agent earned in the same quarters of the same world and seed,
        every state an agent)."""
        g = self._group(group)
        if g.state is None:
            return {"quarters": 0, "points": 0.0, "agent_points": 0.0}
        quarters = [k for k, q in enumerate(self._quarters) if g.state in q]
        agent = self.model.agent_run()
        return {
            "quarters": len(quarters),
            "points": _payoff(self.model, g.state, quarters),
            "agent_points": _payoff(agent, g.state, quarters),
        }

    # ---- the log ---------------------------------------------------------------------------

    def log_lines(self) -> list[str]:
        """The log so far, one JSON text per event."""
        return list(self._lines)

    @classmethod
    def replay(
        cls,
        log_path: str | Path,
        *,
        log: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Room:
        """The room rebuilt from its saved log: the same groups, ties, shocks, everything.

        ``log``: where the rebuilt room logs what happens next (the same file continues
        it; another gets the whole log first; ``None``: memory only).

        Raises:
            RoomError: the log cannot be read, a line is malformed or refused (file and
                line named), or the scenario file is missing or its content differs from
                the one the log was made with.
        """
        log_path = Path(log_path)
        events = _read_log(log_path)
        created = _check_created(log_path, events[0][1])
        room = cls.__new__(cls)
        room._setup(created, clock)
        room._lines.append(json.dumps(created))
        for number, event in events[1:]:
            try:
                room._commit(event)
            except RoomError as err:
                raise RoomError(f"{log_path}:{number}: {err}") from None
        room._continue_log(log, log_path)
        return room

    def _continue_log(self, log: str | Path | None, replayed: Path) -> None:
        if log is None:
            return
        if Path(log).resolve() == replayed.resolve():
            self._log_path = Path(log)
            return
        self._attach_log(log)
        self._append("".join(line + "\n" for line in self._lines))

    def _attach_log(self, log: str | Path | None) -> None:
        if log is None:
            return
        path = Path(log)
        if path.exists() and (path.is_dir() or path.stat().st_size > 0):
            raise RoomError(
                f"{path}: already exists; a room's log needs a new file (to continue a "
                "saved session, replay its log)"
            )
        self._log_path = path

    def _write(self, event: dict) -> None:
        event.setdefault("time", dt.datetime.now().isoformat(timespec="seconds"))
        line = json.dumps(event)
        if self._log_path is not None:
            self._append(line + "\n")
        self._lines.append(line)

    def _append(self, text: str) -> None:
        try:
            with self._log_path.open("a", encoding="utf-8") as f:
                f.write(text)
        except OSError as err:
            raise RoomError(f"cannot write the room's log: {os_error_text(err)}") from None

    # ---- events: validate, log, apply ----------------------------------------------------------

    def _commit(self, event: dict):
        """Check ``event`` against the room, log it, then apply it (which cannot fail)."""
        handler = getattr(self, f"_on_{event.get('event')}", None)
        if handler is None:
            raise RoomError(f"unknown event {event.get('event')!r}")
        apply = handler(event)
        self._write(event)
        result = apply()
        self.version += 1
        return result

    def _on_joined(self, e: dict) -> Callable[[], Group]:
        name = _group_name(e.get("name"))
        taken = {g.name.casefold() for g in self.groups.values()}
        if name.casefold() in taken:
            raise RoomError(
                f"the name {name!r} is taken in this room; pick another (if it is your "
                "group, reopen the page on the device it joined from, or ask the teacher)"
            )
        state = e.get("state")
        if state is not None:
            self._check_free(state)
        if not isinstance(e.get("token"), str) or not isinstance(e.get("id"), str):
            raise RoomError("a joined event needs a token and an id")
        e["name"] = name

        def apply() -> Group:
            group = Group(e["token"], e["id"], name, state, last_seen=self._clock())
            self.groups[group.token] = group
            return group

        return apply

    def _on_left(self, e: dict) -> Callable[[], None]:
        group = self._group(e.get("token"))

        def apply() -> None:
            del self.groups[group.token]
            self._choices.pop(group.token, None)

        return apply

    def _on_assigned(self, e: dict) -> Callable[[], None]:
        group = self._group(e.get("token"))
        state = e.get("state")
        if state is not None and state != group.state:
            self._check_free(state)

        def apply() -> None:
            if state != group.state:
                group.state = state
                group.chosen = False
                self._choices.pop(group.token, None)

        return apply

    def _check_free(self, state) -> None:
        if self.finished:
            raise RoomError("the run has ended: there is no quarter left to play")
        free = self.free_states()
        if state not in free:
            what = "is taken" if state in self.world.ids else "is not a state of this world"
            listed = ", ".join(f"{s} ({self._name(s)})" for s in free) or "none"
            raise RoomError(f"{state!r} {what}; the free states are: {listed}")

    def _on_chose(self, e: dict) -> Callable[[], None]:
        group = self._group(e.get("token"))
        if group.state is None:
            raise RoomError("your group has no state yet: wait for the teacher to give you one")
        if self.finished:
            raise RoomError("the run has ended: there is nothing left to choose")
        moves = _check_moves(e.get("moves"), self._options(group.state), self._name)
        e["moves"] = moves

        def apply() -> None:
            self._choices[group.token] = moves
            group.chosen = True

        return apply

    def _on_advanced(self, e: dict) -> Callable[[], dict]:
        self._check_quarter(e)
        moves = e.get("moves")
        if not _well_formed(moves, self.world.ids):
            raise RoomError(
                "the moves of a quarter must be state -> partner -> down, stay or up, "
                f"not {moves!r}"
            )

        def apply() -> dict:
            play_quarter(self.model, moves)
            self._quarters.append(moves)
            self._choices.clear()
            for g in self.groups.values():
                g.chosen = False
            self._model_changed()
            if self._timer is not None:
                self._deadline = self._clock() + self._timer
            period = self.model.period - 1
            return {
                "quarter": self.model.period,
                "date": self._date(self.model.period),
                "moves": moves,
                "unchosen": list(e.get("unchosen", [])),
                "shocks": [e["label"] for e in self._fired_so_far() if e["period"] == period],
            }

        return apply

    def _on_timer(self, e: dict) -> Callable[[], None]:
        seconds = e.get("seconds")
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise RoomError(f"the timer must be a number of seconds, not {seconds!r}")
            if not (math.isfinite(seconds) and 0 < seconds <= TIMER_MAX):
                raise RoomError(f"the timer must be above 0 and at most {TIMER_MAX:g} seconds")

        def apply() -> None:
            self._timer = None if seconds is None else float(seconds)
            self._deadline = None if seconds is None else self._clock() + float(seconds)

        return apply

    def _on_fired(self, e: dict) -> Callable[[], None]:
        sid = self._check_shock(e, "fire")
        if self._fired.get(sid) == self.model.period:
            raise RoomError(f"{self._label(sid)!r} is already set to happen in the coming quarter")
        held = [s for s in self._held if s != sid]
        fired = {**self._fired, sid: self.model.period}
        return self._rebuilt(held, fired)

    def _on_held(self, e: dict) -> Callable[[], None]:
        sid = self._check_shock(e, "hold")
        if sid in self._held:
            raise RoomError(f"{self._label(sid)!r} is held already")
        fired = {s: p for s, p in self._fired.items() if s != sid}
        return self._rebuilt([*self._held, sid], fired)

    def _check_shock(self, e: dict, verb: str) -> str:
        sid = e.get("shock")
        known = list(self._scenario.spec.shocks)
        if sid not in known:
            raise RoomError(f"no shock {sid!r} in this world; the shocks are: {', '.join(known)}")
        self._check_quarter(e)
        if sid in {e["id"] for e in self._fired_so_far()}:
            raise RoomError(f"cannot {verb} {self._label(sid)!r}: it has fired already")
        return sid

    def _check_quarter(self, e: dict) -> None:
        """The run has a coming quarter, and it is the one the event names."""
        if self.finished:
            raise RoomError(f"the run has ended ({self._date(self.model.period)}): no quarter left")
        if e.get("quarter") != self.model.period:
            raise RoomError(
                f"quarter {e.get('quarter')!r} is not the coming one ({self.model.period})"
            )

    def _rebuilt(self, held: list[str], fired: dict[str, int]) -> Callable[[], None]:
        """Build the model with these shock settings and replay the quarters so far;
        returns the change that installs it."""
        model = self._build(held, fired)
        for moves in self._quarters:
            play_quarter(model, moves)
        before, after = tie_paths(self.model), tie_paths(model)
        if before.shape != after.shape or not np.array_equal(before, after):
            raise RoomInconsistency(
                "replaying the quarters played so far with the new shock settings gave "
                "different ties: the past changed (a bug; the room is left as it was)"
            )

        def apply() -> None:
            self._held, self._fired, self.model = held, fired, model
            self._model_changed()

        return apply

    # ---- the model -----------------------------------------------------------------------------

    @property
    def world(self):
        """The model's compiled world (ids, names, dates, shocks)."""
        return self.model.world

    @property
    def _scenario(self) -> Scenario:
        """The scenario as the file has it (before any shock the teacher fired)."""
        return cached_scenario(self.scenario_file)

    def _build(self, held: list[str], fired: dict[str, int]) -> ClassroomModel:
        """A fresh model of the room's scenario and seed, ``held`` shocks off and
        ``fired`` ones (id -> period) dated at those periods."""
        off = {f"{SHOCK_PREFIX}{sid}": False for sid in held}
        return ClassroomModel(self.scenario_file, seed=self.seed, fired=tuple(fired.items()), **off)

    def _model_changed(self) -> None:
        self._generation += 1
        self._cache.clear()

    def _cached(self, key, compute: Callable):
        """``compute()``, kept until the model changes (what every card shares)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _upcoming(self) -> Evaluation:
        return self._cached("upcoming", self.model.upcoming)

    def _snapshots(self) -> np.ndarray:
        return self._cached("snapshots", lambda: tie_paths(self.model))

    def _fired_so_far(self) -> list[dict]:
        """The firings in the quarters played so far (id, label, kind, period, date),
        not those of the coming quarter that a look at it may already have found."""
        return self._cached(
            "fired",
            lambda: [e for e in self.model.shocks_so_far() if e["period"] < self.model.period],
        )

    def _name(self, sid: str) -> str:
        return self.world.names[self.world.index(sid)]

    def _label(self, sid: str) -> str:
        return self._scenario.spec.shocks[sid].label

    def _date(self, step: int) -> str:
        return self.world.date(step).isoformat()

    def _options(self, state: str) -> list[dict]:
        """Per partner of ``state``: its tie, whether a shock holds it, and each possible
        move (down, stay, up one step) with what it changes against staying, in points:
        the weighted energy, security and alignment terms, the tie cost (as a gain), the
        move cost (``-gamma`` for a move, what the choice rule subtracts: ``V = U -
        gamma [moved]``, see :func:`sim.kernel.decision.net_utility`), their total (the
        sum of the shown terms), and the agent's chance of taking it."""
        return self._cached(
            ("options", state), lambda: _options(self.model, self._upcoming(), state)
        )

    def _last_quarter(self, state: str) -> dict:
        """``date`` (when it ended), ``my_moves`` (``{partner, name, move, tie_before,
        tie_after}``, the state's own moves), ``what_happened`` (sentences: shocks that
        fired, ties of others to the state that moved), ``payoff`` (points; see
        :func:`_payoff`)."""
        snaps = self._snapshots()
        before, after = snaps[-2], snaps[-1]
        i = self.world.index(state)
        period = self.model.period - 1
        mine = _own_moves(self.model, self.model.kept[period], i)
        news = [f"Shock: {e['label']}." for e in self._fired_so_far() if e["period"] == period]
        me = self._name(state)
        for j, p in enumerate(self.world.ids):
            # a move too small to show at two decimals (continuous ties) is not news
            shown = signed(before[j, i]) != signed(after[j, i])
            if j != i and abs(after[j, i] - before[j, i]) > SAME_TIE and shown:
                way = "up" if after[j, i] > before[j, i] else "down"
                news.append(
                    f"{self._name(p)} moved its tie to {me} {way} from "
                    f"{signed(before[j, i])} to {signed(after[j, i])}."
                )
        return {
            "date": self._date(self.model.period),
            "my_moves": [{**m, "name": self._name(m["partner"])} for m in mine],
            "what_happened": news,
            "payoff": _payoff(self.model, state, [period]),
        }

    def _series(self) -> dict:
        """The projector's lines: every state's alignment index (where it is defined)
        and the played states' ties."""
        dates = [self._date(t) for t in range(self.model.period + 1)]
        snaps = self._snapshots()
        ties = []
        for g in self.groups.values():
            if g.state is None:
                continue
            i = self.world.index(g.state)
            ties += [
                {
                    "state": g.state,
                    "partner": p,
                    "name": self._name(p),
                    "values": _values(snaps[:, i, j]),
                }
                for j, p in enumerate(self.world.ids)
                if j != i
            ]
        alignment = self._cached("alignment", self._alignment)
        return {"dates": dates, "alignment": alignment, "ties": ties}

    def _alignment(self) -> list[dict]:
        ix = self.model.indices_table()
        out = []
        for sid, g in ix.groupby("state", sort=False, observed=True):
            values = _values(g[ALIGNMENT])
            if any(v is not None for v in values):
                out.append({"state": sid, "name": self._name(sid), "values": values})
        return out

    def _events(self) -> list[dict]:
        """The shocks fired in the quarters played so far, numbered, with their dates."""
        return [
            {"number": k, "date": e["date"], "label": e["label"]}
            for k, e in enumerate(self._fired_so_far(), start=1)
        ]

    def _comparison(self, shock_id: str | None, seeds: int) -> dict | None:
        if shock_id is None:
            so_far = self._fired_so_far()
            if not so_far:
                return None
            shock_id = so_far[0]["id"]
        if shock_id not in self._scenario.spec.shocks:
            known = ", ".join(self._scenario.spec.shocks)
            raise RoomError(f"no shock {shock_id!r} in this world; the shocks are: {known}")
        focus = focus_of(self.world.scenario)
        with_ = _path(self.model.agent_run(), focus)
        without = _path(self.model.without(shock_id), focus)
        bands = self.model.bands(shock_id, seeds)
        diff = self.model.paired_difference(shock_id, ALIGNMENT, self.world.n_periods, seeds)
        return {
            "shock": self._label(shock_id),
            "shock_id": shock_id,
            "state": focus,
            "dates": with_["dates"],
            "with": with_["alignment"],
            "without": without["alignment"],
            "bands": _bands(bands),
            "difference": {
                "date": self._date(self.world.n_periods),
                "seeds": int(diff["n"]),
                **{k: _round(diff[k]) for k in ("mean", "ci_low", "ci_high")},
            },
        }


# ---- module helpers: the model's numbers as plain data --------------------------------------


def play_quarter(model: ClassroomModel, moves: dict[str, dict[str, str]]) -> None:
    """Step ``model`` one quarter with these states played: state -> partner -> move
    (``"down"``/``"stay"``/``"up"``; a partner not named stays). Every other state is an
    agent."""
    for sid in model.played:
        if sid not in moves:
            model.release(sid)
    ev = model.upcoming()
    w = model.world
    for sid, chosen in moves.items():
        model.play(sid)
        i = w.index(sid)
        picks = {}
        for partner, move in chosen.items():
            j = w.index(partner)
            picks[j] = _candidate(ev, i, j, MOVES[move])
        model.picks[i] = picks
    model.step()


def _well_formed(moves, ids: list[str]) -> bool:
    """``moves`` is state -> partner -> move, with known states, partners and moves."""
    if not isinstance(moves, dict):
        return False
    return all(
        state in ids
        and isinstance(chosen, dict)
        and all(
            p in ids and p != state and isinstance(m, str) and m in MOVES for p, m in chosen.items()
        )
        for state, chosen in moves.items()
    )


def _candidate(ev: Evaluation, i: int, j: int, step: int) -> int:
    """Index of the candidate that moves tie ``(i, j)`` by ``step`` tie steps."""
    values = ev.values[i, j]
    target = values[ev.stay[i, j]] + step * ev.delta
    return int(np.argmin(np.abs(values - target)))


def _options(model: ClassroomModel, ev: Evaluation, state: str) -> list[dict]:
    """See :meth:`Room._options`."""
    table = model.explain(state, ev)
    terms = in_points(against_staying(table))[[*POINT_TERMS, "total"]].to_numpy().tolist()
    steps = np.rint(table["move"].to_numpy() / ev.delta).astype(int).tolist()
    columns = ("partner", "tie_before", "tie_after", "probability", "pinned")
    words = {v: k for k, v in MOVES.items()}
    w = model.world
    out: dict[str, dict] = {}
    for (partner, before, after, chance, pinned), step, term in zip(
        table[list(columns)].itertuples(index=False, name=None), steps, terms, strict=True
    ):
        option = out.setdefault(
            partner,
            {
                "partner": partner,
                "name": w.names[w.index(partner)],
                "tie": _round(before),
                "pinned": bool(pinned),
                "moves": [],
            },
        )
        if step not in words or (pinned and step != 0):
            continue
        option["moves"].append(
            {
                "move": words[step],
                "tie_after": _round(after),
                **dict(zip((*POINT_TERMS, "total"), term, strict=True)),
                # continuous ties: a step, not a pick, so the agent has no chance to show
                "agent_chance": None if np.isnan(chance) else round(float(chance), 3),
            }
        )
    for option in out.values():
        option["moves"].sort(key=lambda m: MOVES[m["move"]])
    return list(out.values())


def _check_moves(moves, options: list[dict], name: Callable[[str], str]) -> dict[str, str]:
    """``moves`` (partner -> move) checked against a state's options; RoomError if not."""
    if not isinstance(moves, dict):
        raise RoomError("moves must be partner -> move")
    allowed = {o["partner"]: [m["move"] for m in o["moves"]] for o in options}
    out = {}
    for partner, move in moves.items():
        if partner not in allowed:
            raise RoomError(f"no partner {partner!r}; your partners are: {', '.join(allowed)}")
        if not isinstance(move, str) or move not in MOVES:
            raise RoomError(f"no move {move!r}: choose down, stay or up")
        if move not in allowed[partner]:
            why = "a shock holds it" if allowed[partner] == ["stay"] else "the tie is at its bound"
            raise RoomError(
                f"your tie to {name(partner)} cannot move {move} ({why}); "
                f"possible: {', '.join(allowed[partner])}"
            )
        out[partner] = move
    return out


def _own_moves(model: BalancingModel, ev: Evaluation, i: int) -> list[dict]:
    """State ``i``'s moves in the period of ``ev``: partner, move, tie_before, tie_after."""
    words = {v: k for k, v in MOVES.items()}
    held = {j for (a, j, _v) in ev.pinned if a == i}
    new = ev.new_ties
    out = []
    for j, p in enumerate(model.world.ids):
        if j == i:
            continue
        before, after = ev.values[i, j, ev.stay[i, j]], new[i, j]
        step = 0 if j in held else int(np.sign(np.rint((after - before) / ev.delta)))
        out.append(
            {
                "partner": p,
                "move": words[step],
                "tie_before": _round(before),
                "tie_after": _round(after),
            }
        )
    return out


def _payoff(model: BalancingModel, state: str, periods: list[int]) -> float:
    """The points ``state`` earned in ``periods`` (:func:`~sim.app.classroom.earned_points`),
    each period rounded to points first, so the total adds up as shown."""
    earned = earned_points(model, state) if periods else []
    return total_points([round(float(earned[p]), 1) + 0.0 for p in periods])


def _path(model: BalancingModel, state: str) -> dict:
    """A state's alignment index and ties over the records so far, as plain lists."""
    w = model.world
    i = w.index(state)
    snaps = tie_paths(model)
    return {
        "dates": [w.date(t).isoformat() for t in range(len(snaps))],
        "alignment": _values(measure_path(model, state, ALIGNMENT)),
        "ties": {p: _values(snaps[:, i, j]) for j, p in enumerate(w.ids) if j != i},
    }


def _bands(table) -> dict:
    """``ClassroomModel.bands`` as ``{dates, with: {q05: [...], ...}, without: ...}``."""
    out: dict = {}
    for world, g in table.groupby("world", sort=False):
        g = g.sort_values("date")
        out.setdefault("dates", [str(d)[:10] for d in g["date"]])
        out[str(world)] = {c: _values(g[c]) for c in g.columns if c.startswith("q")}
    return out


def _read_log(path: Path) -> list[tuple[int, dict]]:
    """The log's events with their line numbers; RoomError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        cause = os_error_text(err, path) if isinstance(err, OSError) else f"{path}: not UTF-8 text"
        raise RoomError(f"cannot read the room's log: {cause}") from None
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as err:
            raise RoomError(f"{path}:{number}: not a JSON line ({err.msg})") from None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise RoomError(f"{path}:{number}: expected an object with an 'event' field")
        events.append((number, event))
    if not events:
        raise RoomError(f"{path}: the log is empty")
    return events


def _check_created(path: Path, created: dict) -> dict:
    """The first event, checked: a ``created`` line of this format whose scenario file
    still has the same content."""
    if created.get("event") != "created":
        raise RoomError(f"{path}:1: a room's log starts with a 'created' line")
    if created.get("format") != LOG_FORMAT:
        raise RoomError(
            f"{path}:1: log format {created.get('format')!r}; this version reads format "
            f"{LOG_FORMAT}"
        )
    fields = ("scenario", "content_hash", "seed", "code", "teacher_key")
    missing = [f for f in fields if f not in created]
    if missing:
        raise RoomError(f"{path}:1: the 'created' line lacks {', '.join(missing)}")
    scenario = _scenario_path(created["scenario"])
    now = cached_scenario(scenario).content_hash
    if now != created["content_hash"]:
        raise RoomError(
            f"{path}:1: the log was made with another content of {scenario} (content hash "
            f"{created['content_hash'][:12]} in the log, {now[:12]} in the file now): the "
            "world would not be the same. Restore the scenario as it was, or start a new room."
        )
    return created


def _scenario_path(scenario_file: str | Path) -> Path:
    path = Path(scenario_file).resolve()
    if not path.is_file():
        raise RoomError(f"{scenario_file}: no such scenario file")
    return path


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RoomError(f"the seed must be a whole number 0 or above, not {seed!r}")
    return int(seed)


def _code(code: str) -> str:
    text = str(code).strip().upper()
    if not (3 <= len(text) <= 12) or not text.isalnum() or not text.isascii():
        raise RoomError(f"a room code is 3 to 12 letters or digits, not {code!r}")
    return text


def _group_name(name) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise RoomError("type a name for your group")
    if len(text) > NAME_MAX:
        raise RoomError(
            f"a group name has at most {NAME_MAX} characters (this one has {len(text)})"
        )
    if not text.isprintable():
        raise RoomError("a group name can only hold printable characters")
    return text


def _round(value: float | None) -> float | None:
    """A number for JSON: rounded to 4 decimals (never ``-0.0``), ``None`` where
    undefined (None or NaN)."""
    return None if value is None or not math.isfinite(value) else round(float(value), 4) + 0.0


def _values(values) -> list[float | None]:
    """Numbers for JSON (:func:`_round`)."""
    return [_round(v) for v in values]
