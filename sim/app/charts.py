"""Charts for the classroom pages, drawn as inline SVG strings straight from the data.

The dashboard and the shared classroom world show a chart at every step, to a room
reading it from a projector. Drawing them here, in plain Python, takes a few
milliseconds (no matplotlib figure on the server) and lets every chart meet the same
rules:

- legible from the back of the room: every text at least 14.5 user units (12 px or
  more when a 960-wide chart is shown 795 px wide or wider), titles 17;
- colour-blind safe: the Okabe-Ito palette (Okabe and Ito 2008, *Color Universal
  Design*), each colour paired with a dash pattern as a second cue, and each line
  labelled at its right end instead of in a legend;
- accessible: ``role="img"`` with a ``<title>`` and a generated ``<desc>`` (first and
  last value of every line, the events with their dates), contrast to WCAG 2.1 AA
  (4.5:1 for text, 3:1 for lines), and :func:`data_table` as a table alternative.

Every function is pure and deterministic: the same data give the same string, and a
chart's element ids come from a hash of its content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FONT = "system-ui, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"
TEXT_SIZE = 14.5  # user units: the smallest text (12 px when 960 units show in 795 px)
TITLE_SIZE = 17
INK = "#1a1a1a"  # text
MUTED = "#4d4d4d"  # axis text and event marks (7.6:1 on white)
GRID = "#d9d9d9"
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


# --- colour -------------------------------------------------------------------------


def _rgb(colour: str) -> tuple[float, float, float]:
    """An "#rrggbb" colour as sRGB channels in [0, 1]."""
    h = colour.lstrip("#")
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02x}" for c in rgb)


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of an "#rrggbb" colour (0 black, 1 white)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in _rgb(colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str = "#ffffff") -> float:
    """WCAG 2.1 contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def darken(colour: str, ratio: float) -> str:
    """The colour, scaled toward black just enough to reach ``ratio`` against white."""
    rgb = _rgb(colour)
    if contrast(colour) >= ratio:
        return colour
    low, high = 0.0, 1.0  # scale factors: low always reaches the ratio
    for _ in range(30):
        mid = (low + high) / 2
        if contrast(_hex([c * mid for c in rgb])) >= ratio:
            low = mid
        else:
            high = mid
    return _hex([c * low for c in rgb])


@dataclass(frozen=True)
class Style:
    """How one line is drawn: a colour, a dash pattern, and the colour of its label.

    ``colour`` has at least 3:1 contrast on white (WCAG non-text contrast); ``text`` is
    the same hue dark enough for text (4.5:1); ``dash`` is an SVG stroke-dasharray
    ("" for solid); ``name`` says both cues in words ("orange, dotted").
    """

    colour: str
    dash: str
    name: str
    text: str


# Okabe-Ito without its yellow (too light for lines on white), strongest colours first.
_PALETTE = (
    ("blue", "#0072B2"),
    ("vermillion", "#D55E00"),
    ("bluish green", "#009E73"),
    ("reddish purple", "#CC79A7"),
    ("sky blue", "#56B4E9"),
    ("orange", "#E69F00"),
    ("black", "#000000"),
)
_DASHES = (("solid", ""), ("long dashes", "11 5"), ("dotted", "3 4"), ("dash-dot", "12 4 3 4"))


def _styles() -> tuple[Style, ...]:
    """Every colour with every dash (7 x 4 = 28): style i takes colour i mod 7 and dash
    i mod 4, so neighbours differ in both and no two of the first 28 are alike."""
    n = len(_PALETTE) * len(_DASHES)
    out = []
    for i in range(n):
        name, colour = _PALETTE[i % len(_PALETTE)]
        dash_name, dash = _DASHES[i % len(_DASHES)]
        out.append(Style(darken(colour, 3.0), dash, f"{name}, {dash_name}", darken(colour, 4.5)))
    return tuple(out)


STYLES: tuple[Style, ...] = _styles()


def style(index: int) -> Style:
    """The style at ``index``, wrapping around after the last."""
    return STYLES[index % len(STYLES)]


