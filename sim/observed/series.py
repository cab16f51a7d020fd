"""Observed series for a scenario's states: one tidy table from the public sources.

:func:`observed_series` maps scenario state ids to countries (``observed.codes``), reads
the data folder (:mod:`sim.observed.settings`) and derives the observables of
:data:`OBSERVABLES` for every ordered pair of mapped states (and per state for
``ideal_axis``). The table has the columns :data:`COLUMNS`:

- ``observable`` (str), ``state`` (scenario id), ``partner`` (scenario id, ``""`` for
  a state-level series), ``year`` (int), ``value`` (float), ``n`` (int: roll calls,
  votes, deals or dyads behind the value), ``source`` (the file name).

``df.attrs["provenance"]`` records the data folder (and which setting chose it), the
SHA-256 of each file used, the codes, the derivation choices and the package version.
The derivations themselves are pure functions in :mod:`~sim.observed.unga`,
:mod:`~sim.observed.sipri` and :mod:`~sim.observed.atop`; this module only wires them.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.errors import UserError
from sim.observed import atop, sipri, unga
from sim.observed.countries import Country, lookup, require_in_source, resolve_codes
from sim.observed.settings import DataDir, resolve_data_dir
from sim.observed.sources import BY_KEY, cached_frame, file_sha256, source_path

COLUMNS = ["observable", "state", "partner", "year", "value", "n", "source"]


@dataclass(frozen=True)
class Observable:
    """One observable: what it measures, the years it covers and its source."""

    description: str
    first_year: int
    last_year: int
    source: str

    def __str__(self) -> str:
        return f"{self.description} ({self.first_year}-{self.last_year})"


_ALLIANCE = "ATOP: {} obligation of state toward partner, 0/1 (group: share of member dyads)"
#: Every observable: name -> description, years, source key.
OBSERVABLES: dict[str, Observable] = {
    "unga_agreement": Observable(
        "UN vote agreement state->partner: 1 same vote, 0.5 one abstains, 0 opposite",
        1991, 2019, "votes",
    ),
    "bsv_agreement": Observable(
        "BSV agreement share with the US, Russia, China, India, Brazil or Israel "
        "(country-years with < 20 votes masked)", 1991, 2021, "ideal_points",
    ),
    "ideal_distance": Observable(
        "|ideal point of state - ideal point of partner| (BSV; group: mean point)",
        1991, 2021, "ideal_points",
    ),
    "ideal_axis": Observable(
        "state's ideal point between anchors: 0 at `away`, 1 at `toward`", 1991, 2021,
        "ideal_points",
    ),
    "arms_share": Observable(
        "share of the state's arms imports (SIPRI TIV delivered, W-year window) from "
        "partner", 1991, 2021, "sipri",
    ),
    **{
        name: Observable(_ALLIANCE.format(column.removeprefix("atop_")), 1991, 2018, "atop")
        for name, column in atop.OBLIGATIONS.items()
    },
}  # fmt: skip


@dataclass(frozen=True)
class _Request:
    """What the builders need: the folder, the mapped states and the options."""

    folder: DataDir
    states: dict[str, tuple[Country, ...]]
    axis: tuple[str, str] | None
    arms_window: int

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(a, b) for a in self.states for b in self.states if a != b]

    def path(self, key: str) -> Path:
        return source_path(self.folder.path, key)


def _labelled(frame: pd.DataFrame, state: str, partner: str) -> pd.DataFrame:
    return frame.assign(state=state, partner=partner)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts stacked; an empty frame when there are none (one state, no pairs)."""
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _unga_agreement(req: _Request) -> pd.DataFrame:
    votes = cached_frame(req.path("votes"), unga.parse_votes)
    iso2 = {s: [c.iso2 for c in group] for s, group in req.states.items()}
    present = set(votes["country"].unique())
    require_in_source(req.states, present, lambda c: c.iso2, BY_KEY["votes"].file)
    scores = unga.score_table(votes, {c for codes in iso2.values() for c in codes})
    pairwise = unga.pairwise_agreement(scores)
    return _concat(
        [_labelled(unga.group_agreement(pairwise, iso2[a], iso2[b]), a, b) for a, b in req.pairs]
    )


def _ideal_points(req: _Request) -> pd.DataFrame:
    ip = cached_frame(req.path("ideal_points"), unga.parse_ideal_points)
    require_in_source(req.states, set(ip["ccode"]), lambda c: c.cow, BY_KEY["ideal_points"].file)
    return ip


