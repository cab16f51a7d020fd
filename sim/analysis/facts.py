"""Validation against history: the stylised facts a scenario declares, over many seeds.

A scenario's ``validation:`` section lists facts (see ``scenarios/README.md``). Each is
measured over ``seeds`` runs and reported with its threshold and a verdict:

- ``tie_range``: every quantity named in ``bands`` stays strictly inside its band at
  every record in ``window``; measured as the share of seeds where it holds. A band's key
  is a partner (the tie from ``state`` to it) or an index (``alignment_index``,
  ``hedging_index``: the state's index, an absolute band).
- ``strongest_tie``: the tie to ``partner`` is the state's highest at every record in
  ``window``; share of seeds.
- ``mean_change``: the window mean of a tie or index is higher (``direction: up``) or
  lower (``down``) in ``late`` than in ``early``; share of seeds.
- ``greater``: the window mean of a tie or index exceeds that of ``than``; share of seeds.
- ``paired_effect``: the window mean minus the same in the ``counterfactual`` scenario
  (same seeds: common random numbers), averaged over seeds, with a 95% t confidence
  interval; passes when the interval excludes zero on the side of ``direction``.

**Which seeds.** The validation seeds are ``seed_start .. seed_start + seeds - 1``
(:func:`seed_range`; ``seed_start`` defaults to 100000). They must not overlap the
scenario's ``validation.tuning_seeds``, the seeds on which values were tuned: a fact
checked on the seeds it was tuned on is not evidence (``docs/ODD.md``, section 8).

**Across the input prior** (:func:`check_prior`). The point values of the scenario are
one draw of many: every number with a ``range:`` (:mod:`sim.scenario.priors`) is
uncertain. Draw k gets its own validation seed and its own draw of every uncertain
input (its counterfactual the same draw and seed); a fact is then reported as the share
of draws in which it holds (for a paired effect: the share of draws with the effect on
the side of ``direction``, and its mean with a 90% band over the draws). One seed per
draw: the share mixes input uncertainty and seed noise, as a new history would. A fact
that holds at the point values but in fewer than ``threshold`` of the draws holds only
near the point values.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.drivers.ensemble import ensemble_ties, run_ensemble
from sim.errors import UserError
from sim.kernel import indices
from sim.scenario import FactSpec, Scenario, Window, load_scenario
from sim.scenario.documents import read_yaml
from sim.world.compiled import World, world_for

#: The first validation seed when the scenario does not say (far from 0, 1, ... that
#: tuning and everyday runs use).
DEFAULT_SEED_START = 100_000
#: The largest seed (numpy's ``SeedSequence`` takes any int; the CLI's bound).
MAX_SEED = 2**63 - 1
#: The band of a paired effect over prior draws: 5% to 95%.
PRIOR_BAND = (0.05, 0.95)
#: The indices a ``tie_range`` band may name (besides partners).
INDEX_BANDS = ("alignment_index", "hedging_index")


@dataclass(frozen=True)
class Breaks:
    """Where a share fact broke: in ``failed`` of ``seeds`` seeds, most often on the tie
    ``pair`` at ``date`` (in ``count`` seeds); ``pair`` is ``None`` for the kinds that
    are not checked record by record (``mean_change``, ``greater``)."""

    failed: int
    seeds: int
    pair: str | None = None
    date: str | None = None
    count: int = 0

    def text(self, unit: str = "seeds") -> str:
        out = f"fails in {self.failed} of {self.seeds} {unit}"
        if self.pair is not None:
            out += f"; most often: {self.pair} at {self.date} ({self.count} {unit})"
        return out


@dataclass
class FactResult:
    """One fact at the point values: what was measured against what threshold.

    ``value``: the share of seeds (or the mean paired effect); ``ci``: the 95% interval
    of a paired effect; ``breaks``: where a share fact failed (``None`` when it held in
    every seed); ``seeds``: the seeds it was measured on.
    """

    fact: FactSpec
    measured: str
    threshold: str
    passed: bool
    value: float
    ci: tuple[float, float] | None = None
    breaks: Breaks | None = None
    seeds: range | None = None


@dataclass
class PriorResult:
    """One fact across the input prior: ``share`` of the draws in which it holds (a
    paired effect: with the effect on the side of ``direction``); for a paired effect,
    ``mean`` and the 90% ``band`` of the effect over the draws. ``near_point_only``:
    it held at the point values but holds in fewer than ``threshold`` of the draws.
    ``breaks``: where a share fact failed across the draws."""

    fact: FactSpec
    share: float
    threshold: float
    draws: int
    seeds: range
    mean: float | None = None
    band: tuple[float, float] | None = None
    near_point_only: bool = False
    breaks: Breaks | None = None
    source: str = "prior"  # or "posterior": where the draws come from

    @property
    def label(self) -> str:
        """``across the prior`` or ``at the posterior``."""
        return "at the posterior" if self.source == "posterior" else "across the prior"

    def measured(self) -> str:
        if self.mean is None:
            return f"{self.share:.1%} of draws"
        lo, hi = self.band
        return f"{self.share:.1%} of draws; {self.mean:+.4f} [{lo:+.4f}, {hi:+.4f}]"


# --------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------


def tuning_seeds(scenario: Scenario) -> range | None:
    """The seeds the scenario's values were tuned on (``validation.tuning_seeds``,
    inclusive), or ``None`` when it declares none."""
    pair = getattr(scenario.spec.validation, "tuning_seeds", None)
    if not pair:
        return None
    return range(int(pair[0]), int(pair[1]) + 1)


def seed_range(scenario: Scenario, n: int | None = None, seed_start: int | None = None) -> range:
    """The validation seeds: ``seed_start .. seed_start + n - 1``.

    Args:
        n: how many (default: ``validation.seeds``).
        seed_start: the first (default: ``validation.seed_start``, else 100000).

    Raises:
        UserError: the range overlaps the declared tuning seeds, or passes the largest
            seed.
    """
    spec = scenario.spec.validation
    n = n or spec.seeds
    if seed_start is None:
        seed_start = getattr(spec, "seed_start", None)
        seed_start = DEFAULT_SEED_START if seed_start is None else seed_start
    if seed_start < 0 or seed_start + n - 1 > MAX_SEED:
        raise UserError(
            f"seeds {seed_start} to {seed_start + n - 1}: seeds run from 0 to 2**63 - 1"
        )
    seeds = range(seed_start, seed_start + n)
    tuned = tuning_seeds(scenario)
    if tuned is not None and seeds.start <= tuned[-1] and tuned.start <= seeds[-1]:
        raise UserError(
            f"{scenario.path}: the validation seeds {_span(seeds)} overlap the tuning seeds "
            f"{_span(tuned)} (validation.tuning_seeds): a fact checked on the seeds its "
            f"values were tuned on is not evidence; start after {tuned[-1]} (--seed-start)"
            + (f" or end before {tuned.start}" if tuned.start > 0 else "")
        )
    return seeds


def seeds_text(scenario: Scenario, seeds: range) -> str:
    """``seeds 100000-100199 (tuning seeds 0-39 excluded)``."""
    tuned = tuning_seeds(scenario)
    note = f"tuning seeds {_span(tuned)} excluded" if tuned else "no tuning seeds declared"
    return f"seeds {_span(seeds)} ({note})"


def _span(seeds: range) -> str:
    return f"{seeds.start}-{seeds[-1]}" if len(seeds) > 1 else str(seeds.start)


# --------------------------------------------------------------------------------------
# Panels: the runs a fact is measured on
# --------------------------------------------------------------------------------------


class SeedPanel:
    """Tie matrices of many seeded runs of one scenario: ``ties[seed, step, i, j]``.

    The panel a fact is measured on (one per scenario; a counterfactual has its own, over
    the same seeds and, across the prior, the same input draws).

    Without overrides it is run by the vectorized ensemble driver
    (:func:`~sim.drivers.ensemble.ensemble_ties`): seed k's matrices are those of
    ``BalancingModel(rng=k)`` (``tests/test_ensemble.py``). With ``overrides`` (one
    mapping per seed, as for :func:`sim.scenario.with_overrides`) replicate k runs
    ``with_overrides(scenario, overrides[k])`` with seed k
    (:func:`~sim.drivers.ensemble.run_ensemble`).
    """

    def __init__(
        self,
        world: World,
        seeds: Sequence[int],
        progress: bool | Callable[[str], Callable[[int, int], None]] = False,
        overrides: Sequence[Mapping[str, float]] | None = None,
        shocks_off: Sequence[str] = (),
    ):
        self.world = world
        self.seeds = list(seeds)
        name = world.scenario.name[:40]

        shown = [0]

        def report(done: int, total: int) -> None:  # about every tenth of the seeds
            if done >= total or done - shown[0] >= total / 10:
                shown[0] = done
                print(f"  {name}: {done}/{total} seeds", file=sys.stderr, flush=True)

        callback = progress(name) if callable(progress) else (report if progress else None)
        if overrides is None:
            self.ties = ensemble_ties(
                world.scenario, self.seeds, progress=callback, shocks_off=shocks_off
            )
        else:
            with warnings.catch_warnings():  # the replicates table: a column per input
                warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
                result = run_ensemble(
                    world.scenario,
                    self.seeds,
                    overrides=overrides,
                    keep="ties",
                    progress=callback,
                    shocks_off=shocks_off,
                )
            self.ties = _tie_array(result.ties, len(self.seeds), world)
        self.dates = world.record_dates(np.arange(world.n_periods + 1))

    def mask(self, w: Window) -> np.ndarray:
        """``(steps,)`` bool: the records dated inside the window (both ends included)."""
        d = self.dates
        m = (d >= np.datetime64(w.start)) & (d <= np.datetime64(w.end))
        if not m.any():
            raise UserError(
                f"{self.world.scenario.path}: the window {w.start} to {w.end} holds no record "
                "(records are dated at period ends)"
            )
        return m

    def quantity(self, state: str, partner: str | None, index: str | None) -> np.ndarray:
        """``(seeds, steps)`` series of a tie or an index."""
        i = self.world.index(state)
        if partner is not None:
            return self.ties[:, :, i, self.world.index(partner)]
        if index == "alignment_index":
            return indices.alignment_index(self.ties, self.world.toward, self.world.away)[..., i]
        return indices.hedging_index(self.ties, self.world.base.groups)[..., i]


def _tie_array(table: pd.DataFrame, r: int, world: World) -> np.ndarray:
    """``(R, steps, N, N)`` from an ensemble's ties table (every step kept; the diagonal,
    which the table leaves out, 0 as in the engine's matrices)."""
    steps = np.arange(world.n_periods + 1)
    out = np.zeros((r, len(steps), world.n, world.n))
    out[
        table["replicate"].to_numpy(),
        np.searchsorted(steps, table["step"].to_numpy()),
        table["state"].cat.codes.to_numpy(),
        table["partner"].cat.codes.to_numpy(),
    ] = table["tie"].to_numpy()
    return out


