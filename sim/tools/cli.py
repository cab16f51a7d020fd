"""The ``multivector`` command line (also ``python -m sim``).

Bad input (a scenario, an argument, an output path) ends with one clear message on
stderr and exit code 2; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from sim.errors import UserError


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63 - 1, got {v}")
    return v


def _positive(text: str) -> int:
    v = _seed(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {v}")
    return v


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, in the order ``--help`` lists them."""
    p = argparse.ArgumentParser(
        prog="multivector",
        description="Strategic balancing: small states between great powers (agent-based).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_command(sub)
    _add_scenario_commands(sub)
    _add_batch_command(sub)
    _add_analysis_commands(sub)
    _add_app_command(sub)
    return p


def _add_run_command(sub) -> None:
    """``run``: one run, or replicates with ``--replicates``."""
    r = sub.add_parser("run", help="run a scenario once and write its tables and plot")
    r.add_argument("scenario", help="scenario file (YAML)")
    r.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    r.add_argument("--out", required=True, help="output directory (its parent must exist)")
    r.add_argument(
        "--shock-off",
        action="append",
        default=[],
        metavar="ID",
        help="switch a shock off (repeatable)",
    )
    r.add_argument(
        "--replicates",
        type=_positive,
        default=None,
        metavar="R",
        help="run R replicates with seeds SEED .. SEED+R-1 in one vectorized pass "
        "(replicate k equals `run --seed SEED+k`); writes indices, shocks, a fan chart",
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
    r.add_argument("--quiet", action="store_true", help="print nothing on success")


def _add_scenario_commands(sub) -> None:
    """``explain``, ``validate`` and ``check``: questions about one scenario."""
    e = sub.add_parser("explain", help="why a state moved: its candidates and their payoffs")
    e.add_argument("scenario")
    e.add_argument("--seed", type=_seed, default=0)
    e.add_argument("--state", required=True, help="state id, e.g. AZ")
    e.add_argument(
        "--date", type=_date, required=True, help="a date in the period to explain (YYYY-MM-DD)"
    )
    e.add_argument("--shock-off", action="append", default=[], metavar="ID")
    e.add_argument("--all", action="store_true", help="list every candidate, not a summary")

    v = sub.add_parser("validate", help="check the scenario's stylised facts over many seeds")
    v.add_argument("scenario")
    v.add_argument(
        "--seeds",
        type=_positive,
        default=None,
        help="number of seeds (default: the scenario's validation.seeds)",
    )
    v.add_argument("--quiet", action="store_true", help="no progress lines")

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
        "same --out resumes: finished chunks are kept. Exit code 1 if some runs failed "
        "(they are recorded as data), 2 for bad input.",
    )
    b.add_argument("experiment", help="experiment file (YAML)")
    b.add_argument("--out", required=True, help="batch directory (created, or resumed)")
    b.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="local worker processes (default: all cores; 1 runs in this process)",
    )
    b.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use this Dask scheduler")
    b.add_argument(
        "--dask-local", type=_positive, metavar="N", help="start a Dask LocalCluster of N workers"
    )
    b.add_argument(
        "--scheduler-timeout",
        type=_positive,
        default=10,
        metavar="S",
        help="seconds to wait for the Dask scheduler (default 10)",
    )
    b.add_argument(
        "--chunk-size",
        type=_positive,
        default=None,
        help="runs per task (default: about 1 s of work, 2 s with --workers 1; timed at the start)",
    )
    b.add_argument("--quiet", action="store_true", help="no progress, no summary")


def _add_analysis_commands(sub) -> None:
    """``plot``, ``compare`` and ``sensitivity``: figures and tables of a batch."""
    pl = sub.add_parser("plot", help="fan charts and distributions of a batch")
    pl.add_argument("batch", help="a batch directory (multivector batch --out)")
    pl.add_argument("--out", help="directory for the figures (default: BATCH/plots)")
    pl.add_argument("--state", action="append", default=[], help="states to show (repeatable)")
    pl.add_argument(
        "--date",
        type=_date,
        action="append",
        default=[],
        help="dates for the distributions (repeatable; default: the last record)",
    )

    cm = sub.add_parser("compare", help="a counterfactual arm against a baseline, paired by seed")
    cm.add_argument("batch")
    cm.add_argument("--baseline", required=True, help="arm name")
    cm.add_argument("--variant", required=True, help="arm name")
    cm.add_argument("--index", default="alignment_index", help="default alignment_index")
    cm.add_argument("--state", action="append", default=[], help="states (repeatable)")
    cm.add_argument(
        "--date", type=_date, action="append", default=[], help="effect dates (repeatable)"
    )
    cm.add_argument("--out", help="directory for the figure and table (default: BATCH/plots)")

    se = sub.add_parser("sensitivity", help="Sobol indices of an outcome (Sobol designs)")
    se.add_argument("batch")
    se.add_argument("--outcome", required=True, help='e.g. "AZ alignment_index at 2030-12-31"')
    se.add_argument("--arm", help="arm (default: the first)")
    se.add_argument("--out", help="directory for the figure and table (default: BATCH/plots)")


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
    a.add_argument("--port", type=_port, default=8765, help="port (default: 8765)")
    a.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 shares it on the classroom network)",
    )
    a.add_argument("--open", action="store_true", help="open a browser tab too")


