"""The five observed sources: what each file is, who publishes it, and a folder check.

:data:`SOURCES` names each file expected in the data folder (see ``docs/DATA.md``) with
its publisher, citation, terms and the publisher's download page. :func:`check_folder`
says for each whether it is present, whether its SHA-256 matches the folder's
``SHA256SUMS`` (when there is one), how many rows it has and which years it covers;
:func:`format_report` prints that as a table (``multivector data check``).

Parsed files are cached in-process per (path, modification time, size): see
:func:`cached_frame`. A cached frame is shared: callers copy before changing it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.errors import UserError

#: The checksum file a data folder may carry (``sha256sum`` format).
SUMS_FILE = "SHA256SUMS"


@dataclass(frozen=True)
class Source:
    """One file of the data folder.

    ``year_column`` and ``year_offset`` say how :func:`check_folder` reads the years the
    file covers (``session + 1945`` for the UN files).
    """

    key: str
    file: str
    title: str
    publisher: str
    citation: str
    terms: str
    url: str
    year_column: str
    year_offset: int = 0


_BSV = (
    "Bailey, Michael A., Anton Strezhnev and Erik Voeten (2017), 'Estimating Dynamic "
    "State Preferences from United Nations Voting Data', Journal of Conflict Resolution "
    "61(2): 430-456; data: Harvard Dataverse, hdl:1902.1/12379"
)
_VOETEN = (
    "Erik Voeten, 'Data and Analyses of Voting in the UN General Assembly' (Harvard "
    "Dataverse, hdl:1902.1/12379); as packaged in the `unvotes` R package by David "
    "Robinson (MIT licence)"
)

SOURCES: tuple[Source, ...] = (
    Source(
        "ideal_points",
        "unga_ideal_points_1991_2021.csv",
        "UN General Assembly ideal points and agreement shares per country-year",
        "Erik Voeten (Harvard Dataverse)",
        _BSV,
        "Public research data; cite Bailey, Strezhnev and Voeten (2017).",
        "https://hdl.handle.net/1902.1/12379",
        "year",
    ),
    Source(
        "votes",
        "unga_roll_call_votes_1991_2019.csv.gz",
        "UN General Assembly votes (yes/no/abstain) per country and roll call",
        "Erik Voeten (Harvard Dataverse); `unvotes` R package",
        _VOETEN,
        "Public research data; cite Voeten. The `unvotes` package is MIT-licensed.",
        "https://hdl.handle.net/1902.1/12379 ; https://github.com/dgrtwo/unvotes",
        "session",
        1945,
    ),
    Source(
        "roll_calls",
        "unga_roll_calls_1991_2019.csv.gz",
        "UN General Assembly roll calls: id, session, date, resolution, description",
        "Erik Voeten (Harvard Dataverse); `unvotes` R package",
        _VOETEN,
        "Public research data; cite Voeten. The `unvotes` package is MIT-licensed.",
        "https://hdl.handle.net/1902.1/12379 ; https://github.com/dgrtwo/unvotes",
        "session",
        1945,
    ),
    Source(
        "sipri",
        "sipri_arms_transfers_orders_to_2021.csv",
        "SIPRI trade register of major conventional arms (orders up to 2021)",
        "Stockholm International Peace Research Institute (SIPRI)",
        "Information from the SIPRI Arms Transfers Database",
        "Free for non-commercial use with the credit line 'Information from the SIPRI "
        "Arms Transfers Database'; calculations from it are Multivector's own, not SIPRI's.",
        "https://www.sipri.org/databases/armstransfers",
        "Year of order",
    ),
    Source(
        "atop",
        "atop_alliance_dyad_years_1991_2018.csv.gz",
        "ATOP 5 alliance obligations per directed dyad-year (COW codes)",
        "ATOP project (Brett Ashley Leeds); via the `peacesciencer` R package",
        "Leeds, Brett Ashley, Jeffrey M. Ritter, Sara McLaughlin Mitchell and Andrew G. "
        "Long (2002), 'Alliance Treaty Obligations and Provisions, 1815-1944', "
        "International Interactions 28: 237-260 (ATOP version 5); via Miller, Steven V. "
        "(2022), peacesciencer",
        "Public research data; cite Leeds et al. (2002). peacesciencer is GPL-2.",
        "http://www.atopdata.org/",
        "year",
    ),
)

#: Sources by key.
BY_KEY: dict[str, Source] = {s.key: s for s in SOURCES}


def source_path(folder: Path, key: str) -> Path:
    """The path of source ``key`` in ``folder``; a :class:`UserError` when it is absent."""
    source = BY_KEY[key]
    path = Path(folder) / source.file
    if not path.is_file():
        raise UserError(
            f"observed data: {source.file} ({source.title}) is not in {folder}; "
            f"`multivector data check` lists what is there, docs/DATA.md where to get it "
            f"({source.url})"
        )
    return path


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def cached_frame(path: Path, parse: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``parse(path)``, cached per (path, modification time, size) for this process.

    ``parse`` must be a module-level function. The frame returned is shared: copy it
    before changing it.
    """
    return _cached(*_stat_key(Path(path)), parse)