# --------------------------------------------------------------------------------------
# Checking: at the point values, and across the prior
# --------------------------------------------------------------------------------------


def check(
    scenario: Scenario,
    seeds: int | None = None,
    *,
    seed_start: int | None = None,
    progress: bool | Callable[[str], Callable[[int, int], None]] = False,
) -> list[FactResult]:
    """Measure every fact of ``scenario`` at its point values over ``seeds`` seeds
    (default: ``validation.seeds``) from ``seed_start`` (default:
    ``validation.seed_start``, else 100000).

    Raises:
        UserError: no facts; seeds that overlap the tuning seeds; a counterfactual not
            found; a window without a record.
    """
    _require_facts(scenario)
    seed_list = seed_range(scenario, seeds, seed_start)
    base = SeedPanel(world_for(scenario), seed_list, progress)
    cache: dict[Path, SeedPanel] = {}
    out = []
    for fact in scenario.spec.validation.facts:
        cf = _counterfactual_panel(scenario, fact, cache, seed_list, progress)
        result = measure(fact, base, cf)
        result.seeds = seed_list
        out.append(result)
    return out


def _counterfactual_panel(scenario, fact, cache, seed_list, progress, overrides=None):
    """The panel of a ``paired_effect`` fact's counterfactual over the same seeds (one
    per counterfactual file, kept in ``cache``), or ``None`` for any other fact. With
    ``overrides`` (a prior draw per seed), the counterfactual takes each draw's values at
    the paths it also has (a shock it removes has none to take)."""
    if fact.kind != "paired_effect":
        return None
    path = _counterfactual_path(scenario, fact)
    if path not in cache:
        off = like_for_like(scenario, path)
        if off is not None:  # a variant: itself without the counterfactual's shocks
            cache[path] = SeedPanel(world_for(scenario), seed_list, progress, overrides, off)
            return cache[path]
        cf_scenario = load_scenario(path)
        cf_overrides = None
        if overrides is not None:
            from sim.scenario.priors import uncertain_inputs

            has = {u.path for u in uncertain_inputs(cf_scenario)}
            cf_overrides = [{k: v for k, v in ov.items() if k in has} for ov in overrides]
        cache[path] = SeedPanel(world_for(cf_scenario), seed_list, progress, cf_overrides)
    return cache[path]


