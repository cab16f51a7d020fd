"""The ``multivector`` command line (also ``python -m sim``).

Bad input (a scenario, an argument, an output path) ends with one clear message on
stderr and exit code 2; nothing is left half-written. So does any ``OSError`` (a full
disk, a read-only or busy directory, a file-size limit): the message names the path and
the cause.

Outputs never destroy work: ``--out`` replaces only an earlier output of the same kind
that holds nothing else (:func:`sim.outputs.files.check_out_dir`); anything else needs
``--force``. Every numeric option has limits, stated in ``--help`` and checked when the
command line is read (exit 2): ``--seed`` 0 to 2**63 - 1, ``--replicates`` up to
:data:`MAX_REPLICATES`, ``--seeds`` :data:`MIN_SEEDS` to :data:`MAX_SEEDS`, ``--workers``
and ``--dask-local`` up to :data:`WORKERS_PER_CORE` per core, ``--chunk-size`` up to
:data:`MAX_CHUNK_SIZE`, ``--scheduler-timeout`` up to :data:`MAX_SCHEDULER_TIMEOUT`
seconds, ``--port`` 1 to 65535.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from sim.errors import OutputError, UserError, os_error_cause, os_error_text
from sim.outputs.run_files import FORMATS
from sim.tools import (
    cli_analysis,
    cli_calibration,
    cli_classroom,
    cli_data,
    cli_discover,
    cli_effects,
    cli_expert,
    cli_new,
    cli_validate,
)

#: The most replicates of one ``run --replicates`` (their index arrays are also checked
#: against the memory available before anything runs).
MAX_REPLICATES = 1_000_000
#: ``validate --seeds``: the range of ``validation.seeds`` in a scenario file.
MIN_SEEDS, MAX_SEEDS = 2, 100_000
#: ``batch --chunk-size``: the cap of the automatic chunk size.
MAX_CHUNK_SIZE = 20_000
#: ``batch --scheduler-timeout``, seconds.
MAX_SCHEDULER_TIMEOUT = 3600
#: Worker processes per core, at most (``batch --workers``, ``--dask-local``).
WORKERS_PER_CORE = 4
#: Digits beyond which a number is not even parsed (a clear message, not a long echo).
_MAX_DIGITS = 24


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def max_workers() -> int:
    """The most local worker processes a batch may ask for: 4 per core."""
    return WORKERS_PER_CORE * cores()


def whole_number(lo: int, hi: int, hi_text: str | None = None):
    """An argparse ``type``: a whole number from ``lo`` to ``hi``; anything else (a
    fraction, ``1e400``, a number of hundreds of digits) is an argument error (exit 2)."""
    span = f"from {lo:,} to {hi_text or format(hi, ',')}"

    def parse(text: str) -> int:
        digits = text.strip().lstrip("+-")
        if digits.isdigit() and len(digits) > _MAX_DIGITS:
            raise argparse.ArgumentTypeError(
                f"expected a whole number {span}, got a number of {len(digits)} digits"
            )
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number {span}, got {text!r}"
            ) from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {v:,}")
        return v

    parse.__name__ = "whole number"
    return parse


_seed = whole_number(0, 2**63 - 1, "2**63 - 1")
_port = whole_number(1, 65535)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


_FORCE_RUN = (
    "replace what --out holds even if it is not an earlier output of this command "
    "(another kind of output, a batch store, files of your own): without it such an --out "
    "is refused. Never the current directory, its parents, the home directory or an input"
)


def _force(parser, text: str = _FORCE_RUN) -> None:
    parser.add_argument("--force", action="store_true", help=text)


class _Version(argparse.Action):
    """``--version``: the package version and the git commit of the code, then exit."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def analysis_outputs(parser, files: str, quiet: str = "no progress or timing lines") -> None:
    """``--out DIR``, ``--force`` and ``--quiet`` of a command that prints a table and may
    also write ``files`` (e.g. "expert.csv and expert.md") into an analysis directory
    (:func:`sim.outputs.analysis_files.open_analysis_dir`)."""
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"also write {files} here (its parent must exist): new, empty, or a directory "
        "of figures and tables",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"replace {files} made with other arguments (or not by this command); a "
        "directory of another kind is replaced as a whole",
    )
    parser.add_argument("--quiet", action="store_true", help=quiet)


