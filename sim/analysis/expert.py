"""The regional expert's table: the model's direction of change of each main tie beside
the public record, marked agree or disagree.

A **record file** (``scenarios/record/baseline_world.yaml`` for the baseline world; its
header states its rules) lists, for ties ``A-B`` (A's directed tie to B; state ids
without a hyphen) and periods ``FIRST-LAST``, the direction the relationship took in the
public record: ``up``, ``down``, ``flat`` or ``mixed``, with the events and their
sources. It is built from events, never from the observed data series that calibration
and scoring use.

**The model's change** of a tie over a period, in one replicate, is the mean of its
records dated in the year LAST minus the mean of those dated in the year FIRST
(calendar-year means, as the measurement model uses them:
:func:`sim.calibration.measure.simulated_years`). Year means rather than single records:
a tie moves in steps of ``delta`` and scatters around its resting level, so one quarter's
record is noisier than a year's mean. Over the replicates (seeds, or seeds x posterior
draws) the change has a median and a 90% band (5% to 95%).

**The model's direction** is that of the median change (:func:`central_direction`):
``up`` above ``+MEDIAN_TOLERANCE`` (0.02), ``down`` below its negative, else ``flat``.
**The band's direction** (:func:`direction`) says whether the seeds agree on it: ``up``
when the whole band lies above ``+eps``, ``down`` when it lies below ``-eps``, ``flat``
when it lies within ``[-eps, eps]``, else ``uncertain``. By default ``eps`` is the
scenario's tie step ``delta``.

**Scoring** (:func:`verdict`): a row agrees when the model's (median) direction equals
the record's; it is *robust* when the band's direction is the same too. ``mixed``
record rows are shown and not scored.

**What reaches a row.** A row is *reached by a shock* when a shock of the scenario names
the dyad (an effect on a pair parameter of A-B or B-A, or an exogenous tie between them)
and can start or end in the period (between 1 January of FIRST and 31 December of LAST);
the table lists those shocks. Any other row can move only through the model's
mechanisms (reciprocity, threat and protection, structural balance, credibility,
autonomy) from shocks on other pairs and states. The summary counts agreement in the two
kinds apart: the first says whether the scenario's events, read by the model, move the
ties they name the right way; the second whether the mechanisms carry them on to the
ties they do not name.

**Seeds.** By default 200 seeds from the scenario's ``validation.seed_start`` (100000
unless it says otherwise), the seeds ``multivector validate`` uses
(:func:`sim.analysis.facts.seed_range`: never the tuning seeds). With a posterior (the
output directory of ``multivector calibrate``) every seed runs with each of ``draws``
input draws resampled from it (:func:`sim.calibration.forecast.choose_inputs`, the first
seed seeding the resampling), so the band covers seeds x draws; the runs are
:func:`sim.calibration.predictive.simulate`'s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.facts import seed_range, seeds_text
from sim.errors import ScenarioError, UserError
from sim.scenario import Scenario
from sim.scenario.documents import Document, display_path, dotted, read_yaml, where
from sim.scenario.problems import did_you_mean
from sim.world.compiled import world_for

REPO = Path(__file__).resolve().parents[2]
#: The public record of the baseline world.
DEFAULT_RECORD = REPO / "scenarios" / "record" / "baseline_world.yaml"
#: Seeds of the table unless told otherwise.
DEFAULT_SEEDS = 200
#: Posterior draws per seed unless told otherwise.
DEFAULT_DRAWS = 20
#: The most replicates (seeds x draws) of one table.
MAX_REPLICATES = 1_000_000
#: The band of the change over replicates: 5% to 95%.
BAND = (0.05, 0.95)
#: Directions the model can take, and those a record row can state.
MODEL_DIRECTIONS = ("up", "down", "flat", "uncertain")
RECORD_DIRECTIONS = ("up", "down", "flat", "mixed")
MIXED = "mixed"
AGREE, DISAGREE, NOT_SCORED = "agree", "disagree", "not scored"
#: Seeds simulated at once (bounds the memory of the tie tables).
SEED_BLOCK = 2000
_PERIOD = re.compile(r"(\d{4})-(\d{4})")
_ENTRY_FIELDS = ("direction", "reason", "source")


# --------------------------------------------------------------------------------------
# The record file
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A period ``FIRST-LAST``: the change from the year ``first`` to the year ``last``."""

    id: str
    first: int
    last: int


@dataclass(frozen=True)
class RecordRow:
    """One tie over one period in the public record, and where it is written."""

    state: str
    partner: str
    period: Period
    direction: str
    reason: str
    source: str
    where: str = "?"

    @property
    def tie(self) -> str:
        return f"{self.state}-{self.partner}"