def check_prior(
    scenario: Scenario,
    draws: int = 200,
    *,
    seed_start: int | None = None,
    point: list[FactResult] | None = None,
    progress: bool | Callable[[str], Callable[[int, int], None]] = False,
    posterior: str | Path | None = None,
) -> list[PriorResult]:
    """Measure every fact across the input prior: draw k runs seed ``seed_start + k``
    with its own draw of every uncertain input (its counterfactual: the same draw and
    seed).

    Draw k's inputs come from :func:`sim.scenario.draw_inputs` with the input stream of
    its seed (:func:`sim.scenario.input_rng`), as in ``run_ensemble(..., inputs="prior")``:
    draw k is that ensemble's replicate with the seed ``seed_start + k``, whatever the
    number of draws, and the same arguments give the same table. A counterfactual takes
    the draw's values at the paths it also has (a shock it removes has none to take).

    With ``posterior`` (a ``multivector calibrate`` folder of this scenario), draw k's
    inputs are instead the k-th of ``draws`` particles resampled by weight
    (:func:`sim.calibration.forecast.choose_inputs`, root seed ``seed_start``): the
    facts at the calibrated posterior.

    Args:
        point: the point-value results (:func:`check`), to flag the facts that hold
            there but in fewer than ``threshold`` of the prior draws.
    """
    from sim.scenario.priors import draw_inputs, input_rng, uncertain_inputs

    _require_facts(scenario)
    seed_list = seed_range(scenario, draws, seed_start)
    if posterior is not None:
        from sim.calibration.forecast import choose_inputs

        overrides = choose_inputs(scenario, posterior, False, draws, seed_list.start).draws
    else:
        inputs = uncertain_inputs(scenario)
        if not inputs:
            raise UserError(
                f"{scenario.path}: has no uncertain inputs (no number carries a `range:`), "
                "so there is no prior to validate across"
            )
        overrides = [draw_inputs(scenario, input_rng(s), 1, inputs)[0] for s in seed_list]
    base = SeedPanel(world_for(scenario), seed_list, progress, overrides)
    held = {r.fact.id: r.passed for r in point or []}
    cache: dict[Path, SeedPanel] = {}
    out = []
    for fact in scenario.spec.validation.facts:
        cf = _counterfactual_panel(scenario, fact, cache, seed_list, progress, overrides)
        ok, diff = outcomes(fact, base, cf)
        res = PriorResult(fact, float(ok.mean()), fact.threshold, draws, seed_list)
        res.source = "prior" if posterior is None else "posterior"
        if diff is None and not ok.all():
            res.breaks = breaks(fact, base, ok)
        if diff is not None:
            res.mean = float(diff.mean())
            lo, hi = np.quantile(diff, PRIOR_BAND)
            res.band = (float(lo), float(hi))
        res.near_point_only = (
            posterior is None and held.get(fact.id, False) and res.share < fact.threshold
        )
        out.append(res)
    return out


