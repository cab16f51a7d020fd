"""Scenario files: reading, ``extends`` merging, and validation.

This is the only module that reads scenario files. Everything downstream receives a
validated :class:`Scenario` (typed pydantic objects) and never sees raw YAML.

A problem is reported as ``FILE:LINE: field PATH: what was expected``; all problems found
in one pass are reported together, then :class:`~sim.errors.ScenarioError` is raised.
The field reference lives in ``scenarios/README.md``.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.errors import ScenarioError

Path_ = tuple[Any, ...]  # a path into the document: keys and list indices

# --------------------------------------------------------------------------------------
# Vocabulary: the parameters a scenario sets and shocks change, with their ranges.
# --------------------------------------------------------------------------------------

#: Per-state parameters: name -> (low, high), inclusive.
STATE_PARAMS: dict[str, tuple[float, float]] = {
    "power": (1e-9, math.inf),
    "autonomy": (0.0, 10.0),
    "cross_pressure": (0.0, 10.0),
}
#: Directed pair parameters (row i, column j: what j means to i): name -> range.
PAIR_PARAMS: dict[str, tuple[float, float]] = {
    "energy": (0.0, 1.0),
    "threat": (0.0, 1.0),
    "proximity": (0.0, 1.0),
    "protection": (0.0, 1.0),
    "arms": (0.0, 1.0),
    "affinity": (-1.0, 1.0),
    "leverage": (0.0, 1.0),
}
#: Pair parameters whose row (over partners j) is a share and must sum to at most 1.
SHARE_PARAMS = ("energy", "arms", "leverage")
#: Symmetric pair parameters, set in `rivalries` and changed by shocks on either order.
SYMMETRIC_PARAMS: dict[str, tuple[float, float]] = {"rivalry": (0.0, 1.0)}
#: Global model constants: name -> (range, default).
MODEL_CONSTANTS: dict[str, tuple[tuple[float, float], float]] = {
    "delta": ((1e-3, 0.5), 0.05),
    "reciprocity_floor": ((0.0, 1.0), 0.5),
    "threat_reduction": ((0.0, 1.0), 0.5),
    "leverage_threshold": ((-0.9, 0.9), 0.25),
    "tie_cost": ((1e-3, 10.0), 0.2),
    "tie_noise": ((1e-4, 0.5), 0.05),
    "move_cost": ((0.0, 100.0), 1.0),
}
DECISION_RULES = ("logit", "best_response", "fixed")
WEIGHT_NAMES = ("energy", "security", "alignment")
EFFECT_OPS = ("set", "add", "multiply")


# --------------------------------------------------------------------------------------
# Typed schema
# --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Sourced(_Strict):
    """A number with its provenance: a published source, or a stated assumption."""

    value: float
    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_bare(cls, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, dict):
            if isinstance(data, int | float) and not isinstance(data, bool):
                raise ValueError(
                    f"a bare number ({data}); every number needs its provenance: write "
                    f"{{value: {data}, source: '...'}} or {{value: {data}, assumption: '...'}}"
                )
            raise ValueError("expected {value: NUMBER, source: TEXT} or {value, assumption}")
        return data

    @field_validator("value", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"expected a finite number, got {v}")
        return v

    @model_validator(mode="after")
    def _one_provenance(self) -> Sourced:
        has_s = bool(self.source and self.source.strip())
        has_a = bool(self.assumption and self.assumption.strip())
        if has_s == has_a:
            raise ValueError(
                "give exactly one of `source:` (who published the figure) or "
                "`assumption:` (a one-line reason)"
            )
        return self


class TimeSpec(_Strict):
    start: dt.date
    end: dt.date | None = None
    steps: Annotated[int, Field(ge=1, le=10_000)] | None = None
    step: Literal["quarter", "month", "year"] = "quarter"
    burn_in: Annotated[int, Field(ge=0, le=10_000)] = 40

    @model_validator(mode="after")
    def _end_or_steps(self) -> TimeSpec:
        if (self.end is None) == (self.steps is None):
            raise ValueError(
                "give exactly one of `end:` (a date) or `steps:` (a count); a file that "
                "extends another replaces the parent's with `end: null` or `steps: null`"
            )
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"`end` ({self.end}) must come after `start` ({self.start})")
        return self


class Weights(_Strict):
    energy: Sourced
    security: Sourced
    alignment: Sourced


class StateSpec(_Strict):
    name: str
    power: Sourced
    weights: Weights
    autonomy: Sourced
    cross_pressure: Sourced
    rule: Literal["logit", "best_response", "fixed"] = "logit"
    note: str | None = None


class PairSpec(_Strict):
    energy: Sourced | None = None
    threat: Sourced | None = None
    proximity: Sourced | None = None
    protection: Sourced | None = None
    arms: Sourced | None = None
    affinity: Sourced | None = None
    leverage: Sourced | None = None


StatePair = Annotated[list[str], Field(min_length=2, max_length=2)]


class Rivalry(_Strict):
    pair: StatePair
    value: float
    source: str | None = None
    assumption: str | None = None


class Effect(_Strict):
    """One change to one parameter: ``param`` of ``state`` or of ``pair``, by ``op``."""

    param: str
    op: Literal["set", "add", "multiply"] = "set"
    value: float
    state: str | None = None
    pair: StatePair | None = None
    both_ways: bool = False
    exogenous: bool = False
    source: str | None = None
    assumption: str | None = None


class Window(_Strict):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"the window ends ({self.end}) before it starts ({self.start})")
        return self


class ShockSpec(_Strict):
    label: str
    date: dt.date | None = None
    probability: Sourced | None = None
    window: Window | None = None
    duration: Annotated[int, Field(ge=1)] | None = None
    max_fires: Annotated[int, Field(ge=1)] = 1
    source: str | None = None
    assumption: str | None = None
    note: str | None = None
    effects: list[Effect]


class ModelSpec(_Strict):
    delta: Sourced | None = None
    reciprocity_floor: Sourced | None = None
    threat_reduction: Sourced | None = None
    leverage_threshold: Sourced | None = None
    tie_cost: Sourced | None = None
    tie_noise: Sourced | None = None
    move_cost: Sourced | None = None
    update: Literal["simultaneous", "one_at_a_time"] = "simultaneous"
    candidates: Literal["local", "grid"] = "local"


class AlignmentAxis(_Strict):
    toward: str
    away: str


class Than(_Strict):
    state: str
    partner: str | None = None
    index: Literal["alignment_index", "hedging_index"] | None = None


class FactSpec(_Strict):
    """A stylised fact that ``multivector validate`` checks over many seeds."""

    id: str
    kind: Literal["tie_range", "strongest_tie", "mean_change", "greater", "paired_effect"]
    description: str
    source: str
    state: str
    partner: str | None = None
    index: Literal["alignment_index", "hedging_index"] | None = None
    bands: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]] | None = None
    window: Window | None = None
    early: Window | None = None
    late: Window | None = None
    direction: Literal["up", "down"] = "up"
    than: Than | None = None
    counterfactual: str | None = None
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.9


class ValidationSpec(_Strict):
    seeds: Annotated[int, Field(ge=2, le=100_000)] = 200
    facts: list[FactSpec] = []


class ScenarioSpec(_Strict):
    name: str
    description: str = ""
    focus: str | None = None
    time: TimeSpec
    model: ModelSpec = ModelSpec()
    poles: dict[str, list[str]] = {}
    alignment_axis: AlignmentAxis | None = None
    states: dict[str, StateSpec]
    relations: dict[str, dict[str, PairSpec]] = {}
    rivalries: list[Rivalry] = []
    shocks: dict[str, ShockSpec] = {}
    references: dict[str, str] = {}
    validation: ValidationSpec | None = None


class Scenario:
    """A validated scenario: the typed spec plus where it came from.

    Attributes:
        spec: the validated :class:`ScenarioSpec`.
        path: the file it was loaded from (``None`` when built from a dict).
        content: the merged document (``extends`` resolved) as plain data.
        content_hash: SHA-256 of ``content`` in canonical JSON; identifies the scenario.
    """

    def __init__(
        self,
        spec: ScenarioSpec,
        content: dict,
        path: Path | None,
        where: dict[Path_, tuple[str, int]] | None = None,
    ):
        self.spec = spec
        self.content = content
        self.path = path
        self.where = where or {}  # (file, line) of every path in ``content``
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


# --------------------------------------------------------------------------------------
# Reading YAML with line numbers
# --------------------------------------------------------------------------------------

_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
_FLOATISH = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class _Doc:
    """A parsed document with the provenance ``(file, line)`` of every path in it."""

    def __init__(self, data: Any, where: dict[Path_, tuple[str, int]]):
        self.data = data
        self.where = where


def _read_yaml(path: Path, shown: str) -> _Doc:
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
    where: dict[Path_, tuple[str, int]] = {}
    data = _construct(node, (), where, loader, shown)
    if not isinstance(data, dict):
        raise ScenarioError(f"{shown}:1: expected a mapping of scenario fields at the top level")
    return _Doc(data, where)


def text_line(data: bytes, offset: int) -> int:
    """1-based line number of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def _construct(node, path: Path_, where, loader, shown: str, line: int | None = None) -> Any:
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
                    f"{shown}:{k_node.start_mark.line + 1}: field {_dotted(path + (key,))} "
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
            f"{shown}:{node.start_mark.line + 1}: field {_dotted(path)}: cannot read "
            f"{node.value!r}: {problem}"
        ) from None


