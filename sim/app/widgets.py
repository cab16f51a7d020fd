"""The dashboard's building blocks: prose, charts and tables, all drawn here in Python.

Nothing here loads anything from the internet: Markdown becomes HTML with the
``markdown`` package (solara.Markdown would fetch KaTeX from a CDN), and charts are
inline SVG strings (:mod:`sim.app.charts`) with a table of their numbers beside them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import markdown
import pandas as pd
import solara

_MD = ("tables", "fenced_code", "sane_lists", "toc")
_CSS = """
.mv-prose table {border-collapse: collapse; margin: 6px 0; font-size: 14px}
.mv-prose th, .mv-prose td {border: 1px solid #bbb; padding: 2px 8px; text-align: right}
.mv-prose th:first-child, .mv-prose td:first-child {text-align: left}
.mv-prose tr.mv-mark td {background: #fff3c4; font-weight: 600}
.mv-prose caption {text-align: left; font-weight: 600; padding: 2px 0; caption-side: top}
.mv-prose code {background: #f3f3f3; padding: 0 3px}
.mv-prose pre {background: #f6f6f6; padding: 6px; overflow-x: auto}
.mv-chart svg {width: 100%; height: auto; max-width: 100%}
.mv-chart {overflow-x: auto}
.mv-numbers {overflow-x: auto; max-height: 420px}
"""


def to_html(text: str) -> str:
    """Markdown as HTML (tables, fenced code, lists)."""
    return markdown.markdown(text, extensions=list(_MD))


@solara.component
def Prose(text: str):
    """Markdown rendered here, in Python (works offline)."""
    html = solara.use_memo(lambda: to_html(text), [text])
    solara.Style(_CSS)
    solara.HTML(tag="div", unsafe_innerHTML=html, classes=["mv-prose"])


@solara.component
def Chart(svg: str, table_html: str | None = None, min_width: int = 0):
    """An inline SVG chart and, when given, its numbers as a table behind a
    "Show the numbers" switch (the chart's text alternative).

    ``min_width``: the narrowest the chart is drawn, in px; on a narrower screen it
    scrolls sideways rather than shrink its text below legibility.
    """
    solara.Style(_CSS)
    inner = f'<div style="min-width:{int(min_width)}px">{svg}</div>' if min_width else svg
    solara.HTML(tag="div", unsafe_innerHTML=inner, classes=["mv-chart"])
    if table_html:
        with solara.Details(summary="Show the numbers"):
            solara.HTML(tag="div", unsafe_innerHTML=table_html, classes=["mv-prose", "mv-numbers"])


def markdown_table(df: pd.DataFrame) -> str:
    """A data frame as a Markdown table (cells as their ``str``)."""
    cells = lambda values: " | ".join(str(v).replace("|", "\\|") for v in values)  # noqa: E731
    head = f"| {cells(df.columns)} |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join(f"| {cells(r)} |\n" for r in df.itertuples(index=False))


def html_table(df: pd.DataFrame, caption: str = "", marked: Iterable[int] = ()) -> str:
    """A data frame as an HTML table with column headers and an optional caption; the
    rows at the positions in ``marked`` are highlighted (``mv-mark``) and say so to a
    screen reader. Cells are shown as their ``str``, escaped."""
    marked = set(marked)
    esc = lambda v: html.escape(str(v))  # noqa: E731
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in df.columns)
    rows = []
    for k, r in enumerate(df.itertuples(index=False)):
        mark = ' class="mv-mark"' if k in marked else ""
        cells = "".join(f"<td>{esc(v)}</td>" for v in r)
        rows.append(f"<tr{mark}>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


@solara.component
def Table(df: pd.DataFrame, caption: str = "", marked: Iterable[int] = ()):
    """:func:`html_table` on the page (it scrolls sideways on a narrow screen)."""
    solara.Style(_CSS)
    html_text = html_table(df, caption, marked)
    solara.HTML(tag="div", unsafe_innerHTML=html_text, classes=["mv-prose", "mv-numbers"])