#: The fields a counterfactual file may set besides the shocks it removes, and still be
#: "its parent without those shocks" (:func:`like_for_like`).
_RELABELS = {"extends", "remove_shocks", "name", "description", "validation", "focus"}


def _sources(scenario: Scenario) -> set[Path]:
    """The files a scenario was merged from (itself and every file it extends)."""
    return {Path(f).resolve() for f, _ in scenario.where.values()}


def like_for_like(scenario: Scenario, cf_path: Path) -> tuple[str, ...] | None:
    """The shocks to switch off in ``scenario`` to get its counterfactual, when the file
    at ``cf_path`` is a parent of ``scenario`` without some shocks (it ``extends`` a file
    that ``scenario`` also builds on, and sets nothing but ``remove_shocks`` and its
    labels) and does not build on ``scenario`` itself: a variant of the baseline then
    meets its own counterfactual, not the unchanged baseline's. ``None`` otherwise (the
    file is used as it is)."""
    if scenario.path is None:
        return None
    here = Path(scenario.path).resolve()
    doc = read_yaml(cf_path, str(cf_path)).data
    parent = doc.get("extends")
    removed = doc.get("remove_shocks") or []
    if not isinstance(parent, str) or not set(doc) <= _RELABELS or not removed:
        return None
    parent_path = (cf_path.parent / parent).resolve()
    mine = _sources(scenario)
    if here == parent_path or parent_path not in mine or here in _sources(load_scenario(cf_path)):
        return None
    if not all(isinstance(r, str) and r in scenario.spec.shocks for r in removed):
        return None
    return tuple(removed)


