"""``multivector expert SCENARIO``: the regional expert's table, the model's direction of
change of every main tie beside the public record (:mod:`sim.analysis.expert`).

Prints the table (Markdown, one section per state) and the summary line ``agree K of M
scored rows (L mixed, not scored)``. With ``--out DIR`` it also writes ``expert.csv`` and
``expert.md`` into an analysis directory, which it never overwrites with files made
otherwise unless ``--force`` (:func:`sim.outputs.analysis_files.open_analysis_dir`).
Exit 0, or 2 on bad input (one message, no traceback).

``cli.py`` wires this in with :func:`add_commands` and :func:`dispatch`.
"""

from __future__ import annotations

import argparse
import math
import sys

from sim.errors import UserError

#: ``--draws``: posterior draws per seed, at most.
MAX_DRAWS = 1000
#: ``--eps``: the largest tolerance (ties lie in [-1, 1], so a change in [-2, 2]).
MAX_EPS = 2.0


def _eps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number from 0 to {MAX_EPS:g}, got {text!r}"
        ) from None
    if not (math.isfinite(value) and 0 <= value <= MAX_EPS):
        raise argparse.ArgumentTypeError(f"expected a number from 0 to {MAX_EPS:g}, got {text}")
    return value


def add_commands(sub) -> None:
    """Add ``expert`` to the CLI's subparsers ``sub``."""
    from sim.analysis.expert import DEFAULT_DRAWS, DEFAULT_SEEDS
    from sim.tools.cli import MAX_SEEDS, MIN_SEEDS, _seed, analysis_outputs, whole_number

    e = sub.add_parser(
        "expert",
        help="the regional expert's table: each main tie's direction in the model beside "
        "the public record",
        description="For every tie and period of a record file, the direction of change "
        "in the model (the median and 90% band over seeds, and over posterior draws "
        "with --posterior) beside the public record, marked agree or disagree.",
    )
    e.add_argument("scenario", help="scenario file (YAML)")
    e.add_argument(
        "--record",
        default=None,
        metavar="FILE",
        help="the public record (default: scenarios/record/baseline_world.yaml)",
    )
    e.add_argument(
        "--seeds",
        type=whole_number(MIN_SEEDS, MAX_SEEDS),
        default=DEFAULT_SEEDS,
        help=f"number of seeds, {MIN_SEEDS} to {MAX_SEEDS:,} (default {DEFAULT_SEEDS})",
    )
    e.add_argument(
        "--seed-start",
        type=_seed,
        default=None,
        metavar="N",
        help="the first seed (default: the scenario's validation.seed_start, 100000 unless "
        "it says otherwise); a range that overlaps its tuning seeds is refused",
    )
    e.add_argument(
        "--posterior",
        default=None,
        metavar="DIR",
        help="a `multivector calibrate` output: every seed runs with each of --draws "
        "input draws resampled from it, and the band covers seeds x draws",
    )
    e.add_argument(
        "--draws",
        type=whole_number(1, MAX_DRAWS),
        default=None,
        help=f"with --posterior: input draws, 1 to {MAX_DRAWS} (default {DEFAULT_DRAWS})",
    )
    e.add_argument(
        "--eps",
        type=_eps,
        default=None,
        help="a change within ±EPS is flat (default: the scenario's tie step delta)",
    )
    analysis_outputs(e, "expert.csv and expert.md")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``expert`` and return its exit code; None when ``args`` is another command."""
    if getattr(args, "command", None) != "expert":
        return None
    return cmd_expert(args)


def cmd_expert(args: argparse.Namespace) -> int:
    """Print the table and the summary line; write the files with ``--out``."""
    from sim.analysis.expert import DEFAULT_DRAWS, DEFAULT_RECORD, expert_table, load_record
    from sim.scenario import load_scenario

    if args.draws is not None and args.posterior is None:
        raise UserError("--draws goes with --posterior DIR (without it the point values run)")
    scenario = load_scenario(args.scenario)
    record = load_record(args.record or DEFAULT_RECORD)
    target = _open_out(args, scenario, record) if args.out else None
    table = expert_table(
        scenario,
        record,
        seeds=args.seeds,
        seed_start=args.seed_start,
        posterior=args.posterior,
        draws=args.draws or DEFAULT_DRAWS,
        eps=args.eps,
        progress=_progress(args),
    )
    text = table.markdown()
    print(text, end="")
    if not args.quiet:
        replicates = int(table.frame["replicates"].iloc[0])
        print(f"expert: {replicates:,} replicates in {table.wall_time:.1f} s", file=sys.stderr)
    if target is not None:
        written = target.write(
            {
                "expert.csv": lambda path: table.frame.to_csv(path, index=False),
                "expert.md": lambda path: path.write_text(text, encoding="utf-8"),
            }
        )
        print(f"wrote {', '.join(written)} to {args.out}/")
    return 0


def _open_out(args: argparse.Namespace, scenario, record):
    """The analysis directory of ``--out``, checked before anything runs."""
    from sim.outputs.analysis_files import open_analysis_dir

    arguments = {
        "record": str(record.path),
        "seeds": args.seeds,
        "seed_start": args.seed_start,
        "posterior": args.posterior,
        "draws": args.draws,
        "eps": args.eps,
    }
    made_by = {
        "command": "expert",
        "arguments": arguments,
        "batch": {"experiment": scenario.name, "content_hash": scenario.content_hash},
    }
    inputs = [p for p in (args.scenario, record.path, args.posterior) if p is not None]
    return open_analysis_dir(
        args.out, ["expert.csv", "expert.md"], made_by, force=args.force, inputs=inputs
    )


def _progress(args: argparse.Namespace):
    """A bar over the posterior draws (the point values are one quick pass)."""
    if args.quiet or args.posterior is None:
        return None
    from sim.tools.cli import progress_callback

    return progress_callback("expert", "draw")
