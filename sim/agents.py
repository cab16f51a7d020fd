"""The Mesa agent: one state, deciding its own row of ties."""

from __future__ import annotations

import mesa
import numpy as np

from sim import decision


class StateAgent(mesa.Agent):
    """A state. It owns row ``index`` of the tie matrix and only it changes that row.

    Each period it reads the model's evaluation of its candidates (computed once for all
    states on the same world, so the update is simultaneous), picks one candidate per tie
    with its decision rule, then writes its row when every state has decided.

    Attributes (refreshed after every step, read by the DataCollector):
        alignment_index, hedging_index: see :mod:`sim.indices`.
        energy, security, alignment, cost, utility: payoff components of its current row.
    """

    def __init__(self, model, state_id: str, index: int, name: str, rule: int):
        super().__init__(model)
        self.state_id = state_id
        self.index = index
        self.name = name
        self.rule = rule
        self.choice: np.ndarray | None = None
        self.alignment_index = np.nan
        self.hedging_index = np.nan
        self.energy = self.security = self.alignment = self.cost = self.utility = np.nan

    def decide(self) -> None:
        """Choose one candidate per tie from the model's current evaluation."""
        ev = self.model.evaluation
        i = slice(self.index, self.index + 1)
        P = self.model.params
        self.choice = decision.choose(
            ev.utility[i],
            ev.moved[i],
            np.array([self.rule]),
            P.tau[i],
            P.gamma[i],
            ev.uniforms[i],
            ev.stay[i],
        )[0]

    def apply(self) -> None:
        """Write the chosen ties into the model's tie matrix."""
        if self.choice is None:
            return
        i = self.index
        values = self.model.evaluation.values[i]
        row = np.take_along_axis(values, self.choice[:, None], axis=-1)[:, 0]
        row[i] = 0.0
        self.model.ties[i] = row
        self.choice = None

    def __repr__(self) -> str:
        return f"StateAgent({self.state_id!r})"
