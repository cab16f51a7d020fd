"""Experiment files: reading and validation.

An experiment names one or more scenarios (the *arms*: a baseline and its
counterfactuals), a design over scenario parameters, the replicates per design point,
a root seed, and what to keep. Every run is one (arm, design point, replicate); the
arms share the design points and the seeds (common random numbers).

An experiment may declare named *outcomes* (``outcomes: {late_eu_tie: "tie AZ EU mean
2023..2025"}``, the language of :mod:`sim.analysis.outcomes`), which ``compare`` and
``sensitivity`` take by name; each is checked at load against the arms' states, poles,
horizon, kept dates and kept tables.

A problem is reported like a scenario's: ``FILE:LINE: field PATH: what was expected``,
all problems of one pass together, as a :class:`~sim.errors.ScenarioError` (exit 2).
The file is read with the same limits as a scenario file (:mod:`sim.scenario.limits`);
besides, every date lies within the scenario date range and every design number within
``MAX_MAGNITUDE``. The field reference is ``scenarios/experiments/README.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from sim.analysis.outcomes import Outcome, OutcomeError, named, parse_outcome
from sim.errors import ScenarioError, UserError
from sim.scenario import (
    BoundedDate,
    Document,
    ProblemList,
    Scenario,
    StrictModel,
    did_you_mean,
    display_path,
    doc_from_dict,
    file_and_line,
    format_problems,
    horizon,
    int_as_float,
    load_scenario,
    override_path,
    pydantic_problems,
    read_yaml,
    record_date,
    record_step,
    with_overrides,
)
from sim.scenario.limits import MAX_FILE_NAME_CHARS, MAX_MAGNITUDE

#: The range of a design number, as messages state it.
_MAGNITUDES = f"[{-MAX_MAGNITUDE:g}, {MAX_MAGNITUDE:g}]"
#: An outcome's name: it names files (``sensitivity__NAME.csv``).
_OUTCOME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ArmSpec(StrictModel):
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


class ParameterSpec(StrictModel):
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
        return int_as_float(v)

    @field_validator("values", mode="before")
    @classmethod
    def _ints_ok(cls, v: Any) -> Any:
        return [int_as_float(x) for x in v] if isinstance(v, list) else v


class DesignSpec(StrictModel):
    """How the design points are drawn (see the module docstring of :mod:`sim.batch.design`)."""

    kind: Literal["none", "grid", "lhs", "sobol"] = "none"
    samples: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    second_order: bool = False
    parameters: dict[str, ParameterSpec] = {}
    complement: dict[str, list[str]] = {}


class ExperimentSpec(StrictModel):
    name: str
    description: str = ""
    scenarios: dict[str, ArmSpec]
    design: DesignSpec = DesignSpec()
    replicates: Annotated[int, Field(ge=1, le=1_000_000)]
    seed: Annotated[int, Field(ge=0, lt=2**63)]
    seeds: Literal["common", "per_point"] = "common"
    keep: Literal["indices", "ties"] = "indices"
    dates: Annotated[list[BoundedDate], Field(min_length=1)] | None = None
    outcomes: dict[str, str] = {}

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
    """One arm of an experiment: its name, its validated scenario, the shocks it switches off."""

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
        outcomes: the declared outcomes, name -> :class:`~sim.analysis.outcomes.Outcome`
            (in file order).
    """

    spec: ExperimentSpec
    path: Path | None
    arms: tuple[Arm, ...]
    dates: tuple[dt.date, ...] | None
    content_hash: str
    content: dict
    where: dict
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def line_of(self, *loc) -> tuple[str, int]:
        """``(file, line)`` of the field at ``loc`` (keys and indices) in the experiment file."""
        return file_and_line(Document(self.content, self.where), tuple(loc))

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
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
    if not _is_file(path):
        hint = ""
        if _is_dir(path.parent):
            hint = did_you_mean(path.name, [p.name for p in path.parent.glob("*.y*ml")])
        raise ScenarioError(f"{_short(str(path))}: no such experiment file{hint}")
    shown = display_path(path.resolve(), Path.cwd().resolve())
    doc = read_yaml(path, shown)
    return _validate(doc, path)


def experiment_from_dict(data: dict, base_dir: str | Path = ".", name: str = "<dict>"):
    """Validate an experiment given as a dict (scenario paths relative to ``base_dir``)."""
    return _validate(doc_from_dict(data, name), None, Path(base_dir))


def _validate(doc: Document, path: Path | None, base_dir: Path | None = None) -> Experiment:
    """The experiment in ``doc``: schema, arms, design, dates, then the design's paths.

    Args:
        doc: the experiment document with its line map.
        path: the experiment file (``None`` when built from a dict).
        base_dir: where scenario paths start (default: the experiment file's directory).

    Raises:
        ScenarioError: every problem of one pass, each naming file, line and field.
    """
    base_dir = base_dir if base_dir is not None else path.parent
    try:
        spec = ExperimentSpec.model_validate(doc.data)
    except ValidationError as err:
        raise ScenarioError(format_problems(pydantic_problems(doc, err, ExperimentSpec))) from None
    found = ProblemList(doc)
    arms = _load_arms(spec, doc, path, base_dir, found)
    _check_design(spec.design, found)
    found.raise_if_any()
    _check_arms_agree(arms, found)
    dates = _record_dates(spec, arms, found)
    outcomes = _check_outcomes(spec, arms, dates, found)
    if arms and spec.design.parameters and not found.items:
        _check_design_paths(spec.design, arms, doc)
    found.raise_if_any()
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
        outcomes=outcomes,
    )


