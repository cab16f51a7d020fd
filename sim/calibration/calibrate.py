"""Calibration: fit a scenario's declared uncertain inputs to observed series (ABC-SMC).

``calibrate(scenario, out)`` fits the inputs the scenario lists under
``calibration.inputs`` (each a number with a ``range:``; the prior is that range) to the
observed UN series of its mapped states, up to ``calibration.until`` (2021). The
simulator is the ensemble engine; the bridge from ties to data is the measurement model
(:mod:`sim.calibration.measure`), refitted for every particle (its intercepts, slope and
noise are nuisance parameters, profiled out by least squares).

Why pyabc's ABC-SMC (Klinger, Rickert and Hasenauer 2018, Bioinformatics 34(20)): the
model has no likelihood (a tie path is a chain of stochastic discrete choices), pyabc is
maintained, stores every generation in a database (so a calibration resumes after a
crash or a kill), and its sequential Monte Carlo adapts the acceptance threshold. ELFI
does not install beside the pinned matplotlib here, and history matching with an
emulator is a larger apparatus than eight inputs need.

The distance of a particle is the mean, over observables, of the link's residual sum of
squares divided by the observed variance (a 1 - R^2 with a fixed denominator). The model
discrepancy term: the acceptance threshold is not pushed below ``discrepancy`` (default
0.1: a tenth of each observable's variance is granted to what the model leaves out). With
a uniform kernel this is exact Bayesian inference under a model error of that size
(Wilkinson 2013, Statistical Applications in Genetics and Molecular Biology 12(2)).

Randomness: every particle runs the same calibration seeds (``CALIBRATION_SEED_START``
onwards: common random numbers, disjoint from tuning and validation seeds), so the
simulator is a deterministic function of the inputs. pyabc itself draws its particles from
numpy's global generator (it offers no other); ``calibrate`` seeds it from the root
seed and the generation it starts from, and restores the caller's global state when the
run ends: the one use of global random state in the package, so a calibration and its
resumption are reproducible.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration import measure
from sim.calibration.predictive import CALIBRATION_SEED_START, observed_for, simulate
from sim.errors import UserError
from sim.outputs.files import atomic_file, check_out_dir, write_manifest
from sim.outputs.kinds import CALIBRATION, MANIFEST, inspect_dir
from sim.scenario import Scenario, load_scenario
from sim.scenario.priors import UncertainInput, calibrated_inputs, complete_draw

DB = "abc.db"
POSTERIOR = "posterior.parquet"
DIAGNOSTICS = "diagnostics.csv"


@dataclass(frozen=True)
class Settings:
    """How a calibration runs (all recorded in its manifest)."""

    until: int = 2021
    population: int = 100
    generations: int = 6
    seeds: int = 4
    discrepancy: float = 0.1
    seed: int = 0
    level: str = "partner"

    def check(self) -> None:
        if not 10 <= self.population <= 100_000:
            raise UserError(f"--population: expected 10 to 100000, got {self.population}")
        if not 1 <= self.generations <= 100:
            raise UserError(f"--generations: expected 1 to 100, got {self.generations}")
        if not 1 <= self.seeds <= 1000:
            raise UserError(f"--seeds: expected 1 to 1000, got {self.seeds}")
        if self.level not in measure.LEVELS:
            raise UserError(
                f"--link: expected one of {', '.join(measure.LEVELS)}, got {self.level!r}"
            )
        if not 0.0 <= self.discrepancy < 1.0:
            raise UserError(f"--discrepancy: expected a share in [0, 1), got {self.discrepancy}")

    def resumable_key(self) -> dict:
        """What must match to resume (more generations may be asked for)."""
        key = asdict(self)
        key.pop("generations")
        return key


@dataclass
class Calibration:
    """A finished (or resumed) calibration: where it is and what it found."""

    out: Path
    posterior: pd.DataFrame  # one column per input path, and ``weight``
    diagnostics: pd.DataFrame
    inputs: list[UncertainInput]
    manifest: dict


class Objective:
    """The simulator and the distance pyabc calls: particle -> {"d": distance}."""

    def __init__(self, scenario: Scenario, observed: pd.DataFrame, inputs, settings: Settings):
        self.scenario = scenario
        self.inputs = inputs
        self.level = settings.level
        self.seeds = list(range(CALIBRATION_SEED_START, CALIBRATION_SEED_START + settings.seeds))
        self.observed = observed[observed["observable"].isin(measure.SCORED)]
        self.years = sorted(int(y) for y in self.observed["year"].unique())
        self.variance = self._observed_variance()
        self.runs = 0
        self.seconds = 0.0

    def _observed_variance(self) -> dict[str, float]:
        base = simulate(self.scenario, self.seeds[:1], [{}], self.years)
        mean = measure.mean_over_replicates(base)
        out = {}
        for name in measure.SCORED:
            rows = measure.paired(measure.LINKS[name], self.observed, mean, self.scenario)
            if len(rows) >= 4 and np.var(rows["value"]) > 0:
                out[name] = float(np.var(rows["value"]))
        if not out:
            raise UserError(
                f"{self.scenario.name}: no observed series overlaps the simulated years "
                f"{self.years[0] if self.years else '?'}-; nothing to calibrate on"
            )
        return out

    def overrides(self, particle) -> dict[str, float]:
        values = {inp.path: float(particle[name(k)]) for k, inp in enumerate(self.inputs)}
        return complete_draw(self.scenario, values)

    def distance_of(self, overrides: dict[str, float]) -> float:
        t0 = time.perf_counter()
        sim = simulate(self.scenario, self.seeds, [overrides], self.years)
        self.runs += len(self.seeds)
        self.seconds += time.perf_counter() - t0
        mean = measure.mean_over_replicates(sim)
        shares = []
        for obs, var in self.variance.items():
            rows = measure.paired(measure.LINKS[obs], self.observed, mean, self.scenario)
            try:
                fit = measure.fit_link(measure.LINKS[obs], rows, self.level)
            except UserError:
                return 1e6
            shares.append(fit.sigma**2 * (fit.n - len(fit.coef)) / (fit.n * var))
        return float(np.mean(shares))

    def __call__(self, particle) -> dict:
        return {"d": self.distance_of(self.overrides(particle))}


def name(k: int) -> str:
    """pyabc's name of input k (paths hold dots, which its database does not want)."""
    return f"p{k:03d}"


