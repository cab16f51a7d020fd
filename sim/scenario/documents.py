"""Documents with a line map: YAML read with the file and line of every field.

A :class:`Document` is plain data (what ``yaml.safe_load`` would give, with a few
corrections listed in :func:`read_yaml`) plus ``where``: the ``(file, line)`` of every path
in it. Scenario files and experiment files are both read here, and every problem message
names its place with :func:`where` and its field with :func:`dotted`.

A path (:data:`DocPath`) is a tuple of mapping keys and list indices, e.g.
``("shocks", "pipeline", "effects", 0, "value")``; its dotted form is
``shocks.pipeline.effects[0].value``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ScenarioError

#: A path into a document: mapping keys and list indices.
DocPath = tuple[Any, ...]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
_FLOATISH = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class Document:
    """A parsed document with the provenance ``(file, line)`` of every path in it.

    Attributes:
        data: the plain data (dicts, lists, scalars).
        where: path -> ``(file as shown, 1-based line)``; line 0 for data built in Python.
    """

    def __init__(self, data: Any, where: dict[DocPath, tuple[str, int]]):
        self.data = data
        self.where = where


def read_yaml(path: Path, shown: str) -> Document:
    """Read a YAML file whose top level is a mapping, recording the line of every path.

    Unlike plain ``yaml.safe_load``: mapping keys stay as written (``NO:`` is Norway, not
    False), ``yes``/``no``/``on``/``off`` values stay words, ``1e-3`` is a number, and
    duplicate keys and merge keys (``<<``) are errors.

    Args:
        path: the file to read.
        shown: how messages name the file (see :func:`display_path`).

    Raises:
        ScenarioError: the file cannot be read, is not UTF-8, is not valid YAML, is empty
            or is not a mapping; the message names ``shown`` and the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{shown}: cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        line = text_line(path.read_bytes(), exc.start)
        raise ScenarioError(
            f"{shown}:{line}: the file is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or str(exc)
        ctx = f" ({exc.context})" if exc.context else ""
        raise ScenarioError(f"{shown}{line}: YAML syntax error: {problem}{ctx}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{shown}: YAML error: {exc}") from None
    if node is None:
        raise ScenarioError(f"{shown}: the file is empty; expected a scenario mapping")
    loader = yaml.SafeLoader("")
    where: dict[DocPath, tuple[str, int]] = {}
    data = _construct(node, (), where, loader, shown)
    if not isinstance(data, dict):
        raise ScenarioError(f"{shown}:1: expected a mapping of scenario fields at the top level")
    return Document(data, where)


def doc_from_dict(data: dict, name: str = "<dict>") -> Document:
    """A document built in Python: every path's place is ``name`` (line 0)."""
    where: dict[DocPath, tuple[str, int]] = {}

    def walk(obj: Any, p: DocPath) -> None:
        where[p] = (name, 0)
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, p + (k,))
        elif isinstance(obj, list):
            for k, v in enumerate(obj):
                walk(v, p + (k,))

    walk(data, ())
    return Document(data, where)


def text_line(data: bytes, offset: int) -> int:
    """1-based line number of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def display_path(path: Path, root_dir: Path) -> str:
    """``path`` as messages show it: relative to ``root_dir`` if inside it, else as given."""
    try:
        return str(path.resolve().relative_to(root_dir))
    except ValueError:
        return str(path)


def where(doc: Document, loc: DocPath) -> str:
    """``FILE:LINE`` of ``loc``, or of its nearest ancestor that has a place (``?`` if none)."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in doc.where:
            f, line = doc.where[loc[:n]]
            return f"{f}:{line}"
    return "?"


def file_and_line(doc: Document, loc: DocPath) -> tuple[str, int]:
    """:func:`where` as ``(file, line)``; line 0 when unknown."""
    f, _, line = where(doc, loc).rpartition(":")
    return f, int(line) if line.isdigit() else 0


def dotted(path: DocPath) -> str:
    """A path as messages name a field: ``shocks.pipeline.effects[0].value``."""
    parts: list[str] = []
    for p in path:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _construct(node, path: DocPath, where, loader, shown: str, line: int | None = None) -> Any:
    """Plain Python data from a YAML node, recording the line of every path.

    A mapping value is located at its key's line (where a reader looks for the field).
    """
    where[path] = (shown, line if line is not None else node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                raise ScenarioError(
                    f"{shown}:{k_node.start_mark.line + 1}: a mapping key must be a plain name"
                )
            key = k_node.value  # keys stay as written: `NO:` is Norway, not False
            if key == "<<":
                raise ScenarioError(
                    f"{shown}:{k_node.start_mark.line + 1}: YAML merge keys (<<) are not "
                    "supported; use `extends:` to build on another scenario"
                )
            if key in out:
                raise ScenarioError(
                    f"{shown}:{k_node.start_mark.line + 1}: field {dotted(path + (key,))} "
                    "appears twice in the same mapping"
                )
            out[key] = _construct(
                v_node, path + (key,), where, loader, shown, k_node.start_mark.line + 1
            )
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, path + (i,), where, loader, shown) for i, v in enumerate(node.value)]
    if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
        return node.value  # yes/no/on/off stay words (state ids such as NO)
    if node.tag == _STR_TAG and node.style is None and _FLOATISH.fullmatch(node.value):
        return float(node.value)  # YAML 1.1 reads 1e-3 as a string; a number is meant
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError) as exc:  # 2021-02-30, unknown tags such as !!python/...
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            f"{shown}:{node.start_mark.line + 1}: field {dotted(path)}: cannot read "
            f"{node.value!r}: {problem}"
        ) from None
