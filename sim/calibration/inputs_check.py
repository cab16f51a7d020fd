"""The scenario's inputs beside the data that measure them: arms-import shares against
SIPRI, protection against ATOP defence obligations.

These series measure inputs, not outcomes (ODD section 10.2): a state's share of arms
from a supplier is the ``arms`` relation, a treaty obligation to defend it bears on
``protection``. They are not scored; this table shows where a scenario's number (and its
range) stands against them, at the start of the scenario: SIPRI over the five years
up to the start year (the window SIPRI's own shares use), ATOP in the year before the
start (or its last year, 2018). ATOP codes treaty obligations, dormant ones included
(the CIS treaties bind Russia, Armenia and Azerbaijan on paper): an obligation is not
credibility, so the protection rows are for reading, not a test.
"""

from __future__ import annotations

import pandas as pd

from sim.scenario import Scenario

#: The columns of :func:`inputs_against_data`.
COLUMNS = [
    "parameter",
    "state",
    "partner",
    "value",
    "low",
    "high",
    "observed",
    "observed_what",
    "inside_range",
    "provenance",
]


def inputs_against_data(scenario: Scenario, observed: pd.DataFrame) -> pd.DataFrame:
    """One row per ``arms`` number of a mapped pair (against the SIPRI share) and per
    mapped pair with an ATOP defence obligation or a ``protection`` number.

    ``observed``: :func:`sim.observed.observed_series` with ``arms_share`` and
    ``alliance_defense`` for the scenario's codes.
    """
    start = scenario.spec.time.start.year
    rows = [
        *_arms_rows(scenario, observed, start),
        *_protection_rows(scenario, observed, start),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _lookup(observed: pd.DataFrame, name: str, state: str, partner: str, year: int):
    hit = observed[
        (observed["observable"] == name)
        & (observed["state"] == state)
        & (observed["partner"] == partner)
        & (observed["year"] == year)
    ]
    return float(hit["value"].iloc[0]) if len(hit) else None


def _arms_rows(scenario: Scenario, observed: pd.DataFrame, year: int) -> list[dict]:
    window = observed.attrs.get("provenance", {}).get("choices", {}).get("arms_window", 5)
    out = []
    for i, row in scenario.spec.relations.items():
        for j, pair in row.items():
            if pair.arms is None:
                continue
            seen = _lookup(observed, "arms_share", i, j, year)
            if seen is None:
                continue
            out.append(_row("arms", i, j, pair.arms, seen,
                            f"SIPRI share of {i}'s arms imports from {j}, "
                            f"{year - int(window) + 1}-{year}"))  # fmt: skip
    return out


def _protection_rows(scenario: Scenario, observed: pd.DataFrame, start: int) -> list[dict]:
    atop = observed[observed["observable"] == "alliance_defense"]
    if not len(atop):
        return []
    year = min(start - 1, int(atop["year"].max()))
    out = []
    for i in scenario.spec.states:
        for j in scenario.spec.states:
            if i == j:
                continue
            pair = scenario.spec.relations.get(i, {}).get(j)
            number = pair.protection if pair is not None else None
            seen = _lookup(observed, "alliance_defense", j, i, year)
            if seen is None or (number is None and seen == 0):
                continue
            what = f"ATOP: {j} obliged to defend {i} in {year} (share of members for a group)"
            out.append(_row("protection", i, j, number, seen, what))
    return out


def _row(param: str, i: str, j: str, number, seen: float, what: str) -> dict:
    value = None if number is None else number.value
    low = getattr(number, "range", None)
    lo, hi = (low[0], low[1]) if low else (None, None)
    inside = None if lo is None or param != "arms" else bool(lo <= seen <= hi)
    provenance = "" if number is None else (number.source or number.assumption or "")
    return {
        "parameter": param,
        "state": i,
        "partner": j,
        "value": value,
        "low": lo,
        "high": hi,
        "observed": seen,
        "observed_what": what,
        "inside_range": inside,
        "provenance": provenance,
    }