def _port(text: str) -> int:
    v = _seed(text)
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {v}")
    return v


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv``); returns the exit code: 0 ok,
    1 failed runs or checks (or a bug), 2 bad input, 130 interrupted."""
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
        return _cmd_validate(args)
    if args.command == "check":
        return _cmd_check(args)
    if args.command == "batch":
        return _cmd_batch(args)
    if args.command in ("plot", "compare", "sensitivity"):
        return _cmd_analyse(args)
    if args.command == "app":
        return _cmd_app(args)
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
    from sim.outputs.summary import run_summary
    from sim.scenario import load_scenario

    check_out_dir(args.out)
    if args.replicates is None and (args.keep or args.date):
        raise UserError("--keep and --date go with --replicates R (a single run keeps all)")
    scenario = load_scenario(args.scenario)
    if args.replicates is not None:
        return _run_replicates(args, scenario)
    t0 = time.perf_counter()
    result = run(scenario, seed=args.seed, shocks_off=args.shock_off)
    out = result.save(args.out)
    if not args.quiet:
        print(run_summary(result))
        print(
            f"wrote {out}/ (ties.parquet, indices.parquet, manifest.json, alignment.png) "
            f"in {time.perf_counter() - t0:.2f} s"
        )
    return 0


def _run_replicates(args, scenario) -> int:
    from sim.outputs.ensemble_files import save_ensemble
    from sim.outputs.summary import ensemble_summary

    seeds = list(range(args.seed, args.seed + args.replicates))
    if seeds[-1] >= 2**63:
        raise UserError(f"--seed {args.seed} --replicates {args.replicates}: seeds pass 2**63 - 1")
    saved = save_ensemble(
        scenario,
        seeds,
        args.out,
        keep=args.keep or "indices",
        dates=args.date,
        shocks_off=args.shock_off,
        progress=None if args.quiet else _progress_bar(args.replicates),
    )
    if not args.quiet:
        print(ensemble_summary(saved))
        print(f"wrote {saved.out}/ ({', '.join(saved.files)})")
    return 0


def _progress_bar(total: int):
    """A tqdm bar on a terminal (nothing otherwise), fed (done, total) after each chunk;
    it appears with the first finished chunk, so argument errors come without one."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = None

    def update(done: int, _total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="run", file=sys.stderr, mininterval=0.5, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _cmd_explain(args) -> int:
    from sim.analysis.explain import explain_text
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    print(explain_text(scenario, args.seed, args.state, args.date, args.shock_off, args.all))
    return 0


def _cmd_validate(args) -> int:
    from sim.analysis.facts import check, table
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    n = args.seeds or (scenario.spec.validation.seeds if scenario.spec.validation else 0)
    results = check(scenario, args.seeds, progress=not args.quiet)
    print(table(results, scenario, n))
    return 0 if all(r.passed for r in results) else 1


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
    from sim.outputs.files import check_out_dir

    check_out_dir(args.out, "batch")
    experiment = load_experiment(args.experiment)
    summary = run(
        experiment,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        dask_local=args.dask_local,
        scheduler_timeout=args.scheduler_timeout,
        chunk_size=args.chunk_size,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(summary.text())
    return 1 if summary.failed else 0


def _cmd_analyse(args) -> int:
    import pandas as pd

    from sim.batch import analysis, load, plots
    from sim.outputs.files import write_figure

    result = load(args.batch, ties=False)
    out = Path(args.out) if args.out else Path(args.batch) / "plots"
    if not out.resolve().parent.is_dir():
        raise UserError(f"--out {out}: the parent directory does not exist")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    figures: dict[str, object] = {}
    if args.command == "plot":
        states = analysis.check_states(result, args.state)
        for index in ("alignment_index", "hedging_index"):
            figures[f"fan_{index}.png"] = plots.fan_chart(result, index, states)
        for state in states if args.state else states[:1]:
            figures[f"distributions_{state}.png"] = plots.distributions(
                result, args.date, "alignment_index", state
            )
    elif args.command == "compare":
        states = analysis.check_states(result, args.state)
        table = analysis.effects(result, args.baseline, args.variant, args.date, args.index, states)
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            print(f"{args.variant} minus {args.baseline}: {args.index}, paired by seed")
            signed = {c: "{:+.4f}".format for c in ("mean", "ci_low", "ci_high", "median")}
            shares = {"sd": "{:.4f}".format, "share_higher": "{:.1%}".format}
            print(table.to_string(index=False, formatters={**signed, **shares}))
        name = f"compare_{args.baseline}_vs_{args.variant}"
        figures[f"{name}.png"] = plots.compare_figure(
            result, args.baseline, args.variant, args.index, states
        )
        out.mkdir(exist_ok=True)
        table.to_csv(out / f"{name}.csv", index=False)
    else:
        table = analysis.sobol_indices(result, args.outcome, args.arm)
        print(f"Sobol indices of {args.outcome} (95% intervals, half-widths)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        figures["sensitivity.png"] = plots.sensitivity_figure(table, args.outcome)
        out.mkdir(exist_ok=True)
        table.to_csv(out / "sensitivity.csv", index=False)
    out.mkdir(exist_ok=True)
    for name, fig in figures.items():
        write_figure(fig, out / name, dpi=110)
    print(f"wrote {', '.join(figures)} to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
