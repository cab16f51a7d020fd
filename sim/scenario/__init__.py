"""Scenario files: reading, ``extends`` merging, validation, the calendar and overrides.

This is the only package that reads scenario files. Everything downstream receives a
validated :class:`Scenario` (typed pydantic objects) and never sees raw YAML. A problem is
reported as ``FILE:LINE: field PATH: what was expected``; all problems found in one pass
are reported together in one :class:`~sim.errors.ScenarioError`. The field reference lives
in ``scenarios/README.md``.

Modules, one job each:

- ``limits``: the input limits (file size, YAML nodes, aliases and depth, ``extends``
  chain, dates, periods, states, shocks, magnitudes), named constants in one place.
- ``vocabulary``: the parameters a scenario sets and shocks change, with their ranges.
- ``schema``: the pydantic models of a scenario file (:class:`ScenarioSpec` is the root).
- ``documents``: YAML read with the file and line of every field; places and field names.
- ``problems``: problems as ``FILE:LINE: field PATH: message`` (shared with experiment files).
- ``extends``: merging a file over the file it extends.
- ``checks``: the semantic checks, one per section of the file.
- ``calendar``: periods, the horizon, and the dates of the records.
- ``loader``: :func:`load_scenario` and the :class:`Scenario` it returns.
- ``overrides``: :func:`with_overrides`, a scenario with values replaced by dotted path.
- ``priors``: the uncertain inputs (numbers with a ``range``) and draws from them.
"""

from sim.scenario.calendar import (
    horizon,
    n_periods,
    period_end,
    period_of,
    period_start,
    record_date,
    record_step,
)
from sim.scenario.documents import (
    DocPath,
    Document,
    display_path,
    doc_from_dict,
    dotted,
    file_and_line,
    read_yaml,
    text_line,
    where,
)
from sim.scenario.loader import (
    Scenario,
    load_scenario,
    scenario_from_dict,
    scenario_from_document,
)
from sim.scenario.overrides import override_path, with_overrides
from sim.scenario.priors import (
    UncertainInput,
    calibrated_inputs,
    draw_inputs,
    input_rng,
    prior_table,
    uncertain_inputs,
)
from sim.scenario.problems import (
    Problem,
    ProblemList,
    did_you_mean,
    fields_at,
    format_problems,
    pydantic_problems,
)
from sim.scenario.schema import (
    BoundedDate,
    CalibrationSpec,
    Effect,
    FactSpec,
    ObservedSpec,
    ScenarioSpec,
    ShockSpec,
    Sourced,
    StateSpec,
    StrictModel,
    TimeSpec,
    ValidationSpec,
    Window,
    date_in_range,
    int_as_float,
)
from sim.scenario.vocabulary import (
    MODEL_CONSTANTS,
    PAIR_PARAMS,
    SHARE_PARAMS,
    STATE_PARAMS,
    SYMMETRIC_PARAMS,
    WEIGHT_NAMES,
)

__all__ = [
    "BoundedDate",
    "CalibrationSpec",
    "MODEL_CONSTANTS",
    "PAIR_PARAMS",
    "SHARE_PARAMS",
    "STATE_PARAMS",
    "SYMMETRIC_PARAMS",
    "WEIGHT_NAMES",
    "DocPath",
    "Document",
    "Effect",
    "FactSpec",
    "ObservedSpec",
    "Problem",
    "ProblemList",
    "Scenario",
    "ScenarioSpec",
    "ShockSpec",
    "Sourced",
    "StateSpec",
    "StrictModel",
    "TimeSpec",
    "UncertainInput",
    "ValidationSpec",
    "Window",
    "did_you_mean",
    "display_path",
    "doc_from_dict",
    "dotted",
    "fields_at",
    "file_and_line",
    "format_problems",
    "calibrated_inputs",
    "date_in_range",
    "draw_inputs",
    "input_rng",
    "horizon",
    "int_as_float",
    "load_scenario",
    "n_periods",
    "override_path",
    "period_end",
    "period_of",
    "period_start",
    "prior_table",
    "pydantic_problems",
    "read_yaml",
    "record_date",
    "record_step",
    "scenario_from_dict",
    "scenario_from_document",
    "text_line",
    "uncertain_inputs",
    "where",
    "with_overrides",
]
