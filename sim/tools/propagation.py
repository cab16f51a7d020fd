"""The propagation table: how much a change in one dyad's parameters moves every tie.

``python -m sim.tools.propagation SCENARIO`` perturbs, one dyad at a time, every ordered
dyad ``(i, j)`` with a non-zero pair parameter in the scenario's ``relations`` (what j
means to i: energy, threat, proximity, protection, arms, affinity, leverage, and attack
in Model 2). All of that dyad's non-zero parameters move together: each is multiplied by
``1 + scale`` (an affinity of -0.5 becomes -0.6 at +20%: a larger magnitude), then

- clipped to its range (:data:`sim.scenario.vocabulary.PAIR_PARAMS`): a proximity of 1
  stays 1;
- for a share (:data:`~sim.scenario.vocabulary.SHARE_PARAMS`: energy, arms, leverage,
  whose row over partners must sum to at most 1), held to what the rest of the row
  leaves: the value rises by at most the row's slack, so the row sums to 1 at most and
  no other dyad changes (scaling the whole row down would perturb the other dyads too).

Every capped parameter is named in the summary. A dyad none of whose parameters can move
is left out (named in the output). The perturbation changes the scenario's values, the
parameters before any shock: a shock that sets one of them (``op: set``) replaces it
from its date on; one that adds or multiplies keeps the change.

The base scenario and every perturbed one run on the same seeds (common random numbers)
as sweep points of one ensemble (:func:`sim.drivers.ensemble.iter_ensemble`, chunk by
chunk; memory stays bounded). For each perturbed dyad and each tie ``(a, b)`` (a's tie
to b; ties are directed) the **effect** is the mean over seeds of the paired difference
of the tie's mean over the window's records, perturbed minus base; ``se`` is its
standard error over the seeds.

Per dyad, the summary gives the effect on its own tie ``i -> j``; the largest effect (in
absolute value, with its sign) on any other tie, and which; how many other ties move by
more than :data:`MOVES` (0.01); the largest effect on a tie another state holds (not
``i -> *``: the states' interaction, beyond i's own row); and the largest effect on the
focus state's ties (those it holds, ``focus -> b``) other than the dyad's own tie. One
line per scenario gives the medians over dyads of the largest effects on another tie
and on a tie another state holds, how many dyads move one by more than 0.01, the
largest effect on a focus tie from a dyad outside the focus state's row (Model 1's
audit: at most 0.0027 on AZ -> EU at +-20%), and the largest standard error (effects
below about twice it may be noise).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import OutputError, UserError, os_error_text, run_command
from sim.scenario import Scenario, load_scenario
from sim.scenario.problems import did_you_mean
from sim.scenario.vocabulary import PAIR_PARAMS, SHARE_PARAMS, in_version

#: A tie "moves" when its effect exceeds this (in tie units; a tie step is 0.05).
MOVES = 0.01
DEFAULT_SEEDS = 40
DEFAULT_SEED_START = 100_000
DEFAULT_SCALE = 0.2
DEFAULT_WINDOW = "2023-01-01:2025-12-31"
#: The tie named where no tie moves at all.
NONE = "none"
#: The columns of the long table.
COLUMNS = ["perturbed_dyad", "tie", "effect", "se"]
#: The columns of the summary, one row per perturbed dyad.
SUMMARY_COLUMNS = [
    "perturbed_dyad",
    "parameters",
    "own_effect",
    "max_other_effect",
    "max_other_tie",
    "other_ties_moved",
    "max_elsewhere_effect",
    "max_elsewhere_tie",
    "focus_effect",
    "focus_tie",
]


@dataclass(frozen=True)
class Change:
    """One parameter of a perturbed dyad: its value in the scenario and perturbed, and
    what held it back (``""``: nothing; ``"bound"``: its range; ``"share row"``)."""

    name: str
    base: float
    new: float
    held: str = ""

    def text(self) -> str:
        moved = f"{self.name} {(self.new / self.base - 1) * 100:+.0f}%"
        return f"{moved} ({self.held})" if self.held else moved


@dataclass(frozen=True)
class Perturbation:
    """All non-zero pair parameters of the dyad ``state -> partner``, moved together."""

    state: str
    partner: str
    changes: tuple[Change, ...]

    @property
    def dyad(self) -> str:
        return tie_name(self.state, self.partner)

    @property
    def moves(self) -> bool:
        return any(c.new != c.base for c in self.changes)

    def overrides(self) -> dict[str, float]:
        """The sweep point: ``{relations.I.J.NAME: value}`` for the parameters that move."""
        prefix = f"relations.{self.state}.{self.partner}"
        return {f"{prefix}.{c.name}": c.new for c in self.changes if c.new != c.base}

    def describe(self) -> str:
        return ", ".join(c.text() for c in self.changes)


@dataclass
class Propagation:
    """The result: the long table (:data:`COLUMNS`), the summary per dyad
    (:data:`SUMMARY_COLUMNS`), the dyads left out, the settings and the wall time."""

    scenario: Scenario
    table: pd.DataFrame
    summary: pd.DataFrame
    unmoved: list[Perturbation]
    focus: str
    seeds: list[int]
    scale: float
    window: tuple[dt.date, dt.date]
    wall_time: float


def tie_name(state: str, partner: str) -> str:
    return f"{state}->{partner}"


# --------------------------------------------------------------------------------------
# The perturbations
# --------------------------------------------------------------------------------------


def perturbations(scenario: Scenario, scale: float) -> list[Perturbation]:
    """One :class:`Perturbation` per ordered dyad with a non-zero pair parameter, in the
    scenario's order (see the module docstring for clipping and share rows)."""
    names = in_version(PAIR_PARAMS, scenario.spec.model.version)
    out = []
    for i, row in scenario.spec.relations.items():
        sums = {s: sum(_value(p, s) for p in row.values()) for s in SHARE_PARAMS}
        for j, pair in row.items():
            changes = tuple(
                _change(name, _value(pair, name), scale, sums.get(name))
                for name in names
                if _value(pair, name) != 0.0
            )
            if changes:
                out.append(Perturbation(i, j, changes))
    return out


