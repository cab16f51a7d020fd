"""Problems in an input file, as messages that name the file, the line and the field.

A problem is a pair ``(place, message)``: ``place`` is ``FILE:LINE`` (from
:func:`~sim.scenario.documents.where`) and ``message`` is ``field PATH: what was expected``.
:func:`format_problems` sorts them by file and line into the lines of a
:class:`~sim.errors.ScenarioError`. Scenario files and experiment files share all of this:
:class:`ProblemList` collects the problems of one pass, :func:`pydantic_problems` translates
a pydantic ``ValidationError``, :func:`did_you_mean` suggests the closest known name.

Two mistakes get one message instead of the field-by-field errors: a file of the wrong
kind (a scenario where an experiment is expected, or the reverse: :func:`wrong_kind`,
judged by :func:`~sim.scenario.documents.document_kind` before any field is reported),
and a date written in quotes (``start: "2019-07-31"``), which YAML reads as text.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError
from sim.scenario.documents import DocPath, Document, document_kind, dotted, where

#: ``(FILE:LINE, "field PATH: message")``.
Problem = tuple[str, str]


class ProblemList:
    """The problems found in one document in one pass.

    Attributes:
        doc: the document the problems are about (for places).
        items: the problems, in the order found.
    """

    def __init__(self, doc: Document):
        self.doc = doc
        self.items: list[Problem] = []

    def add(self, loc: DocPath, message: str) -> None:
        """Record ``message`` about the field at ``loc``."""
        self.items.append((where(self.doc, loc), f"field {dotted(loc)}: {message}"))

    def raise_if_any(self) -> None:
        """Raise every problem found so far together, if there is one.

        Raises:
            ScenarioError: the problems, sorted by file and line.
        """
        if self.items:
            raise ScenarioError(format_problems(self.items))


def format_problems(problems: Iterable[Problem]) -> list[str]:
    """``FILE:LINE: message`` lines, sorted by file then line (in found order on one line)."""

    def key(p: Problem):
        f, _, line = p[0].rpartition(":")
        return (f, int(line) if line.isdigit() else 0)

    return [f"{w}: {m}" for w, m in sorted(problems, key=key)]


def did_you_mean(word: str, options) -> str:
    """The suffix `` (did you mean 'x'?)`` naming the option closest to ``word``, or ``""``."""
    cutoff = 0.5 if len(str(word)) <= 3 else 0.6  # two-letter ids: one typo is half the word
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def fields_at(loc: DocPath, root: type[BaseModel]) -> list[str]:
    """Field names allowed in the mapping at ``loc`` of a ``root`` document (for did-you-mean).

    Args:
        loc: a path into the document; ``dict[str, X]`` and ``list[X]`` fields consume one
            more element (the key or the index).
        root: the schema of the whole document (e.g. ``ScenarioSpec``).

    Returns:
        The field names of the model at ``loc``, or ``[]`` if ``loc`` is not a model.
    """
    model: Any = root
    i = 0
    while i < len(loc):
        key = loc[i]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(key)
        if field is None:
            return []
        model = _unwrap(field.annotation)
        i += 1
        # dict[str, X] and list[X] consume one more path element
        while i < len(loc) and getattr(model, "__origin__", None) in (dict, list):
            model = _unwrap(model.__args__[-1])
            i += 1
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", None)
    origin = getattr(annotation, "__origin__", None)
    if origin in (dict, list, tuple):
        return annotation
    if args:  # Optional[X], Annotated[X, ...], X | None
        for a in args:
            if a is not type(None):
                return _unwrap(a)
    return annotation


def pydantic_problems(doc: Document, err: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """The errors of validating ``doc`` against ``root``, as problems at their lines.

    An unknown field gets a did-you-mean and the list of allowed fields; a missing one is
    "required field is missing"; a quoted date says to remove the quotes; any other error
    keeps pydantic's message, plus the value given when it is a scalar. A document of the
    other kind (:func:`wrong_kind`) is one problem that says so, instead of all of these.
    """
    other = wrong_kind(doc, root)
    if other is not None:
        return [other]
    out = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and "[" in x))
        # pydantic inserts tagged-union/function markers; keep the document path only
        loc = tuple(x for x in loc if x not in ("function-after", "function-before"))
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = fields_at(loc[:-1], root)
            msg = f"unknown field {loc[-1]!r}{did_you_mean(loc[-1], allowed)}"
            if allowed:
                msg += f"; expected one of: {', '.join(allowed)}"
        elif kind == "missing":
            msg = "required field is missing"
        else:
            msg = e["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            got = e.get("input")
            if kind != "value_error" and not isinstance(got, dict | list):
                msg += f" (got {_short_repr(got)})"
            if kind == "date_type" and _is_iso_date(got):
                msg += f"; a date written in quotes is text: write {got} without quotes"
        out.append((where(doc, loc), f"field {dotted(loc)}: {msg}"))
    return out


#: What a user does with each kind of file, for :func:`wrong_kind`.
_KIND_USE = {
    "scenario": (
        "`multivector run`, `check`, `validate` and `explain` read scenario files "
        "(see scenarios/README.md); to run an experiment use `multivector batch FILE --out DIR`"
    ),
    "experiment": (
        "`multivector batch` runs experiments (see scenarios/experiments/README.md); "
        "to run a scenario use `multivector run`"
    ),
}


def wrong_kind(doc: Document, root: type[BaseModel]) -> Problem | None:
    """The problem of a document of the other kind than ``root`` reads: a scenario file
    (it has ``states:``) where an experiment is expected, or the reverse; ``None`` when
    ``doc`` is of ``root``'s kind or of no clear kind.

    The kind expected is ``root``'s: a model with a ``states`` field reads scenarios, one
    with a ``scenarios`` field experiments.
    """
    expected = (
        "scenario"
        if "states" in root.model_fields
        else "experiment"
        if "scenarios" in root.model_fields
        else None
    )
    found = document_kind(doc.data)
    if expected is None or found is None or found[0] == expected:
        return None
    kind, key = found
    f, _, line = where(doc, (key,)).rpartition(":")
    at = f" at line {line}" if line.isdigit() and line != "0" else ""
    return (
        f or "?",
        f"is {'an' if kind == 'experiment' else 'a'} {kind} file (it has `{key}:`{at}), "
        f"not {'an' if expected == 'experiment' else 'a'} {expected} file: {_KIND_USE[expected]}",
    )


def _is_iso_date(value: Any) -> bool:
    """Whether ``value`` is text that reads as an ISO date (a date written in quotes)."""
    if not isinstance(value, str):
        return False
    try:
        dt.date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 400-digit number, a long text)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a whole number of {len(str(abs(value))):,} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
