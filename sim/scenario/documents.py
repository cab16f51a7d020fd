"""Documents with a line map: YAML read with the file and line of every field.

A :class:`Document` is plain data (what ``yaml.safe_load`` would give, with a few
corrections listed in :func:`read_yaml`) plus ``where``: the ``(file, line)`` of every path
in it. Scenario files and experiment files are both read here, and every problem message
names its place with :func:`where` and its field with :func:`dotted`.

Reading is bounded (the limits are in :mod:`sim.scenario.limits`): the file's size, the
number of YAML nodes after aliases are expanded, the number of aliases, the nesting depth
and the size of every number are checked before or while the file is parsed, so a
hostile file (a "billion laughs" of nested aliases, 100,000 nested lists, ``10**400``)
ends with one message in well under a second.

A path (:data:`DocPath`) is a tuple of mapping keys and list indices, e.g.
``("shocks", "pipeline", "effects", 0, "value")``; its dotted form is
``shocks.pipeline.effects[0].value``.

:func:`document_kind` tells a scenario file from an experiment file by its top-level
fields, so a file of the wrong kind is named as such instead of failing every field.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ScenarioError
from sim.scenario.limits import (
    MAX_FILE_BYTES,
    MAX_INTEGER,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
)

#: A path into a document: mapping keys and list indices.
DocPath = tuple[Any, ...]

_YAML = "tag:yaml.org,2002:"
_BOOL_TAG = _YAML + "bool"
_STR_TAG = _YAML + "str"
_INT_TAG = _YAML + "int"
_MAP_TAG = _YAML + "map"
_SEQ_TAG = _YAML + "seq"
#: The tags a plain scalar may carry (``!!binary``, ``!!python/...``, ``!foo`` may not).
_SCALAR_TAGS = {_YAML + t for t in ("null", "bool", "int", "float", "str", "timestamp")}
#: Tags the resolver gives the plain words ``=`` and ``<<``: they stay words.
_WORD_TAGS = {_YAML + "value", _YAML + "merge"}
_FLOATISH = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
#: Longest whole number written in digits that can be within MAX_INTEGER (with a sign,
#: underscores or a 0x/0o/0b prefix it may be longer; the value is checked after).
_MAX_INT_CHARS = 80


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
    duplicate keys and merge keys (``<<``) are errors. Only YAML's standard tags are
    accepted, every number must be finite and at most :data:`MAX_INTEGER` in size, and
    the limits of :mod:`sim.scenario.limits` (size, nodes, aliases, depth) hold.

    Args:
        path: the file to read.
        shown: how messages name the file (see :func:`display_path`).

    Raises:
        ScenarioError: the file cannot be read, is too large, is not UTF-8, is not valid
            YAML, breaks a limit, is empty or is not a mapping; the message names
            ``shown`` and the line.
    """
    raw = _read_bounded(path, shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text_line(raw, exc.start)
        raise ScenarioError(
            f"{shown}:{line}: the file is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as read_text() would
    node, aliases = _compose(text, shown)
    if node is None:
        raise ScenarioError(f"{shown}: the file is empty; expected a scenario mapping")
    if aliases:
        _check_expansion(node, shown)
    loader = yaml.SafeLoader("")
    where: dict[DocPath, tuple[str, int]] = {}
    data = _construct(node, (), where, loader, shown)
    if not isinstance(data, dict):
        raise ScenarioError(f"{shown}:1: expected a mapping of scenario fields at the top level")
    return Document(data, where)


def _read_bounded(path: Path, shown: str) -> bytes:
    """The bytes of ``path``, refusing a file over :data:`MAX_FILE_BYTES` before reading it."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"{shown}: cannot read the file ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            f"{shown}: the file is larger than {MAX_FILE_BYTES:,} bytes, the largest "
            "scenario or experiment file Multivector reads"
        )
    return raw


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting nodes, aliases and nesting while it composes."""

    def __init__(self, text: str, shown: str):
        super().__init__(text)
        self.shown = shown
        self.nodes = 0
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise ScenarioError(
                f"{self.shown}:{line}: the file holds more than {MAX_YAML_NODES:,} YAML nodes "
                "(keys, values and list items), the most a file may hold"
            )
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise ScenarioError(
                    f"{self.shown}:{line}: the file uses more than {MAX_YAML_ALIASES:,} "
                    "YAML aliases (*name), the most a file may use"
                )
            return super().compose_node(parent, index)
        nested = isinstance(event, yaml.CollectionStartEvent)
        self.depth += nested
        if self.depth > MAX_YAML_DEPTH:
            raise ScenarioError(
                f"{self.shown}:{line}: mappings and lists are nested more than "
                f"{MAX_YAML_DEPTH} levels deep, the most a file may nest"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= nested


def _compose(text: str, shown: str) -> tuple[Any, int]:
    """The YAML node tree of ``text`` (``None`` if empty) and how many aliases it uses."""
    fast = _compose_with_libyaml(text)
    if fast is not None:
        return fast
    loader = _BoundedLoader(text, shown)
    try:
        return loader.get_single_node(), loader.aliases
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or str(exc)
        ctx = f" ({exc.context})" if exc.context else ""
        raise ScenarioError(f"{shown}{line}: YAML syntax error: {problem}{ctx}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{shown}: YAML error: {exc}") from None
    finally:
        loader.dispose()


def _compose_with_libyaml(text: str) -> tuple[Any, int] | None:
    """:func:`_compose` by libyaml's composer (about 6x faster than PyYAML's, which takes
    0.1 s for the baseline), or None where the pure-Python path must run instead: no
    libyaml, a text it cannot read, or a tree beyond the limits. That path then words the
    error with its file and line, as it counts while it composes; the trees of a text
    both read are the same (``tests/test_bad_input.py`` holds every shipped file to it).
    libyaml writes a plain scalar's style as ``""``, PyYAML as ``None`` (which
    :func:`_construct` reads): set here as PyYAML's."""
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    try:
        root = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    if root is None:
        return None, 0
    nodes = aliases = 0
    seen: set[int] = set()
    stack = [(root, 0)]  # (node, collections around it), in document order
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if id(node) in seen:  # a node met again is an alias of its anchor
            aliases += 1
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.style == "":
                node.style = None
            continue
        depth += 1
        if depth > MAX_YAML_DEPTH:
            return None
        stack.extend((child, depth) for child in reversed(_children(node)))
    if nodes > MAX_YAML_NODES or aliases > MAX_YAML_ALIASES:
        return None
    return root, aliases


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root, shown: str) -> None:
    """Refuse a node tree whose aliases make it too large, too deep or endless.

    Aliases share their anchor's node, so the tree is a graph: each node is visited once
    (without recursion) and its expanded size and depth are computed from its children's.

    Raises:
        ScenarioError: an alias inside the node it names (endless), or more than
            :data:`MAX_YAML_NODES` nodes or :data:`MAX_YAML_DEPTH` levels once expanded.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finish = stack.pop()
        key = id(node)
        line = node.start_mark.line + 1
        if finish:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            nested = isinstance(node, yaml.CollectionNode)
            depth[key] = nested + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_YAML_NODES:
                raise ScenarioError(
                    f"{shown}:{line}: with its aliases (*name) expanded, this part of the file "
                    f"holds more than {MAX_YAML_NODES:,} YAML nodes, the most a file may hold"
                )
            if depth[key] > MAX_YAML_DEPTH:
                raise ScenarioError(
                    f"{shown}:{line}: with its aliases (*name) expanded, mappings and lists are "
                    f"nested more than {MAX_YAML_DEPTH} levels deep, the most a file may nest"
                )
            continue
        if key in size:
            continue
        if key in depth:  # entered and not finished: the node contains itself
            raise ScenarioError(
                f"{shown}:{line}: a YAML alias (*name) refers to a node that contains it; "
                "it would repeat without end"
            )
        depth[key] = -1  # entered
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node))


#: Top-level fields that only a scenario file has, and only an experiment file has, in the
#: order a message names them (:func:`document_kind`).
KIND_FIELDS = {
    "scenario": ("states", "extends", "time", "relations", "shocks", "poles", "rivalries"),
    "experiment": ("scenarios", "replicates", "design", "seed", "seeds", "keep"),
}


def document_kind(data: Any) -> tuple[str, str] | None:
    """Whether ``data`` (a document's top level) is a scenario or an experiment, judged
    by the fields only one of the two has (:data:`KIND_FIELDS`).

    Returns:
        ``(kind, field)``: ``"scenario"`` or ``"experiment"`` and the first field of that
        kind found (what a message names); ``None`` if it has fields of both kinds or of
        neither.
    """
    if not isinstance(data, dict):
        return None
    found = {
        kind: next((k for k in fields if k in data), None) for kind, fields in KIND_FIELDS.items()
    }
    kinds = [(kind, key) for kind, key in found.items() if key is not None]
    return kinds[0] if len(kinds) == 1 else None


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
    line = line if line is not None else node.start_mark.line + 1
    where[path] = (shown, line)
    _check_tag(node, path, shown, line)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for k_node, v_node in node.value:
            k_line = k_node.start_mark.line + 1
            if not isinstance(k_node, yaml.ScalarNode):
                raise ScenarioError(f"{shown}:{k_line}: a mapping key must be a plain name")
            _check_tag(k_node, path + (k_node.value,), shown, k_line)
            key = k_node.value  # keys stay as written: `NO:` is Norway, not False
            if key == "<<":
                raise ScenarioError(
                    f"{shown}:{k_line}: YAML merge keys (<<) are not "
                    "supported; use `extends:` to build on another scenario"
                )
            if key in out:
                raise ScenarioError(
                    f"{shown}:{k_line}: field {dotted(path + (key,))} "
                    "appears twice in the same mapping"
                )
            out[key] = _construct(v_node, path + (key,), where, loader, shown, k_line)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, path + (i,), where, loader, shown) for i, v in enumerate(node.value)]
    return _scalar(node, path, loader, shown, line)


def _scalar(node, path: DocPath, loader, shown: str, line: int) -> Any:
    """The value of a scalar node: a word, a number (finite, bounded), a date, or null."""
    if node.tag in _WORD_TAGS:
        return node.value  # `=` and `<<` written as values are words
    if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
        return node.value  # yes/no/on/off stay words (state ids such as NO)
    if node.tag == _STR_TAG and node.style is None and _FLOATISH.fullmatch(node.value):
        value: Any = float(node.value)  # YAML 1.1 reads 1e-3 as a string; a number is meant
    elif node.tag == _INT_TAG and len(node.value) > _MAX_INT_CHARS:
        raise ScenarioError(
            f"{shown}:{line}: field {dotted(path)}: expected a number from "
            f"{-MAX_INTEGER} to {MAX_INTEGER}, got a whole number of {len(node.value):,} "
            "characters"
        )
    else:
        try:
            value = loader.construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError) as exc:  # 2021-02-30, 9999-99-99
            problem = getattr(exc, "problem", None) or str(exc)
            raise ScenarioError(
                f"{shown}:{line}: field {dotted(path)}: cannot read "
                f"{_short(node.value)!r}: {problem}"
            ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(
            f"{shown}:{line}: field {dotted(path)}: expected a finite number, "
            f"got {_short(node.value)}"
        )
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise ScenarioError(
            f"{shown}:{line}: field {dotted(path)}: expected a number from "
            f"{-MAX_INTEGER} to {MAX_INTEGER}, got a whole number of {len(str(abs(value)))} "
            "digits"
        )
    return value


def _check_tag(node, path: DocPath, shown: str, line: int) -> None:
    """Refuse a node whose tag is not YAML's standard one for its kind (``!!python/...``,
    ``!!binary``, ``!!set``, ``!foo``): the file is plain data."""
    if isinstance(node, yaml.MappingNode):
        ok = node.tag == _MAP_TAG
    elif isinstance(node, yaml.SequenceNode):
        ok = node.tag == _SEQ_TAG
    else:
        ok = node.tag in _SCALAR_TAGS or node.tag in _WORD_TAGS
    if not ok:
        tag = node.tag.replace(_YAML, "!!", 1) if node.tag.startswith(_YAML) else node.tag
        raise ScenarioError(
            f"{shown}:{line}: field {dotted(path)}: the YAML tag {_short(tag)} is not "
            "allowed; scenario and experiment files are plain YAML, without tags"
        )


def _short(text: str, limit: int = 60) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis (for messages)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
