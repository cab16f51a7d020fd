"""Arms-import shares from the SIPRI trade register ("Information from the SIPRI Arms
Transfers Database"; the calculations are Multivector's own, not SIPRI's).

The register lists deals (orders), each with the years in which weapons were delivered
and the TIV (SIPRI trend-indicator value, millions) of the weapons delivered. SIPRI
publishes annual TIVs only through its own tool, so here **a deal's delivered TIV is
spread evenly over its listed delivery years**. The share of a recipient's imports from
a supplier over a window of ``W`` years ending in ``year`` (default 5, SIPRI's own
convention for its trend reports) is

    share = TIV delivered from the supplier in [year - W + 1, year]
            / TIV delivered from every supplier in the same years.

Formats of ``Year(s) of delivery`` found in the file: empty (nothing delivered), one
year (``2018``) and years separated by ``"; "`` (``2015; 2016; 2017``). Ranges
(``2015-2017``) and commas are also read, though the file has none; anything else is an
error naming the row.

Quirks handled (see ``docs/DATA.md``): four rows hold only numbers, the TIV columns of
a deal whose text was cut by a line break; when the row above has empty TIV columns they
are moved back to it (two deals), otherwise the stray row is dropped (two rows, both with
nothing delivered). Deals still under way in 2021 (``deliveries_after_2021_removed``)
have no delivered TIV in the file and cannot count (504 deals list delivery years up to
2021; their share of the last windows is missing). The columns ``' '``, ``' .1'`` and
``' .2'`` are SIPRI's '?' markers (uncertain order year, number ordered, number
delivered): kept as flags, never used to drop a deal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import UserError

#: The window of years a share is taken over, by default (SIPRI's five-year periods).
DEFAULT_WINDOW = 5
_TIV_COLUMNS = ["SIPRI TIV per unit", "SIPRI TIV for total order", "SIPRI TIV of delivered weapons"]
_STRAY_VALUES = ["Supplier", "Year of order", " "]
_YEAR = re.compile(r"\d{4}")
_RANGE = re.compile(r"(\d{4})\s*[-\u2013]\s*(\d{4})")


def parse_delivery_years(text: str) -> tuple[int, ...]:
    """The delivery years listed in one ``Year(s) of delivery`` cell.

    ``""`` -> ``()``; ``"2018"`` -> ``(2018,)``; ``"2015; 2016"`` -> ``(2015, 2016)``;
    ``"2015-2017"`` -> ``(2015, 2016, 2017)``. Anything else raises ``ValueError``.
    """
    years: list[int] = []
    for part in re.split(r"[;,]", str(text)):
        part = part.strip()
        if not part:
            continue
        if _YEAR.fullmatch(part):
            years.append(int(part))
        elif (m := _RANGE.fullmatch(part)) and int(m[1]) <= int(m[2]):
            years.extend(range(int(m[1]), int(m[2]) + 1))
        else:
            raise ValueError(f"unreadable delivery years {text!r}")
    return tuple(sorted(set(years)))


def repair_split_rows(raw: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Mend rows cut by a line break: a row with no recipient holds the TIV per unit,
    for the order and delivered (in ``Supplier``, ``Year of order``, ``' '``) of the row
    above. Returns the frame without stray rows, the number moved back and dropped."""
    frame = raw.reset_index(drop=True).copy()
    stray = frame.index[frame["Recipient"].str.strip() == ""]
    moved = 0
    for i in stray:
        above = i - 1
        if above >= 0 and above not in stray and (frame.loc[above, _TIV_COLUMNS] == "").all():
            frame.loc[above, _TIV_COLUMNS] = frame.loc[i, _STRAY_VALUES].to_numpy()
            moved += 1
    return frame.drop(index=stray).reset_index(drop=True), moved, len(stray) - moved


def _number(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.str.strip().replace("", np.nan), errors="raise")


