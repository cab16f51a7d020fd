"""The vocabulary of a scenario: the parameters it sets and shocks change, with their ranges.

Every range is inclusive, ``(low, high)``, and finite; the checks in
:mod:`sim.scenario.checks` and the world compiler read them from here, and the world
compiler clips a parameter to its range after each shock's effect.
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
}
#: The three payoff weights of a state (shares of concern that sum to 1), in payoff order.
WEIGHT_NAMES = ("energy", "security", "alignment")