def _dotted(path: Path_) -> str:
    parts: list[str] = []
    for p in path:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


# --------------------------------------------------------------------------------------
# extends: merging a child over its parent
# --------------------------------------------------------------------------------------


def _merge(parent: _Doc, child: _Doc) -> _Doc:
    where = dict(parent.where)

    def drop_under(prefix: Path_) -> None:
        n = len(prefix)
        for k in [k for k in where if k[:n] == prefix and len(k) > n]:
            del where[k]

    def rec(a: Any, b: Any, path: Path_) -> Any:
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
    return _Doc(data, where)


def _resolve(path: Path, stack: tuple[Path, ...], root_dir: Path) -> _Doc:
    shown = _show(path, root_dir)
    doc = _read_yaml(path, shown)
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
        chain = " -> ".join(_show(p, root_dir) for p in (*stack, path.resolve(), parent_path))
        raise ScenarioError(f"{f}:{line}: field extends: a cycle of extends: {chain}")
    if not parent_path.is_file():
        raise ScenarioError(
            f"{f}:{line}: field extends: no such scenario file {parent_ref!r} "
            f"(looked for {_show(parent_path, root_dir)})"
        )
    parent = _resolve(parent_path, (*stack, path.resolve()), root_dir)
    merged = _merge(parent, doc)
    if removals is not None:
        rf, rline = doc.where[("remove_shocks",)]
        if not isinstance(removals, list) or not all(isinstance(r, str) for r in removals):
            raise ScenarioError(f"{rf}:{rline}: field remove_shocks: expected a list of shock ids")
        shocks = merged.data.get("shocks") or {}
        for r in removals:
            if r not in shocks:
                raise ScenarioError(
                    f"{rf}:{rline}: field remove_shocks: no shock {r!r} in "
                    f"{_show(parent_path, root_dir)}{did_you_mean(r, shocks)}"
                )
            del shocks[r]
            n = len(("shocks", r))
            for k in [k for k in merged.where if k[:n] == ("shocks", r)]:
                del merged.where[k]
    return merged