def version_text() -> str:
    """``multivector VERSION (git COMMIT)``, or without the commit outside a checkout."""
    from sim.outputs.manifest import versions

    v = versions()
    commit = v.get("git_commit")
    return f"multivector {v.get('multivector') or 'unknown'}" + (
        f" (git {commit})" if commit else ""
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, in the order ``--help`` lists them."""
    p = argparse.ArgumentParser(
        prog="multivector",
        description="Strategic balancing: small states between great powers (agent-based).",
    )
    p.add_argument(
        "--version", action=_Version, help="print the version and the git commit, and exit"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_command(sub)
    _add_scenario_commands(sub)
    cli_new.add_commands(sub)
    _add_batch_command(sub)
    cli_analysis.add_commands(sub)
    cli_discover.add_commands(sub)
    cli_calibration.add_commands(sub)
    cli_expert.add_commands(sub)
    cli_effects.add_commands(sub)
    cli_data.add_commands(sub)
    _add_app_command(sub)
    cli_classroom.add_commands(sub)
    return p


def _add_run_command(sub) -> None:
    """``run``: one run, or replicates with ``--replicates``."""
    r = sub.add_parser("run", help="run a scenario once and write its tables and plot")
    r.add_argument("scenario", help="scenario file (YAML)")
    r.add_argument("--seed", type=_seed, default=0, help="random seed, 0 to 2**63 - 1 (default 0)")
    r.add_argument(
        "--out",
        required=True,
        help="output directory (created with any missing parents): new, empty, or an "
        "earlier output of the same command, which is replaced",
    )
    _force(r)
    r.add_argument(
        "--shock-off",
        action="append",
        default=[],
        metavar="ID",
        help="switch a shock off (repeatable)",
    )
    r.add_argument(
        "--replicates",
        type=whole_number(1, MAX_REPLICATES),
        default=None,
        metavar="R",
        help="run R replicates with seeds SEED .. SEED+R-1 in one vectorized pass "
        "(replicate k equals `run --seed SEED+k`); writes indices, shocks, a fan chart. "
        f"R from 1 to {MAX_REPLICATES:,}, and its index arrays (2 x R x dates x states "
        "float32) must fit in the memory available",
    )
    r.add_argument(
        "--keep",
        choices=("indices", "ties"),
        default=None,
        help="with --replicates: the tables to write (default indices; ties adds the tie table)",
    )
    r.add_argument(
        "--date",
        type=_date,
        action="append",
        default=None,
        metavar="YYYY-MM-DD",
        help="with --replicates: keep only the records of these dates (repeatable)",
    )
    r.add_argument(
        "--inputs",
        choices=("fixed", "prior"),
        default="fixed",
        help="with --replicates: 'prior' draws each replicate's uncertain inputs from their "
        "ranges (from its seed), so the bands carry input uncertainty; the draws go to "
        "inputs.parquet (default: fixed, the file's values)",
    )
    r.add_argument(
        "--format",
        choices=FORMATS,
        default="parquet",
        help="the tables' format: parquet (default) or csv (the same columns, written "
        "instead of the Parquet files: ties.csv, indices.csv, shocks.csv, ...)",
    )
    r.add_argument("--quiet", action="store_true", help="print nothing on success")


def _add_scenario_commands(sub) -> None:
    """``explain``, ``validate`` and ``check``: questions about one scenario."""
    e = sub.add_parser("explain", help="why a state moved: its candidates and their payoffs")
    e.add_argument("scenario")
    e.add_argument("--seed", type=_seed, default=0, help="0 to 2**63 - 1 (default 0)")
    e.add_argument("--state", required=True, help="state id, e.g. AZ")
    e.add_argument(
        "--date", type=_date, required=True, help="a date in the period to explain (YYYY-MM-DD)"
    )
    e.add_argument("--shock-off", action="append", default=[], metavar="ID")
    e.add_argument("--all", action="store_true", help="list every candidate, not a summary")

    cli_validate.add_validate(sub)
    cli_validate.add_screen(sub)

    c = sub.add_parser("check", help="only load and validate a scenario file (no run)")
    c.add_argument("scenario", nargs="+")
    c.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also list the states and the shocks (ids for --shock-off)",
    )


def _add_batch_command(sub) -> None:
    """``batch``: an experiment into a resumable result store."""
    b = sub.add_parser(
        "batch",
        help="run an experiment (designs, seeds, arms) into a resumable result store",
        description="Run an experiment file into --out. Rerunning the same command on the "
        "same --out resumes: finished chunks are kept. An --out that holds anything else "
        "is refused unless --force. With --shard K/M, run only the K-th of M slices of the "
        "runs into --out/shard-K-of-M/ (one task of a cluster array job; sim.batch.load "
        "reads the union of the shards). Exit code 1 if some runs failed (they are "
        "recorded as data), 2 for bad input or a file that cannot be written.",
    )
    b.add_argument("experiment", help="experiment file (YAML)")
    b.add_argument(
        "--out",
        required=True,
        help="batch directory: created (with any missing parents), or resumed when it "
        "holds a batch of this experiment",
    )
    b.add_argument(
        "--force",
        action="store_true",
        help="replace what --out holds when it is not a batch of this experiment (another "
        "experiment's batch, another kind of output, files of your own) with a new batch; "
        "a batch of this same experiment is still resumed, never discarded. With --shard, "
        "only the shard's own folder is replaced; a directory of shards is never replaced",
    )

    def shard(text: str):
        from sim.batch.shards import Shard

        try:
            return Shard.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    b.add_argument(
        "--shard",
        type=shard,
        default=None,
        metavar="K/M",
        help="run only shard K of M (1 <= K <= M <= 100,000): the K-th of M contiguous "
        "slices of the runs, into --out/shard-K-of-M/, a store of its own (rerun the same "
        "command to resume it); e.g. --shard ${SLURM_ARRAY_TASK_ID}/8 in a SLURM array job",
    )
    most = max_workers()
    b.add_argument(
        "--workers",
        type=whole_number(1, most, f"{most} ({WORKERS_PER_CORE} per core here)"),
        default=None,
        help="local worker processes (default: all cores; 1 runs in this process); "
        f"at most {WORKERS_PER_CORE} per core ({most} here)",
    )
    b.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use this Dask scheduler")
    b.add_argument(
        "--dask-local",
        type=whole_number(1, most, f"{most} ({WORKERS_PER_CORE} per core here)"),
        metavar="N",
        help=f"start a Dask LocalCluster of N workers (at most {most} here: "
        f"{WORKERS_PER_CORE} per core)",
    )
    b.add_argument(
        "--scheduler-timeout",
        type=whole_number(1, MAX_SCHEDULER_TIMEOUT),
        default=10,
        metavar="S",
        help=f"seconds to wait for the Dask scheduler, 1 to {MAX_SCHEDULER_TIMEOUT} (default 10)",
    )
    b.add_argument(
        "--chunk-size",
        type=whole_number(1, MAX_CHUNK_SIZE),
        default=None,
        help="runs per task, 1 to 20,000 (default: about 1 s of work, 2 s with --workers 1; "
        "timed at the start)",
    )
    b.add_argument("--quiet", action="store_true", help="no progress, no summary")


def _add_app_command(sub) -> None:
    """``app``: the classroom dashboard."""
    a = sub.add_parser(
        "app",
        help="the classroom dashboard in the browser (offline)",
        description="Serve the classroom dashboard (Mesa SolaraViz) on this machine. Nothing "
        "is fetched from the internet. Open the address it prints in a browser.",
    )
    a.add_argument(
        "scenario", nargs="?", default=None, help="scenario to start with (default: the baseline)"
    )
    a.add_argument("--port", type=_port, default=8765, help="port, 1 to 65535 (default: 8765)")
    a.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 shares it on the classroom network)",
    )
    a.add_argument("--open", action="store_true", help="open a browser tab too")


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv``); returns the exit code: 0 ok,
    1 failed runs or checks (or a bug), 2 bad input or a file that cannot be written,
    130 interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the disk, not the code: a full disk, read-only, busy, ...
        if os.environ.get("MULTIVECTOR_DEBUG"):
            raise
        print(f"error: {os_error_text(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: say so plainly
        if os.environ.get("MULTIVECTOR_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in Multivector, not in your input. Rerun with MULTIVECTOR_DEBUG=1 "
            "for the traceback and report it.",
            file=sys.stderr,
        )
        return 1


def _dispatch(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files, never windows (a notebook keeps its own backend)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "explain":
        return _cmd_explain(args)
    if args.command == "validate":
        return cli_validate.cmd_validate(args)
    if args.command == "screen":
        return cli_validate.cmd_screen(args)
    if args.command == "check":
        return _cmd_check(args)
    if args.command == "batch":
        return _cmd_batch(args)
    if args.command == "app":
        return _cmd_app(args)
    for module in (
        cli_new,
        cli_analysis,
        cli_discover,
        cli_calibration,
        cli_expert,
        cli_effects,
        cli_data,
        cli_classroom,
    ):
        code = module.dispatch(args)
        if code is not None:
            return code
    raise AssertionError(args.command)


def _cmd_app(args) -> int:
    from sim.app.classroom import DEFAULT_SCENARIO
    from sim.scenario import load_scenario

    path = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    load_scenario(path)  # a bad file is reported here, not in the browser
    from sim.app.serve import serve

    serve(path, args.host, args.port, args.open)
    return 0  # not reached: serve replaces the process


def _cmd_run(args) -> int:
    from sim.drivers.run import run
    from sim.outputs.files import check_out_dir
    from sim.outputs.kinds import ENSEMBLE, RUN
    from sim.outputs.summary import run_summary
    from sim.scenario import load_scenario

    kind = RUN if args.replicates is None else ENSEMBLE
    check_out_dir(args.out, kind, force=args.force, inputs=[args.scenario])
    if args.replicates is None and (args.keep or args.date):
        raise UserError("--keep and --date go with --replicates R (a single run keeps all)")
    if args.replicates is None and args.inputs != "fixed":
        raise UserError(
            "--inputs prior goes with --replicates R (a single run uses the file's values; "
            "draw one set with --replicates 1)"
        )
    scenario = load_scenario(args.scenario)
    _refuse_if_batch_running(args.out, args.force)
    if args.replicates is not None:
        return _run_replicates(args, scenario)
    t0 = time.perf_counter()
    result = run(scenario, seed=args.seed, shocks_off=args.shock_off)
    out = result.save(args.out, force=args.force, format=args.format)
    if not args.quiet:
        print(run_summary(result))
        tables = f"ties.{args.format}, indices.{args.format}"
        print(
            f"wrote {out}/ ({tables}, manifest.json, alignment.png) "
            f"in {time.perf_counter() - t0:.2f} s"
        )
    return 0


def _run_replicates(args, scenario) -> int:
    from sim.outputs.ensemble_files import save_ensemble
    from sim.outputs.summary import ensemble_summary

    if args.seed + args.replicates - 1 >= 2**63:
        raise UserError(f"--seed {args.seed} --replicates {args.replicates}: seeds pass 2**63 - 1")
    seeds = list(range(args.seed, args.seed + args.replicates))
    saved = save_ensemble(
        scenario,
        seeds,
        args.out,
        keep=args.keep or "indices",
        dates=args.date,
        shocks_off=args.shock_off,
        progress=None if args.quiet else progress_callback("run --replicates"),
        force=args.force,
        inputs=args.inputs,
        format=args.format,
    )
    if not args.quiet:
        print(ensemble_summary(saved))
        print(f"wrote {saved.out}/ ({', '.join(saved.files)})")
    return 0


def _refuse_if_batch_running(out: str | Path, force: bool) -> None:
    """With ``--force`` over a batch store: refuse while a batch is writing it (its
    lock is held), naming that batch."""
    from sim.outputs.files import out_target
    from sim.outputs.kinds import BATCH, inspect_dir

    contents = inspect_dir(out_target(out))
    if not force or contents.kind != BATCH:
        return
    from sim.batch.lock import StoreLock

    for store in [Path(out), *(Path(out) / s for s in contents.shards)]:  # each shard's lock
        with StoreLock(store):
            pass


def progress_callback(label: str, unit: str = "run"):
    """The progress of every long command, in one style: a callback fed (done, total)
    after each chunk that shows a tqdm bar on a terminal and plain lines otherwise (every
    5 seconds and at the end), as ``batch`` does (:class:`sim.batch.progress.Progress`).
    Nothing shows before the first chunk, so argument errors come without a bar; the rate
    counts from this call, so a first chunk that is the whole work does not read as done
    in no time."""
    from sim.batch.progress import Progress

    class _Labelled(Progress):
        def line(self) -> str:
            return f"{label}:" + super().line().partition(":")[2].replace(" runs", f" {unit}s")

    shown: list[Progress] = []
    started = time.perf_counter()

    def update(done: int, total: int) -> None:
        if not shown:
            shown.append(_Labelled(total, started=started))
            if shown[0].bar is not None:
                shown[0].bar.unit = unit
        bar = shown[0]
        bar.update(done - bar.done)
        if done >= total:
            bar.close()

    return update


def _cmd_explain(args) -> int:
    from sim.analysis.explain import explain_text
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    print(explain_text(scenario, args.seed, args.state, args.date, args.shock_off, args.all))
    return 0


def _cmd_check(args) -> int:
    from sim.scenario import load_scenario

    failed = 0
    for path in args.scenario:
        try:
            s = load_scenario(path)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(
            f"{Path(path)}: ok ({s.name}; {len(s.state_ids)} states, {len(s.spec.shocks)} shocks)"
        )
        if args.verbose:
            print(f"  states: {', '.join(f'{k} ({v.name})' for k, v in s.spec.states.items())}")
            for sid, sh in s.spec.shocks.items():
                when = sh.date.isoformat() if sh.date else f"p={sh.probability.value:g}/step"
                print(f"  shock {sid:<26} {when:<14} {sh.label}")
    return 2 if failed else 0


def _cmd_batch(args) -> int:
    from sim.batch import load_experiment, run
    from sim.batch.driver import check_out
    from sim.outputs.files import make_parents, out_target

    # the arguments first, before the experiment file is read (run checks them again)
    check_out(args.out, args.shard, force=args.force, inputs=[args.experiment])
    experiment = load_experiment(args.experiment)
    if args.shard is None:  # a shard's directory is made by run, racing other shards
        make_parents(out_target(args.out))  # the store's lock lives beside it
    try:
        summary = run(
            experiment,
            args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            dask_local=args.dask_local,
            scheduler_timeout=args.scheduler_timeout,
            chunk_size=args.chunk_size,
            progress=not args.quiet,
            force=args.force,
            shard=args.shard,
        )
    except OSError as exc:
        at = f" (at {exc.filename})" if exc.filename else ""
        raise OutputError(
            f"--out {args.out}: {os_error_cause(exc)}{at}; the chunks finished so far are "
            "kept: fix the cause and rerun the same command to resume"
        ) from None
    if not args.quiet:
        print(summary.text())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
