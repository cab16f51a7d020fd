"""Outcomes: one small language for "which number of a run do you mean?".

An outcome names one number per run (or per replicate): a quantity of one state,
reduced over the records of a date or a window. The same text works in experiment
files (``outcomes:``), in ``multivector compare`` and ``sensitivity`` (``--outcome``),
in ``discover``, and from Python (:func:`parse_outcome`, :func:`evaluate`).

Quantities (``STATE``, ``PARTNER``: state ids; ``POLE``: a pole of the scenario):

- ``tie STATE PARTNER``: the tie from STATE to PARTNER, in [-1, 1] (needs the tie table);
- ``INDEX STATE``: ``alignment_index`` (mean tie toward one pole minus away from the
  other, in [-2, 2]) or ``hedging_index`` (evenness of positive ties over partner
  groups, in [0, 1]);
- ``TERM STATE``: a payoff term of the indices table: ``energy``, ``security``,
  ``alignment``, ``cost`` or ``utility``;
- ``pole STATE POLE``: STATE's position toward the pole: the mean of its ties to the
  pole's members, itself excluded (NaN when STATE is the pole's only member; needs the
  tie table).

Reductions (``WHEN``):

- ``at YYYY-MM-DD``: the record that closes the period containing the date;
- ``mean FIRST..LAST``: the mean over every record dated in the window, given as years
  (``2023..2030``: 1 January 2023 to 31 December 2030) or dates
  (``2023-01-01..2025-12-31``), both ends included;
- ``change QUANTITY FIRST..LAST -> FIRST..LAST`` (in front, in place of ``WHEN``): the
  mean over the second window minus the mean over the first.

Examples: ``tie MN US mean 2023..2030``, ``alignment_index AZ at 2030-12-31``,
``change hedging_index MN 2021..2022 -> 2024..2025``, ``pole AZ West mean 2023..2025``.
The older form ``STATE INDEX at YYYY-MM-DD`` (``AZ alignment_index at 2030-12-31``) is
deprecated but still read (as ``alignment_index AZ at 2030-12-31``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.scenario.problems import did_you_mean

#: The indices an outcome may name.
INDICES = ("alignment_index", "hedging_index")
#: The payoff terms (columns of the indices table) an outcome may name.
TERMS = ("energy", "security", "alignment", "cost", "utility")
#: The words that open a quantity.
KEYWORDS = ("tie", "pole", "change", *INDICES, *TERMS)

GRAMMAR = """\
An outcome is one of:
  tie STATE PARTNER WHEN      the tie from STATE to PARTNER (needs keep: ties)
  INDEX STATE WHEN            INDEX: alignment_index, hedging_index
  TERM STATE WHEN             TERM (a payoff term): energy, security, alignment, cost, utility
  pole STATE POLE WHEN        STATE's mean tie to the pole's members (needs keep: ties)
  change X FIRST..LAST -> FIRST..LAST
                              X: one of the above without WHEN; the mean over the
                              second window minus the mean over the first
WHEN: at YYYY-MM-DD (the record closing the period that contains the date), or
      mean FIRST..LAST with years (2023..2030) or dates (2023-01-01..2025-12-31)