# --- data -------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One series: ``y`` against dates ``x``; NaN in ``y`` breaks the line.

    ``style`` indexes :data:`STYLES`; ``markers`` are indices of points to ring (such
    as moves taken against the odds).
    """

    label: str
    x: Sequence
    y: Sequence[float]
    style: int = 0
    width: float = 2.5
    markers: Sequence[int] = ()


@dataclass(frozen=True)
class Band:
    """A shaded range from ``low`` to ``high`` (such as a 90% band over seeds), drawn
    beneath the lines; NaN breaks it."""

    x: Sequence
    low: Sequence[float]
    high: Sequence[float]
    style: int = 0
    opacity: float = 0.18
    label: str = ""


@dataclass(frozen=True)
class Event:
    """A dated event (a shock), marked on the chart by a numbered circle and listed in
    the key; without a ``number`` it takes the next free one in date order."""

    date: object
    label: str
    number: int | None = None


def day(value) -> float:
    """A date as a day number (proleptic Gregorian ordinal; NaN for a missing date).

    Accepts ``datetime.date``/``datetime``, pandas ``Timestamp``, numpy ``datetime64``
    and ISO strings ("2022-02-24"); anything else is a ``ValueError``.
    """
    if isinstance(value, dt.datetime):
        if value != value:  # pandas NaT
            return math.nan
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return value.toordinal() + seconds / 86400
    if isinstance(value, dt.date):
        return float(value.toordinal())
    if isinstance(value, np.datetime64):
        return _days_array(np.asarray([value]))[0]
    if isinstance(value, str):
        try:
            return day(dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise ValueError(f"cannot read {value!r} as a date: give a date or an ISO string")


def _days_array(values: np.ndarray) -> np.ndarray:
    """Day numbers of a datetime64 array (NaN where NaT)."""
    seconds = values.astype("datetime64[s]")
    out = seconds.astype(np.int64) / 86400 + EPOCH_ORDINAL
    return np.where(np.isnat(seconds), np.nan, out)


def days(values: Sequence) -> np.ndarray:
    """Day numbers of a sequence of dates (see :func:`day`)."""
    array = np.asarray(values)
    if array.dtype.kind == "M":
        return _days_array(array)
    return np.array([day(v) for v in array.ravel()], dtype=float)


def iso(day_number: float) -> str:
    """The ISO date of a day number."""
    return dt.date.fromordinal(int(math.floor(day_number))).isoformat()


def signed(value: float, digits: int = 2) -> str:
    """A value with its sign, as students read it: "+0.45", "−0.30" (a true minus
    sign, wider than a hyphen), "0.00"; "n/a" when missing."""
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "\u2212") + text


def _floats(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=float).ravel()


# --- text -------------------------------------------------------------------------

_EM_WIDTHS = (  # character widths in DejaVu Sans, in em, rounded up
    (set("iIjlft.,:;|!'()[] "), 0.36),
    (set("<>=+~^&#"), 0.86),
    (set("mwMW@%"), 0.92),
)


def text_width(text: str, size: float = TEXT_SIZE, bold: bool = False) -> float:
    """A generous estimate of the width of ``text`` in user units, in DejaVu Sans (the
    widest of the fonts in :data:`FONT`, and Debian's), for layout without a browser."""
    units = 0.0
    for ch in text:
        width = next((w for chars, w in _EM_WIDTHS if ch in chars), None)
        if width is None:
            width = 0.7 if ch.isupper() or ch.isdigit() else 0.6
        units += width
    return units * size * (1.13 if bold else 1.0)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(v: float) -> str:
    """A coordinate, rounded to 0.1 user unit."""
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(x, y, content, *, size=TEXT_SIZE, fill=INK, anchor="start", extra="") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" fill="{fill}"'
        f' text-anchor="{anchor}"{extra}>{_esc(content)}</text>'
    )


def _svg(chart_id: str, width: float, height: float, title: str, desc: str, body: str) -> str:
    """The standalone, labelled SVG element around ``body``."""
    w, h = _num(width), _num(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%"'
        f' style="max-width:{w}px;height:auto" role="img"'
        f' aria-labelledby="{chart_id}-t {chart_id}-d" font-family="{_esc(FONT)}">'
        f'<title id="{chart_id}-t">{_esc(title)}</title>'
        f'<desc id="{chart_id}-d">{_esc(desc)}</desc>'
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>{body}</svg>'
    )


def _chart_id(kind: str, *parts: str) -> str:
    """A stable id from the chart's content, so that equal input gives an equal string."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:10]
    return f"mv-{kind}-{digest}"


# --- line chart: layout -----------------------------------------------------------

LABEL_HEIGHT = 18  # vertical room for one line-end label
LABEL_GAP = 8  # from the end of the lines to the labels
EVENT_RADIUS = 13
EVENT_ROW = 29  # height of a row of event circles
EVENT_ROWS = 3  # circles stagger over at most this many rows
KEY_ROW = 28  # height of a row of the event key
PLOT_TOP = 56  # below the title and the y-axis label


@dataclass(frozen=True)
class Plot:
    """The plot area in user units and the data it spans (x in day numbers)."""

    left: float
    top: float
    right: float
    bottom: float
    x0: float
    x1: float
    y0: float
    y1: float

    def sx(self, d):
        """Horizontal position of day number(s) ``d``."""
        return self.left + (d - self.x0) * (self.right - self.left) / (self.x1 - self.x0)

    def sy(self, v):
        """Vertical position of value(s) ``v``."""
        return self.bottom - (v - self.y0) * (self.bottom - self.top) / (self.y1 - self.y0)

    def contains(self, x: float, y: float, slack: float = 1e-6) -> bool:
        return (
            self.left - slack <= x <= self.right + slack
            and self.top - slack <= y <= self.bottom + slack
        )


@dataclass(frozen=True)
class LabelBox:
    """A line-end label as laid out: its text box (``x`` left edge, ``y`` centre) and
    the end of the line it names (``anchor_x``, ``anchor_y``)."""

    label: str
    style: int
    x: float
    y: float
    width: float
    height: float
    anchor_x: float
    anchor_y: float

    @property
    def moved(self) -> bool:
        """Whether the label sits away from its line's end (then a leader joins them)."""
        return abs(self.y - self.anchor_y) > 2 or self.x - self.anchor_x > LABEL_GAP + 2