def _show(path: Path, root_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(root_dir))
    except ValueError:
        return str(path)


def did_you_mean(word: str, options) -> str:
    """The suffix `` (did you mean 'x'?)`` naming the option closest to ``word``, or ``""``."""
    cutoff = 0.5 if len(str(word)) <= 3 else 0.6  # two-letter ids: one typo is half the word
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _fields_at(loc: Path_, root: type[BaseModel] | None = None) -> list[str]:
    """Field names allowed in the mapping at ``loc`` of a ``root`` document (default: a
    scenario), for did-you-mean."""
    model: Any = root or ScenarioSpec
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


def _where(doc: _Doc, loc: Path_) -> str:
    for n in range(len(loc), -1, -1):
        if loc[:n] in doc.where:
            f, line = doc.where[loc[:n]]
            return f"{f}:{line}"
    return "?"


def _pydantic_problems(doc: _Doc, err: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and "[" in x))
        # pydantic inserts tagged-union/function markers; keep the document path only
        loc = tuple(x for x in loc if x not in ("function-after", "function-before"))
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            msg = f"unknown field {loc[-1]!r}{did_you_mean(loc[-1], allowed)}"
            if allowed:
                msg += f"; expected one of: {', '.join(allowed)}"
            field = _dotted(loc)
        elif kind == "missing":
            msg = "required field is missing"
            field = _dotted(loc)
        else:
            text = e["msg"]
            if text.startswith("Value error, "):
                text = text[len("Value error, ") :]
            got = e.get("input")
            if kind not in ("value_error",) and not isinstance(got, dict | list):
                text += f" (got {got!r})"
            msg = text
            field = _dotted(loc)
        out.append((_where(doc, loc), f"field {field}: {msg}"))
    return out


