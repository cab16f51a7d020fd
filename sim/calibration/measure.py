"""The measurement model: from simulated ties and indices to what the world records.

A tie is a latent quantity: no one publishes "Azerbaijan's tie to the EU". What is
published is behaviour that a tie should shape: how a state votes in the UN General
Assembly, where its ideal point lies. Each observable gets an explicit link (its own
parameters and noise, estimated on training years):

    y[o, i, j, t] = a[o, j] + b[o] * x[i, j, t] + e,      e ~ Normal(0, s[o]^2)

with ``x`` the simulated quantity's calendar-year mean (a tie from i to j, or i's
alignment index) and one slope ``b`` pooled across dyads (the theory's claim: a closer
tie means closer voting, whatever the pair). ``s`` is the residual standard deviation.
The intercepts come in two levels (``level``):

- ``partner`` (one per partner, ``a[o, j]``): everyone agrees more often with Russia than
  with the United States in the General Assembly, a level the model does not claim to
  explain; the differences between states must come from their simulated ties.
- ``dyad`` (one per state and partner, ``a[o, i, j]``): each dyad's level is taken as
  given (a state's voting record has domestic and issue-specific causes the model
  leaves out) and the model is asked only for the changes over time. It needs two
  training years per dyad.

Which dyads an observable may score follows what it measures. UN voting measures a
state's alignment with the US-led order across all issues, not bilateral friendship
(Azerbaijan and Armenia agree on about 70% of votes; Bailey, Strezhnev and Voeten 2017):
so the UN observables score only ties from states that are not poles to the members of
the alignment axis's poles, and the axis position scores only the alignment index of
states outside the poles. Regional enmities are never scored with them.

The predictive distribution of an observable carries three kinds of uncertainty: the
spread of simulated ``x`` over seeds (and over input draws, when drawn), the link's
parameter uncertainty (``a, b`` drawn from their least-squares sampling distribution)
and the noise ``e``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.scenario import Scenario


@dataclass(frozen=True)
class Link:
    """How one observable relates to one simulated quantity."""

    observable: str
    simulated: str  # "tie" (state -> partner) or "alignment_index" (state)
    dyadic: bool
    expected_sign: int
    meaning: str


LINKS: dict[str, Link] = {
    link.observable: link
    for link in (
        Link(
            "unga_agreement",
            "tie",
            True,
            +1,
            "share of UN General Assembly roll calls on which the two vote alike (roll calls)",
        ),
        Link(
            "bsv_agreement",
            "tie",
            True,
            +1,
            "Bailey-Strezhnev-Voeten agreement share with the partner",
        ),
        Link(
            "ideal_distance",
            "tie",
            True,
            -1,
            "distance between the two UN ideal points",
        ),
        Link(
            "ideal_axis",
            "alignment_index",
            False,
            +1,
            "position between the away pole's anchor (0) and the toward pole's anchor (1)",
        ),
    )
}

#: Observables the model may be scored on, in report order.
SCORED = tuple(LINKS)


@dataclass
class Fit:
    """One observable's link, estimated by least squares on training years."""

    observable: str
    states: list[str]  # the states it scores
    partners: list[str]  # the partners it scores ("" for a state-level observable)
    level: str  # "partner" or "dyad": what has an intercept of its own
    groups: list[str]  # the intercepts' keys (partner, or "state>partner")
    coef: np.ndarray  # intercepts, then the slope
    cov: np.ndarray  # their sampling covariance
    sigma: float  # residual standard deviation
    n: int
    r2: float
    years: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def slope(self) -> float:
        return float(self.coef[-1])

    def row(self) -> dict:
        """A summary row for tables and manifests."""
        se = float(np.sqrt(self.cov[-1, -1])) if self.cov.size else float("nan")
        return {
            "observable": self.observable,
            "level": self.level,
            "slope": self.slope,
            "slope_se": se,
            "sigma": self.sigma,
            "r2": self.r2,
            "n": self.n,
            "years": f"{self.years[0]}-{self.years[1]}",
            "sign_as_expected": bool(np.sign(self.slope) == LINKS[self.observable].expected_sign),
        }


def anchors(scenario: Scenario) -> tuple[str, str]:
    """The actors that stand for the alignment axis's poles on the UN ideal-point scale:
    each pole's most powerful member (the United States for a West of the EU and US)."""
    spec = scenario.spec
    if spec.alignment_axis is None:
        raise UserError(f"{scenario.name}: no alignment_axis, so no ideal-point axis to score")

    def strongest(pole: str) -> str:
        members = spec.poles[pole]
        return max(members, key=lambda m: spec.states[m].power.value)

    return strongest(spec.alignment_axis.toward), strongest(spec.alignment_axis.away)