@dataclass(frozen=True)
class EventMark:
    """An event as laid out: its date's position ``x``, its numbered circle at (``x``,
    ``cy``) above the plot, and its entry in the key (``key_x``, ``key_y``: the key
    circle's centre)."""

    number: int
    label: str
    day: float
    x: float
    cy: float
    key_x: float
    key_y: float

    @property
    def key_text(self) -> str:
        return f"{iso(self.day)}  {self.label}"


@dataclass(frozen=True)
class Layout:
    """Where everything of a line chart goes: the SVG size (the event key adds rows
    under the requested height), the plot area, the line-end labels, the events."""

    width: float
    height: float
    plot: Plot
    labels: tuple[LabelBox, ...]
    events: tuple[EventMark, ...]
    y_ticks: tuple[float, ...]
    x_ticks: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class _Series:
    """A line's data as day numbers and floats."""

    line: Line
    x: np.ndarray
    y: np.ndarray

    def last_point(self, x1: float) -> tuple[float, float] | None:
        """The last finite point on or before day ``x1``."""
        ok = np.isfinite(self.x) & np.isfinite(self.y) & (self.x <= x1)
        if not ok.any():
            return None
        i = int(np.flatnonzero(ok)[-1])
        return float(self.x[i]), float(self.y[i])


def _series(lines: Sequence[Line]) -> list[_Series]:
    out = []
    for line in lines:
        x, y = days(line.x), _floats(line.y)
        if len(x) != len(y):
            raise ValueError(f"line {line.label!r}: {len(x)} dates but {len(y)} values")
        out.append(_Series(line, x, y))
    return out


def _range(pair, what: str, convert=float) -> tuple[float, float]:
    low, high = (convert(v) for v in pair)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{what} must run from a smaller to a larger value, got {pair!r}")
    return low, high


def nice_ticks(low: float, high: float, count: int = 4) -> tuple[float, ...]:
    """Round tick values covering [low, high] in about ``count`` steps of 1, 2, 2.5 or 5
    times a power of ten: (-1, 1) gives -1, -0.5, 0, 0.5, 1."""
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return tuple(round(k * step, 12) for k in range(first, last + 1))


def tick_text(value: float, ticks: Sequence[float]) -> str:
    """A tick label with no more decimals than the ticks need and no trailing zeros
    ("−0.5", "0", "1")."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = next(d for d in range(8) if abs(round(step, d) - step) < 1e-9 * max(1, step))
    text = f"{abs(value):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("\u2212" if value < 0 and float(text) != 0 else "") + text


def year_ticks(plot: Plot) -> tuple[tuple[float, str], ...]:
    """1 January of every year in the plot, or of every 2nd, 5th or 10th year when the
    labels would crowd; the first and last dates when no new year falls inside."""
    first = dt.date.fromordinal(int(math.ceil(plot.x0))).year
    last = dt.date.fromordinal(int(math.floor(plot.x1))).year
    years = [
        y for y in range(first, last + 1) if plot.x0 <= dt.date(y, 1, 1).toordinal() <= plot.x1
    ]
    if len(years) < 2:
        return ((plot.x0, iso(plot.x0)), (plot.x1, iso(plot.x1)))
    room = text_width("2000") + 16
    per_year = (plot.right - plot.left) * 365.25 / (plot.x1 - plot.x0)
    every = next((s for s in (1, 2, 5, 10, 20, 50) if per_year * s >= room), 100)
    return tuple((float(dt.date(y, 1, 1).toordinal()), str(y)) for y in years if y % every == 0)


def _numbered(events: Sequence[Event]) -> list[tuple[int, float, str]]:
    """(number, day, label) of every event in date order; an event without a number
    takes the next one after the largest number used so far."""
    dated = sorted(((day(e.date), i, e) for i, e in enumerate(events)), key=lambda t: t[:2])
    missing = [e.label for d, _, e in dated if not math.isfinite(d)]
    if missing:
        raise ValueError(f"event {missing[0]!r} has no date")
    used = max((e.number for e in events if e.number is not None), default=0)
    out = []
    for d, _, e in dated:
        if e.number is None:
            used += 1
        out.append((e.number if e.number is not None else used, d, e.label))
    return out


def _stagger(xs: Sequence[float]) -> list[int]:
    """The row of each event circle (xs in increasing order): the first row where it
    clears the circle before it, or the row with the most room when none does."""
    ends = [-math.inf] * EVENT_ROWS
    rows = []
    for x in xs:
        clear = [r for r in range(EVENT_ROWS) if x - ends[r] >= 2 * EVENT_RADIUS + 3]
        row = clear[0] if clear else min(range(EVENT_ROWS), key=lambda r: ends[r])
        ends[row] = x
        rows.append(row)
    return rows


def spread(wanted: Sequence[float], gap: float, low: float, high: float) -> list[float]:
    """Positions as close as possible (least squares) to ``wanted`` (ascending) with at
    least ``gap`` between neighbours, kept within [low, high] when they fit.

    With ``w_i = y_i - i * gap`` the spacing rule says the ``w`` never decrease, so the
    answer is an isotonic regression (pool adjacent violators), then clipped to bounds.
    """
    blocks: list[list[float]] = []  # [sum, count] of pooled w
    for i, y in enumerate(wanted):
        blocks.append([y - i * gap, 1])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] > blocks[-1][0] * blocks[-2][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    fitted = [total / count for total, count in blocks for _ in range(int(count))]
    last = max(low, high - (len(wanted) - 1) * gap)  # highest start that still fits
    return [min(max(w, low), last) + i * gap for i, w in enumerate(fitted)]


def _label_boxes(series: list[_Series], plot: Plot) -> tuple[LabelBox, ...]:
    """Line-end labels in one column right of the lines' ends, nudged apart."""
    ends = []
    for s in series:
        point = s.last_point(plot.x1)
        if point is not None:
            x = min(max(plot.sx(point[0]), plot.left), plot.right)
            y = min(max(plot.sy(point[1]), plot.top), plot.bottom)
            ends.append((y, len(ends), s.line, x))
    if not ends:
        return ()
    ends.sort(key=lambda e: e[:2])
    column = max(e[3] for e in ends) + LABEL_GAP
    ys = spread([e[0] for e in ends], LABEL_HEIGHT, plot.top, plot.bottom)
    return tuple(
        LabelBox(
            line.label,
            line.style,
            column,
            y,
            text_width(line.label, bold=True),
            LABEL_HEIGHT,
            x,
            y0,
        )
        for (y0, _, line, x), y in zip(ends, ys, strict=True)
    )


