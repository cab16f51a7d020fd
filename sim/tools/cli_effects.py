"""``multivector effects SCENARIO --counterfactual FILE ...``: each counterfactual's effect
on the observables, through the measurement model (:mod:`sim.calibration.effects`).

Prints the compact table (the focus state's rows first) and, unless ``--quiet``, the
wall time. With ``--out DIR`` it also writes ``effects.csv`` and ``effects.md`` into an
analysis directory with a manifest, all or nothing; files made otherwise are never
replaced unless ``--force`` (:func:`sim.outputs.analysis_files.open_analysis_dir`).
Exit 0, or 2 on bad input (one message, no traceback).

``cli.py`` wires this in with :func:`add_commands` and :func:`dispatch`.
"""

from __future__ import annotations

import argparse
import sys

from sim.errors import UserError

#: ``--draws`` without ``--posterior`` or ``--prior``: how many input draws.
DEFAULT_DRAWS = 20
FILES = ("effects.csv", "effects.md")


def add_commands(sub) -> None:
    """Add ``effects`` to the CLI's subparsers ``sub``."""
    from sim.calibration.effects import LAST_TRAINING_YEAR
    from sim.tools.cli import analysis_outputs, whole_number
    from sim.tools.cli_calibration import _DATA_HELP

    e = sub.add_parser(
        "effects",
        help="each counterfactual's effect on the observed series (UN votes, ideal points), "
        "with bands over seeds and input draws",
        description="Run the baseline and each counterfactual on the same seeds and input "
        "draws, read both through the measurement model fitted on the baseline's years up "
        "to --until, and report baseline minus counterfactual (mean over --years) per "
        "observable and dyad: median and 90% band over replicates, in the observable's "
        "units and in tie units, beside the observed series' spread.",
    )
    e.add_argument("scenario", help="the baseline scenario file (YAML)")
    e.add_argument(
        "--counterfactual",
        action="append",
        required=True,
        metavar="FILE",
        help="a scenario file that extends the baseline (repeatable)",
    )
    inputs = e.add_mutually_exclusive_group()
    inputs.add_argument("--posterior", metavar="DIR", help="a `multivector calibrate` directory")
    inputs.add_argument("--prior", action="store_true", help="draw inputs from their ranges")
    e.add_argument(
        "--draws",
        type=whole_number(1, 1000),
        default=None,
        help=f"with --posterior or --prior: input draws, 1 to 1,000 (default {DEFAULT_DRAWS})",
    )
    e.add_argument(
        "--seeds", type=whole_number(1, 1000), default=10, help="seeds, 1 to 1,000 (default 10)"
    )
    e.add_argument(
        "--years", default="2023-2025", help="the window, FIRST-LAST (default 2023-2025)"
    )
    e.add_argument(
        "--until",
        type=whole_number(1990, LAST_TRAINING_YEAR),
        default=LAST_TRAINING_YEAR,
        help=f"last year the links are fitted on, 1990 to {LAST_TRAINING_YEAR} (default "
        f"{LAST_TRAINING_YEAR}; later years are withheld to score forecasts)",
    )
    e.add_argument("--data", help=_DATA_HELP)
    analysis_outputs(e, "effects.csv, effects.md and a manifest", quiet="no timing line")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``effects`` and return its exit code; None when ``args`` is another command."""
    if getattr(args, "command", None) != "effects":
        return None
    return cmd_effects(args)


def cmd_effects(args: argparse.Namespace) -> int:
    """Print the table; write the files with ``--out``."""
    from sim.calibration.effects import effects, load_counterfactuals
    from sim.scenario import load_scenario
    from sim.tools.cli_calibration import _years

    if args.draws is not None and args.posterior is None and not args.prior:
        raise UserError("--draws goes with --posterior DIR or --prior (the point values are one)")
    years = _years(args.years)
    baseline = load_scenario(args.scenario)
    cfs = load_counterfactuals(baseline, args.counterfactual)
    target = _open_out(args, baseline, cfs) if args.out else None
    result = effects(
        baseline,
        cfs,
        posterior=args.posterior,
        prior=args.prior,
        draws=args.draws or DEFAULT_DRAWS,
        seeds=args.seeds,
        years=years,
        until=args.until,
        data=args.data,
    )
    print(result.text(), end="")
    if not args.quiet:
        replicates = int(result.table["replicates"].max())
        arms = len(cfs) + 1
        print(
            f"effects: {arms} arms x {replicates:,} replicates in {result.wall_time:.1f} s",
            file=sys.stderr,
        )
    if target is not None:
        target.record["settings"] = result.settings
        target.record["wall_time_s"] = round(result.wall_time, 2)
        text = result.markdown()
        written = target.write(
            {
                "effects.csv": lambda path: result.table.to_csv(path, index=False),
                "effects.md": lambda path: path.write_text(text, encoding="utf-8"),
            }
        )
        print(f"wrote {', '.join(written)} to {args.out}/")
    return 0


def _open_out(args: argparse.Namespace, baseline, cfs):
    """The analysis directory of ``--out``, checked before anything runs."""
    from sim.calibration.effects import content_hash
    from sim.outputs.analysis_files import open_analysis_dir

    arguments = {
        "counterfactual": [str(p) for p in args.counterfactual],
        "posterior": args.posterior,
        "prior": args.prior or None,
        "draws": args.draws,
        "seeds": args.seeds,
        "years": args.years,
        "until": args.until,
        "data": args.data,
    }
    made_by = {
        "command": "effects",
        "arguments": arguments,
        "batch": {
            "experiment": baseline.name,
            "content_hash": content_hash(baseline, [c.scenario for c in cfs]),
        },
    }
    inputs = [p for p in (args.scenario, *args.counterfactual, args.posterior) if p is not None]
    return open_analysis_dir(args.out, FILES, made_by, force=args.force, inputs=inputs)