def _load_arms(
    spec: ExperimentSpec, doc: Document, path: Path | None, base_dir: Path, found: ProblemList
) -> list[Arm]:
    """Load each arm's scenario (its own problems raise at once, naming its own file) and
    check its ``shocks_off``; a missing file is a problem of the experiment."""
    arms: list[Arm] = []
    path_resolved = path.resolve() if path is not None else None
    if not spec.scenarios:
        found.add(("scenarios",), "name at least one scenario (arm name: scenario file)")
    for name, arm in spec.scenarios.items():
        loc = ("scenarios", name, "scenario")
        if loc not in doc.where:
            loc = ("scenarios", name)  # given as a bare file name
        if len(arm.scenario) > MAX_FILE_NAME_CHARS:
            found.add(
                loc,
                f"expected a file name of at most {MAX_FILE_NAME_CHARS:,} characters, "
                f"got {len(arm.scenario):,} characters",
            )
            continue
        try:
            file = (base_dir / arm.scenario).resolve()
        except (OSError, RuntimeError, ValueError):  # a name too long, a loop of links
            file = base_dir / arm.scenario
        if not _is_file(file):
            hint = ""
            if _is_dir(file.parent):
                others = [p.name for p in file.parent.glob("*.y*ml") if p != path_resolved]
                hint = did_you_mean(file.name, others)
            found.add(loc, f"no such scenario file {arm.scenario!r}{hint} (looked for {file})")
            continue
        scenario = load_scenario(file)
        known = list(scenario.spec.shocks)
        for k, sid in enumerate(arm.shocks_off):
            if sid not in known:
                found.add(
                    ("scenarios", name, "shocks_off", k),
                    f"no shock {sid!r} in {arm.scenario}{did_you_mean(sid, known)}; "
                    f"the shocks are: {', '.join(known) or '(none)'}",
                )
        arms.append(Arm(name, scenario, tuple(arm.shocks_off)))
    return arms


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; ``False`` for a name the file system cannot hold."""
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL character
        return False


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a directory; ``False`` for a name the file system cannot hold."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_arms_agree(arms: list[Arm], found: ProblemList) -> None:
    """The arms share their states and time axis (runs are compared date by date)."""
    if arms and len({(a.scenario.spec.time, tuple(a.scenario.state_ids)) for a in arms}) > 1:
        found.add(
            ("scenarios",),
            "the arms must share their states and time axis (runs are compared date by "
            "date); " + "; ".join(f"{a.name}: {', '.join(a.scenario.state_ids)}" for a in arms),
        )


def _record_dates(
    spec: ExperimentSpec, arms: list[Arm], found: ProblemList
) -> tuple[dt.date, ...] | None:
    """The record dates to keep: each given date snapped to the record of its period
    (sorted, unique), or ``None`` for every record."""
    if spec.dates is None or not arms:
        return None
    time = arms[0].scenario.spec.time
    start, end = horizon(time)
    snapped = []
    for k, d in enumerate(spec.dates):
        try:
            step = record_step(time, d)
        except ValueError:
            found.add(("dates", k), f"date {d} is outside the horizon {start} to {end}")
            continue
        snapped.append(record_date(time, step))
    return tuple(sorted(set(snapped)))


def _check_outcomes(
    spec: ExperimentSpec, arms: list[Arm], dates, found: ProblemList
) -> dict[str, Outcome]:
    """The declared outcomes, parsed against the arms' states and poles; each must be
    measurable on what the batch keeps: its date or window within the horizon (and among
    the kept ``dates``), the tie table kept for ``tie`` and ``pole`` outcomes."""
    if not arms:
        return {}
    scenario = arms[0].scenario
    time = scenario.spec.time
    first, last = record_date(time, 0), record_date(time, record_step(time, horizon(time)[1]))
    out = {}
    for name, text in spec.outcomes.items():
        loc = ("outcomes", name)
        if not _OUTCOME_NAME.match(name):
            found.add(
                loc,
                f"an outcome name names files: use letters, digits, '_', '-' and '.' (at "
                f"most 64, starting with a letter or digit), got {name!r}",
            )
            continue
        try:
            o = parse_outcome(text, scenario.state_ids, scenario.spec.poles, where=name)
        except OutcomeError as exc:
            found.add(
                loc,
                f"{text!r}: {exc.problem} (the grammar: 'Outcomes' in "
                "scenarios/experiments/README.md)",
            )
            continue
        if o.needs_ties and spec.keep != "ties":
            found.add(loc, f"{text!r} needs the tie table: set `keep: ties`")
        if o.when == "at":
            outside = not first <= o.date <= last
        else:
            outside = any(w.last < first or w.first > last for w in o.windows)
        if outside:
            found.add(loc, f"{text!r}: outside the records ({first} to {last})")
        elif dates is not None and not _kept(o, time, dates):
            kept = ", ".join(d.isoformat() for d in dates)
            found.add(loc, f"{text!r}: needs a record that `dates:` does not keep (kept: {kept})")
        out[name] = named(o, name)
    return out


def _kept(o: Outcome, time, dates: tuple[dt.date, ...]) -> bool:
    """Whether the kept record dates hold what the outcome reads: the record of its
    date, or a record in each window."""
    if o.when == "at":
        return record_date(time, record_step(time, o.date)) in dates
    return all(any(w.first <= d <= w.last for d in dates) for w in o.windows)


def _check_design_paths(design: DesignSpec, arms: list[Arm], doc: Document) -> None:
    """Every design parameter is a path each arm's scenario accepts: try each path alone
    (at the scenario's own value, so sums still hold, or the midpoint), then the midpoints
    together.

    Raises:
        ScenarioError: the first path or value an arm rejects, at its line in ``doc``.
    """
    from sim.batch.design import midpoint_overrides  # sim.batch.design imports this module

    for arm in arms:
        mid = midpoint_overrides(design)
        for name in [*design.parameters, *design.complement]:
            kind = "parameters" if name in design.parameters else "complement"
            f, line = file_and_line(doc, ("design", kind, name))
            path = override_path(arm.scenario.content, name, f, line)
            value = _value_at(arm.scenario.content, path)
            value = mid[name] if value is None else value
            with_overrides(arm.scenario, {name: value}, origin=f, line=line)
        f, line = file_and_line(doc, ("design", "parameters"))
        with_overrides(arm.scenario, midpoint_overrides(design), origin=f, line=line)


def _value_at(data: Any, path: tuple) -> float | None:
    """The number at ``path`` in a scenario document (a sourced node's value), or ``None``."""
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


def _check_design(d: DesignSpec, found: ProblemList) -> None:
    """The design: a kind that fits its parameters and samples, and valid ranges."""
    loc = ("design",)
    if d.kind == "none":
        if d.parameters:
            found.add(
                loc + ("kind",), "a design with `parameters` needs `kind: grid`, `lhs` or `sobol`"
            )
        return
    if not d.parameters:
        found.add(loc + ("parameters",), f"a `{d.kind}` design needs at least one parameter")
    if d.kind in ("lhs", "sobol") and d.samples is None:
        found.add(loc, f"a `{d.kind}` design needs `samples:` (a whole number)")
    if d.kind == "grid" and d.samples is not None:
        found.add(
            loc + ("samples",), "a grid has no `samples`: it takes every combination of values"
        )
    if d.kind == "sobol" and d.samples is not None and (d.samples & (d.samples - 1)):
        found.add(
            loc + ("samples",),
            f"Sobol sampling needs a power of 2 (the sequence's balance), got {d.samples}",
        )
    if d.second_order and d.kind != "sobol":
        found.add(loc + ("second_order",), "`second_order` is for Sobol designs")
    for name, p in d.parameters.items():
        ploc = loc + ("parameters", name)
        has_range = p.low is not None or p.high is not None
        if p.values is not None:
            if d.kind != "grid":
                found.add(
                    ploc + ("values",), f"a `{d.kind}` design samples a range: give low and high"
                )
            if has_range or p.levels is not None:
                found.add(ploc, "give either `values:` or `low`, `high` (and `levels` for a grid)")
            elif any(not math.isfinite(v) for v in p.values):
                found.add(ploc + ("values",), "expected finite numbers")
            elif any(abs(v) > MAX_MAGNITUDE for v in p.values):
                found.add(ploc + ("values",), f"expected numbers in {_MAGNITUDES}")
            continue
        if p.low is None or p.high is None:
            found.add(ploc, "expected `low:` and `high:` (or `values:` for a grid)")
            continue
        if not (math.isfinite(p.low) and math.isfinite(p.high) and p.low < p.high):
            found.add(ploc, f"expected finite low < high, got [{p.low:g}, {p.high:g}]")
        elif max(abs(p.low), abs(p.high)) > MAX_MAGNITUDE:
            found.add(ploc, f"expected low and high in {_MAGNITUDES}, got [{p.low:g}, {p.high:g}]")
        if d.kind == "grid" and p.levels is None:
            found.add(ploc, "a grid over a range needs `levels:` (how many values)")
        if d.kind != "grid" and p.levels is not None:
            found.add(ploc + ("levels",), "`levels` is for grids")
    for target, sources in d.complement.items():
        cloc = loc + ("complement", target)
        if target in d.parameters:
            found.add(cloc, f"{target} is a design parameter; a complement is derived from others")
        if not sources:
            found.add(cloc, "list the design parameters it complements to 1")
        for k, s in enumerate(sources):
            if s not in d.parameters:
                found.add(
                    cloc + (k,),
                    f"{s!r} is not a design parameter{did_you_mean(s, d.parameters)}; "
                    f"the parameters are: {', '.join(d.parameters) or '(none)'}",
                )