def _check_semantics(spec: ScenarioSpec, doc: _Doc) -> list[tuple[str, str]]:
    """Cross-field checks pydantic cannot express: ids, ranges, sums, dates."""
    problems: list[tuple[str, str]] = []
    ids = list(spec.states)

    def bad(loc: Path_, msg: str) -> None:
        problems.append((_where(doc, loc), f"field {_dotted(loc)}: {msg}"))

    def known(state_id: str, loc: Path_, wildcard: bool = False) -> bool:
        if wildcard and state_id == "*":
            return True
        if state_id not in spec.states:
            bad(
                loc,
                f"unknown state id {state_id!r}{did_you_mean(state_id, ids)}; "
                f"the states are {', '.join(ids)}",
            )
            return False
        return True

    def in_range(v: float, lo: float, hi: float, loc: Path_) -> None:
        if not (lo <= v <= hi):
            hi_s = "infinity" if hi == math.inf else f"{hi:g}"
            bad(loc, f"expected a number in [{lo:g}, {hi_s}], got {v:g}")

    if len(ids) < 2:
        bad(("states",), f"a world needs at least two states, got {len(ids)}")
    for sid in ids:
        if sid == "*" or not sid.strip():
            bad(
                ("states", sid),
                "'*' and blank names are not state ids ('*' means all states in shock effects)",
            )
    for pole, members in spec.poles.items():
        if not members:
            bad(("poles", pole), "a pole needs at least one member state")
    if spec.alignment_axis is not None and (spec.alignment_axis.toward == spec.alignment_axis.away):
        bad(("alignment_axis",), "`toward` and `away` must be two different poles")
    seen_pairs: dict[frozenset, int] = {}
    for k, r in enumerate(spec.rivalries):
        key = frozenset(r.pair)
        if key in seen_pairs:
            bad(
                ("rivalries", k),
                f"the rivalry {r.pair[0]}-{r.pair[1]} is already given at "
                f"rivalries[{seen_pairs[key]}]",
            )
        seen_pairs[key] = k

    for name, ((lo, hi), _default) in MODEL_CONSTANTS.items():
        s = getattr(spec.model, name)
        if s is not None:
            in_range(s.value, lo, hi, ("model", name, "value"))

    for sid, st in spec.states.items():
        for name, (lo, hi) in STATE_PARAMS.items():
            in_range(getattr(st, name).value, lo, hi, ("states", sid, name, "value"))
        w = [getattr(st.weights, n).value for n in WEIGHT_NAMES]
        for n, v in zip(WEIGHT_NAMES, w, strict=True):
            in_range(v, 0.0, 1.0, ("states", sid, "weights", n, "value"))
        if abs(sum(w) - 1.0) > 1e-6:
            bad(
                ("states", sid, "weights"),
                f"the three weights are shares of concern and must sum to 1, got {sum(w):g}",
            )

    for pole, members in spec.poles.items():
        for k, m in enumerate(members):
            known(m, ("poles", pole, k))
    seen: dict[str, str] = {}
    for pole, members in spec.poles.items():
        for m in members:
            if m in seen:
                bad(("poles", pole), f"state {m!r} is in two poles ({seen[m]!r} and {pole!r})")
            seen[m] = pole
    if spec.alignment_axis is not None:
        for side in ("toward", "away"):
            p = getattr(spec.alignment_axis, side)
            if p not in spec.poles:
                bad(
                    ("alignment_axis", side),
                    f"unknown pole {p!r}{did_you_mean(p, spec.poles)}; "
                    f"the poles are {', '.join(spec.poles) or '(none defined)'}",
                )

    for i, row in spec.relations.items():
        if not known(i, ("relations", i)):
            continue
        sums = dict.fromkeys(SHARE_PARAMS, 0.0)
        for j, pair in row.items():
            if not known(j, ("relations", i, j)):
                continue
            if j == i:
                bad(("relations", i, j), "a state has no relation with itself")
            for name, (lo, hi) in PAIR_PARAMS.items():
                s = getattr(pair, name)
                if s is not None:
                    in_range(s.value, lo, hi, ("relations", i, j, name, "value"))
                    if name in sums:
                        sums[name] += s.value
        for name, total in sums.items():
            if total > 1.0 + 1e-9:
                bad(
                    ("relations", i),
                    f"the `{name}` shares of {i}'s partners sum to {total:g}; they are shares "
                    "of one stake and must sum to at most 1 (the rest is the rest of the world)",
                )

    for k, r in enumerate(spec.rivalries):
        loc = ("rivalries", k)
        for m, sid in enumerate(r.pair):
            known(sid, loc + ("pair", m))
        if r.pair[0] == r.pair[1]:
            bad(loc + ("pair",), "a rivalry needs two different states")
        in_range(r.value, 0.0, 1.0, loc + ("value",))
        _provenance(r, loc, bad)

    start, end = horizon(spec.time)
    if spec.focus is not None:
        known(spec.focus, ("focus",))
    if spec.validation is not None:
        for k, fact in enumerate(spec.validation.facts):
            _check_fact(fact, ("validation", "facts", k), bad, known, (start, end))

    for sid_, shock in spec.shocks.items():
        loc = ("shocks", sid_)
        if (shock.date is None) == (shock.probability is None):
            bad(
                loc,
                "give exactly one of `date:` (a dated shock) or `probability:` (a per-step chance)",
            )
        if shock.date is not None and not (start <= shock.date <= end):
            bad(loc + ("date",), f"date {shock.date} is outside the horizon {start} to {end}")
        if shock.date is not None and shock.window is not None:
            bad(loc + ("window",), "`window` is for probabilistic shocks; a dated shock has `date`")
        if shock.probability is not None:
            in_range(shock.probability.value, 0.0, 1.0, loc + ("probability", "value"))
        if shock.window is not None:
            w = shock.window
            for side in ("start", "end"):
                d = getattr(w, side)
                if not (start <= d <= end):
                    bad(loc + ("window", side), f"date {d} is outside the horizon {start} to {end}")
        _provenance(shock, loc, bad)
        if shock.date is not None and shock.max_fires != 1:
            bad(
                loc + ("max_fires",),
                "`max_fires` is for probabilistic shocks; a dated shock fires once",
            )
        if not shock.effects:
            bad(loc + ("effects",), "a shock needs at least one effect")
        for k, eff in enumerate(shock.effects):
            _check_effect(eff, loc + ("effects", k), bad, known, in_range)
    return problems


