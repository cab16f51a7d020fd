"""The vocabulary of a scenario: the parameters it sets and shocks change, with their ranges.

Every range is inclusive, ``(low, high)``, and finite; the checks in
:mod:`sim.scenario.checks` and the world compiler read them from here, and the world
compiler clips a parameter to its range after each shock's effect.

Two models read scenarios (``model: {version: 1 | 2}``, :data:`MODEL_VERSIONS`). Most
names mean the same in both; :data:`REPLACED_IN_MODEL_2` lists those only Model 1 reads
and :data:`MODEL_2_ONLY` those only Model 2 reads, and :func:`in_version` keeps the
entries of a table that one version reads.
"""

from __future__ import annotations

from sim.scenario.limits import MAX_POWER, MIN_POWER

#: Per-state parameters: name -> (low, high). ``power`` is a capability (only ratios
#: matter); its upper bound keeps sums and squares of powers finite.
STATE_PARAMS: dict[str, tuple[float, float]] = {
    "power": (MIN_POWER, MAX_POWER),
    "autonomy": (0.0, 10.0),
    "cross_pressure": (0.0, 10.0),
}
#: Directed pair parameters (row i, column j: what j means to i): name -> (low, high).
PAIR_PARAMS: dict[str, tuple[float, float]] = {
    "energy": (0.0, 1.0),
    "threat": (0.0, 1.0),
    "proximity": (0.0, 1.0),
    "protection": (0.0, 1.0),
    "arms": (0.0, 1.0),
    "affinity": (-1.0, 1.0),
    "leverage": (0.0, 1.0),
    "attack": (0.0, 1.0),
}
#: Pair parameters whose row (over partners j) is a share and must sum to at most 1.
SHARE_PARAMS = ("energy", "arms", "leverage")
#: Symmetric pair parameters, set in `rivalries` and changed by shocks on either order.
SYMMETRIC_PARAMS: dict[str, tuple[float, float]] = {"rivalry": (0.0, 1.0)}
#: Global model constants: name -> ((low, high), default).
MODEL_CONSTANTS: dict[str, tuple[tuple[float, float], float]] = {
    "delta": ((1e-3, 0.5), 0.05),
    "reciprocity_floor": ((0.0, 1.0), 0.5),
    "threat_reduction": ((0.0, 1.0), 0.5),
    "leverage_threshold": ((-0.9, 0.9), 0.25),
    "tie_cost": ((1e-3, 10.0), 0.2),
    "tie_noise": ((1e-4, 0.5), 0.05),
    "move_cost": ((0.0, 100.0), 1.0),
    "balance": ((0.0, 10.0), 1.0),
    "bandwagon": ((0.0, 1.0), 0.5),
    "credibility_rate": ((0.0, 1.0), 0.1),
    "adjustment": ((0.01, 1.0), 0.3),
}
#: The three payoff weights of a state (shares of concern that sum to 1), in payoff order.
WEIGHT_NAMES = ("energy", "security", "alignment")

#: The model versions a scenario may choose with ``model: {version: N}``.
MODEL_VERSIONS = (1, 2)
#: The version of a scenario that does not choose one (every file written before Model 2).
DEFAULT_MODEL_VERSION = 1
#: Names only Model 1 reads (a field, a constant, a parameter a shock may change), each
#: with what takes its place in Model 2; a version-2 scenario may not use them.
REPLACED_IN_MODEL_2: dict[str, str] = {
    "rivalries": "Model 2 derives rivalries from the states' own ties",
    "rivalry": "Model 2 derives rivalries from the states' own ties",
    "cross_pressure": "Model 2's structural-balance term (the constant `balance`) replaces it",
    "threat_reduction": (
        "Model 2 replaces it with `bandwagon` (how much of a threat accommodating its "
        "source can remove, for a weak state beside it with no credible protector)"
    ),
    "leverage_threshold": (
        "Model 2 replaces it with leverage that cuts both ways (coercion buys compliance "
        "and gives the coerced state a reason to seek outside options; no threshold)"
    ),
}
#: Names only Model 2 reads: what each means (a version-1 scenario may not use them).
MODEL_2_ONLY: dict[str, str] = {
    "balance": "the weight of structural balance (Heider) in the alignment payoff",
    "bandwagon": (
        "how much of a threat accommodating its source can remove, at full weakness and proximity"
    ),
    "credibility_rate": (
        "the share of the gap between a protector's credibility and its target closed each period"
    ),
    "attack": "an armed attack on the row state by the partner, in force (0 none, 1 full)",
}


def in_version(table: dict, version: int) -> dict:
    """The entries of a vocabulary table (:data:`MODEL_CONSTANTS`, :data:`PAIR_PARAMS`,
    :data:`STATE_PARAMS`, :data:`SYMMETRIC_PARAMS`) that model ``version`` reads, in
    order."""
    other_only = REPLACED_IN_MODEL_2 if version == 2 else MODEL_2_ONLY
    return {name: entry for name, entry in table.items() if name not in other_only}
