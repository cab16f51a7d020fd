"""The commands that hold the model against observed data: ``calibrate``, ``forecast``
and ``score`` (:mod:`sim.calibration`)."""

from __future__ import annotations

import argparse
import sys

_DATA_HELP = (
    "folder of observed data (default: $MULTIVECTOR_DATA, multivector.toml's `data`, "
    "or ../shared/validation beside the repository; see docs/DATA.md)"
)
_FORCE = "replace what --out holds, whatever it is"
_LINK_HELP = (
    "intercepts of the measurement model: one per partner (the model explains the "
    "differences between states) or one per dyad (only the changes over time); default "
    "partner, or the posterior's"
)


def _int(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected {lo} to {hi}, got {v}")
        return v

    return parse


def add_commands(sub) -> None:
    """Add ``calibrate``, ``forecast`` and ``score`` to the CLI's subparsers."""
    c = sub.add_parser(
        "calibrate",
        help="fit a scenario's declared uncertain inputs to observed series (ABC-SMC)",
        description="Fit the inputs listed under the scenario's `calibration: inputs:` to "
        "the observed UN series up to --until, with pyabc's ABC-SMC and the measurement "
        "model. Resumable: rerun the same command to continue after an interruption.",
    )
    c.add_argument("scenario")
    c.add_argument("--out", required=True, help="directory for the posterior")
    c.add_argument("--data", help=_DATA_HELP)
    c.add_argument(
        "--until",
        type=_int(1990, 2100),
        default=None,
        help="last training year (default: the scenario's calibration.until)",
    )
    c.add_argument("--population", type=_int(10, 100_000), default=100)
    c.add_argument("--generations", type=_int(1, 100), default=6)
    c.add_argument("--seeds", type=_int(1, 1000), default=4, help="seeds per particle")
    c.add_argument(
        "--discrepancy",
        type=float,
        default=0.1,
        help="model discrepancy: share of each observable's variance granted to "
        "what the model leaves out; ABC stops at this threshold (default 0.1)",
    )
    c.add_argument("--seed", type=_int(0, 2**31), default=0, help="root seed of the ABC")
    c.add_argument("--link", choices=("partner", "dyad"), default="partner", help=_LINK_HELP)
    c.add_argument("--force", action="store_true", help=_FORCE)
    for name, what in (
        ("forecast", "predictive quantiles for the years after --until"),
        ("score", "the scorecard: coverage, CRPS, skill, rolling origin"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("scenario")
        p.add_argument("--out", required=True)
        p.add_argument("--data", help=_DATA_HELP)
        p.add_argument("--posterior", help="a `multivector calibrate` directory")
        p.add_argument("--prior", action="store_true", help="draw inputs from their ranges")
        p.add_argument(
            "--draws",
            type=_int(1, 100_000),
            default=None,
            help="input draws (default: 100 for forecast, 50 for score)",
        )
        p.add_argument("--seeds", type=_int(1, 1000), default=4, help="seeds per input draw")
        p.add_argument("--until", type=_int(1990, 2100), default=2021)
        p.add_argument("--seed", type=_int(0, 2**31), default=0)
        p.add_argument("--link", choices=("partner", "dyad"), default=None, help=_LINK_HELP)
        p.add_argument("--force", action="store_true", help=_FORCE)
    sub.choices["forecast"].add_argument(
        "--years", default="2022-2025", help="years to forecast, FIRST-LAST (default 2022-2025)"
    )


def dispatch(args) -> int | None:
    """Run the command if it is one of these; ``None`` otherwise."""
    if args.command == "calibrate":
        return _calibrate(args)
    if args.command == "forecast":
        return _forecast(args)
    if args.command == "score":
        return _score(args)
    return None


def _calibrate(args) -> int:
    from sim.calibration.calibrate import Settings, calibrate
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    spec = scenario.spec.calibration
    until = args.until or (spec.until if spec is not None else 2021)
    settings = Settings(
        until=until,
        population=args.population,
        generations=args.generations,
        seeds=args.seeds,
        discrepancy=args.discrepancy,
        seed=args.seed,
        level=args.link,
    )
    result = calibrate(
        scenario,
        args.out,
        settings=settings,
        data=args.data,
        force=args.force,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    m = result.manifest
    print(
        f"posterior of {len(result.inputs)} inputs in {result.out}: "
        f"{m['generations_done']} generations, final epsilon {m['final_epsilon']:.4f}, "
        f"{m['simulated_runs_this_session']} runs this session "
        f"({m['runs_per_second_in_simulator']} runs/s in the simulator), "
        f"{m['wall_time_s']} s"
    )
    table = result.posterior
    w = table["weight"].to_numpy()
    for inp in result.inputs:
        mean = float((table[inp.path] * w).sum())
        print(f"  {inp.path:40s} prior [{inp.low:g}, {inp.high:g}]  posterior mean {mean:.3f}")
    return 0


def _years(text: str) -> list[int]:
    from sim.errors import UserError

    try:
        first, _, last = text.partition("-")
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise UserError(f"--years: expected FIRST-LAST such as 2022-2025, got {text!r}") from None
    if not 1990 <= lo <= hi <= 2100:
        raise UserError(f"--years: expected years in 1990-2100, first <= last, got {text!r}")
    return list(range(lo, hi + 1))


def _forecast(args) -> int:
    from sim.calibration.forecast import forecast

    table = forecast(
        args.scenario,
        args.out,
        posterior=args.posterior,
        prior=args.prior,
        draws=args.draws or 100,
        seeds=args.seeds,
        years=_years(args.years),
        until=args.until,
        data=args.data,
        seed=args.seed,
        level=args.link,
        force=args.force,
    )
    print(
        f"{len(table)} forecast rows ({table['observable'].nunique()} observables) in "
        f"{args.out}/forecast.parquet"
    )
    return 0


def _score(args) -> int:
    from sim.calibration.forecast import score
    from sim.calibration.scoring import format_scorecard

    card = score(
        args.scenario,
        args.out,
        posterior=args.posterior,
        prior=args.prior,
        draws=args.draws or 50,
        seeds=args.seeds,
        until=args.until,
        data=args.data,
        seed=args.seed,
        level=args.link,
        force=args.force,
    )
    print(format_scorecard(card.table))
    print("\nrolling-origin backtest (mean CRPS by lead; skill > 0 beats the naive forecast):")
    print(card.backtest_summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(_inputs_summary(card.inputs))
    print(f"\nwritten to {args.out}")
    return 0


def _inputs_summary(table) -> str:
    """How the scenario's arms shares stand against SIPRI's, in one paragraph."""
    arms = table[(table["parameter"] == "arms") & table["inside_range"].notna()]
    if not len(arms):
        return "\nno arms share of the scenario has a SIPRI counterpart"
    out = arms[~arms["inside_range"].astype(bool)]
    lines = [
        f"\narms shares against SIPRI: {len(arms) - len(out)} of {len(arms)} inside their ranges"
    ]
    for r in out.itertuples():
        lines.append(
            f"  outside: {r.state} from {r.partner} {r.value:g} [{r.low:g}, {r.high:g}], "
            f"SIPRI {r.observed:.2f} ({r.observed_what})"
        )
    return "\n".join(lines) + "\n(inputs_vs_data.csv also lists protection against ATOP)"