_FACT_NEEDS = {
    "tie_range": ("bands", "window"),
    "strongest_tie": ("partner", "window"),
    "mean_change": ("early", "late"),
    "greater": ("than", "window"),
    "paired_effect": ("counterfactual", "window"),
}


def _check_fact(fact: FactSpec, loc: Path_, bad, known, span) -> None:
    known(fact.state, loc + ("state",))
    for need in _FACT_NEEDS[fact.kind]:
        if getattr(fact, need) is None:
            bad(loc, f"a `{fact.kind}` fact needs `{need}:`")
    if fact.kind in ("mean_change", "greater", "paired_effect"):
        if (fact.partner is None) == (fact.index is None):
            bad(
                loc,
                f"a `{fact.kind}` fact measures one quantity: give `partner:` (a tie) "
                "or `index:` (alignment_index or hedging_index)",
            )
    if fact.partner is not None:
        known(fact.partner, loc + ("partner",))
    for p, (lo, hi) in (fact.bands or {}).items():
        known(p, loc + ("bands", p))
        if not lo < hi:
            bad(loc + ("bands", p), f"a band is [low, high] with low < high, got [{lo}, {hi}]")
    if fact.than is not None:
        known(fact.than.state, loc + ("than", "state"))
        if (fact.than.partner is None) == (fact.than.index is None):
            bad(loc + ("than",), "give `partner:` or `index:`")
    for name in ("window", "early", "late"):
        w = getattr(fact, name)
        if w is None:
            continue
        for side in ("start", "end"):
            d = getattr(w, side)
            if not (span[0] <= d <= span[1]):
                bad(loc + (name, side), f"date {d} is outside the horizon {span[0]} to {span[1]}")