e.g. 'tie AZ EU mean 2023..2025', 'alignment_index AZ at 2030-12-31',
     'change hedging_index AZ 2021..2022 -> 2024..2025', 'pole AZ West mean 2023..2025'"""

_YEAR = re.compile(r"^\d{4}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class OutcomeError(UserError):
    """An outcome text that does not parse: ``problem`` says what is wrong in one line
    (for a file's problem list); the message adds the grammar."""

    def __init__(self, where: str, text: str, problem: str):
        self.problem = problem
        super().__init__(f"{where} {text!r}: {problem}\n{GRAMMAR}")


@dataclass(frozen=True)
class Window:
    """Records dated ``first`` to ``last``, both included; ``text`` as written
    (``2023..2030``)."""

    first: dt.date
    last: dt.date
    text: str

    def slug(self) -> str:
        a, b = self.text.split("..")
        return f"{a}-{b}" if _YEAR.match(a) and _YEAR.match(b) else f"{a}_{b}"

    def label(self) -> str:
        return self.text.replace("..", "-" if "-" not in self.text else " to ")


@dataclass(frozen=True)
class Outcome:
    """A parsed outcome.

    Attributes:
        text: the text as given (``name`` aside, what the user wrote).
        kind: ``tie``, ``index``, ``term`` or ``pole``: the quantity.
        state: the state it is about.
        partner: the partner of a ``tie``.
        pole: the pole of a ``pole`` outcome, and ``members`` its members other than
            ``state`` (empty: the value is NaN).
        column: the index or term (a column of the indices table) of ``index``/``term``.
        when: ``at``, ``mean`` or ``change``.
        date: the date of ``at``.
        windows: the window of ``mean``; the first and second windows of ``change``.
        name: the name it was declared under in an experiment file (``None`` for a text).
        deprecated: written in the old form ``STATE INDEX at DATE``.
    """

    text: str
    kind: str
    state: str
    when: str
    partner: str | None = None
    pole: str | None = None
    members: tuple[str, ...] = ()
    column: str | None = None
    date: dt.date | None = None
    windows: tuple[Window, ...] = ()
    name: str | None = None
    deprecated: bool = False

    @property
    def quantity(self) -> str:
        """The quantity without its reduction: ``tie MN US``, ``alignment_index AZ``."""
        if self.kind == "tie":
            return f"tie {self.state} {self.partner}"
        if self.kind == "pole":
            return f"pole {self.state} {self.pole}"
        return f"{self.column} {self.state}"

    @property
    def canonical(self) -> str:
        """The text in the current grammar, spaced one way: the same outcome always
        reads the same (the old form and the new give one canonical text)."""
        if self.when == "at":
            return f"{self.quantity} at {self.date.isoformat()}"
        if self.when == "mean":
            return f"{self.quantity} mean {self.windows[0].text}"
        w1, w2 = self.windows
        return f"change {self.quantity} {w1.text} -> {w2.text}"

    @property
    def needs_ties(self) -> bool:
        return self.kind in ("tie", "pole")


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


def parse_outcome(
    text: str,
    ids: Collection[str],
    poles: Mapping[str, list[str]] | None = None,
    *,
    where: str = "--outcome",
) -> Outcome:
    """Read an outcome text (see the module docstring for the grammar).

    Args:
        text: e.g. ``"tie AZ EU mean 2023..2025"``.
        ids: the state ids of the scenario (or batch).
        poles: pole name -> member ids (needed only by ``pole`` outcomes).
        where: how messages name the text (``--outcome``, ``outcomes.late_tie``).

    Raises:
        OutcomeError: (a :class:`~sim.errors.UserError`) the text does not parse, or
            names an unknown state, partner, pole, index or term (with a did-you-mean);
            the message shows the grammar.
    """
    ids = [str(i) for i in ids]
    raw = text if isinstance(text, str) else str(text)
    tokens = raw.replace("->", " -> ").split()

    def fail(problem: str):
        raise OutcomeError(where, raw, problem)

    if not tokens:
        fail("empty")
    if tokens[0] == "change":
        if len(tokens) < 5 or tokens[-2] != "->":
            fail("expected 'change X FIRST..LAST -> FIRST..LAST'")
        w1 = _window(tokens[-3], fail)
        w2 = _window(tokens[-1], fail)
        base = _quantity(tokens[1:-3], ids, poles, fail, allow_old=False)
        return Outcome(text=raw, when="change", windows=(w1, w2), **base)
    k = next((k for k, t in enumerate(tokens) if t in ("at", "mean")), None)
    if k is None:
        fail("no WHEN: end with 'at YYYY-MM-DD' or 'mean FIRST..LAST'")
    tok = tokens[k]
    rest = tokens[k + 1 :]
    if len(rest) != 1:
        fail(f"expected one {'date' if tok == 'at' else 'window'} after {tok!r}, got {rest}")
    base = _quantity(tokens[:k], ids, poles, fail, allow_old=True)
    if tok == "at":
        return Outcome(text=raw, when="at", date=_date(rest[0], fail, years=False), **base)
    return Outcome(text=raw, when="mean", windows=(_window(rest[0], fail),), **base)


def _quantity(words: list[str], ids: list[str], poles, fail, allow_old: bool) -> dict:
    """The quantity part: the fields of :class:`Outcome` it fixes."""
    if not words:
        fail("no quantity before WHEN")
    head = words[0]
    if head == "tie":
        if len(words) != 3:
            fail("expected 'tie STATE PARTNER' (two state ids)")
        state, partner = _state(words[1], ids, fail), _state(words[2], ids, fail, "partner")
        if state == partner:
            fail(f"a tie joins two different states, got {state} to itself")
        return {"kind": "tie", "state": state, "partner": partner}
    if head == "pole":
        if len(words) != 3:
            fail("expected 'pole STATE POLE'")
        state = _state(words[1], ids, fail)
        if not poles:
            fail("the scenario declares no poles")
        if words[2] not in poles:
            fail(
                f"no pole {words[2]!r}{did_you_mean(words[2], list(poles))}; the poles are: "
                f"{', '.join(poles)}"
            )
        members = tuple(m for m in poles[words[2]] if m != state)
        return {"kind": "pole", "state": state, "pole": words[2], "members": members}
    if head in INDICES or head in TERMS:
        if len(words) != 2:
            fail(f"expected '{head} STATE' (one state id)")
        kind = "index" if head in INDICES else "term"
        return {"kind": kind, "state": _state(words[1], ids, fail), "column": head}
    if allow_old and len(words) == 2 and words[1] in INDICES + TERMS:
        _state(head, ids, fail)  # 'XX alignment_index at DATE': the state is unknown
    if allow_old and len(words) == 2 and head in ids:
        column = words[1]  # the deprecated 'STATE INDEX at DATE'
        if column in INDICES or column in TERMS:
            kind = "index" if column in INDICES else "term"
            return {"kind": kind, "state": head, "column": column, "deprecated": True}
        fail(
            f"no index or term {column!r}{did_you_mean(column, INDICES + TERMS)} "
            f"(the old form 'STATE INDEX at DATE'; write 'INDEX {head} at DATE' now)"
        )
    hint = did_you_mean(head, KEYWORDS)
    fail(
        f"{head!r} is not a quantity{hint}; start with tie, pole, change, an index "
        f"({', '.join(INDICES)}) or a term ({', '.join(TERMS)})"
    )


def _state(word: str, ids: list[str], fail, role: str = "state") -> str:
    if word not in ids:
        fail(f"no {role} {word!r}{did_you_mean(word, ids)}; the states are: {', '.join(ids)}")
    return word


def _date(word: str, fail, *, end: bool = False, years: bool = True) -> dt.date:
    """A date, or (with ``years``) a year: its first day, or with ``end`` its last."""
    if years and _YEAR.match(word):
        return dt.date(int(word), 12, 31) if end else dt.date(int(word), 1, 1)
    if _DATE.match(word):
        try:
            return dt.date.fromisoformat(word)
        except ValueError:
            pass
    fail(f"{word!r} is not a date (YYYY-MM-DD){' or a year' if years else ''}")


def _window(word: str, fail) -> Window:
    if word.count("..") != 1:
        fail(f"{word!r} is not a window: write FIRST..LAST, e.g. 2023..2025")
    a, b = word.split("..")
    first, last = _date(a, fail), _date(b, fail, end=True)
    if first > last:
        fail(f"the window {word} ends before it starts")
    return Window(first, last, word)


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------


def slug(outcome: Outcome) -> str:
    """A readable, file-name-safe name: ``tie_MN_US_mean_2023-2030``,
    ``alignment_index_AZ_at_2030-12-31``, ``change_hedging_index_MN_2021-2022_to_2024-2025``."""
    parts = [*outcome.quantity.split()]
    if outcome.when == "at":
        parts += ["at", outcome.date.isoformat()]
    elif outcome.when == "mean":
        parts += ["mean", outcome.windows[0].slug()]
    else:
        parts = ["change", *parts, outcome.windows[0].slug(), "to", outcome.windows[1].slug()]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(parts))


