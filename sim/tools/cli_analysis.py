"""``plot``, ``compare`` and ``sensitivity``: the figures and tables of a batch.

``compare`` and ``sensitivity`` measure *outcomes* (:mod:`sim.analysis.outcomes`):
``--outcome NAME`` (declared under ``outcomes:`` in the experiment file) or ``--outcome
TEXT`` (``"tie AZ EU mean 2023..2025"``, ``"alignment_index AZ at 2030-12-31"``). Their
files are named after the outcome (``compare_BASE_vs_VARIANT__OUTCOME.csv`` and
``.png``, ``sensitivity__OUTCOME.csv`` and ``.png``, OUTCOME the declared name or
:func:`~sim.analysis.outcomes.slug` of the text), and each CSV carries the outcome's text
in a column, so two outcomes never share a file. ``compare --index`` (with ``--state``
and ``--date``) is the earlier form, kept and deprecated: the outcomes ``INDEX STATE at
DATE``, one table and one figure over time, ``compare_BASE_vs_VARIANT__INDEX``.

The files go into an analysis directory (``--out``, default ``BATCH/plots``) whose
manifest records what made each file: a file of the same name is replaced only when the
same command with the same arguments made it, otherwise refused unless ``--force``
(:func:`sim.outputs.analysis_files.open_analysis_dir`; exit 2, naming the file).

``cli.py`` wires this in with :func:`add_commands` and :func:`dispatch`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from sim.errors import UserError

#: The commands this module defines.
COMMANDS = ("plot", "compare", "sensitivity")

_FORCE = (
    "replace files in --out that were made with other arguments (or not by these "
    "commands); an --out that is not a directory of figures and tables (another kind of "
    "output, files of your own) is replaced as a whole. Without it both are refused"
)
_OUTCOME_HELP = (
    "a name the experiment file declares under `outcomes:`, or an outcome text: "
    "'tie STATE PARTNER WHEN', 'INDEX STATE WHEN' (alignment_index, hedging_index), "
    "'TERM STATE WHEN' (energy, security, alignment, cost, utility), 'pole STATE POLE "
    "WHEN', or 'change X FIRST..LAST -> FIRST..LAST'; WHEN is 'at YYYY-MM-DD' or 'mean "
    "FIRST..LAST' (years or dates), e.g. 'tie AZ EU mean 2023..2025'"
)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def add_commands(sub) -> None:
    """Add ``plot``, ``compare`` and ``sensitivity`` to the CLI's subparsers ``sub``."""
    pl = sub.add_parser("plot", help="fan charts and distributions of a batch")
    pl.add_argument("batch", help="a batch directory (multivector batch --out)")
    pl.add_argument("--out", help="directory for the figures (default: BATCH/plots)")
    pl.add_argument("--force", action="store_true", help=_FORCE)
    pl.add_argument("--state", action="append", default=[], help="states to show (repeatable)")
    pl.add_argument(
        "--date",
        type=_date,
        action="append",
        default=[],
        help="dates for the distributions (repeatable; default: the last record)",
    )

    cm = sub.add_parser(
        "compare",
        help="a counterfactual arm against a baseline, paired by seed",
        description="The paired difference (variant minus baseline, same seeds) of "
        "outcomes: its mean with a 95% paired-t interval, median and share of pairs "
        "higher. Files: compare_BASE_vs_VARIANT__OUTCOME.csv and .png per outcome.",
    )
    cm.add_argument("batch", help="a batch directory (multivector batch --out)")
    cm.add_argument("--baseline", required=True, help="arm name")
    cm.add_argument("--variant", required=True, help="arm name")
    cm.add_argument(
        "--outcome",
        action="append",
        default=[],
        metavar="NAME|TEXT",
        help=_OUTCOME_HELP + " (repeatable: one table and figure each)",
    )
    cm.add_argument(
        "--index",
        default=None,
        help="deprecated (use --outcome 'INDEX STATE at DATE'): an index, compared at each "
        "--date for each --state; the default without --outcome: alignment_index",
    )
    cm.add_argument(
        "--state", action="append", default=[], help="with --index: states (repeatable)"
    )
    cm.add_argument(
        "--date",
        type=_date,
        action="append",
        default=[],
        help="with --index: effect dates (repeatable; default: the last record)",
    )
    cm.add_argument("--out", help="directory for the figures and tables (default: BATCH/plots)")
    cm.add_argument("--force", action="store_true", help=_FORCE)

    se = sub.add_parser(
        "sensitivity",
        help="Sobol indices of an outcome (Sobol designs)",
        description="First-order and total Sobol indices of an outcome over the batch's "
        "design parameters. Files: sensitivity__OUTCOME.csv and .png.",
    )
    se.add_argument("batch", help="a batch directory (multivector batch --out)")
    se.add_argument("--outcome", required=True, metavar="NAME|TEXT", help=_OUTCOME_HELP)
    se.add_argument("--arm", help="arm (default: the first)")
    se.add_argument("--out", help="directory for the figure and table (default: BATCH/plots)")
    se.add_argument("--force", action="store_true", help=_FORCE)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``plot``, ``compare`` or ``sensitivity``; ``None`` when ``args`` is another
    command."""
    if getattr(args, "command", None) not in COMMANDS:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files, never windows
    return cmd_analyse(args)


def cmd_analyse(args: argparse.Namespace) -> int:
    """Measure, print, and write the files (refusing to replace files made otherwise)."""
    from sim.batch import load
    from sim.outputs.analysis_files import open_analysis_dir

    result = load(args.batch, ties=False)
    out = Path(args.out) if args.out else Path(args.batch) / "plots"
    per_file: dict[str, dict] = {}
    if args.command == "plot":
        products, text, arguments = plot_products(args, result)
    elif args.command == "compare":
        products, text, arguments, per_file = compare_products(args, result)
    else:
        products, text, arguments, per_file = sensitivity_products(args, result)
    exp = result.manifest.get("experiment") or {}
    record = {
        "command": args.command,
        "arguments": arguments,
        "batch": {"experiment": exp.get("name"), "content_hash": exp.get("content_hash")},
    }
    target = open_analysis_dir(
        out, list(products), record, force=args.force, inputs=[args.batch], per_file=per_file
    )
    from sim.tools.cli import _refuse_if_batch_running

    _refuse_if_batch_running(out, args.force)
    if text:
        print(text)
    names = target.write(products)
    print(f"wrote {', '.join(names)} to {out}/")
    return 0


def _figure(make):
    """A product that makes a figure (only when it is written: a refused command makes
    none) and saves it."""
    from sim.outputs.files import write_figure

    return lambda path: write_figure(make(), path, dpi=110)


def _table(table):
    """A product that writes ``table`` as CSV."""
    return lambda path: table.to_csv(path, index=False)


def plot_products(args, result):
    """``plot``: fan charts of both indices, distributions of the alignment index."""
    from sim.batch import analysis, plots

    states = analysis.check_states(result, args.state)
    products = {}
    for index in ("alignment_index", "hedging_index"):
        products[f"fan_{index}.png"] = _figure(
            lambda index=index: plots.fan_chart(result, index, states)
        )
    for state in states if args.state else states[:1]:
        products[f"distributions_{state}.png"] = _figure(
            lambda state=state: plots.distributions(result, args.date, "alignment_index", state)
        )
    dates = [d.isoformat() for d in args.date]
    return products, "", {"state": list(args.state), "date": dates}


def outcomes_of(result, texts: list[str]):
    """The outcomes asked for (names or texts, in order, repeats dropped), and the batch
    with its tie table when one of them needs it."""
    from sim.batch import analysis, load

    parsed = []
    for text in dict.fromkeys(texts):
        parsed.append(analysis.parse_outcome(text, result))
    if any(o.needs_ties for o in parsed) and result.manifest.get("keep") == "ties":
        result = load(result.path)
    return parsed, result


def file_stem(outcome) -> str:
    """The outcome's part of a file name: its declared name, else its slug."""
    from sim.analysis.outcomes import slug

    return outcome.name or slug(outcome)