def prior(inputs: list[UncertainInput]):
    """pyabc's prior: each input's range, uniform or triangular with the point value as
    its mode."""
    import pyabc

    rvs = {}
    for k, inp in enumerate(inputs):
        width = inp.high - inp.low
        if inp.dist == "triangular":
            rvs[name(k)] = pyabc.RV("triang", (inp.value - inp.low) / width, inp.low, width)
        else:
            rvs[name(k)] = pyabc.RV("uniform", inp.low, width)
    return pyabc.Distribution(**rvs)


def _distance(x: dict, x0: dict) -> float:
    return float(x["d"])


def calibrate(
    scenario: Scenario | str | Path,
    out: str | Path,
    *,
    settings: Settings = Settings(),
    data: str | Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = print,
) -> Calibration:
    """Calibrate ``scenario``'s declared inputs; write the posterior into ``out``.

    ``out`` may be new, or an earlier calibration of the same scenario and settings
    (resumed: finished generations are kept, the rest run); anything else is refused
    unless ``force``.
    """
    _need_pyabc()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    settings.check()
    inputs = calibrated_inputs(scenario)
    observed = observed_for(scenario, data, until=settings.until)
    out = Path(out)
    resume = _prepare_out(out, scenario, settings, inputs, force)
    objective = Objective(scenario, observed, inputs, settings)
    manifest = _manifest(scenario, settings, inputs, observed, objective, status="running")
    write_manifest(out, manifest)
    t0 = time.perf_counter()
    with _generation_lines(progress, settings.generations):
        history = _run_abc(objective, inputs, settings, out / DB, resume)
    return _finish(out, scenario, history, inputs, manifest, objective, time.perf_counter() - t0)


