"""``extends``: a scenario file built on another, merged field by field over its parent.

A child file names its parent with ``extends: FILE`` (relative to the child) and may drop
parent shocks with ``remove_shocks: [ID, ...]``. Mappings merge key by key; anything else
(a value, a list, a sourced ``{value: ...}`` node) replaces the parent's whole. The line
map follows the data: every path points to the file and line its value came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.scenario.documents import DocPath, Document, display_path, read_yaml
from sim.scenario.problems import did_you_mean


def read_with_parents(path: Path, root_dir: Path, stack: tuple[Path, ...] = ()) -> Document:
    """Read a scenario file and, recursively, the files it extends, merged into one document.

    Args:
        path: the resolved file to read.
        root_dir: messages show files relative to this directory.
        stack: the files that extend this one (to detect a cycle).

    Raises:
        ScenarioError: a file cannot be read, a parent is missing, ``extends`` forms a
            cycle, or ``remove_shocks`` names a shock the parent does not have.
    """
    shown = display_path(path, root_dir)
    doc = read_yaml(path, shown)
    parent_ref = doc.data.pop("extends", None)
    removals = doc.data.pop("remove_shocks", None)
    if parent_ref is None:
        if removals is not None:
            f, line = doc.where[("remove_shocks",)]
            raise ScenarioError(f"{f}:{line}: `remove_shocks` needs `extends:` (nothing to remove)")
        return doc
    f, line = doc.where[("extends",)]
    if not isinstance(parent_ref, str):
        raise ScenarioError(f"{f}:{line}: field extends: expected a file name, got {parent_ref!r}")
    parent_path = (path.parent / parent_ref).resolve()
    if parent_path in stack or parent_path == path.resolve():
        chain = " -> ".join(
            display_path(p, root_dir) for p in (*stack, path.resolve(), parent_path)
        )
        raise ScenarioError(f"{f}:{line}: field extends: a cycle of extends: {chain}")
    if not parent_path.is_file():
        raise ScenarioError(
            f"{f}:{line}: field extends: no such scenario file {parent_ref!r} "
            f"(looked for {display_path(parent_path, root_dir)})"
        )
    parent = read_with_parents(parent_path, root_dir, (*stack, path.resolve()))
    merged = merge_documents(parent, doc)
    if removals is not None:
        _remove_shocks(merged, removals, doc.where[("remove_shocks",)], parent_path, root_dir)
    return merged


def merge_documents(parent: Document, child: Document) -> Document:
    """``child`` over ``parent``: mappings merge by key, anything else replaces the parent's.

    A sourced node (a mapping with ``value``) replaces the parent's node whole, so a child
    never mixes its value with the parent's provenance.
    """
    where = dict(parent.where)

    def drop_under(prefix: DocPath) -> None:
        n = len(prefix)
        for k in [k for k in where if k[:n] == prefix and len(k) > n]:
            del where[k]

    def rec(a: Any, b: Any, path: DocPath) -> Any:
        if isinstance(a, dict) and isinstance(b, dict) and "value" not in b:
            out = dict(a)
            for k, v in b.items():
                out[k] = rec(a[k], v, path + (k,)) if k in a else rec(None, v, path + (k,))
            where[path] = child.where.get(path, where.get(path, ("?", 0)))
            return out
        drop_under(path)
        n = len(path)
        for k, v in child.where.items():
            if k[:n] == path:
                where[k] = v
        return b

    data = rec(parent.data, child.data, ())
    return Document(data, where)


def _remove_shocks(
    merged: Document, removals: Any, place: tuple[str, int], parent_path: Path, root_dir: Path
) -> None:
    """Drop the shocks named in ``remove_shocks`` (at ``place``) from the merged document."""
    rf, rline = place
    if not isinstance(removals, list) or not all(isinstance(r, str) for r in removals):
        raise ScenarioError(f"{rf}:{rline}: field remove_shocks: expected a list of shock ids")
    shocks = merged.data.get("shocks") or {}
    for r in removals:
        if r not in shocks:
            raise ScenarioError(
                f"{rf}:{rline}: field remove_shocks: no shock {r!r} in "
                f"{display_path(parent_path, root_dir)}{did_you_mean(r, shocks)}"
            )
        del shocks[r]
        n = len(("shocks", r))
        for k in [k for k in merged.where if k[:n] == ("shocks", r)]:
            del merged.where[k]
