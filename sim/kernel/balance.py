"""Model 2's payoff kernel: balance of threat, earned credibility, structural balance and
leverage that cuts both ways.

Pure numpy over arrays with leading batch dimensions, like :mod:`sim.kernel.payoffs`,
whose notation, parameters and shared terms (energy, affinity, the autonomy Herfindahl
index, the barrier tie cost) it uses. Model 2's state is the tie matrix ``T`` and the
**credibility** matrix ``C``: ``C_ij`` in [0, 1] is how far state i can count on j.
``docs/ODD.md`` (section 7.9) writes every term out with its sources; the names below
follow it.

For a deciding state i with candidate row ``x`` (everyone else's ties as they are):

- Energy, as Model 1: ``E_i = sum_j e_ij f(x_ij) rho_ij``.
- **Opposition**: ``o_jk = k(-T_jk) = ((1 - T_jk) / 2)^2`` (0 for a friend of k, 1/4
  neutral, 1 an enemy), chosen by j itself; ``ohat_jk = o_jk / sum_m o_jm``.
- **Threat** (Walt 1987: capability, proximity, intent), with **leverage, both edges**
  (Hirschman 1945; Keohane and Nye 1977; Drezner 1999): k's hold ``l_ik`` over i is a
  threat, half from the dependence itself and half from i's defiance
  ``D_ik = sum_m k(x_im) ohat_km`` (closeness to k's opponents):
  ``theta_ik = q_ik [1 - (1 - h_ik prox_ik)(1 - l_ik (1 + D_ik) / 2)]``.
  So coercion buys compliance (closeness to the holder's opponents raises the threat)
  and gives a reason to seek outside options (the threat is there anyway, and those
  opponents can protect): which edge wins depends on who can protect i.
- **Protection**: j protects i against k in proportion to j's opposition to k, i's
  credibility in j, j's strength against k and j's arms:
  ``pi_ijk = o_jk [1 - (1 - C_ij cap_jk)(1 - arms_ij / 2)]``. The unprotected share of
  k's threat is ``Unp_ik = prod_{j != i, k} (1 - pi_ijk k(x_ij) rho_ij)``.
- **Accommodation** (bandwagoning): ``Acc_ik = 1 - acc_ik f(x_ik) rho_ik`` with
  ``acc_ik = b prox_ik (2 q_ik - 1)^+``: only against a stronger state, most for a weak
  state beside a strong one.
- Residual threat ``R_ik = theta_ik Unp_ik Acc_ik``; ``Threat_i = 1 - prod_k (1 - R_ik)``;
  security ``S_i = -Threat_i``. A rise in ``h_ik`` raises the value of ties to k's
  opponents and to i's protectors (balancing); accommodating k pays in proportion to
  ``acc_ik`` and to ``Unp_ik`` (no credible protector at hand): Walt's conditions for
  bandwagoning.
- **Structural balance** (Heider 1946; Cartwright and Harary 1956; Axelrod and Bennett
  1993): ``Bal_i = sum_{j<k} p_j p_k x_ij x_ik s_jk / W_i`` with ``s_jk`` the mean of
  ``T_jk`` and ``T_kj`` and ``W_i`` the sum of ``p_j p_k`` over the pairs without i: a
  friend's friend and an enemy's enemy pay, a friend's enemy costs. With ties
  ``x_ij = c_i c_j`` of two coalitions (``c = +-1``) and affinities proportional to
  ``p_j prop_ij``, a state's best coalition is the one landscape theory gives it: the
  special case the tests check.
- Alignment ``A_i = sum_j aff_ij x_ij - alpha_i HHI_i + sigma Bal_i``.
- The tie cost and the utility as Model 1: ``U_i = w_E E_i + w_S S_i + w_A A_i - C_i``.

**Credibility** (:func:`next_credibility`) is earned and lost. Its target is the ceiling
``c_ij`` (the scenario's ``protection``) times j's support, ``f(T_ji)``, times one minus
j's courting of i's threateners, ``sum_k share_ik k(T_jk)`` (``share_ik``: k's part of
the threat i faces); each period closes the share ``mu`` (``credibility_rate``) of the
gap. An attack on i by k (the pair parameter ``attack``, set by a shock) that a partner j
does not oppose cuts ``C_ij`` at once by the share ``attack_ik (1 - o_jk)`` (the attacker
loses i's trust whole): trust is lost in a period and earned back over many (Crescenzi
2018 on reputation as learning; Press 2005 on credibility from current interests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.kernel.payoffs import (
    Params,
    _autonomy_losses,
    _barrier,
    _barrier_step,
    _off_mask,
    _rowprod,
    friendliness,
    herfindahl,
)


@dataclass(frozen=True)
class Context:
    """What every state's decision reads from the current state ``(T, C)``.

    Attributes (``(B..., N, N)`` unless noted):
        rho: reciprocity ``rho_ij = beta + (1 - beta) f(T_ji)``.
        opposition: ``o_jk``, 0 on the diagonal; ``opponents``: ``ohat_jk``.
        protection: ``(B..., N, N, N)`` ``pi_ijk`` (i protected by j against k).
        balance_field: ``[i, j] = sum_k p_j p_k s_jk x_ik / W_i``: the structural-balance
            payoff of i's tie to j per unit of that tie.
    """

    rho: np.ndarray
    opposition: np.ndarray
    opponents: np.ndarray
    protection: np.ndarray
    balance_field: np.ndarray


def opposition(T: np.ndarray) -> np.ndarray:
    """``o_jk = ((1 - T_jk) / 2)^2``: 0 for a friend of k, 1/4 neutral, 1 an enemy;
    0 on the diagonal."""
    o = friendliness(-T)
    o *= o
    return o * _off_mask(T.shape[-1])


def _ties(T: np.ndarray) -> np.ndarray:
    """``T`` with its own ties (the diagonal) at 0."""
    return np.where(_off_mask(T.shape[-1]), T, 0.0)


def _mutual(T: np.ndarray, P: Params) -> np.ndarray:
    """``p_j p_k s_jk``: the pair's mean tie weighted by the sizes (0 on the diagonal)."""
    x = _ties(T)
    return 0.5 * (x + np.swapaxes(x, -1, -2)) * P.derived["pair_mass"]


