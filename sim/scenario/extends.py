"""``extends``: a scenario file built on another, merged field by field over its parent.

A child file names its parent with ``extends: FILE`` (relative to the child) and may drop
parent shocks with ``remove_shocks: [ID, ...]``. Mappings merge key by key; anything else
(a value, a list, a sourced ``{value: ...}`` node) replaces the parent's whole. The line
map follows the data: every path points to the file and line its value came from.

**Where a parent may be.** Every file of a chain must lie beneath one folder, the
*extends root* (:func:`extends_root`): the nearest folder named ``scenarios`` that holds
the file loaded, or else that file's own folder. Paths are resolved first, so an absolute
path, a ``..`` or a symbolic link that leads outside is refused, before the file is
opened. A chain adds at most :data:`~sim.scenario.limits.MAX_EXTENDS_CHAIN` files and is
followed without recursion. A parent that is not a scenario file is refused without
quoting it: no message shows another file's content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.scenario.documents import DocPath, Document, display_path, read_yaml
from sim.scenario.limits import MAX_EXTENDS_CHAIN, MAX_FILE_NAME_CHARS
from sim.scenario.problems import did_you_mean
from sim.scenario.schema import ScenarioSpec

#: The top-level fields a scenario file may have (the schema's, plus these two).
SCENARIO_FIELDS = frozenset(ScenarioSpec.model_fields) | {"extends", "remove_shocks"}


def extends_root(path: Path) -> Path:
    """The folder every file of ``path``'s ``extends`` chain must lie beneath.

    The nearest folder named ``scenarios`` that holds ``path`` (so a file in
    ``scenarios/mine/`` may extend ``../baseline.yaml``), or else ``path``'s own folder.

    Args:
        path: the file loaded (the child at the bottom of the chain), resolved.
    """
    for folder in path.parents:
        if folder.name == "scenarios":
            return folder
    return path.parent


def is_scenario_document(doc: Document) -> bool:
    """Whether ``doc`` looks like a scenario: at least one top-level field is a scenario's."""
    return any(key in SCENARIO_FIELDS for key in doc.data)


def read_with_parents(path: Path, root_dir: Path) -> Document:
    """Read a scenario file and the files it extends, merged into one document.

    The chain is followed in a loop (child, parent, grandparent, ...), then merged from
    the oldest ancestor down, each file's ``remove_shocks`` applied after its own merge.

    Args:
        path: the file to read.
        root_dir: messages show files relative to this directory.

    Raises:
        ScenarioError: a file cannot be read or is not a scenario file, a parent is
            missing, outside the extends root or too far up the chain, ``extends`` forms
            a cycle, or ``remove_shocks`` names a shock the parent does not have.
    """
    path = path.resolve()
    allowed = extends_root(path)
    doc = read_yaml(path, display_path(path, root_dir))
    if not is_scenario_document(doc):
        raise ScenarioError(
            f"{display_path(path, root_dir)}: is not a scenario file (none of its top-level "
            "fields is a scenario field such as name, time or states)"
        )
    seen = [path]
    chain: list[tuple[Document, Any, Path]] = []  # (child, its remove_shocks, its parent)
    while True:
        parent_ref = doc.data.pop("extends", None)
        removals = doc.data.pop("remove_shocks", None)
        if parent_ref is None:
            if removals is not None:
                f, line = doc.where[("remove_shocks",)]
                raise ScenarioError(
                    f"{f}:{line}: `remove_shocks` needs `extends:` (nothing to remove)"
                )
            break
        place = doc.where[("extends",)]
        if len(chain) >= MAX_EXTENDS_CHAIN:
            raise ScenarioError(
                f"{place[0]}:{place[1]}: field extends: a chain of extends may add at most "
                f"{MAX_EXTENDS_CHAIN} files to the file loaded "
                f"({display_path(seen[0], root_dir)})"
            )
        parent_path = _parent_path(parent_ref, seen, place, allowed, root_dir)
        chain.append((doc, removals, parent_path))
        seen.append(parent_path)
        doc = _read_parent(parent_path, place, root_dir)
    for child, removals, parent_path in reversed(chain):
        doc = merge_documents(doc, child)
        if removals is not None:
            place = child.where[("remove_shocks",)]
            _remove_shocks(doc, removals, place, parent_path, root_dir)
    return doc


def _parent_path(
    ref: Any, seen: list[Path], place: tuple[str, int], allowed: Path, root_dir: Path
) -> Path:
    """The resolved file that ``extends: ref`` (written at ``place`` in ``seen[-1]``) names.

    Raises:
        ScenarioError: ``ref`` is not a usable file name, leads outside ``allowed``, closes
            a cycle of ``seen``, or names no file.
    """
    f, line = place
    if not isinstance(ref, str):
        raise ScenarioError(f"{f}:{line}: field extends: expected a file name, got {_short(ref)}")
    if len(ref) > MAX_FILE_NAME_CHARS:
        raise ScenarioError(
            f"{f}:{line}: field extends: expected a file name of at most "
            f"{MAX_FILE_NAME_CHARS:,} characters, got {len(ref):,} characters"
        )
    if not ref.strip() or any(ord(c) < 32 for c in ref):
        raise ScenarioError(
            f"{f}:{line}: field extends: expected a file name (not blank, no control characters)"
        )
    try:
        parent_path = (seen[-1].parent / ref).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a bad name
        raise ScenarioError(
            f"{f}:{line}: field extends: cannot use the file name {_short(ref)} ({exc})"
        ) from None
    if not parent_path.is_relative_to(allowed):
        raise ScenarioError(
            f"{f}:{line}: field extends: {_short(ref)} leads outside "
            f"{display_path(allowed, root_dir)}; a scenario may extend only files beneath "
            "the `scenarios` folder that holds the file loaded, or else beneath that "
            "file's own folder (symbolic links are followed first)"
        )
    if parent_path in seen:
        chain = " -> ".join(display_path(p, root_dir) for p in (*seen, parent_path))
        raise ScenarioError(f"{f}:{line}: field extends: a cycle of extends: {chain}")
    try:
        exists = parent_path.is_file()
    except OSError:
        exists = False
    if not exists:
        raise ScenarioError(
            f"{f}:{line}: field extends: no such scenario file {ref!r} "
            f"(looked for {display_path(parent_path, root_dir)})"
        )
    return parent_path


def _short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters (a file name in a message)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_parent(parent_path: Path, place: tuple[str, int], root_dir: Path) -> Document:
    """The parent file's document, refused (at the child's ``extends``, ``place``) if it is
    not a scenario file; its fields are never quoted."""
    shown = display_path(parent_path, root_dir)
    doc = read_yaml(parent_path, shown)
    if not is_scenario_document(doc):
        raise ScenarioError(
            f"{place[0]}:{place[1]}: field extends: {shown} is not a scenario file (none of "
            "its top-level fields is a scenario field such as name, time or states)"
        )
    return doc


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