def label(outcome: Outcome) -> str:
    """A title for an axis or a figure: ``tie MN to US, mean 2023-2030``."""
    if outcome.kind == "tie":
        what = f"tie {outcome.state} to {outcome.partner}"
    elif outcome.kind == "pole":
        what = f"{outcome.state} toward {outcome.pole} (mean tie to its members)"
    else:
        what = f"{outcome.state} {outcome.column.replace('_', ' ')}"
    if outcome.when == "at":
        return f"{what} at {outcome.date.isoformat()}"
    if outcome.when == "mean":
        return f"{what}, mean {outcome.windows[0].label()}"
    w1, w2 = outcome.windows
    return f"change in {what}, {w1.label()} to {w2.label()}"


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


def series(
    outcome: Outcome,
    *,
    ties: pd.DataFrame | None,
    indices: pd.DataFrame | None,
    by: str = "run_id",
) -> pd.DataFrame:
    """The outcome's quantity at every record: columns ``by``, step, date, value (no
    reduction; the building block of :func:`evaluate` and of the figures).

    Raises:
        UserError: the table the quantity needs was not kept, or lacks ``by``.
    """
    if outcome.needs_ties:
        table = _table(ties, "ties", outcome, by)
        rows = table[table["state"] == outcome.state]
        if outcome.kind == "tie":
            rows = rows[rows["partner"] == outcome.partner]
            out = rows[[by, "step", "date", "tie"]].rename(columns={"tie": "value"})
        else:
            keys = rows[[by, "step", "date"]].drop_duplicates()
            rows = rows[rows["partner"].isin(outcome.members)]
            mean = rows.groupby([by, "step", "date"], observed=True)["tie"].mean()
            mean = mean.rename("value").reset_index()
            out = keys.merge(mean, on=[by, "step", "date"], how="left")
    else:
        table = _table(indices, "indices", outcome, by)
        rows = table[table["state"] == outcome.state]
        out = rows[[by, "step", "date", outcome.column]].rename(columns={outcome.column: "value"})
    out = out.reset_index(drop=True)
    out["date"] = pd.to_datetime(out["date"])
    return out


