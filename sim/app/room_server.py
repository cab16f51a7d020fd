"""The shared classroom world's server: one :class:`~sim.app.room.Room`, its pages, its
websocket.

Routes (nothing else is served, and no page asks anything of another host):

- ``/``: the students' page: join with the room code and a group name, then the card;
- ``/teacher?key=KEY``: the teacher's console; ``/projector?key=KEY``: the big screen;
- ``/log?key=KEY``: the session's log, to download;
- ``/ws``: the websocket every page talks through: JSON messages, each an object with a
  ``type`` and the fields :data:`MESSAGES` lists (anything else is answered with an error
  message and the connection stays open);
- ``/static/``: the pages' own scripts and styles (``sim/app/static/room/``).

One thread runs the room: every call into it goes there, in order, so the event loop stays
free to read messages and answer pings while a quarter or a debrief is computed. Each
version of the room (``room.version`` bumps on every change) is rendered once: the
projector's payload with its chart once, each group's card once, and the same text goes to
every page that shows it; a page is sent only what changed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import math
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sim.app import charts
from sim.errors import UserError

STATIC = Path(__file__).resolve().parent / "static" / "room"
#: The most pages connected at once (a class of 30 with phones, laptops and spares).
MAX_CLIENTS = 300
#: The largest message a page may send, in bytes (a group's moves take well under 1 KB).
MAX_MESSAGE = 8192
#: A page that has not taken a message within this many seconds is disconnected.
SEND_TIMEOUT = 10.0
#: Content-Security-Policy of every page: its own scripts and styles only; no other host.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

log = logging.getLogger(__name__)


# ---- messages from the pages --------------------------------------------------------


class BadMessage(Exception):
    """A message the server does not take; its text goes back to the page."""


def _text(limit: int):
    """A field: a non-empty string of at most ``limit`` characters, no control characters."""

    def check(value, name):
        if not isinstance(value, str):
            raise BadMessage(f"{name}: expected text")
        value = value.strip()
        if not value or len(value) > limit:
            raise BadMessage(f"{name}: expected 1 to {limit} characters")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise BadMessage(f"{name}: control characters are not allowed")
        return value

    return check


def _one_of(*choices: str):
    def check(value, name):
        if value not in choices:
            raise BadMessage(f"{name}: expected one of {', '.join(choices)}")
        return value

    return check


def _flag(value, name):
    if not isinstance(value, bool):
        raise BadMessage(f"{name}: expected true or false")
    return value


def _optional(check):
    def maybe(value, name):
        return None if value is None else check(value, name)

    return maybe


#: A group's move toward one partner.
MOVES = ("down", "stay", "up")
#: ``timer`` seconds per quarter: from a quick round to a long discussion.
TIMER_RANGE = (5, 3600)
_state_id, _token, _shock = _text(40), _text(200), _text(120)


def _moves(value, name):
    """``{partner id: "down" | "stay" | "up"}``, at most 100 partners (a partner not
    named stays)."""
    if not isinstance(value, dict) or len(value) > 100:
        raise BadMessage(f"{name}: expected an object of partner: move (at most 100)")
    move = _one_of(*MOVES)
    return {_state_id(k, f"{name} key"): move(v, f"{name}.{k}") for k, v in value.items()}


def _seconds(value, name):
    """Seconds per quarter, or null to stop the timer."""
    low, high = TIMER_RANGE
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadMessage(f"{name}: expected a number of seconds from {low} to {high}, or null")
    return float(value)


#: Every message a page may send: its type and its fields' checks.
MESSAGES = {
    "hello": {"view": _one_of("teacher", "projector"), "key": _token},
    "join": {"code": _text(20), "name": _text(40)},
    "rejoin": {"code": _text(20), "token": _token},
    "pick": {"state": _state_id},
    "choose": {"moves": _moves},
    "advance": {},
    "auto": {"on": _flag},
    "timer": {"seconds": _seconds},
    "fire": {"shock": _shock},
    "hold": {"shock": _shock},
    "assign": {"group": _text(20), "state": _state_id},
    "remove": {"group": _text(20)},
    "debrief": {"shock": _optional(_shock)},
}
#: What each kind of page may send (None: a page that has not signed in yet).
ALLOWED = {
    None: {"hello", "join", "rejoin"},
    "student": {"pick", "choose"},
    "teacher": {"advance", "auto", "timer", "fire", "hold", "assign", "remove", "debrief"},
    "projector": set(),
}


def parse_message(text: str, role: str | None) -> tuple[str, dict]:
    """The type and checked fields of one message from a page of ``role``.

    Raises :class:`BadMessage` for anything but a JSON object with a known ``type`` that
    this page may send and exactly that type's fields, each of the right kind.
    """
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise BadMessage("not a JSON message") from None
    if not isinstance(message, dict):
        raise BadMessage("expected a JSON object with a type")
    kind = message.pop("type", None)
    if not isinstance(kind, str) or kind not in MESSAGES:
        raise BadMessage(f"unknown message type {str(kind)[:40]!r}")
    if kind not in ALLOWED[role]:
        raise BadMessage(f"{kind!r} is not possible from this page now")
    fields = MESSAGES[kind]
    if set(message) != set(fields):
        missing, extra = sorted(set(fields) - set(message)), sorted(set(message) - set(fields))
        raise BadMessage(f"{kind}: missing fields {missing}, unexpected fields {extra}"[:200])
    return kind, {name: check(message[name], name) for name, check in fields.items()}


# ---- what the pages are sent ---------------------------------------------------------


def message(kind: str, body: dict) -> str:
    """A message to the pages as JSON text."""
    return json.dumps({"type": kind, **body}, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Wanted:
    """Which views some open page shows: the cards of these groups, the big screen."""

    cards: frozenset[str]
    screens: bool


@dataclass(frozen=True)
class Rendered:
    """One version of the room as messages: ``room`` for every student, ``status`` for the
    teacher, ``projector`` for the teacher and the projector, a ``card`` per group."""

    room: str
    status: str | None
    projector: str | None
    cards: dict[str, str]

    def for_client(self, role: str | None, token: str | None) -> list[tuple[str, str]]:
        """The messages a page of ``role`` (and group ``token``) shows, as (type, text)."""
        if role == "student":
            card = self.cards.get(token)
            return [("room", self.room), *([("card", card)] if card else [])]
        if role == "teacher":
            return [("status", self.status), ("projector", self.projector)]
        if role == "projector":
            return [("projector", self.projector)]
        return []


class Views:
    """The room's messages to the pages. Every method runs in the room's thread.

    The projector's message (its chart drawn once) and each group's card are built once
    per version of the room and kept for that version; the status and the students'
    shared ``room`` message are cheap and carry the timer, so they are built when sent.
    """

    def __init__(self, room):
        self.room = room
        self.ended = False  # the teacher pressed "End and debrief" (until an advance)
        self._kept: dict[tuple, tuple[tuple, object]] = {}  # key -> (version, built)

    def _once(self, key: tuple, build):
        """``build()`` for this version of the room, built at most once."""
        version = (self.room.version, self.ended)
        kept = self._kept.get(key)
        if kept is None or kept[0] != version:
            kept = (version, build())
            self._kept[key] = kept
        return kept[1]

    def render(self, wanted: Wanted, auto: bool, replay: bool) -> Rendered:
        """The messages of the room's current version for the pages open now."""
        cards = {}
        for token in wanted.cards:
            if token in self.room.groups:
                cards[token] = self._once(("card", token), lambda t=token: self._card(t))
        return Rendered(
            room=message("room", self._room_summary(replay)),
            status=message("status", self._status(auto, replay)) if wanted.screens else None,
            projector=self._once(("projector",), self._projector) if wanted.screens else None,
            cards=cards,
        )

    def _name(self, state: str | None) -> str | None:
        world = self.room.world
        return None if state is None else world.names[world.index(state)]

    def _held(self):
        return [g for g in self.room.groups.values() if g.state]

    def _room_summary(self, replay: bool) -> dict:
        room, held = self.room, self._held()
        return {
            "title": room.world.scenario.name,
            "quarter": room.model.period,
            "n_periods": room.world.n_periods,
            "free_states": [{"id": s, "name": self._name(s)} for s in room.free_states()],
            "groups": len(held),
            "chosen": sum(g.chosen for g in held),
            "timer_left": room.seconds_left(),
            "finished": room.finished or self.ended,
            "replay": replay,
        }

    def _card(self, token: str) -> str:
        card = self.room.card(token)
        card["summary"] = self._summary(card) if card["finished"] or self.ended else None
        card["finished"] = card["finished"] or self.ended
        return message("card", card)

    def _summary(self, card: dict) -> list[str]:
        """The end of the game for a group: its payoff beside its agent's, and how each
        tie went, start to end."""
        if card["state"] is None:
            return ["Your group did not play a state."]
        series = self._projector_data()["series"]["ties"]
        score = self.room.score(card["group"]["id"])
        lines = [
            f"Your payoff over the {_quarters(score['quarters'])} you played: "
            f"{score['points']:+.1f} points; the computer's agent, in the same world and the "
            f"same quarters: {score['agent_points']:+.1f} points."
        ]
        for s in series:
            if s["state"] == card["state"] and s["values"] and s["values"][0] is not None:
                first, last = charts.signed(s["values"][0]), charts.signed(s["values"][-1])
                went = f"stayed at {first}" if first == last else f"went from {first} to {last}"
                lines.append(f"Your tie to {s['name']} {went}.")
        return lines

    def _status(self, auto: bool, replay: bool) -> dict:
        status = self.room.status()
        held = [g for g in status["groups"] if g["state"]]
        status.update(
            auto=auto,
            replay=replay,
            ended=self.ended,
            chosen=sum(g["chosen"] for g in held),
            playing=len(held),
            free_states=[{"id": s, "name": self._name(s)} for s in status["free_states"]],
            shocks=[_shock_row(k, status["finished"]) for k in status["shocks"]],
        )
        return status

    def _projector_data(self) -> dict:
        return self._once(("projector data",), self.room.projector)

    def _projector(self) -> str:
        p = self._projector_data()
        lines = self._world_lines(p)
        body = {
            "title": p["title"],
            "quarter": p["quarter"],
            "n_periods": p["n_periods"],
            "date": p["date"],
            "finished": p["finished"] or self.ended,
            "chart": self._world_chart(p, lines),
            "table": charts.data_table(lines, caption="Alignment index of every state"),
            "events": p["events"],
            "groups": [
                {"name": g["name"], "state_name": self._name(g["state"]), "chosen": g["chosen"]}
                for g in p["groups"]
            ],
        }
        return message("projector", body)

    def _world_lines(self, p: dict) -> list:
        played = {g["state"]: g["name"] for g in p["groups"] if g["state"]}
        dates = p["series"]["dates"]
        return [
            charts.Line(
                f"{a['name']} (group {played[a['state']]})" if a["state"] in played
                else a["name"],
                dates,
                a["values"],
                style=k,
                width=4.0 if a["state"] in played else 2.5,
            )
            for k, a in enumerate(p["series"]["alignment"])
        ]  # fmt: skip

    def _world_chart(self, p: dict, lines: list) -> str:
        world = self.room.world
        axis = world.scenario.spec.alignment_axis
        where = f": toward {axis.toward} (+) or {axis.away} (\u2212)" if axis else ""
        start, end = world.date(0), world.date(world.n_periods)
        return charts.line_chart(
            lines,
            title=f"The world after {p['quarter']} of {p['n_periods']} quarters: alignment "
            "index of every state",
            y_label=f"alignment index{where}",
            x_range=(start, end),
            y_range=_span(a["values"] for a in p["series"]["alignment"]),
            events=[charts.Event(e["date"], e["label"], e["number"]) for e in p["events"]],
            now=p["date"],
        )

    # ---- groups and connections ---------------------------------------------------

    def group_of(self, token: str):
        """The group that holds ``token`` (a page coming back), or BadMessage."""
        if token not in self.room.groups:
            raise BadMessage(
                "your group is not in the room any more (the teacher may have removed it, "
                "or the room was restarted): join again"
            )
        return self.room.join(token=token)

    def set_connected(self, token: str, pages: int) -> None:
        """Show a group as connected while one of its pages is open."""
        group = self.room.groups.get(token)
        if group is not None and group.connected != (pages > 0):
            self.room.mark_connected(token, pages > 0)

    def advance_if_ready(self) -> None:
        """Advance when every group that plays has chosen (and one has). Checked and done
        in one call of the room's thread, so choices that arrive together advance once."""
        if any(g.chosen for g in self._held()) and self.room.all_chosen():
            self.room.advance()

    def remove(self, group_id: str) -> str:
        """The teacher removes a group (by its public id); returns its token."""
        token = next((t for t, g in self.room.groups.items() if g.id == group_id), group_id)
        self.room.leave(token)
        return token

    def pick(self, token: str, state: str) -> None:
        """A group without a state takes a free one (the teacher can change it later)."""
        group = self.room.groups.get(token)
        if group is not None and group.state is not None:
            raise BadMessage("your group plays a state already (the teacher can change it)")
        self.room.assign(token, state)

    def debrief(self, shock: str | None) -> str:
        """The debrief's message, built once per version and shock (it runs many seeds)."""
        return self._once(("debrief", shock), lambda: message("debrief", self._debrief(shock)))

    def _debrief(self, shock: str | None) -> dict:
        d = self.room.debrief(shock)
        world = self.room.world
        whole = (world.date(0), world.date(world.n_periods))
        return {
            "paths": [{"chart": _path_chart(g)} for g in d["groups"]],
            "totals": [
                {
                    "group": g["name"],
                    "state_name": g["state_name"],
                    "points": g["total_payoff"],
                    "agent_points": g["agent_total_payoff"],
                }
                for g in d["groups"]
            ],
            "compare": _comparison(d["comparison"], self._name, whole),
        }


def _shock_row(shock: dict, finished: bool) -> dict:
    """A shock as the console lists it, with what the teacher can do to it now."""
    when = shock["date"] or f"chance {shock['chance'] * 100:.0f}% a quarter"
    to_come = shock["status"] in ("scheduled", "possible")
    return {
        **shock,
        "when": when,
        "can_fire": not finished and (to_come or shock["status"] == "held"),
        "can_hold": not finished and (to_come or shock["status"] == "fired by the teacher"),
    }


def _span(series) -> tuple[float, float]:
    """A y range for the alignment index: -1 to 1, widened by half steps to hold every
    value (the index runs from -2 to 2)."""
    values = [v for values in series for v in values if v is not None]
    low = min([-1.0, *values])
    high = max([1.0, *values])
    return (max(-2.0, math.floor(low * 2) / 2), min(2.0, math.ceil(high * 2) / 2))


#: How many partners a group's debrief chart shows: those where it and the computer
#: ended furthest apart.
PATH_PARTNERS = 3


def _path_chart(group: dict) -> str:
    """A group's ties beside its computer agent's over the quarters played, for the
    partners where they ended furthest apart: a partner's two lines share a colour, the
    group's solid and the computer's dash-dot (charts' styles k and k + 7)."""
    path, agent = group["path"], group["agent_path"]
    dates = path["dates"]

    def gap(partner: str) -> float:
        a, b = path["ties"][partner][-1], agent["ties"][partner][-1]
        return abs(a - b) if a is not None and b is not None else 0.0

    partners = sorted(path["ties"], key=gap, reverse=True)[:PATH_PARTNERS]
    lines = []
    for k, p in enumerate(partners):
        lines.append(charts.Line(f"to {p}: group", path["dates"], path["ties"][p], style=k))
        lines.append(
            charts.Line(f"to {p}: computer", agent["dates"], agent["ties"][p], style=k + 7)
        )
    return charts.line_chart(
        lines,
        title=f"{group['state_name']}: group {group['name']} beside the computer",
        y_label="tie (-1 to +1)",
        x_range=(dates[0], dates[-1]),
    )