def unlike_counterfactuals(scenario: Scenario) -> list[str]:
    """Notes on the paired facts whose counterfactual file neither builds on the
    validated file nor is a parent of it without some shocks (:func:`like_for_like`):
    their effect then sets this file against another world, not like for like."""
    if scenario.path is None or scenario.spec.validation is None:
        return []
    here = Path(scenario.path).resolve()
    notes = []
    for fact in scenario.spec.validation.facts:
        if fact.kind != "paired_effect":
            continue
        path = _counterfactual_path(scenario, fact)
        if like_for_like(scenario, path) is not None:
            continue
        if here not in _sources(load_scenario(path)):
            notes.append(
                f"note: {fact.id}: its counterfactual {fact.counterfactual} does not extend "
                f"{Path(scenario.path).name}, so the effect sets this file against a world "
                "without its own changes (to compare like with like, change both arms: "
                "e.g. `python -m sim.tools.resolution ... --setting PATH=VALUE`)"
            )
    return notes


def _require_facts(scenario: Scenario) -> None:
    spec = scenario.spec
    if spec.validation is None or not spec.validation.facts:
        raise UserError(f"{scenario.path}: declares no stylised facts (`validation.facts`)")


def _counterfactual_path(scenario: Scenario, fact: FactSpec) -> Path:
    path = (Path(scenario.path).parent / fact.counterfactual).resolve()
    if not path.is_file():
        raise UserError(
            f"{scenario.path}: fact {fact.id}: counterfactual {fact.counterfactual!r} not found"
        )
    return path


# --------------------------------------------------------------------------------------
# Measuring one fact
# --------------------------------------------------------------------------------------