def outcome_record(outcome, **arguments) -> dict:
    """What made one outcome's files: the arguments (the outcome as given: a declared
    name, else the canonical text) and the outcome's name and text."""
    return {
        "arguments": {**arguments, "outcome": outcome.name or outcome.canonical},
        "outcome": {"name": outcome.name, "text": outcome.canonical},
    }


def compare_products(args, result):
    """``compare``: per outcome a table and a figure; or, in the deprecated ``--index``
    form, one table and one figure over time for the index."""
    import pandas as pd

    from sim.batch import analysis, plots

    legacy = bool(args.index or args.state or args.date)
    if args.outcome and legacy:
        raise UserError(
            "--outcome measures its own state and date: give --outcome alone, or the "
            "deprecated --index/--state/--date alone (as --outcome 'INDEX STATE at DATE')"
        )
    for option, arm in (("--baseline", args.baseline), ("--variant", args.variant)):
        analysis.check_arm(result, arm, option)
    if args.baseline == args.variant:
        raise UserError("--baseline and --variant name the same arm; compare two different arms")
    stem = f"compare_{args.baseline}_vs_{args.variant}"
    if not args.outcome:
        return _compare_index(args, result, stem)
    outcomes, result = outcomes_of(result, args.outcome)
    products, per_file, tables = {}, {}, []
    for o in outcomes:
        table = analysis.effects(result, args.baseline, args.variant, outcomes=[o])
        tables.append(table)
        name = f"{stem}__{file_stem(o)}"
        products[f"{name}.png"] = _figure(
            lambda o=o: plots.compare_outcome_figure(result, args.baseline, args.variant, o)
        )
        products[f"{name}.csv"] = _table(table)
        record = outcome_record(o, baseline=args.baseline, variant=args.variant)
        per_file[f"{name}.png"] = per_file[f"{name}.csv"] = record
    table = pd.concat(tables, ignore_index=True)
    columns = ["name", "outcome"] if (table["name"] != "").any() else ["outcome"]
    text = f"{args.variant} minus {args.baseline}, paired by seed\n" + _effects_text(
        table[[*columns, *_EFFECT_COLUMNS]]
    )
    arguments = {
        "baseline": args.baseline,
        "variant": args.variant,
        "outcome": [file_stem(o) if o.name else o.canonical for o in outcomes],
    }
    return products, text, arguments, per_file


