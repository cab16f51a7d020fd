"""Model 2's tie gains, compiled with numba.

:func:`local_gains` computes what :func:`sim.kernel.balance.local_gains` computes, the
utility gains of moving each tie one step down or up, in one loop over replicates, states
and ties instead of some sixty numpy calls over ``(2, B, N, N, N)`` arrays. Both drivers
call it for Model 2 (through :func:`sim.kernel.decision.period_choices`), with local
candidates and with continuous ties (whose slope is the gains' central difference), so
they stay identical by construction; the numpy function stays the reference, and the
tests hold the two equal to rounding (1e-12). The terms, and the names below, are those
of ``balance.local_gains`` and ``docs/ODD.md`` section 7.9: energy, affinity and
structural balance linear in the tie; the threat through the change of
``prod_k (1 - R_ik)``; the autonomy index and the tie cost as in Model 1.

Each replicate is computed alone, in the same order whatever the batch, so one replicate
or many give the same bits. The tie cost's step follows the numpy rule: on the lattice of
the step (every tie of the replicate within 1e-9 of a multiple of it) the change is taken
from the lattice point, elsewhere from the tie itself.

Like :mod:`sim.kernel.compiled`, the machine code has one explicit signature with
read-only inputs, is cached on disk and built by ``./dev setup``; no ``fastmath``.
"""

from __future__ import annotations

import numba
import numpy as np

from sim.kernel.compiled import _barrier, _frozen, _readonly, _rows, packed

# The order of the packed parameter arrays (:func:`pack`); the kernel reads them by index.
PAIRS = (
    "energy",
    "aff",
    "pair_mass",
    "intent",
    "relative_power",
    "leverage",
    "accommodation",
    "capability",
    "arms",
    "group_mass",
)
STATES = ("power", "autonomy", "kappa", "w_energy", "w_security", "w_alignment", "inv_pair_mass")
SCALARS = ("beta", "balance")

_E, _AFF, _PM, _INTENT, _Q, _LEV, _ACC, _CAP, _ARMS, _GM = range(len(PAIRS))
_POWER, _ALPHA, _KAPPA, _WE, _WS, _WA, _INVW = range(len(STATES))
_BETA, _SIGMA = range(len(SCALARS))

#: How close to a multiple of the step a tie must be to count as on its lattice (as
#: ``sim.kernel.payoffs._lattice_index``).
LATTICE_TOL = 1e-9