def outcomes(
    fact: FactSpec, panel: SeedPanel, cf: SeedPanel | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per seed: whether the fact holds (``(seeds,)`` bool), and for a paired effect the
    effect itself (``(seeds,)``: window mean here minus in ``cf``; else ``None``). For a
    paired effect "holds" means an effect on the side of ``direction``."""
    sign = 1.0 if fact.direction == "up" else -1.0
    if fact.kind == "tie_range":
        return ~_range_breaches(fact, panel).any(axis=(0, 2)), None
    if fact.kind == "strongest_tie":
        above, _ = _strongest_breaches(fact, panel)
        return ~above.any(axis=1), None
    q = panel.quantity(fact.state, fact.partner, fact.index)
    if fact.kind == "mean_change":
        diff = q[:, panel.mask(fact.late)].mean(axis=1) - q[:, panel.mask(fact.early)].mean(axis=1)
        return sign * diff > 0, None
    m = panel.mask(fact.window)
    if fact.kind == "greater":
        other = panel.quantity(fact.than.state, fact.than.partner, fact.than.index)
        return q[:, m].mean(axis=1) > other[:, m].mean(axis=1), None
    q_cf = cf.quantity(fact.state, fact.partner, fact.index)
    diff = q[:, m].mean(axis=1) - q_cf[:, m].mean(axis=1)
    return sign * diff > 0, diff


def measure(fact: FactSpec, panel: SeedPanel, cf: SeedPanel | None = None) -> FactResult:
    """Measure one fact on ``panel`` (``cf``: the counterfactual's panel, same seeds, for a
    ``paired_effect``)."""
    ok, diff = outcomes(fact, panel, cf)
    if diff is None:
        share = float(ok.mean())
        return FactResult(
            fact,
            f"{share:.1%} of seeds",
            f">= {fact.threshold:.0%}",
            share >= fact.threshold,
            share,
            breaks=None if ok.all() else breaks(fact, panel, ok),
        )
    n = len(diff)
    mean = float(diff.mean())
    half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
    lo, hi = mean - half, mean + half
    up = fact.direction == "up"
    return FactResult(
        fact,
        f"{mean:+.4f} [{lo:+.4f}, {hi:+.4f}]",
        "95% CI > 0" if up else "95% CI < 0",
        bool(lo > 0) if up else bool(hi < 0),
        mean,
        (lo, hi),
    )


def breaks(fact: FactSpec, panel: SeedPanel, ok: np.ndarray) -> Breaks:
    """Where a share fact failed: the tie and record that broke it in the most seeds
    (``tie_range``: a tie outside its band, named ``AZ-RU``, or an index, named ``AZ
    hedging_index``; ``strongest_tie``: another tie at or above the partner's, named
    ``AZ-RU >= AZ-TR``)."""
    failed, n = int((~ok).sum()), len(ok)
    if fact.kind == "tie_range":
        counts = _range_breaches(fact, panel).sum(axis=1)  # (partners, records)
        name = [
            f"{fact.state} {key}" if key in INDEX_BANDS else f"{fact.state}-{key}"
            for key in fact.bands
        ]
    elif fact.kind == "strongest_tie":
        above, rival = _strongest_breaches(fact, panel)
        ids = panel.world.ids
        counts = np.stack([(above & (rival == k)).sum(axis=0) for k in range(len(ids))])
        name = [f"{fact.state}-{p} >= {fact.state}-{fact.partner}" for p in ids]
    else:
        return Breaks(failed, n)
    where, record = np.unravel_index(int(np.argmax(counts)), counts.shape)
    dates = panel.dates[panel.mask(fact.window)]
    return Breaks(failed, n, name[where], str(dates[record]), int(counts[where, record]))


def _range_breaches(fact: FactSpec, panel: SeedPanel) -> np.ndarray:
    """``(bands, seeds, records)`` bool: the tie or index outside its band
    (``tie_range``; a NaN index, undefined for the state, is outside)."""
    m = panel.mask(fact.window)
    out = []
    for key, (lo, hi) in fact.bands.items():
        if key in INDEX_BANDS:
            x = panel.quantity(fact.state, None, key)[:, m]
        else:
            x = panel.quantity(fact.state, key, None)[:, m]
        out.append(~((x > lo) & (x < hi)))
    return np.stack(out)


def _strongest_breaches(fact: FactSpec, panel: SeedPanel) -> tuple[np.ndarray, np.ndarray]:
    """``strongest_tie``: ``(seeds, records)`` bool, another tie at or above the partner's;
    and the index of the highest other tie (the rival) at each record."""
    m = panel.mask(fact.window)
    i, j = panel.world.index(fact.state), panel.world.index(fact.partner)
    row = panel.ties[:, m, i, :].copy()
    row[..., i] = -np.inf
    target = row[..., j].copy()
    row[..., j] = -np.inf
    rival = row.argmax(axis=-1)
    return ~(target > row.max(axis=-1)), rival


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------


def table(
    results: list[FactResult],
    scenario: Scenario,
    seeds: int | None = None,
    prior: list[PriorResult] | None = None,
) -> str:
    """The results as the text ``multivector validate`` prints: the point values and,
    with ``prior``, the share of prior draws beside them. ``seeds``: kept for callers of
    the earlier signature; the seeds are those the results record."""
    used = results[0].seeds if results[0].seeds is not None else range(seeds or 0)
    lines = [f"Stylised facts: {scenario.name}", f"Point values: {seeds_text(scenario, used)}"]
    by_id = {p.fact.id: p for p in prior or []}
    if prior:
        p0 = prior[0]
        what = "posterior draws" if p0.source == "posterior" else "draws of the uncertain inputs"
        lines.append(
            f"{p0.label.capitalize()}: {p0.draws} {what}, one seed each ({_span(p0.seeds)})"
        )
    lines.append("")
    w_id = max(len(r.fact.id) for r in results)
    head = f"{'fact':<{w_id}}  {'measured':<30} {'threshold':<12} result"
    if prior:
        head += f"  {prior[0].label:<44} note"
    lines += [head, "-" * len(head)]
    for r in results:
        line = f"{r.fact.id:<{w_id}}  {r.measured:<30} {r.threshold:<12} " + (
            "PASS" if r.passed else "FAIL"
        )
        p = by_id.get(r.fact.id)
        if p is not None:
            note = "holds only near the point values" if p.near_point_only else ""
            line += f"    {p.measured():<44} {note}"
        lines.append(line.rstrip())
    lines.append("")
    for r in results:
        lines.append(f"{r.fact.id}: {r.fact.description} [{r.fact.source}]")
    failing = [r for r in results if not r.passed and r.breaks is not None]
    shaky = [p for p in prior or [] if p.near_point_only and p.breaks is not None]
    if failing or shaky:
        lines.append("")
        lines += [f"{r.fact.id}: {r.breaks.text()}" for r in failing]
        lines += [f"{p.fact.id} {p.label}: {p.breaks.text('draws')}" for p in shaky]
    notes = unlike_counterfactuals(scenario)
    if notes:
        lines += ["", *notes]
    n_pass = sum(r.passed for r in results)
    lines += ["", f"{n_pass} of {len(results)} facts hold at the point values"]
    if prior and prior[0].source == "posterior":
        held = sum(p.share >= p.threshold for p in prior if p.mean is None)
        held += sum(
            p.share >= 0.95 for p in prior if p.mean is not None
        )  # an effect: on its side in 95% of the draws
        lines.append(f"{held} of {len(prior)} facts hold at the posterior")
    elif prior:
        near = [p.fact.id for p in prior if p.near_point_only]
        lines.append(
            f"{len(near)} hold only near the point values"
            + (f": {', '.join(near)}" if near else "")
            + " (held at the point values, in fewer than their threshold of the prior draws)"
        )
    return "\n".join(lines)


def frame(results: list[FactResult], prior: list[PriorResult] | None = None) -> pd.DataFrame:
    """The results as a table (``validate --csv``): one row per fact, the point values
    and, with ``prior``, the prior shares beside them."""
    by_id = {p.fact.id: p for p in prior or []}
    rows = []
    for r in results:
        p = by_id.get(r.fact.id)
        rows.append(
            {
                "fact": r.fact.id,
                "kind": r.fact.kind,
                "seeds_first": r.seeds.start if r.seeds else None,
                "seeds_last": r.seeds[-1] if r.seeds else None,
                "value": r.value,
                "ci_low": r.ci[0] if r.ci else None,
                "ci_high": r.ci[1] if r.ci else None,
                "threshold": r.fact.threshold if r.ci is None else None,
                "passed": r.passed,
                "failed_seeds": r.breaks.failed if r.breaks else 0,
                "most_often": (
                    f"{r.breaks.pair} at {r.breaks.date}" if r.breaks and r.breaks.pair else None
                ),
                "most_often_seeds": r.breaks.count if r.breaks and r.breaks.pair else None,
                "prior_draws": p.draws if p else None,
                "prior_share": p.share if p else None,
                "prior_mean": p.mean if p else None,
                "prior_low": p.band[0] if p and p.band else None,
                "prior_high": p.band[1] if p and p.band else None,
                "near_point_only": p.near_point_only if p else None,
            }
        )
    return pd.DataFrame(rows)
