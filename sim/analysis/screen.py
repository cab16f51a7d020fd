"""Morris screening: which uncertain inputs move an outcome at all.

Every number with a ``range:`` is an uncertain input (:mod:`sim.scenario.priors`). A
scenario has hundreds; most cannot matter for a given outcome. The elementary-effects
method of Morris (1991) ranks them at a cost linear in their number: ``r`` trajectories
of ``k + 1`` points each, every point moving one input by ``Δ`` (a grid of ``levels``
levels on the unit hypercube, ``Δ = levels / (2 (levels - 1))``), mapped to values
through each input's prior (:meth:`~sim.scenario.priors.UncertainInput.ppf`) by
:func:`~sim.scenario.priors.draw_inputs`, which also restores the sums the scenario
requires: a state's three weights sum to 1 (moving one weight moves the others not
drawn, or all three are divided by their sum), and a row of shares sums to at most 1.
So the effect of a weight is that of shifting concern toward it, not of the weight alone.
``mu_star``, the mean absolute elementary effect (Campolongo, Cariboni and Saltelli
2007), ranks the inputs; ``sigma``, the standard deviation of the effects, shows
interaction or non-linearity.

Each point is an ensemble over the same few seeds (common random numbers: every point
sees the same draws, so an effect is the inputs', not seed noise); the points run
through :func:`~sim.drivers.ensemble.run_ensemble` in batches of :data:`BATCH_POINTS`
(memory stays bounded).

**No effect, negligible.** ``no_effect``: ``mu_star`` is exactly 0: no step of the
input changed the outcome in any seed (with common random numbers the runs were equal
record for record). ``negligible``: the mean absolute change of the outcome over one
Morris step, ``mu_star · Δ``, is below :data:`RESOLUTION` (a tenth) of one tie step
``model.delta`` (also used for index outcomes, as the model's own grain). Every input
with no effect is negligible.

Outcomes are written in the shared outcome language (:mod:`sim.analysis.outcomes`:
``tie AZ EU mean 2023..2025``, ``hedging_index AZ at 2030-12-31``, ``change ...``), or
in the short form ``tie AZ EU 2025`` / ``index hedging_index AZ 2025`` (the mean over
the records of that year).

References:
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational
    experiments. Technometrics 33(2), 161-174. doi:10.1080/00401706.1991.10484804
    Campolongo, F., Cariboni, J., Saltelli, A. (2007). An effective screening design for
    sensitivity analysis of large models. Environmental Modelling & Software 22(10),
    1509-1518. doi:10.1016/j.envsoft.2006.10.004
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from sim.analysis.outcomes import Outcome, evaluate
from sim.analysis.outcomes import parse_outcome as parse_shared
from sim.errors import UserError
from sim.scenario import Scenario
from sim.world.compiled import World, world_for

#: The indices an ``index`` outcome may name (columns of the ensemble's indices table).
INDEX_NAMES = (
    "alignment_index",
    "hedging_index",
    "energy",
    "security",
    "alignment",
    "cost",
    "utility",
)
#: ``negligible``: the mean absolute change per Morris step below this share of
#: ``model.delta``.
RESOLUTION = 0.1
#: The year of the default outcomes (when the horizon holds records in it).
DEFAULT_YEAR = 2025
#: The design's 0 and 1 quantiles are taken this far inside, so that no value rounds
#: past its range.
_EDGE = 1e-9
#: How many figure bars per outcome.
TOP = 20
_SYNTAX = "`tie STATE PARTNER YEAR` or `index NAME STATE YEAR`, e.g. `tie AZ EU 2025`"
COLUMNS = [
    "outcome",
    "rank",
    "path",
    "mu_star",
    "mu_star_conf",
    "sigma",
    "mu",
    "no_effect",
    "negligible",
    "value",
    "low",
    "high",
    "dist",
]


def parse_outcome(text: str, scenario: Scenario) -> Outcome:
    """An outcome of the shared language (:mod:`sim.analysis.outcomes`: ``tie AZ EU mean
    2023..2025``, ``change hedging_index AZ 2021..2022 -> 2024..2025``, ...), or the
    short form ``tie AZ EU 2025`` / ``index hedging_index AZ 2025`` (the mean over the
    records of that year).

    Raises:
        UserError: a text of neither form, an unknown state or index, or a year without
            records.
    """
    words = str(text).split()
    lead = f"outcome {text!r}"
    if words and words[0] in ("tie", "ties", "index") and len(words) <= 4:
        return _short_form(words, lead, scenario)
    return parse_shared(text, scenario.state_ids, scenario.spec.poles, where="outcome")


def _short_form(words: list[str], lead: str, scenario: Scenario) -> Outcome:
    if words[0] not in ("tie", "index") or len(words) != 4:
        raise UserError(f"{lead}: expected {_SYNTAX}")
    ids = scenario.state_ids
    if words[0] == "tie":
        state, partner = words[1], words[2]
        for sid in (state, partner):
            _known(lead, "state", sid, ids)
        if state == partner:
            raise UserError(f"{lead}: a tie joins two different states")
        quantity = f"tie {state} {partner}"
    else:
        index, state = words[1], words[2]
        _known(lead, "index", index, INDEX_NAMES)
        _known(lead, "state", state, ids)
        quantity = f"{index} {state}"
    try:
        year = int(words[3])
    except ValueError:
        raise UserError(f"{lead}: the year {words[3]!r} is not a whole number") from None
    years = _record_years(world_for(scenario))
    if year not in years:
        raise UserError(
            f"{lead}: no record falls in {year}; the records run from {min(years)} to {max(years)}"
        )
    shared = parse_shared(f"{quantity} mean {year}..{year}", ids, scenario.spec.poles)
    return dataclasses.replace(shared, text=" ".join(words))


def default_outcomes(scenario: Scenario) -> list[Outcome]:
    """The ties of the ``focus`` state (else the first) to every pole member (else to
    every other state), averaged over 2025 (else the horizon's last year)."""
    spec = scenario.spec
    focus = spec.focus or scenario.state_ids[0]
    partners = [m for members in spec.poles.values() for m in members if m != focus]
    partners = partners or [s for s in scenario.state_ids if s != focus]
    years = _record_years(world_for(scenario))
    year = DEFAULT_YEAR if DEFAULT_YEAR in years else max(years)
    return [parse_outcome(f"tie {focus} {p} {year}", scenario) for p in dict.fromkeys(partners)]


def planned_runs(n_inputs: int, trajectories: int, seeds: int) -> int:
    """Runs of a screen: ``trajectories × (inputs + 1)`` points × ``seeds``."""
    return trajectories * (n_inputs + 1) * seeds


def screen(
    scenario: Scenario,
    outcomes: Sequence[str | Outcome] | None = None,
    *,
    trajectories: int = 10,
    levels: int = 4,
    seeds: int | Sequence[int] = 4,
    seed: int = 0,
    inputs=None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Rank the uncertain inputs by their Morris elementary effects on ``outcomes``.

    Args:
        scenario: the scenario; its uncertain inputs are the numbers with a ``range``.
        outcomes: outcome texts or :class:`Outcome` objects (default:
            :func:`default_outcomes`).
        trajectories: Morris trajectories ``r`` (>= 2).
        levels: grid levels ``p`` (even, >= 2; 4 is the usual choice).
        seeds: the seeds of every point (a count n for ``0 .. n - 1``, or a list):
            common random numbers.
        seed: the seed of the Morris design (and of the bootstrap of ``mu_star_conf``).
        inputs: the :class:`~sim.scenario.priors.UncertainInput` objects to screen
            (default: all the scenario's).
        progress: called with (runs done, total) after every chunk.

    Returns:
        One row per outcome and input (:data:`COLUMNS`): ``rank`` 1 for the largest
        ``mu_star`` within the outcome; ``mu_star``, ``mu``, ``sigma`` in outcome units
        per unit of the input's quantile range (a change from its 0% to its 100%
        quantile); ``mu_star_conf`` the half-width of the bootstrap 95% interval;
        ``no_effect`` and ``negligible`` as in the module docstring. Identical for
        identical arguments.
    """
    from SALib.sample import morris as morris_sample

    from sim.scenario.priors import draw_inputs, uncertain_inputs

    if trajectories < 2:
        raise UserError(f"trajectories: expected at least 2, got {trajectories}")
    if levels < 2 or levels % 2:
        raise UserError(f"levels: expected an even number >= 2, got {levels}")
    inputs = list(uncertain_inputs(scenario) if inputs is None else inputs)
    if not inputs:
        raise UserError(
            f"{scenario.path or scenario.name}: no uncertain inputs (no number carries a "
            "`range:`): nothing to screen"
        )
    outs = [o if isinstance(o, Outcome) else parse_outcome(o, scenario) for o in outcomes or []]
    outs = outs or default_outcomes(scenario)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise UserError("seeds: expected at least one seed")
    problem = {
        "num_vars": len(inputs),
        "names": [u.path for u in inputs],
        "bounds": [[0.0, 1.0]] * len(inputs),
    }
    unit = morris_sample.sample(problem, trajectories, num_levels=levels, seed=seed)
    inner = np.clip(unit, _EDGE, 1.0 - _EDGE)  # the range's ends, not a rounding past them
    points = draw_inputs(scenario, _Design(inner), len(unit), inputs)
    s = len(seed_list)
    world = world_for(scenario)
    values = _run_points(scenario, world, points, seed_list, outs, progress)
    resolution = RESOLUTION * world.delta
    frames = [
        _ranking(o.text, problem, unit, values[o.text].reshape(len(points), s).mean(axis=1),
                 levels, seed, resolution, inputs)
        for o in outs
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _ranking(
    outcome: str, problem: dict, unit: np.ndarray, y: np.ndarray, levels: int, seed: int,
    resolution: float, inputs: list,
) -> pd.DataFrame:  # fmt: skip
    """One outcome's rows of :func:`screen`: SALib's Morris analysis of the outcome's
    seed means ``y`` at the design points ``unit``, ranked by ``mu_star``."""
    from SALib.analyze import morris as morris_analyze

    res = morris_analyze.analyze(problem, unit, y, num_levels=levels, conf_level=0.95, seed=seed)
    mu_star = np.asarray(res["mu_star"], dtype=float)
    step = levels / (2 * (levels - 1))  # one grid step of the design, in the unit range
    frame = pd.DataFrame(
        {
            "outcome": outcome,
            "path": problem["names"],
            "mu_star": mu_star,
            "mu_star_conf": np.asarray(res["mu_star_conf"], dtype=float),
            "sigma": np.asarray(res["sigma"], dtype=float),
            "mu": np.asarray(res["mu"], dtype=float),
            "no_effect": mu_star == 0.0,
            "negligible": mu_star * step < resolution,
            "value": [u.value for u in inputs],
            "low": [u.low for u in inputs],
            "high": [u.high for u in inputs],
            "dist": [u.dist for u in inputs],
        }
    )
    frame = frame.sort_values(["mu_star", "path"], ascending=[False, True], kind="stable")
    return frame.assign(rank=np.arange(1, len(frame) + 1))


class _Design:
    """The Morris design in the place of a generator: :func:`~sim.scenario.priors.draw_inputs`
    asks its generator for one ``(n, inputs)`` block of uniforms and maps them through
    the priors, restoring the weights' and shares' sums; this hands it the design."""

    def __init__(self, unit: np.ndarray):
        self.unit = unit

    def random(self, shape) -> np.ndarray:
        if tuple(shape) != self.unit.shape:
            raise AssertionError(f"asked for {shape}, the design is {self.unit.shape}")
        return self.unit


def summary(table: pd.DataFrame, top: int = 10) -> str:
    """The top inputs of each outcome and the counts with no or negligible effect."""
    lines = []
    for outcome, part in table.groupby("outcome", sort=False):
        lines.append(
            f"{outcome}: {int(part['no_effect'].sum())} of {len(part)} inputs have no "
            f"effect, {int(part['negligible'].sum())} a negligible one"
        )
        lines.append(f"  {'rank':>4}  {'mu_star':>8}  {'sigma':>8}  input")
        for row in part.head(top).itertuples():
            lines.append(f"  {row.rank:>4}  {row.mu_star:>8.4f}  {row.sigma:>8.4f}  {row.path}")
        lines.append("")
    return "\n".join(lines).rstrip()


def screen_figure(table: pd.DataFrame, top: int = TOP):
    """Horizontal bars of ``mu_star`` (with ``sigma`` as a marker), one panel per outcome,
    the ``top`` inputs of each, largest at the top (matplotlib figure)."""
    import matplotlib.pyplot as plt

    groups = list(table.groupby("outcome", sort=False))
    n_bars = max(min(top, len(part)) for _, part in groups)
    fig, axes = plt.subplots(
        1,
        len(groups),
        figsize=(6.5 * len(groups), 0.32 * n_bars + 1.6),
        squeeze=False,
        constrained_layout=True,
    )
    for ax, (outcome, part) in zip(axes[0], groups, strict=True):
        part = part.head(top).iloc[::-1]
        y = np.arange(len(part))
        ax.barh(y, part["mu_star"], color="tab:blue", label="μ* (mean |effect|)")
        ax.plot(part["sigma"], y, "o", color="tab:orange", ms=4, label="σ (spread)")
        ax.set_yticks(y, [_label(p) for p in part["path"]], fontsize=8)
        ax.set_title(outcome, fontsize=10)
        ax.set_xlabel("effect per input range (outcome units)")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle("Morris screening of the uncertain inputs", fontsize=11)
    return fig


def _label(path: str) -> str:
    """A readable label: ``relations.AZ.RU.threat`` -> ``AZ→RU threat``,
    ``shocks.tap_start.effects.0.value`` -> ``tap_start effect 0``."""
    parts = path.split(".")
    if parts[0] == "relations" and len(parts) == 4:
        return f"{parts[1]}→{parts[2]} {parts[3]}"
    if parts[0] == "states" and len(parts) >= 3:
        return f"{parts[1]} {' '.join(parts[2:])}"
    if parts[0] == "shocks" and len(parts) == 5 and parts[2] == "effects":
        return f"{parts[1]} effect {parts[3]}"
    if parts[0] == "shocks" and len(parts) >= 3:
        return f"{parts[1]} " + " ".join(parts[2:])
    return path


def _known(lead: str, what: str, name: str, choices: Sequence[str]) -> None:
    if name not in choices:
        raise UserError(f"{lead}: unknown {what} {name!r}; expected one of {', '.join(choices)}")


def _record_years(world: World) -> set[int]:
    dates = world.record_dates(np.arange(world.n_periods + 1))
    return set(dates.astype("datetime64[Y]").astype(int) + 1970)


def _dates_of(world: World, years: set[int]) -> list:
    """The record dates that fall in ``years``."""
    dates = world.record_dates(np.arange(world.n_periods + 1))
    year = dates.astype("datetime64[Y]").astype(int) + 1970
    return [d.item() for d in dates[np.isin(year, sorted(years))]]


#: Morris points run per ensemble call: each point compiles a world of its own, so the
#: points go in batches to keep memory bounded (about 1 GB at this size on the baseline).
BATCH_POINTS = 500


def _run_points(scenario, world, points, seed_list, outs, progress) -> dict[str, np.ndarray]:
    """Each outcome's value for every point and seed (point-major), the points run in
    batches of :data:`BATCH_POINTS` with the same seeds."""
    from sim.drivers.ensemble import run_ensemble

    s, total = len(seed_list), len(points) * len(seed_list)
    found: dict[str, list[np.ndarray]] = {o.text: [] for o in outs}
    for lo in range(0, len(points), BATCH_POINTS):
        batch = points[lo : lo + BATCH_POINTS]
        done = lo * s

        def report(n: int, _total: int, done=done) -> None:
            if progress is not None:
                progress(done + n, total)

        with warnings.catch_warnings():  # the replicates table: a column per input
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            result = run_ensemble(
                scenario,
                seed_list * len(batch),
                overrides=[p for p in batch for _ in range(s)],
                keep="ties" if any(o.needs_ties for o in outs) else "indices",
                dates=_dates_of(world, set().union(*(_years(o) for o in outs))),
                progress=report,
            )
        for o in outs:
            found[o.text].append(_values(result, o))
        del result
    return {k: np.concatenate(v) for k, v in found.items()}


def _years(o: Outcome) -> set[int]:
    """The calendar years whose records an outcome reads."""
    if o.date is not None:
        return {o.date.year}
    return {y for w in o.windows for y in range(w.first.year, w.last.year + 1)}


def _values(result, o: Outcome) -> np.ndarray:
    """``(replicates,)`` the outcome of each replicate."""
    values = evaluate(o, ties=result.ties, indices=result.indices, by="replicate")
    return values.reindex(np.arange(result.n)).to_numpy(dtype=float)
