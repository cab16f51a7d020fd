"""``multivector data ...``: the observed data folder (see ``docs/DATA.md``).

``multivector data check [DIR]`` (or ``--data DIR``; default: the folder that
:func:`sim.observed.settings.resolve_data_dir` finds) prints, for each of the five
sources, whether it is present, whether its SHA-256 matches the folder's
``SHA256SUMS``, its rows and the years it covers. Exit 0 when all five are present and
match, 1 when some are missing or mismatched (the report names them), 2 when the folder
does not exist (a :class:`~sim.errors.UserError`, printed by the CLI).

``cli.py`` wires this in with :func:`add_commands` and :func:`dispatch`.
"""

from __future__ import annotations

import argparse

from sim.errors import UserError
from sim.observed.settings import resolve_data_dir
from sim.observed.sources import check_folder, format_report


def add_commands(sub) -> None:
    """Add ``data`` and its subcommands to the CLI's subparsers ``sub``."""
    data = sub.add_parser("data", help="the observed data folder (docs/DATA.md)")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    check = data_sub.add_parser(
        "check",
        help="check the observed data folder: files present, checksums, rows, years",
        description="Check the observed data folder against the five expected sources. "
        "Exit 0: all present and matching SHA256SUMS; 1: some missing or mismatched; "
        "2: the folder does not exist.",
    )
    check.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        help="the folder (default: --data, MULTIVECTOR_DATA, multivector.toml, or "
        "../shared/validation beside the repository)",
    )
    check.add_argument("--data", metavar="DIR", help="the folder (same as DIR)")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a ``data`` command and return its exit code; None when ``args`` is not one."""
    if getattr(args, "command", None) != "data":
        return None
    if args.data_command == "check":
        return _check(args)
    raise AssertionError(args.data_command)


def _check(args: argparse.Namespace) -> int:
    if args.dir and args.data and args.dir != args.data:
        raise UserError(f"two folders given: DIR {args.dir!r} and --data {args.data!r}")
    chosen = resolve_data_dir(args.dir or args.data)
    report = check_folder(chosen.path)
    print(f"data folder from {chosen.detail}")
    print(format_report(report))
    return 0 if report.ok else 1