@dataclass(frozen=True)
class Record:
    """A record file: its periods and its rows (tie by tie, period by period)."""

    path: Path
    periods: tuple[Period, ...]
    rows: tuple[RecordRow, ...]

    def years(self) -> list[int]:
        """Every year a period starts or ends in."""
        return sorted({y for p in self.periods for y in (p.first, p.last)})

    def states(self) -> list[str]:
        """Every state the record names, in order of first mention."""
        return list(dict.fromkeys(s for r in self.rows for s in (r.state, r.partner)))


def load_record(path: str | Path) -> Record:
    """Read and check a record file.

    Raises:
        ScenarioError: the file cannot be read, or breaks the format (every problem
            listed, each with its file and line).
    """
    path = Path(path)
    doc = read_yaml(path, display_path(path, Path.cwd()))
    problems: list[str] = []
    _unknown_keys(doc, (), doc.data, ("periods", "ties"), problems)
    periods = _periods(doc, problems)
    rows = _rows(doc, periods, problems)
    if problems:
        raise ScenarioError(problems)
    return Record(path, tuple(periods.values()), tuple(rows))


def _problem(doc: Document, loc: tuple, text: str, problems: list[str]) -> None:
    problems.append(f"{where(doc, loc)}: {dotted(loc)}: {text}")


def _unknown_keys(doc, loc, mapping: dict, allowed: Sequence[str], problems) -> None:
    for key in mapping:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f" (expected {', '.join(allowed)})"
            _problem(doc, (*loc, key), f"unknown field{hint}", problems)


def _periods(doc: Document, problems: list[str]) -> dict[str, Period]:
    """The ``periods:`` list, each ``FIRST-LAST`` with FIRST before LAST."""
    raw = doc.data.get("periods")
    if not isinstance(raw, list) or not raw:
        _problem(doc, ("periods",), "expected a list of periods such as [2018-2021]", problems)
        return {}
    out: dict[str, Period] = {}
    for k, text in enumerate(raw):
        m = _PERIOD.fullmatch(str(text)) if isinstance(text, str) else None
        if m is None or int(m[1]) >= int(m[2]):
            _problem(doc, ("periods", k), f"expected FIRST-LAST years with FIRST before "
                     f"LAST, such as 2018-2021; got {text!r}", problems)  # fmt: skip
        elif text in out:
            _problem(doc, ("periods", k), f"{text} is listed twice", problems)
        else:
            out[text] = Period(text, int(m[1]), int(m[2]))
    return out


def _rows(doc: Document, periods: dict[str, Period], problems: list[str]) -> list[RecordRow]:
    """The ``ties:`` mapping: for every tie ``A-B``, an entry for every period."""
    ties = doc.data.get("ties")
    if not isinstance(ties, dict) or not ties:
        _problem(doc, ("ties",), "expected a mapping of ties such as AZ-RU: {...}", problems)
        return []
    rows = []
    for tie, entries in ties.items():
        loc = ("ties", tie)
        pair = str(tie).split("-")
        if len(pair) != 2 or not all(pair) or pair[0] == pair[1]:
            _problem(doc, loc, "expected a tie STATE-PARTNER of two states, such as AZ-RU",
                     problems)  # fmt: skip
            continue
        if not isinstance(entries, dict):
            _problem(doc, loc, "expected a mapping of periods to entries", problems)
            continue
        _unknown_keys(doc, loc, entries, list(periods), problems)
        for pid, period in periods.items():
            if pid not in entries:
                _problem(doc, loc, f"no entry for the period {pid}", problems)
                continue
            entry = _entry(doc, (*loc, pid), entries[pid], problems)
            if entry is not None:
                rows.append(RecordRow(*pair, period, *entry, where=where(doc, (*loc, pid))))
    return rows


