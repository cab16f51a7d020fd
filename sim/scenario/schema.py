"""The typed schema of a scenario file: pydantic models, one per kind of mapping.

:class:`ScenarioSpec` is the root. Every model is a :class:`StrictModel`: unknown fields,
wrong types and coercions (``"1"`` for 1) are errors, and a validated spec is frozen.
Cross-field rules (ids that must exist, ranges, sums, dates within the horizon) are in
:mod:`sim.scenario.checks`; the field reference is ``scenarios/README.md``. Every date is
a :data:`BoundedDate` (within :data:`~sim.scenario.limits.DATE_MIN` to
:data:`~sim.scenario.limits.DATE_MAX`), so the calendar never leaves Python's dates.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sim.scenario.limits import DATE_MAX, DATE_MIN, MAX_PERIODS
from sim.scenario.vocabulary import DEFAULT_MODEL_VERSION, MODEL_VERSIONS


def date_in_range(d: dt.date) -> dt.date:
    """``d`` if it lies within :data:`DATE_MIN` to :data:`DATE_MAX`.

    Raises:
        ValueError: it does not (pydantic reports it at the field's line).
    """
    if not DATE_MIN <= d <= DATE_MAX:
        raise ValueError(
            f"date {d} is outside the dates a scenario may use, {DATE_MIN} to {DATE_MAX}"
        )
    return d


def int_as_float(v: Any) -> Any:
    """A whole number as a float (other values unchanged), for number fields that accept
    ``1`` for ``1.0``.

    Raises:
        ValueError: the number is too large for a float (``10**400``).
    """
    if isinstance(v, int) and not isinstance(v, bool):
        try:
            return float(v)
        except OverflowError:
            raise ValueError(
                f"expected a finite number, got a whole number of {len(str(abs(v))):,} digits"
            ) from None
    return v


#: A date within the supported range (every date of a scenario or experiment file).
BoundedDate = Annotated[dt.date, AfterValidator(date_in_range)]


class StrictModel(BaseModel):
    """A frozen model that forbids unknown fields and coercion (base of every file schema)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


#: ``range: [low, high]`` of an uncertain number (the order, finiteness and bounds are
#: checked in :mod:`sim.scenario.checks`, where each field's bounds are known).
Range = Annotated[list[float], Field(min_length=2, max_length=2)]
#: The prior distribution over a ``range``: ``uniform``, or ``triangular`` with the
#: number's ``value`` as its mode (see :mod:`sim.scenario.priors`).
Dist = Literal["uniform", "triangular"]


class Sourced(StrictModel):
    """A number with its provenance: a published source, or a stated assumption; and,
    optionally, its uncertainty: ``range: [low, high]`` around ``value`` with a ``dist``
    (:mod:`sim.scenario.priors` draws from it)."""

    value: float
    source: str | None = None
    assumption: str | None = None
    range: Range | None = None
    dist: Dist = "uniform"

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
        return int_as_float(v)

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


class TimeSpec(StrictModel):
    """The calendar: ``start``, then ``end`` (a date) or ``steps`` (a count) periods of
    one ``step``, after ``burn_in`` unrecorded periods (see :mod:`sim.scenario.calendar`)."""

    start: BoundedDate
    end: BoundedDate | None = None
    steps: Annotated[int, Field(ge=1, le=MAX_PERIODS)] | None = None
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


class Weights(StrictModel):
    """A state's three payoff weights (shares of concern, each in [0, 1], summing to 1)."""

    energy: Sourced
    security: Sourced
    alignment: Sourced


class StateSpec(StrictModel):
    """One state: display name, capability, weights, autonomy and decision rule.

    ``cross_pressure`` is Model 1's alone: :func:`sim.scenario.checks.check_version`
    requires it in a version-1 scenario and refuses it in a version-2 one.
    """

    name: str
    power: Sourced
    weights: Weights
    autonomy: Sourced
    cross_pressure: Sourced | None = None
    rule: Literal["logit", "best_response", "fixed"] = "logit"
    note: str | None = None


class PairSpec(StrictModel):
    """What partner j means to state i (`relations.i.j`); a missing field is 0."""

    energy: Sourced | None = None
    threat: Sourced | None = None
    proximity: Sourced | None = None
    protection: Sourced | None = None
    arms: Sourced | None = None
    affinity: Sourced | None = None
    leverage: Sourced | None = None
    attack: Sourced | None = None


StatePair = Annotated[list[str], Field(min_length=2, max_length=2)]


class Rivalry(StrictModel):
    """A symmetric rivalry between two states, in [0, 1], with its provenance."""

    pair: StatePair
    value: float
    source: str | None = None
    assumption: str | None = None
    range: Range | None = None
    dist: Dist = "uniform"


class Effect(StrictModel):
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
    range: Range | None = None
    dist: Dist = "uniform"


class Window(StrictModel):
    """A span of dates, both ends included."""

    start: BoundedDate
    end: BoundedDate

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"the window ends ({self.end}) before it starts ({self.start})")
        return self