def _need_pyabc() -> None:
    try:
        import pyabc  # noqa: F401
    except ImportError:
        raise UserError(
            "calibrate needs pyabc, which is not installed: `./dev setup` installs it, or "
            "`pip install 'multivector[calibrate]'`"
        ) from None


def _run_abc(objective: Objective, inputs, settings: Settings, db: Path, resume: bool):
    """Start (or load) the ABC-SMC history in ``db`` and run the generations left."""
    import pyabc

    abc = pyabc.ABCSMC(
        objective,
        prior(inputs),
        _distance,
        population_size=settings.population,
        sampler=pyabc.sampler.SingleCoreSampler(),
        eps=pyabc.QuantileEpsilon(alpha=0.5),
    )
    url = "sqlite:///" + str(db.resolve())
    if resume:
        abc.load(url, 1)
    else:
        abc.new(url, {"d": 0.0})
    remaining = settings.generations - (abc.history.max_t + 1)
    if remaining <= 0:
        return abc.history
    # pyabc draws from numpy's global generator (it offers no other): seed it for this run
    # only, and give the caller's global state back afterwards.
    saved = np.random.get_state()  # noqa: NPY002
    np.random.seed([settings.seed, abc.history.max_t + 1])  # noqa: NPY002
    try:
        return abc.run(max_nr_populations=remaining, minimum_epsilon=settings.discrepancy)
    finally:
        np.random.set_state(saved)  # noqa: NPY002


@contextlib.contextmanager
def _generation_lines(progress: Callable[[str], None] | None, total: int):
    """Pass pyabc's "t: T, eps: E" log lines on as progress lines (its own log is
    otherwise kept quiet)."""
    logger = logging.getLogger("ABC")

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if progress is not None and text.startswith("t: "):
                t, _, eps = text[3:].rstrip(".").partition(", eps: ")
                progress(f"generation {int(t) + 1}/{total}: epsilon {float(eps):.4f}")

    handler = Lines(logging.INFO)
    level, propagate, own = logger.level, logger.propagate, list(logger.handlers)
    for h in own:
        logger.removeHandler(h)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        for h in own:
            logger.addHandler(h)
        logger.setLevel(level)
        logger.propagate = propagate


def _prepare_out(out: Path, scenario, settings, inputs, force: bool) -> bool:
    """Check ``out``; True when it holds a calibration to resume."""
    check_out_dir(out, CALIBRATION, force=force, inputs=[scenario.path] if scenario.path else [])
    found = inspect_dir(out)
    if found.empty:
        out.mkdir(parents=True, exist_ok=True)
        return False
    if force:
        for entry in out.iterdir():
            if entry.is_dir():
                import shutil

                shutil.rmtree(entry)
            else:
                entry.unlink()
        return False
    old = found.manifest or {}
    want = {
        "scenario_hash": scenario.content_hash,
        "settings": settings.resumable_key(),
        "inputs": [i.path for i in inputs],
    }
    have = {
        "scenario_hash": (old.get("scenario") or {}).get("content_hash"),
        "settings": {k: v for k, v in (old.get("settings") or {}).items() if k != "generations"},
        "inputs": [i["path"] for i in old.get("inputs", [])],
    }
    if want != have:
        differ = [k for k in want if want[k] != have[k]]
        raise UserError(
            f"--out {out}: holds a calibration with another {' and '.join(differ)}; refusing "
            "to mix them: name a new directory, or add --force to start again there"
        )
    return (out / DB).exists()


def _manifest(scenario, settings, inputs, observed, objective, *, status: str) -> dict:
    from sim.outputs.manifest import stamped

    provenance = observed.attrs.get("provenance", {})
    fields = {
        "status": status,
        "settings": asdict(settings),
        "inputs": [
            {
                "path": i.path,
                "value": i.value,
                "low": i.low,
                "high": i.high,
                "dist": i.dist,
                "provenance": i.provenance,
                "where": i.where,
            }
            for i in inputs
        ],
        "fixed_note": getattr(scenario.spec.calibration, "fixed_note", None),
        "seeds": {"first": objective.seeds[0], "count": len(objective.seeds)},
        "observables": sorted(objective.variance),
        "years": [objective.years[0], objective.years[-1]],
        "data": provenance,
        "method": "pyabc ABC-SMC, quantile epsilon (alpha 0.5), profiled measurement model",
    }
    return stamped(fields, kind=CALIBRATION, scenario=scenario)


