"""Overrides: a scenario with some values replaced by dotted path, validated again.

Parameter sweeps, experiment designs and the dashboard change a scenario this way
(``{"states.AZ.weights.energy": 0.5}``). The new values are placed in the document as if
written at the origin of the overrides (an experiment file and line), so every problem
they cause names that place.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sim.errors import ScenarioError
from sim.scenario.calendar import period_start
from sim.scenario.documents import DocPath, Document, dotted
from sim.scenario.loader import Scenario, scenario_from_document
from sim.scenario.problems import did_you_mean

#: Top-level sections where an override may create a missing key (a relation, a model
#: constant left at its default, a state's optional field).
_CREATABLE = ("relations", "model", "states")
#: Fields that hold a plain setting, not a sourced number: an override that creates one
#: writes the value itself.
_SETTINGS = frozenset({"version", "update", "candidates", "rule"})


def with_overrides(
    scenario: Scenario, overrides: Mapping[str, Any], origin: str = "override", line: int = 0
) -> Scenario:
    """The scenario with some values replaced, validated again like a file.

    Args:
        overrides: ``{path: value}``; a path is dotted into the scenario document as
            written (``states.AZ.weights.energy``, ``model.tie_cost``,
            ``relations.AZ.EU.energy``, ``shocks.ukraine_war.effects.0.value``). A sourced
            ``{value: ...}`` node keeps its shape: its value is replaced and its provenance
            becomes an assumption naming ``origin``. A missing mapping key is created (a
            relation or a model constant the file leaves at its default); list items must
            exist.
        origin, line: where the overrides come from (an experiment file and line), named
            in every problem found and in the new provenance.

    Raises:
        ScenarioError: a path that does not exist, or values the scenario rejects; each
            problem names ``origin:line`` and the path.
    """
    if not overrides:
        return scenario
    data = copy.deepcopy(scenario.content)
    where = dict(scenario.where)
    below = _below(where)
    for path_text, value in overrides.items():
        path = override_path(data, str(path_text), origin, line)
        parent = data
        for key in path[:-1]:
            if isinstance(parent, dict) and key not in parent:
                parent[key] = {}
            parent = parent[key]
        last = path[-1]
        node = parent.get(last) if isinstance(parent, dict) else parent[last]
        if isinstance(node, dict) and "value" in node:
            new = {"value": value, "assumption": f"set by {origin}"}
        elif isinstance(node, dict | list):
            raise ScenarioError(
                f"{origin}:{line}: parameter {path_text}: names a whole section, not a value; "
                f"name one of its fields: {', '.join(map(str, _keys(node)))}"
            )
        elif node is None and path[0] in _CREATABLE and last not in _SETTINGS:
            new = {"value": value, "assumption": f"set by {origin}"}
        else:
            new = value
        parent[last] = new
        _place(where, below, path, new, (origin, line))
    try:
        return scenario_from_document(Document(data, where), scenario.path)
    except ScenarioError as err:
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        lead = f"{origin}:{line}: the values {shown} make the scenario invalid:"
        raise ScenarioError([lead, *(f"  {p}" for p in err.problems)]) from None


def with_shocks_at(scenario: Scenario, periods: Mapping[str, int]) -> Scenario:
    """The scenario with each shock of ``periods`` (id -> period) dated at the first day
    of that period: a probabilistic shock becomes dated (its chance, window and
    ``max_fires`` dropped). What firing a shock "now" means (the shared classroom's
    teacher can fire a shock in the coming quarter)."""
    data = copy.deepcopy(scenario.content)
    for sid, period in periods.items():
        shock = data["shocks"][sid]
        for key in ("probability", "window", "max_fires"):
            shock.pop(key, None)
        shock["date"] = period_start(scenario.spec.time, period)
    return scenario_from_document(Document(data, dict(scenario.where)), scenario.path)


def _below(where: dict) -> dict[DocPath, set[DocPath]]:
    """Each path of the line map ``where`` -> the paths at or under it (built once per
    :func:`with_overrides`, so placing a value does not scan the whole map)."""
    out: dict[DocPath, set[DocPath]] = {}
    for k in where:
        for m in range(1, len(k) + 1):
            out.setdefault(k[:m], set()).add(k)
    return out


def _place(
    where: dict, below: dict[DocPath, set[DocPath]], path: DocPath, new: Any, place: tuple[str, int]
) -> None:
    """Point ``path`` (and what it now holds) at ``place`` in the line map ``where``; its
    ancestors keep their own place, or get ``place`` if they are new. ``below`` (from
    :func:`_below`) is kept up to date."""
    n = len(path)
    for k in below.get(path, set()):
        where.pop(k, None)
    added = [path[:k] for k in range(1, n + 1)]
    for k in added:
        where.setdefault(k, place)
    where[path] = place
    if isinstance(new, dict):
        added += [path + ("value",), path + ("assumption",)]
        where[path + ("value",)] = where[path + ("assumption",)] = place
    for k in added:
        for m in range(1, len(k) + 1):
            below.setdefault(k[:m], set()).add(k)


def _keys(node: Any) -> list:
    return list(node) if isinstance(node, dict) else list(range(len(node)))


def override_path(data: Any, path_text: str, origin: str, line: int) -> DocPath:
    """``a.b.0.c`` as a document path into ``data``, checking that it can exist.

    Every list index must exist; a missing mapping key is allowed only under `relations`,
    `model` and the fields of an existing state.

    Args:
        data: the scenario document (:attr:`Scenario.content`).
        path_text: the dotted path, e.g. ``shocks.pipeline.effects.0.value``.
        origin, line: where the path is written (named in problems).

    Raises:
        ScenarioError: the path is malformed or leads nowhere, naming ``origin:line``, with
            a did-you-mean and the keys that exist there.
    """
    if not path_text or any(not part for part in path_text.split(".")):
        raise ScenarioError(
            f"{origin}:{line}: parameter {path_text!r}: expected a dotted path such as "
            "states.AZ.weights.energy"
        )
    path: list[str | int] = []
    node = data
    for part in path_text.split("."):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    f"{origin}:{line}: parameter {path_text}: {dotted(tuple(path))} is a list of "
                    f"{len(node)}; expected an index from 0 to {len(node) - 1}, got {part!r}"
                )
            path.append(int(part))
            node = node[int(part)]
        elif isinstance(node, dict):
            first = path[0] if path else part
            if part not in node and first not in _CREATABLE:
                raise ScenarioError(
                    f"{origin}:{line}: parameter {path_text}: no {part!r} in "
                    f"{dotted(tuple(path))}{did_you_mean(part, node)}; "
                    f"it has: {', '.join(map(str, node))}"
                )
            if part not in node and first == "states" and len(path) < 2:
                raise ScenarioError(
                    f"{origin}:{line}: parameter {path_text}: no state {part!r}"
                    f"{did_you_mean(part, node)}; the states are: {', '.join(node)}"
                )
            path.append(part)
            node = node.get(part)
        elif node is None:
            path.append(part)
        else:
            raise ScenarioError(
                f"{origin}:{line}: parameter {path_text}: {dotted(tuple(path))} is a value "
                f"({node!r}), it has no field {part!r}"
            )
    return tuple(path)
