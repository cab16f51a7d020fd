"""Which command made an output directory (its kind), read from the directory itself.

Every manifest records its kind in ``"kind"``:

- ``run``: ``multivector run`` (``ties.parquet``, ``indices.parquet``, ``alignment.png``,
  ``manifest.json``);
- ``ensemble``: ``multivector run --replicates`` (``indices.parquet``, ``ties.parquet``
  with ``--keep ties``, ``shocks.parquet``, ``inputs.parquet`` with ``--inputs prior``,
  ``alignment.png``, ``manifest.json``);
- ``batch``: ``multivector batch`` (the result store: ``manifest.json``,
  ``design.parquet``, ``parts/``, and ``plots/`` when analysed there);
- ``analysis``: ``multivector plot``, ``compare`` and ``sensitivity`` (figures and
  tables, and a manifest that records the command and arguments of each file);
- ``calibration``: ``multivector calibrate`` (the ABC history ``abc.db``, the posterior,
  diagnostics and figures; resumable, like a batch store);
- ``forecast``: ``multivector forecast`` (``forecast.parquet``, ``forecast.csv``,
  ``forecast.png``, ``manifest.json``);
- ``score``: ``multivector score`` (``scorecard.csv``, ``backtest.csv``, ``fits.csv``,
  ``inputs_vs_data.csv``, ``scorecard.png``, ``manifest.json``).

Outputs of earlier versions have no ``kind``; :func:`infer_kind` recognises them by
their manifest's fields (a batch by its ``format``, an ensemble by ``replicates`` and
``steps_recorded``, a run by ``seed`` and ``resolved_parameters``), and an earlier
version's plot directory (which had no manifest) by its file names.
:func:`inspect_dir` reads a directory into :class:`Contents`, which says what is there
in words (:meth:`Contents.describe`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sim.errors import UserError, os_error_cause

RUN = "run"
ENSEMBLE = "ensemble"
BATCH = "batch"
ANALYSIS = "analysis"
CALIBRATION = "calibration"
FORECAST = "forecast"
SCORE = "score"
KINDS = (RUN, ENSEMBLE, BATCH, ANALYSIS, CALIBRATION, FORECAST, SCORE)

MANIFEST = "manifest.json"
#: The entries a run and an ensemble write at the top of their directory: an earlier
#: output of the same kind is replaced only when it holds nothing else.
WRITES = {
    RUN: frozenset(
        {"ties.parquet", "indices.parquet", "ties.csv", "indices.csv", "alignment.png", MANIFEST}
    ),
    ENSEMBLE: frozenset(
        {
            *(
                f"{t}.{f}"
                for t in ("indices", "ties", "shocks", "inputs")
                for f in ("parquet", "csv")
            ),
            "alignment.png",
            MANIFEST,
        }
    ),
    FORECAST: frozenset({"forecast.parquet", "forecast.csv", "forecast.png", "fits.csv", MANIFEST}),
    SCORE: frozenset(
        {
            "scorecard.csv",
            "backtest.csv",
            "backtest_summary.csv",
            "fits.csv",
            "inputs_vs_data.csv",
            "scorecard.png",
            "scorecard.txt",
            MANIFEST,
        }
    ),
}
#: How a batch store's ``format`` starts.
BATCH_FORMAT = "multivector-batch/"
#: The files the analysis commands write (how an earlier version's plots are recognised).
#: A shard's store folder in a batch directory (``batch --shard K/M``), as listed.
SHARD_FOLDER = re.compile(r"shard-[0-9]+-of-[0-9]+/")
ANALYSIS_FILE = re.compile(
    r"(fan_.+|distributions_.+|compare_.+_vs_.+|sensitivity)\.(png|csv)|" + re.escape(MANIFEST)
)
#: What each kind is, in words.
LABELS = {
    RUN: "the output of a run (`multivector run`)",
    ENSEMBLE: "an ensemble (`multivector run --replicates`)",
    BATCH: "a batch store (`multivector batch`)",
    ANALYSIS: "figures and tables of a batch (`multivector plot`, `compare`, `sensitivity`)",
    CALIBRATION: "a calibration (`multivector calibrate`)",
    FORECAST: "a forecast (`multivector forecast`)",
    SCORE: "a scorecard (`multivector score`)",
}


def infer_kind(manifest: dict) -> str | None:
    """The kind of the output whose manifest this is: its ``kind``, or for an earlier
    version's manifest the kind its fields show; ``None`` when no command of this
    package wrote it."""
    kind = manifest.get("kind")
    if kind in KINDS:
        return kind
    if str(manifest.get("format", "")).startswith(BATCH_FORMAT):
        return BATCH
    if "replicates" in manifest and "steps_recorded" in manifest:
        return ENSEMBLE
    if "seed" in manifest and "resolved_parameters" in manifest:
        return RUN
    return None


@dataclass(frozen=True)
class Contents:
    """What a directory holds, as far as outputs go."""

    path: Path
    entries: tuple[str, ...]  # its names, sorted; directories end in "/"
    kind: str | None  # the command that made it; None: none of this package's
    inferred: bool  # kind recognised without a `kind` field (an earlier version)
    manifest: dict | None  # its manifest, when one could be read
    has_manifest: bool  # a manifest.json is there (readable or not)

    @property
    def empty(self) -> bool:
        """Missing, or an empty directory."""
        return not self.entries

    def names(self) -> set[str]:
        """The entries without the trailing slash of directories."""
        return {e.rstrip("/") for e in self.entries}

    @property
    def shards(self) -> list[str]:
        """The shard stores it holds (``shard-K-of-M``, see :mod:`sim.batch.shards`)."""
        return [e.rstrip("/") for e in self.entries if SHARD_FOLDER.fullmatch(e)]

    def extras(self, kind: str) -> list[str]:
        """The entries that ``kind`` does not write (all of them for a kind that is not
        replaced as a whole)."""
        allowed = WRITES.get(kind, frozenset())
        return [e for e in self.entries if e not in allowed]

    def describe(self) -> str:
        """What is there, in words: the kind and what it is of, or a listing."""
        if self.kind is None:
            if self.has_manifest:
                others = [e for e in self.entries if e != MANIFEST]
                beside = f", beside {listing(others)}" if others else ""
                return f"a {MANIFEST} that no Multivector command wrote{beside}"
            return f"{listing(self.entries)} and no {MANIFEST}"
        text = LABELS[self.kind] + self._detail()
        if self.inferred:
            text += " (made by an earlier version: recognised by its " + (
                "manifest's fields)" if self.has_manifest else "file names)"
            )
        return text

    def _detail(self) -> str:
        m = self.manifest or {}
        scenario = m.get("scenario") if isinstance(m.get("scenario"), dict) else {}
        name = scenario.get("name")
        if self.kind == RUN and name is not None:
            return f" of {name!r}, seed {m.get('seed')}"
        if self.kind == ENSEMBLE and name is not None:
            return f" of {name!r}, {m.get('replicates')} replicates"
        if self.kind == BATCH:
            exp = m.get("experiment") if isinstance(m.get("experiment"), dict) else None
            if exp is None and self.shards:
                return f" in {len(self.shards)} shard folders ({listing(self.shards)})"
            if exp is None:
                return f" whose {MANIFEST} is missing or damaged"
            return f" of experiment {exp.get('name')!r} ({m.get('runs', '?')} runs)"
        if self.kind == ANALYSIS:
            return f": {listing(self.entries)}"
        return ""


def listing(entries: tuple[str, ...] | list[str], most: int = 6) -> str:
    """``a.txt, b/, c.png and 4 more`` (or ``nothing``)."""
    entries = list(entries)
    if not entries:
        return "nothing"
    shown = ", ".join(entries[:most])
    return shown + (f" and {len(entries) - most} more" if len(entries) > most else "")


def inspect_dir(path: Path) -> Contents:
    """Read what ``path`` holds (nothing when it does not exist).

    Raises:
        UserError: it cannot be listed.
    """
    path = Path(path)
    if not path.is_dir():
        return Contents(path, (), None, False, None, False)
    try:
        with os.scandir(path) as it:
            entries = tuple(sorted(e.name + ("/" if e.is_dir() else "") for e in it))
    except OSError as exc:
        raise UserError(f"{path}: cannot list it: {os_error_cause(exc)}") from None
    has_manifest = MANIFEST in entries
    manifest = _read_manifest(path / MANIFEST) if has_manifest else None
    kind = infer_kind(manifest) if manifest is not None else None
    inferred = kind is not None and manifest.get("kind") != kind
    names = {e.rstrip("/") for e in entries}
    if kind is None and not has_manifest and entries:
        if all(ANALYSIS_FILE.fullmatch(e) for e in entries):
            kind, inferred = ANALYSIS, True  # an earlier version's plots (no manifest)
        elif "design.parquet" in names or "parts/" in entries:
            kind, inferred = BATCH, False  # a batch store that lost its manifest
        elif any(SHARD_FOLDER.fullmatch(e) for e in entries):
            kind, inferred = BATCH, False  # the shards of a batch (`batch --shard K/M`)
    return Contents(path, entries, kind, inferred, manifest, has_manifest)


def _read_manifest(path: Path) -> dict | None:
    """The manifest as a dict, or None when it is not readable JSON of an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