def context(T: np.ndarray, C: np.ndarray, P: Params) -> Context:
    """The :class:`Context` of ties ``T`` and credibility ``C`` under ``P``."""
    d = P.derived
    x = _ties(T)
    o = opposition(x)
    total = o.sum(axis=-1, keepdims=True)
    cover = 1.0 - (1.0 - C[..., :, :, None] * d["capability"][..., None, :, :]) * (
        1.0 - P.arms[..., :, :, None] / 2.0
    )
    protection = o[..., None, :, :] * cover  # [i, j, k]
    protection *= _off_mask(x.shape[-1])[:, :, None]  # no state protects itself
    beta = P.beta[..., None, None]
    return Context(
        rho=beta + (1.0 - beta) * friendliness(np.swapaxes(T, -1, -2)),
        opposition=o,
        opponents=np.divide(o, total, out=np.zeros_like(o), where=total > 0),
        protection=protection,
        balance_field=(x @ _mutual(T, P)) * d["inv_pair_mass"][..., None],
    )


def threat_intensity(defiance: np.ndarray, P: Params, at=lambda a: a) -> np.ndarray:
    """``theta_ik = q_ik [1 - (1 - h_ik prox_ik)(1 - l_ik (1 + D_ik) / 2)]`` for the
    defiance ``D``: ``(B..., N, N)``, or with candidate axes between i and k, ``at``
    then placing the ``(B..., N, N)`` parameters on those axes."""
    d = P.derived
    coerced = 1.0 - at(P.leverage) * (1.0 + defiance) / 2.0
    return at(d["relative_power"]) * (1.0 - (1.0 - at(d["intent"])) * coerced)


def _product(a: np.ndarray, axis: int) -> np.ndarray:
    """Product over ``axis``, factor by factor in order (the same bits whatever the batch:
    :func:`~sim.kernel.payoffs._rowprod` on that axis)."""
    return _rowprod(np.moveaxis(a, axis, -1))