_EFFECT_COLUMNS = ["n", "mean", "ci_low", "ci_high", "sd", "median", "share_higher"]


def _effects_text(table) -> str:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        signed = {c: "{:+.4f}".format for c in ("mean", "ci_low", "ci_high", "median")}
        shares = {"sd": "{:.4f}".format, "share_higher": "{:.1%}".format}
        return table.to_string(index=False, formatters={**signed, **shares})


def _compare_index(args, result, stem: str):
    """The deprecated ``compare --index I --state S --date D``: the outcomes ``I S at D``
    in one table (state, date rows) and the figure of the index over time."""
    from sim.batch import analysis, plots

    index = args.index or "alignment_index"
    if args.index:
        print(
            f"note: --index is deprecated; the same outcomes are --outcome '{index} STATE at "
            "DATE' (one per state and date)",
            file=sys.stderr,
        )
    states = analysis.check_states(result, args.state)
    table = analysis.effects(result, args.baseline, args.variant, args.date, index, states)
    text = f"{args.variant} minus {args.baseline}: {index}, paired by seed\n" + _effects_text(
        table[["state", "date", *_EFFECT_COLUMNS]]
    )
    name = f"{stem}__{index}"
    products = {
        f"{name}.png": _figure(
            lambda: plots.compare_figure(result, args.baseline, args.variant, index, states)
        ),
        f"{name}.csv": _table(table),
    }
    arguments = {
        "baseline": args.baseline,
        "variant": args.variant,
        "index": index,
        "state": list(args.state),
        "date": [d.isoformat() for d in args.date],
    }
    return products, text, arguments, {}


def sensitivity_products(args, result):
    """``sensitivity``: the Sobol table and figure of one outcome."""
    from sim.batch import analysis, plots

    [o], result = outcomes_of(result, [args.outcome])
    table = analysis.sobol_indices(result, o, args.arm)
    text = f"Sobol indices of {o.canonical} (95% intervals, half-widths)\n" + table.to_string(
        index=False, float_format=lambda v: f"{v:.3f}"
    )
    csv = table.copy()
    csv.insert(0, "outcome", o.canonical)
    csv.insert(0, "name", o.name or "")
    name = f"sensitivity__{file_stem(o)}"
    products = {
        f"{name}.png": _figure(lambda: plots.sensitivity_figure(table, o)),
        f"{name}.csv": _table(csv),
    }
    record = outcome_record(o, arm=args.arm)
    per_file = {f"{name}.png": record, f"{name}.csv": record}
    return products, text, record["arguments"], per_file