def evaluate(
    outcome: Outcome,
    *,
    ties: pd.DataFrame | None,
    indices: pd.DataFrame | None,
    by: str = "run_id",
) -> pd.Series:
    """One value of the outcome per ``by`` value.

    Args:
        outcome: from :func:`parse_outcome`.
        ties: the tie table (``tie`` and ``pole`` outcomes), or ``None`` when not kept.
        indices: the indices table (``INDEX`` and ``TERM`` outcomes).
        by: the column that tells runs apart: ``run_id`` for a batch's tables,
            ``replicate`` for an ensemble's (:func:`sim.run_ensemble`).

    Returns:
        A float Series indexed by ``by`` (named ``outcome.text``); NaN where the
        quantity is undefined (the alignment index of a pole's only member, a pole
        outcome of its only member).

    Raises:
        UserError: the needed table was not kept; the date or window holds no record.
    """
    s = series(outcome, ties=ties, indices=indices, by=by)
    if outcome.when == "at":
        when = _record_at(s, outcome.date, outcome)
        values = s[s["date"] == when].set_index(by)["value"]
    elif outcome.when == "mean":
        values = _window_mean(s, outcome.windows[0], outcome, by)
    else:
        first = _window_mean(s, outcome.windows[0], outcome, by)
        values = _window_mean(s, outcome.windows[1], outcome, by) - first
    values = values.astype(float).sort_index()
    values.name = outcome.text
    values.index.name = by
    return values


