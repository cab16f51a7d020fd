"""Uncertain inputs: the numbers of a scenario that carry a ``range``, and draws from them.

A number written ``{value: 0.25, assumption: "...", range: [0.1, 0.4]}`` (or with
``dist: triangular``) is an *uncertain input*: its ``value`` is the point value every
ordinary run uses, and its ``range`` with its ``dist`` is a prior over what the value
could honestly be. :func:`uncertain_inputs` lists them as :class:`UncertainInput`
objects (in the order of the file), :func:`calibrated_inputs` those that the file's
``calibration.inputs`` names, :func:`draw_inputs` draws override dicts from the priors
(for :func:`sim.scenario.with_overrides` and ``run_ensemble(..., inputs="prior")``), and
:func:`prior_table` tabulates them. :func:`input_rng` is the generator a replicate's draw
comes from, made from its seed alone.

Priors are independent per input, except for two constraints the scenario checks
enforce, which :func:`draw_inputs` restores after drawing:

- **weights sum to 1.** A state's three payoff weights are shares of concern. When some
  of its weights are drawn, the weights not drawn absorb the change in proportion to
  their values, so the drawn ones keep their drawn value. When all three are drawn (or
  the others cannot absorb it: the drawn ones sum to more than 1), the three are divided
  by their sum; they may then lie slightly outside their ranges. The dict holds all
  three weights of such a state.
- **shares of a row sum to at most 1.** If the drawn ``energy``, ``arms`` or ``leverage``
  shares of one state's partners, with the shares not drawn, sum to more than 1, the
  drawn ones are scaled down so that the row sums to exactly 1.

Every other draw lies inside its range, and every range lies inside its field's bounds
(:func:`sim.scenario.checks.check_ranges`), so no draw makes the scenario invalid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.scenario.checks import numbers, value_overridden
from sim.scenario.loader import Scenario
from sim.scenario.vocabulary import SHARE_PARAMS, WEIGHT_NAMES

#: The distributions a ``range`` may carry (``dist:``).
DISTS = ("uniform", "triangular")


@dataclass(frozen=True)
class UncertainInput:
    """One number with a ``range``: its prior.

    Attributes:
        path: its override path, e.g. ``relations.AZ.RU.threat``, ``model.tie_cost``,
            ``rivalries.0.value``, ``shocks.tap_start.effects.0.value``.
        value: the point value in the file (the mode of a triangular prior).
        low, high: the range, ``low < high``, ``low <= value <= high``.
        dist: ``"uniform"`` on ``[low, high]`` or ``"triangular"`` (``low``, mode
            ``value``, ``high``).
        provenance: the ``source:`` or ``assumption:`` text.
        where: ``FILE:LINE`` of the number.
    """

    path: str
    value: float
    low: float
    high: float
    dist: str
    provenance: str
    where: str

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """The values at quantiles ``u`` in [0, 1] (the inverse CDF of the prior).

        Uniform: ``low + u (high - low)``. Triangular with mode ``c = value``:
        ``low + sqrt(u (high - low)(c - low))`` for ``u < (c - low)/(high - low)``, else
        ``high - sqrt((1 - u)(high - low)(high - c))``.
        """
        u = np.asarray(u, dtype=float)
        a, b, c = self.low, self.high, self.value
        if self.dist == "uniform":  # clipped: a + 1.0 * (b - a) may round past b
            return np.clip(a + u * (b - a), a, b)
        if self.dist == "triangular":
            split = (c - a) / (b - a)
            left = a + np.sqrt(np.clip(u, 0.0, 1.0) * (b - a) * (c - a))
            right = b - np.sqrt(np.clip(1.0 - u, 0.0, 1.0) * (b - a) * (b - c))
            return np.clip(np.where(u < split, left, right), a, b)
        raise ValueError(f"dist: expected one of {', '.join(DISTS)}, got {self.dist!r}")


def uncertain_inputs(scenario: Scenario) -> list[UncertainInput]:
    """Every number of ``scenario`` that has a ``range``, in the order of the file
    (model, states, relations, rivalries, shocks). A number an override has set is fixed:
    :func:`sim.scenario.with_overrides` drops the range of a ``{value, ...}`` node, and a
    rivalry's or effect's ``value`` it sets is left out here."""
    out = []
    for num in numbers(scenario.spec):
        node = num.node
        if node.range is None or value_overridden(scenario.where, num):
            continue
        f, line = _place(scenario, num.loc)
        out.append(
            UncertainInput(
                path=num.path,
                value=float(node.value),
                low=float(node.range[0]),
                high=float(node.range[1]),
                dist=node.dist,
                provenance=(node.source or node.assumption or "").strip(),
                where=f"{f}:{line}",
            )
        )
    return out


def calibrated_inputs(scenario: Scenario) -> list[UncertainInput]:
    """The uncertain inputs that ``calibration.inputs`` lists, in that order.

    Raises:
        UserError: the scenario has no ``calibration:`` section, or overrides have set
            (and so fixed) some of its inputs.
    """
    cal = scenario.spec.calibration
    if cal is None:
        raise UserError(
            f"{scenario.path or scenario.name}: no `calibration:` section; list the inputs "
            "to calibrate under `calibration: inputs:` (see scenarios/README.md)"
        )
    by_path = {u.path: u for u in uncertain_inputs(scenario)}
    fixed = [p for p in cal.inputs if p not in by_path]
    if fixed:  # the checks allow this only for numbers that overrides set
        raise UserError(
            f"{scenario.path or scenario.name}: calibration inputs set by overrides, no "
            f"longer uncertain: {', '.join(fixed)}"
        )
    return [by_path[p] for p in cal.inputs]


def draw_inputs(
    scenario: Scenario,
    rng: np.random.Generator,
    n: int,
    inputs: Sequence[UncertainInput] | None = None,
    *,
    fixed: Mapping[str, Any] | None = None,
) -> list[dict[str, float]]:
    """``n`` override dicts ``{path: value}`` drawn from the priors.

    Args:
        scenario: the scenario the inputs belong to (for the values not drawn).
        rng: the only source of randomness: one ``(n, len(inputs))`` block of uniforms,
            row k for draw k, column m for input m (so which inputs are ``fixed`` never
            shifts the draws of the others).
        n: how many dicts.
        inputs: which inputs to draw (default: every uncertain input of the scenario).
        fixed: values that win over the draws (a replicate's explicit overrides): their
            paths are left out of the dicts, and the weights and shares drawn adjust
            around them so that the scenario stays valid.

    Returns:
        One dict per draw, each valid for :func:`sim.scenario.with_overrides` (merged
        under ``fixed``): the drawn inputs, with weights and shares restored to their
        sums (module docstring), so a dict may also hold weights not drawn.
    """
    if n < 0:
        raise UserError(f"n: expected a count >= 0, got {n}")
    inputs = list(uncertain_inputs(scenario) if inputs is None else inputs)
    fixed = dict(fixed or {})
    u = rng.random((n, len(inputs)))
    columns = [inp.ppf(u[:, m]) for m, inp in enumerate(inputs)]
    out = []
    for k in range(n):
        draw = {inp.path: float(col[k]) for inp, col in zip(inputs, columns, strict=True)}
        draw = {p: v for p, v in draw.items() if p not in fixed}
        _restore_weights(scenario, draw, fixed)
        _restore_shares(scenario, draw, fixed)
        out.append(draw)
    return out


def complete_draw(scenario: Scenario, values: Mapping[str, float]) -> dict[str, float]:
    """Input values chosen elsewhere (a calibration's particle) made valid as
    :func:`draw_inputs` makes its draws: weights restored to a sum of 1 and rows of
    shares to at most 1 (module docstring); returns a new override dict."""
    draw = {str(p): float(v) for p, v in values.items()}
    _restore_weights(scenario, draw, {})
    _restore_shares(scenario, draw, {})
    return draw


#: The spawn-key tag of a replicate's input stream (apart from the model's own stream,
#: which is the seed itself, and the shock streams of :mod:`sim.world.schedule`).
INPUT_STREAM_TAG = 0x1_A9_C7


def input_rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """The generator of a replicate's input draws, made from its seed alone:
    ``SeedSequence(entropy = the seed's entropy, spawn_key = (the seed's spawn key,
    INPUT_STREAM_TAG))``, independent of the model's choices and of the shock streams."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    child = np.random.SeedSequence(
        entropy=seq.entropy, spawn_key=(*seq.spawn_key, INPUT_STREAM_TAG)
    )
    return np.random.default_rng(child)


