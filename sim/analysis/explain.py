"""Why did a state move? One decision, candidate by candidate, as a table and as text."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sim.drivers.model import BalancingModel
from sim.drivers.run import check_shock_ids
from sim.errors import UserError
from sim.kernel.decision import continuous_pull
from sim.scenario import Scenario, did_you_mean, horizon
from sim.world.compiled import world_for


def explain(
    scenario: Scenario, seed: int, state: str, date: dt.date, shocks_off=()
) -> tuple[BalancingModel, pd.DataFrame]:
    """Run to the period containing ``date`` and return the model and ``state``'s decision
    (see :meth:`BalancingModel.explain` for the columns)."""
    start, end = horizon(scenario.spec.time)
    if not (start <= date <= end):
        raise UserError(f"--date {date}: outside the scenario's horizon {start} to {end}")
    world = world_for(scenario)
    if state not in world.ids:
        raise UserError(
            f"--state: unknown state {state!r}{did_you_mean(state, world.ids)}; "
            f"the states are {', '.join(world.ids)}"
        )
    check_shock_ids(world, shocks_off)
    model = BalancingModel(world=world, rng=seed, shocks_off=tuple(shocks_off))
    model.run(world.step_of(date))
    return model, model.explain(state)


#: The weighted payoff terms of a move, as :func:`against_staying` gives them.
TERMS = ("energy", "security", "alignment", "tie_cost")

SUMMARY_COLUMNS = (
    "partner", "before", "after", "p_down", "p_stay", "p_up",
    "energy", "security", "alignment", "tie_cost", "net", "pinned",
)  # fmt: skip


def against_staying(table: pd.DataFrame) -> pd.DataFrame:
    """What each candidate of a decision table changes against staying, term by term.

    The one place where a move's terms are set against its partner's stay candidate: the
    ``explain`` command and the dashboard's "Why did it move?" view (through
    :func:`partner_summary`) and its Play view all show these numbers.

    Args:
        table: a decision table of :meth:`BalancingModel.explain`: one row per partner and
            candidate, each partner's stay candidate (``move == 0``) among them.

    Returns:
        A frame with the table's index and, in utility units (0 in the stay rows):
        ``energy``, ``security``, ``alignment``: the candidate's weighted payoff term
        minus staying's; ``tie_cost``: the change of the tie cost, counted as a loss
        (positive when the candidate's cost is lower); ``payoff``: the sum of those four,
        the change of utility ``U``; ``move_cost``: the move cost, as a loss (``-gamma``
        for a move, 0 to stay); ``net``: the change of the score the choice rule uses,
        ``U`` minus the move cost (the table's ``gain``; ``payoff + move_cost`` to
        rounding).
    """
    stay = table[table["move"] == 0].set_index("partner")
    base = stay.loc[table["partner"]].set_axis(table.index)
    out = pd.DataFrame(index=table.index)
    for term in ("energy", "security", "alignment"):
        out[term] = table[f"w_{term}"] - base[f"w_{term}"]
    out["tie_cost"] = -(table["cost"] - base["cost"])
    out["payoff"] = sum(out[term] for term in TERMS)
    out["move_cost"] = -(table["move_cost"] - base["move_cost"])
    out["net"] = table["gain"]
    return out


def partner_summary(df: pd.DataFrame, evaluation, i: int, ids: list[str]) -> pd.DataFrame:
    """One row per partner of a decision table (:meth:`BalancingModel.explain`).

    ``before``/``after``: the tie before and after the decision; ``p_down``/``p_stay``/
    ``p_up``: the chance of each kind of move; ``energy``, ``security``, ``alignment``,
    ``tie_cost``, ``net``: what moving up one step changes against staying, in weighted
    payoff terms (:func:`against_staying`; the tie cost counted as a loss, so positive
    favours moving up; ``net`` is their sum, before the move cost; NaN at the upper
    bound); ``pinned``: the tie is held by an exogenous shock.
    """
    held = {j: v for (a, j, v) in evaluation.pinned if a == i}
    terms = against_staying(df)
    rows = []
    for partner, g in df.groupby("partner", sort=False, observed=True):
        stay = g[g["move"] == 0].iloc[0]
        up, down = g[g["move"] > 0], g[g["move"] < 0]
        after = g[g["chosen"]]
        after = after.iloc[0]["tie_after"] if len(after) else stay["tie_before"]
        if evaluation.continuous is not None:
            after = evaluation.new_ties[i, ids.index(str(partner))]
        row = {
            "partner": str(partner),
            "before": stay["tie_before"],
            "after": after,
            "p_down": down["probability"].sum(),
            "p_stay": stay["probability"],
            "p_up": up["probability"].sum(),
            "pinned": bool(g["pinned"].any()),
        }
        if row["pinned"]:
            row["after"] = held.get(ids.index(str(partner)), after)
        shown = [np.nan] * 5
        if len(up):
            shown = terms.loc[up.index[0], [*TERMS, "payoff"]].tolist()
        row.update(zip(("energy", "security", "alignment", "tie_cost", "net"), shown, strict=True))
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    for col in ("before", "after"):  # no "-0.00" from float residue near zero
        out[col] = out[col].round(10) + 0.0
    return out


def explain_text(
    scenario: Scenario, seed: int, state: str, date: dt.date, shocks_off=(), full=False
) -> str:
    model, df = explain(scenario, seed, state, date, shocks_off)
    w = model.world
    i = w.index(state)
    P = model.params
    p = model.period - 1
    lines = [
        f"{w.names[i]} ({state}), period {p} ending {w.date(model.period)}, seed {seed}",
        f"weights: energy {P.weights[i, 0]:.2f}, security {P.weights[i, 1]:.2f}, "
        f"alignment {P.weights[i, 2]:.2f};  logit temperature tau={P.tau[i]:.2g}, "
        f"move cost {P.gamma[i]:.2g}",
    ]
    active = [s.label for s in model.active_shocks()]
    if active:
        lines.append("shocks in force: " + "; ".join(active))
    continuous = model.evaluation.continuous is not None
    if continuous:
        intro = [
            "For each partner: the tie before and after this period's step (continuous ties:",
            f"each moves the share {w.adjustment:g} of the way to its best reply, plus noise),",
            "the step's pull (what the payoffs alone give it) and chance (the rest), and",
            f"what moving up by {w.delta:g} changes against staying (weighted payoff terms;",
            "positive favours moving up; their net is the tie's marginal payoff).",
        ]
    else:
        intro = [
            "For each partner: the tie before and after this period's decision, the chance of",
            "each candidate (down, stay, up; logit choice), and what moving up by one step",
            "changes against staying (weighted payoff terms; positive favours moving up).",
        ]
    odds = f"{'P(down)':>9}{'P(stay)':>9}{'P(up)':>7}"
    if continuous:
        odds = f"{'pull':>9}{'chance':>9}{'':>7}"
        ev = model.evaluation
        pull = continuous_pull(
            ev.ties, ev.params, w.rules, w.adjustment, ev.credibility, model.kernel
        )[i]
        if not ev.revising[i]:
            pull = np.zeros_like(pull)
    lines += [
        "",
        *intro,
        "",
        f"{'partner':<8}{'before':>7}{'after':>7}{odds}"
        f"{'energy':>10}{'security':>10}{'alignment':>11}{'tie cost':>10}{'net':>10}",
    ]
    table = partner_summary(df, model.evaluation, i, list(w.ids))
    for r in table.itertuples(index=False):
        head = f"{r.partner:<8}{r.before:>7.2f}{r.after:>7.2f}"
        if r.pinned:
            lines.append(head + "   held by an exogenous shock (a decision outside the model)")
            continue
        if continuous:
            j = w.index(r.partner)
            head += f"{pull[j]:>+9.3f}{r.after - r.before - pull[j]:>+9.3f}{'':>7}"
        else:
            head += f"{r.p_down:>9.2f}{r.p_stay:>9.2f}{r.p_up:>7.2f}"
        if np.isnan(r.net):
            head += "   (at the upper bound: cannot move up)"
        else:
            head += (
                f"{r.energy:>+10.4f}{r.security:>+10.4f}{r.alignment:>+11.4f}"
                f"{r.tie_cost:>+10.4f}{r.net:>+10.4f}"
            )
        lines.append(head)
    if continuous:
        lines += [
            "",
            "Reading it: a tie moves up when the net gain of moving up is positive, down when",
            "it is negative, in proportion to it; the noise (logit rule) can outweigh a small",
            "gain in one quarter. The tie cost grows steeply near +-1.",
        ]
    else:
        lines += [
            "",
            "Reading it: a tie drifts up when the net gain of moving up is positive (beyond",
            f"the move cost {P.gamma[i]:.2g}), down when it is negative; with logit choice,",
            "small gains only tilt the odds. The tie cost grows steeply near +-1.",
        ]
    if full:
        lines += ["", df.to_string(index=False, line_width=200, float_format=lambda v: f"{v:.4f}")]
    return "\n".join(lines)