@functools.lru_cache(maxsize=32)
def _cached(path: str, mtime_ns: int, size: int, parse) -> pd.DataFrame:
    return parse(Path(path))


def file_sha256(path: Path) -> str:
    """The SHA-256 of ``path`` in hex (cached per path, modification time and size)."""
    return _sha256(*_stat_key(Path(path)))


@functools.lru_cache(maxsize=32)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(folder: Path) -> dict[str, str] | None:
    """``SHA256SUMS`` of ``folder`` as {file name: hex digest}; None when absent."""
    path = Path(folder) / SUMS_FILE
    if not path.is_file():
        return None
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2:
            sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


@dataclass(frozen=True)
class SourceStatus:
    """What :func:`check_folder` found for one source. ``checksum`` is ``"ok"``,
    ``"MISMATCH"``, ``"not listed"`` (SHA256SUMS has no line for it), ``"no SHA256SUMS"``
    or ``"-"`` (file missing)."""

    source: Source
    present: bool
    checksum: str = "-"
    rows: int | None = None
    first_year: int | None = None
    last_year: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.present and self.checksum != "MISMATCH" and not self.problem


@dataclass(frozen=True)
class FolderReport:
    """:func:`check_folder`'s answer: ``ok`` when every source is present and matches."""

    folder: Path
    has_sums: bool
    statuses: list[SourceStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.statuses)

    @property
    def missing(self) -> list[str]:
        return [s.source.file for s in self.statuses if not s.present]

    @property
    def mismatched(self) -> list[str]:
        return [s.source.file for s in self.statuses if s.checksum == "MISMATCH"]

    @property
    def unlisted(self) -> list[str]:
        return [s.source.file for s in self.statuses if s.checksum == "not listed"]


def _years(path: Path, source: Source) -> tuple[int, tuple[int, int] | None]:
    """Rows of the file and the first and last year of its year column."""
    column = pd.read_csv(path, usecols=[source.year_column], dtype=str, keep_default_na=False)
    values = pd.to_numeric(column[source.year_column], errors="coerce") + source.year_offset
    years = values[(values % 1 == 0) & values.between(1800, 2100)]
    span = (int(years.min()), int(years.max())) if len(years) else None
    return len(column), span


def _status(folder: Path, source: Source, sums: dict[str, str] | None) -> SourceStatus:
    path = folder / source.file
    if not path.is_file():
        return SourceStatus(source, present=False)
    if sums is None:
        checksum = "no SHA256SUMS"
    elif source.file not in sums:
        checksum = "not listed"
    else:
        checksum = "ok" if file_sha256(path) == sums[source.file] else "MISMATCH"
    try:
        rows, span = _years(path, source)
    except (ValueError, OSError, EOFError) as exc:  # unreadable: say so, do not crash
        return SourceStatus(source, True, checksum, problem=f"cannot read: {exc}")
    if span is None:
        return SourceStatus(source, True, checksum, rows, problem="no years found")
    return SourceStatus(source, True, checksum, rows, span[0], span[1])


def check_folder(folder: str | Path) -> FolderReport:
    """Check ``folder`` against :data:`SOURCES` (presence, checksum, rows, years).

    A folder that does not exist (or is not a folder) is a :class:`UserError`.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(f"observed data folder {folder} {what}; see docs/DATA.md")
    sums = read_sums(folder)
    statuses = [_status(folder, s, sums) for s in SOURCES]
    return FolderReport(folder.resolve(), sums is not None, statuses)


def format_report(report: FolderReport) -> str:
    """The report as a readable table, with a last line saying what is wrong if anything."""
    head = ("file", "present", "sha256", "rows", "years")
    rows = [head]
    for s in report.statuses:
        years = f"{s.first_year}-{s.last_year}" if s.first_year is not None else "-"
        rows.append(
            (
                s.source.file,
                "yes" if s.present else "MISSING",
                s.checksum,
                f"{s.rows:,}" if s.rows is not None else "-",
                s.problem or years,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [f"observed data folder: {report.folder}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if not report.has_sums:
        lines.append(f"no {SUMS_FILE} in the folder: checksums not checked")
    problems = []
    if report.missing:
        problems.append("missing: " + ", ".join(report.missing))
    if report.mismatched:
        problems.append(f"checksum differs from {SUMS_FILE}: " + ", ".join(report.mismatched))
    if report.unlisted:
        lines.append(f"not listed in {SUMS_FILE}: " + ", ".join(report.unlisted))
    unreadable = [s.source.file for s in report.statuses if s.problem]
    if unreadable:
        problems.append("unreadable: " + ", ".join(unreadable))
    lines.append("; ".join(problems) if problems else "all five sources present and matching")
    return "\n".join(lines)