def prior_table(scenario: Scenario) -> pd.DataFrame:
    """The uncertain inputs as a table: path, value, low, high, dist, provenance, where."""
    rows = [
        {
            "path": u.path,
            "value": u.value,
            "low": u.low,
            "high": u.high,
            "dist": u.dist,
            "provenance": u.provenance,
            "where": u.where,
        }
        for u in uncertain_inputs(scenario)
    ]
    cols = ["path", "value", "low", "high", "dist", "provenance", "where"]
    return pd.DataFrame(rows, columns=cols)


def _place(scenario: Scenario, loc: tuple) -> tuple[str, int]:
    for n in range(len(loc), -1, -1):
        if loc[:n] in scenario.where:
            return scenario.where[loc[:n]]
    return ("?", 0)


def _restore_weights(scenario: Scenario, draw: dict[str, float], fixed: Mapping) -> None:
    """Each state with a drawn weight gets three weights summing to 1 (module docstring);
    weights in ``fixed`` keep their value."""
    for sid, st in scenario.spec.states.items():
        paths = {w: f"states.{sid}.weights.{w}" for w in WEIGHT_NAMES}
        drawn = [w for w, p in paths.items() if p in draw]
        if not drawn:
            continue
        held = [w for w, p in paths.items() if p in fixed]
        rest = [w for w in WEIGHT_NAMES if w not in drawn and w not in held]
        w = {n: getattr(st.weights, n).value for n in WEIGHT_NAMES}
        w.update({n: draw[paths[n]] for n in drawn})
        target = 1.0 - sum(_number(fixed[paths[n]]) for n in held)
        s_drawn, s_rest = sum(w[n] for n in drawn), sum(w[n] for n in rest)
        if rest and s_drawn <= target and s_rest > 0.0:
            scaled = rest, (target - s_drawn) / s_rest
        elif target >= 0.0 and s_drawn + s_rest > 0.0:
            scaled = drawn + rest, target / (s_drawn + s_rest)
        else:  # the fixed weights alone exceed 1: with_overrides reports it
            scaled = [], 1.0
        names, scale = scaled
        for n in drawn + rest:
            draw[paths[n]] = float(w[n] * scale if n in names else w[n])


def _restore_shares(scenario: Scenario, draw: dict[str, float], fixed: Mapping) -> None:
    """Each row of shares with drawn entries sums to at most 1 (module docstring);
    shares in ``fixed`` keep their value."""
    for i, row in scenario.spec.relations.items():
        for name in SHARE_PARAMS:
            drawn, rest = [], 0.0
            for j, pair in row.items():
                p = f"relations.{i}.{j}.{name}"
                if p in draw:
                    drawn.append(p)
                elif p in fixed:
                    rest += _number(fixed[p])
                elif getattr(pair, name) is not None:
                    rest += getattr(pair, name).value
            total = rest + sum(draw[p] for p in drawn)
            if drawn and total > 1.0 and rest <= 1.0:
                scale = (1.0 - rest) / (total - rest)
                for p in drawn:
                    draw[p] *= scale


def _number(v: Any) -> float:
    """A fixed value as a number (0 if it is not one: with_overrides reports it)."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return 0.0