def scored_pairs(scenario: Scenario) -> tuple[list[str], list[str]]:
    """(states, partners): the UN observables score ties from ``states`` (not in any
    pole) to ``partners`` (the members of the alignment axis's poles)."""
    spec = scenario.spec
    if spec.alignment_axis is None:
        raise UserError(f"{scenario.name}: no alignment_axis; the UN observables need one")
    in_poles = {m for ms in spec.poles.values() for m in ms}
    axis = spec.alignment_axis
    partners = [*spec.poles[axis.toward], *spec.poles[axis.away]]
    states = [s for s in spec.states if s not in in_poles]
    return states, partners


def simulated_years(ties: pd.DataFrame | None, indices: pd.DataFrame | None) -> pd.DataFrame:
    """Calendar-year means of each replicate's ties and alignment indices.

    Returns a tidy table: ``simulated`` ("tie" or "alignment_index"), ``state``,
    ``partner`` ("" for an index), ``year``, ``replicate``, ``x``. A year counts the
    records dated inside it (the start record, dated the day before the start, belongs
    to the year before).
    """
    parts = []
    if ties is not None:
        t = ties.assign(year=pd.to_datetime(ties["date"]).dt.year)
        g = t.groupby(["state", "partner", "year", "replicate"], sort=True)["tie"].mean()
        parts.append(g.rename("x").reset_index().assign(simulated="tie"))
    if indices is not None:
        t = indices.assign(year=pd.to_datetime(indices["date"]).dt.year)
        g = t.groupby(["state", "year", "replicate"], sort=True)["alignment_index"].mean()
        parts.append(g.rename("x").reset_index().assign(simulated="alignment_index", partner=""))
    if not parts:
        raise UserError("simulated_years: neither ties nor indices given")
    out = pd.concat(parts, ignore_index=True)
    return out[["simulated", "state", "partner", "year", "replicate", "x"]]


def paired(
    link: Link, observed: pd.DataFrame, sim_mean: pd.DataFrame, scenario: Scenario
) -> pd.DataFrame:
    """Observed values of ``link.observable`` beside the simulated mean ``x`` of the same
    dyad and year, restricted to the pairs the observable may score."""
    states, partners = scored_pairs(scenario)
    obs = observed[observed["observable"] == link.observable]
    obs = obs[obs["state"].isin(states)]
    if link.dyadic:
        obs = obs[obs["partner"].isin(partners)]
    else:
        obs = obs.assign(partner="")
    obs = obs[["state", "partner", "year", "value"]]
    x = sim_mean.loc[sim_mean["simulated"] == link.simulated, ["state", "partner", "year", "x"]]
    both = obs.merge(x, on=["state", "partner", "year"], how="inner")
    both = both[np.isfinite(both["value"]) & np.isfinite(both["x"])]
    return both[["state", "partner", "year", "value", "x"]].reset_index(drop=True)


