"""The SVG chart layer (sim.app.charts): well-formed, labelled, legible, colour-blind
safe, clipped to its plot, deterministic and fast. Colour contrast is checked with an
independent implementation of the WCAG 2.1 formulas."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from sim.app import charts
from sim.app.charts import STYLES, Band, Event, Line, data_table, heat_map, line_chart

SVG = "{http://www.w3.org/2000/svg}"
DATES = list(pd.date_range("2018-03-31", periods=52, freq="QE"))
X_RANGE = ("2018-01-01", "2031-01-01")


def wcag_contrast(a: str, b: str = "#ffffff") -> float:
    """WCAG 2.1 contrast ratio, written out here independently of the module."""

    def lum(colour: str) -> float:
        r, g, b_ = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b_)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def wave(k: int, n: int = len(DATES), scale: float = 0.6) -> list[float]:
    return [scale * math.sin(i / 6 + k) for i in range(n)]


def ten_lines() -> list[Line]:
    names = ["Russia", "Turkiye", "Iran", "Georgia", "Armenia", "EU", "USA", "China", "Iraq"]
    return [Line(name, DATES, wave(k), style=k) for k, name in enumerate(names + ["Azerbaijan"])]


EVENTS = [
    Event("2020-09-27", "Second Karabakh war", 1),
    Event(dt.date(2020, 10, 10), "Ceasefire", 2),
    Event(np.datetime64("2020-11-10"), "Trilateral statement", 3),
    Event(pd.Timestamp("2022-02-24"), "Russia invades Ukraine", 4),
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{SVG}text"))


def path_points(d: str) -> list[tuple[float, float]]:
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def full_chart(**options) -> str:
    lines = ten_lines()
    lines[9] = Line("Azerbaijan", DATES, wave(9), style=9, markers=(5, 20))
    band = Band(DATES, [v - 0.3 for v in wave(9)], [v + 0.3 for v in wave(9)], style=9)
    kw = dict(title="Alignment", y_label="alignment index", x_range=X_RANGE)
    kw |= dict(events=EVENTS, bands=[band], now=DATES[30]) | options
    return line_chart(lines, **kw)


def heat() -> str:
    ties = np.array([[math.sin(3 * i + j) for j in range(6)] for i in range(6)])
    names = ["Russia", "Turkiye", "Iran", "Georgia", "Armenia", "Azerbaijan"]
    return heat_map(names, [n[:3].upper() for n in names], ties, title="Ties at 2024-03-31")


# ---- structure and accessibility ------------------------------------------------------


@pytest.mark.parametrize("make", [full_chart, heat], ids=["line_chart", "heat_map"])
def test_svg_is_labelled_image(make):
    svg = make()
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("width") == "100%"
    w = root.get("viewBox").split()[2]
    assert f"max-width:{w}px" in root.get("style")
    ids = root.get("aria-labelledby").split()
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert ids == [title.get("id"), desc.get("id")]
    assert title.text and len(desc.text) > len(title.text)


@pytest.mark.parametrize("make", [full_chart, heat], ids=["line_chart", "heat_map"])
def test_every_text_at_least_14_units(make):
    found = texts(parse(make()))
    assert found
    for t in found:
        assert float(t.get("font-size")) >= 14, t.text
    titles = [t for t in found if float(t.get("font-size")) >= 17]
    assert len(titles) == 1


def test_generated_description_gives_first_and_last_values_and_events():
    lines = [Line("Russia", DATES, [0.45] + [0.1] * 50 + [0.35])]
    desc = parse(line_chart(lines, title="t", y_label="y", x_range=X_RANGE, events=EVENTS))
    text = desc.find(f"{SVG}desc").text
    assert "Russia: +0.45 at 2018-03-31, +0.35 at 2030-12-31" in text
    assert "4 Russia invades Ukraine (2022-02-24)" in text
    given = line_chart(lines, title="t", y_label="y", x_range=X_RANGE, description="mine")
    assert parse(given).find(f"{SVG}desc").text == "mine"


def test_ids_are_stable_and_differ_between_charts():
    assert full_chart() == full_chart()
    assert heat() == heat()
    a = parse(full_chart()).find(f"{SVG}title").get("id")
    b = parse(full_chart(title="Other")).find(f"{SVG}title").get("id")
    assert a != b


def test_labels_are_escaped():
    nasty = 'A <b>&"x"</b>'
    svg = line_chart(
        [Line(nasty, DATES, wave(0))],
        title="<script>",
        y_label="y & z",
        x_range=X_RANGE,
        events=[Event("2020-01-01", "<&>")],
    )
    assert "<script>" not in svg and "<b>" not in svg
    root = parse(svg)
    shown = {t.text for t in texts(root)}
    assert nasty in shown and "<script>" in shown
    assert any(t and t.endswith("<&>") for t in shown)
    hm = parse(heat_map(["<r>"], ["&c"], [[0.5]], title="<t>", diagonal_blank=False))
    assert {"<r>", "&c", "<t>"} <= {t.text for t in texts(hm)}
    table = data_table([Line("<&>", DATES, wave(0))], caption="a<b")
    assert "&lt;&amp;&gt;" in table and "a&lt;b" in table


# ---- layout ---------------------------------------------------------------------------


def test_line_end_labels_never_overlap_even_when_lines_end_together():
    lines = [Line(f"state {k}", DATES, [0.5] * len(DATES), style=k) for k in range(10)]
    boxes = charts.label_positions(lines, x_range=X_RANGE)
    assert len(boxes) == 10
    for a, b in itertools.combinations(boxes, 2):
        apart_vertically = abs(a.y - b.y) >= (a.height + b.height) / 2 - 1e-9
        apart_horizontally = a.x + a.width <= b.x or b.x + b.width <= a.x
        assert apart_vertically or apart_horizontally, (a.label, b.label)
    assert any(b.moved for b in boxes)
    svg = line_chart(lines, title="t", y_label="y", x_range=X_RANGE)
    assert len(parse(svg).findall(f".//{SVG}path[@class='mv-leader']")) == sum(
        b.moved for b in boxes
    )


def test_labels_stay_at_their_lines_when_there_is_room_and_fit_the_right_margin():
    lines = [Line("top", DATES, [0.8] * 52), Line("a long label here", DATES, [-0.8] * 52)]
    layout = charts.line_layout(lines, x_range=X_RANGE)
    for b in layout.labels:
        assert not b.moved
        assert b.y == pytest.approx(b.anchor_y)
        assert b.x + b.width <= layout.width
    assert layout.plot.right < layout.labels[0].x


def test_values_outside_the_range_are_cut_at_the_plot_edge():
    ys = [5.0 * math.sin(i / 3) for i in range(len(DATES))]
    lines = [Line("wild", DATES, ys), Line("ramp", DATES[:2], [0.0, 2.0])]
    band = Band(DATES, [-3.0] * len(DATES), [3.0] * len(DATES))
    svg = line_chart(lines, title="t", y_label="y", x_range=X_RANGE, bands=[band])
    plot = charts.line_layout(lines, x_range=X_RANGE).plot
    root = parse(svg)
    shapes = root.findall(f".//{SVG}path[@class='mv-line']")
    shapes += root.findall(f".//{SVG}path[@class='mv-band']")
    assert len(shapes) > 2
    for shape in shapes:
        for x, y in path_points(shape.get("d")):
            assert plot.left - 0.06 <= x <= plot.right + 0.06
            assert plot.top - 0.06 <= y <= plot.bottom + 0.06
    # the ramp 0 -> 2 leaves the range (-1, 1) halfway between its two dates
    ramp = charts.visible_runs(plot.sx(charts.days(DATES[:2])), plot.sy(np.array([0.0, 2.0])), plot)
    (start, end), *_ = ramp
    assert end[1] == pytest.approx(plot.top)
    assert end[0] == pytest.approx(plot.sx((charts.day(DATES[0]) + charts.day(DATES[1])) / 2))
    # the caller's range holds: the ticks run from -1 to 1 only
    ticks = [t.text for t in texts(root) if t.get("text-anchor") == "end" and t.text]
    assert "\u22121" in ticks and "1" in ticks and "5" not in ticks


def test_nan_breaks_a_line_and_a_lone_value_is_a_dot():
    ys = wave(0)
    ys[10:13] = [math.nan] * 3
    ys[20], ys[22] = math.nan, math.nan  # point 21 stands alone
    root = parse(line_chart([Line("gappy", DATES, ys)], title="t", y_label="y", x_range=X_RANGE))
    assert len(root.findall(f".//{SVG}path[@class='mv-line']")) == 3
    assert len(root.findall(f".//{SVG}circle[@class='mv-point']")) == 1
    empty = line_chart([Line("none", DATES, [math.nan] * 52)], title="t", y_label="y",
                       x_range=X_RANGE)  # fmt: skip
    assert not parse(empty).findall(f".//{SVG}path[@class='mv-line']")
    assert "none: no data" in parse(empty).find(f"{SVG}desc").text


def test_markers_ring_the_chosen_points():
    root = parse(full_chart())
    assert len(root.findall(f".//{SVG}circle[@class='mv-marker']")) == 2


def test_bands_are_drawn_beneath_the_lines():
    classes = [e.get("class") for e in parse(full_chart()).iter() if e.get("class")]
    assert classes.index("mv-band") < classes.index("mv-line")


def test_events_are_numbered_on_the_chart_and_in_the_key_without_overlap():
    events = [*EVENTS, Event("2029-01-01", "unnumbered"), Event("2040-01-01", "later")]
    lines = ten_lines()
    svg = line_chart(lines, title="t", y_label="y", x_range=X_RANGE, events=events)
    root = parse(svg)
    marks = root.findall(f".//{SVG}circle[@class='mv-event']")
    keys = root.findall(f".//{SVG}circle[@class='mv-event-key']")
    assert len(marks) == len(keys) == 5  # the 2040 event is outside the chart's dates
    for a, b in itertools.combinations(marks, 2):
        distance = math.dist(*((float(c.get("cx")), float(c.get("cy"))) for c in (a, b)))
        assert distance >= 2 * float(a.get("r"))
    shown = [t.text for t in texts(root)]
    numbers = sorted(t.text for t in texts(root) if t.get("fill") == "#ffffff")
    assert numbers == sorted(2 * ["1", "2", "3", "4", "5"])  # on the chart and in the key
    assert "2022-02-24  Russia invades Ukraine" in shown
    assert "2029-01-01  unnumbered" in shown  # took the next number, 5
    layout = charts.line_layout(lines, x_range=X_RANGE, events=events)
    height = float(root.get("viewBox").split()[3])
    for m in layout.events:
        assert m.cy + charts.EVENT_RADIUS <= layout.plot.top  # above the plot area
        assert layout.plot.bottom + 22 < m.key_y < height  # the key is under the axis
    assert {m.number for m in layout.events} == {1, 2, 3, 4, 5}


def test_now_shades_the_future():
    root = parse(full_chart())
    plot = charts.line_layout(ten_lines(), x_range=X_RANGE, events=EVENTS).plot
    shade = [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity")]
    assert len(shade) == 1
    x = float(shade[0].get("x"))
    assert x == pytest.approx(plot.sx(charts.day(DATES[30])), abs=0.06)
    assert x + float(shade[0].get("width")) == pytest.approx(plot.right, abs=0.1)
    assert "now" in [t.text for t in texts(root)]


@pytest.mark.parametrize(
    "low, high", [(-1.0, 1.0), (0.0, 37.0), (-0.3, 0.25), (-12.5, 140.0), (0.001, 0.0042)]
)
def test_y_ticks_are_round_and_cover_the_range(low, high):
    ticks = charts.nice_ticks(low, high)
    assert 3 <= len(ticks) <= 9
    assert low - 1e-12 <= ticks[0] and ticks[-1] <= high + 1e-12
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert (ticks[0] - low) < steps[0] and (high - ticks[-1]) < steps[0]
    if (low, high) == (-1.0, 1.0):
        assert [charts.tick_text(t, ticks) for t in ticks] == ["−1", "−0.5", "0", "0.5", "1"]


@pytest.mark.parametrize("years, width", [(13, 960), (40, 960), (13, 400)])
def test_year_ticks_leave_room_for_their_labels(years, width):
    x_range = ("2018-01-01", f"{2018 + years}-01-01")
    layout = charts.line_layout([], x_range=x_range, width=width)
    xs = [layout.plot.sx(d) for d, _ in layout.x_ticks]
    assert len(xs) >= 3
    assert min(np.diff(xs)) >= charts.text_width("2000")
    if (years, width) == (13, 960):
        assert [label for _, label in layout.x_ticks] == [str(y) for y in range(2018, 2032)]


# ---- colour ---------------------------------------------------------------------------


def test_the_first_ten_styles_differ_and_neighbours_differ_twice():
    first = STYLES[:10]
    for a, b in itertools.combinations(first, 2):
        assert (a.colour, a.dash) != (b.colour, b.dash)
    for a, b in itertools.pairwise(first):
        assert a.colour != b.colour and a.dash != b.dash
    assert len(set(STYLES)) == len(STYLES)


def test_style_colours_meet_wcag_contrast_on_white():
    for s in STYLES:
        assert wcag_contrast(s.colour) >= 3.0, s.name
        assert wcag_contrast(s.text) >= 4.5, s.name
    okabe_yellow = "#f0e442"
    assert all(s.colour.lower() != okabe_yellow for s in STYLES)


def test_heat_map_cell_text_is_readable_on_every_cell_colour():
    values = [round(v, 2) for v in np.arange(-1.0, 1.0001, 0.05)]
    svg = heat_map(["row"], [str(i) for i in range(len(values))], [values], title="scale",
                   diagonal_blank=False)  # fmt: skip
    last_fill, checked = None, 0
    for element in parse(svg).iter():
        if element.tag == f"{SVG}rect":
            last_fill = element.get("fill")
        elif element.tag == f"{SVG}text" and re.fullmatch(r"[+−]?\d\.\d\d", element.text):
            assert wcag_contrast(element.get("fill"), last_fill) >= 4.5, element.text
            checked += 1
    assert checked == len(values)


def test_heat_map_scale_runs_orange_to_white_to_blue():
    def rgb(colour):
        return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]

    assert charts.diverging(0.0) == "#ffffff"
    r, g, b = rgb(charts.diverging(1.0))
    assert b > r and b > g
    r, g, b = rgb(charts.diverging(-1.0))
    assert r > g > b
    assert charts.diverging(3.0) == charts.diverging(1.0)  # beyond the range: the end colour


def test_heat_map_blanks_the_diagonal_and_shows_the_key():
    root = parse(heat())
    values = [t for t in texts(root) if t.text and re.fullmatch(r"[+−]?\d\.\d\d", t.text)]
    assert len(values) == 6 * 6 - 6
    blank = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == charts.BLANK]
    assert len(blank) == 6
    assert {"−1", "0", "+1"} <= {t.text for t in texts(root)}
    with pytest.raises(ValueError, match="rows"):
        heat_map(["a"], ["b", "c"], [[0.1]], title="bad")


# ---- data table -------------------------------------------------------------------------


@pytest.mark.parametrize("n, expected_rows", [(13, 4), (14, 5), (1, 1)])
def test_data_table_samples_every_fourth_date_and_the_last(n, expected_rows):
    lines = [Line("A", DATES[:n], wave(0, n)), Line("B", DATES[:n], wave(1, n), style=1)]
    table = ET.fromstring(data_table(lines, caption="ties"))
    header = table.find("thead/tr")
    assert [th.text for th in header] == ["date", "A", "B"]
    rows = table.findall("tbody/tr")
    assert len(rows) == expected_rows
    assert all(len(row) == 3 for row in rows)
    assert rows[-1][0].text == DATES[n - 1].date().isoformat()
    assert rows[-1][2].text == charts.signed(wave(1, n)[-1])
    assert table.find("caption").text == "ties"


# ---- input ------------------------------------------------------------------------------


def test_every_kind_of_date_maps_to_the_same_day():
    kinds = [
        dt.date(2022, 2, 24),
        dt.datetime(2022, 2, 24),
        np.datetime64("2022-02-24"),
        pd.Timestamp("2022-02-24"),
        "2022-02-24",
    ]
    assert len({charts.day(k) for k in kinds}) == 1
    assert charts.days(pd.Series(pd.to_datetime(["2022-02-24"]))).tolist() == [charts.day(kinds[0])]
    as_dates = [d.date() for d in DATES]
    a = line_chart([Line("a", DATES, wave(0))], title="t", y_label="y", x_range=X_RANGE)
    b = line_chart([Line("a", as_dates, wave(0))], title="t", y_label="y", x_range=X_RANGE)
    assert a == b


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: charts.day("next tuesday"), "as a date"),
        (lambda: charts.day(3.5), "as a date"),
        (
            lambda: line_chart([Line("a", DATES, [0.0])], title="t", y_label="y", x_range=X_RANGE),
            "'a': 52 dates but 1 values",
        ),  # fmt: skip
        (
            lambda: line_chart([], title="t", y_label="y", x_range=X_RANGE, y_range=(1, 1)),
            "y_range",
        ),  # fmt: skip
        (
            lambda: line_chart([], title="t", y_label="y", x_range=("2030-01-01", "2020-01-01")),
            "x_range",
        ),  # fmt: skip
        (lambda: data_table([], every=0), "every"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# ---- speed ------------------------------------------------------------------------------


def test_a_ten_line_chart_with_twelve_events_takes_milliseconds():
    n = 60
    dates = list(pd.date_range("2018-03-31", periods=n, freq="QE"))
    lines = [Line(f"state {k}", dates, wave(k, n), style=k, markers=(3, 30)) for k in range(10)]
    events = [Event(dates[4 * k], f"shock {k}") for k in range(12)]
    kw = dict(title="t", y_label="y", x_range=("2018-01-01", "2033-06-30"), events=events)
    times = []
    for _ in range(21):
        start = time.perf_counter()
        line_chart(lines, **kw, now=dates[40])
        times.append(time.perf_counter() - start)
    median_ms = 1000 * sorted(times)[10]
    print(f"line_chart_ms_median={median_ms:.2f} (goal < 5)")
    assert median_ms < 100