def _comparison(c: dict | None, name, x_range) -> dict | None:
    """With and without a shock: computer-played runs of this seed, the 5-95% bands over
    many seeds, and the mean paired difference at the end."""
    if c is None:
        return None
    bands = c["bands"]
    band_lines = [
        charts.Band(bands["dates"], bands[w]["q05"], bands[w]["q95"], style=k,
                    label=f"{w}: 90% of seeds")
        for k, w in enumerate(("with", "without")) if w in bands
    ]  # fmt: skip
    lines = [
        charts.Line(f"with {c['shock']}", c["dates"], c["with"], style=0),
        charts.Line("without", c["dates"], c["without"], style=1),
    ]
    d = c["difference"]
    summary = (
        f"Both worlds are played by the computer (every state an agent). Mean paired "
        f"difference in {name(c['state'])}'s alignment index on {d['date']}, with minus "
        f"without, over {d['seeds']} seeds: {charts.signed(d['mean'])} (95% interval "
        f"{charts.signed(d['ci_low'])} to {charts.signed(d['ci_high'])})."
    )
    chart = charts.line_chart(
        lines,
        title=f"With and without: {c['shock']}",
        y_label=f"{name(c['state'])}'s alignment index",
        x_range=x_range,
        y_range=_span([c["with"], c["without"], *(b.low for b in band_lines),
                       *(b.high for b in band_lines)]),
        bands=band_lines,
    )  # fmt: skip
    return {"label": c["shock"], "summary": summary, "chart": chart}