def components(x: np.ndarray, T: np.ndarray, C: np.ndarray, P: Params) -> np.ndarray:
    """Energy, security, alignment and tie cost of candidate rows (the reference).

    Args:
        x: candidate rows ``(B..., N, M, N)`` (``x[..., i, m, j]`` is i's tie to j in its
            m-th candidate; ``x[..., i, :, i]`` is ignored).
        T, C: the current ties and credibility ``(B..., N, N)``.
        P: parameters with batch shape ``B``.

    Returns:
        ``(B..., N, M, 4)``, unweighted, in the order of :data:`payoffs.COMPONENTS`.
    """
    n = T.shape[-1]
    off = _off_mask(n)[:, None, :]
    x = np.where(off, x, 0.0)
    f = friendliness(x)
    k = f * f * off
    d = P.derived
    ctx = context(T, C, P)

    def pair(a: np.ndarray) -> np.ndarray:  # (B..., N, N) -> (B..., N, 1, N)
        return a[..., :, None, :]

    energy = (pair(P.energy * ctx.rho) * f).sum(axis=-1)
    defiance = k @ np.swapaxes(ctx.opponents, -1, -2)[..., None, :, :]  # [i, m, k]
    theta = threat_intensity(defiance, P, at=pair)
    cover = ctx.protection[..., :, None, :, :] * (k * pair(ctx.rho))[..., None]  # [i,m,j,k]
    unprotected = _product(1.0 - cover, axis=-2)  # (B..., N, M, N_k)
    accommodated = 1.0 - pair(d["accommodation"] * ctx.rho) * f
    threat = 1.0 - _product(1.0 - theta * unprotected * accommodated, axis=-1)

    affinity = (pair(d["aff"]) * x).sum(axis=-1)
    balance = 0.5 * ((x @ _mutual(T, P)[..., None, :, :]) * x).sum(axis=-1)
    balance *= d["inv_pair_mass"][..., None]
    hhi = herfindahl(k, P)
    alignment = affinity - P.autonomy[..., None] * hhi + P.balance[..., None, None] * balance
    cost = P.kappa[..., None] * _barrier(x).sum(axis=-1)
    return np.stack([energy, -threat, alignment, cost], axis=-1)


def row_components(T: np.ndarray, C: np.ndarray, P: Params) -> np.ndarray:
    """Components ``(B..., N, 4)`` of every state's current row."""
    return components(T[..., :, None, :], T, C, P)[..., 0, :]


def row_utility(T: np.ndarray, C: np.ndarray, P: Params) -> tuple[np.ndarray, np.ndarray]:
    """Components ``(B..., N, 4)`` and utility ``(B..., N)`` of every state's current row."""
    comp = row_components(T, C, P)
    util = (comp[..., :3] * P.weights).sum(axis=-1) - comp[..., 3]
    return comp, util


def candidate_components(T: np.ndarray, C: np.ndarray, values: np.ndarray, P: Params) -> np.ndarray:
    """Components ``(B..., N, N, S, 4)`` of single-tie moves: entry ``[..., i, j, s, :]``
    scores i's row with its tie to j set to ``values[..., i, j, s]`` (full rows re-scored:
    for explanations and the grid candidates of small worlds)."""
    n = T.shape[-1]
    s = values.shape[-1]
    rows = np.broadcast_to(T[..., :, None, None, :], T.shape[:-1] + (n, s, n)).copy()
    onehot = np.eye(n, dtype=bool)[:, None, :]
    rows = np.where(onehot, np.clip(values, -1.0, 1.0)[..., None], rows)
    comp = components(rows.reshape(T.shape[:-1] + (n * s, n)), T, C, P)
    return comp.reshape(T.shape[:-1] + (n, s, 4))


def local_gains(T: np.ndarray, C: np.ndarray, P: Params, delta: float) -> np.ndarray:
    """Utility gains ``(2, B..., N, N)`` of moving each tie one step down or up.

    The same numbers as differences of :func:`candidate_components` utilities (a test
    checks it to rounding), computed per term: energy, affinity and structural balance
    change linearly in the tie, the autonomy index and the tie cost as in Model 1, and
    the threat through :func:`_unthreatened_change` (``(2, B..., N, N, N)`` arrays: O(N^3)
    a state). Moves that leave (-1, 1) and own-tie entries get NaN.
    """
    n = T.shape[-1]
    off = _off_mask(n)
    x = _ties(T)
    f = friendliness(x)
    k = f * f * off
    ctx = context(T, C, P)
    d = P.derived
    v = np.stack([x - delta, x + delta])
    invalid = (np.abs(v) >= 1.0) | ~off
    np.clip(v, -1.0, 1.0, out=v)
    fv = friendliness(v)
    w = P.weights[..., None]  # (B..., N, 3, 1)
    w_energy, w_security, w_alignment = w[..., 0, :], w[..., 1, :], w[..., 2, :]

    gain = (w_energy * P.energy * ctx.rho) * (fv - f)
    alignment_rate = d["aff"] + P.balance[..., None, None] * ctx.balance_field
    gain += (w_alignment * alignment_rate) * (v - x)
    gain += w_security * _unthreatened_change(f, k, fv, ctx, P)
    group_mass = k @ d["group_mass_and_rivalry"][..., :n]
    gain -= _autonomy_losses(f, k, group_mass, v, P, delta)
    gain -= P.kappa[..., None] * _barrier_step(x, v, delta)
    np.copyto(gain, np.nan, where=invalid)
    return gain


