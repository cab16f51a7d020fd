"""Validation against history: the stylised facts a scenario declares, over many seeds.

A scenario's ``validation:`` section lists facts (see ``scenarios/README.md``). Each is
measured over ``seeds`` runs and reported with its threshold and a verdict:

- ``tie_range``: every tie named in ``bands`` stays strictly inside its band at every
  record in ``window``; measured as the share of seeds where it holds.
- ``strongest_tie``: the tie to ``partner`` is the state's highest at every record in
  ``window``; share of seeds.
- ``mean_change``: the window mean of a tie or index is higher (``direction: up``) or
  lower (``down``) in ``late`` than in ``early``; share of seeds.
- ``greater``: the window mean of a tie or index exceeds that of ``than``; share of seeds.
- ``paired_effect``: the window mean minus the same in the ``counterfactual`` scenario
  (same seeds: common random numbers), averaged over seeds, with a 95% t confidence
  interval; passes when the interval excludes zero on the side of ``direction``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from sim.drivers.ensemble import ensemble_ties
from sim.errors import UserError
from sim.kernel import indices
from sim.scenario import FactSpec, Scenario, Window, load_scenario
from sim.world.compiled import World, world_for


@dataclass
class FactResult:
    fact: FactSpec
    measured: str
    threshold: str
    passed: bool
    value: float
    ci: tuple[float, float] | None = None


class SeedPanel:
    """Tie matrices of many seeded runs of one scenario: ``ties[seed, step, i, j]``.

    The panel a fact is measured on (one per scenario; a counterfactual has its own, over
    the same seeds).

    Run by the vectorized ensemble driver; seed k's matrices are those of
    ``BalancingModel(rng=k)`` (``tests/test_ensemble.py``).
    """

    def __init__(self, world: World, seeds: list[int], progress: bool = False):
        self.world = world
        name = world.scenario.name[:40]

        def report(done: int, total: int) -> None:
            print(f"  {name}: {done}/{total} seeds", file=sys.stderr, flush=True)

        self.ties = ensemble_ties(world.scenario, seeds, progress=report if progress else None)
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


def check(scenario: Scenario, seeds: int | None = None, progress: bool = False) -> list[FactResult]:
    """Measure every fact of ``scenario`` over ``seeds`` seeds (default: the scenario's)."""
    spec = scenario.spec
    if spec.validation is None or not spec.validation.facts:
        raise UserError(f"{scenario.path}: declares no stylised facts (`validation.facts`)")
    n = seeds or spec.validation.seeds
    seed_list = list(range(n))
    base = SeedPanel(world_for(scenario), seed_list, progress)
    cache: dict[Path, SeedPanel] = {}
    out = []
    for fact in spec.validation.facts:
        cf = None
        if fact.kind == "paired_effect":
            path = (Path(scenario.path).parent / fact.counterfactual).resolve()
            if path not in cache:
                if not path.is_file():
                    raise UserError(
                        f"{scenario.path}: fact {fact.id}: counterfactual {fact.counterfactual!r} "
                        "not found"
                    )
                cache[path] = SeedPanel(world_for(load_scenario(path)), seed_list, progress)
            cf = cache[path]
        out.append(measure(fact, base, cf))
    return out


def measure(fact: FactSpec, panel: SeedPanel, cf: SeedPanel | None = None) -> FactResult:
    """Measure one fact on ``panel`` (``cf``: the counterfactual's panel, same seeds, for a
    ``paired_effect``)."""
    thr = fact.threshold
    if fact.kind == "tie_range":
        m = panel.mask(fact.window)
        ok = np.ones(panel.ties.shape[0], dtype=bool)
        for partner, (lo, hi) in fact.bands.items():
            x = panel.quantity(fact.state, partner, None)[:, m]
            ok &= ((x > lo) & (x < hi)).all(axis=1)
        return _share(fact, ok, thr)
    if fact.kind == "strongest_tie":
        m = panel.mask(fact.window)
        i, j = panel.world.index(fact.state), panel.world.index(fact.partner)
        row = panel.ties[:, m, i, :].copy()
        row[..., i] = -np.inf
        others = np.delete(row, j, axis=-1).max(axis=-1)
        ok = (row[..., j] > others).all(axis=1)
        return _share(fact, ok, thr)
    q = panel.quantity(fact.state, fact.partner, fact.index)
    sign = 1.0 if fact.direction == "up" else -1.0
    if fact.kind == "mean_change":
        diff = q[:, panel.mask(fact.late)].mean(axis=1) - q[:, panel.mask(fact.early)].mean(axis=1)
        return _share(fact, sign * diff > 0, thr)
    if fact.kind == "greater":
        m = panel.mask(fact.window)
        other = panel.quantity(fact.than.state, fact.than.partner, fact.than.index)
        return _share(fact, q[:, m].mean(axis=1) > other[:, m].mean(axis=1), thr)
    # paired_effect
    m = panel.mask(fact.window)
    q_cf = cf.quantity(fact.state, fact.partner, fact.index)
    diff = q[:, m].mean(axis=1) - q_cf[:, m].mean(axis=1)
    n = len(diff)
    mean = float(diff.mean())
    half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
    lo, hi = mean - half, mean + half
    passed = bool(lo > 0) if sign > 0 else bool(hi < 0)
    return FactResult(
        fact,
        f"{mean:+.4f} [{lo:+.4f}, {hi:+.4f}]",
        "95% CI > 0" if sign > 0 else "95% CI < 0",
        passed,
        mean,
        (lo, hi),
    )


def _share(fact: FactSpec, ok: np.ndarray, thr: float) -> FactResult:
    share = float(ok.mean())
    return FactResult(fact, f"{share:.1%} of seeds", f">= {thr:.0%}", share >= thr, share)


def table(results: list[FactResult], scenario: Scenario, seeds: int) -> str:
    """The results as the text ``multivector validate`` prints."""
    lines = [f"Stylised facts: {scenario.name} ({seeds} seeds)", ""]
    w_id = max(len(r.fact.id) for r in results)
    head = f"{'fact':<{w_id}}  {'measured':<30} {'threshold':<12} result"
    lines += [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.fact.id:<{w_id}}  {r.measured:<30} {r.threshold:<12} "
            f"{'PASS' if r.passed else 'FAIL'}"
        )
    lines.append("")
    for r in results:
        lines.append(f"{r.fact.id}: {r.fact.description} [{r.fact.source}]")
    n_pass = sum(r.passed for r in results)
    lines += ["", f"{n_pass} of {len(results)} facts hold"]
    return "\n".join(lines)