@dataclass(eq=False)
class Client:
    """One connected page: its websocket, who it is, and its outbox.

    Messages are posted, never awaited: the page's own writer (:meth:`write_forever`)
    sends them, so a slow phone holds up nobody else. The outbox keeps the latest message
    of each type (a card that changed twice before it left goes once, as it is now), and
    a message the page already has is not sent again.
    """

    websocket: object
    role: str | None = None  # None until it signs in: "student", "teacher" or "projector"
    token: str | None = None  # a student's group
    sent: dict[str, str] = field(default_factory=dict)  # message type -> text it has
    outbox: dict[str, str] = field(default_factory=dict)  # message type -> text to send
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def post(self, kind: str, text: str | None, *, always: bool = False) -> None:
        """Queue ``text`` (a message of type ``kind``) unless the page has it already."""
        if text is None or (not always and self.outbox.get(kind, self.sent.get(kind)) == text):
            return
        self.outbox[kind] = text
        self.wake.set()

    def say(self, kind: str, text: str) -> None:
        """A one-off message (an error, a notice) with a ``message`` text."""
        self.post(kind, message(kind, {"message": text}), always=True)

    async def write_forever(self) -> None:
        """Send the outbox, oldest type first; a page that takes no message within
        :data:`SEND_TIMEOUT` seconds is closed."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.outbox:
                kind = next(iter(self.outbox))
                text = self.outbox.pop(kind)
                await asyncio.wait_for(self.websocket.send_text(text), SEND_TIMEOUT)
                self.sent[kind] = text


#: What the teacher may do in a replay (the rest would change the world).
REPLAY_TEACHER = {"debrief"}


class Hub:
    """The room, its connected pages, and the pushing of each new version to them."""

    def __init__(self, room, *, urls: dict[str, str], replay: bool = False):
        self.room = room
        self.urls = urls
        self.replay = replay
        self.auto_advance = False
        self.clients: set[Client] = set()
        self.views = Views(room)
        self.views.ended = replay
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="room")
        self._publishing = asyncio.Lock()
        self._published = -1
        self._debrief: asyncio.Task | None = None

    async def call(self, fn, *args, **kwargs):
        """Run ``fn`` in the room's thread (every room call goes there, one at a time)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(*args, **kwargs))

    # ---- pushing ----------------------------------------------------------------

    async def publish(self, *, force: bool = False) -> None:
        """Render the room's current version once and send each page what changed."""
        async with self._publishing:
            if self.room.version == self._published and not force:
                return
            self._published = self.room.version
            clients = list(self.clients)
            texts = await self._render(clients)
            for client in clients:
                self._push(client, texts)

    async def _render(self, clients) -> Rendered:
        cards = {c.token for c in clients if c.role == "student" and c.token}
        screens = any(c.role in ("teacher", "projector") for c in clients)
        wanted = Wanted(cards=frozenset(cards), screens=screens)
        return await self.call(self.views.render, wanted, self.auto_advance, self.replay)

    @staticmethod
    def _push(client: Client, texts: Rendered) -> None:
        for kind, text in texts.for_client(client.role, client.token):
            client.post(kind, text)

    async def drop(self, client: Client) -> None:
        """Forget a page; a group with no page left is shown as disconnected."""
        self.clients.discard(client)
        if client.role == "student" and client.token:
            await self.call(self.views.set_connected, client.token, self._pages_of(client.token))
            await self.publish()

    def _pages_of(self, token: str) -> int:
        return sum(1 for c in self.clients if c.role == "student" and c.token == token)

    # ---- the timer --------------------------------------------------------------

    async def tick_forever(self) -> None:
        """Call ``room.tick()`` every second (the teacher's timer) and push changes."""
        while True:
            await asyncio.sleep(1.0)
            try:
                if not self.replay:
                    await self.call(self.room.tick)
                await self.publish()
            except UserError as exc:  # a refused advance: say so, keep the timer going
                log.warning("the timer could not advance: %s", exc)
            except Exception:  # a bug: its traceback in the log, and the timer goes on
                log.exception("the room's timer failed")

    # ---- messages ---------------------------------------------------------------

    async def handle(self, client: Client, text: str) -> None:
        """Act on one message from ``client``; bad input gets an error message back."""
        try:
            kind, fields = parse_message(text, client.role)
            await self._act(client, kind, fields)
        except (BadMessage, UserError) as exc:  # UserError: the room's RoomError
            client.say("error", str(exc))
        await self.publish()

    async def _act(self, client: Client, kind: str, fields: dict) -> None:
        if client.role is None:
            await self._sign_in(client, kind, fields)
            self._push(client, await self._render([client]))
        elif client.role == "student":
            await self._student(client, kind, fields)
        elif client.role == "teacher":
            if self.replay and kind not in REPLAY_TEACHER:
                raise BadMessage("this is a replay of a saved session: it cannot be changed")
            await self._teacher(kind, fields)

    async def _sign_in(self, client: Client, kind: str, fields: dict) -> None:
        if kind == "hello":
            if not same_secret(fields["key"], self.room.teacher_key):
                raise BadMessage("wrong teacher key: open the address the server printed")
            client.role = fields["view"]
            client.post("welcome", message("welcome", {**self.urls, "replay": self.replay}))
            return
        if not same_secret(fields["code"].upper(), self.room.code):
            raise BadMessage("wrong room code: check the code on the projector and try again")
        if self.replay:
            raise BadMessage("this is a replay of a finished session: joining is closed")
        if kind == "join":
            group = await self.call(self.room.join, fields["name"])
        else:
            group = await self.call(self.views.group_of, fields["token"])
        client.role, client.token = "student", group.token
        welcome = {"token": group.token, "name": group.name, "code": self.room.code}
        client.post("welcome", message("welcome", welcome), always=True)
        await self.call(self.views.set_connected, group.token, self._pages_of(group.token))

    async def _student(self, client: Client, kind: str, fields: dict) -> None:
        if kind == "pick":
            await self.call(self.views.pick, client.token, fields["state"])
        elif kind == "choose":
            if self.views.ended:
                raise BadMessage("the teacher has ended the game")
            await self.call(self.room.choose, client.token, fields["moves"])
            await self._advance_if_everyone_chose()

    async def _teacher(self, kind: str, fields: dict) -> None:
        room = self.room
        if kind == "advance":
            await self._advance()
        elif kind == "auto":
            self.auto_advance = fields["on"]
            await self._advance_if_everyone_chose()
            await self.publish(force=True)
        elif kind == "timer":
            await self.call(room.set_timer, fields["seconds"])
        elif kind in ("fire", "hold"):
            await self.call(getattr(room, kind), fields["shock"])
        elif kind == "assign":
            await self.call(room.assign, fields["group"], fields["state"])
        elif kind == "remove":
            await self._remove(fields["group"])
        elif kind == "debrief":
            await self._end_and_debrief(fields["shock"])

    async def _advance(self) -> None:
        self.views.ended = False  # advancing after a debrief plays on
        await self.call(self.room.advance)

    async def _advance_if_everyone_chose(self) -> None:
        if self.auto_advance and not self.views.ended:
            await self.call(self.views.advance_if_ready)

    async def _remove(self, group_id: str) -> None:
        token = await self.call(self.views.remove, group_id)
        for c in [c for c in self.clients if c.token == token]:
            c.role, c.token = None, None
            c.say("removed", "The teacher removed your group from the room.")

    async def _end_and_debrief(self, shock: str | None) -> None:
        """End the game (the timer stops; students see their summary) and compute the
        debrief without holding up the teacher's page (it runs many seeds)."""
        if self._debrief is not None and not self._debrief.done():
            raise BadMessage("the debrief is being computed: wait for it")
        if self.room.model.period == 0:
            raise BadMessage("play a quarter first: there is nothing to debrief yet")
        if not self.replay:
            await self.call(self.room.set_timer, None)
        self.auto_advance = False
        self.views.ended = True
        await self.publish(force=True)
        self._debrief = asyncio.create_task(self._send_debrief(shock))

    async def _send_debrief(self, shock: str | None) -> None:
        teachers = [c for c in self.clients if c.role == "teacher"]
        for c in teachers:
            c.say("busy", "Computing the debrief (it runs many seeds)…")
        try:
            text = await self.call(self.views.debrief, shock)
        except UserError as exc:
            text = message("error", {"message": str(exc)})
        except Exception:
            log.exception("the debrief failed")
            text = message("error", {"message": "the debrief failed (see the server's log)"})
        for c in [c for c in self.clients if c.role == "teacher"]:
            c.post("debrief", text, always=True)


