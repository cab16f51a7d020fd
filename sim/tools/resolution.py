"""Resolution: is a counterfactual effect larger than what the model can resolve?

``python -m sim.tools.resolution SCENARIO --tie AZ-EU --off ukraine_war,gas_memorandum
--window 2023-01-01:2025-12-31 [--seeds 200] [--setting model.delta=0.02 ...]`` runs the
scenario and its counterfactual (the shocks ``--off`` switched off) on the same seeds
(common random numbers), under each setting (the scenario as it is, then each
``--setting PATH=VALUE[,PATH=VALUE]``), and prints per setting:

- the paired effect on the tie's window mean (scenario minus counterfactual) and its
  standard error over the seeds;
- the share of seeds whose difference is exactly zero (a lattice hides an effect below
  its step: both arms then take the same choices);
- the effect in tie steps (``delta``) and in units of the tie's own quarter-to-quarter
  noise (the standard deviation of its quarterly changes in the scenario arm): an effect
  below one noise unit cannot be seen in one quarter's data, however narrow its
  standard error;
- the wall time per run.

The seeds are the scenario's validation seeds (``validation.seed_start``, 100000 by
default), which no tuning used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import numpy as np

from sim.drivers.ensemble import ensemble_ties
from sim.errors import UserError
from sim.scenario import Scenario, load_scenario
from sim.scenario.overrides import with_overrides
from sim.world.compiled import world_for


def resolution_row(
    scenario: Scenario,
    tie: tuple[str, str],
    off: tuple[str, ...],
    window: tuple[dt.date, dt.date],
    seeds: list[int],
) -> dict:
    """The figures above for one scenario (one setting)."""
    world = world_for(scenario)
    for state in tie:
        if state not in world.ids:
            raise UserError(f"--tie: no state {state!r} in {scenario.path}")
    i, j = world.index(tie[0]), world.index(tie[1])
    dates = np.array(world.dates(), dtype="datetime64[D]")
    inside = (dates >= np.datetime64(window[0])) & (dates <= np.datetime64(window[1]))
    if not inside.any():
        raise UserError(
            f"--window: no record of {scenario.path} between {window[0]} and {window[1]}"
        )
    start = time.perf_counter()
    arm = ensemble_ties(scenario, seeds)
    per_run = (time.perf_counter() - start) / len(seeds)
    cf = ensemble_ties(scenario, seeds, shocks_off=off)
    diff = arm[:, inside, i, j].mean(axis=1) - cf[:, inside, i, j].mean(axis=1)
    effect = float(diff.mean())
    noise = float(np.diff(arm[:, 1:, i, j], axis=1).std())
    return {
        "candidates": world.candidates,
        "delta": world.delta,
        "effect": effect,
        "se": float(diff.std(ddof=1) / np.sqrt(len(diff))),
        "zero_share": float(np.mean(diff == 0.0)),
        "in_steps": effect / world.delta,
        "noise": noise,
        "in_noise": effect / noise if noise > 0 else float("nan"),
        "ms_per_run": 1000.0 * per_run,
    }


def _settings(texts: list[str]) -> list[dict]:
    out: list[dict] = [{}]
    for text in texts:
        setting = {}
        for part in text.split(","):
            path, sep, value = part.partition("=")
            if not sep or not path.strip():
                raise UserError(f"--setting {text!r}: expected PATH=VALUE[,PATH=VALUE]")
            value = value.strip()
            try:
                setting[path.strip()] = float(value)
            except ValueError:
                setting[path.strip()] = value
        out.append(setting)
    return out


def _window(text: str) -> tuple[dt.date, dt.date]:
    try:
        a, b = (dt.date.fromisoformat(t) for t in text.split(":"))
    except ValueError:
        raise UserError(f"--window {text!r}: expected START:END dates (YYYY-MM-DD)") from None
    if b < a:
        raise UserError(f"--window {text!r}: the end is before the start")
    return a, b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.tools.resolution", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("scenario")
    parser.add_argument("--tie", required=True, help="STATE-PARTNER: the tie measured")
    parser.add_argument("--off", required=True, help="the counterfactual's shocks, comma-separated")
    parser.add_argument("--window", required=True, help="START:END of the window mean")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--setting", action="append", default=[], help="PATH=VALUE[,PATH=VALUE]")
    args = parser.parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
        tie = tuple(args.tie.split("-"))
        if len(tie) != 2:
            raise UserError(f"--tie {args.tie!r}: expected STATE-PARTNER, e.g. AZ-EU")
        off = tuple(s.strip() for s in args.off.split(",") if s.strip())
        window = _window(args.window)
        if not 2 <= args.seeds <= 100_000:
            raise UserError(f"--seeds: expected 2 to 100000, got {args.seeds}")
        spec = scenario.spec.validation
        first = spec.seed_start if spec is not None and spec.seed_start is not None else 100_000
        seeds = list(range(first, first + args.seeds))
        print(
            f"{scenario.name}: {args.tie} over {args.window}, scenario minus no {'+'.join(off)}, "
            f"seeds {seeds[0]}-{seeds[-1]}"
        )
        for setting in _settings(args.setting):
            variant = with_overrides(scenario, setting, origin="--setting") if setting else scenario
            row = resolution_row(variant, tie, off, window, seeds)
            label = ", ".join(f"{k}={v}" for k, v in setting.items()) or "as in the file"
            print(
                f"  {label}: {row['candidates']}, delta {row['delta']:g}: effect "
                f"{row['effect']:+.4f} ± {row['se']:.4f} ({row['zero_share']:.0%} of seeds exactly "
                f"0; {row['in_steps']:+.2f} steps; {row['in_noise']:+.2f} x the quarter noise "
                f"{row['noise']:.4f}); {row['ms_per_run']:.1f} ms a run"
            )
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
