"""The Mesa model: owns the world, applies shocks, stages decide -> apply, collects data.

Timing. Construction burns in ``time.burn_in`` periods from neutral ties (all zero) under
the base parameters (no shocks), unrecorded, then records step 0, dated the day before
the start. Each ``step()`` runs one period ``p``: shocks due in ``p`` start (and expired
ones end), every state evaluates its candidates on the same world, all decide, all apply
(a simultaneous update), and the record of step ``p + 1`` is dated the last day of ``p``.

Randomness. Every draw comes from ``model.rng``: one uniform per tie and period (the
burn-in included), drawn whether or not a state uses it, so a state's rule never shifts
another's draws. Probabilistic shocks use streams derived from the same seed and the
shock's id; their whole schedule is computed at construction
(:mod:`sim.world.schedule`), the same function the ensemble engine calls.

Records. The DataCollector keeps the tie matrix and the regime (the active shocks) of
every step; :meth:`BalancingModel.ties_table` and :meth:`BalancingModel.indices_table`
build the tables with :mod:`sim.drivers.records`, the ensemble's code, as one replicate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import mesa
import numpy as np
import pandas as pd

from sim.drivers import records
from sim.drivers.agents import StateAgent
from sim.drivers.engine import kernel_name
from sim.drivers.records import INDEX_COLUMNS
from sim.kernel import balance, decision
from sim.kernel.payoffs import COMPONENTS, Params
from sim.scenario import Scenario, load_scenario
from sim.world.compiled import World, world_for
from sim.world.schedule import ShockSchedule, schedule_shocks, shock_draws
from sim.world.shocks import CompiledShock
from sim.world.sweep import Sweep

_LOCAL_MOVED = np.array([True, False, True])  # local candidates: -delta, stay, +delta


@dataclass
class Evaluation:
    """Every state's candidates for one period and the choices made, on the same world.

    The choices come from :func:`sim.kernel.decision.period_choices` (the function the ensemble
    driver calls too). The payoff components and utilities of every candidate, which
    ``explain`` shows, are computed only when asked for.
    """

    period: int
    ties: np.ndarray  # (N, N) the ties the states decided on
    params: Params  # the parameters in force
    grid: np.ndarray | None  # (N, N, S) candidate tie values; None for local candidates
    uniforms: np.ndarray  # (N, N) the draws the choices use
    revising: np.ndarray  # (N,) bool: who revises this period
    choice: np.ndarray  # (N, N) index of the candidate each rule picks
    delta: float  # the tie step
    pinned: tuple[tuple[int, int, float], ...] = ()  # (i, j, value) held by exogenous shocks
    credibility: np.ndarray | None = None  # (N, N) Model 2's credibility; None for Model 1
    #: ``(N, N)`` the new ties under continuous choice (``candidates: continuous``); the
    #: candidates then are the local ones (-delta, stay, +delta), for explanations only
    continuous: np.ndarray | None = None

    @property
    def local(self) -> bool:
        """Local candidates (-delta, stay, +delta) rather than the whole grid."""
        return self.grid is None

    @cached_property
    def values(self) -> np.ndarray:
        """``(N, N, S)`` candidate tie values."""
        if self.grid is not None:
            return self.grid
        return self.ties[..., None] + decision.LOCAL_STEPS * self.delta

    @cached_property
    def components(self) -> np.ndarray:
        """``(N, N, S, 4)`` energy, security, alignment, cost of every candidate."""
        return decision.evaluate(self.ties, self.values, self.params, self.credibility)

    @cached_property
    def utility(self) -> np.ndarray:
        """``(N, N, S)``; NaN for impossible candidates."""
        return decision.utility_of(self.components, self.params)

    @cached_property
    def new_ties(self) -> np.ndarray:
        """``(N, N)`` the ties after every revising state applies its choices."""
        if self.continuous is not None:
            return decision.apply_choices(
                self.ties,
                self.continuous[..., None],
                np.zeros_like(self.choice),
                self.revising,
                self.delta,
            )
        grid = None if self.local else self.values
        return decision.apply_choices(self.ties, grid, self.choice, self.revising, self.delta)

    @cached_property
    def moved(self) -> np.ndarray:
        if self.local:
            return np.broadcast_to(_LOCAL_MOVED, self.values.shape)
        return ~np.isclose(self.values, self.ties[..., None])

    @cached_property
    def stay(self) -> np.ndarray:
        if self.local:
            return np.ones(self.ties.shape, dtype=int)
        return np.abs(self.values - self.ties[..., None]).argmin(axis=-1)


class BalancingModel(mesa.Model):
    """Strategic balancing among the states of a scenario.

    Args:
        scenario: a :class:`~sim.scenario.Scenario`, or a path to a scenario file.
        rng: the seed (int or ``numpy.random.SeedSequence``); all randomness derives
            from it.
        shocks_off: ids of shocks to switch off (a counterfactual without editing files).
        world: an already compiled world (skips compiling the scenario again).
        agent_data: also collect each state's indices and payoff components every step
            as agent variables (the Mesa way: ``datacollector.get_agent_vars_dataframe``,
            agent rows in ``mesa.batch_run``). Off, only the tie matrix is collected and
            :meth:`indices_table` computes the same numbers afterwards in one vectorized
            pass (what ``sim.drivers.run`` and ``multivector validate`` use: faster).
    """

    def __init__(
        self,
        scenario: Scenario | str | Path = "scenarios/baseline.yaml",
        rng: int | np.random.SeedSequence | None = None,
        shocks_off: tuple[str, ...] | list[str] = (),
        world: World | None = None,
        agent_data: bool = True,
    ):
        if isinstance(rng, np.integer):  # mesa seeds random.Random with it: a plain int
            rng = int(rng)
        super().__init__(rng=rng)
        if world is None:
            if not isinstance(scenario, Scenario):
                scenario = load_scenario(scenario)
            world = world_for(scenario)
        self.world = world  # its ``scenario`` is the scenario file's content (``self.scenario``
        # is Mesa's own parameter bag, which this model does not use)
        n = world.n
        self.sweep = Sweep([world], tuple(shocks_off))  # regimes -> parameters, pinned ties
        self.schedule: ShockSchedule = self._schedule(world.n_periods)
        self.regime = 0  # index into schedule.regimes of the shocks in force (none yet)
        self.params: Params = world.base
        self.kernel = kernel_name()  # compiled, or the numpy reference (MULTIVECTOR_KERNEL)
        self.ties = np.zeros((n, n))
        #: Model 2's credibility ``(N, N)`` (:mod:`sim.kernel.balance`); None for Model 1.
        self.credibility = (
            balance.initial_credibility(world.base, (n, n)) if world.model == 2 else None
        )
        self.period = 0
        self.evaluation: Evaluation | None = None  # the latest period's decisions
        self._upcoming: Evaluation | None = None  # the coming period's, once looked at

        created = StateAgent.create_agents(
            self,
            n,
            state_id=world.ids,
            index=list(range(n)),
            name=world.names,
            rule=[int(r) for r in world.rules],
        )
        self.states: dict[str, StateAgent] = {a.state_id: a for a in created}

        for _ in range(world.burn_in):
            self._period_decisions(period=-1)
        self.agent_data = agent_data
        if agent_data:
            self._refresh_state()
        reporters = {"ties": "ties_snapshot", "period": "period", "regime": "regime"}
        if self.credibility is not None:
            reporters["credibility"] = "credibility_snapshot"
        self.datacollector = mesa.DataCollector(
            model_reporters=reporters,
            agent_reporters={c: c for c in INDEX_COLUMNS} if agent_data else None,
        )
        self.datacollector.collect(self)
        self.running = True

    # ---- stepping -------------------------------------------------------------------

    def step(self) -> None:
        """Run one period: shocks, evaluate, decide, apply, record."""
        self._decide_and_apply(self.upcoming())
        self.period += 1
        if self.agent_data:
            self._refresh_state()
        self.datacollector.collect(self)
        if self.period >= self.world.n_periods:
            self.running = False

    def upcoming(self) -> Evaluation:
        """The coming period's decisions, before they are applied.

        Starts the shocks due this period (and ends expired ones), scores every state's
        candidates and takes the period's draws; :meth:`step` then applies exactly these
        choices. Calling it again before ``step`` returns the same evaluation, so looking
        ahead (the dashboard shows a student the candidates first) changes no result.
        """
        if self._upcoming is None:
            p = self.period
            if p >= self.schedule.periods:  # stepping past the horizon: extend the schedule
                self.schedule = self._schedule(2 * p + 1)
            regime = int(self.schedule.regime[0, p])
            if regime != self.regime:
                self.regime = regime
                self.params = self.sweep.params(self.schedule.regimes[regime])
            self._pin()
            self._upcoming = self.evaluate(p)
        return self._upcoming

    def run(self, steps: int | None = None) -> BalancingModel:
        """Run ``steps`` periods (default: to the end of the scenario's horizon)."""
        steps = self.world.n_periods - self.period if steps is None else steps
        for _ in range(steps):
            self.step()
        return self

    def _period_decisions(self, period: int) -> None:  # the burn-in: no shocks
        self._pin()
        self._decide_and_apply(self.evaluate(period))

    def _decide_and_apply(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation
        self._upcoming = None
        self.agents.do("decide")
        self.agents.do("apply")
        self._pin()
        if self.credibility is not None:
            self.credibility = balance.next_credibility(self.credibility, self.ties, self.params)

    def evaluate(self, period: int) -> Evaluation:
        """Decide every state's candidates on the current world (draws this period's numbers)."""
        w = self.world
        n = w.n
        u = self.rng.random((n, n + 1))
        values, choice, revising = decision.period_choices(
            self.ties,
            self.params,
            u,
            rules=w.rules,
            delta=w.delta,
            candidates=w.candidates,
            update=w.update,
            credibility=self.credibility,
            adjustment=w.adjustment,
            kernel=self.kernel,
        )
        continuous = None
        if w.candidates == "continuous":  # explained by the local candidates
            continuous, values = values[..., 0], None
            choice = np.ones_like(choice)
        return Evaluation(
            period,
            self.ties.copy(),
            self.params,
            values,
            u[:, :n],
            revising,
            choice,
            w.delta,
            () if self._pins is None else self._pins.triples(),
            None if self.credibility is None else self.credibility.copy(),
            continuous,
        )

    @property
    def _pins(self):
        return self.sweep.pins(self.schedule.regimes[self.regime])

    def _pin(self) -> None:
        if self._pins is not None:
            self._pins.apply(self.ties)

    def _schedule(self, periods: int) -> ShockSchedule:
        """The shock schedule of this run over ``periods`` periods (draws past the
        scenario's horizon never fire: no shock's window reaches there)."""
        sweep = self.sweep
        draws = shock_draws([self.rng.bit_generator.seed_seq], sweep.shocks, periods)
        return schedule_shocks(sweep.shocks, draws, sweep.probability, sweep.enabled)

    @property
    def shock_log(self) -> list[tuple[int, str]]:
        """``(period, shock id)`` of every firing so far (the coming period's too, once
        :meth:`upcoming` has looked at it), in firing order."""
        until = self.period + (self._upcoming is not None)
        return self.schedule.log(0, before=until)

    def active_shocks(self) -> list[CompiledShock]:
        """The shocks in force in the latest (or coming) period, in firing order."""
        return self.schedule.active(self.regime)

    def _refresh_state(self) -> None:
        w = self.world
        comp, util = decision.row_scores(
            self.ties, self.params, w.delta, self.credibility, kernel=self.kernel
        )
        align, hedge = (a[0] for a in records.state_indices(self.ties[None], w, self.kernel))
        for agent in self.agents:
            i = agent.index
            agent.alignment_index = float(align[i])
            agent.hedging_index = float(hedge[i])
            agent.energy, agent.security, agent.alignment, agent.cost = map(float, comp[i])
            agent.utility = float(util[i])

    # ---- reading results -------------------------------------------------------------

    @property
    def ties_snapshot(self) -> np.ndarray:
        return self.ties.copy()

    @property
    def credibility_snapshot(self) -> np.ndarray:
        return self.credibility.copy()

    @property
    def date(self) -> dt.date:
        """Date of the latest record."""
        return self.world.date(self.period)

    def _records(self):
        snaps = np.stack(self.datacollector.model_vars["ties"])[None]  # (1, steps, N, N)
        steps = np.asarray(self.datacollector.model_vars["period"], dtype=np.int64)
        regimes = np.asarray(self.datacollector.model_vars["regime"], dtype=np.intp)[None]
        return snaps, steps, regimes

    def credibility_records(self) -> np.ndarray | None:
        """``(steps, N, N)`` Model 2's credibility at every record (None for Model 1)."""
        if self.credibility is None:
            return None
        return np.stack(self.datacollector.model_vars["credibility"])

    def ties_table(self, seed: int | None = None) -> pd.DataFrame:
        """Long table: seed, step, date, state, partner, tie (one row per directed pair)."""
        snaps, steps, _ = self._records()
        table = records.ties_table(self.world, snaps, steps, np.zeros(1), self._seed_column(seed))
        return table.drop(columns="replicate")

    def indices_table(self, seed: int | None = None) -> pd.DataFrame:
        """Long table: seed, step, date, state, indices and payoff components.

        Computed from the collected tie matrices and the regime in force at each step;
        equal to the agent variables collected with ``agent_data=True``.
        """
        snaps, steps, regimes = self._records()
        columns = records.index_columns(
            self.sweep,
            snaps,
            steps,
            regimes,
            self.schedule.regimes,
            np.zeros(1, dtype=np.intp),
            np.zeros(1),
            self._seed_column(seed),
            credibility=None if self.credibility is None else self.credibility_records()[None],
        )
        return records.frame(columns, self.world.ids).drop(columns="replicate")

    def shocks_table(self, seed: int | None = None) -> pd.DataFrame:
        """The shocks fired so far: seed, id, label, kind, period, date."""
        until = self.period + (self._upcoming is not None)
        table = records.shocks_table(
            self.world, self.schedule, np.zeros(1), self._seed_column(seed), before=until
        )
        return table.drop(columns="replicate")

    @staticmethod
    def _seed_column(seed: int | None) -> np.ndarray:
        return np.array([-1 if seed is None else seed], dtype=np.int64)

    def explain(self, state_id: str, evaluation: Evaluation | None = None) -> pd.DataFrame:
        """One state's decision: every candidate, its terms, the choice.

        ``evaluation`` is the latest period's (the default), the coming one's
        (:meth:`upcoming`) or any kept from earlier.

        Columns: partner, move (tie change), tie_before, tie_after, the four raw
        components, their weighted contributions (``w_energy`` ...), move_cost, utility,
        ``gain`` (utility minus the stay candidate's), probability (logit; 1/0 for the
        deterministic rules), chosen, pinned (the tie is held by an exogenous shock).
        """
        ev = self.evaluation if evaluation is None else evaluation
        if ev is None or ev.period < 0:
            raise ValueError("no recorded decision yet: call step() first")
        w = self.world
        i = w.index(state_id)
        P = ev.params
        rows = []
        one = slice(i, i + 1)
        V = decision.net_utility(ev.utility[one], ev.moved[one], P.gamma[one], ev.stay[one])
        prob = decision.logit_probabilities(V, P.tau[one])[0]
        V = V[0]
        if w.rules[i] != decision.LOGIT:
            prob = (np.arange(V.shape[-1]) == ev.choice[i][:, None]).astype(float)
        if ev.continuous is not None:  # no discrete choice: a step toward the best reply
            prob = np.full(prob.shape, np.nan)
        chosen = ev.choice[i] if ev.revising[i] else ev.stay[i]
        pinned = {j for (a, j, _v) in ev.pinned if a == i}
        for j in range(w.n):
            if j == i:
                continue
            before = ev.values[i, j, ev.stay[i, j]]
            for s in range(ev.values.shape[-1]):
                val = ev.values[i, j, s]
                if np.isnan(ev.utility[i, j, s]):
                    continue
                comp = ev.components[i, j, s]
                rows.append(
                    {
                        "partner": w.ids[j],
                        "move": round(float(val - before), 10),
                        "tie_before": float(before),
                        "tie_after": float(val),
                        **{c: float(v) for c, v in zip(COMPONENTS, comp, strict=True)},
                        "w_energy": float(P.weights[i, 0] * comp[0]),
                        "w_security": float(P.weights[i, 1] * comp[1]),
                        "w_alignment": float(P.weights[i, 2] * comp[2]),
                        "move_cost": float(P.gamma[i] * ev.moved[i, j, s]),
                        "utility": float(V[j, s]),
                        "gain": float(V[j, s] - V[j, ev.stay[i, j]]),
                        "probability": float(prob[j, s]),
                        "chosen": bool(s == chosen[j])
                        and j not in pinned
                        and ev.continuous is None,
                        "pinned": j in pinned,
                    }
                )
        return pd.DataFrame(rows)