def _value(pair, name: str) -> float:
    field = getattr(pair, name, None)
    return field.value if field is not None else 0.0


def _change(name: str, base: float, scale: float, row_sum: float | None) -> Change:
    lo, hi = PAIR_PARAMS[name]
    wanted = base * (1.0 + scale)
    new = min(max(wanted, lo), hi)
    held = "bound" if new != wanted else ""
    if row_sum is not None and new > base + (1.0 - row_sum):
        new, held = max(base, base + (1.0 - row_sum)), "share row"
    return Change(name, base, new, held)


# --------------------------------------------------------------------------------------
# Running the points and measuring the effects
# --------------------------------------------------------------------------------------


def propagation(
    scenario: Scenario | str | Path,
    seeds: Sequence[int],
    *,
    scale: float = DEFAULT_SCALE,
    window: tuple[dt.date, dt.date] | None = None,
    focus: str | None = None,
) -> Propagation:
    """Perturb every dyad by ``scale`` and measure the effect on every tie.

    Args:
        scenario: a loaded scenario or a path.
        seeds: the common seeds of the base and of every perturbed point.
        scale: the relative change of every non-zero parameter of a dyad (0.2: +20%).
        window: first and last date of the records averaged (default: 2023 to 2025).
        focus: the state whose ties the summary singles out (default: the scenario's).

    Raises:
        UserError: an unknown focus, a scenario without one and none given, a window
            without records, or bad seeds or scale.
    """
    t0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    check_scale(scale)
    focus = check_focus(scenario, focus)
    window = window or parse_window(DEFAULT_WINDOW)
    seeds = list(seeds)
    found = perturbations(scenario, scale)
    moved = [p for p in found if p.moves]
    if not moved:
        raise UserError(
            f"{scenario.path or scenario.name}: no dyad has a pair parameter that a change "
            f"of {scale:+g} moves (none set, or all at their bounds)"
        )
    means = window_means(scenario, seeds, moved, window)
    table = effects_table(scenario.state_ids, moved, means)
    return Propagation(
        scenario=scenario,
        table=table,
        summary=summarize(table, moved, focus),
        unmoved=[p for p in found if not p.moves],
        focus=focus,
        seeds=seeds,
        scale=scale,
        window=window,
        wall_time=time.perf_counter() - t0,
    )


