"""The classroom model: the dashboard's settings, its kept decisions, and a student's state.

:class:`ClassroomModel` is a :class:`~sim.drivers.model.BalancingModel` built from what a class
can change (a scenario file, a seed, how much the focus state cares about energy,
security and alignment, the tie cost, the noise, the move cost, which shocks happen) and
from one optional choice: a state the student plays. Nothing here is specific to the
browser: the dashboard (:mod:`sim.app.views`), the shared room and the tests drive the
same object.

- Every period's evaluation is kept, so "why did it move?" works for any past quarter.
- Played states' moves come from :attr:`ClassroomModel.picks` (one candidate per
  partner, chosen from the same candidates the agent scores, see
  :meth:`~sim.drivers.model.BalancingModel.upcoming`); every other state stays an agent.
- :meth:`ClassroomModel.agent_run` is the same world and seed with nobody played,
  :meth:`ClassroomModel.without` the same without one more shock: the comparisons the
  dashboard draws. :meth:`ClassroomModel.bands` and
  :meth:`ClassroomModel.paired_difference` set them against many seeds (cached
  ensembles, every state an agent).
- :meth:`ClassroomModel.against_the_odds` lists the choices made with a chance below
  10%, and :func:`in_points` gives a move's terms in points (:data:`POINT`), rounded
  so that a row adds up as shown.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sim.drivers import records
from sim.drivers.ensemble import run_ensemble
from sim.drivers.model import BalancingModel, Evaluation
from sim.errors import UserError
from sim.kernel import indices
from sim.scenario import Scenario, load_scenario, with_overrides
from sim.scenario.overrides import with_shocks_at
from sim.world.compiled import constant, world_for

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
DEFAULT_SCENARIO = SCENARIOS / "baseline.yaml"
WEIGHTS = ("energy", "security", "alignment")
#: Model constants a class can change: keyword -> scenario path.
CONSTANTS = {
    "tie_cost": "model.tie_cost",
    "tie_noise": "model.tie_noise",
    "move_cost": "model.move_cost",
}
SHOCK_PREFIX = "shock_"  # keyword of a shock's switch: shock_<id>=False switches it off
NOBODY = ""
ALIGNMENT = "alignment_index"  # the measure of the alignment index (else a partner's id)
SAME = 1e-9  # paired values closer than this are equal (ties are on a 0.05 lattice)
AGAINST_THE_ODDS = 0.10  # a choice with a chance below this was taken against the odds
ODDS_COLUMNS = ("period", "date", "partner", "move", "tie_before", "tie_after", "chance")
#: The unit students read payoffs in: one point is 0.001 of the weighted payoff.
POINT = 0.001
SAME_TIE = 1e-12  # ties closer than this did not move
#: A move's terms against staying (:func:`~sim.analysis.explain.against_staying`), in the
#: order the dashboard shows them: they add up to the move's total.
POINT_TERMS = ("energy", "security", "alignment", "tie_cost", "move_cost")


def scenario_files(folder: Path = SCENARIOS) -> dict[str, Path]:
    """The scenario files of a folder and of its subfolders (``model2/``: the same world
    under Model 2), ``{name shown: path}``, the folder's own first, each sorted by file
    name and shown with its path from the folder.

    Files that do not load are left out (``multivector check`` says why).
    """
    out = {}
    for path in [*sorted(folder.glob("*.yaml")), *sorted(folder.glob("*/*.yaml"))]:
        try:
            scenario = cached_scenario(path)
        except UserError:
            continue
        out[f"{scenario.name} ({path.relative_to(folder).as_posix()})"] = path
    return out


def cached_scenario(path: str | Path) -> Scenario:
    path = Path(path).resolve()
    return _load(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=32)
def _load(path: Path, _mtime: int) -> Scenario:
    return load_scenario(path)


def tie_paths(model: BalancingModel) -> np.ndarray:
    """``(steps, N, N)``: the tie matrix of every record so far."""
    return np.stack(model.datacollector.model_vars["ties"])


def measure_path(run: BalancingModel, state: str, measure: str) -> np.ndarray:
    """``state``'s ``measure`` at every record of ``run`` so far: its alignment index
    (:data:`ALIGNMENT`) or its tie to the partner ``measure``."""
    w = run.world
    i = w.index(state)
    paths = tie_paths(run)
    if measure == ALIGNMENT:
        return indices.alignment_index(paths, w.toward, w.away)[:, i]
    return paths[:, i, w.index(measure)]


def moved_ties(model: BalancingModel, i: int) -> np.ndarray:
    """``(periods so far,)``: how many of state ``i``'s ties it moved in each period (a
    tie set by a shock is not a move)."""
    snaps = tie_paths(model)
    regimes = model.datacollector.model_vars["regime"]
    changed = np.abs(np.diff(snaps[:, i, :], axis=0)) > SAME_TIE
    for t in range(1, len(snaps)):
        pins = model.sweep.pins(model.schedule.regimes[regimes[t]])
        if pins is not None:
            for a, j, _v in pins.triples():
                if a == i:
                    changed[t - 1, j] = False
    return changed.sum(axis=1)


def earned_points(model: BalancingModel, state: str) -> np.ndarray:
    """``(periods so far,)``: the points ``state`` earned in each period: its utility at
    the end of the period (weighted energy, security and alignment minus the tie cost)
    minus the cost of moving for every tie it moved, the value its agent's choices weigh.
    What the Play tab and the shared classroom's debrief add up."""
    i = model.world.index(state)
    u = model.indices_table()
    u = u.loc[(u["state"] == state) & (u["step"] > 0), "utility"].to_numpy()
    regimes = model.datacollector.model_vars["regime"][1:]
    gamma = np.array([model.sweep.params(model.schedule.regimes[r]).gamma[i] for r in regimes])
    return (u - gamma * moved_ties(model, i)) / POINT


