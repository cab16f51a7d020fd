"""The ``validate`` and ``screen`` commands: is the scenario right, and which of its
uncertain numbers matter.

``validate SCENARIO``: the stylised facts over fresh seeds (never the tuning seeds), at
the point values and, with ``--prior``, across the prior of the uncertain inputs
(:mod:`sim.analysis.facts`). Exit 0 when every fact holds at the point values, 1 when
one fails (the prior shares are reported, never failing), 2 on bad input.

``screen SCENARIO``: Morris elementary effects of every uncertain input on chosen
outcomes (:mod:`sim.analysis.screen`); writes ``screen.csv`` and ``screen.png`` into an
analysis directory (``--out``), which it never overwrites with files made otherwise
unless ``--force`` (:func:`sim.outputs.analysis_files.open_analysis_dir`).

:func:`add_validate` / :func:`add_screen` define the subparsers;
:func:`cmd_validate` / :func:`cmd_screen` run them and return the exit code.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sim.errors import UserError

#: ``validate --prior`` without a number: this many draws.
DEFAULT_DRAWS = 200
#: ``screen`` defaults: affordable on the baseline (about 320 inputs: about 13,000 runs).
DEFAULT_TRAJECTORIES, DEFAULT_SCREEN_SEEDS = 10, 4
MAX_TRAJECTORIES, MAX_SCREEN_SEEDS = 1000, 1000


def add_validate(sub) -> None:
    """The ``validate`` subparser."""
    from sim.tools.cli import MAX_SEEDS, MIN_SEEDS, _seed, whole_number

    v = sub.add_parser("validate", help="check the scenario's stylised facts over many seeds")
    v.add_argument("scenario")
    v.add_argument(
        "--seeds",
        type=whole_number(MIN_SEEDS, MAX_SEEDS),
        default=None,
        help=f"number of seeds, {MIN_SEEDS} to {MAX_SEEDS:,} as in a scenario file "
        "(default: the scenario's validation.seeds)",
    )
    v.add_argument(
        "--seed-start",
        type=_seed,
        default=None,
        metavar="N",
        help="the first seed: the seeds are N .. N+seeds-1 (default: the scenario's "
        "validation.seed_start, 100000 unless it says otherwise). A range that overlaps "
        "the scenario's validation.tuning_seeds is refused",
    )
    v.add_argument(
        "--prior",
        type=whole_number(MIN_SEEDS, MAX_SEEDS),
        nargs="?",
        const=DEFAULT_DRAWS,
        default=None,
        metavar="DRAWS",
        help="also check each fact across the prior of the uncertain inputs (the numbers "
        f"with a range): DRAWS draws (default {DEFAULT_DRAWS}), draw k with its own inputs "
        "and seed N+k; reports the share of draws in which each fact holds (never fails)",
    )
    v.add_argument(
        "--posterior",
        metavar="DIR",
        default=None,
        help="instead of --prior: check each fact at the calibrated posterior of a "
        f"`multivector calibrate` folder of this scenario ({DEFAULT_DRAWS} draws resampled "
        "by weight, draw k with seed N+k; reports the share of draws in which each fact "
        "holds, never fails)",
    )
    v.add_argument(
        "--csv",
        metavar="FILE",
        default=None,
        help="also write the table as CSV (its folder must exist; an existing file needs --force)",
    )
    v.add_argument("--force", action="store_true", help="replace an existing --csv file")
    v.add_argument("--quiet", action="store_true", help="no progress lines")


def cmd_validate(args) -> int:
    """Run ``validate``: 0 when every fact holds at the point values, 1 otherwise."""
    from sim.analysis.facts import check, check_prior, frame, table
    from sim.outputs.files import atomic_file
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    csv = _check_csv(args.csv, args.force, [args.scenario]) if args.csv else None
    results = check(scenario, args.seeds, seed_start=args.seed_start, progress=_bars(args))
    prior = None
    if args.prior and args.posterior:
        raise UserError("give --prior or --posterior DIR, not both")
    if args.prior or args.posterior:
        prior = check_prior(
            scenario,
            args.prior or DEFAULT_DRAWS,
            seed_start=args.seed_start,
            point=results,
            progress=_bars(args),
            posterior=args.posterior,
        )
    print(table(results, scenario, prior=prior))
    if csv is not None:
        with atomic_file(csv) as tmp:
            frame(results, prior).to_csv(tmp, index=False)
        print(f"wrote {csv}")
    return 0 if all(r.passed for r in results) else 1


def _check_csv(path: str, force: bool, inputs: list) -> Path:
    """``--csv FILE``: its folder exists, it is not a folder or an input, and it exists
    only with ``force``."""
    p = Path(path)
    if not p.parent.is_dir():
        raise UserError(f"--csv {path}: the folder {p.parent} does not exist; create it first")
    if p.is_dir():
        raise UserError(f"--csv {path}: is a folder; name a file")
    if any(p.resolve() == Path(i).resolve() for i in inputs):
        raise UserError(f"--csv {path}: is an input of this command; name another file")
    if p.exists() and not force:
        raise UserError(f"--csv {path}: exists; add --force to replace it, or name another")
    return p


def add_screen(sub) -> None:
    """The ``screen`` subparser."""
    from sim.tools.cli import _seed, whole_number

    s = sub.add_parser(
        "screen", help="Morris screening: which uncertain inputs move chosen outcomes"
    )
    s.add_argument("scenario")
    s.add_argument(
        "--outcome",
        action="append",
        default=[],
        metavar="TEXT",
        help="an outcome, `tie STATE PARTNER YEAR` or `index NAME STATE YEAR` (the mean "
        "over that year's records; repeatable). Default: the focus state's ties to every "
        "pole member in 2025",
    )
    s.add_argument(
        "--trajectories",
        type=whole_number(2, MAX_TRAJECTORIES),
        default=DEFAULT_TRAJECTORIES,
        metavar="N",
        help=f"Morris trajectories, 2 to {MAX_TRAJECTORIES} (default "
        f"{DEFAULT_TRAJECTORIES}); runs = N x (inputs + 1) x seeds",
    )
    s.add_argument(
        "--levels",
        type=whole_number(2, 20),
        default=4,
        metavar="P",
        help="grid levels of the Morris design, even, 2 to 20 (default 4)",
    )
    s.add_argument(
        "--seeds",
        type=whole_number(1, MAX_SCREEN_SEEDS),
        default=DEFAULT_SCREEN_SEEDS,
        metavar="N",
        help=f"seeds 0 .. N-1 at every point (common random numbers), 1 to "
        f"{MAX_SCREEN_SEEDS} (default {DEFAULT_SCREEN_SEEDS})",
    )
    s.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the Morris design, 0 to 2**63 - 1 (default 0)",
    )
    s.add_argument(
        "--out",
        required=True,
        help="directory for screen.csv and screen.png (its parent must exist): new, "
        "empty, or a directory of figures and tables",
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="replace screen.csv and screen.png made with other arguments (or not by "
        "this command); a directory of another kind is replaced as a whole",
    )
    s.add_argument("--quiet", action="store_true", help="no progress lines")


def cmd_screen(args) -> int:
    """Run ``screen``: print the plan, run it, print the top inputs, write the files."""
    from sim.analysis.screen import (
        default_outcomes,
        parse_outcome,
        planned_runs,
        screen,
        screen_figure,
        summary,
    )
    from sim.outputs.analysis_files import open_analysis_dir
    from sim.outputs.files import write_figure
    from sim.scenario import load_scenario
    from sim.scenario.priors import uncertain_inputs

    if args.levels % 2:
        raise UserError(f"--levels: expected an even number, got {args.levels}")
    scenario = load_scenario(args.scenario)
    outcomes = [parse_outcome(t, scenario) for t in args.outcome] or default_outcomes(scenario)
    inputs = uncertain_inputs(scenario)
    if not inputs:
        raise UserError(
            f"{args.scenario}: no uncertain inputs (no number carries a `range:`): "
            "nothing to screen"
        )
    record = {
        "command": "screen",
        "arguments": {
            "outcome": [o.text for o in outcomes],
            "trajectories": args.trajectories,
            "levels": args.levels,
            "seeds": args.seeds,
            "seed": args.seed,
        },
        "batch": {"experiment": scenario.name, "content_hash": scenario.content_hash},
    }
    names = ["screen.csv", "screen.png"]
    target = open_analysis_dir(args.out, names, record, force=args.force, inputs=[args.scenario])
    runs = planned_runs(len(inputs), args.trajectories, args.seeds)
    print(
        f"Screening {len(inputs)} uncertain inputs on {len(outcomes)} outcomes: "
        f"{args.trajectories} trajectories x {len(inputs) + 1} points x {args.seeds} seeds "
        f"= {runs:,} runs"
    )
    sys.stdout.flush()
    t0 = time.perf_counter()
    tab = screen(
        scenario,
        outcomes,
        trajectories=args.trajectories,
        levels=args.levels,
        seeds=args.seeds,
        seed=args.seed,
        inputs=inputs,
        progress=None if args.quiet else _bar("screen"),
    )
    print(f"{runs:,} runs in {time.perf_counter() - t0:.1f} s\n")
    print(summary(tab))
    products = {
        "screen.csv": lambda path: tab.to_csv(path, index=False),
        "screen.png": lambda path: write_figure(screen_figure(tab), path, dpi=110),
    }
    written = target.write(products)
    print(f"\nwrote {', '.join(written)} to {args.out}/")
    return 0


def _bar(label: str, unit: str = "run"):
    """The progress style of every long command (``sim.tools.cli.progress_callback``)."""
    from sim.tools.cli import progress_callback

    return progress_callback(label, unit)


def _bars(args):
    """For validate: one bar per panel of seeds (the scenario and each counterfactual),
    or none with --quiet."""
    if args.quiet:
        return False
    return lambda name: _bar(f"validate {name}", "seed")