def window_means(
    scenario: Scenario,
    seeds: list[int],
    moved: list[Perturbation],
    window: tuple[dt.date, dt.date],
) -> np.ndarray:
    """``(P + 1, K, N, N)``: each tie's mean over the window's records, for the base
    (point 0) and each perturbation, on each of the K seeds (NaN on the diagonal)."""
    from sim.drivers.ensemble import iter_ensemble
    from sim.world.compiled import world_for

    world = world_for(scenario)
    dates = window_dates(world, window)
    points = [{}, *(p.overrides() for p in moved)]
    k, n = len(seeds), world.n
    total = np.zeros((len(points) * k, n, n))
    count = np.zeros((len(points) * k, n, n))
    for chunk in iter_ensemble(
        scenario,
        [s for _ in points for s in seeds],
        overrides=[ov for ov in points for _ in seeds],
        keep="ties",
        dates=dates,
    ):
        at = (
            chunk.ties["replicate"].to_numpy(),
            chunk.ties["state"].cat.codes.to_numpy(),
            chunk.ties["partner"].cat.codes.to_numpy(),
        )
        np.add.at(total, at, chunk.ties["tie"].to_numpy())
        np.add.at(count, at, 1.0)
    with np.errstate(invalid="ignore"):
        return (total / count).reshape(len(points), k, n, n)


def window_dates(world, window: tuple[dt.date, dt.date]) -> list[dt.date]:
    """The dates of the world's records inside ``window`` (both ends included)."""
    first, last = window
    dates = [d for d in world.dates() if first <= d <= last]
    if not dates:
        all_dates = world.dates()
        raise UserError(
            f"--window {first}:{last}: holds no record of the scenario (its records run "
            f"from {all_dates[0]} to {all_dates[-1]})"
        )
    return dates


def effects_table(ids: list[str], moved: list[Perturbation], means: np.ndarray) -> pd.DataFrame:
    """The long table: one row per perturbed dyad and tie (:data:`COLUMNS`)."""
    diff = means[1:] - means[:1]  # (P, K, N, N): paired by seed
    k = diff.shape[1]
    effect = diff.mean(axis=1)
    se = diff.std(axis=1, ddof=1) / math.sqrt(k) if k > 1 else np.full_like(effect, np.nan)
    ii, jj = np.nonzero(~np.eye(len(ids), dtype=bool))
    ties = [tie_name(ids[a], ids[b]) for a, b in zip(ii, jj, strict=True)]
    return pd.DataFrame(
        {
            "perturbed_dyad": np.repeat([p.dyad for p in moved], len(ties)),
            "tie": np.tile(ties, len(moved)),
            "effect": effect[:, ii, jj].ravel(),
            "se": se[:, ii, jj].ravel(),
        },
        columns=COLUMNS,
    )


# --------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------


def summarize(table: pd.DataFrame, moved: list[Perturbation], focus: str) -> pd.DataFrame:
    """One row per perturbed dyad (:data:`SUMMARY_COLUMNS`)."""
    rows = []
    for p, part in zip(moved, _parts(table, moved), strict=True):
        own = part["tie"] == p.dyad
        other = part[~own]
        largest = _largest(other)
        elsewhere = _largest(other[~other["tie"].str.startswith(f"{p.state}->")])
        in_focus = _largest(other[other["tie"].str.startswith(f"{focus}->")])
        rows.append(
            {
                "perturbed_dyad": p.dyad,
                "parameters": p.describe(),
                "own_effect": float(part.loc[own, "effect"].iloc[0]),
                "max_other_effect": largest["effect"],
                "max_other_tie": largest["tie"],
                "other_ties_moved": int((other["effect"].abs() > MOVES).sum()),
                "max_elsewhere_effect": elsewhere["effect"],
                "max_elsewhere_tie": elsewhere["tie"],
                "focus_effect": in_focus["effect"],
                "focus_tie": in_focus["tie"],
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _parts(table: pd.DataFrame, moved: list[Perturbation]) -> list[pd.DataFrame]:
    """The long table's rows of each perturbed dyad, in order."""
    groups = dict(tuple(table.groupby("perturbed_dyad", sort=False)))
    return [groups[p.dyad] for p in moved]


def _largest(rows: pd.DataFrame, column: str = "effect", tie: str = "tie") -> dict:
    """The largest absolute ``column`` of ``rows``, with its sign, and its ``tie``
    (``NONE`` when every value is 0 or there are no rows)."""
    values = rows[column].abs()
    if rows.empty or not (values > 0).any():
        return {"effect": 0.0, "tie": NONE}
    row = rows.loc[values.idxmax()]
    return {"effect": float(row[column]), "tie": str(row[tie])}


def headline(result: Propagation) -> str:
    """The figures a reader needs, on one line."""
    s, focus, table = result.summary, result.focus, result.table
    outside = s[~s["perturbed_dyad"].str.startswith(f"{focus}->")]
    largest = _largest(outside, "focus_effect", "focus_tie")
    reach = "0 (no such effect)"
    if largest["tie"] != NONE:
        source = outside.loc[outside["focus_effect"].abs().idxmax(), "perturbed_dyad"]
        reach = f"{largest['effect']:+.4f} ({source} on {largest['tie']})"
    return (
        f"{result.scenario.path or result.scenario.name}: {len(s)} dyads at "
        f"{result.scale * 100:+g}%, {len(result.seeds)} seeds, window "
        f"{result.window[0]}:{result.window[1]}: "
        f"median over dyads of the largest effect on another tie = "
        f"{s['max_other_effect'].abs().median():.4f}, "
        f"on a tie another state holds = {s['max_elsewhere_effect'].abs().median():.4f}; "
        f"dyads moving another tie by more than {MOVES} = "
        f"{(s['other_ties_moved'] > 0).sum()} of {len(s)}, "
        f"moving a tie another state holds by more than {MOVES} = "
        f"{(s['max_elsewhere_effect'].abs() > MOVES).sum()} of {len(s)}; "
        f"largest effect on a tie {focus} holds from a dyad outside {focus}'s row = "
        f"{reach}; "
        f"largest standard error of an effect = {table['se'].max():.4f}"
    )


def markdown(result: Propagation) -> str:
    """The summary as a Markdown document: settings, the headline, the table."""
    lines = [
        f"# Propagation: {result.scenario.name}",
        "",
        f"Each dyad's non-zero pair parameters moved together by {result.scale * 100:+g}% "
        f"(clipped to their ranges and share rows); effects are the mean over "
        f"{len(result.seeds)} common seeds ({result.seeds[0]} to {result.seeds[-1]}) of "
        f"the paired difference of each tie's mean over {result.window[0]} to "
        f"{result.window[1]}, perturbed minus base. `other`: any tie but the dyad's own; "
        f"`elsewhere`: a tie another state holds; `focus`: a tie {result.focus} holds; "
        f"`other_ties_moved`: other ties with an effect above {MOVES}.",
        "",
        headline(result),
        "",
        _markdown_table(result.summary),
    ]
    if result.unmoved:
        held = ", ".join(f"{p.dyad} ({p.describe()})" for p in result.unmoved)
        lines += ["", f"Left out (no parameter can move): {held}."]
    return "\n".join(lines) + "\n"


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(v) -> str:
        return f"{v:+.4f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *body])


# --------------------------------------------------------------------------------------
# Checking the arguments
# --------------------------------------------------------------------------------------


def parse_window(text: str) -> tuple[dt.date, dt.date]:
    """``START:END`` (ISO dates, both included) as two dates."""
    parts = str(text).split(":")
    if len(parts) != 2:
        raise UserError(f"--window {text!r}: expected START:END, e.g. {DEFAULT_WINDOW}")
    try:
        first, last = (dt.date.fromisoformat(p.strip()) for p in parts)
    except ValueError:
        raise UserError(
            f"--window {text!r}: expected two dates YYYY-MM-DD, e.g. {DEFAULT_WINDOW}"
        ) from None
    if first > last:
        raise UserError(f"--window {text!r}: ends before it starts")
    return first, last


def check_focus(scenario: Scenario, focus: str | None) -> str:
    """The focus state: ``focus`` if a state of the scenario, else the scenario's."""
    ids = scenario.state_ids
    if focus is None:
        if scenario.spec.focus is None:
            raise UserError(
                f"{scenario.path or scenario.name}: names no focus state; give --focus "
                f"(one of {', '.join(ids)})"
            )
        return scenario.spec.focus
    if focus not in ids:
        raise UserError(
            f"--focus {focus!r}: not a state of the scenario{did_you_mean(focus, ids)}; "
            f"the states are {', '.join(ids)}"
        )
    return focus


def check_scale(scale: float) -> None:
    if not math.isfinite(scale) or scale <= -1.0 or scale == 0.0:
        raise UserError(
            f"--scale {scale}: expected a relative change above -1 and not 0 (0.2: +20%)"
        )


def _count(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected at least {least}, got {value}")
    return value


def _check_output(path: Path | None, flag: str) -> None:
    """An output's folder must exist (checked before the runs, not after)."""
    if path is not None and not path.resolve().parent.is_dir():
        raise UserError(f"{flag} {path}: the folder {path.resolve().parent} does not exist")


def _write(path: Path, text: str) -> None:
    from sim.outputs.files import atomic_file

    try:
        with atomic_file(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(os_error_text(exc, path)) from None


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sim.tools.propagation", description=__doc__.split("\n")[0]
    )
    p.add_argument("scenario", type=Path, help="the scenario file")
    p.add_argument(
        "--seeds",
        type=lambda t: _count(t, 2),
        default=DEFAULT_SEEDS,
        help=f"common seeds of every point (default {DEFAULT_SEEDS})",
    )
    p.add_argument(
        "--seed-start",
        type=lambda t: _count(t, 0),
        default=DEFAULT_SEED_START,
        help=f"the first seed (default {DEFAULT_SEED_START})",
    )
    p.add_argument(
        "--scale", type=float, default=DEFAULT_SCALE, help="relative change (default 0.2)"
    )
    p.add_argument(
        "--window", default=DEFAULT_WINDOW, help=f"START:END dates (default {DEFAULT_WINDOW})"
    )
    p.add_argument("--focus", help="the state whose ties are singled out (default: the file's)")
    p.add_argument("--csv", type=Path, help="write the long table here")
    p.add_argument("--markdown", type=Path, help="write the summary here")
    return p


def run(args: argparse.Namespace) -> int:
    """Check the arguments, run, print the summary and write the outputs."""
    window = parse_window(args.window)
    if args.seed_start + args.seeds > 2**63:
        raise UserError(f"--seed-start {args.seed_start} --seeds {args.seeds}: seeds pass 2**63")
    _check_output(args.csv, "--csv")
    _check_output(args.markdown, "--markdown")
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    result = propagation(args.scenario, seeds, scale=args.scale, window=window, focus=args.focus)
    text = markdown(result)
    print(text, end="")
    if args.csv is not None:
        _write(args.csv, result.table.to_csv(index=False))
    if args.markdown is not None:
        _write(args.markdown, text)
    print(f"wall_time_s={result.wall_time:.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command; returns 0, or 2 on bad input (a message, never a traceback)."""
    return run_command(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