def _event_marks(events, plot: Plot, width: float, height: float):
    """Events inside the plot's dates, their circles staggered above the plot and their
    key entries in columns (read downward) under the x axis; and the key's row count."""
    inside = [(n, d, label) for n, d, label in _numbered(events) if plot.x0 <= d <= plot.x1]
    if not inside:
        return (), 0
    rows = _stagger([plot.sx(d) for _, d, _ in inside])
    entry = max(2 * EVENT_RADIUS + 8 + text_width(f"{iso(d)}  {label}") for _, d, label in inside)
    columns = max(1, int((width - plot.left) // (entry + 20)))
    key_rows = math.ceil(len(inside) / columns)
    columns = math.ceil(len(inside) / key_rows)  # as few columns as the rows allow
    marks = []
    for i, ((n, d, label), row) in enumerate(zip(inside, rows, strict=True)):
        x = plot.sx(d)
        cy = PLOT_TOP + EVENT_RADIUS + 2 + row * EVENT_ROW
        key_x = plot.left + EVENT_RADIUS + (i // key_rows) * (entry + 20)
        key_y = height + KEY_ROW / 2 + (i % key_rows) * KEY_ROW
        marks.append(EventMark(n, label, d, x, cy, key_x, key_y))
    return tuple(marks), key_rows


def line_layout(
    lines: Sequence[Line],
    *,
    x_range,
    y_range=(-1.0, 1.0),
    events: Sequence[Event] = (),
    width: float = 960,
    height: float = 440,
) -> Layout:
    """The layout :func:`line_chart` draws with the same arguments (for tests and for
    pages that place things over a chart)."""
    return _layout(_series(lines), x_range, y_range, events, width, height)


def label_positions(lines: Sequence[Line], **options) -> tuple[LabelBox, ...]:
    """The line-end labels of :func:`line_layout` (same keywords)."""
    return line_layout(lines, **options).labels


def _layout(series, x_range, y_range, events, width, height) -> Layout:
    """Margins from the widest tick label and the longest line label, room above the
    plot for the rows of event circles, then the labels and events in that frame."""
    x0, x1 = _range(x_range, "x_range", day)
    y0, y1 = _range(y_range, "y_range")
    ticks = nice_ticks(y0, y1)
    left = max(text_width(tick_text(t, ticks)) for t in ticks) + 18
    longest = max((text_width(s.line.label, bold=True) for s in series), default=0)
    right = width - max(longest + LABEL_GAP + 12, 24)
    event_days = [day(e.date) for e in events]
    rows = 0
    if any(x0 <= d <= x1 for d in event_days):
        draft = Plot(left, 0, right, 1, x0, x1, y0, y1)
        visible = sorted(draft.sx(d) for d in event_days if x0 <= d <= x1)
        rows = max(_stagger(visible)) + 1
    top = PLOT_TOP + rows * EVENT_ROW + (8 if rows else 4)
    plot = Plot(left, top, right, height - 36, x0, x1, y0, y1)
    marks, key_rows = _event_marks(events, plot, width, height)
    total = height + key_rows * KEY_ROW + (6 if key_rows else 0)
    return Layout(width, total, plot, _label_boxes(series, plot), marks, ticks, year_ticks(plot))


# --- line chart: drawing ----------------------------------------------------------

Point = tuple[float, float]


def _clip_segment(a: Point, b: Point, plot: Plot) -> tuple[Point, Point] | None:
    """The part of segment a-b inside the plot area (Liang-Barsky), or None."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    t0, t1 = 0.0, 1.0
    for p, q in (
        (-dx, a[0] - plot.left),
        (dx, plot.right - a[0]),
        (-dy, a[1] - plot.top),
        (dy, plot.bottom - a[1]),
    ):
        if p == 0:
            if q < 0:
                return None
        elif p < 0:
            t0 = max(t0, q / p)
        else:
            t1 = min(t1, q / p)
    if t0 > t1:
        return None
    start = a if t0 == 0 else (a[0] + t0 * dx, a[1] + t0 * dy)
    end = b if t1 == 1 else (a[0] + t1 * dx, a[1] + t1 * dy)
    return start, end


def visible_runs(xs: Sequence[float], ys: Sequence[float], plot: Plot) -> list[list[Point]]:
    """The pieces of a polyline (screen coordinates) inside the plot area: a NaN or an
    excursion outside the area ends a piece; a piece of one point is a lone value."""
    runs: list[list[Point]] = []
    open_run = False
    prev: Point | None = None
    for p in zip(xs, ys, strict=True):
        if not (math.isfinite(p[0]) and math.isfinite(p[1])):
            prev, open_run = None, False
            continue
        if prev is None:
            open_run = plot.contains(*p)
            if open_run:
                runs.append([p])
        else:
            segment = _clip_segment(prev, p, plot)
            if segment is None:
                open_run = False
            else:
                start, end = segment
                if not (open_run and runs[-1][-1] == start):
                    runs.append([start])
                runs[-1].append(end)
                open_run = end == p
        prev = p
    return runs


def clip_polygon(points: list[Point], plot: Plot) -> list[Point]:
    """A polygon cut to the plot area (Sutherland-Hodgman)."""
    edges = ((0, plot.left, 1), (0, plot.right, -1), (1, plot.top, 1), (1, plot.bottom, -1))
    for axis, bound, sign in edges:
        kept: list[Point] = []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            cur_in = (cur[axis] - bound) * sign >= 0
            if cur_in != ((prev[axis] - bound) * sign >= 0):
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                kept.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            if cur_in:
                kept.append(cur)
        points = kept
        if not points:
            break
    return points


def _path(points: Sequence[Point], close: bool = False) -> str:
    head, *rest = points
    d = f"M{_num(head[0])} {_num(head[1])}"
    if rest:
        d += "L" + " ".join(f"{_num(x)} {_num(y)}" for x, y in rest)
    return d + ("Z" if close else "")


def _stroke(s: Style, width: float) -> str:
    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
    return f'fill="none" stroke="{s.colour}" stroke-width="{width}"{dash} stroke-linejoin="round"'


def _circle(cls: str, x: float, y: float, r: float, paint: str) -> str:
    return f'<circle class="{cls}" cx="{_num(x)}" cy="{_num(y)}" r="{r}" {paint}/>'


def _draw_line(series: _Series, plot: Plot) -> str:
    """A line's visible pieces, a dot for a lone value, and rings on its markers."""
    line, s = series.line, style(series.line.style)
    xs, ys = plot.sx(series.x).tolist(), plot.sy(series.y).tolist()
    out = []
    for run in visible_runs(xs, ys, plot):
        if len(run) == 1:
            out.append(_circle("mv-point", *run[0], line.width, f'fill="{s.colour}"'))
        else:
            out.append(f'<path class="mv-line" d="{_path(run)}" {_stroke(s, line.width)}/>')
    ring = f'fill="none" stroke="{s.text}" stroke-width="2.2"'
    for i in line.markers:
        if 0 <= i < len(xs) and math.isfinite(ys[i]) and plot.contains(xs[i], ys[i]):
            out.append(_circle("mv-marker", xs[i], ys[i], 7, ring))
    return "".join(out)


def _finite_runs(finite: np.ndarray) -> list[list[int]]:
    """Indices of the stretches where ``finite`` holds."""
    runs: list[list[int]] = []
    for i, ok in enumerate(finite.tolist()):
        if ok and runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        elif ok:
            runs.append([i])
    return runs


def _draw_band(band: Band, plot: Plot) -> str:
    """A band as filled polygons, one per stretch of finite values, cut to the plot."""
    x, low, high = days(band.x), _floats(band.low), _floats(band.high)
    if not len(x) == len(low) == len(high):
        raise ValueError(f"band {band.label!r}: x, low and high differ in length")
    sx, s_low, s_high = plot.sx(x).tolist(), plot.sy(low).tolist(), plot.sy(high).tolist()
    paint = f'fill="{style(band.style).colour}" fill-opacity="{band.opacity}" stroke="none"'
    out = []
    for run in _finite_runs(np.isfinite(x) & np.isfinite(low) & np.isfinite(high)):
        outline = [(sx[i], s_high[i]) for i in run] + [(sx[i], s_low[i]) for i in reversed(run)]
        shape = clip_polygon(outline, plot) if len(run) > 1 else []
        if len(shape) >= 3:
            out.append(f'<path class="mv-band" d="{_path(shape, close=True)}" {paint}/>')
    return "".join(out)


def _draw_axes(layout: Layout, zero_line: bool) -> str:
    """Gridlines and tick labels on both axes, and the zero line."""
    p = layout.plot
    out = []
    for t in layout.y_ticks:
        y = p.sy(t)
        out.append(f'<path d="M{_num(p.left)} {_num(y)}H{_num(p.right)}" stroke="{GRID}"/>')
        out.append(_text(p.left - 8, y + 5, tick_text(t, layout.y_ticks), fill=MUTED, anchor="end"))
    if zero_line and p.y0 < 0 < p.y1:
        out.append(
            f'<path d="M{_num(p.left)} {_num(p.sy(0))}H{_num(p.right)}" stroke="{MUTED}"'
            ' stroke-width="1.2"/>'
        )
    out.append(f'<path d="M{_num(p.left)} {_num(p.bottom)}H{_num(p.right)}" stroke="{MUTED}"/>')
    ticks = layout.x_ticks
    for i, (d, text) in enumerate(ticks):
        x = p.sx(d)
        out.append(f'<path d="M{_num(x)} {_num(p.bottom)}v6" stroke="{MUTED}"/>')
        anchor = "middle" if text.isdigit() else ("start" if i == 0 else "end")
        out.append(_text(x, p.bottom + 22, text, fill=MUTED, anchor=anchor))
    return "".join(out)


def _draw_now(plot: Plot, now) -> str:
    """A light shade over the future of a run in progress and a "now" mark."""
    if now is None:
        return ""
    d = day(now)
    if not plot.x0 <= d <= plot.x1:
        return ""
    x = plot.sx(d)
    return (
        f'<rect x="{_num(x)}" y="{_num(plot.top)}" width="{_num(plot.right - x)}"'
        f' height="{_num(plot.bottom - plot.top)}" fill="#000000" fill-opacity="0.06"/>'
        f'<path d="M{_num(x)} {_num(plot.top)}V{_num(plot.bottom)}" stroke="{MUTED}"'
        ' stroke-width="1.5"/>'
        + _text(x - 5, plot.top + 17, "now", fill=MUTED, anchor="end", extra=_HALO)
    )


_HALO = ' stroke="#ffffff" stroke-width="4" paint-order="stroke"'


def _event_circle(cls: str, x: float, y: float, number: int, r: float) -> str:
    return _circle(cls, x, y, r, f'fill="{MUTED}"') + _text(
        x, y + 5, number, fill="#ffffff", anchor="middle", extra=' font-weight="bold"'
    )


def _draw_events(layout: Layout) -> str:
    """Each event's dashed line down the plot, its circle above, and its key entry."""
    p = layout.plot
    out = []
    for m in layout.events:
        out.append(
            f'<path d="M{_num(m.x)} {_num(m.cy + EVENT_RADIUS)}V{_num(p.bottom)}"'
            f' stroke="{MUTED}" stroke-width="1.2" stroke-dasharray="4 4"/>'
        )
    for m in layout.events:
        out.append(_event_circle("mv-event", m.x, m.cy, m.number, EVENT_RADIUS))
        out.append(_event_circle("mv-event-key", m.key_x, m.key_y, m.number, EVENT_RADIUS - 1))
        out.append(_text(m.key_x + EVENT_RADIUS + 6, m.key_y + 5, m.key_text))
    return "".join(out)


def _draw_labels(layout: Layout) -> str:
    """The line-end labels in their lines' text colours, with leaders where moved."""
    out = []
    for b in layout.labels:
        s = style(b.style)
        if b.moved:
            leader = f"M{_num(b.anchor_x + 2)} {_num(b.anchor_y)}L{_num(b.x - 2)} {_num(b.y)}"
            out.append(f'<path class="mv-leader" d="{leader}" stroke="{s.text}"/>')
        bold = ' font-weight="bold" class="mv-label"'
        out.append(_text(b.x, b.y + 5, b.label, fill=s.text, extra=bold))
    return "".join(out)


def _describe_lines(title, y_label, series, plot: Plot, events, bands, now) -> str:
    """The chart in words: what it shows, each line's first and last value with dates,
    the shaded bands, the events with dates."""
    parts = [f"{title}. {y_label}, {iso(plot.x0)} to {iso(plot.x1)}."]
    for s in series:
        ok = np.flatnonzero(np.isfinite(s.x) & np.isfinite(s.y))
        if not len(ok):
            parts.append(f"{s.line.label}: no data.")
            continue
        ends = [f"{signed(s.y[i])} at {iso(s.x[i])}" for i in dict.fromkeys((ok[0], ok[-1]))]
        marked = f" ({len(s.line.markers)} marked points)" if len(s.line.markers) else ""
        parts.append(f"{s.line.label}: {', '.join(ends)}{marked}.")
    shaded = [b.label for b in bands if b.label]
    if shaded:
        parts.append(f"Shaded: {'; '.join(shaded)}.")
    if events:
        listed = "; ".join(f"{n} {label} ({iso(d)})" for n, d, label in _numbered(events))
        parts.append(f"Events: {listed}.")
    if now is not None:
        parts.append(f"Now: {iso(day(now))}.")
    return " ".join(parts)


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    y_label: str,
    x_range,
    y_range=(-1.0, 1.0),
    events: Sequence[Event] = (),
    bands: Sequence[Band] = (),
    now=None,
    width: float = 960,
    height: float = 440,
    description: str | None = None,
    zero_line: bool = True,
) -> str:
    """Lines over time as a standalone SVG string: each line labelled at its right
    end, events numbered on the chart and listed in a key under it, the future after
    ``now`` shaded. Values outside ``y_range`` are cut at the plot's edge; the range is
    never widened. ``height`` is the chart's height without the event key, which adds
    one row of 28 per few events."""
    series = _series(lines)
    layout = _layout(series, x_range, y_range, events, width, height)
    p = layout.plot
    body = "".join(
        [
            _draw_now(p, now),
            _draw_axes(layout, zero_line),
            *(_draw_band(b, p) for b in bands),
            _draw_events(layout),
            *(_draw_line(s, p) for s in series),
            _draw_labels(layout),
            _text(12, 24, title, size=TITLE_SIZE, extra=' font-weight="bold"'),
            _text(12, 46, y_label, fill=MUTED),
        ]
    )
    if description is None:
        description = _describe_lines(title, y_label, series, p, events, bands, now)
    chart_id = _chart_id("line", title, description, body)
    return _svg(chart_id, layout.width, layout.height, title, description, body)


# --- heat map ---------------------------------------------------------------------

# Diverging scale: orange to brown below the middle, blue above, white at the middle.
_NEGATIVE = ("#ffffff", "#E69F00", "#9A4A00")
_POSITIVE = ("#ffffff", "#56B4E9", "#0062A0")
BLANK = "#e6e6e6"  # diagonal and missing cells


def diverging(value: float, v_range=(-1.0, 1.0)) -> str:
    """The heat-map colour of ``value``: white at the middle of ``v_range``, through
    sky blue to dark blue at the top, through orange to brown at the bottom."""
    low, high = v_range
    t = (value - (low + high) / 2) / ((high - low) / 2)
    t = min(max(t, -1.0), 1.0)
    stops = _POSITIVE if t >= 0 else _NEGATIVE
    u = abs(t) * (len(stops) - 1)
    i = min(int(u), len(stops) - 2)
    a, b = _rgb(stops[i]), _rgb(stops[i + 1])
    return _hex([ca + (cb - ca) * (u - i) for ca, cb in zip(a, b, strict=True)])


def ink_on(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (at least 4.58:1 for any
    fill, since the two ratios meet at that value)."""
    return "#000000" if contrast("#000000", fill) >= contrast("#ffffff", fill) else "#ffffff"


def _cell(x: float, y: float, size: float, value: float, blank: bool, show, v_range, digits):
    """One heat-map cell: its colour and, when ``show``, its value."""
    missing = blank or not math.isfinite(value)
    fill = BLANK if missing else diverging(value, v_range)
    out = (
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(size)}" height="{_num(size)}"'
        f' fill="{fill}" stroke="#ffffff" stroke-width="2"/>'
    )
    if show and not blank:
        text = "n/a" if missing else signed(value, digits)
        out += _text(x + size / 2, y + size / 2 + 5, text, fill=ink_on(fill), anchor="middle")
    return out


def _colour_key(x: float, y: float, length: float, v_range, captions) -> str:
    """A bar of the scale from the low to the high end, labelled at both ends and the
    middle ("−1", "0", "+1"), with optional words under the ends."""
    low, high = v_range
    steps = 40
    out = []
    for k in range(steps):
        value = low + (high - low) * (k + 0.5) / steps
        out.append(
            f'<rect x="{_num(x + k * length / steps)}" y="{_num(y)}"'
            f' width="{_num(length / steps + 0.3)}" height="14"'
            f' fill="{diverging(value, v_range)}"/>'
        )
    out.append(
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(length)}" height="14" fill="none"'
        f' stroke="{MUTED}"/>'
    )
    ends = ((0, low, "start"), (0.5, (low + high) / 2, "middle"), (1, high, "end"))
    for frac, value, anchor in ends:
        text = tick_text(value, [end[1] for end in ends])
        if value > 0 and low < 0:
            text = "+" + text
        out.append(_text(x + frac * length, y + 32, text, fill=MUTED, anchor=anchor))
    for frac, caption, anchor in ((0, captions[0], "start"), (1, captions[1], "end")):
        if caption:
            out.append(_text(x + frac * length, y + 52, caption, fill=MUTED, anchor=anchor))
    return "".join(out)


def _describe_grid(title, rows, cols, values, diagonal_blank, digits) -> str:
    """The heat map in words: every row's values by column."""
    parts = [f"{title}."]
    for i, row in enumerate(rows):
        cells = [
            f"{col} {signed(values[i][j], digits)}"
            for j, col in enumerate(cols)
            if not (diagonal_blank and i == j)
        ]
        parts.append(f"{row}: {', '.join(cells)}.")
    return " ".join(parts)


def _column_labels(labels: Sequence[str], left: float, cell: float, top: float):
    """Column labels over the cells, turned 45 degrees when too wide for a cell; and the
    right-most extent they reach."""
    turn = any(text_width(c) > cell - 6 for c in labels)
    out, reach = [], left + len(labels) * cell
    for j, col in enumerate(labels):
        x = left + (j + 0.5) * cell
        if turn:
            rotate = f' transform="rotate(-45 {_num(x)} {_num(top - 8)})"'
            out.append(_text(x, top - 8, col, extra=rotate))
            reach = max(reach, x + 0.71 * text_width(col) + 8)
        else:
            out.append(_text(x, top - 8, col, anchor="middle"))
    return "".join(out), reach


def heat_map(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values,
    *,
    title: str,
    description: str | None = None,
    width: float = 560,
    cell_text: bool = True,
    v_range=(-1.0, 1.0),
    diagonal_blank: bool = True,
    digits: int = 2,
    key_captions: tuple[str, str] = ("", ""),
) -> str:
    """A table of values as coloured cells, as a standalone SVG string: the value in
    each cell (black or white by contrast), row labels left, column labels on top (turned
    when long), a colour key under it with ``key_captions`` under its ends (such as
    "hostile", "friendly"). ``values[i][j]`` is row i, column j; NaN cells are grey. The
    SVG grows wider than ``width`` when the cells need it (56 to 90 each)."""
    grid = np.asarray(values, dtype=float)
    rows, cols = len(row_labels), len(col_labels)
    if grid.shape != (rows, cols):
        raise ValueError(f"values are {grid.shape}, expected {rows} rows x {cols} columns")
    v_range = _range(v_range, "v_range")
    left = max((text_width(r) for r in row_labels), default=0) + 20
    cell = min(max((width - left - 16) / max(cols, 1), 56), 90)
    widest = max((text_width(c) for c in col_labels), default=0)
    top = 40 + (widest * 0.71 + 14 if widest > cell - 6 else 26)
    heads, reach = _column_labels(col_labels, left, cell, top)
    out = [_text(12, 24, title, size=TITLE_SIZE, extra=' font-weight="bold"'), heads]
    for i, row in enumerate(row_labels):
        y = top + i * cell
        out.append(_text(left - 10, y + cell / 2 + 5, row, anchor="end"))
        for j in range(cols):
            blank = diagonal_blank and i == j
            out.append(
                _cell(left + j * cell, y, cell, grid[i, j], blank, cell_text, v_range, digits)
            )
    bottom = top + rows * cell
    key_length = min(320.0, max(cols * cell, 200.0))
    out.append(_colour_key(left, bottom + 16, key_length, v_range, key_captions))
    total_w = max(width, reach + 16, left + key_length + 16)
    total_h = bottom + 16 + (70 if any(key_captions) else 50)
    body = "".join(out)
    if description is None:
        description = _describe_grid(title, row_labels, col_labels, grid, diagonal_blank, digits)
    chart_id = _chart_id("heat", title, description, body)
    return _svg(chart_id, total_w, total_h, title, description, body)


# --- table alternative --------------------------------------------------------------


def data_table(lines: Sequence[Line], *, every: int = 4, caption: str = "", digits: int = 2) -> str:
    """The data of a line chart as an HTML table, for screen readers and for students
    who want the numbers: one row per sampled date (every ``every``-th date of all the
    lines' dates, and the last), one column per line; "n/a" where a line has no value."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    series = _series(lines)
    by_date = [
        {d: v for d, v in zip(s.x.tolist(), s.y.tolist(), strict=True) if math.isfinite(d)}
        for s in series
    ]
    dates = sorted(set().union(*by_date)) if by_date else []
    picked = dates[::every]
    if dates and picked[-1] != dates[-1]:
        picked.append(dates[-1])
    head = "".join(f'<th scope="col">{_esc(s.line.label)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{iso(d)}</th>'
        + "".join(f"<td>{_esc(signed(values.get(d, math.nan), digits))}</td>" for values in by_date)
        + "</tr>"
        for d in picked
    )
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return (
        f'<table class="mv-data-table">{cap}<thead><tr><th scope="col">date</th>{head}</tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )
