"""Loading a scenario: file (or dict) to a validated :class:`Scenario`.

:func:`load_scenario` reads a file and the files it extends
(:mod:`sim.scenario.extends`), validates the merged document against the schema
(:mod:`sim.scenario.schema`) and the semantic checks (:mod:`sim.scenario.checks`), and
returns a :class:`Scenario`. Every problem found in one pass is reported together, each as
``FILE:LINE: field PATH: what was expected``, in one :class:`~sim.errors.ScenarioError`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import ValidationError

from sim.errors import ScenarioError, os_error_cause
from sim.scenario.checks import check_scenario
from sim.scenario.documents import DocPath, Document, doc_from_dict
from sim.scenario.extends import read_with_parents
from sim.scenario.problems import did_you_mean, format_problems, pydantic_problems
from sim.scenario.schema import ScenarioSpec


class Scenario:
    """A validated scenario: the typed spec plus where it came from.

    Attributes:
        spec: the validated :class:`ScenarioSpec`.
        path: the file it was loaded from (``None`` when built from a dict).
        content: the merged document (``extends`` resolved) as plain data.
        content_hash: SHA-256 of ``content`` in canonical JSON; identifies the scenario.
        where: ``(file, line)`` of every path in ``content`` (for messages).
    """

    def __init__(
        self,
        spec: ScenarioSpec,
        content: dict,
        path: Path | None,
        where: dict[DocPath, tuple[str, int]] | None = None,
    ):
        self.spec = spec
        self.content = content
        self.path = path
        self.where = where or {}
        canon = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
        self.content_hash = hashlib.sha256(canon.encode()).hexdigest()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state_ids(self) -> list[str]:
        return list(self.spec.states)

    def reference(self) -> dict:
        """Name, path and content hash: how a manifest names the scenario it ran."""
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "content_hash": self.content_hash,
        }

    def __repr__(self) -> str:
        return f"Scenario({self.spec.name!r}, states={self.state_ids}, path={self.path})"


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file.

    Raises:
        ScenarioError: with every problem found, each naming file, line and field.
    """
    path = Path(path)
    root = Path.cwd().resolve()
    shown = str(path) if len(str(path)) <= 200 else str(path)[:197] + "..."
    try:
        exists = path.is_file()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise ScenarioError(f"{shown}: cannot read the file ({os_error_cause(exc)})") from None
    except ValueError:  # a NUL character
        raise ScenarioError(f"{shown}: cannot read the file (a NUL in its name)") from None
    if not exists:
        hint = ""
        if path.parent.is_dir():
            hint = did_you_mean(path.name, [p.name for p in path.parent.glob("*.y*ml")])
        raise ScenarioError(f"{shown}: no such scenario file{hint}")
    doc = read_with_parents(path.resolve(), root)
    return scenario_from_document(doc, path)


def scenario_from_dict(data: dict, name: str = "<dict>") -> Scenario:
    """Validate a scenario given as a Python dict (for tests and notebooks)."""
    return scenario_from_document(doc_from_dict(data, name), None)


def scenario_from_document(doc: Document, path: Path | None) -> Scenario:
    """Validate a document (``extends`` already resolved) into a :class:`Scenario`.

    Args:
        doc: the document with its line map.
        path: the file it came from, kept as :attr:`Scenario.path` (``None`` if none).

    Raises:
        ScenarioError: every schema problem, or else every semantic problem, by line.
    """
    try:
        spec = ScenarioSpec.model_validate(doc.data)
    except ValidationError as err:
        problems = pydantic_problems(doc, err, ScenarioSpec)
        raise ScenarioError(format_problems(problems)) from None
    problems = check_scenario(spec, doc)
    if problems:
        raise ScenarioError(format_problems(problems))
    return Scenario(spec, doc.data, path, doc.where)
