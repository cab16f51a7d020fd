"""The payoff kernel: energy, security and alignment of candidate tie rows.

Pure numpy over arrays with arbitrary leading batch dimensions (replicates, sweep
points); no Mesa, no I/O, no randomness. The Mesa model and any ensemble driver call the
same functions. The mathematics is written out, symbol by symbol, in ``docs/ODD.md``
(section 7, Submodels); the names below follow it.

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
    ``protection`` (credibility of j's commitment to i), ``arms``, ``affinity``,
    ``leverage``; ``rivalry`` is symmetric. Diagonals are zero.
    Scalars ``(B...)``: ``beta`` (reciprocity floor), ``lam`` (threat reduction by
    friendliness), ``phi`` (leverage threshold).
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
    rivalry: np.ndarray
    beta: np.ndarray
    lam: np.ndarray
    phi: np.ndarray
    groups: np.ndarray

    @cached_property
    def derived(self) -> dict[str, np.ndarray]:
        """Quantities that depend on the parameters only, computed once per ``Params``.

        ``theta`` (threat intensity ``h q prox``), ``pi`` (protection potential
        ``1 - (1 - c q)(1 - arms / 2)``), ``lq`` (leverage times relative capability, own
        entry zero), ``rnorm`` (rivalry rows normalised to sum 1), ``aff`` (affinity over
        the row's total absolute affinity), ``inv_denom`` (1 over the total rivalry among
        i's partners, 0 where there is none).
        """
        n = self.power.shape[-1]
        p = self.power
        q = p[..., None, :] / (p[..., :, None] + p[..., None, :])  # [i, j] = p_j / (p_i + p_j)
        rsum = self.rivalry.sum(axis=-1, keepdims=True)
        rnorm = np.divide(self.rivalry, rsum, out=np.zeros_like(self.rivalry), where=rsum > 0)
        aff_norm = np.abs(self.affinity).sum(axis=-1, keepdims=True)
        eye = np.eye(n, dtype=bool)
        r_not_i = np.where(eye[:, :, None] | eye[:, None, :], 0.0, self.rivalry[..., None, :, :])
        denom = 0.5 * r_not_i.sum(axis=(-1, -2))  # (B..., N): rivalry among i's partners
        lq = self.leverage * q * _off_mask(n)
        same_group = self.groups @ self.groups.T  # (N, N): 1 where j and k share a group
        for f in fields(self):  # the cache is only valid while the inputs stay as they are
            a = getattr(self, f.name)
            if isinstance(a, np.ndarray):
                a.flags.writeable = False
        return {
            "theta": self.threat * self.proximity * q,
            "pi": 1.0 - (1.0 - self.protection * q) * (1.0 - self.arms / 2.0),
            "lq": lq,
            "rnorm": rnorm,
            "aff": self.affinity / np.where(aff_norm > 0, aff_norm, 1.0),
            "inv_denom": np.divide(1.0, denom, out=np.zeros_like(denom), where=denom > 0),
            # for local_gains: leverage through rivals' closeness, and the matrices that
            # give each partner's group total (power-weighted) and rivals' commitment
            "lq_rnorm": lq @ rnorm,
            "own_rival": np.concatenate([same_group * p[..., :, None], self.rivalry], axis=-1),
        }

    def copy(self) -> Params:
        return replace(self, **{f.name: np.array(getattr(self, f.name)) for f in fields(self)})


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
    leverage = (pair(d["lq"]) * (hinge + rival_closeness)).sum(axis=-1)
    security = -threat * (1.0 - protection) - leverage

    # Alignment: affinity, autonomy (concentration of commitments), cross-pressure.
    affinity = (pair(d["aff"]) * x).sum(axis=-1)
    commit = P.power[..., None, None, :] * k  # (B..., N, M, N)
    by_group = commit @ P.groups  # (B..., N, M, G)
    total = by_group.sum(axis=-1, keepdims=True)
    shares = by_group / np.where(total > 0, total, 1.0)
    hhi = (shares * shares).sum(axis=-1)
    pressure = 0.5 * ((k @ P.rivalry[..., None, :, :]) * k).sum(axis=-1)
    cross = pressure * d["inv_denom"][..., None]
    alignment = affinity - P.autonomy[..., None] * hhi - P.cross_pressure[..., None] * cross

    cost = tie_cost(x, P.kappa)
    return np.stack([energy, security, alignment, cost], axis=-1)


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
    lq = d["lq"]
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
    leverage = _rowdot(d["lq"], hinge) + _rowdot(d["lq_rnorm"], k)
    security = -threat * (1.0 - protection) - leverage
    mm = k @ d["own_rival"]
    own, rk = mm[..., :n], mm[..., n:]
    m = P.power[..., None, :] * k
    tot = _rowsum(m)
    sq = _rowdot(m, own)
    hhi = np.divide(sq, tot * tot, out=np.zeros_like(sq), where=tot > 0)
    cross = 0.5 * _rowdot(rk, k) * d["inv_denom"]
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
    to rounding) but works with the gains directly: with ``v = x + s delta`` every term
    but the leverage hinge, the Herfindahl ratio and the tie cost is affine in the sign
    ``s``, so most of the work is on ``(B..., N, N)`` arrays, and the sign is the leading
    axis so that every operation runs over long contiguous blocks.
    Moves that leave (-1, 1) get NaN; own-tie entries (``j == i``) are NaN too.

    Args:
        T: ties ``(B..., N, N)``; P: parameters with batch shape ``B`` (or none).
        delta: the tie step.

    Returns:
        ``(2, B..., N, N)``: the gains of ``-delta`` and ``+delta``.
    """
    n = T.shape[-1]
    off = _off_mask(n)
    d = P.derived
    h = 0.5 * delta
    hh = h * h
    x = np.where(off, T, 0.0)
    f = friendliness(x)
    k = f * f
    k *= off
    beta = P.beta[..., None, None]
    rho = beta + (1.0 - beta) * friendliness(np.swapaxes(T, -1, -2))

    def row(a: np.ndarray) -> np.ndarray:  # (B..., N) -> (B..., N, 1)
        return a[..., None]

    # terms affine in the sign s: gain = a0 + s * a1 (built up over the terms below)
    dk1 = delta * f  # k(x + s delta) - k(x) = s * dk1 + h^2
    w = P.weights
    wE, wS, wA = row(w[..., 0]), row(w[..., 1]), row(w[..., 2])
    a1 = (wE * h) * P.energy * rho  # energy
    a1 += (wA * delta) * d["aff"]  # affinity

    # threat (noisy-OR): 1 - prod(a); moving x_ij changes a_ij by s * theta lam rho h
    lam_rho = P.lam[..., None, None] * rho
    theta = d["theta"]
    a = 1.0 - theta * (1.0 - lam_rho * f)
    qa = _rowprod(a)[..., None]
    t0 = 1.0 - qa
    ta = qa / a * theta * lam_rho * h  # threat_s = t0 - s ta
    # protection (noisy-OR): 1 - unprotected; unprotected_s = u0 - g0 - s g1
    pi_rho = d["pi"] * rho
    b = 1.0 - pi_rho * k
    u0 = _rowprod(b)[..., None]
    cb = u0 / b * pi_rho
    g1 = cb * dk1
    g0 = cb * hh
    # security loses threat * unprotected: (t0 - s ta)(u0 - g0 - s g1) - t0 u0
    a0 = wS * (t0 * g0 - ta * g1)
    a1 += wS * (t0 * g1 + ta * (u0 - g0))
    # leverage, linear part: closeness to the holders' rivals
    lr = wS * d["lq_rnorm"]
    a0 -= lr * hh
    a1 -= lr * dk1
    # cross-pressure and the Herfindahl index need k's products with two fixed matrices
    mm = k @ d["own_rival"]  # (B..., N, 2N)
    own, rk = mm[..., :n], mm[..., n:]
    cp = wA * row(P.cross_pressure * d["inv_denom"]) * rk
    a0 -= cp * hh
    a1 -= cp * dk1

    # nonlinear in s: leverage hinge, Herfindahl ratio, tie cost; (2, B..., N, N)
    v = np.empty((2, *x.shape))
    np.subtract(x, delta, out=v[0])
    np.add(x, delta, out=v[1])
    bad = np.abs(v) >= 1.0
    bad |= ~off
    np.clip(v, -1.0, 1.0, out=v)
    phi = P.phi[..., None, None]
    hinge = np.maximum(phi - v, 0.0)
    hinge /= 1.0 + phi
    hinge *= hinge
    hinge0 = np.maximum(phi - x, 0.0) / (1.0 + phi)
    hinge -= hinge0 * hinge0
    gain = hinge
    gain *= -wS * d["lq"]

    p = P.power[..., None, :]
    m = p * k
    tot = _rowsum(m)[..., None]
    sq = _rowdot(m, own)[..., None]
    pd1 = p * dk1
    dm = np.empty_like(v)
    np.subtract(hh * p, pd1, out=dm[0])
    np.add(hh * p, pd1, out=dm[1])
    new_tot = tot + dm
    new_sq = 2.0 * own + dm
    new_sq *= dm
    new_sq += sq
    new_tot *= new_tot
    with np.errstate(divide="ignore", invalid="ignore"):
        hhi = new_sq / new_tot
        hhi -= sq / (tot * tot)
    if not (tot > 0.0).all():  # every tie at -1: no commitment, no concentration
        hhi[np.isnan(hhi)] = 0.0
    hhi *= wA * row(P.autonomy)
    gain -= hhi

    cost = _barrier_step(x, v, delta)
    cost *= row(P.kappa)
    gain -= cost

    gain[0] += a0 - a1
    gain[1] += a0 + a1
    np.copyto(gain, np.nan, where=bad)
    return gain


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