def _provenance(obj: Any, loc: Path_, bad) -> None:
    has_s = bool(obj.source and obj.source.strip())
    has_a = bool(obj.assumption and obj.assumption.strip())
    if has_s == has_a:
        bad(loc, "give exactly one of `source:` or `assumption:` for this number")


def _check_effect(eff: Effect, loc: Path_, bad, known, in_range) -> None:
    all_params = {**STATE_PARAMS, **PAIR_PARAMS, **SYMMETRIC_PARAMS, "tie": (-1.0, 1.0)}
    if eff.param not in all_params:
        bad(
            loc + ("param",),
            f"unknown parameter {eff.param!r}{did_you_mean(eff.param, all_params)}"
            f"; expected one of: {', '.join(all_params)}",
        )
        return
    _provenance(eff, loc, bad)
    if not math.isfinite(eff.value):
        bad(loc + ("value",), f"expected a finite number, got {eff.value}")
        return
    if eff.param in STATE_PARAMS:
        if eff.state is None or eff.pair is not None:
            bad(
                loc,
                f"`{eff.param}` belongs to one state: give `state:` (an id or '*'), not `pair:`",
            )
            return
        known(eff.state, loc + ("state",), wildcard=True)
    else:
        if eff.pair is None or eff.state is not None:
            bad(
                loc,
                f"`{eff.param}` belongs to a pair of states: give `pair: [A, B]` "
                "(either may be '*'), not `state:`",
            )
            return
        for m, sid in enumerate(eff.pair):
            known(sid, loc + ("pair", m), wildcard=True)
    if eff.param == "tie" and not eff.exogenous:
        bad(
            loc,
            "this effect sets a tie directly; ties emerge from payoffs, so an effect on "
            "`tie` must be marked `exogenous: true` (a decision outside the model, "
            "such as a sanctions regime or a treaty)",
        )
    if eff.param != "tie" and eff.exogenous:
        bad(
            loc + ("exogenous",),
            "`exogenous` marks effects that set ties; this one changes a parameter",
        )
    if eff.op == "set":
        lo, hi = all_params[eff.param]
        if eff.param == "tie":
            lo, hi = -0.999, 0.999
        in_range(eff.value, lo, hi, loc + ("value",))
    elif eff.op == "multiply" and eff.value < 0:
        bad(loc + ("value",), f"a multiplier must be >= 0, got {eff.value:g}")
    if eff.param == "tie" and eff.op != "set":
        bad(loc + ("op",), "a tie can only be `set` (to a value in (-1, 1))")


# --------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return dt.date(d.year + y, m + 1, 1)


def period_start(time: TimeSpec, p: int) -> dt.date:
    """First day of period ``p`` (period 0 starts at ``time.start``, on a month's first day)."""
    base = dt.date(time.start.year, time.start.month, 1)
    return _add_months(base, _MONTHS[time.step] * p)


def period_end(time: TimeSpec, p: int) -> dt.date:
    """Last day of period ``p``: the date a step's record carries."""
    return period_start(time, p + 1) - dt.timedelta(days=1)


def n_periods(time: TimeSpec) -> int:
    if time.steps is not None:
        return time.steps
    p = 0
    while period_end(time, p) < time.end:
        p += 1
    return p + 1


def horizon(time: TimeSpec) -> tuple[dt.date, dt.date]:
    return period_start(time, 0), period_end(time, n_periods(time) - 1)