def _points(req: _Request, ip: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every mapped state's (mean) ideal point per year."""
    return {s: unga.mean_ideal_point(ip, [c.cow for c in group]) for s, group in req.states.items()}


def _cows(req: _Request, state: str) -> list[int]:
    return [c.cow for c in lookup(req.states, state)]


def _bsv_agreement(req: _Request) -> pd.DataFrame:
    ip = _ideal_points(req)
    parts = []
    for a, b in req.pairs:
        partner = req.states[b]
        if len(partner) == 1 and partner[0].iso3 in unga.BSV_AGREE_COLUMNS:
            parts.append(_labelled(unga.bsv_agreement(ip, _cows(req, a), partner[0].iso3), a, b))
    return _concat(parts)


def _ideal_distance(req: _Request) -> pd.DataFrame:
    points = _points(req, _ideal_points(req))
    return _concat(
        [_labelled(unga.ideal_distance(points[a], points[b]), a, b) for a, b in req.pairs]
    )


def _ideal_axis(req: _Request) -> pd.DataFrame:
    if req.axis is None:
        raise UserError("ideal_axis needs axis=(toward, away): two scenario state ids")
    points = _points(req, _ideal_points(req))
    toward, away = (points[s] for s in req.axis)
    return _concat([_labelled(unga.ideal_axis(points[s], toward, away), s, "") for s in req.states])


def _arms_share(req: _Request) -> pd.DataFrame:
    deals = cached_frame(req.path("sipri"), sipri.parse_sipri)
    named = set(deals["recipient"]) | set(deals["supplier"])
    require_in_source(req.states, named, lambda c: c.sipri, BY_KEY["sipri"].file)
    annual = cached_frame(req.path("sipri"), sipri.parse_annual_deliveries)
    names = {s: [n for c in group for n in c.sipri_names] for s, group in req.states.items()}
    years = range(OBSERVABLES["arms_share"].first_year, int(annual["year"].max()) + 1)
    parts = []
    for state in req.states:
        others = {p: names[p] for p in req.states if p != state}
        shares = sipri.supplier_shares(annual, names[state], others, years, req.arms_window)
        parts.append(shares.assign(state=state))
    return _concat(parts)


def _alliance(column: str) -> Callable[[_Request], pd.DataFrame]:
    def build(req: _Request) -> pd.DataFrame:
        frame = cached_frame(req.path("atop"), atop.parse_atop)
        present = set(frame["ccode1"]) | set(frame["ccode2"])
        require_in_source(req.states, present, lambda c: c.cow, BY_KEY["atop"].file)
        years = range(int(frame["year"].min()), int(frame["year"].max()) + 1)
        cows = {c.cow for group in req.states.values() for c in group}
        frame = frame[frame["ccode1"].isin(cows) & frame["ccode2"].isin(cows)]
        parts = []
        for a, b in req.pairs:
            share = atop.obligation_share(frame, _cows(req, a), _cows(req, b), column, years)
            parts.append(_labelled(share, a, b))
        return _concat(parts)

    return build


_BUILDERS: dict[str, Callable[[_Request], pd.DataFrame]] = {
    "unga_agreement": _unga_agreement,
    "bsv_agreement": _bsv_agreement,
    "ideal_distance": _ideal_distance,
    "ideal_axis": _ideal_axis,
    "arms_share": _arms_share,
    **{name: _alliance(column) for name, column in atop.OBLIGATIONS.items()},
}


#: The derivation choices, as recorded in every table's provenance.
CHOICES = {
    "unga_agreement": "Voeten's convention: yes=1, abstain=0.5, no=0, agreement 1-|difference| "
    "over roll calls both voted (absent/missing not counted); year = session + 1945",
    "bsv_mask": f"BSV agreement shares masked where NVotesAll < {unga.MIN_VOTES}",
    "ideal_points": "BSV IdealPointAll as published (not masked)",
    "groups": "EU27 = the 27 members since 2020, fixed for every year (never the UK); "
    "unga_agreement and bsv_agreement: mean of members' values; ideal_distance and "
    "ideal_axis: members' mean ideal point first; arms_share: members' TIV summed (as "
    "recipient and as supplier); alliances: share of member dyads with the obligation",
    "arms_share": "SIPRI TIV of delivered weapons spread evenly over each deal's listed "
    "delivery years; share = TIV from supplier / TIV from all suppliers over the window; "
    "Soviet Union deliveries (all before 1992) counted as Russia's; deals still under way "
    "in 2021 (no delivered TIV in the file) excluded",
    "alliances": "ATOP directed dyad-years, ccode1 = state; a dyad not listed = 0",
}


def _package_version() -> str:
    try:
        return importlib.metadata.version("multivector")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _provenance(req: _Request, names: list[str]) -> dict:
    keys = sorted({OBSERVABLES[n].source for n in names}, key=list(BY_KEY).index)
    choices = dict(CHOICES, arms_window_years=req.arms_window, axis=req.axis)
    if "arms_share" in names:
        deals = cached_frame(req.path("sipri"), sipri.parse_sipri)
        choices["sipri_rows_moved_back"] = deals.attrs.get("rows_moved_back", 0)
        choices["sipri_stray_rows_dropped"] = deals.attrs.get("stray_rows_dropped", 0)
        ongoing = deals["tiv_delivered"].isna() & (deals["delivery_years"].map(len) > 0)
        choices["sipri_ongoing_deals_excluded"] = int(ongoing.sum())
    return {
        "data_dir": str(req.folder.path),
        "data_dir_from": req.folder.detail,
        "files": {BY_KEY[k].file: file_sha256(req.path(k)) for k in keys},
        "codes": {s: [c.iso3 for c in group] for s, group in req.states.items()},
        "observables": names,
        "choices": choices,
        "version": _package_version(),
    }


def _names(observables: Iterable[str] | None, axis) -> list[str]:
    if observables is None:
        return [n for n in OBSERVABLES if n != "ideal_axis" or axis is not None]
    names = [observables] if isinstance(observables, str) else list(observables)
    unknown = [n for n in names if n not in OBSERVABLES]
    if unknown:
        raise UserError(
            f"unknown observable(s) {', '.join(map(repr, unknown))}; known: "
            + ", ".join(OBSERVABLES)
        )
    return list(dict.fromkeys(names))


def _tidy(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame = frame.assign(observable=name, source=BY_KEY[OBSERVABLES[name].source].file)
    return frame[COLUMNS].astype(
        {"state": str, "partner": str, "year": "int64", "value": "float64", "n": "int64"}
    )


def observed_series(
    codes: Mapping[str, str | Sequence[str]],
    data_dir: str | Path | DataDir | None = None,
    *,
    observables: Iterable[str] | None = None,
    axis: tuple[str, str] | None = None,
    years: Iterable[int] | None = None,
    arms_window: int = sipri.DEFAULT_WINDOW,
) -> pd.DataFrame:
    """The observed series of a scenario's states as one tidy table (:data:`COLUMNS`).

    ``codes``: state id -> ISO3 code, list of ISO3 codes, or group name (``EU27``).
    ``data_dir``: the folder, or a :class:`~sim.observed.settings.DataDir` already
    resolved (kept as is, so provenance names the setting that chose it); default:
    :func:`~sim.observed.settings.resolve_data_dir`.
    ``observables``: names from :data:`OBSERVABLES` (default: all; ``ideal_axis`` only
    when ``axis`` is given). ``axis``: ``(toward_id, away_id)`` for ``ideal_axis``.
    ``years``: keep only these years. ``arms_window``: years per arms-share window
    (default 5). Pairs are all ordered pairs of distinct mapped states.
    """
    if isinstance(arms_window, bool) or not isinstance(arms_window, int) or arms_window < 1:
        raise UserError(f"arms_window must be a whole number of years >= 1, got {arms_window!r}")
    names = _names(observables, axis)
    states = resolve_codes(codes)
    if axis is not None:
        for anchor in axis:
            lookup(states, anchor)
    folder = data_dir if isinstance(data_dir, DataDir) else resolve_data_dir(data_dir)
    req = _Request(folder, states, tuple(axis) if axis else None, arms_window)
    table = _concat([_tidy(_BUILDERS[n](req), n) for n in names])
    table = table if len(table.columns) else pd.DataFrame(columns=COLUMNS)
    table = table.astype({"year": "int64", "n": "int64", "value": "float64"})
    if years is not None:
        table = table[table["year"].isin(set(years))]
    table = table.sort_values(["observable", "state", "partner", "year"], kind="stable")
    table = table.reset_index(drop=True)
    table.attrs["provenance"] = _provenance(req, names)
    return table
