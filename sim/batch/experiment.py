"""Experiment files: reading and validation.

An experiment names one or more scenarios (the *arms*: a baseline and its
counterfactuals), a design over scenario parameters, the replicates per design point,
a root seed, and what to keep. Every run is one (arm, design point, replicate); the
arms share the design points and the seeds (common random numbers).

A problem is reported like a scenario's: ``FILE:LINE: field PATH: what was expected``,
all problems of one pass together, as a :class:`~sim.errors.ScenarioError` (exit 2).
The field reference is ``scenarios/experiments/README.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.errors import ScenarioError
from sim.scenario import (
    Scenario,
    _Doc,
    _dotted,
    _fields_at,
    _override_path,
    _read_yaml,
    _show,
    _where,
    did_you_mean,
    doc_from_dict,
    horizon,
    load_scenario,
    with_overrides,
)

DESIGN_KINDS = ("none", "grid", "lhs", "sobol")
KEEP = ("indices", "ties")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ArmSpec(_Strict):
    """One arm: a scenario file (relative to the experiment file) and shocks to switch off."""

    scenario: str
    shocks_off: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _file_alone(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"scenario": data}
        if not isinstance(data, dict):
            raise ValueError(
                "expected a scenario file name, or {scenario: FILE, shocks_off: [SHOCK_ID, ...]}"
                f" (got {data!r})"
            )
        return data


class ParameterSpec(_Strict):
    """The range of one design parameter.

    ``low``/``high`` bound a continuous range (Latin hypercube, Sobol; a grid takes
    ``levels`` evenly spaced values from it); ``values`` lists a grid's values.
    """

    low: float | None = None
    high: float | None = None
    levels: Annotated[int, Field(ge=2, le=1000)] | None = None
    values: Annotated[list[float], Field(min_length=1)] | None = None

    @field_validator("low", "high", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("values", mode="before")
    @classmethod
    def _ints_ok(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v]
        return v


class DesignSpec(_Strict):
    """How the design points are drawn (see the module docstring of :mod:`sim.batch.design`)."""

    kind: Literal["none", "grid", "lhs", "sobol"] = "none"
    samples: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    second_order: bool = False
    parameters: dict[str, ParameterSpec] = {}
    complement: dict[str, list[str]] = {}


class ExperimentSpec(_Strict):
    name: str
    description: str = ""
    scenarios: dict[str, ArmSpec]
    design: DesignSpec = DesignSpec()
    replicates: Annotated[int, Field(ge=1, le=1_000_000)]
    seed: Annotated[int, Field(ge=0, lt=2**63)]
    seeds: Literal["common", "per_point"] = "common"
    keep: Literal["indices", "ties"] = "indices"
    dates: Annotated[list[dt.date], Field(min_length=1)] | None = None

    @field_validator("dates", mode="before")
    @classmethod
    def _iso_dates(cls, v: Any) -> Any:
        """Dates as YAML dates, or ISO strings (from a Python dict or JSON)."""
        if isinstance(v, list):
            out = []
            for d in v:
                if isinstance(d, str):
                    try:
                        d = dt.date.fromisoformat(d)
                    except ValueError:
                        pass  # left for the type check to report
                out.append(d)
            return out
        return v


@dataclass(frozen=True)
class Arm:
    name: str
    scenario: Scenario
    shocks_off: tuple[str, ...]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment.

    Attributes:
        spec: the typed document.
        path: the file it came from (``None`` when built from a dict).
        arms: the scenarios, loaded and validated, in file order.
        dates: the kept record dates (each given date snapped to the record of its
            period), or ``None`` for every date.
        content_hash: SHA-256 over the experiment document and every arm's scenario
            content: a batch directory belongs to exactly one experiment.
        where: ``(file, line)`` of every path in the document (for messages).
    """

    spec: ExperimentSpec
    path: Path | None
    arms: tuple[Arm, ...]
    dates: tuple[dt.date, ...] | None
    content_hash: str
    content: dict
    where: dict

    @property
    def name(self) -> str:
        return self.spec.name

    def line_of(self, *loc) -> tuple[str, int]:
        text = _where(_Doc(self.content, self.where), tuple(loc))
        f, _, line = text.rpartition(":")
        return f, int(line) if line.isdigit() else 0

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        from sim.errors import UserError

        raise UserError(
            f"no arm {name!r} in the experiment{did_you_mean(name, [a.name for a in self.arms])}"
            f"; the arms are: {', '.join(a.name for a in self.arms)}"
        )


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment file and the scenarios it names.

    Raises:
        ScenarioError: every problem found, each naming file, line and field.
    """
    path = Path(path)
    if not path.is_file():
        hint = ""
        if path.parent.is_dir():
            hint = did_you_mean(path.name, [p.name for p in path.parent.glob("*.y*ml")])
        raise ScenarioError(f"{path}: no such experiment file{hint}")
    shown = _show(path.resolve(), Path.cwd().resolve())
    doc = _read_yaml(path, shown)
    return _validate(doc, path)


def experiment_from_dict(data: dict, base_dir: str | Path = ".", name: str = "<dict>"):
    """Validate an experiment given as a dict (scenario paths relative to ``base_dir``)."""
    return _validate(doc_from_dict(data, name), None, Path(base_dir))


def _validate(doc: _Doc, path: Path | None, base_dir: Path | None = None) -> Experiment:
    base_dir = base_dir if base_dir is not None else path.parent
    try:
        spec = ExperimentSpec.model_validate(doc.data)
    except ValidationError as err:
        raise ScenarioError(_format(_pydantic_problems(doc, err))) from None
    problems: list[tuple[str, str]] = []

    def bad(loc: tuple, msg: str) -> None:
        problems.append((_where(doc, loc), f"field {_dotted(loc)}: {msg}"))

    arms: list[Arm] = []
    path_resolved = path.resolve() if path is not None else None
    if not spec.scenarios:
        bad(("scenarios",), "name at least one scenario (arm name: scenario file)")
    for name, arm in spec.scenarios.items():
        a = arm
        loc = ("scenarios", name, "scenario")
        if ("scenarios", name, "scenario") not in doc.where:
            loc = ("scenarios", name)  # given as a bare file name
        file = (base_dir / a.scenario).resolve()
        if not file.is_file():
            hint = ""
            if file.parent.is_dir():
                others = [p.name for p in file.parent.glob("*.y*ml") if p != path_resolved]
                hint = did_you_mean(file.name, others)
            bad(loc, f"no such scenario file {a.scenario!r}{hint} (looked for {file})")
            continue
        scenario = load_scenario(file)  # its own problems name its own file and lines
        known = list(scenario.spec.shocks)
        for k, sid in enumerate(a.shocks_off):
            if sid not in known:
                bad(
                    ("scenarios", name, "shocks_off", k),
                    f"no shock {sid!r} in {a.scenario}{did_you_mean(sid, known)}; "
                    f"the shocks are: {', '.join(known) or '(none)'}",
                )
        arms.append(Arm(name, scenario, tuple(a.shocks_off)))

    _check_design(spec.design, bad)
    if problems:
        raise ScenarioError(_format(problems))

    if arms and len({(a.scenario.spec.time, tuple(a.scenario.state_ids)) for a in arms}) > 1:
        bad(
            ("scenarios",),
            "the arms must share their states and time axis (runs are compared date by "
            "date); " + "; ".join(f"{a.name}: {', '.join(a.scenario.state_ids)}" for a in arms),
        )

    dates = None
    if spec.dates is not None and arms:
        from sim.world.compiled import world_for

        world = world_for(arms[0].scenario)
        start, end = horizon(arms[0].scenario.spec.time)
        snapped = []
        for k, d in enumerate(spec.dates):
            if not (start - dt.timedelta(days=1) <= d <= end):
                bad(("dates", k), f"date {d} is outside the horizon {start} to {end}")
                continue
            step = 0 if d < start else world.step_of(d)
            snapped.append(world.date(step))
        dates = tuple(sorted(set(snapped)))

    # every design parameter must be a path the scenarios accept: try the midpoints
    if arms and spec.design.parameters and not problems:
        from sim.batch.design import midpoint_overrides

        def at(*loc) -> tuple[str, int]:
            f, line = _where(doc, loc).rsplit(":", 1)
            return f, int(line) if line.isdigit() else 0

        d = spec.design
        for arm in arms:  # each path on its own line, then the values together
            mid = midpoint_overrides(d)
            for name in [*d.parameters, *d.complement]:
                kind = "parameters" if name in d.parameters else "complement"
                f, line = at("design", kind, name)
                where = _override_path(arm.scenario.content, name, f, line)
                # the value the scenario has there (so sums still hold), or the midpoint
                value = _value_at(arm.scenario.content, where)
                value = mid[name] if value is None else value
                with_overrides(arm.scenario, {name: value}, origin=f, line=line)
            f, line = at("design", "parameters")
            with_overrides(arm.scenario, midpoint_overrides(d), origin=f, line=line)

    if problems:
        raise ScenarioError(_format(problems))
    content = {
        "experiment": doc.data,
        "scenarios": {a.name: a.scenario.content_hash for a in arms},
    }
    canon = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return Experiment(
        spec=spec,
        path=path,
        arms=tuple(arms),
        dates=dates,
        content_hash=hashlib.sha256(canon.encode()).hexdigest(),
        content=doc.data,
        where=doc.where,
    )


def _value_at(data: Any, path: tuple) -> float | None:
    node = data
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int):
            node = node[key]
        else:
            return None
    if isinstance(node, dict):
        node = node.get("value")
    return node if isinstance(node, int | float) and not isinstance(node, bool) else None


def _check_design(d: DesignSpec, bad) -> None:
    loc = ("design",)
    if d.kind == "none":
        if d.parameters:
            bad(loc + ("kind",), "a design with `parameters` needs `kind: grid`, `lhs` or `sobol`")
        return
    if not d.parameters:
        bad(loc + ("parameters",), f"a `{d.kind}` design needs at least one parameter")
    if d.kind in ("lhs", "sobol") and d.samples is None:
        bad(loc, f"a `{d.kind}` design needs `samples:` (a whole number)")
    if d.kind == "grid" and d.samples is not None:
        bad(loc + ("samples",), "a grid has no `samples`: it takes every combination of values")
    if d.kind == "sobol" and d.samples is not None and (d.samples & (d.samples - 1)):
        bad(
            loc + ("samples",),
            f"Sobol sampling needs a power of 2 (the sequence's balance), got {d.samples}",
        )
    if d.second_order and d.kind != "sobol":
        bad(loc + ("second_order",), "`second_order` is for Sobol designs")
    for name, p in d.parameters.items():
        ploc = loc + ("parameters", name)
        has_range = p.low is not None or p.high is not None
        if p.values is not None:
            if d.kind != "grid":
                bad(ploc + ("values",), f"a `{d.kind}` design samples a range: give low and high")
            if has_range or p.levels is not None:
                bad(ploc, "give either `values:` or `low`, `high` (and `levels` for a grid)")
            elif any(not math.isfinite(v) for v in p.values):
                bad(ploc + ("values",), "expected finite numbers")
            continue
        if p.low is None or p.high is None:
            bad(ploc, "expected `low:` and `high:` (or `values:` for a grid)")
            continue
        if not (math.isfinite(p.low) and math.isfinite(p.high) and p.low < p.high):
            bad(ploc, f"expected finite low < high, got [{p.low:g}, {p.high:g}]")
        if d.kind == "grid" and p.levels is None:
            bad(ploc, "a grid over a range needs `levels:` (how many values)")
        if d.kind != "grid" and p.levels is not None:
            bad(ploc + ("levels",), "`levels` is for grids")
    for target, sources in d.complement.items():
        cloc = loc + ("complement", target)
        if target in d.parameters:
            bad(cloc, f"{target} is a design parameter; a complement is derived from others")
        if not sources:
            bad(cloc, "list the design parameters it complements to 1")
        for k, s in enumerate(sources):
            if s not in d.parameters:
                bad(
                    cloc + (k,),
                    f"{s!r} is not a design parameter{did_you_mean(s, d.parameters)}; "
                    f"the parameters are: {', '.join(d.parameters) or '(none)'}",
                )


# ---- pydantic problems, as file:line: field: message -------------------------------------


def _pydantic_problems(doc: _Doc, err: ValidationError) -> list[tuple[str, str]]:
    out = []
    seen = set()
    for e in err.errors():
        loc = tuple(
            x
            for x in e["loc"]
            if not (isinstance(x, str) and ("[" in x or x in ("str", "ArmSpec")))
            and x not in ("function-after", "function-before")
        )
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = _fields_at(loc[:-1], ExperimentSpec)
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
                msg += f" (got {got!r})"
        key = (loc, msg)
        if key in seen:
            continue
        seen.add(key)
        out.append((_where(doc, loc), f"field {_dotted(loc)}: {msg}"))
    # `scenarios: {a: 1}` fails both union members; say it once, plainly
    merged: dict[tuple, list[str]] = {}
    for w, m in out:
        merged.setdefault((w, m.split(":")[0]), []).append(m)
    return [(w, " / ".join(ms) if len(ms) > 1 else ms[0]) for (w, _f), ms in merged.items()]


def _format(problems: list[tuple[str, str]]) -> list[str]:
    def key(p: tuple[str, str]):
        f, _, line = p[0].rpartition(":")
        return (f, int(line) if line.isdigit() else 0)

    return [f"{w}: {m}" for w, m in sorted(problems, key=key)]
