"""Semantic checks of a scenario: the rules the schema cannot express.

Pydantic (:mod:`sim.scenario.schema`) checks each field's type; these checks look across
fields: state ids that must exist, numbers within their ranges (from
:mod:`sim.scenario.vocabulary`), weights and shares that must sum right, dates within the
horizon, the provenance of every number, and the size limits of
:mod:`sim.scenario.limits` (periods, states, shocks and how often they can fire, effect
operands). :func:`check_scenario` runs one check per section of the file and returns
every problem found.
"""

from __future__ import annotations

import math
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
    MODEL_CONSTANTS,
    PAIR_PARAMS,
    SHARE_PARAMS,
    STATE_PARAMS,
    SYMMETRIC_PARAMS,
    WEIGHT_NAMES,
)

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
    check_model(spec, found)
    check_states(spec, found)
    check_poles(spec, found)
    check_relations(spec, found)
    check_rivalries(spec, found)
    if spec.focus is not None:
        _known(spec, found, spec.focus, ("focus",))
    check_facts(spec, found)
    check_shocks(spec, found)
    return found.items


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
        _known(spec, found, p, loc + ("bands", p))
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
    if eff.param not in all_params:
        found.add(
            loc + ("param",),
            f"unknown parameter {eff.param!r}{did_you_mean(eff.param, all_params)}"
            f"; expected one of: {', '.join(all_params)}",
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