def _table(table: pd.DataFrame | None, kind: str, outcome: Outcome, by: str) -> pd.DataFrame:
    if table is None:
        raise UserError(
            f"outcome {outcome.text!r} needs the tie table, which was not kept: set "
            "`keep: ties` in the experiment file and run the batch again (from Python: "
            "run_ensemble(..., keep='ties'))"
        )
    if by not in table.columns:
        raise UserError(
            f"the {kind} table has no column {by!r} to tell runs apart (by='run_id' for a "
            "batch's tables, by='replicate' for an ensemble's)"
        )
    return table


def _records(s: pd.DataFrame) -> pd.DataFrame:
    return s[["step", "date"]].drop_duplicates().sort_values("step", ignore_index=True)


def _span(recs: pd.DataFrame) -> str:
    return f"{recs['date'].iloc[0].date()} to {recs['date'].iloc[-1].date()}"


def _record_at(s: pd.DataFrame, date: dt.date, outcome: Outcome) -> pd.Timestamp:
    """The kept record that closes the period containing ``date``.

    Records are dated at period ends; the period length is read off the table (months
    between two records over their steps), so a date whose own record was not kept is
    refused rather than moved to the next kept one.
    """
    recs = _records(s)
    if recs.empty:
        raise UserError(f"outcome {outcome.text!r}: the table holds no record of {outcome.state}")
    day = pd.Timestamp(date)
    at = int(np.searchsorted(recs["date"].to_numpy(), np.datetime64(day), side="left"))
    if at >= len(recs):
        raise UserError(f"outcome {outcome.text!r}: {date} is outside the records ({_span(recs)})")
    found, step = recs["date"].iloc[at], int(recs["step"].iloc[at])
    months = _months_per_step(recs)
    if step == 0 or months is None:
        opens = found - pd.Timedelta(days=0 if step == 0 else 365)
    else:
        opens = (found - pd.DateOffset(months=months)) + pd.offsets.MonthEnd(0)
        opens = opens + pd.Timedelta(days=1)
    if day < opens:
        where = "before the first record" if at == 0 else "in a period whose record was not kept"
        kept = ", ".join(str(d.date()) for d in recs["date"].iloc[:12])
        more = ", ..." if len(recs) > 12 else ""
        raise UserError(
            f"outcome {outcome.text!r}: {date} is {where} (the records kept: {kept}{more})"
        )
    return found


def _months_per_step(recs: pd.DataFrame) -> int | None:
    """Months per period, from the first and last record past step 0 (``None`` with fewer
    than two)."""
    r = recs[recs["step"] > 0]
    if len(r) < 2:
        return None
    a, b = r.iloc[0], r.iloc[-1]
    months = (b["date"].year - a["date"].year) * 12 + b["date"].month - a["date"].month
    return max(1, round(months / (b["step"] - a["step"])))


def _window_mean(s: pd.DataFrame, w: Window, outcome: Outcome, by: str) -> pd.Series:
    inside = s[(s["date"] >= pd.Timestamp(w.first)) & (s["date"] <= pd.Timestamp(w.last))]
    if inside.empty:
        recs = _records(s)
        span = _span(recs) if len(recs) else "none"
        raise UserError(
            f"outcome {outcome.text!r}: the window {w.text} holds no record (the records: {span})"
        )
    return inside.groupby(by)["value"].mean()


def named(outcome: Outcome, name: str) -> Outcome:
    """The outcome under a declared name."""
    return replace(outcome, name=name)