def scored_observed(observed: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The observed rows the measurement model may score: the linked observables, from
    states outside the poles, to the poles' members for a dyadic observable."""
    states, partners = scored_pairs(scenario)
    linked = observed["observable"].isin(list(LINKS))
    dyadic = observed["observable"].map(lambda o: LINKS[o].dyadic if o in LINKS else False)
    keep = linked & observed["state"].isin(states) & (~dyadic | observed["partner"].isin(partners))
    out = observed[keep].reset_index(drop=True)
    out.attrs = dict(observed.attrs)
    return out


#: What may carry an intercept of its own in a link.
LEVELS = ("partner", "dyad")


def group_keys(rows: pd.DataFrame, level: str) -> np.ndarray:
    """Each row's intercept key: its partner, or ``state>partner``."""
    if level == "partner":
        return rows["partner"].astype(str).to_numpy(dtype=object)
    if level == "dyad":
        states = rows["state"].astype(str).to_numpy(dtype=object)
        return states + ">" + rows["partner"].astype(str).to_numpy(dtype=object)
    raise UserError(f"link level: expected one of {', '.join(LEVELS)}, got {level!r}")


def _design(rows: pd.DataFrame, groups: list[str], level: str) -> np.ndarray:
    keys = group_keys(rows, level)
    dummies = (keys[:, None] == np.array(groups, dtype=object)[None, :]).astype(float)
    return np.column_stack([dummies, rows["x"].to_numpy(dtype=float)])


def fit_link(link: Link, rows: pd.DataFrame, level: str = "partner") -> Fit:
    """Least squares of the observed values on the simulated means (an intercept per
    partner or per dyad, one slope); refuses fewer than two residual degrees of
    freedom."""
    groups = sorted(set(group_keys(rows, level).tolist()))
    X = _design(rows, groups, level)
    y = rows["value"].to_numpy(dtype=float)
    dof = len(y) - X.shape[1]
    if dof < 2:
        raise UserError(
            f"measurement model for {link.observable}: {len(y)} observed dyad-years overlap "
            f"the simulation, too few to estimate {X.shape[1]} parameters (need at least "
            f"{X.shape[1] + 2}); does the scenario's horizon overlap the data's years?"
        )
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    sigma2 = float(resid @ resid) / dof
    xtx_inv = np.linalg.pinv(X.T @ X)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / total if total > 0 else float("nan")
    years = (int(rows["year"].min()), int(rows["year"].max()))
    notes = []
    if np.ptp(rows["x"].to_numpy()) == 0:
        notes.append("the simulated quantity does not vary: the slope is not identified")
    return Fit(
        observable=link.observable,
        states=sorted(rows["state"].unique().tolist()),
        partners=sorted(rows["partner"].unique().tolist()),
        level=level,
        groups=groups,
        coef=coef,
        cov=sigma2 * xtx_inv,
        sigma=float(np.sqrt(sigma2)),
        n=len(y),
        r2=r2,
        years=years,
        notes=notes,
    )


def fit_all(
    observed: pd.DataFrame,
    sim_mean: pd.DataFrame,
    scenario: Scenario,
    *,
    until: int,
    observables: Sequence[str] = SCORED,
    level: str = "partner",
) -> dict[str, Fit]:
    """Fit each observable's link on the years up to ``until`` (those it has data for);
    an observable with too few overlapping rows is left out, and when none is left the
    last reason is raised."""
    fits, problem = {}, None
    for name in observables:
        rows = paired(LINKS[name], observed, sim_mean, scenario)
        rows = rows[rows["year"] <= until]
        if not len(rows):
            continue
        try:
            fits[name] = fit_link(LINKS[name], rows, level)
        except UserError as exc:
            problem = exc
    if not fits:
        raise problem or UserError(
            f"{scenario.name}: no observed series overlaps the simulated years up to {until}"
        )
    return fits


def predict(
    fit: Fit,
    sim: pd.DataFrame,
    rng: np.random.Generator,
    *,
    years: Sequence[int] | None = None,
    noise: bool = True,
) -> pd.DataFrame:
    """Predictive draws of the observable: one per simulated replicate-year row of the
    scored pairs, with the link's parameters drawn from their sampling distribution
    (one draw per replicate) and the residual noise added.

    Returns ``observable, state, partner, year, draw, value`` (draw = replicate).
    """
    link = LINKS[fit.observable]
    rows = sim[(sim["simulated"] == link.simulated) & sim["state"].isin(fit.states)]
    if link.dyadic:
        rows = rows[rows["partner"].isin(fit.partners)]
    if years is not None:
        rows = rows[rows["year"].isin(list(years))]
    rows = rows[np.isin(group_keys(rows, fit.level), fit.groups)].reset_index(drop=True)
    reps = np.unique(rows["replicate"].to_numpy())
    coefs = rng.multivariate_normal(fit.coef, fit.cov, size=len(reps), method="svd")
    at = np.searchsorted(reps, rows["replicate"].to_numpy())
    X = _design(rows, fit.groups, fit.level)
    value = np.einsum("rk,rk->r", X, coefs[at])
    if noise:
        value = value + rng.normal(0.0, fit.sigma, size=len(value))
    return pd.DataFrame(
        {
            "observable": fit.observable,
            "state": rows["state"].to_numpy(),
            "partner": rows["partner"].to_numpy(),
            "year": rows["year"].to_numpy(dtype=int),
            "draw": rows["replicate"].to_numpy(dtype=int),
            "value": value,
        }
    )


def mean_over_replicates(sim: pd.DataFrame) -> pd.DataFrame:
    """The simulated table averaged over replicates (the ``x`` a link is fitted on)."""
    keys = ["simulated", "state", "partner", "year"]
    return sim.groupby(keys, sort=True)["x"].mean().reset_index()


def fits_table(fits: dict[str, Fit]) -> pd.DataFrame:
    """One row per fitted link: slope, its standard error, sigma, R^2, n, years."""
    return pd.DataFrame([f.row() for f in fits.values()])