def parse_sipri(path: Path) -> pd.DataFrame:
    """The register as one row per deal: ``deal, recipient, supplier, order_year,
    delivery_years`` (tuple), ``tiv_delivered`` (NaN when the file gives none),
    ``ongoing`` and the three uncertainty flags. ``attrs`` count the mended rows."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame, moved, dropped = repair_split_rows(raw)
    try:
        years = [parse_delivery_years(t) for t in frame["Year(s) of delivery"]]
    except ValueError as exc:
        raise UserError(f"{path}: {exc}; see docs/DATA.md for the formats read") from None
    deals = pd.DataFrame(
        {
            "deal": np.arange(len(frame)),
            "recipient": frame["Recipient"].str.strip(),
            "supplier": frame["Supplier"].str.strip(),
            "order_year": pd.to_numeric(frame["Year of order"], errors="coerce"),
            "delivery_years": years,
            "tiv_delivered": _number(frame["SIPRI TIV of delivered weapons"]),
            "ongoing": frame["deliveries_after_2021_removed"].str.strip() == "True",
            "order_year_uncertain": frame[" "].str.strip() == "?",
            "number_ordered_uncertain": frame[" .1"].str.strip() == "?",
            "number_delivered_uncertain": frame[" .2"].str.strip() == "?",
        }
    )
    deals.attrs.update(rows_moved_back=moved, stray_rows_dropped=dropped)
    return deals


def annual_deliveries(deals: pd.DataFrame) -> pd.DataFrame:
    """One row per deal and delivery year: ``deal, recipient, supplier, year, tiv``, the
    deal's delivered TIV divided evenly among its listed years. Deals without a delivered
    TIV or without delivery years contribute nothing."""
    usable = deals[deals["tiv_delivered"].notna() & (deals["delivery_years"].map(len) > 0)]
    per_year = usable["tiv_delivered"] / usable["delivery_years"].map(len)
    long = usable.assign(year=usable["delivery_years"], tiv=per_year).explode("year")
    long = long.astype({"year": "int64", "tiv": "float64"})
    return long[["deal", "recipient", "supplier", "year", "tiv"]].reset_index(drop=True)


def parse_annual_deliveries(path: Path) -> pd.DataFrame:
    """:func:`annual_deliveries` of the register at ``path`` (for caching)."""
    return annual_deliveries(parse_sipri(path))


def _window_sums(matrix: np.ndarray, window: int) -> np.ndarray:
    """Row ``t`` of the result: the sum of rows ``t - window + 1 .. t`` of ``matrix``."""
    padded = np.vstack([np.zeros((window - 1, matrix.shape[1])), matrix])
    return np.lib.stride_tricks.sliding_window_view(padded, window, axis=0).sum(axis=-1)


def supplier_shares(
    annual: pd.DataFrame,
    recipient: Iterable[str],
    suppliers: Mapping[str, Iterable[str]],
    years: Iterable[int],
    window: int = DEFAULT_WINDOW,
) -> pd.DataFrame:
    """Shares of ``recipient``'s arms imports (names; a group sums its members) coming
    from each named supplier (partner -> names; a group sums its members) over the
    ``window`` years ending in each of ``years``. The denominator is the TIV from every
    supplier. Returns ``partner, year, value, n`` (``n`` the supplier's deals delivering
    in the window); years with no imports at all have no row."""
    if window < 1:
        raise ValueError(f"window must be at least 1 year, got {window}")
    years = sorted(set(years))
    mine = annual[annual["recipient"].isin(set(recipient))]
    columns = ["partner", "year", "value", "n"]
    if not years or mine.empty:
        return pd.DataFrame(columns=columns)
    span = np.arange(years[0] - window + 1, years[-1] + 1)
    tiv = mine.pivot_table(index="year", columns="supplier", values="tiv", aggfunc="sum")
    tiv = tiv.reindex(index=span, fill_value=0.0).fillna(0.0)
    names = list(tiv.columns)
    delivering = pd.crosstab(mine["year"], mine["deal"]).reindex(span, fill_value=0) > 0
    supplier_of = mine.drop_duplicates("deal").set_index("deal")["supplier"]
    one_hot = pd.crosstab(supplier_of.index, supplier_of).reindex(
        index=delivering.columns, columns=names, fill_value=0
    )
    in_window = _window_sums(delivering.to_numpy(dtype=float), window) > 0
    deals = in_window.astype(int) @ one_hot.to_numpy()  # years x suppliers
    sums = _window_sums(tiv.to_numpy(), window)
    keep = np.isin(span, years) & (sums.sum(axis=1) > 0)
    total = sums.sum(axis=1)
    rows = []
    for partner, partner_names in suppliers.items():
        cols = [i for i, name in enumerate(names) if name in set(partner_names)]
        value = sums[:, cols].sum(axis=1) / np.where(total > 0, total, 1.0)
        count = deals[:, cols].sum(axis=1)
        rows += [(partner, int(span[t]), value[t], int(count[t])) for t in np.flatnonzero(keep)]
    return pd.DataFrame(rows, columns=columns).astype(
        {"partner": "object", "year": "int64", "value": "float64", "n": "int64"}
    )