class ShockSpec(StrictModel):
    """A shock: dated (``date``) or probabilistic (``probability`` per step, in
    ``window``), with the effects it applies for ``duration`` periods (or for good)."""

    label: str
    date: BoundedDate | None = None
    probability: Sourced | None = None
    window: Window | None = None
    duration: Annotated[int, Field(ge=1, le=MAX_PERIODS)] | None = None
    max_fires: Annotated[int, Field(ge=1, le=MAX_PERIODS)] = 1
    source: str | None = None
    assumption: str | None = None
    note: str | None = None
    effects: list[Effect]


class ModelSpec(StrictModel):
    """Which model runs the scenario (``version``, 1 or 2), the global model constants
    (defaults and ranges in :data:`~sim.scenario.vocabulary.MODEL_CONSTANTS`; which
    version reads which in :mod:`sim.scenario.vocabulary`) and the update scheme."""

    version: Literal[MODEL_VERSIONS] = DEFAULT_MODEL_VERSION
    delta: Sourced | None = None
    reciprocity_floor: Sourced | None = None
    threat_reduction: Sourced | None = None
    leverage_threshold: Sourced | None = None
    tie_cost: Sourced | None = None
    tie_noise: Sourced | None = None
    move_cost: Sourced | None = None
    balance: Sourced | None = None
    bandwagon: Sourced | None = None
    credibility_rate: Sourced | None = None
    adjustment: Sourced | None = None
    update: Literal["simultaneous", "one_at_a_time"] = "simultaneous"
    candidates: Literal["local", "grid", "continuous"] = "local"

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int) or v not in MODEL_VERSIONS:
            versions = " or ".join(map(str, MODEL_VERSIONS))
            raise ValueError(
                f"expected the model version, the whole number {versions} (1, Model 1, is "
                f"the default), got {v!r:.60}"
            )
        return v


class AlignmentAxis(StrictModel):
    """The two poles whose difference is the alignment index."""

    toward: str
    away: str


class Than(StrictModel):
    """The other side of a `greater` fact: a tie (``partner``) or an ``index`` of ``state``."""

    state: str
    partner: str | None = None
    index: Literal["alignment_index", "hedging_index"] | None = None


class FactSpec(StrictModel):
    """A stylised fact that ``multivector validate`` checks over many seeds."""

    id: str
    kind: Literal["tie_range", "strongest_tie", "mean_change", "greater", "paired_effect"]
    description: str
    source: str
    state: str
    partner: str | None = None
    index: Literal["alignment_index", "hedging_index"] | None = None
    #: ``tie_range``: partner id (the tie to it) or index name (``alignment_index``,
    #: ``hedging_index``: the state's index) -> ``[low, high]``, an open band.
    bands: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]] | None = None
    window: Window | None = None
    early: Window | None = None
    late: Window | None = None
    direction: Literal["up", "down"] = "up"
    than: Than | None = None
    counterfactual: str | None = None
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.9


#: The first validation seed when the file does not say (far from the seeds 0, 1, ...
#: that tuning and everyday runs use).
DEFAULT_SEED_START = 100_000


class ValidationSpec(StrictModel):
    """The stylised facts to check, over which seeds, and which seeds tuned the values.

    The validation seeds are ``seed_start .. seed_start + seeds - 1``; they must not
    overlap ``tuning_seeds`` (``[first, last]``, inclusive), the seeds on which values
    were tuned (checked in :mod:`sim.scenario.checks`).
    """

    seeds: Annotated[int, Field(ge=2, le=100_000)] = 200
    seed_start: Annotated[int, Field(ge=0, le=2**62)] = DEFAULT_SEED_START
    tuning_seeds: (
        Annotated[list[Annotated[int, Field(ge=0, le=2**62)]], Field(min_length=2, max_length=2)]
        | None
    ) = None
    facts: list[FactSpec] = []


class ObservedSpec(StrictModel):
    """How the scenario's states are named in observed data: ``codes`` maps a state id
    to an ISO3 code, a list of them (a group of countries summed) or a group name such
    as ``EU27``. Which codes exist is checked by the data layer, not here."""

    codes: dict[str, str | list[str]] = {}


class CalibrationSpec(StrictModel):
    """What calibration fits: ``inputs`` (override paths of uncertain numbers, each with
    a ``range``), against observations ``until`` a year; ``fixed_note`` says what the
    sources fix."""

    inputs: Annotated[list[str], Field(min_length=1)]
    until: Annotated[int, Field(ge=DATE_MIN.year, le=DATE_MAX.year)] = 2021
    fixed_note: str | None = None


class ScenarioSpec(StrictModel):
    """A whole scenario file (``extends`` already resolved): the root of the schema."""

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
    observed: ObservedSpec | None = None
    calibration: CalibrationSpec | None = None
