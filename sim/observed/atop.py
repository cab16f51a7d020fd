"""Alliance obligations from ATOP 5 (Leeds et al. 2002), directed dyad-years 1991-2018.

ATOP codes, for each ordered pair of states (COW codes, ``ccode1`` the state that holds
the obligation toward ``ccode2``) and year, whether an alliance in force binds them to
defence, offence, neutrality, non-aggression or consultation (0/1). The file lists only
dyads with at least one obligation: **a dyad not listed is coded 0**.

A group (EU27) on either side: the share of member dyads (a member of one side with a
member of the other, never a country with itself) that carry the obligation, with ``n``
the number of those dyads. Every member counts in every year, including years before a
member state existed (Czechia and Slovakia before 1993, which then count as 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

#: Observable name -> ATOP column.
OBLIGATIONS = {
    "alliance_defense": "atop_defense",
    "alliance_offense": "atop_offense",
    "alliance_neutral": "atop_neutral",
    "alliance_nonagg": "atop_nonagg",
    "alliance_consul": "atop_consul",
}


def parse_atop(path: Path) -> pd.DataFrame:
    """The ATOP dyad-year file with integer codes, years and 0/1 obligations."""
    frame = pd.read_csv(path, usecols=["ccode1", "ccode2", "year", *OBLIGATIONS.values()])
    return frame.astype("int64")


def obligation_share(
    atop: pd.DataFrame,
    cows_a: Iterable[int],
    cows_b: Iterable[int],
    column: str,
    years: Iterable[int],
) -> pd.DataFrame:
    """Whether side ``a`` (COW codes; ``ccode1``) has the obligation ``column`` toward
    side ``b`` in each of ``years``: for two countries 0 or 1, for a group the share of
    member dyads that have it. Returns ``year, value, n`` (``n`` the member dyads)."""
    side_a, side_b = set(cows_a), set(cows_b)
    dyads = sum(1 for a in side_a for b in side_b if a != b)
    years = list(years)
    if dyads == 0 or not years:
        return pd.DataFrame({"year": [], "value": [], "n": []})
    rows = atop[
        atop["ccode1"].isin(side_a)
        & atop["ccode2"].isin(side_b)
        & (atop["ccode1"] != atop["ccode2"])
    ]
    held = rows.groupby("year")[column].sum().reindex(years, fill_value=0)
    return pd.DataFrame(
        {"year": years, "value": held.to_numpy() / dyads, "n": [dyads] * len(years)}
    )