def pack(P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model 2's parameters of a :class:`~sim.kernel.payoffs.Params` with batch shape
    ``()`` or ``(B,)`` as three read-only C-contiguous arrays: ``pairs`` ``(B, 10, N, N)``,
    ``states`` ``(B, 7, N)`` and ``scalars`` ``(B, 2)``, in the orders of :data:`PAIRS`,
    :data:`STATES` and :data:`SCALARS` (``B`` = 1 when unbatched)."""
    d = P.derived
    n = P.power.shape[-1]
    pair_arrays = {
        "energy": P.energy,
        "aff": d["aff"],
        "pair_mass": d["pair_mass"],
        "intent": d["intent"],
        "relative_power": d["relative_power"],
        "leverage": P.leverage,
        "accommodation": d["accommodation"],
        "capability": d["capability"],
        "arms": P.arms,
        "group_mass": d["group_mass_and_rivalry"][..., :n],
    }
    w = P.weights
    state_arrays = {
        "power": P.power,
        "autonomy": P.autonomy,
        "kappa": P.kappa,
        "w_energy": w[..., 0],
        "w_security": w[..., 1],
        "w_alignment": w[..., 2],
        "inv_pair_mass": d["inv_pair_mass"],
    }
    scalar_arrays = {"beta": P.beta, "balance": P.balance}
    return packed(P, (PAIRS, pair_arrays), (STATES, state_arrays), (SCALARS, scalar_arrays))


_SIGNATURE = numba.types.void(
    _readonly(numba.float64, 3),  # T
    _readonly(numba.float64, 3),  # C
    _readonly(numba.int64, 1),  # rows
    numba.float64,  # delta
    _readonly(numba.float64, 4),  # pairs
    _readonly(numba.float64, 3),  # states
    _readonly(numba.float64, 2),  # scalars
    numba.types.Array(numba.float64, 4, "C"),  # gains (written)
)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _threat_intensity(q, intent, leverage, defiance):
    """``q [1 - (1 - intent)(1 - l (1 + D) / 2)]``, in the numpy reference's order."""
    coerced = 1.0 - leverage * (1.0 + defiance) / 2.0
    return q * (1.0 - (1.0 - intent) * coerced)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _on_lattice(x, delta):
    """Whether every entry of ``x`` ``(N, N)`` is within :data:`LATTICE_TOL` of a
    multiple of ``delta``."""
    inv = 1.0 / delta
    n = x.shape[0]
    for a in range(n):
        for c in range(n):
            if abs(x[a, c] - np.rint(x[a, c] * inv) * delta) > LATTICE_TOL:
                return False
    return True


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _context(T, C, b, pb, pairs, states, scalars, x, f, k, o, ohat, rho, field, protection):
    """Replicate b's :func:`sim.kernel.balance.context` (parameter row ``pb``), into the
    scratch arrays: ties ``x`` (own entries 0), friendliness ``f``, commitments ``k``,
    opposition ``o`` and its shares ``ohat``, reciprocity ``rho``, the structural-balance
    field and the protection ``pi_ijk``."""
    n = T.shape[-1]
    beta = scalars[pb, _BETA]
    for a in range(n):
        for c in range(n):
            v = T[b, a, c] if a != c else 0.0
            x[a, c] = v
            f[a, c] = (1.0 + v) / 2.0
            k[a, c] = f[a, c] * f[a, c] if a != c else 0.0
            h = (1.0 - v) / 2.0
            o[a, c] = h * h if a != c else 0.0
    mutual = protection[0]  # scratch until the protection is written
    for a in range(n):
        total = 0.0
        for c in range(n):
            total += o[a, c]
        for c in range(n):
            ohat[a, c] = o[a, c] / total if total > 0.0 else 0.0
            rho[a, c] = beta + (1.0 - beta) * ((1.0 + T[b, c, a]) / 2.0)
            mutual[a, c] = 0.5 * (x[a, c] + x[c, a]) * pairs[pb, _PM, a, c]
    for a in range(n):
        for c in range(n):
            s = 0.0
            for m in range(n):
                s += x[a, m] * mutual[m, c]
            field[a, c] = s * states[pb, _INVW, a]
    for i in range(n):
        for j in range(n):
            arms = 1.0 - pairs[pb, _ARMS, i, j] / 2.0
            for c in range(n):
                if j == i:
                    protection[i, j, c] = 0.0
                else:
                    cover = 1.0 - (1.0 - C[b, i, j] * pairs[pb, _CAP, j, c]) * arms
                    protection[i, j, c] = o[j, c] * cover


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _threat_now(i, pb, pairs, f, k, ohat, rho, protection, threat_scratch):
    """State i's threat terms at its current row: fills ``threat_scratch`` (defiance
    ``D_ik``, ``theta_ik``, the unprotected share ``Unp_ik`` and the accommodation factor
    ``Acc_ik`` by k; ``pi_ijk rho_ij`` and ``Unp_ik / (1 - pi_ijk rho_ij k(x_ij))``, the
    share without j's factor, by j and k) and returns ``prod_k (1 - R_ik)``, one minus
    the threat."""
    defiance, theta, unprotected, accommodated, rate, factor = threat_scratch
    n = f.shape[0]
    for c in range(n):
        s = 0.0
        for m in range(n):
            s += k[i, m] * ohat[c, m]
        defiance[c] = s
        theta[c] = _threat_intensity(pairs[pb, _Q, i, c], pairs[pb, _INTENT, i, c],
                                     pairs[pb, _LEV, i, c], s)  # fmt: skip
    for j in range(n):
        for c in range(n):
            rate[j, c] = protection[i, j, c] * rho[i, j]
            factor[j, c] = 1.0 - rate[j, c] * k[i, j]
    unthreatened = 1.0
    for c in range(n):
        u = factor[0, c]
        for j in range(1, n):
            u *= factor[j, c]
        unprotected[c] = u
        accommodated[c] = 1.0 - pairs[pb, _ACC, i, c] * rho[i, c] * f[i, c]
        unthreatened *= 1.0 - theta[c] * unprotected[c] * accommodated[c]
        for j in range(n):  # from here on: Unp_ik without j's factor
            factor[j, c] = u / factor[j, c]
    return unthreatened


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _group_masses(i, pb, pairs, states, k, group_mass):
    """State i's autonomy sums: fills ``group_mass`` (``[j]``: the commitment mass of j's
    group) and returns the total mass and the sum of squared group masses."""
    n = k.shape[0]
    total_mass = 0.0
    mass_sq = 0.0
    for j in range(n):
        s = 0.0
        for m in range(n):
            s += k[i, m] * pairs[pb, _GM, m, j]
        group_mass[j] = s
        mass = states[pb, _POWER, j] * k[i, j]
        total_mass += mass
        mass_sq += mass * s
    return total_mass, mass_sq


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _scratch(n):
    """The per-replicate arrays of :func:`_context` and :func:`_threat_now`."""
    square = (np.empty((n, n)), np.empty((n, n)), np.empty((n, n)), np.empty((n, n)),
              np.empty((n, n)), np.empty((n, n)), np.empty((n, n)))  # fmt: skip
    threat = (np.empty(n), np.empty(n), np.empty(n), np.empty(n),
              np.empty((n, n)), np.empty((n, n)))  # fmt: skip
    return square, np.empty((n, n, n)), threat, np.empty(n)


@numba.njit(_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def _local_gains(T, C, rows, delta, pairs, states, scalars, gains):
    r, n = T.shape[0], T.shape[-1]
    square, protection, threat_scratch, group_mass = _scratch(n)
    x, f, k, o, ohat, rho, field = square
    defiance, theta, unprotected, accommodated, rate, factor = threat_scratch
    half = 0.5 * delta
    bump = half * half
    for b in range(r):
        pb = rows[b]
        sigma = scalars[pb, _SIGMA]
        _context(T, C, b, pb, pairs, states, scalars, x, f, k, o, ohat, rho, field, protection)
        lattice = _on_lattice(x, delta)
        for i in range(n):
            p_i = pairs[pb]
            unthreatened = _threat_now(i, pb, pairs, f, k, ohat, rho, protection, threat_scratch)
            total_mass, mass_sq = _group_masses(i, pb, pairs, states, k, group_mass)
            w_energy = states[pb, _WE, i]
            w_security = states[pb, _WS, i]
            w_alignment = states[pb, _WA, i]
            autonomy = w_alignment * states[pb, _ALPHA, i]
            kappa = states[pb, _KAPPA, i]
            for j in range(n):
                x_ij, f_ij, k_ij = x[i, j], f[i, j], k[i, j]
                p_j = states[pb, _POWER, j]
                mass_odd = p_j * (delta * f_ij)
                energy_rate = w_energy * p_i[_E, i, j] * rho[i, j]
                alignment_rate = w_alignment * (p_i[_AFF, i, j] + sigma * field[i, j])
                for side in range(2):
                    v = x_ij - delta if side == 0 else x_ij + delta
                    if j == i or abs(v) >= 1.0:
                        gains[side, b, i, j] = np.nan
                        continue
                    fv = (1.0 + v) / 2.0
                    kv = fv * fv
                    gain = energy_rate * (fv - f_ij)
                    gain += alignment_rate * (v - x_ij)
                    # security: the change of prod_k (1 - R_ik)
                    kept = 1.0
                    for c in range(n):
                        new_theta = _threat_intensity(
                            p_i[_Q, i, c],
                            p_i[_INTENT, i, c],
                            p_i[_LEV, i, c],
                            defiance[c] + ohat[c, j] * (kv - k_ij),
                        )
                        swapped = factor[j, c] * (1.0 - rate[j, c] * kv)
                        if c == j:
                            acc = 1.0 - p_i[_ACC, i, j] * rho[i, j] * fv
                        else:
                            acc = accommodated[c]
                        kept *= 1.0 - new_theta * swapped * acc
                    gain += w_security * (kept - unthreatened)
                    # autonomy: the change of the Herfindahl index
                    change = bump * p_j - mass_odd if side == 0 else bump * p_j + mass_odd
                    new_total = total_mass + change
                    new_sq = (2.0 * group_mass[j] + change) * change + mass_sq
                    hhi = new_sq / (new_total * new_total) - mass_sq / (total_mass * total_mass)
                    if total_mass <= 0.0 and np.isnan(hhi):
                        hhi = 0.0
                    gain -= hhi * autonomy
                    # the tie cost
                    if lattice:
                        at = np.rint(x_ij * (1.0 / delta)) * delta
                        moved = max(-1.0, min(1.0, at - delta if side == 0 else at + delta))
                        step = _barrier(moved) - _barrier(at)
                    else:
                        step = _barrier(v) - _barrier(x_ij)
                    gain -= kappa * step
                    gains[side, b, i, j] = gain


_ROW_SIGNATURE = numba.types.void(
    _readonly(numba.float64, 3),  # T
    _readonly(numba.float64, 3),  # C
    _readonly(numba.int64, 1),  # rows
    _readonly(numba.float64, 4),  # pairs
    _readonly(numba.float64, 3),  # states
    _readonly(numba.float64, 2),  # scalars
    numba.types.Array(numba.float64, 3, "C"),  # comp (written)
    numba.types.Array(numba.float64, 2, "C"),  # util (written)
)


@numba.njit(_ROW_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def _row_scores(T, C, rows, pairs, states, scalars, comp, util):
    r, n = T.shape[0], T.shape[-1]
    square, protection, threat_scratch, group_mass = _scratch(n)
    x, f, k, o, ohat, rho, field = square
    for b in range(r):
        pb = rows[b]
        _context(T, C, b, pb, pairs, states, scalars, x, f, k, o, ohat, rho, field, protection)
        for i in range(n):
            unthreatened = _threat_now(i, pb, pairs, f, k, ohat, rho, protection, threat_scratch)
            total_mass, mass_sq = _group_masses(i, pb, pairs, states, k, group_mass)
            energy = 0.0
            affinity = 0.0
            balance = 0.0
            cost = 0.0
            for j in range(n):
                energy += pairs[pb, _E, i, j] * rho[i, j] * f[i, j]
                affinity += pairs[pb, _AFF, i, j] * x[i, j]
                balance += field[i, j] * x[i, j]
                cost += _barrier(x[i, j])
            hhi = mass_sq / (total_mass * total_mass) if total_mass > 0.0 else 0.0
            alignment = (
                affinity - states[pb, _ALPHA, i] * hhi + scalars[pb, _SIGMA] * (0.5 * balance)
            )
            cost *= states[pb, _KAPPA, i]
            security = unthreatened - 1.0
            comp[b, i, 0] = energy
            comp[b, i, 1] = security
            comp[b, i, 2] = alignment
            comp[b, i, 3] = cost
            util[b, i] = (
                states[pb, _WE, i] * energy
                + states[pb, _WS, i] * security
                + states[pb, _WA, i] * alignment
                - cost
            )


def local_gains(
    T: np.ndarray, C: np.ndarray, P, delta: float, rows: np.ndarray | None = None
) -> np.ndarray:
    """``balance.local_gains(T, C, P, delta)`` compiled: gains ``(2, R, N, N)`` (or
    ``(2, N, N)`` for one ``(N, N)`` world) of moving each tie by ``-delta`` and
    ``+delta``, NaN where the move leaves (-1, 1) and on the diagonal.

    Args:
        T, C: ties and credibility ``(N, N)`` or ``(R, N, N)``.
        P: parameters with batch shape ``()`` or ``(R,)``.
        rows: ``(R,)`` each replicate's row of ``P``; None: replicate r reads row r
            (``P`` batched over the replicates) or the one set.
    """
    single = T.ndim == 2
    T3 = _frozen(T[None] if single else T, np.float64)
    C3 = _frozen(np.broadcast_to(C, T3.shape), np.float64)
    gains = np.empty((2, *T3.shape))
    packed = P.packed_balance
    _local_gains(T3, C3, _rows(rows, T3.shape[:1], len(packed[0])), float(delta), *packed, gains)
    return gains[:, 0] if single else gains


def row_scores(
    T: np.ndarray, C: np.ndarray, P, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``balance.row_utility(T, C, P)`` compiled: components ``(R, N, 4)`` and utility
    ``(R, N)`` of every state's current row (or ``(N, 4)`` and ``(N,)`` for one world);
    ``rows``: as for :func:`local_gains`."""
    single = T.ndim == 2
    T3 = _frozen(T[None] if single else T, np.float64)
    C3 = _frozen(np.broadcast_to(C, T3.shape), np.float64)
    r, n = T3.shape[0], T3.shape[-1]
    comp = np.empty((r, n, 4))
    util = np.empty((r, n))
    packed = P.packed_balance
    _row_scores(T3, C3, _rows(rows, (r,), len(packed[0])), *packed, comp, util)
    if single:
        return comp[0], util[0]
    return comp, util
