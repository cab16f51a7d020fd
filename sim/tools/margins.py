"""What carries a state's ties: the marginal payoff of each tie, term by term.

``python -m sim.tools.margins SCENARIO --state AZ --date 2022-01-01`` runs the scenario
on validation seeds to the record at (or just before) the date and, for each of the
state's ties ``x_ij``, prints the slope of each weighted payoff term in that tie: how
much the state's utility changes per unit of the tie, from

- energy ``w_E dE_i/dx_ij``, security ``w_S dS_i/dx_ij`` (threat, protection, leverage,
  accommodation) and the tie cost ``-dC_i/dx_ij = -kappa_i artanh(x_ij)``;
- the alignment term split in three: affinity ``w_A aff_ij`` (the normalised affinity,
  linear in the tie), structural balance ``w_A sigma dBal_i/dx_ij`` (Model 2) and the
  rest, ``w_A`` times the slope of ``-alpha_i HHI_i`` (autonomy; Model 1 adds
  cross-pressure there);

their sum (the net: about 0 for a tie at rest, the noise aside), and the tie's
**response**: how far the tie moves if one term's slope changes by 0.01, ``0.01 (1 -
x^2) / kappa_i`` (the tie cost's inverse curvature: near the rest point a tie settles
where the net is 0). The slopes are central differences of the kernel's components
(:func:`sim.kernel.decision.evaluate`) at ``+-h`` around each seed's tie, with that
seed's credibility (Model 2) and the parameters in force in the quarter ending at the
record, averaged over seeds; the mean tie is beside them.

Read it as a budget: a term whose slope is a few thousandths moves the tie by a few
hundredths however much a shock changes it; a term of 0.1 can carry a tie across the
scale. It says which mechanisms a scenario's ties rest on, at its values, without
perturbing anything (:mod:`sim.tools.propagation` perturbs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import numpy as np
import pandas as pd

from sim.errors import UserError, run_command
from sim.scenario import Scenario, load_scenario
from sim.scenario.problems import did_you_mean

#: The finite step of the slopes (in tie units).
STEP = 1e-4
#: The change of a slope whose effect on the tie is reported.
SHIFT = 0.01
TERMS = ("energy", "security", "affinity", "balance", "autonomy", "cost")


def state_at(scenario: Scenario, seed: int, date: dt.date):
    """The Mesa model of ``scenario`` on ``seed`` run to the last record at or before
    ``date``: its ties, credibility (None for Model 1) and parameters in force."""
    from sim.drivers.model import BalancingModel

    model = BalancingModel(scenario, rng=seed, agent_data=False)
    while model.running and model.world.date(model.period + 1) <= date:
        model.step()
    credibility = None if model.credibility is None else model.credibility_snapshot
    return model.ties_snapshot, credibility, model.params, model.date


def slopes(T: np.ndarray, C: np.ndarray | None, P, version: int) -> np.ndarray:
    """``(N, N, 6)``: for every tie ``[i, j]`` the weighted slopes of :data:`TERMS`."""
    from sim.kernel import balance
    from sim.kernel.decision import evaluate

    values = np.stack([T - STEP, T + STEP], axis=-1)
    comp = evaluate(T, values, P, C)  # (N, N, 2, 4)
    d = (comp[..., 1, :] - comp[..., 0, :]) / (2 * STEP)
    w = P.weights  # (N, 3)
    w_align = w[:, 2][:, None]
    affinity = w_align * P.derived["aff"]
    structural = np.zeros_like(affinity)
    if version == 2:
        structural = w_align * P.balance * balance.context(T, C, P).balance_field
    alignment = w[:, 2][:, None] * d[..., 2]
    out = np.stack(
        [
            w[:, 0][:, None] * d[..., 0],
            w[:, 1][:, None] * d[..., 1],
            affinity,
            structural,
            alignment - affinity - structural,
            -d[..., 3],
        ],
        axis=-1,
    )
    out[np.eye(T.shape[0], dtype=bool)] = np.nan
    return out


def margins(
    scenario: Scenario, state: str, date: dt.date, seeds: range
) -> tuple[pd.DataFrame, dt.date]:
    """One row per partner of ``state``: the mean tie, the mean slope of each term, the
    net, and the response to a slope change of :data:`SHIFT`; and the record's date."""
    from sim.world.compiled import world_for

    w = world_for(scenario)
    ids = list(w.ids)
    if state not in ids:
        raise UserError(
            f"--state {state!r}: not a state of {scenario.name}{did_you_mean(state, ids)}"
        )
    i = ids.index(state)
    rows, ties, responses, at = [], [], [], None
    for seed in seeds:
        T, C, P, at = state_at(scenario, seed, date)
        rows.append(slopes(T, C, P, w.model)[i])
        ties.append(T[i])
        responses.append(SHIFT * (1.0 - T[i] ** 2) / P.kappa[i])
    mean = np.mean(rows, axis=0)
    table = pd.DataFrame(mean, columns=list(TERMS))
    table.insert(0, "tie", np.mean(ties, axis=0))
    table.insert(0, "partner", ids)
    table["net"] = mean.sum(axis=-1)
    table["response"] = np.mean(responses, axis=0)
    return table.drop(index=i).reset_index(drop=True), at


def format_table(table: pd.DataFrame, state: str) -> str:
    head = (
        f"{'tie':<8}{'x':>7}"
        + "".join(f"{t:>10}" for t in (*TERMS, "net"))
        + f"{'0.01 moves it':>15}"
    )
    lines = [head]
    for r in table.itertuples(index=False):
        cells = "".join(f"{getattr(r, t):>+10.4f}" for t in (*TERMS, "net"))
        lines.append(f"{state + '-' + r.partner:<8}{r.tie:>+7.2f}{cells}{r.response:>15.3f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sim.tools.margins",
        description="What carries a state's ties: each payoff term's slope in each tie.",
    )
    p.add_argument("scenario")
    p.add_argument("--state", required=True, help="the state whose ties to read (an id)")
    p.add_argument("--date", help="the record to read: YYYY-MM-DD (default: mid-horizon)")
    p.add_argument("--seeds", type=int, default=20, help="validation seeds (default 20)")
    return p


def run(args: argparse.Namespace) -> int:
    from sim.analysis.facts import seed_range, seeds_text
    from sim.world.compiled import world_for

    scenario = load_scenario(args.scenario)
    if args.seeds < 1:
        raise UserError(f"--seeds: expected a whole number >= 1, got {args.seeds}")
    w = world_for(scenario)
    dates = w.dates()
    if args.date is None:
        date = dates[len(dates) // 2]
    else:
        try:
            date = dt.date.fromisoformat(args.date)
        except ValueError:
            raise UserError(f"--date {args.date!r}: expected a date as YYYY-MM-DD") from None
        if not dates[1] <= date:
            raise UserError(f"--date {date}: before the first record ({dates[1]})")
    seeds = seed_range(scenario, args.seeds)
    table, at = margins(scenario, args.state, date, seeds)
    print(
        f"{scenario.name}: {args.state}'s ties at {at}, Model {w.model}; "
        f"{seeds_text(scenario, seeds)}. Slopes of the weighted payoff terms per unit of "
        f"the tie (means over seeds); the last column: how far the tie moves if one "
        f"slope changes by {SHIFT}."
    )
    print(format_table(table, args.state))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command; returns 0, or 2 on bad input (a message, never a traceback)."""
    return run_command(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
