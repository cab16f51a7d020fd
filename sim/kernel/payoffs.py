"""The payoff kernel: energy, security and alignment of candidate tie rows.

Pure numpy over arrays with arbitrary leading batch dimensions (replicates, sweep
points); no Mesa, no I/O, no randomness. The Mesa model and any ensemble driver call the
same functions. The mathematics is written out, symbol by symbol, in ``docs/ODD.md``
(section 7, Submodels); the names below follow it, and its section 7.8 lists the names of
the fast paths (:attr:`Params.derived`, :func:`local_gains`) with their formulas.

Notation (row ``i`` is the deciding state, ``j`` and ``k`` its partners):

- ``x``: a candidate row of ties for state i, values in (-1, 1);
- ``f(x) = (1 + x) / 2``: friendliness; ``k(x) = f(x)**2``: commitment;
- ``rho_ij = beta + (1 - beta) f(T_ji)``: reciprocity (j's current tie to i);
- ``q_ij = p_j / (p_i + p_j)``: j's capability relative to i.

Theory behind the terms: balance of threat (Walt 1987) for the threat term, noisy-OR
aggregation so protection saturates and spreading ties pays, structural balance
(Heider 1946; Cartwright and Harary 1956) for cross-pressure, and a Herfindahl index of
commitments for the autonomy motive of "multi-vector" policy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property, lru_cache

import numpy as np

#: Names of the payoff components, in the order of the last axis of ``components``.
COMPONENTS = ("energy", "security", "alignment", "cost")


@dataclass(frozen=True)
class Params:
    """World parameters as arrays; any leading batch shape ``B`` is allowed.

    Per state ``(B..., N)``: ``power``, ``autonomy`` (alpha), ``cross_pressure`` (eps),
    ``kappa`` (tie cost), ``tau`` (logit temperature), ``gamma`` (move cost).
    Weights ``(B..., N, 3)``: energy, security, alignment; each row sums to 1.
    Pairs ``(B..., N, N)``, row i about partner j: ``energy``, ``threat``, ``proximity``,
    ``protection`` (credibility of j's commitment to i; Model 2: its ceiling), ``arms``,
    ``affinity``, ``leverage``, ``attack`` (Model 2: an attack on i by j in force);
    ``rivalry`` is symmetric. Diagonals are zero.
    Scalars ``(B...)``: ``beta`` (reciprocity floor), ``lam`` (threat reduction by
    friendliness), ``phi`` (leverage threshold); Model 2's ``balance`` (weight of
    structural balance), ``bandwagon`` (the share of a threat accommodation can remove)
    and ``credibility_rate`` (see :mod:`sim.kernel.balance`).
    ``groups`` ``(N, G)``: one-hot membership of the groups for the autonomy term (poles
    grouped, every other state its own group); the same for every replicate.

    Treat a ``Params`` as immutable: :attr:`derived` is computed once, and from then on
    its arrays are read-only. To change a parameter, change a :meth:`copy`.
    """

    power: np.ndarray
    autonomy: np.ndarray
    cross_pressure: np.ndarray
    kappa: np.ndarray
    tau: np.ndarray
    gamma: np.ndarray
    weights: np.ndarray
    energy: np.ndarray
    threat: np.ndarray
    proximity: np.ndarray
    protection: np.ndarray
    arms: np.ndarray
    affinity: np.ndarray
    leverage: np.ndarray
    attack: np.ndarray
    rivalry: np.ndarray
    beta: np.ndarray
    lam: np.ndarray
    phi: np.ndarray
    balance: np.ndarray
    bandwagon: np.ndarray
    credibility_rate: np.ndarray
    groups: np.ndarray

    @cached_property
    def derived(self) -> dict[str, np.ndarray]:
        """Quantities that depend on the parameters only, computed once per ``Params``.

        Keys (the symbols of ``docs/ODD.md``, sections 7.1 and 7.8), each ``(B..., N, N)``
        unless noted:

        - ``theta``: threat intensity ``theta_ij = h_ij prox_ij q_ij``, in [0, 1).
        - ``pi``: protection potential ``pi_ij = 1 - (1 - c_ij q_ij)(1 - arms_ij / 2)``.
        - ``leverage_weight``: ``lq_ij = l_ij q_ij``, the weight of j's hold over i
          (0 on the diagonal).
        - ``rnorm``: rivalry rows normalised to sum 1, ``r_jk / sum_k' r_jk'``.
        - ``aff``: affinity over the row's total absolute affinity.
        - ``inv_denom`` ``(B..., N)``: 1 over the total rivalry among i's partners (pairs
          without i), 0 where there is none.
        - ``rival_leverage``: ``sum_j lq_ij rnorm_jk``, the leverage i faces per unit of
          commitment to k (k a rival of i's leverage holders).
        - ``group_mass_and_rivalry`` ``(B..., N, 2N)``: ``[j, k]`` for ``k < N`` is ``p_j``
          where j and k share an autonomy group (else 0), ``[j, N + k]`` is ``r_jk``; a
          row of commitments ``k(x)`` times it gives, per partner, the commitment mass of
          its group and the commitment to its rivals.
        - ``lq``: the same array as ``leverage_weight``, kept under its old name for
          ``tests/test_kernel.py`` until that test uses the new one.

        Model 2's (:mod:`sim.kernel.balance`; section 7.9 of ``docs/ODD.md``):

        - ``intent``: ``h_ik prox_ik``, k's hostile intent within reach of i.
        - ``relative_power``: ``q_ik = p_k / (p_i + p_k)``.
        - ``accommodation``: ``acc_ik = b prox_ik (2 q_ik - 1)^+``, the share of k's threat
          that i's full friendliness (reciprocated) removes: nothing against a state no
          stronger than i, most for a weak state beside a strong one (bandwagoning);
          ``b`` is the ``bandwagon`` constant and ``(2 q - 1)^+ = (p_k - p_i)^+ /
          (p_k + p_i)`` the power gap.
        - ``capability``: ``cap_jk = p_j / (p_j + p_k)``, j's strength against k.
        - ``pair_mass``: ``p_j p_k`` off the diagonal (the sizes of landscape theory).
        - ``inv_pair_mass`` ``(B..., N)``: 1 over ``W_i``, the total ``p_j p_k`` over
          the pairs ``j < k`` without i (0 where there is none).
        """
        n = self.power.shape[-1]
        p = self.power
        q = p[..., None, :] / (p[..., :, None] + p[..., None, :])  # [i, j] = p_j / (p_i + p_j)
        rsum = self.rivalry.sum(axis=-1, keepdims=True)
        rnorm = np.divide(self.rivalry, rsum, out=np.zeros_like(self.rivalry), where=rsum > 0)
        aff_norm = np.abs(self.affinity).sum(axis=-1, keepdims=True)
        denom = _rivalry_among_partners(self.rivalry)  # (B..., N)
        leverage_weight = self.leverage * q * _off_mask(n)
        same_group = self.groups @ self.groups.T  # (N, N): 1 where j and k share a group
        for f in fields(self):  # the cache is only valid while the inputs stay as they are
            a = getattr(self, f.name)
            if isinstance(a, np.ndarray):
                a.flags.writeable = False
        others = p.sum(axis=-1, keepdims=True) - p  # sum of p_j over j != i
        others_sq = (p * p).sum(axis=-1, keepdims=True) - p * p
        pair_total = 0.5 * (others * others - others_sq)
        return {
            "intent": self.threat * self.proximity,
            "relative_power": q,
            "accommodation": self.bandwagon[..., None, None]
            * np.maximum(2.0 * q - 1.0, 0.0)
            * self.proximity,
            "capability": np.swapaxes(q, -1, -2),
            "pair_mass": p[..., :, None] * p[..., None, :] * _off_mask(n),
            "inv_pair_mass": np.divide(
                1.0, pair_total, out=np.zeros_like(pair_total), where=pair_total > 0
            ),
            "theta": self.threat * self.proximity * q,
            "pi": 1.0 - (1.0 - self.protection * q) * (1.0 - self.arms / 2.0),
            "leverage_weight": leverage_weight,
            "rnorm": rnorm,
            "aff": self.affinity / np.where(aff_norm > 0, aff_norm, 1.0),
            "inv_denom": np.divide(1.0, denom, out=np.zeros_like(denom), where=denom > 0),
            "rival_leverage": leverage_weight @ rnorm,
            "group_mass_and_rivalry": np.concatenate(
                [same_group * p[..., :, None], self.rivalry], axis=-1
            ),
        }

    @cached_property
    def packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model 1's parameters as the compiled kernel reads them
        (:func:`sim.kernel.compiled.pack`), computed once per ``Params``."""
        from sim.kernel.compiled import pack

        return pack(self)

    @cached_property
    def packed_balance(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model 2's parameters as its compiled gains read them
        (:func:`sim.kernel.compiled_balance.pack`), computed once per ``Params``."""
        from sim.kernel.compiled_balance import pack

        return pack(self)

    def copy(self) -> Params:
        return replace(self, **{f.name: np.array(getattr(self, f.name)) for f in fields(self)})


def take(P: Params, idx: np.ndarray) -> Params:
    """Rows ``idx`` of a ``Params`` batched over its first axis, derived quantities too."""
    out = replace(
        P,
        **{f.name: getattr(P, f.name)[idx] for f in fields(P) if f.name != "groups"},
    )
    vars(out)["derived"] = {k: v[idx] for k, v in P.derived.items()}
    return out


def stack_params(params: list[Params]) -> Params:
    """One ``Params`` batched over a leading axis: an unbatched ``Params`` gives one row,
    one batched over its first axis its rows, in order (derived stacked, not redone).

    Stacking each point's own derived quantities keeps the arithmetic identical to the
    Mesa model's, which computes them on the point alone.
    """

    def rows(P: Params, a: np.ndarray) -> np.ndarray:
        return a if P.power.ndim > 1 else a[None]

    first = params[0]
    out = replace(
        first,
        **{
            f.name: np.concatenate([rows(p, getattr(p, f.name)) for p in params])
            for f in fields(first)
            if f.name != "groups"
        },
    )
    vars(out)["derived"] = {
        k: np.concatenate([rows(p, p.derived[k]) for p in params]) for k in first.derived
    }
    return out


def _rivalry_among_partners(rivalry: np.ndarray) -> np.ndarray:
    """``(B..., N)``: half the total rivalry among i's partners (pairs j, k both != i).

    Computed for a block of states i at a time, so memory stays O(N^2) however many
    states there are (all i at once would be an ``(N, N, N)`` array: 60 GB at 2,000
    states). Each i's sum is the same reduction, in the same order, whatever the block.
    """
    n = rivalry.shape[-1]
    out = np.empty(rivalry.shape[:-1])
    block = max(1, (1 << 22) // (n * n))  # about 32 MB of float64 per block
    idx = np.arange(n)
    for lo in range(0, n, block):
        i = idx[lo : lo + block, None, None]
        partner_is_i = (idx[None, :, None] == i) | (idx[None, None, :] == i)  # (b, N, N)
        r_not_i = np.where(partner_is_i, 0.0, rivalry[..., None, :, :])
        out[..., lo : lo + block] = 0.5 * r_not_i.sum(axis=(-1, -2))
    return out


@lru_cache(maxsize=32)
def _off_mask(n: int) -> np.ndarray:
    """``(N, N)`` bool, False on the diagonal (read-only, shared)."""
    m = ~np.eye(n, dtype=bool)
    m.flags.writeable = False
    return m


def friendliness(x: np.ndarray) -> np.ndarray:
    """``f(x) = (1 + x) / 2``, mapping a tie in [-1, 1] to [0, 1]."""
    return (1.0 + x) / 2.0


def tie_cost(x: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """Barrier cost of a row, ``kappa * sum_j [(1+x)ln(1+x) + (1-x)ln(1-x)] / 2``.

    ``x``: ``(B..., N, M, N)`` with the own-tie entries already zeroed; ``kappa``
    ``(B..., N)``. Its marginal is ``kappa * artanh(x)``, so a tie facing a constant
    field ``F`` settles at ``tanh(F / kappa)``, never at +-1.
    """
    return kappa[..., None] * _barrier(x).sum(axis=-1)


def components(x: np.ndarray, T: np.ndarray, P: Params) -> np.ndarray:
    """Energy, security, alignment and tie cost of candidate rows.

    Args:
        x: candidate rows ``(B..., N, M, N)``: for each state i, M candidate rows of its
            ties (entry ``[..., i, m, j]`` is i's tie to j). ``x[..., i, :, i]`` is ignored.
        T: the current tie matrix ``(B..., N, N)`` (others' ties, for reciprocity).
        P: parameters with batch shape ``B``.

    Returns:
        ``(B..., N, M, 4)``: the components named in :data:`COMPONENTS`, unweighted.
    """
    n = T.shape[-1]
    off = _off_mask(n)[:, None, :]  # (N, 1, N): i's own entry masked
    x = np.where(off, x, 0.0)
    f = friendliness(x)
    k = f * f * off
    d = P.derived

    def pair(a: np.ndarray) -> np.ndarray:  # (B..., N, N) -> (B..., N, 1, N)
        return a[..., :, None, :]

    beta = P.beta[..., None, None]
    rhoc = pair(beta + (1.0 - beta) * friendliness(np.swapaxes(T, -1, -2)))

    # Energy and economy: mutual cooperation with partners, weighted by stakes.
    energy = (pair(P.energy) * f * rhoc).sum(axis=-1)

    # Threat (balance of threat, noisy-OR over sources), reduced by friendly relations.
    lam = P.lam[..., None, None, None]
    threat = 1.0 - np.prod(1.0 - pair(d["theta"]) * (1.0 - lam * f * rhoc), axis=-1)
    # Protection (noisy-OR over protectors), from committed friends.
    protection = 1.0 - np.prod(1.0 - pair(d["pi"]) * k * rhoc, axis=-1)
    # Leverage: the holder j punishes a tie below phi and closeness to j's rivals.
    phi = P.phi[..., None, None, None]
    hinge = (np.maximum(phi - x, 0.0) / (1.0 + phi)) ** 2
    rival_closeness = k @ np.swapaxes(d["rnorm"], -1, -2)[..., None, :, :]  # [i, m, j]
    leverage = (pair(d["leverage_weight"]) * (hinge + rival_closeness)).sum(axis=-1)
    security = -threat * (1.0 - protection) - leverage

    # Alignment: affinity, autonomy (concentration of commitments), cross-pressure.
    affinity = (pair(d["aff"]) * x).sum(axis=-1)
    hhi = herfindahl(k, P)
    pressure = 0.5 * ((k @ P.rivalry[..., None, :, :]) * k).sum(axis=-1)
    cross = pressure * d["inv_denom"][..., None]
    alignment = affinity - P.autonomy[..., None] * hhi - P.cross_pressure[..., None] * cross

    cost = tie_cost(x, P.kappa)
    return np.stack([energy, security, alignment, cost], axis=-1)


def herfindahl(k: np.ndarray, P: Params) -> np.ndarray:
    """``HHI_i``, the concentration of i's commitments over the autonomy groups, for rows
    of commitments ``k`` ``(B..., N, M, N)`` (own entries 0); ``(B..., N, M)``.

    A group's share is the sum of ``p_j k(x_ij)`` over its members over the row's total
    (0 where the row commits to no one).
    """
    by_group = (P.power[..., None, None, :] * k) @ P.groups  # (B..., N, M, G)
    total = by_group.sum(axis=-1, keepdims=True)
    shares = by_group / np.where(total > 0, total, 1.0)
    return (shares * shares).sum(axis=-1)


def _barrier(z: np.ndarray) -> np.ndarray:
    """``[(1 + z) ln(1 + z) + (1 - z) ln(1 - z)] / 2`` on [-1, 1] (``0 ln 0 = 0``)."""
    up = 1.0 + z
    down = 1.0 - z
    with np.errstate(divide="ignore", invalid="ignore"):
        c = up * np.log(up) + down * np.log(down)
    if not (np.abs(z) < 1.0).all():
        c[np.isnan(c)] = 0.0
    return c / 2.0


def candidate_components(T: np.ndarray, values: np.ndarray, P: Params) -> np.ndarray:
    """Components of single-tie moves, computed incrementally (the drivers' hot path).

    Entry ``[..., i, j, s, :]`` equals ``components`` of state i's current row with its tie
    to j replaced by ``values[..., i, j, s]`` (a test checks the two agree to rounding).
    Instead of re-scoring N full rows per state, it updates the row's totals: sums by the
    changed term, the noisy-OR products through the product of the other factors, the
    Herfindahl and cross-pressure sums through their one changed entry. Cost per period
    is O(N^2 S) instead of O(N^3 S). Own-tie entries (``j == i``) are meaningless.

    Args:
        T: ties ``(B..., N, N)``; values: candidate ties ``(B..., N, N, S)`` in [-1, 1].

    Returns:
        ``(B..., N, N, S, 4)``: energy, security, alignment, tie cost.
    """
    n = T.shape[-1]
    off = _off_mask(n)
    d = P.derived
    x = np.where(off, T, 0.0)
    v = values
    f = friendliness(x)
    k = f * f * off
    fv = friendliness(v)
    kv = fv * fv
    dk = kv - k[..., None]
    beta = P.beta[..., None, None]
    rho = beta + (1.0 - beta) * friendliness(np.swapaxes(T, -1, -2))

    def row(a: np.ndarray) -> np.ndarray:  # (B..., N) -> (B..., N, 1, 1)
        return a[..., None, None]

    def cand(a: np.ndarray) -> np.ndarray:  # (B..., N, N) -> (B..., N, N, 1)
        return a[..., None]

    ew = P.energy * rho
    energy = row((ew * f).sum(axis=-1)) + cand(ew) * (fv - cand(f))

    # noisy-OR factors are > 0 (q < 1 keeps theta and pi below 1), so the product of
    # the other factors is the row's product over the changed one
    lam_rho = P.lam[..., None, None] * rho
    theta = d["theta"]
    a_now = 1.0 - theta * (1.0 - lam_rho * f)
    a_new = 1.0 - cand(theta) * (1.0 - cand(lam_rho) * fv)
    threat = 1.0 - cand(a_now.prod(axis=-1, keepdims=True) / a_now) * a_new
    pi_rho = d["pi"] * rho
    b_now = 1.0 - pi_rho * k
    b_new = 1.0 - cand(pi_rho) * kv
    protection = 1.0 - cand(b_now.prod(axis=-1, keepdims=True) / b_now) * b_new
    phi = P.phi[..., None, None]
    hinge = (np.maximum(phi - x, 0.0) / (1.0 + phi)) ** 2
    hinge_new = (np.maximum(cand(phi) - v, 0.0) / (1.0 + cand(phi))) ** 2
    rnorm = d["rnorm"]
    lq = d["leverage_weight"]
    lev_now = (lq * (hinge + k @ np.swapaxes(rnorm, -1, -2))).sum(axis=-1)
    leverage = row(lev_now) + cand(lq) * (hinge_new - cand(hinge)) + cand(lq @ rnorm) * dk
    security = -threat * (1.0 - protection) - leverage

    aff = d["aff"]
    affinity = row((aff * x).sum(axis=-1)) + cand(aff) * (v - cand(x))
    by_group = (P.power[..., None, :] * k) @ P.groups  # (B..., N, G)
    own_group = by_group @ P.groups.T  # (B..., N, N): total of j's group in i's row
    dm = P.power[..., None, :, None] * dk
    sq = row((by_group * by_group).sum(axis=-1)) + 2.0 * cand(own_group) * dm + dm * dm
    total = row(by_group.sum(axis=-1)) + dm
    hhi = np.divide(sq, total * total, out=np.zeros_like(sq), where=total > 0)
    rk = k @ P.rivalry  # [i, j] = sum_k r_jk k(x_ik)
    pressure = row(0.5 * (rk * k).sum(axis=-1)) + cand(rk) * dk
    cross = pressure * row(d["inv_denom"])
    alignment = affinity - row(P.autonomy) * hhi - row(P.cross_pressure) * cross

    c_now = _barrier(x) * off
    cost = row(P.kappa) * (row(c_now.sum(axis=-1)) + _barrier(v) - cand(c_now))
    return np.stack([energy, security, alignment, cost], axis=-1)


def utility(comp: np.ndarray, P: Params) -> np.ndarray:
    """``U = w_E E + w_S S + w_A A - C`` from :func:`components` output ``(B..., N, M, 4)``."""
    w = P.weights[..., :, None, :]  # (B..., N, 1, 3)
    return (comp[..., :3] * w).sum(axis=-1) - comp[..., 3]


def _rowsum(a: np.ndarray) -> np.ndarray:
    """Sum over the last axis. (numpy's ``sum`` over a short last axis pays a loop set-up
    per row; ``einsum`` is several times faster. Its order of additions depends on the
    row's length only, so one replicate or many give the same bits.)"""
    return np.einsum("...j->...", a)


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a * b).sum(axis=-1)`` in one pass (see :func:`_rowsum`)."""
    return np.einsum("...j,...j->...", a, b)


def _rowprod(a: np.ndarray) -> np.ndarray:
    """Product over the last axis, factor by factor in order (several times faster than
    ``prod`` over a short axis, and the same bits whatever the batch)."""
    out = a[..., 0].copy()
    for j in range(1, a.shape[-1]):
        out *= a[..., j]
    return out


def row_components(T: np.ndarray, P: Params, delta: float | None = None) -> np.ndarray:
    """Components ``(B..., N, 4)`` of every state's current row of ``T``.

    The same quantities as ``components(T[..., :, None, :], T, P)`` (a test checks them
    to rounding), written for one row per state: the leverage of rivals' closeness and
    the Herfindahl index through the fixed matrices of :attr:`Params.derived` instead of
    a product per row, which makes the tables of many records cheap.
    """
    n = T.shape[-1]
    off = _off_mask(n)
    d = P.derived
    x = np.where(off, T, 0.0)
    f = friendliness(x)
    k = f * f * off
    beta = P.beta[..., None, None]
    rho = beta + (1.0 - beta) * friendliness(np.swapaxes(T, -1, -2))
    energy = _rowdot(P.energy * rho, f)
    lam_rho = P.lam[..., None, None] * rho
    threat = 1.0 - _rowprod(1.0 - d["theta"] * (1.0 - lam_rho * f))
    protection = 1.0 - _rowprod(1.0 - d["pi"] * rho * k)
    phi = P.phi[..., None, None]
    hinge = (np.maximum(phi - x, 0.0) / (1.0 + phi)) ** 2
    leverage = _rowdot(d["leverage_weight"], hinge) + _rowdot(d["rival_leverage"], k)
    security = -threat * (1.0 - protection) - leverage
    masses = k @ d["group_mass_and_rivalry"]
    group_mass, rival_commitment = masses[..., :n], masses[..., n:]
    mass = P.power[..., None, :] * k
    total_mass = _rowsum(mass)
    mass_sq = _rowdot(mass, group_mass)
    hhi = np.divide(
        mass_sq, total_mass * total_mass, out=np.zeros_like(mass_sq), where=total_mass > 0
    )
    cross = 0.5 * _rowdot(rival_commitment, k) * d["inv_denom"]
    affinity = _rowdot(d["aff"], x)
    alignment = affinity - P.autonomy * hhi - P.cross_pressure * cross
    cost = P.kappa * _rowdot(_barrier_at(x, delta), off)
    return np.stack([energy, security, alignment, cost], axis=-1)


def row_utility(
    T: np.ndarray, P: Params, delta: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Components ``(B..., N, 4)`` and utility ``(B..., N)`` of every state's current row.

    ``delta``: the tie step, if the ties may sit on its lattice (a faster tie cost).
    """
    comp = row_components(T, P, delta)
    util = _rowdot(comp[..., :3], P.weights) - comp[..., 3]
    return comp, util


def local_gains(T: np.ndarray, P: Params, delta: float) -> np.ndarray:
    """Utility gains of moving each tie one step down or up (the drivers' hot path).

    ``gains[0][..., i, j]`` is ``U_i`` with ``T_ij - delta`` minus ``U_i`` of the current
    row, ``gains[1]`` the same with ``T_ij + delta``; the rest of the row held as it is.
    It equals the differences of :func:`candidate_components` utilities (a test checks it
    to rounding) but works with the gains directly: with ``v = x + s delta`` (the sign
    ``s`` is -1 or +1) every term but the leverage hinge, the Herfindahl ratio and the
    tie cost is affine in ``s`` (:func:`_affine_gains`; the three others are
    :func:`_hinge_gains`, :func:`_autonomy_losses` and the barrier), so most of the work is
    on ``(B..., N, N)`` arrays, and the sign is the leading axis so that every operation
    runs over long contiguous blocks. The derivation and a table of the names used here
    are in ``docs/ODD.md``, section 7.8.
    Moves that leave (-1, 1) get NaN; own-tie entries (``j == i``) are NaN too.

    Args:
        T: ties ``(B..., N, N)``; P: parameters with batch shape ``B`` (or none).
        delta: the tie step, in (0, 1).

    Returns:
        ``(2, B..., N, N)``: the gains of ``-delta`` and ``+delta``, in utility units.
    """
    n = T.shape[-1]
    off = _off_mask(n)
    x = np.where(off, T, 0.0)
    f = friendliness(x)
    k = f * f
    k *= off
    beta = P.beta[..., None, None]
    rho = beta + (1.0 - beta) * friendliness(np.swapaxes(T, -1, -2))
    masses = k @ P.derived["group_mass_and_rivalry"]  # (B..., N, 2N)
    group_mass, rival_commitment = masses[..., :n], masses[..., n:]
    even, odd = _affine_gains(f, k, rho, rival_commitment, P, delta)

    v = np.empty((2, *x.shape))  # the candidate ties x - delta and x + delta
    np.subtract(x, delta, out=v[0])
    np.add(x, delta, out=v[1])
    invalid = np.abs(v) >= 1.0
    invalid |= ~off
    np.clip(v, -1.0, 1.0, out=v)
    gain = _hinge_gains(x, v, P)
    gain -= _autonomy_losses(f, k, group_mass, v, P, delta)
    cost = _barrier_step(x, v, delta)
    cost *= P.kappa[..., None]
    gain -= cost

    gain[0] += even - odd
    gain[1] += even + odd
    np.copyto(gain, np.nan, where=invalid)
    return gain


def _affine_gains(
    f: np.ndarray,
    k: np.ndarray,
    rho: np.ndarray,
    rival_commitment: np.ndarray,
    P: Params,
    delta: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The part of :func:`local_gains` that is affine in the sign ``s`` of the step.

    Energy, affinity, threat times unprotection, leverage through rivals' closeness and
    cross-pressure: their weighted gain from ``x_ij`` to ``x_ij + s delta`` is
    ``even + s * odd``, because a commitment then changes by
    ``k(x + s delta) - k(x) = s * k_slope + bump`` with ``k_slope = delta f(x)`` and
    ``bump = (delta / 2)^2`` (section 7.8 of ``docs/ODD.md``).

    Args:
        f, k: friendliness and commitment of the current ties ``(B..., N, N)`` (own
            entries 0 in ``k``).
        rho: reciprocity ``rho_ij`` ``(B..., N, N)``.
        rival_commitment: ``[i, j] = sum_k r_jk k(x_ik)`` ``(B..., N, N)``.
        P: parameters; delta: the tie step.

    Returns:
        ``even`` and ``odd``, each ``(B..., N, N)``, in utility units.
    """
    d = P.derived
    half = 0.5 * delta
    bump = half * half
    k_slope = delta * f
    w = P.weights[..., None]  # (B..., N, 3, 1): one weight per row
    w_energy, w_security, w_alignment = w[..., 0, :], w[..., 1, :], w[..., 2, :]
    odd = (w_energy * half) * P.energy * rho
    odd += (w_alignment * delta) * d["aff"]

    # threat (noisy-OR): 1 - prod(threat_factor); x_ij + s delta changes factor j by
    # s theta lam rho half, so threat_s = threat - s threat_drop
    lam_rho = P.lam[..., None, None] * rho
    theta = d["theta"]
    threat_factor = 1.0 - theta * (1.0 - lam_rho * f)
    unthreatened = _rowprod(threat_factor)[..., None]
    threat = 1.0 - unthreatened
    threat_drop = unthreatened / threat_factor * theta * lam_rho * half
    # protection (noisy-OR): unprotected_s = unprotected - cover_even - s cover_odd
    pi_rho = d["pi"] * rho
    unprotected_factor = 1.0 - pi_rho * k
    unprotected = _rowprod(unprotected_factor)[..., None]
    cover_rate = unprotected / unprotected_factor * pi_rho
    cover_odd = cover_rate * k_slope
    cover_even = cover_rate * bump
    # security loses threat * unprotected:
    # (threat - s threat_drop)(unprotected - cover_even - s cover_odd) - threat unprotected
    even = w_security * (threat * cover_even - threat_drop * cover_odd)
    odd += w_security * (threat * cover_odd + threat_drop * (unprotected - cover_even))
    # leverage, linear part: closeness to the holders' rivals
    rival_rate = w_security * d["rival_leverage"]
    even -= rival_rate * bump
    odd -= rival_rate * k_slope
    # cross-pressure
    cross_rate = w_alignment * (P.cross_pressure * d["inv_denom"])[..., None] * rival_commitment
    even -= cross_rate * bump
    odd -= cross_rate * k_slope
    return even, odd


def _hinge_gains(x: np.ndarray, v: np.ndarray, P: Params) -> np.ndarray:
    """Weighted gains ``(2, B..., N, N)`` of the leverage hinge, from ties ``x`` to ``v``.

    ``-w_S lq_ij [hinge(v) - hinge(x)]`` with ``hinge(x) = (max(phi - x, 0) / (1 + phi))^2``
    (section 7.3 of ``docs/ODD.md``); a new array the caller may change in place.
    """
    phi = P.phi[..., None, None]
    hinge = np.maximum(phi - v, 0.0)
    hinge /= 1.0 + phi
    hinge *= hinge
    hinge_now = np.maximum(phi - x, 0.0) / (1.0 + phi)
    hinge -= hinge_now * hinge_now
    hinge *= -P.weights[..., 1][..., None] * P.derived["leverage_weight"]
    return hinge


def _autonomy_losses(
    f: np.ndarray,
    k: np.ndarray,
    group_mass: np.ndarray,
    v: np.ndarray,
    P: Params,
    delta: float,
) -> np.ndarray:
    """Weighted losses ``(2, B..., N, N)`` of the autonomy term, ``w_A alpha_i`` times the
    change of the Herfindahl index ``HHI_i`` (section 7.4 of ``docs/ODD.md``).

    Moving ``x_ij`` changes one commitment mass, ``m_ij = p_j k(x_ij)``, by
    ``mass_change = p_j (bump -+ k_slope)``, so the sum of the squared group masses changes
    by ``(2 M_ig(j) + mass_change) mass_change`` and their total by ``mass_change``.

    Args:
        f, k: friendliness and commitment of the current ties ``(B..., N, N)``.
        group_mass: ``[i, j]``: ``M_ig`` of j's group ``g`` in i's row ``(B..., N, N)``.
        v: the candidate ties ``(2, B..., N, N)`` (for the shape only).
        P: parameters; delta: the tie step.
    """
    half = 0.5 * delta
    bump = half * half
    k_slope = delta * f
    p = P.power[..., None, :]
    mass = p * k
    total_mass = _rowsum(mass)[..., None]
    mass_sq = _rowdot(mass, group_mass)[..., None]  # sum_g M_ig^2
    mass_odd = p * k_slope
    mass_change = np.empty_like(v)
    np.subtract(bump * p, mass_odd, out=mass_change[0])
    np.add(bump * p, mass_odd, out=mass_change[1])
    new_total = total_mass + mass_change
    new_sq = 2.0 * group_mass + mass_change
    new_sq *= mass_change
    new_sq += mass_sq
    new_total *= new_total
    with np.errstate(divide="ignore", invalid="ignore"):
        hhi_change = new_sq / new_total
        hhi_change -= mass_sq / (total_mass * total_mass)
    if not (total_mass > 0.0).all():  # every tie at -1: no commitment, no concentration
        hhi_change[np.isnan(hhi_change)] = 0.0
    hhi_change *= P.weights[..., 2][..., None] * P.autonomy[..., None]
    return hhi_change


def _barrier_step(x: np.ndarray, v: np.ndarray, delta: float) -> np.ndarray:
    """``_barrier(v) - _barrier(x)`` for ``v = clip(x -+ delta)`` ``(2, ...)``.

    Ties move by ``delta`` from 0, so they sit on the lattice ``k delta`` (to rounding)
    unless a shock pinned one elsewhere; on the lattice the two differences come from a
    table per ``delta`` (two lookups instead of six logarithms per tie), elsewhere they
    are computed.
    """
    idx = _lattice_index(x, delta)
    if idx is None:
        return _barrier(v) - _barrier(x)
    _, down, up = _barrier_table(delta)
    out = np.empty_like(v)
    np.take(down, idx, out=out[0], mode="clip")
    np.take(up, idx, out=out[1], mode="clip")
    return out


def _barrier_at(x: np.ndarray, delta: float | None) -> np.ndarray:
    """:func:`_barrier` of ``x``, from the table of ``delta``'s lattice when ``x`` is on it."""
    idx = None if delta is None else _lattice_index(x, delta)
    if idx is None:
        return _barrier(x)
    return np.take(_barrier_table(delta)[0], idx, mode="clip")


def _lattice_index(x: np.ndarray, delta: float) -> np.ndarray | None:
    """Table indices of ``x`` on the lattice ``k delta`` (to 1e-9), or None if off it."""
    k = np.rint(x * (1.0 / delta))
    if np.abs(x - k * delta).max(initial=0.0) > 1e-9:
        return None
    idx = k.astype(np.intp)
    idx += int(np.floor(1.0 / delta + 1e-9))
    return idx


@lru_cache(maxsize=16)
def _barrier_table(delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``x = k delta`` in [-1, 1]: ``_barrier(x)`` and its changes by ``-+delta``."""
    m = int(np.floor(1.0 / delta + 1e-9))
    x = np.arange(-m, m + 1) * delta
    at = _barrier(x)
    down = _barrier(np.clip(x - delta, -1.0, 1.0)) - at
    up = _barrier(np.clip(x + delta, -1.0, 1.0)) - at
    for a in (at, down, up):
        a.flags.writeable = False
    return at, down, up
