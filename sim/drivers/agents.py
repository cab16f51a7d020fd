"""The Mesa agent: one state, deciding its own row of ties."""

from __future__ import annotations

import mesa
import numpy as np


class StateAgent(mesa.Agent):
    """A state. It owns row ``index`` of the tie matrix and only it changes that row.

    Each period it reads the model's evaluation of its candidates (computed once for all
    states on the same world, so the update is simultaneous), picks one candidate per tie
    with its decision rule, then writes its row when every state has decided.

    Attributes (refreshed after every step, read by the DataCollector):
        alignment_index, hedging_index: see :mod:`sim.kernel.indices`.
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
        """Take this period's choice for each of its ties.

        The choices of all states come from one vectorized call of the state's decision
        rule (:func:`sim.kernel.decision.choose`) on the model's evaluation, so the Mesa path
        and a batched path make identical choices from identical draws. A state that does
        not revise this period (one-at-a-time updating) keeps its row.
        """
        ev = self.model.evaluation
        self.choice = ev.choice[self.index] if ev.revising[self.index] else None

    def apply(self) -> None:
        """Write the chosen ties into the model's tie matrix.

        The new row comes from :func:`sim.kernel.decision.apply_choices` on the period's
        evaluation (computed once for every state, as the ensemble engine computes it).
        """
        if self.choice is None:
            return
        self.model.ties[self.index] = self.model.evaluation.new_ties[self.index]
        self.choice = None

    def __repr__(self) -> str:
        return f"StateAgent({self.state_id!r})"