def period_of(time: TimeSpec, date: dt.date) -> int:
    """The period whose calendar span contains ``date`` (may be out of the horizon)."""
    months = (date.year - time.start.year) * 12 + date.month - time.start.month
    return months // _MONTHS[time.step]


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file.

    Raises:
        ScenarioError: with every problem found, each naming file, line and field.
    """
    path = Path(path)
    root = Path.cwd().resolve()
    if not path.is_file():
        hint = ""
        if path.parent.is_dir():
            hint = did_you_mean(path.name, [p.name for p in path.parent.glob("*.y*ml")])
        raise ScenarioError(f"{path}: no such scenario file{hint}")
    doc = _resolve(path.resolve(), (), root)
    return _validate(doc, path)


def scenario_from_dict(data: dict, name: str = "<dict>") -> Scenario:
    """Validate a scenario given as a Python dict (for tests and notebooks)."""
    return _validate(doc_from_dict(data, name), None)


def doc_from_dict(data: dict, name: str = "<dict>") -> _Doc:
    """A document built in Python: every path's place is ``name`` (line 0)."""
    where: dict[Path_, tuple[str, int]] = {}

    def walk(obj: Any, p: Path_) -> None:
        where[p] = (name, 0)
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, p + (k,))
        elif isinstance(obj, list):
            for k, v in enumerate(obj):
                walk(v, p + (k,))

    walk(data, ())
    return _Doc(data, where)


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
    for dotted, value in overrides.items():
        path = _override_path(data, str(dotted), origin, line)
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
                f"{origin}:{line}: parameter {dotted}: names a whole section, not a value; "
                f"name one of its fields: {', '.join(map(str, _keys(node)))}"
            )
        elif node is None and path[0] in ("relations", "model", "states"):
            new = {"value": value, "assumption": f"set by {origin}"}
        else:
            new = value
        parent[last] = new
        n = len(path)
        for k in [k for k in where if k[:n] == path]:
            del where[k]
        for k in range(1, n + 1):
            where.setdefault(path[:k], (origin, line))
        where[path] = (origin, line)
        if isinstance(new, dict):
            where[path + ("value",)] = where[path + ("assumption",)] = (origin, line)
    try:
        return _validate(_Doc(data, where), scenario.path)
    except ScenarioError as err:
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        lead = f"{origin}:{line}: the values {shown} make the scenario invalid:"
        raise ScenarioError([lead, *(f"  {p}" for p in err.problems)]) from None


def _keys(node: Any) -> list:
    return list(node) if isinstance(node, dict) else list(range(len(node)))


def _override_path(data: Any, dotted: str, origin: str, line: int) -> Path_:
    """``a.b.0.c`` as a document path, checking that every list index exists."""
    if not dotted or any(not part for part in dotted.split(".")):
        raise ScenarioError(
            f"{origin}:{line}: parameter {dotted!r}: expected a dotted path such as "
            "states.AZ.weights.energy"
        )
    path: list[str | int] = []
    node = data
    for part in dotted.split("."):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    f"{origin}:{line}: parameter {dotted}: {_dotted(tuple(path))} is a list of "
                    f"{len(node)}; expected an index from 0 to {len(node) - 1}, got {part!r}"
                )
            path.append(int(part))
            node = node[int(part)]
        elif isinstance(node, dict):
            first = path[0] if path else part
            if part not in node and first not in ("relations", "model", "states"):
                raise ScenarioError(
                    f"{origin}:{line}: parameter {dotted}: no {part!r} in "
                    f"{_dotted(tuple(path))}{did_you_mean(part, node)}; "
                    f"it has: {', '.join(map(str, node))}"
                )
            if part not in node and first == "states" and len(path) < 2:
                raise ScenarioError(
                    f"{origin}:{line}: parameter {dotted}: no state {part!r}"
                    f"{did_you_mean(part, node)}; the states are: {', '.join(node)}"
                )
            path.append(part)
            node = node.get(part)
        elif node is None:
            path.append(part)
        else:
            raise ScenarioError(
                f"{origin}:{line}: parameter {dotted}: {_dotted(tuple(path))} is a value "
                f"({node!r}), it has no field {part!r}"
            )
    return tuple(path)


def _validate(doc: _Doc, path: Path | None) -> Scenario:
    try:
        spec = ScenarioSpec.model_validate(doc.data)
    except ValidationError as err:
        problems = _pydantic_problems(doc, err)
        raise ScenarioError(_format(problems)) from None
    problems = _check_semantics(spec, doc)
    if problems:
        raise ScenarioError(_format(problems))
    return Scenario(spec, doc.data, path, doc.where)


def _format(problems: list[tuple[str, str]]) -> list[str]:
    def key(p: tuple[str, str]):
        f, _, line = p[0].rpartition(":")
        return (f, int(line) if line.isdigit() else 0)

    return [f"{w}: {m}" for w, m in sorted(problems, key=key)]