def in_points(terms: pd.DataFrame) -> pd.DataFrame:
    """A move's terms against staying in points, to one decimal, and their ``total``.

    Args:
        terms: rows of :func:`~sim.analysis.explain.against_staying`.

    Returns:
        The :data:`POINT_TERMS` columns rounded to 0.1 point, and ``total``: the sum of
        the rounded terms (so a row adds up as shown; NaN if a term is NaN). It differs
        from the unrounded net by at most 0.25 point.
    """
    out = (terms[list(POINT_TERMS)] / POINT).round(1) + 0.0  # + 0.0: no "-0.0"
    out["total"] = out.sum(axis=1, skipna=False).round(1) + 0.0
    return out


def focus_of(scenario: Scenario) -> str:
    """The state the scenario is about (its ``focus``; else the first state)."""
    return scenario.spec.focus or scenario.state_ids[0]


def defaults(scenario: Scenario) -> dict:
    """The scenario's own values of the settings a class can change: the focus state's
    three weights and the constants (the model's defaults where the file is silent)."""
    focus = scenario.spec.states[focus_of(scenario)]
    out = {name: getattr(focus.weights, name).value for name in WEIGHTS}
    out.update({key: constant(scenario, key) for key in CONSTANTS})
    return out


@lru_cache(maxsize=64)
def configured(path: Path, weights: tuple[float, ...] | None, constants: tuple) -> Scenario:
    """The scenario of ``path`` with the focus state's weights and the constants set.

    ``weights`` are relative importances (any non-negative numbers, not all zero); they
    become shares that sum to 1, as the scenario schema requires.
    """
    scenario = cached_scenario(path)
    values = {}
    if weights is not None:
        total = float(sum(weights))
        if total <= 0:
            raise UserError("at least one of the importances must be above zero")
        shares = [w / total for w in weights]
        shares[-1] = 1.0 - sum(shares[:-1])  # exact sum despite rounding
        focus = focus_of(scenario)
        values.update(
            {f"states.{focus}.weights.{n}": s for n, s in zip(WEIGHTS, shares, strict=True)}
        )
    values.update({CONSTANTS[k]: v for k, v in constants})
    if not values:
        return scenario
    return with_overrides(scenario, values, origin="the dashboard")