def _entry(doc: Document, loc: tuple, entry, problems: list[str]) -> tuple[str, ...] | None:
    """``(direction, reason, source)`` of one entry, or None when it is wrong."""
    if not isinstance(entry, dict):
        _problem(doc, loc, "expected {direction, reason, source}", problems)
        return None
    before = len(problems)
    _unknown_keys(doc, loc, entry, _ENTRY_FIELDS, problems)
    if entry.get("direction") not in RECORD_DIRECTIONS:
        _problem(doc, (*loc, "direction"), f"expected one of {', '.join(RECORD_DIRECTIONS)}; "
                 f"got {entry.get('direction')!r}", problems)  # fmt: skip
    for name in ("reason", "source"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            _problem(doc, (*loc, name), "expected a line of text", problems)
    if len(problems) > before:
        return None
    return tuple(str(entry[name]).strip() for name in _ENTRY_FIELDS)


def check_record(record: Record, scenario: Scenario) -> None:
    """The record names only states of the scenario, and the scenario has records in
    every year a period starts or ends in.

    Raises:
        UserError: a state or a year the scenario lacks (each named).
    """
    ids = scenario.state_ids
    problems = []
    for row in record.rows:
        for sid in (row.state, row.partner):
            if sid not in ids:
                problems.append(
                    f"{row.where}: tie {row.tie}: {sid!r} is not a state of "
                    f"{scenario.name!r}{did_you_mean(sid, ids)} (its states: {', '.join(ids)})"
                )
    dates = world_for(scenario).dates()[1:]  # the start record is not a simulated year
    have = {d.year for d in dates}
    for year in record.years():
        if year not in have:
            problems.append(
                f"{record.path}: the periods need records in {year}, and {scenario.name!r} "
                f"has records from {dates[0]} to {dates[-1]}"
            )
    if problems:
        raise UserError("\n".join(dict.fromkeys(problems)))


# --------------------------------------------------------------------------------------
# Directions and verdicts
# --------------------------------------------------------------------------------------


def direction(low: float, high: float, eps: float) -> str:
    """The model's direction from the band ``[low, high]`` of a change: ``up`` above
    ``+eps``, ``down`` below ``-eps``, ``flat`` within ``[-eps, eps]``, else
    ``uncertain``."""
    if low > eps:
        return "up"
    if high < -eps:
        return "down"
    if -eps <= low and high <= eps:
        return "flat"
    return "uncertain"


#: The median change below which (in absolute value) the model's direction is flat: about
#: a third of a tie's quarter-to-quarter noise in the baselines.
MEDIAN_TOLERANCE = 0.02


def central_direction(median: float) -> str:
    """``up``, ``down`` or ``flat``: the direction of a median change (see
    :data:`MEDIAN_TOLERANCE`)."""
    if median > MEDIAN_TOLERANCE:
        return "up"
    if median < -MEDIAN_TOLERANCE:
        return "down"
    return "flat"


@dataclass(frozen=True)
class Change:
    """A tie's change over a period across replicates: median, 90% band, and the
    directions of both (``direction``: the band's; ``central``: the median's)."""

    median: float
    low: float
    high: float
    direction: str
    replicates: int
    central: str = "flat"

    @classmethod
    def of(cls, changes: np.ndarray, eps: float) -> Change:
        """Summarise ``(replicates,)`` changes with the tolerance ``eps``."""
        changes = np.asarray(changes, dtype=float)
        if changes.size == 0 or not np.isfinite(changes).all():
            raise ValueError("changes: expected finite values, at least one")
        low, median, high = np.quantile(changes, [BAND[0], 0.5, BAND[1]])
        low, median, high = float(low), float(median), float(high)
        return cls(
            median, low, high, direction(low, high, eps), changes.size, central_direction(median)
        )


def verdict(recorded: str, modelled: str) -> str:
    """``agree`` when the directions are equal, ``not scored`` for a mixed record,
    else ``disagree``."""
    if recorded == MIXED:
        return NOT_SCORED
    return AGREE if recorded == modelled else DISAGREE


# --------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------


def tie_changes(
    scenario: Scenario,
    rows: Sequence[RecordRow],
    seeds: Sequence[int],
    draws: Sequence[dict] = ({},),
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``(rows, replicates)``: each row's change in each replicate; replicate
    ``d * len(seeds) + k`` is input draw ``d`` with seed ``k`` (common random numbers
    across draws). Run in blocks of :data:`SEED_BLOCK` seeds, one draw at a time.
    ``progress`` gets (draws done, draws)."""
    from sim.calibration.predictive import simulate

    years = sorted({y for r in rows for y in (r.period.first, r.period.last)})
    seeds = list(seeds)
    parts = []
    for d, draw in enumerate(draws):
        for lo in range(0, len(seeds), SEED_BLOCK):
            block = seeds[lo : lo + SEED_BLOCK]
            parts.append(_row_changes(simulate(scenario, block, [draw], years), rows))
        if progress is not None:
            progress(d + 1, len(draws))
    return np.concatenate(parts, axis=1)


def _row_changes(year_means: pd.DataFrame, rows: Sequence[RecordRow]) -> np.ndarray:
    """``(rows, replicates)`` from a table of calendar-year means of ties."""
    ties = year_means[year_means["simulated"] == "tie"]
    keys = [ties[c].astype(str) for c in ("state", "partner")]
    wide = ties.set_index([*keys, ties["year"], ties["replicate"]])["x"].unstack("replicate")
    return np.stack(
        [
            wide.loc[(r.state, r.partner, r.period.last)].to_numpy()
            - wide.loc[(r.state, r.partner, r.period.first)].to_numpy()
            for r in rows
        ]
    )


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------


@dataclass
class ExpertTable:
    """The model beside the record: one row of :attr:`frame` per record row.

    ``frame`` columns: state, partner, period, first_year, last_year, record, model,
    median, q05, q95, verdict, robust, replicates, reason, source, shocks (the ids of
    :func:`shocks_on_pair`, comma-separated; empty when only the mechanisms reach it).
    """

    frame: pd.DataFrame
    scenario: Scenario
    record: Record
    seeds: range
    draws: int
    eps: float
    posterior: str | None
    wall_time: float

    def summary(self, frame: pd.DataFrame | None = None) -> str:
        """``agree K of M scored rows (J robust; L mixed, not scored)`` (of ``frame``,
        default all)."""
        f = self.frame if frame is None else frame
        scored = f[f["verdict"] != NOT_SCORED]
        agree = int((scored["verdict"] == AGREE).sum())
        robust = int(scored["robust"].sum())
        return (
            f"agree {agree} of {len(scored)} scored rows ({robust} robust: the 90% band "
            f"agrees too; {len(f) - len(scored)} mixed, not scored)"
        )

    def reach_summary(self) -> str:
        """Agreement among the scored rows a shock reaches and among the others, and that
        of a model in which nothing moves (the rows the record calls flat)."""
        scored = self.frame[self.frame["verdict"] != NOT_SCORED]
        parts = []
        for label, rows in (
            ("reached by a shock that names the pair", scored[scored["shocks"] != ""]),
            ("reached only through the mechanisms", scored[scored["shocks"] == ""]),
        ):
            agree = int((rows["verdict"] == AGREE).sum())
            robust = int(rows["robust"].sum())
            parts.append(f"{label}: agree {agree} of {len(rows)} ({robust} robust)")
        still = int((scored["record"] == "flat").sum())
        parts.append(f"a model in which no tie moves would agree on {still} of {len(scored)}")
        return "; ".join(parts)

    def heading(self) -> str:
        """What was run and how it is read, above the tables."""
        inputs = "the scenario's point values"
        if self.posterior is not None:
            inputs = f"{self.draws} posterior draws from {self.posterior} (each with every seed)"
        return "\n".join(
            [
                f"# The regional expert's table: {self.scenario.name}",
                "",
                f"Model: {self.scenario.path or self.scenario.name}; "
                f"{seeds_text(self.scenario, self.seeds)}; {inputs}. "
                f"Record: {display_path(self.record.path, Path.cwd())} (public events, "
                "not data).",
                "",
                "A tie A-B is A's tie to B. Its change over FIRST-LAST is the mean of its "
                "records in LAST minus the mean of those in FIRST: the median and 90% band "
                f"(5% to 95%) over {int(self.frame['replicates'].iloc[0]):,} replicates. The "
                f"model's direction is the median's (flat within ±{MEDIAN_TOLERANCE:g}); the "
                f"band's: up when the band lies above +{self.eps:g}, down below "
                f"-{self.eps:g}, flat within ±{self.eps:g}, else uncertain. A row agrees when "
                "the model's direction is the record's, robustly when the band's is too. "
                "Rows whose record is mixed are not scored.",
            ]
        )

    def markdown(self) -> str:
        """The heading, one table per state (with its own count) and the summary line."""
        names = {sid: spec.name for sid, spec in self.scenario.spec.states.items()}
        parts = [self.heading()]
        for state, rows in self.frame.groupby("state", sort=False):
            parts.append(f"## {names.get(state, state)} ({state})\n\n{_markdown_rows(rows)}")
            parts.append(f"{state}: {self.summary(rows)}")
        parts.append(self.reach_summary())
        parts.append(self.summary())
        return "\n\n".join(parts) + "\n"


def _markdown_rows(rows: pd.DataFrame) -> str:
    lines = [
        "| tie | period | record | model | band | change: median [5%, 95%] | verdict | "
        "shocks on the pair | public record |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows.itertuples(index=False):
        events = f"{r.reason} ({r.source})".replace("|", "\\|")
        lines.append(
            f"| {r.state}-{r.partner} | {r.period} | {r.record} | {r.model} | {r.band} | "
            f"{r.median:+.3f} [{r.q05:+.3f}, {r.q95:+.3f}] | "
            f"{r.verdict}{' (robust)' if r.robust else ''} | {r.shocks or '-'} | {events} |"
        )
    return "\n".join(lines)


def expert_table(
    scenario: Scenario,
    record: str | Path | Record = DEFAULT_RECORD,
    *,
    seeds: int = DEFAULT_SEEDS,
    seed_start: int | None = None,
    posterior: str | Path | None = None,
    draws: int = DEFAULT_DRAWS,
    eps: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExpertTable:
    """The model beside the record for every row of ``record``.

    Args:
        seeds: how many seeds, from ``seed_start`` (default: the scenario's
            ``validation.seed_start``, else 100000; never the tuning seeds).
        posterior: a ``multivector calibrate`` output directory: each seed then runs
            with each of ``draws`` input draws resampled from it.
        eps: the tolerance of a direction (default: the scenario's tie step ``delta``).
        progress: called with (draws done, draws) after each input draw.

    Raises:
        UserError: a bad record, a state or year the scenario lacks, seeds that overlap
            the tuning seeds, a posterior of another scenario, too many replicates.
    """
    from sim.calibration.forecast import choose_inputs

    t0 = time.perf_counter()
    if not isinstance(record, Record):
        record = load_record(record)
    check_record(record, scenario)
    seed_list = seed_range(scenario, seeds, seed_start)
    draw_list = [{}]
    if posterior is not None:
        if len(seed_list) * draws > MAX_REPLICATES:
            raise UserError(
                f"{len(seed_list):,} seeds x {draws:,} draws = {len(seed_list) * draws:,} "
                f"replicates; at most {MAX_REPLICATES:,}: use fewer seeds or draws"
            )
        draw_list = choose_inputs(scenario, posterior, False, draws, seed_list.start).draws
    if eps is None:
        eps = float(world_for(scenario).delta)
    if not (np.isfinite(eps) and eps >= 0):
        raise UserError(f"eps: expected a number >= 0, got {eps}")
    changes = tie_changes(scenario, record.rows, seed_list, draw_list, progress)
    frame = pd.DataFrame(
        [_frame_row(row, Change.of(c, eps)) for row, c in zip(record.rows, changes, strict=True)]
    )
    frame["shocks"] = [", ".join(shocks_on_pair(scenario, row)) for row in record.rows]
    return ExpertTable(
        frame,
        scenario,
        record,
        seed_list,
        len(draw_list) if posterior is not None else 0,
        eps,
        None if posterior is None else str(posterior),
        time.perf_counter() - t0,
    )


def shocks_on_pair(scenario: Scenario, row: RecordRow) -> list[str]:
    """The shocks that name ``row``'s dyad (a pair effect on A-B or B-A, or an exogenous
    tie between them) and can start or end in its period: fire in it (a dated shock's
    period, a probabilistic shock's window overlapping it) or, fired earlier, expire in
    it."""
    w = world_for(scenario)
    ids = list(w.ids)
    a, b = ids.index(row.state), ids.index(row.partner)
    pair = {(a, b), (b, a)}
    years = np.array([d.year for d in w.dates()[1:]])  # period p ends at record p + 1
    inside = np.flatnonzero((years >= row.period.first) & (years <= row.period.last))
    if not inside.size:
        return []
    lo, hi = int(inside[0]), int(inside[-1])
    found = []
    for shock in w.shocks:
        named = any((i, j) in pair for i, j, _ in shock.ties) or any(
            e.cols is not None and pair & set(zip(e.rows.tolist(), e.cols.tolist(), strict=True))
            for e in shock.effects
        )
        if not named:
            continue
        first, last = shock.window
        fires = first <= hi and last >= lo
        ends = (
            shock.duration is not None
            and first + shock.duration <= hi
            and (last + shock.duration >= lo)
        )
        if fires or ends:
            found.append(shock.id)
    return found


def _frame_row(row: RecordRow, change: Change) -> dict:
    return {
        "state": row.state,
        "partner": row.partner,
        "period": row.period.id,
        "first_year": row.period.first,
        "last_year": row.period.last,
        "record": row.direction,
        "model": change.central,
        "band": change.direction,
        "median": change.median,
        "q05": change.low,
        "q95": change.high,
        "verdict": verdict(row.direction, change.central),
        "robust": row.direction == change.central == change.direction,
        "replicates": change.replicates,
        "reason": row.reason,
        "source": row.source,
    }