def _finish(out, scenario, history, inputs, manifest, objective, seconds) -> Calibration:
    df, w = history.get_distribution(m=0, t=history.max_t)
    posterior = pd.DataFrame({inp.path: df[name(k)].to_numpy() for k, inp in enumerate(inputs)})
    posterior["weight"] = w / w.sum()
    diagnostics = _diagnostics(history)
    with atomic_file(out / POSTERIOR) as tmp:
        posterior.to_parquet(tmp, index=False)
    with atomic_file(out / DIAGNOSTICS) as tmp:
        diagnostics.to_csv(tmp, index=False)
    _figures(out, scenario, inputs, posterior, objective)
    manifest.update(
        status="complete",
        generations_done=int(history.max_t) + 1,
        final_epsilon=float(diagnostics["epsilon"].iloc[-1]),
        simulated_runs_this_session=objective.runs,
        simulated_runs_in_generations=int(diagnostics["simulations"].sum()) * len(objective.seeds),
        runs_per_second_in_simulator=round(objective.runs / objective.seconds, 1)
        if objective.seconds
        else None,
        wall_time_s=round(seconds, 1),
    )
    write_manifest(out, manifest)
    return Calibration(out, posterior, diagnostics, inputs, manifest)


def _diagnostics(history) -> pd.DataFrame:
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0].reset_index(drop=True)
    ess = []
    for t in pops["t"]:
        _, w = history.get_distribution(m=0, t=int(t))
        w = np.asarray(w) / np.sum(w)
        ess.append(float(1.0 / np.sum(w**2)))
    return pd.DataFrame(
        {
            "generation": pops["t"].astype(int) + 1,
            "epsilon": pops["epsilon"].astype(float),
            "simulations": pops["samples"].astype(int),
            "accepted": pops["particles"].astype(int),
            "acceptance_rate": pops["particles"] / pops["samples"],
            "ess": ess,
        }
    )


def _figures(out: Path, scenario, inputs, posterior, objective) -> None:
    from sim.calibration.figures import posterior_predictive_figures, prior_posterior_figure
    from sim.outputs.files import write_figure

    with atomic_file(out / "prior_vs_posterior.png") as tmp:
        write_figure(prior_posterior_figure(inputs, posterior), tmp)
    for obs, fig in posterior_predictive_figures(scenario, objective, posterior).items():
        with atomic_file(out / f"posterior_predictive_{obs}.png") as tmp:
            write_figure(fig, tmp)


def load_posterior(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A calibration directory's posterior (inputs and weights) and manifest."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not (path / POSTERIOR).is_file() or not manifest_path.is_file():
        raise UserError(
            f"--posterior {path}: not a finished calibration (no {POSTERIOR} and "
            f"{MANIFEST}); run `multivector calibrate` into it first"
        )
    with contextlib.suppress(ValueError):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("kind") == CALIBRATION and manifest.get("status") == "complete":
            return pd.read_parquet(path / POSTERIOR), manifest
    raise UserError(f"--posterior {path}: its {MANIFEST} is not a finished calibration's")


def resample(
    scenario: Scenario, posterior: pd.DataFrame, n: int, rng: np.random.Generator
) -> list[dict]:
    """``n`` input draws from a weighted posterior (multinomial resampling), each made
    valid as the calibration ran it (:func:`~sim.scenario.priors.complete_draw`)."""
    w = posterior["weight"].to_numpy(dtype=float)
    rows = rng.choice(len(posterior), size=n, replace=True, p=w / w.sum())
    paths = [c for c in posterior.columns if c != "weight"]
    return [complete_draw(scenario, {p: float(posterior[p].iloc[r]) for p in paths}) for r in rows]