class ClassroomModel(BalancingModel):
    """A :class:`BalancingModel` with a class's settings, kept decisions and a played state.

    Args:
        scenario_file: path of the scenario file.
        seed: the run's seed.
        player: id of the state the student plays (``""``: nobody).
        players: ids of more played states (a shared classroom, where each group plays
            one); ``player`` is played too. Their moves are in :attr:`picks`.
        fired: ``(shock id, period)`` pairs: each shock dated at that period instead
            of its own date or chance (the shared classroom's teacher fired it).
        energy, security, alignment: how much the focus state cares about each, as
            relative importances (made into shares that sum to 1); ``None`` keeps the
            scenario's weights (all three must be given to change them).
        tie_cost, tie_noise, move_cost: the model constants (``None``: the scenario's).
        **switches: ``shock_<id>=False`` switches that shock off. Mesa's dashboard also
            passes ``scenario`` (its own parameter bag), which this model does not use.
    """

    def __init__(
        self,
        scenario_file: str | Path = DEFAULT_SCENARIO,
        seed: int = 7,
        player: str = NOBODY,
        energy: float | None = None,
        security: float | None = None,
        alignment: float | None = None,
        tie_cost: float | None = None,
        tie_noise: float | None = None,
        move_cost: float | None = None,
        players: tuple[str, ...] = (),
        fired: tuple[tuple[str, int], ...] = (),
        **switches,
    ):
        switches.pop("scenario", None)
        path = Path(scenario_file).resolve()
        base = cached_scenario(path)
        known = [s for s in base.spec.shocks]
        off = []
        for key, on in switches.items():
            sid = key.removeprefix(SHOCK_PREFIX)
            if not key.startswith(SHOCK_PREFIX) or sid not in known:
                raise TypeError(f"ClassroomModel: unexpected setting {key!r}")
            if not on:
                off.append(sid)
        weights = (energy, security, alignment)
        if any(w is None for w in weights):
            if any(w is not None for w in weights):
                raise TypeError("give all three of energy, security, alignment, or none")
            weights = None
        constants = tuple(
            (k, float(v))
            for k, v in (("tie_cost", tie_cost), ("tie_noise", tie_noise), ("move_cost", move_cost))
            if v is not None
        )
        scenario = configured(
            path, None if weights is None else tuple(map(float, weights)), constants
        )
        if fired:
            unknown = [sid for sid, _ in fired if sid not in known]
            if unknown:
                raise UserError(
                    f"no shock {unknown[0]!r} to fire; the shocks are: {', '.join(known)}"
                )
            scenario = with_shocks_at(scenario, dict(fired))
        world = world_for(scenario)
        for sid in (player, *players):
            if sid and sid not in world.ids:
                raise UserError(f"no state {sid!r} to play; the states are {', '.join(world.ids)}")
        self.scenario_file = path
        self.seed = int(seed)
        given = {"energy": energy, "security": security, "alignment": alignment}
        given.update(tie_cost=tie_cost, tie_noise=tie_noise, move_cost=move_cost)
        #: the settings in force, the scenario's own values filled in
        self.settings = {
            "scenario_file": path,
            "seed": int(seed),
            "player": player,
            **{k: v if given[k] is None else float(given[k]) for k, v in defaults(base).items()},
            **{f"{SHOCK_PREFIX}{sid}": sid not in off for sid in known},
        }
        self.fired = tuple(fired)  # the shocks the shared classroom's teacher fired
        self.shocks_off = tuple(off)
        self.player = world.index(player) if player else None
        #: each played state's moves this quarter: state index -> {partner index ->
        #: candidate index}; a partner not named stays (the default)
        self.picks: dict[int, dict[int, int]] = {
            world.index(sid): {} for sid in dict.fromkeys((player, *players)) if sid
        }
        self.kept: dict[int, Evaluation] = {}  # period -> the evaluation decided on
        self._agent: BalancingModel | None = None
        self._without: dict[str, BalancingModel] = {}
        self._odds: dict[tuple, list[dict]] = {}  # (state, period, below) -> its rows
        super().__init__(world=world, rng=self.seed, shocks_off=self.shocks_off, agent_data=False)

    # ---- the played state ---------------------------------------------------------

    @property
    def player_id(self) -> str | None:
        return None if self.player is None else self.world.ids[self.player]

    @property
    def moves(self) -> dict[int, int]:
        """The student's moves this quarter (the single played state's :attr:`picks`)."""
        if self.player is None:
            return {}
        return self.picks.setdefault(self.player, {})

    @moves.setter
    def moves(self, value: dict[int, int]) -> None:
        if self.player is None:
            raise ValueError("nobody is played")
        self.picks[self.player] = dict(value)

    def play(self, state_id: str) -> None:
        """Take ``state_id`` from its agent from the coming quarter on."""
        self.picks.setdefault(self.world.index(state_id), {})

    def release(self, state_id: str) -> None:
        """Give ``state_id`` back to its agent from the coming quarter on."""
        i = self.world.index(state_id)
        if i == self.player:
            raise ValueError("the single played state is fixed for the run (Reset to change it)")
        self.picks.pop(i, None)

    @property
    def played(self) -> list[str]:
        """The ids of the states played by people, in the world's order."""
        return [sid for i, sid in enumerate(self.world.ids) if i in self.picks]

    def candidates(self, state_id: str | None = None) -> pd.DataFrame:
        """A played state's candidates for the coming quarter (see ``explain``), with
        ``candidate`` (its index, what :attr:`picks` takes) and ``picked`` (the
        people's). ``state_id`` defaults to the single played state."""
        state_id = state_id or self.player_id
        if state_id is None or self.world.index(state_id) not in self.picks:
            raise ValueError(f"{state_id or 'nobody'} is not played")
        i = self.world.index(state_id)
        ev = self.upcoming()
        table = self.explain(state_id, ev)
        table["candidate"] = self._candidate_index(i, table, ev)
        stay = ev.stay[i]
        idx = self.world.index
        mine = self.picks[i]
        table["picked"] = [
            c == mine.get(idx(p), stay[idx(p)])
            for p, c in zip(table["partner"], table["candidate"], strict=True)
        ]
        return table

    def _candidate_index(self, i: int, table: pd.DataFrame, ev: Evaluation) -> list[int]:
        out = []
        for p, after in zip(table["partner"], table["tie_after"], strict=True):
            j = self.world.index(p)
            out.append(int(np.argmin(np.abs(ev.values[i, j] - after))))
        return out

    def step(self) -> None:
        if self.picks:
            ev = self.upcoming()
            choice, revising = ev.choice.copy(), ev.revising.copy()
            steps = None if ev.continuous is None else ev.continuous.copy()
            for i, picks in self.picks.items():
                row = ev.stay[i].copy()
                for j, s in picks.items():  # an impossible candidate (|tie| >= 1) stays
                    if 0 <= s < ev.values.shape[-1] and not np.isnan(ev.utility[i, j, s]):
                        row[j] = s
                choice[i], revising[i] = row, True
                if steps is not None:  # continuous ties: a played state's ties take its picks
                    steps[i] = ev.values[i, np.arange(self.world.n), row]
            self._upcoming = dataclasses.replace(
                ev, choice=choice, revising=revising, continuous=steps
            )
            self.picks = {i: {} for i in self.picks}
        super().step()
        self.kept[self.evaluation.period] = self.evaluation

    # ---- comparisons ----------------------------------------------------------------

    def shocks_so_far(self) -> list[dict]:
        """The shocks that fired up to now: id, label, kind, period, date."""
        return records.shock_events(self.shocks_table())

    def agent_run(self) -> BalancingModel:
        """The same world and seed with every state an agent, run to the current step."""
        if self._agent is None:
            self._agent = BalancingModel(
                world=self.world, rng=self.seed, shocks_off=self.shocks_off, agent_data=False
            )
        self._agent.run(self.period - self._agent.period)
        return self._agent

    def without(self, shock_id: str) -> BalancingModel:
        """The same world and seed without ``shock_id`` too, run to the current step.

        A played state is played by its agent there: the comparison is between worlds,
        not between the student and the agent.
        """
        if shock_id not in self._without:
            self._without[shock_id] = BalancingModel(
                world=self.world,
                rng=self.seed,
                shocks_off=(*self.shocks_off, shock_id),
                agent_data=False,
            )
        model = self._without[shock_id]
        model.run(self.period - model.period)
        return model

    def computer_played(self) -> BalancingModel:
        """This world and seed with every state an agent, run to the current step: the
        model itself when nobody is played, else :meth:`agent_run`."""
        return self.agent_run() if self.picks else self

    def bands(
        self, shock_id: str | None, seeds: int = 100, measure: str = ALIGNMENT
    ) -> pd.DataFrame:
        """The focus state's ``measure`` over ``seeds`` seeds, with and without a shock:
        date, world ("with"/"without"), and the 5/25/50/75/95% quantiles.

        ``measure``: :data:`ALIGNMENT` (the alignment index) or a partner's id (the
        focus state's tie to it). Every state is an agent in every seed.
        """
        worlds = [("with", self.shocks_off)]
        if shock_id is not None:
            worlds.append(("without", (*self.shocks_off, shock_id)))
        frames = []
        for name, off in worlds:
            paths = self._paths(off, seeds)
            q = paths.groupby("date")[measure].quantile([0.05, 0.25, 0.5, 0.75, 0.95])
            q = q.unstack().rename(columns=lambda v: f"q{int(round(v * 100)):02d}")
            q = q.reset_index()
            q["world"] = name
            frames.append(q)
        return pd.concat(frames, ignore_index=True)

    def paired_difference(self, shock_id: str, measure: str, step: int, seeds: int = 100) -> dict:
        """The shock's effect on the focus state's ``measure`` at record ``step``: with
        it minus without it, paired by seed over the seeds ``0 .. seeds - 1`` (every
        state an agent in both worlds).

        Returns the keys of :func:`sim.batch.analysis.paired_summary` (``n``, ``mean``,
        ``ci_low``, ``ci_high`` of the 95% paired t interval, ...) and ``higher``,
        ``lower``, ``equal``: how many seeds the shock moved up, down, or not at all.
        """
        from sim.batch.analysis import paired_summary  # scipy: only when asked

        def at_step(off: tuple) -> np.ndarray:
            paths = self._paths(off, seeds)
            return paths.loc[paths["step"] == step, measure].to_numpy()

        with_, without = at_step(self.shocks_off), at_step((*self.shocks_off, shock_id))
        diff = with_ - without
        same = np.isclose(diff, 0.0, rtol=0.0, atol=SAME)
        return {
            **paired_summary(with_, without),
            "higher": int(((diff > 0) & ~same).sum()),
            "lower": int(((diff < 0) & ~same).sum()),
            "equal": int(same.sum()),
        }

    def _paths(self, shocks_off: tuple, seeds: int) -> pd.DataFrame:
        scenario = self.world.scenario
        _SCENARIOS[scenario.content_hash] = scenario
        return _focus_paths(scenario.content_hash, tuple(shocks_off), int(seeds))

    # ---- moves against the odds -------------------------------------------------------

    def against_the_odds(self, state_id: str, below: float = AGAINST_THE_ODDS) -> pd.DataFrame:
        """Every choice ``state_id`` made so far that had a chance below ``below``: one
        row per (period, partner) with date (of the record after it), partner, move,
        tie_before, tie_after, chance (the rule's probability of the candidate taken).

        Only periods in which the state revised count, and not ties held by a shock.
        """
        rows = []
        for period in sorted(self.kept):
            key = (state_id, period, below)
            if key not in self._odds:
                self._odds[key] = self._unlikely(state_id, self.kept[period], below)
            rows.extend(self._odds[key])
        return pd.DataFrame(rows, columns=list(ODDS_COLUMNS))

    def _unlikely(self, state_id: str, ev: Evaluation, below: float) -> list[dict]:
        if not ev.revising[self.world.index(state_id)]:
            return []
        t = self.explain(state_id, ev)
        t = t[t["chosen"] & (t["probability"] < below)]
        date = self.world.date(ev.period + 1)
        return [
            {"period": ev.period, "date": date, "partner": r.partner, "move": r.move,
             "tie_before": r.tie_before, "tie_after": r.tie_after, "chance": r.probability}
            for r in t.itertuples(index=False)
        ]  # fmt: skip


_SCENARIOS: dict[str, Scenario] = {}


@lru_cache(maxsize=12)
def _focus_paths(key: str, shocks_off: tuple, seeds: int) -> pd.DataFrame:
    """The focus state's alignment index and ties over the seeds ``0 .. seeds - 1`` of a
    world: replicate, step, date, alignment_index, and one column per partner id."""
    scenario = _SCENARIOS[key]
    focus = focus_of(scenario)
    run = run_ensemble(scenario, seeds, shocks_off=shocks_off, keep="ties")
    keys = ["replicate", "step", "date"]
    ix = run.indices.loc[run.indices["state"] == focus, [*keys, ALIGNMENT]]
    ties = run.ties[run.ties["state"] == focus]
    wide = ties.pivot(index=keys, columns="partner", values="tie")
    wide.columns = wide.columns.astype(str)
    out = ix.merge(wide.reset_index(), on=keys, how="left")
    return out.sort_values(["replicate", "step"], ignore_index=True)
