"""UN General Assembly observables: vote agreement, BSV agreement shares, ideal points.

Vote agreement follows Voeten's convention (Voeten 2000, "Clashes in the Assembly",
International Organization 54(2): 185-215; Bailey, Strezhnev and Voeten 2017): over the
roll calls in which both countries voted, a vote scores yes = 1, abstain = 0.5, no = 0
and a pair's agreement on one roll call is ``1 - |score_i - score_j|``: 1 for the same
vote, 0.5 when one abstains and the other votes yes or no, 0 for opposite votes. Absent
or missing votes do not count. ``year = session + 1945`` (session 46 opened in
September 1991), as in the BSV file.

Ideal points and agreement shares are Bailey, Strezhnev and Voeten's (2017) estimates.
Country-years with fewer than :data:`MIN_VOTES` recorded votes have unreliable
agreement shares and are masked (README quirk); ideal points are used as published.

A group (EU27): for vote agreement, the mean over members of each member's agreement
with the other side (``n`` the total of roll calls); for BSV shares, the mean of the
members' shares; for ideal points, the mean of the members' ideal points, taken before
any distance or axis position is computed.

Every derivation is a pure function of DataFrames and returns ``year``, ``value``, ``n``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

#: A vote's score: agreement on a roll call is ``1 - |difference of scores|``.
VOTE_SCORE = {"yes": 1.0, "abstain": 0.5, "no": 0.0}
#: The UN session that opens in year ``session + SESSION_OFFSET``.
SESSION_OFFSET = 1945
#: Country-years with fewer recorded votes have their BSV agreement shares masked.
MIN_VOTES = 20
#: The partners BSV publishes agreement shares with: ISO3 -> column.
BSV_AGREE_COLUMNS = {
    "USA": "USAgree",
    "RUS": "RUSSAgree",
    "CHN": "ChinaAgree",
    "IND": "IndiaAgree",
    "BRA": "BrazilAgree",
    "ISR": "IsraelAgree",
}
_OUT = ["year", "value", "n"]


def parse_votes(path: Path) -> pd.DataFrame:
    """The roll-call votes file as ``rcid``, ``year``, ``country`` (ISO2), ``score``.

    Only yes/no/abstain rows are kept. ``NA`` is Namibia's code, not a missing value.
    """
    raw = pd.read_csv(
        path,
        usecols=["rcid", "session", "country_code", "vote"],
        engine="pyarrow",
        keep_default_na=False,
        na_values=[],
        dtype={"country_code": "string", "vote": "string"},
    )
    return vote_scores(raw)


def vote_scores(raw: pd.DataFrame) -> pd.DataFrame:
    """``rcid, session, country_code, vote`` -> ``rcid, year, country, score`` (votes other
    than yes/no/abstain are dropped)."""
    score = raw["vote"].astype(str).str.strip().str.lower().map(VOTE_SCORE)
    keep = score.notna()
    return pd.DataFrame(
        {
            "rcid": raw["rcid"][keep].astype("int64").to_numpy(),
            "year": (raw["session"][keep].astype("int64") + SESSION_OFFSET).to_numpy(),
            "country": raw["country_code"][keep].astype(str).to_numpy(),
            "score": score[keep].astype(float).to_numpy(),
        }
    )


def parse_ideal_points(path: Path) -> pd.DataFrame:
    """The BSV file's columns used here: ``ccode, year, NVotesAll, IdealPointAll`` and the
    six agreement shares."""
    cols = ["ccode", "year", "NVotesAll", "IdealPointAll", *BSV_AGREE_COLUMNS.values()]
    frame = pd.read_csv(path, usecols=cols)
    return frame.astype({"ccode": "int64", "year": "int64", "NVotesAll": "int64"})


def score_table(votes: pd.DataFrame, countries: Iterable[str]) -> pd.DataFrame:
    """Votes of ``countries`` as a table: index (year, rcid), one score column per country
    (NaN where it did not vote)."""
    wanted = votes[votes["country"].isin(set(countries))]
    return wanted.pivot_table(
        index=["year", "rcid"], columns="country", values="score", aggfunc="first"
    )


def pairwise_agreement(scores: pd.DataFrame) -> pd.DataFrame:
    """Agreement of every ordered pair of the table's countries per year: the mean of
    ``1 - |s_a - s_b|`` over roll calls where both voted. Returns ``year, a, b, value, n``
    (``n`` the roll calls both voted in; pairs with none are left out)."""
    countries = list(scores.columns)
    parts = []
    for year, block in scores.groupby(level="year"):
        s = block.to_numpy(dtype=float)  # roll calls x countries, NaN = no vote
        voted = ~np.isnan(s)
        agree = 1.0 - np.abs(s[:, :, None] - s[:, None, :])  # NaN where either is missing
        n = (voted[:, :, None] & voted[:, None, :]).sum(axis=0)
        total = np.nansum(agree, axis=0)
        a, b = np.nonzero(n)
        parts.append(
            pd.DataFrame(
                {
                    "year": int(year),
                    "a": [countries[i] for i in a],
                    "b": [countries[j] for j in b],
                    "value": total[a, b] / n[a, b],
                    "n": n[a, b],
                }
            )
        )
    columns = ["year", "a", "b", "value", "n"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def group_agreement(pairwise: pd.DataFrame, side_a: Iterable[str], side_b: Iterable[str]):
    """Agreement of a side (one country, or a group's members) with another per year,
    from :func:`pairwise_agreement`: the mean over member pairs (a member with no shared
    vote that year does not count), ``n`` the total of roll calls behind it."""
    rows = pairwise[
        pairwise["a"].isin(set(side_a)) & pairwise["b"].isin(set(side_b))
        & (pairwise["a"] != pairwise["b"])
    ]  # fmt: skip
    by_year = rows.groupby("year").agg(value=("value", "mean"), n=("n", "sum"))
    return by_year.reset_index()[_OUT]


def bsv_agreement(ip: pd.DataFrame, cows: Iterable[int], partner_iso3: str, min_votes=MIN_VOTES):
    """BSV's published agreement share of the country (or group) ``cows`` with
    ``partner_iso3`` (one of :data:`BSV_AGREE_COLUMNS`) per year; country-years with
    fewer than ``min_votes`` votes are dropped; a group: the mean of its members' shares,
    ``n`` the total of their votes."""
    column = BSV_AGREE_COLUMNS[partner_iso3]
    rows = ip[ip["ccode"].isin(set(cows)) & (ip["NVotesAll"] >= min_votes)]
    rows = rows[rows[column].notna()]
    by_year = rows.groupby("year").agg(value=(column, "mean"), n=("NVotesAll", "sum"))
    return by_year.reset_index()[_OUT]


def mean_ideal_point(ip: pd.DataFrame, cows: Iterable[int]) -> pd.DataFrame:
    """The ideal point of a country or group per year (a group: the mean of its members'
    points that year); ``n`` the votes behind it (a group: the total)."""
    rows = ip[ip["ccode"].isin(set(cows))]
    by_year = rows.groupby("year").agg(value=("IdealPointAll", "mean"), n=("NVotesAll", "sum"))
    return by_year.reset_index()[_OUT]


def ideal_distance(points_a: pd.DataFrame, points_b: pd.DataFrame) -> pd.DataFrame:
    """``|IP_a - IP_b|`` per year, from two :func:`mean_ideal_point` tables (a group's
    point is its members' mean, taken first); ``n`` the smaller side's vote count."""
    both = points_a.merge(points_b, on="year", suffixes=("_a", "_b"))
    return pd.DataFrame(
        {
            "year": both["year"],
            "value": (both["value_a"] - both["value_b"]).abs(),
            "n": np.minimum(both["n_a"], both["n_b"]),
        }
    )


def ideal_axis(points: pd.DataFrame, toward: pd.DataFrame, away: pd.DataFrame) -> pd.DataFrame:
    """A state's place between two anchors per year, from :func:`mean_ideal_point`
    tables: ``(IP - IP_away) / (IP_toward - IP_away)``: 0 at the ``away`` anchor, 1 at
    ``toward`` (it may leave [0, 1]); years where the anchors coincide are dropped. ``n``
    the state's votes."""
    both = points.merge(toward[["year", "value"]], on="year", suffixes=("", "_t"))
    both = both.merge(away[["year", "value"]], on="year", suffixes=("", "_a"))
    both = both[both["value_t"] != both["value_a"]]
    value = (both["value"] - both["value_a"]) / (both["value_t"] - both["value_a"])
    return pd.DataFrame({"year": both["year"], "value": value, "n": both["n"]})