def _unthreatened_change(
    f: np.ndarray, k: np.ndarray, fv: np.ndarray, ctx: Context, P: Params
) -> np.ndarray:
    """``(2, B..., N, N)``: the change of ``prod_k (1 - R_ik)`` (one minus the threat) when
    ``x_ij`` moves to each candidate.

    ``x_ij`` enters every ``R_ik``: through one factor of ``Unp_ik`` (k != j),
    ``g_ijk = 1 - pi_ijk k(x_ij) rho_ij`` (> 0: ``pi < 1`` because ``cap < 1``), swapped
    here for its candidate value; through the defiance ``D_ik``, by ``ohat_kj`` times the
    change of ``k(x_ij)``; and through the accommodation of j when ``k == j``. Arrays
    are indexed ``[sign, ..., i, j, k]``.
    """
    d = P.derived
    kv = fv * fv
    opponents_t = np.swapaxes(ctx.opponents, -1, -2)  # [j, k] = ohat_kj
    defiance = k @ opponents_t  # [i, k]
    theta = threat_intensity(defiance, P)
    rate = ctx.protection * ctx.rho[..., None]  # [i, j, k]: pi_ijk rho_ij
    factor = 1.0 - rate * k[..., None]
    unprotected = _product(factor, axis=-2)  # [i, k]
    accommodated = 1.0 - d["accommodation"] * ctx.rho * f
    unthreatened = _product(1.0 - theta * unprotected * accommodated, axis=-1)

    def row(a: np.ndarray) -> np.ndarray:  # [i, k] -> [i, 1, k]
        return a[..., :, None, :]

    new_defiance = row(defiance) + opponents_t[..., None, :, :] * (kv - k)[..., None]
    new_theta = threat_intensity(new_defiance, P, at=row)
    swapped = row(unprotected) / factor * (1.0 - rate * kv[..., None])
    courted = 1.0 - d["accommodation"] * ctx.rho * fv  # [i, j]: k == j
    eye = np.eye(f.shape[-1], dtype=bool)
    new_accommodated = np.where(eye, courted[..., None], row(accommodated))
    residual = new_theta * swapped * new_accommodated
    return _product(1.0 - residual, axis=-1) - unthreatened[..., None]


def credibility_target(T: np.ndarray, P: Params) -> np.ndarray:
    """``(B..., N, N)``: the credibility ``C_ij`` tends to under ties ``T``:
    ``c_ij f(T_ji) (1 - sum_k share_ik k(T_jk))``, with ``c`` the scenario's
    ``protection`` (the ceiling) and ``share_ik`` k's part of the threat i faces when i
    defies no one (``theta_ik`` at ``D = 0``)."""
    x = _ties(T)
    theta = threat_intensity(np.zeros_like(x), P) * _off_mask(x.shape[-1])
    total = theta.sum(axis=-1, keepdims=True)
    share = np.divide(theta, total, out=np.zeros_like(theta), where=total > 0)
    commitment = friendliness(x)
    commitment *= commitment
    commitment *= _off_mask(x.shape[-1])
    courting = share @ np.swapaxes(commitment, -1, -2)  # [i, j] = sum_k share_ik k(T_jk)
    return P.protection * friendliness(np.swapaxes(x, -1, -2)) * (1.0 - courting)


def initial_credibility(P: Params, shape: tuple[int, ...]) -> np.ndarray:
    """The credibility at the start of the burn-in, ties all neutral: its target there.
    ``shape``: the ties' shape ``(B..., N, N)``."""
    return np.broadcast_to(credibility_target(np.zeros(shape), P), shape).copy()


def next_credibility(C: np.ndarray, T: np.ndarray, P: Params) -> np.ndarray:
    """Credibility after a period that ended with ties ``T`` under ``P``.

    ``C + mu (target - C)``, then cut by the attacks in force: j keeps the share
    ``prod_k (1 - attack_ik (1 - o_jk))`` of i's trust (j opposing the attacker k keeps
    it; the attacker itself, ``o_kk = 0``, loses it all).
    """
    mu = P.credibility_rate[..., None, None]
    out = C + mu * (credibility_target(T, P) - C)
    if np.any(P.attack):
        standing_by = 1.0 - opposition(_ties(T))  # [j, k]: j does not oppose k
        kept = 1.0 - P.attack[..., :, None, :] * standing_by[..., None, :, :]
        out *= _product(kept, axis=-1)
    return out
