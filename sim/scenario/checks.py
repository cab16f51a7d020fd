"""Semantic checks of a scenario: the rules the schema cannot express.

Pydantic (:mod:`sim.scenario.schema`) checks each field's type; these checks look across
fields: state ids that must exist, numbers within their ranges (from
:mod:`sim.scenario.vocabulary`), weights and shares that must sum right, dates within the
horizon, the provenance of every number, the ranges of uncertain numbers, the size
limits of :mod:`sim.scenario.limits` (periods, states, shocks and how often they can
fire, effect operands), and what the model version reads (:func:`check_version`).
:func:`check_scenario` runs one check per section of the file and returns every problem
found.

:func:`numbers` lists every number of a scenario that carries a provenance, with its
place, its override path and its bounds: the checks of ``range:`` and
:mod:`sim.scenario.priors` both read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sim.scenario.calendar import horizon, n_periods, period_of
from sim.scenario.documents import DocPath, Document
from sim.scenario.limits import (
    MAX_MAGNITUDE,
    MAX_PERIODS,
    MAX_SHOCK_FIRINGS,
    MAX_SHOCKS,
    MAX_STATES,
)
from sim.scenario.problems import Problem, ProblemList, did_you_mean
from sim.scenario.schema import Effect, FactSpec, ScenarioSpec, ShockSpec
from sim.scenario.vocabulary import (
    MODEL_2_ONLY,
    MODEL_CONSTANTS,
    PAIR_PARAMS,
    REPLACED_IN_MODEL_2,
    SHARE_PARAMS,
    STATE_PARAMS,
    SYMMETRIC_PARAMS,
    WEIGHT_NAMES,
    in_version,
)

#: The indices a ``tie_range`` band may name instead of a partner.
_BAND_INDICES = ("alignment_index", "hedging_index")
#: What each kind of validation fact needs besides ``state``.
_FACT_NEEDS = {
    "tie_range": ("bands", "window"),
    "strongest_tie": ("partner", "window"),
    "mean_change": ("early", "late"),
    "greater": ("than", "window"),
    "paired_effect": ("counterfactual", "window"),
}


def check_scenario(spec: ScenarioSpec, doc: Document) -> list[Problem]:
    """Cross-field checks pydantic cannot express: ids, ranges, sums, dates.

    Args:
        spec: the document, validated by the schema.
        doc: the same document with its line map (for the places of problems).

    Returns:
        Every problem found, in the order found (empty if the scenario is valid).
    """
    found = ProblemList(doc)
    check_time(spec, found)
    check_version(spec, found)
    check_model(spec, found)
    check_states(spec, found)
    check_poles(spec, found)
    check_relations(spec, found)
    check_rivalries(spec, found)
    if spec.focus is not None:
        _known(spec, found, spec.focus, ("focus",))
    check_facts(spec, found)
    check_shocks(spec, found)
    check_ranges(spec, found)
    check_validation_seeds(spec, found)
    check_observed(spec, found)
    check_calibration(spec, found)
    return found.items


@dataclass(frozen=True)
class Number:
    """One number of a scenario that carries a provenance (and may carry a ``range``).

    Attributes:
        loc: the document path of its node (``("states", "AZ", "weights", "energy")``).
        path: its override path (:func:`sim.scenario.with_overrides`):
            ``states.AZ.weights.energy``, ``rivalries.0.value``,
            ``shocks.tap_start.effects.0.value``.
        node: the schema object holding ``value``, the provenance, ``range`` and ``dist``.
        bounds: ``(low, high)``, the values the field allows (a range must lie inside).
    """

    loc: DocPath
    path: str
    node: Any
    bounds: tuple[float, float]


def numbers(spec: ScenarioSpec) -> Iterator[Number]:
    """Every number with a provenance, section by section in the schema's order (model,
    states, relations, rivalries, shocks: the order of the shipped files).

    A shock effect with an unknown parameter is left out (the effect check reports it).
    """
    for name, (bounds, _default) in MODEL_CONSTANTS.items():
        s = getattr(spec.model, name)
        if s is not None:
            yield Number(("model", name), f"model.{name}", s, bounds)
    for sid, st in spec.states.items():
        yield Number(
            ("states", sid, "power"), f"states.{sid}.power", st.power, STATE_PARAMS["power"]
        )
        for w in WEIGHT_NAMES:
            loc = ("states", sid, "weights", w)
            yield Number(loc, f"states.{sid}.weights.{w}", getattr(st.weights, w), (0.0, 1.0))
        for name in ("autonomy", "cross_pressure"):
            if getattr(st, name) is not None:
                loc = ("states", sid, name)
                yield Number(loc, f"states.{sid}.{name}", getattr(st, name), STATE_PARAMS[name])
    for i, row in spec.relations.items():
        for j, pair in row.items():
            for name, bounds in PAIR_PARAMS.items():
                s = getattr(pair, name)
                if s is not None:
                    yield Number(("relations", i, j, name), f"relations.{i}.{j}.{name}", s, bounds)
    for k, r in enumerate(spec.rivalries):
        yield Number(("rivalries", k), f"rivalries.{k}.value", r, (0.0, 1.0))
    effect_params = {**STATE_PARAMS, **PAIR_PARAMS, **SYMMETRIC_PARAMS, "tie": (-0.999, 0.999)}
    for sid_, shock in spec.shocks.items():
        if shock.probability is not None:
            loc = ("shocks", sid_, "probability")
            yield Number(loc, f"shocks.{sid_}.probability", shock.probability, (0.0, 1.0))
        for k, eff in enumerate(shock.effects):
            if eff.param not in effect_params:
                continue
            if eff.op == "set":
                bounds = effect_params[eff.param]
            elif eff.op == "multiply":
                bounds = (0.0, MAX_MAGNITUDE)
            else:
                bounds = (-MAX_MAGNITUDE, MAX_MAGNITUDE)
            loc = ("shocks", sid_, "effects", k)
            yield Number(loc, f"shocks.{sid_}.effects.{k}.value", eff, bounds)


def check_ranges(spec: ScenarioSpec, found: ProblemList) -> None:
    """Every ``range: [low, high]``: finite, ``low < high``, ``value`` inside it (unless an
    override set the value: :func:`value_overridden`), and inside the field's own bounds
    (so no draw from it can make the scenario invalid); ``dist`` only beside a ``range``."""
    for num in numbers(spec):
        node, loc = num.node, num.loc
        if node.range is None:
            if "dist" in node.model_fields_set:
                found.add(loc + ("dist",), "`dist` describes a `range`: give `range: [low, high]`")
            continue
        low, high = node.range
        rloc = loc + ("range",)
        if not (math.isfinite(low) and math.isfinite(high)):
            found.add(rloc, f"expected two finite numbers [low, high], got [{low}, {high}]")
            continue
        if not low < high:
            found.add(rloc, f"a range is [low, high] with low < high, got [{low:g}, {high:g}]")
            continue
        if not low <= node.value <= high and not value_overridden(found.doc.where, num):
            found.add(
                rloc,
                f"the value {node.value:g} lies outside its range [{low:g}, {high:g}]; "
                "a range holds the value",
            )
        lo, hi = num.bounds
        if low < lo or high > hi:
            hi_s = "infinity" if hi == math.inf else f"{hi:g}"
            found.add(
                rloc,
                f"expected a range inside this field's bounds [{lo:g}, {hi_s}], "
                f"got [{low:g}, {high:g}]",
            )


def value_overridden(where: dict, num: Number) -> bool:
    """Whether an override replaced the ``value`` of ``num`` but left its ``range`` (a
    rivalry's or an effect's ``value``, set through ``rivalries.0.value``): the value is
    placed in another file (the override's origin) than the range. Such a number is
    fixed, not uncertain, and may lie outside the range (a sweep beyond the prior)."""
    v, r = where.get(num.loc + ("value",)), where.get(num.loc + ("range",))
    return v is not None and r is not None and v[0] != r[0]


def check_validation_seeds(spec: ScenarioSpec, found: ProblemList) -> None:
    """`validation`: ``tuning_seeds`` is ``[first, last]`` with first <= last, and the
    validation seeds ``seed_start .. seed_start + seeds - 1`` do not overlap it."""
    v = spec.validation
    if v is None or v.tuning_seeds is None:
        return
    first, last = v.tuning_seeds
    if first > last:
        found.add(
            ("validation", "tuning_seeds"),
            f"expected [first, last] with first <= last, got [{first}, {last}]",
        )
        return
    vlast = v.seed_start + v.seeds - 1
    if v.seed_start <= last and first <= vlast:
        found.add(
            ("validation", "seed_start"),
            f"the validation seeds {v.seed_start}..{vlast} (seed_start {v.seed_start}, "
            f"seeds {v.seeds}) overlap the tuning seeds {first}..{last}; validate on seeds "
            "that tuned nothing (move `seed_start` past them)",
        )


#: An observed-data code: an ISO3 code or a group name (3+ upper-case letters or digits).
_CODE = re.compile(r"[A-Z0-9]{3,}")


def check_observed(spec: ScenarioSpec, found: ProblemList) -> None:
    """`observed.codes`: known state ids, each with a code or a non-empty list of codes."""
    if spec.observed is None:
        return
    for sid, codes in spec.observed.codes.items():
        loc = ("observed", "codes", sid)
        if not _known(spec, found, sid, loc):
            continue
        if isinstance(codes, list) and not codes:
            found.add(loc, "expected a code or a non-empty list of codes, got []")
        for k, code in enumerate(codes if isinstance(codes, list) else [codes]):
            if not _CODE.fullmatch(code):
                place = loc + (k,) if isinstance(codes, list) else loc
                found.add(
                    place,
                    f"expected an ISO3 code or a group name (3 or more upper-case letters or "
                    f"digits, e.g. AZE, EU27), got {code!r}",
                )


def check_calibration(spec: ScenarioSpec, found: ProblemList) -> None:
    """`calibration`: every input names a number with a ``range``, once; ``until`` lies
    within the horizon. A number that an override set (:func:`sim.scenario.with_overrides`
    replaces its node, range and all) needs no range: the override fixed it."""
    cal = spec.calibration
    if cal is None:
        return
    by_path = {num.path: num for num in numbers(spec)}
    uncertain = [p for p, num in by_path.items() if num.node.range is not None]
    seen: dict[str, int] = {}
    for k, path in enumerate(cal.inputs):
        loc = ("calibration", "inputs", k)
        num = by_path.get(path)
        if path in seen:
            found.add(loc, f"{path} is already listed at calibration.inputs.{seen[path]}")
        seen.setdefault(path, k)
        if num is None:
            found.add(
                loc,
                f"no number at {path!r}{did_you_mean(path, uncertain)}; expected the "
                "override path of a number with a range (e.g. states.AZ.weights.energy, "
                "relations.AZ.RU.threat, model.tie_cost, shocks.ID.effects.0.value)",
            )
        elif num.node.range is None and not _set_by_override(found.doc, num):
            found.add(loc, f"{path} is not uncertain: give it a range (`range: [low, high]`)")
    start, end = horizon(spec.time)
    if not start.year <= cal.until <= end.year:
        found.add(
            ("calibration", "until"),
            f"expected a year within the horizon, {start.year} to {end.year}, got {cal.until}",
        )


def check_time(spec: ScenarioSpec, found: ProblemList) -> None:
    """`time`: the horizon holds at most :data:`MAX_PERIODS` periods (``steps`` is bounded
    by the schema; this bounds the periods up to ``end``)."""
    n = n_periods(spec.time)
    if n > MAX_PERIODS:
        found.add(
            ("time", "end"),
            f"the horizon holds {n:,} periods of one {spec.time.step}; a scenario runs at "
            f"most {MAX_PERIODS:,} periods (choose an earlier `end` or a longer `step`)",
        )


def check_model(spec: ScenarioSpec, found: ProblemList) -> None:
    """`model`: every constant given is within its range."""
    for name, ((lo, hi), _default) in MODEL_CONSTANTS.items():
        s = getattr(spec.model, name)
        if s is not None:
            _in_range(found, s.value, lo, hi, ("model", name, "value"))


@dataclass(frozen=True)
class VersionedUse:
    """A place where a scenario uses a name that only one model version reads.

    Attributes:
        loc: the document path of the use (``("states", "AZ", "cross_pressure")``).
        name: the name used, a key of :data:`REPLACED_IN_MODEL_2` or :data:`MODEL_2_ONLY`.
        drop: how a file that extends the one holding the use drops it.
    """

    loc: DocPath
    name: str
    drop: str


def versioned_uses(spec: ScenarioSpec) -> Iterator[VersionedUse]:
    """Every use of a name that only one model version reads: a model constant, a
    state's ``cross_pressure``, a relation's ``attack``, a non-empty ``rivalries`` list,
    a shock effect on such a parameter."""
    only_one = {**REPLACED_IN_MODEL_2, **MODEL_2_ONLY}
    for name in MODEL_CONSTANTS:
        if name in only_one and getattr(spec.model, name) is not None:
            yield VersionedUse(("model", name), name, f"`{name}: null` under `model:`")
    for sid, st in spec.states.items():
        if st.cross_pressure is not None:
            drop = f"`cross_pressure: null` under `states: {sid}:`"
            yield VersionedUse(("states", sid, "cross_pressure"), "cross_pressure", drop)
    for i, row in spec.relations.items():
        for j, pair in row.items():
            if pair.attack is not None:
                drop = f"`attack: null` under `relations: {i}: {j}:`"
                yield VersionedUse(("relations", i, j, "attack"), "attack", drop)
    if spec.rivalries:
        yield VersionedUse(("rivalries",), "rivalries", "`rivalries: []`")
    for sid_, shock in spec.shocks.items():
        for k, eff in enumerate(shock.effects):
            if eff.param in only_one:
                drop = (
                    f"a new `effects:` list for the shock {sid_} (a list replaces the "
                    f"parent's whole), or `remove_shocks: [{sid_}]`"
                )
                yield VersionedUse(("shocks", sid_, "effects", k), eff.param, drop)


def check_version(spec: ScenarioSpec, found: ProblemList) -> None:
    """`model.version`: the scenario uses only what its model reads. Model 1 (the
    default) needs every state's ``cross_pressure`` and refuses Model 2's names; Model 2
    refuses the names it replaces (:data:`REPLACED_IN_MODEL_2`). A use inherited through
    ``extends`` is refused too, with how to drop it in the file that sets the version."""
    version = spec.model.version
    if version == 1:
        for sid, st in spec.states.items():
            if st.cross_pressure is None:
                found.add(
                    ("states", sid, "cross_pressure"),
                    "required field is missing (Model 1, the default, reads every state's "
                    "`cross_pressure`; Model 2, `model: {version: 2}`, does without it)",
                )
    refused = MODEL_2_ONLY if version == 1 else REPLACED_IN_MODEL_2
    for use in versioned_uses(spec):
        if use.name in refused:
            found.add(use.loc, _refusal(found.doc, use, version))


def _refusal(doc: Document, use: VersionedUse, version: int) -> str:
    """Why a scenario of model ``version`` refuses ``use``, and what to do instead: remove
    it, or, when it comes from another file than the one that sets ``model.version`` (a
    parent under ``extends``), drop it in that file."""
    what = "effect on" if use.loc[0] == "shocks" else "field"
    version_at, use_at = doc.where.get(("model", "version")), doc.where.get(use.loc)
    if version_at is not None and use_at is not None and version_at[0] != use_at[0]:
        remedy = (
            f"it is inherited from {use_at[0]}: drop it in {version_at[0]} (where "
            f"`model.version` is set) with {use.drop}"
        )
    else:
        remedy = f"remove the {what} `{use.name}`"
    if version == 1:
        runs = "Model 1" if version_at is not None else "Model 1, the default"
        return (
            f"`{use.name}` is Model 2's ({MODEL_2_ONLY[use.name]}), and this scenario runs "
            f"{runs}: to use Model 2, write `model: {{version: 2}}`; or {remedy}"
        )
    return (
        f"a version-2 scenario may not use the {what} `{use.name}`: "
        f"{REPLACED_IN_MODEL_2[use.name]}; {remedy}"
    )


def check_states(spec: ScenarioSpec, found: ProblemList) -> None:
    """`states`: at least two, usable ids, parameters in range, weights summing to 1."""
    ids = list(spec.states)
    if len(ids) < 2:
        found.add(("states",), f"a world needs at least two states, got {len(ids)}")
    if len(ids) > MAX_STATES:
        found.add(("states",), f"a scenario has at most {MAX_STATES:,} states, got {len(ids):,}")
    for sid in ids:
        if sid == "*" or not sid.strip():
            found.add(
                ("states", sid),
                "'*' and blank names are not state ids ('*' means all states in shock effects)",
            )
    for sid, st in spec.states.items():
        for name, (lo, hi) in STATE_PARAMS.items():
            if getattr(st, name) is not None:  # an absent `cross_pressure`: check_version
                _in_range(found, getattr(st, name).value, lo, hi, ("states", sid, name, "value"))
        w = [getattr(st.weights, n).value for n in WEIGHT_NAMES]
        for n, v in zip(WEIGHT_NAMES, w, strict=True):
            _in_range(found, v, 0.0, 1.0, ("states", sid, "weights", n, "value"))
        if abs(sum(w) - 1.0) > 1e-6:
            found.add(
                ("states", sid, "weights"),
                f"the three weights are shares of concern and must sum to 1, got {sum(w):g}",
            )


def check_poles(spec: ScenarioSpec, found: ProblemList) -> None:
    """`poles` and `alignment_axis`: non-empty poles of known, distinct states; two
    different, defined poles on the axis."""
    for pole, members in spec.poles.items():
        if not members:
            found.add(("poles", pole), "a pole needs at least one member state")
    axis = spec.alignment_axis
    if axis is not None and axis.toward == axis.away:
        found.add(("alignment_axis",), "`toward` and `away` must be two different poles")
    for pole, members in spec.poles.items():
        for k, m in enumerate(members):
            _known(spec, found, m, ("poles", pole, k))
    seen: dict[str, str] = {}
    for pole, members in spec.poles.items():
        for m in members:
            if m in seen:
                found.add(
                    ("poles", pole), f"state {m!r} is in two poles ({seen[m]!r} and {pole!r})"
                )
            seen[m] = pole
    if axis is not None:
        for side in ("toward", "away"):
            p = getattr(axis, side)
            if p not in spec.poles:
                found.add(
                    ("alignment_axis", side),
                    f"unknown pole {p!r}{did_you_mean(p, spec.poles)}; "
                    f"the poles are {', '.join(spec.poles) or '(none defined)'}",
                )


def check_relations(spec: ScenarioSpec, found: ProblemList) -> None:
    """`relations`: known states, no self-relation, values in range, shares summing to at
    most 1 over each state's partners."""
    for i, row in spec.relations.items():
        if not _known(spec, found, i, ("relations", i)):
            continue
        sums = dict.fromkeys(SHARE_PARAMS, 0.0)
        for j, pair in row.items():
            if not _known(spec, found, j, ("relations", i, j)):
                continue
            if j == i:
                found.add(("relations", i, j), "a state has no relation with itself")
            for name, (lo, hi) in PAIR_PARAMS.items():
                s = getattr(pair, name)
                if s is not None:
                    _in_range(found, s.value, lo, hi, ("relations", i, j, name, "value"))
                    if name in sums:
                        sums[name] += s.value
        for name, total in sums.items():
            if total > 1.0 + 1e-9:
                found.add(
                    ("relations", i),
                    f"the `{name}` shares of {i}'s partners sum to {total:g}; they are shares "
                    "of one stake and must sum to at most 1 (the rest is the rest of the world)",
                )


def check_rivalries(spec: ScenarioSpec, found: ProblemList) -> None:
    """`rivalries`: each pair once, two different known states, a value in [0, 1] with its
    provenance."""
    seen_pairs: dict[frozenset, int] = {}
    for k, r in enumerate(spec.rivalries):
        key = frozenset(r.pair)
        if key in seen_pairs:
            found.add(
                ("rivalries", k),
                f"the rivalry {r.pair[0]}-{r.pair[1]} is already given at "
                f"rivalries[{seen_pairs[key]}]",
            )
        seen_pairs[key] = k
    for k, r in enumerate(spec.rivalries):
        loc = ("rivalries", k)
        for m, sid in enumerate(r.pair):
            _known(spec, found, sid, loc + ("pair", m))
        if r.pair[0] == r.pair[1]:
            found.add(loc + ("pair",), "a rivalry needs two different states")
        _in_range(found, r.value, 0.0, 1.0, loc + ("value",))
        _provenance(found, r, loc)


def check_facts(spec: ScenarioSpec, found: ProblemList) -> None:
    """`validation.facts`: what each kind of fact needs, known states, dates in the horizon."""
    if spec.validation is None:
        return
    start, end = horizon(spec.time)
    for k, fact in enumerate(spec.validation.facts):
        _check_fact(spec, found, fact, ("validation", "facts", k), (start, end))


def _check_fact(spec: ScenarioSpec, found: ProblemList, fact: FactSpec, loc: DocPath, span) -> None:
    _known(spec, found, fact.state, loc + ("state",))
    for need in _FACT_NEEDS[fact.kind]:
        if getattr(fact, need) is None:
            found.add(loc, f"a `{fact.kind}` fact needs `{need}:`")
    if fact.kind in ("mean_change", "greater", "paired_effect"):
        if (fact.partner is None) == (fact.index is None):
            found.add(
                loc,
                f"a `{fact.kind}` fact measures one quantity: give `partner:` (a tie) "
                "or `index:` (alignment_index or hedging_index)",
            )
    if fact.partner is not None:
        _known(spec, found, fact.partner, loc + ("partner",))
    for p, (lo, hi) in (fact.bands or {}).items():
        if p in _BAND_INDICES:
            _index_band(spec, found, fact.state, p, loc + ("bands", p))
        elif p not in spec.states:
            options = [*spec.states, *_BAND_INDICES]
            found.add(
                loc + ("bands", p),
                f"a band names a partner (state id) or an index; {p!r} is neither"
                f"{did_you_mean(p, options)}; the states are {', '.join(spec.states)}, the "
                f"indices {', '.join(_BAND_INDICES)}",
            )
        if not lo < hi:
            found.add(
                loc + ("bands", p), f"a band is [low, high] with low < high, got [{lo}, {hi}]"
            )
    if fact.than is not None:
        _known(spec, found, fact.than.state, loc + ("than", "state"))
        if (fact.than.partner is None) == (fact.than.index is None):
            found.add(loc + ("than",), "give `partner:` or `index:`")
    for name in ("window", "early", "late"):
        w = getattr(fact, name)
        if w is None:
            continue
        for side in ("start", "end"):
            d = getattr(w, side)
            if not (span[0] <= d <= span[1]):
                found.add(
                    loc + (name, side), f"date {d} is outside the horizon {span[0]} to {span[1]}"
                )


def _index_band(spec: ScenarioSpec, found: ProblemList, state: str, index: str, loc) -> None:
    """An alignment-index band needs an alignment axis, and a state not alone in a pole
    of it (its index would be undefined, NaN, at every record)."""
    if index != "alignment_index":
        return
    axis = spec.alignment_axis
    if axis is None:
        found.add(loc, "the scenario has no `alignment_axis`, so no alignment index to bound")
        return
    for pole in (axis.toward, axis.away):
        if spec.poles.get(pole) == [state]:
            found.add(
                loc,
                f"{state} is the only member of the pole {pole}: its alignment index is "
                "undefined; bound its ties instead",
            )


def check_shocks(spec: ScenarioSpec, found: ProblemList) -> None:
    """`shocks`: dated or probabilistic (not both), dates in the horizon, provenance, and
    effects that name a known parameter of known states with a value in range."""
    start, end = horizon(spec.time)
    for sid_, shock in spec.shocks.items():
        loc = ("shocks", sid_)
        if (shock.date is None) == (shock.probability is None):
            found.add(
                loc,
                "give exactly one of `date:` (a dated shock) or `probability:` (a per-step chance)",
            )
        if shock.date is not None and not (start <= shock.date <= end):
            found.add(loc + ("date",), f"date {shock.date} is outside the horizon {start} to {end}")
        if shock.date is not None and shock.window is not None:
            found.add(
                loc + ("window",), "`window` is for probabilistic shocks; a dated shock has `date`"
            )
        if shock.probability is not None:
            _in_range(found, shock.probability.value, 0.0, 1.0, loc + ("probability", "value"))
        if shock.window is not None:
            w = shock.window
            for side in ("start", "end"):
                d = getattr(w, side)
                if not (start <= d <= end):
                    found.add(
                        loc + ("window", side), f"date {d} is outside the horizon {start} to {end}"
                    )
        _provenance(found, shock, loc)
        if shock.date is not None and shock.max_fires != 1:
            found.add(
                loc + ("max_fires",),
                "`max_fires` is for probabilistic shocks; a dated shock fires once",
            )
        if not shock.effects:
            found.add(loc + ("effects",), "a shock needs at least one effect")
        for k, eff in enumerate(shock.effects):
            _check_effect(spec, found, eff, loc + ("effects", k))
    _check_shock_count(spec, found)


def _check_shock_count(spec: ScenarioSpec, found: ProblemList) -> None:
    """At most :data:`MAX_SHOCKS` shocks, able to fire at most :data:`MAX_SHOCK_FIRINGS`
    times in one run (the figures list every shock and mark every firing)."""
    if len(spec.shocks) > MAX_SHOCKS:
        found.add(
            ("shocks",),
            f"a scenario has at most {MAX_SHOCKS} shocks, got {len(spec.shocks)} "
            "(the figures list every shock)",
        )
        return
    firings = sum(_most_firings(spec, shock) for shock in spec.shocks.values())
    if firings > MAX_SHOCK_FIRINGS:
        found.add(
            ("shocks",),
            f"these shocks can fire up to {firings} times in one run; at most "
            f"{MAX_SHOCK_FIRINGS} firings are allowed (the run's figure marks each one): "
            "lower `max_fires`, or narrow the windows of the probabilistic shocks",
        )


def _most_firings(spec: ScenarioSpec, shock: ShockSpec) -> int:
    """How often ``shock`` can fire in one run: a dated shock once; a probabilistic one
    at most ``max_fires`` times and once per period of its window (once if it lasts for
    good)."""
    if shock.probability is None or shock.duration is None:
        return 1
    if shock.window is None:
        periods = n_periods(spec.time)
    else:
        periods = period_of(spec.time, shock.window.end) - period_of(spec.time, shock.window.start)
        periods += 1
    return max(1, min(shock.max_fires, periods))


def _check_effect(spec: ScenarioSpec, found: ProblemList, eff: Effect, loc: DocPath) -> None:
    all_params = {**STATE_PARAMS, **PAIR_PARAMS, **SYMMETRIC_PARAMS, "tie": (-1.0, 1.0)}
    if eff.param not in all_params:  # the options named: those the scenario's model reads
        options = in_version(all_params, spec.model.version)
        found.add(
            loc + ("param",),
            f"unknown parameter {eff.param!r}{did_you_mean(eff.param, options)}"
            f"; expected one of: {', '.join(options)}",
        )
        return
    _provenance(found, eff, loc)
    if not math.isfinite(eff.value):
        found.add(loc + ("value",), f"expected a finite number, got {eff.value}")
        return
    if not _effect_target_ok(spec, found, eff, loc):
        return
    if eff.param == "tie" and not eff.exogenous:
        found.add(
            loc,
            "this effect sets a tie directly; ties emerge from payoffs, so an effect on "
            "`tie` must be marked `exogenous: true` (a decision outside the model, "
            "such as a sanctions regime or a treaty)",
        )
    if eff.param != "tie" and eff.exogenous:
        found.add(
            loc + ("exogenous",),
            "`exogenous` marks effects that set ties; this one changes a parameter",
        )
    if eff.op == "set":
        lo, hi = all_params[eff.param]
        if eff.param == "tie":
            lo, hi = -0.999, 0.999
        _in_range(found, eff.value, lo, hi, loc + ("value",))
    elif eff.op == "multiply" and eff.value < 0:
        found.add(loc + ("value",), f"a multiplier must be >= 0, got {eff.value:g}")
    elif eff.op == "multiply":
        _in_range(found, eff.value, 0.0, MAX_MAGNITUDE, loc + ("value",))
    elif eff.op == "add":
        _in_range(found, eff.value, -MAX_MAGNITUDE, MAX_MAGNITUDE, loc + ("value",))
    if eff.param == "tie" and eff.op != "set":
        found.add(loc + ("op",), "a tie can only be `set` (to a value in (-1, 1))")


def _effect_target_ok(spec: ScenarioSpec, found: ProblemList, eff: Effect, loc: DocPath) -> bool:
    """A state parameter names one ``state``, anything else a ``pair`` (ids or '*').

    Returns:
        False if the effect names the wrong kind of target (the ids are checked either way
        when the kind is right).
    """
    if eff.param in STATE_PARAMS:
        if eff.state is None or eff.pair is not None:
            found.add(
                loc,
                f"`{eff.param}` belongs to one state: give `state:` (an id or '*'), not `pair:`",
            )
            return False
        _known(spec, found, eff.state, loc + ("state",), wildcard=True)
        return True
    if eff.pair is None or eff.state is not None:
        found.add(
            loc,
            f"`{eff.param}` belongs to a pair of states: give `pair: [A, B]` "
            "(either may be '*'), not `state:`",
        )
        return False
    for m, sid in enumerate(eff.pair):
        _known(spec, found, sid, loc + ("pair", m), wildcard=True)
    return True


def _set_by_override(doc: Document, num: Number) -> bool:
    """Whether ``num`` was set by :func:`sim.scenario.with_overrides`: its provenance is
    ``set by ORIGIN`` and it is placed at ORIGIN (not in a scenario file)."""
    text = getattr(num.node, "assumption", None) or ""
    if not text.startswith("set by "):
        return False
    place = doc.where.get(num.loc)
    return place is not None and place[0] == text[len("set by ") :]


def _known(
    spec: ScenarioSpec, found: ProblemList, state_id: str, loc: DocPath, wildcard: bool = False
) -> bool:
    """Whether ``state_id`` is a state of the scenario (or '*' where ``wildcard``); a
    problem if not."""
    if wildcard and state_id == "*":
        return True
    if state_id not in spec.states:
        ids = list(spec.states)
        found.add(
            loc,
            f"unknown state id {state_id!r}{did_you_mean(state_id, ids)}; "
            f"the states are {', '.join(ids)}",
        )
        return False
    return True


def _in_range(found: ProblemList, v: float, lo: float, hi: float, loc: DocPath) -> None:
    if not (lo <= v <= hi):
        hi_s = "infinity" if hi == math.inf else f"{hi:g}"
        found.add(loc, f"expected a number in [{lo:g}, {hi_s}], got {v:g}")


def _provenance(found: ProblemList, obj: Any, loc: DocPath) -> None:
    """Exactly one of ``obj.source`` and ``obj.assumption`` is given (not blank)."""
    has_s = bool(obj.source and obj.source.strip())
    has_a = bool(obj.assumption and obj.assumption.strip())
    if has_s == has_a:
        found.add(loc, "give exactly one of `source:` or `assumption:` for this number")