# ---- HTTP ---------------------------------------------------------------------------


def _page(name: str):
    from starlette.responses import FileResponse

    return FileResponse(
        STATIC / name,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


def refusal(title: str, text: str, status: int = 403):
    """A plain page that says why (a wrong key, a missing log), never a traceback."""
    from starlette.responses import HTMLResponse

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="/static/room.css">'
        f'</head><body><main class="narrow"><h1>{html.escape(title)}</h1>'
        f"<p>{html.escape(text)}</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP})


def same_secret(given: str, secret: str) -> bool:
    """``given`` is ``secret``, compared in constant time (any text, not only ASCII)."""
    return secrets.compare_digest(given.encode(), secret.encode())


def _key_ok(hub: Hub, request) -> bool:
    return same_secret(request.query_params.get("key", ""), hub.room.teacher_key)


WRONG_KEY = (
    "This page needs the teacher's key: open the address that `multivector classroom` "
    "printed when it started (it ends in ?key=...)."
)


def build_app(hub: Hub):
    """The Starlette app of one room."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    async def student(request):
        return _page("index.html")

    def keyed(name: str):
        async def page(request):
            if not _key_ok(hub, request):
                return refusal("Wrong or missing key", WRONG_KEY)
            return _page(name)

        return page

    async def download_log(request):
        if not _key_ok(hub, request):
            return refusal("Wrong or missing key", WRONG_KEY)
        lines = await hub.call(hub.room.log_lines)
        name = f"classroom-{hub.room.code}.jsonl"
        return Response(
            "".join(line + "\n" for line in lines),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def websocket(ws):
        await serve_websocket(hub, ws)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        ticker = asyncio.create_task(hub.tick_forever())
        yield
        ticker.cancel()

    return Starlette(
        routes=[
            Route("/", student),
            Route("/teacher", keyed("teacher.html")),
            Route("/projector", keyed("projector.html")),
            Route("/log", download_log),
            WebSocketRoute("/ws", websocket),
            Mount("/static", StaticFiles(directory=STATIC, follow_symlink=False)),
        ],
        lifespan=lifespan,
    )


async def serve_websocket(hub: Hub, ws) -> None:
    """One page's websocket: accept it (same origin only, while there is room), then
    handle its messages until it closes."""
    if not _same_origin(ws.headers) or len(hub.clients) >= MAX_CLIENTS:
        await ws.close(1008)
        return
    await ws.accept()
    client = Client(ws)
    hub.clients.add(client)
    writer = asyncio.create_task(_write(client))
    try:
        while True:
            received = await ws.receive()
            if received["type"] == "websocket.disconnect":
                break
            text = received.get("text")
            if text is None or len(text.encode()) > MAX_MESSAGE:
                client.say("error", f"messages are JSON text of {MAX_MESSAGE} bytes at most")
                continue
            await hub.handle(client, text)
    except Exception as exc:  # a page that went away mid-send, or a bug: log it, go on
        log.info("a page's websocket ended: %s", type(exc).__name__)
    finally:
        writer.cancel()
        await hub.drop(client)


async def _write(client: Client) -> None:
    """The page's writer; if it fails (a page that takes nothing), the page is closed,
    which ends its reader too."""
    try:
        await client.write_forever()
    except Exception as exc:
        log.info("closing a page that takes no messages: %s", type(exc).__name__)
        with contextlib.suppress(Exception):
            await client.websocket.close(1011)


def _same_origin(headers) -> bool:
    """A websocket from our own pages (or from a client that sends no Origin)."""
    from urllib.parse import urlparse

    origin = headers.get("origin")
    return origin is None or urlparse(origin).netloc == headers.get("host")


#: uvicorn's websocket keepalive: a ping every 20 s, closed if unanswered 20 s later (a
#: phone that left the room shows as disconnected within a minute). Our handler reads
#: every message at once (a debrief runs as a task), so a busy room does not miss pongs.
WS_PING_INTERVAL = WS_PING_TIMEOUT = 20.0


def server_for(room, host: str, port: int, *, urls: dict[str, str], replay: bool = False):
    """A uvicorn server of ``room`` on ``host:port`` (not started)."""
    import uvicorn

    hub = Hub(room, urls=urls, replay=replay)
    config = uvicorn.Config(
        build_app(hub),
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        ws_max_size=4 * MAX_MESSAGE,
        ws_ping_interval=WS_PING_INTERVAL,
        ws_ping_timeout=WS_PING_TIMEOUT,
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)


def serve(room, host: str, port: int, *, urls: dict[str, str], replay: bool = False) -> None:
    """Serve ``room`` on ``host:port`` until interrupted (Ctrl-C)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    server = server_for(room, host, port, urls=urls, replay=replay)
    server.run()
    if not server.started:
        raise UserError(f"--host {host} --port {port}: the server could not start there")


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.app.room_server``: the ``multivector classroom`` command."""
    from sim.tools import cli_classroom

    return cli_classroom.main(argv)


if __name__ == "__main__":
    sys.exit(main())


def _quarters(n: int) -> str:
    return "1 quarter" if n == 1 else f"{n} quarters"
