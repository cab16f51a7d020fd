"""``multivector discover BATCH``: scenario discovery and feature scoring on a batch.

``discover BATCH --outcome TEXT --where "< X"``: PRIM boxes over the batch's design
parameters for the runs whose outcome meets the comparison
(:mod:`sim.analysis.discover`); prints the chosen box in words and writes the peeling
trajectory, the coverage/density trade-off, and the box's limits (CSV and figures).
``--features`` ranks the design parameters by their extra-trees importance for the
outcome (its value; or, with ``--where``, the cases of interest); with ``--where`` and
``--features`` both are done.

The files go into an analysis directory (``--out``, default ``BATCH/plots``, beside the
files of ``plot``, ``compare`` and ``sensitivity``), named after the outcome (its declared
name, else its slug, as ``sensitivity`` does) and the condition
(``discover__tie_AZ_EU_mean_2024-2025_lt_0.3_box.csv``, ``features__eu_tie.csv``), so
that questions do not overwrite each other; a file made otherwise (another
``--threshold``, say) is refused unless ``--force``
(:func:`sim.outputs.analysis_files.open_analysis_dir`). Exit 0, or 2 on bad input.

``cli.py`` wires this in with :func:`add_commands` and :func:`dispatch`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.errors import UserError

#: The files of a PRIM box, after ``discover__<outcome>_<condition>_``.
PRIM_FILES = ("trajectory.csv", "tradeoff.png", "box.csv", "box.png")


def _density(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a density in (0, 1], got {text}")
    return value


def add_commands(sub) -> None:
    """Add ``discover`` to the CLI's subparsers ``sub``."""
    from sim.analysis.discover import BY, THRESHOLD

    d = sub.add_parser(
        "discover",
        help="scenario discovery (PRIM boxes) and feature scores over a batch's design",
        description="Which boxes of the batch's design inputs lead to an outcome of interest "
        "(PRIM, from EMA Workbench), and which inputs matter most for it (extra trees). "
        "Needs a batch with an lhs, sobol or grid design, and the optional extra "
        "`pip install 'multivector[discover]'`.",
    )
    d.add_argument("batch", help="a batch directory (multivector batch --out)")
    d.add_argument(
        "--outcome",
        required=True,
        metavar="TEXT",
        help="an outcome, e.g. 'tie AZ EU mean 2024..2025' or 'alignment_index AZ at "
        "2025-12-31', or the name of one the experiment file declares",
    )
    d.add_argument(
        "--where",
        metavar="COMPARISON",
        help="the cases of interest: '< X', '<= X', '> X' or '>= X' (quoted); finds PRIM "
        "boxes for them",
    )
    d.add_argument(
        "--features",
        action="store_true",
        help="rank the design parameters by extra-trees importance for the outcome (for the "
        "cases of interest when --where is given too)",
    )
    d.add_argument("--arm", help="the arm (default: the first)")
    d.add_argument(
        "--by",
        choices=BY,
        default="run",
        help="one case per run (default: densities are then chances per run, seed noise "
        "included) or per design point (the mean over its replicates)",
    )
    d.add_argument(
        "--threshold",
        type=_density,
        default=THRESHOLD,
        metavar="DENSITY",
        help=f"the chosen box: the largest coverage among the boxes with at least this "
        f"density (default {THRESHOLD}); the densest box when none reaches it",
    )
    d.add_argument("--out", help="directory for the files (default: BATCH/plots)")
    d.add_argument(
        "--force",
        action="store_true",
        help="replace files in --out made with other options (or not by these commands); "
        "an --out of another kind is replaced as a whole",
    )


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``discover`` and return its exit code; None when ``args`` is not it."""
    if getattr(args, "command", None) != "discover":
        return None
    return cmd_discover(args)


def cmd_discover(args: argparse.Namespace) -> int:
    """Run ``discover``: print the box (and scores), write the files."""
    from sim.analysis import discover as disc
    from sim.analysis.outcomes import label, slug
    from sim.batch import load
    from sim.outputs.analysis_files import open_analysis_dir

    if not args.where and not args.features:
        raise UserError(
            "discover: say what to find: --where '< X' (PRIM boxes for the runs whose "
            "outcome meets it), --features (which inputs matter), or both"
        )
    condition = disc.parse_condition(args.where) if args.where else None
    result = load(args.batch)
    cases = disc.batch_cases(result, args.outcome, arm=args.arm, by=args.by)
    several_arms = len(result.arms) > 1
    stem = disc.file_stem(
        cases.outcome.name or slug(cases.outcome),  # as compare and sensitivity name files
        condition,
        arm=cases.arm if several_arms else None,
        by="point" if args.by == "point" else None,
    )
    title = label(cases.outcome) + (f" {condition.text}" if condition else "")
    if several_arms:
        title += f" ({cases.arm})"
    y = disc.of_interest(cases, condition) if condition else None
    prim_names = [f"discover__{stem}_{part}" for part in PRIM_FILES] if condition else []
    feature_names = [f"features__{stem}.{ext}" for ext in ("csv", "png")] if args.features else []

    out = Path(args.out) if args.out else Path(args.batch) / "plots"
    exp = result.manifest.get("experiment") or {}
    record = {
        "command": "discover",
        "arguments": {
            "outcome": cases.outcome.name or cases.outcome.canonical,
            "where": condition.text if condition else None,
            "arm": cases.arm,
            "by": args.by,
            "threshold": args.threshold if condition else None,
        },
        "batch": {"experiment": exp.get("name"), "content_hash": exp.get("content_hash")},
        "outcome": {"name": cases.outcome.name, "text": cases.outcome.canonical},
    }
    names = prim_names + feature_names
    target = open_analysis_dir(out, names, record, force=args.force, inputs=[args.batch])
    from sim.tools.cli import _refuse_if_batch_running

    _refuse_if_batch_running(out, args.force)

    _print_plan(result, cases, condition, y)
    products: dict = {}
    t0 = time.perf_counter()
    if condition is not None:
        products |= _prim_products(disc.prim(cases.x, y, threshold=args.threshold),
                                   cases, condition, title, prim_names)  # fmt: skip
    if args.features:
        products |= _feature_products(args, result, cases, condition, y, title, feature_names)
    print(f"({time.perf_counter() - t0:.1f} s)")
    written = target.write(products)
    print(f"\nwrote {', '.join(written)} to {out}/")
    return 0


def _prim_products(found, cases, condition, title: str, names: list[str]) -> dict:
    """Print a PRIM box; its table and figure makers, by file name."""
    from sim.analysis import discover as disc

    print(f"\nPRIM box for {cases.text} {condition.text}:")
    print(found.text())
    restricted = found.limits[found.limits["restricted"]]
    if len(restricted):
        print(restricted.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    makers = (
        _table(found.trajectory),
        _figure(lambda: disc.tradeoff_figure(found, title)),
        _table(found.limits),
        _figure(lambda: disc.box_figure(found, title)),
    )
    return dict(zip(names, makers, strict=True))


def _feature_products(args, result, cases, condition, y, title: str, names: list[str]) -> dict:
    """Print the inputs' feature scores; their table and figure makers, by file name."""
    from sim.analysis import discover as disc

    scores = disc.feature_scores(
        cases.x,
        cases.y if condition is None else y,
        classify=condition is not None,
        seed=disc.analysis_seed(result.manifest["root_seed"]),
    )
    print(f"\nFeature scores for {title} ({scores.kind}, extra trees):")
    print(scores.text())
    if args.by == "run" and int(result.manifest.get("replicates") or 1) > 1:
        print(
            "  (optimistic: a run's replicates share its inputs and are often in the bag; "
            "--by point gives a fair out-of-bag score)"
        )
    makers = (_table(scores.table), _figure(lambda: disc.scores_figure(scores, title)))
    return dict(zip(names, makers, strict=True))


def _print_plan(result, cases, condition, y) -> None:
    n, unit = len(cases.y), cases.by
    how = "one case per run" if unit == "run" else "one case per design point (replicate mean)"
    print(
        f"{result.path}: {cases.text}: {n:,} {unit}s of arm {cases.arm!r}, {how}, over "
        f"{cases.x.shape[1]} design parameters"
    )
    if cases.left_out:
        print(f"  {cases.left_out:,} runs left out: {cases.text} is undefined (NaN) in them")
    runs = result.runs[result.runs["arm"] == cases.arm]
    missing = int((runs["status"] != "ok").sum())
    if missing:
        print(f"  {missing:,} runs failed or not finished: left out")
    if condition is not None:
        k = int(y.sum())
        print(f"  cases of interest ({condition.text}): {k:,} ({k / n:.1%})")
    sys.stdout.flush()


def _figure(make):
    """A product that makes a figure when it is written, and saves it."""
    from sim.outputs.files import write_figure

    return lambda path: write_figure(make(), path, dpi=110)


def _table(table):
    """A product that writes ``table`` as CSV."""
    return lambda path: table.to_csv(path, index=False)
