"""Model 1's period loop with the replicates in SIMD lanes, compiled with numba.

The ensemble engine's loop of :func:`sim.kernel.compiled._simulate_local` for states that
all revise every period (``update: simultaneous``, every shipped scenario), rearranged so
that the replicates are the innermost loop: the ties live as ``(N, N, R)``, each
replicate's parameters in replicate-innermost copies (refreshed only for the replicates
whose parameter row changes: a shock regime), and every loop over replicates is free of
branches, so that LLVM vectorizes it (4 lanes of AVX2 here). The exponentials are
:func:`sim.kernel.compiled.exp_parts` (a polynomial, not a call to libm). Every
floating-point operation is that of :func:`sim.kernel.compiled._decide`, in the same
order, with the same exp: the Mesa model (one replicate a period through ``_decide``)
and the ensemble compute the same bits, tie for tie (``tests/test_ensemble.py``, every
shipped scenario; ``tests/test_compiled.py`` replays chunks through both kernels). It
runs about twice as fast as the scalar loop (``python -m sim.tools.bench kernel``).

``update: one_at_a_time`` (one state revises a period) stays in the scalar loop, which
computes only the revising row.
"""

from __future__ import annotations

import numba
import numpy as np

from sim.kernel.compiled import (
    _BEST_RESPONSE,
    _LOGIT,
    _PARAMS,
    _STEPS,
    _barrier,
    _readonly,
    exp_of,
    exp_parts,
)

#: Replicates per block of lanes: a block's replicate-innermost arrays stay in the caches
#: (blocks of 128, 256 and 512 replicates ran alike; unblocked, 256 took 20% longer).
LANE_BLOCK = 128

_LANES_SIGNATURE = numba.types.void(
    numba.types.Array(numba.float64, 3, "C"),  # T (updated in place)
    _readonly(numba.float64, 4),  # u: (K, R, N, N + 1)
    _readonly(numba.int64, 2),  # regime: (K, R)
    _readonly(numba.int64, 2),  # rows: (K, R)
    _readonly(numba.int64, 1),  # points: (R,)
    _readonly(numba.int64, 1),  # pin_start: (regimes + 1,)
    _readonly(numba.int64, 1),  # pin_i
    _readonly(numba.int64, 1),  # pin_j
    _readonly(numba.float64, 2),  # pin_value: (pins, points)
    _readonly(numba.int64, 1),  # rules
    numba.float64,  # delta
    *_PARAMS,
    *_STEPS,
    _readonly(numba.int64, 1),  # record: (K,)
    numba.types.Array(numba.float64, 4, "C"),  # snaps (written)
)


@numba.njit(error_model="numpy", cache=True, nogil=True)
def _decide_row(
    i, n, L, X, XT, PR, PG, POW, SR, SC, U, rule, delta, down_table, up_table, m, CH,
    W, RC, IB, FB, NZ, nz_start,
):  # fmt: skip
    """Row i's decisions in lanes 0 .. L-1 (a lane is a replicate): the step (-1, 0, 1)
    of every tie into ``CH[j, b]``. Lane-innermost inputs: ``X[j, b]`` the row's ties,
    ``XT[j, b]`` the column's (T[j, i]), ``PR[p, j, b]`` pair parameters 0..5 of row i,
    ``PG[p, c, j, b]`` group mass and rivalry, ``POW[j, b]`` power, ``SR[p, b]`` row i's
    state parameters, ``SC[p, b]`` scalars, ``U[j, b]`` uniforms. Work space ``W``
    (>= 8, N, R), ``RC`` (>= 17, R), ``IB`` (4, R) int64 and ``FB`` its float64 view.
    ``NZ[:, nz_start[p]:nz_start[p + 1]]``: the (c, j) of group mass (p = 0) and rivalry
    (p = 1) that are not 0 in every parameter row, in the order of c then j.
    """
    half = 0.5 * delta
    bump = half * half
    inv_delta = 1.0 / delta
    two_m = 2 * m
    x = W[0]
    f = W[1]
    k = W[2]
    rho = W[3]
    gm = W[4]
    rc = W[5]
    cost_d = W[6]
    cost_u = W[7]
    unth = RC[0]
    unpr = RC[1]
    tot = RC[2]
    msq = RC[3]
    threat = RC[4]
    hhi = RC[5]
    aw = RC[6]
    cw = RC[7]
    itau = RC[8]
    iphi = RC[9]
    dn_a = RC[10]
    up_a = RC[11]
    a1 = RC[12]
    a2 = RC[13]
    p1 = RC[14]
    p2 = RC[15]
    off = RC[16]
    beta = SC[0]
    lam = SC[1]
    phi = SC[2]
    # --- the row's state (_row_state), lane by lane in the same order
    for b in range(L):
        unth[b] = 1.0
        unpr[b] = 1.0
        tot[b] = 0.0
    for j in range(n):
        xr = X[j]
        xc = XT[j]
        th = PR[1, j]
        pi_ = PR[2, j]
        pw = POW[j]
        xj_ = x[j]
        fj_ = f[j]
        kj_ = k[j]
        rj_ = rho[j]
        diag = j == i
        for b in range(L):
            xj = xr[b] if not diag else 0.0
            fj = (1.0 + xj) / 2.0
            kj = fj * fj if not diag else 0.0
            rj = beta[b] + (1.0 - beta[b]) * ((1.0 + xc[b]) / 2.0)
            xj_[b] = xj
            fj_[b] = fj
            kj_[b] = kj
            rj_[b] = rj
            unth[b] *= 1.0 - th[b] * (1.0 - lam[b] * rj * fj)
            unpr[b] *= 1.0 - pi_[b] * rj * kj
            tot[b] += pw[b] * kj
    for j in range(n):
        g_ = gm[j]
        r_ = rc[j]
        for b in range(L):
            g_[b] = 0.0
            r_[b] = 0.0
    # group mass and rivals' commitment: only the (c, j) where some parameter row is not
    # 0 (NZ), in the order of c; a skipped term k * 0 = +0 leaves the sum (never -0)
    # unchanged as long as every k is finite, else all terms are added
    n_bad = 0
    for c in range(n):
        kc = k[c]
        for b in range(L):
            n_bad += 0 if abs(kc[b]) < np.inf else 1
    if n_bad == 0:
        for q in range(nz_start[1]):
            c = NZ[0, q]
            j = NZ[1, q]
            kc = k[c]
            g_ = gm[j]
            p6 = PG[0, c, j]
            for b in range(L):
                g_[b] += kc[b] * p6[b]
        for q in range(nz_start[1], nz_start[2]):
            c = NZ[0, q]
            j = NZ[1, q]
            kc = k[c]
            r_ = rc[j]
            p7 = PG[1, c, j]
            for b in range(L):
                r_[b] += kc[b] * p7[b]
    else:
        for c in range(n):
            kc = k[c]
            for j in range(n):
                g_ = gm[j]
                r_ = rc[j]
                p6 = PG[0, c, j]
                p7 = PG[1, c, j]
                for b in range(L):
                    g_[b] += kc[b] * p6[b]
                    r_[b] += kc[b] * p7[b]
    for b in range(L):
        msq[b] = 0.0
    for j in range(n):
        pw = POW[j]
        kj_ = k[j]
        g_ = gm[j]
        for b in range(L):
            msq[b] += pw[b] * kj_[b] * g_[b]
    # --- the row's constants
    w_energy = SR[6]
    w_security = SR[7]
    w_alignment = SR[8]
    kappa = SR[3]
    gamma = SR[5]
    for b in range(L):
        threat[b] = 1.0 - unth[b]
        t2 = tot[b] * tot[b]
        hh = msq[b] / t2
        hhi[b] = hh if tot[b] > 0.0 else 0.0
        aw[b] = w_alignment[b] * SR[1, b]
        cw[b] = w_alignment[b] * (SR[2, b] * SR[9, b])
        itau[b] = 1.0 / SR[4, b]
        iphi[b] = 1.0 / (1.0 + phi[b])
    # --- the barrier's changes: from the lattice tables, or computed off the lattice
    for j in range(n):
        if j == i:
            continue
        n_off = 0
        xj_ = x[j]
        cd = cost_d[j]
        cu = cost_u[j]
        for b in range(L):
            xj = xj_[b]
            kf = np.rint(xj * inv_delta)
            on_lattice = abs(xj - kf * delta) <= 1e-9
            idx = min(max(int(kf) + m, 0), two_m)
            cd[b] = down_table[idx]
            cu[b] = up_table[idx]
            off[b] = 0.0 if on_lattice else 1.0
        for b in range(L):
            n_off += 1 if off[b] != 0.0 else 0
        if n_off > 0:
            for b in range(L):
                if off[b] != 0.0:
                    xj = xj_[b]
                    v = xj - delta
                    v = min(max(v, -1.0), 1.0)
                    cd[b] = _barrier(v) - _barrier(xj)
                    v = xj + delta
                    v = min(max(v, -1.0), 1.0)
                    cu[b] = _barrier(v) - _barrier(xj)
    # --- the ties
    for j in range(n):
        ch = CH[j]
        if j == i:
            for b in range(L):
                ch[b] = 0.0
            continue
        xj_ = x[j]
        fj_ = f[j]
        kj_ = k[j]
        rj_ = rho[j]
        g_ = gm[j]
        r_ = rc[j]
        cd = cost_d[j]
        cu = cost_u[j]
        pr0 = PR[0, j]
        pr1 = PR[1, j]
        pr2 = PR[2, j]
        pr3 = PR[3, j]
        pr4 = PR[4, j]
        pr5 = PR[5, j]
        pw = POW[j]
        for b in range(L):
            xj = xj_[b]
            fj = fj_[b]
            rj = rj_[b]
            k_slope = delta * fj
            odd = (w_energy[b] * half) * pr0[b] * rj
            odd += (w_alignment[b] * delta) * pr5[b]
            theta = pr1[b]
            lam_rho = lam[b] * rj
            threat_factor = 1.0 - theta * (1.0 - lam_rho * fj)
            threat_drop = unth[b] / threat_factor * theta * lam_rho * half
            pi_rho = pr2[b] * rj
            cover_rate = unpr[b] / (1.0 - pi_rho * kj_[b]) * pi_rho
            cover_odd = cover_rate * k_slope
            cover_even = cover_rate * bump
            even = w_security[b] * (threat[b] * cover_even - threat_drop * cover_odd)
            odd += w_security[b] * (threat[b] * cover_odd + threat_drop * (unpr[b] - cover_even))
            rival_rate = w_security[b] * pr4[b]
            even -= rival_rate * bump
            odd -= rival_rate * k_slope
            cross_rate = cw[b] * r_[b]
            even -= cross_rate * bump
            odd -= cross_rate * k_slope
            phil = phi[b]
            inv_phi = iphi[b]
            hinge_now = max(phil - xj, 0.0) * inv_phi
            lever = -w_security[b] * pr3[b]
            p_j = pw[b]
            mass_odd = p_j * k_slope
            total_mass = tot[b]
            has_mass = total_mass > 0.0
            # s = 0: -delta
            v = xj + -1.0 * delta
            valid = abs(v) < 1.0
            v = min(max(v, -1.0), 1.0)
            hinge = max(phil - v, 0.0) * inv_phi
            g = (hinge * hinge - hinge_now * hinge_now) * lever
            mass_change = bump * p_j + -1.0 * mass_odd
            new_total = total_mass + mass_change
            new_sq = (2.0 * g_[b] + mass_change) * mass_change + msq[b]
            hhi_change = new_sq / (new_total * new_total) - hhi[b]
            gh = g - hhi_change * aw[b]
            g = gh if has_mass else g
            g -= cd[b] * kappa[b]
            g += even + -1.0 * odd
            down = g - gamma[b] if valid else -np.inf
            # s = 1: +delta
            v = xj + 1.0 * delta
            valid = abs(v) < 1.0
            v = min(max(v, -1.0), 1.0)
            hinge = max(phil - v, 0.0) * inv_phi
            g = (hinge * hinge - hinge_now * hinge_now) * lever
            mass_change = bump * p_j + 1.0 * mass_odd
            new_total = total_mass + mass_change
            new_sq = (2.0 * g_[b] + mass_change) * mass_change + msq[b]
            hhi_change = new_sq / (new_total * new_total) - hhi[b]
            gh = g - hhi_change * aw[b]
            g = gh if has_mass else g
            g -= cu[b] * kappa[b]
            g += even + 1.0 * odd
            up = g - gamma[b] if valid else -np.inf
            dn_a[b] = down
            up_a[b] = up
        if rule == _LOGIT:
            uj = U[j]
            for b in range(L):
                down = dn_a[b]
                up = up_a[b]
                inv_tau = itau[b]
                top = max(max(down, up), 0.0)
                at_stay = top == 0.0
                at_down = top == down
                # the two weights that are not the top one's
                e_top = -top * inv_tau
                a1[b] = down * inv_tau if at_stay else e_top
                a2[b] = (
                    up * inv_tau
                    if at_stay
                    else ((up - top) * inv_tau if at_down else (down - top) * inv_tau)
                )
            for b in range(L):
                pa, ka1, ka2 = exp_parts(a1[b])
                pb, kb1, kb2 = exp_parts(a2[b])
                p1[b] = pa
                p2[b] = pb
                IB[0, b] = ka1
                IB[1, b] = ka2
                IB[2, b] = kb1
                IB[3, b] = kb2
            for b in range(L):
                x1 = a1[b]
                x2 = a2[b]
                e1 = exp_of(x1, p1[b], FB[0, b], FB[1, b])
                e2 = exp_of(x2, p2[b], FB[2, b], FB[3, b])
                down = dn_a[b]
                up = up_a[b]
                top = max(max(down, up), 0.0)
                at_stay = top == 0.0
                at_down = top == down
                w_down = e1 if at_stay else (1.0 if at_down else e2)
                w_stay = 1.0 if at_stay else e1
                w_up = e2 if at_stay else (e2 if at_down else 1.0)
                below = w_down + w_stay
                total = below + w_up
                draw = uj[b] * total
                c1 = 1.0 if draw >= w_down else 0.0
                c2 = 1.0 if draw >= below else 0.0
                ch[b] = (c1 + c2) - 1.0
        elif rule == _BEST_RESPONSE:
            for b in range(L):
                down = dn_a[b]
                up = up_a[b]
                stay = max(down, up) <= 0.0
                ch[b] = 0.0 if stay else (-1.0 if down >= up else 1.0)
        else:
            for b in range(L):
                ch[b] = 0.0


@numba.njit(error_model="numpy", cache=True, nogil=True)
def _refresh(b, pb, pairs, states, scalars, PR, PG, POW, SR, SC):
    """Replicate b's parameters (row pb) into the lane-innermost copies."""
    n = pairs.shape[2]
    for i in range(n):
        for p in range(6):
            for j in range(n):
                PR[i, p, j, b] = pairs[pb, p, i, j]
        for p in range(10):
            SR[i, p, b] = states[pb, p, i]
        POW[i, b] = states[pb, 0, i]
    for p in range(2):
        for c in range(n):
            for j in range(n):
                PG[p, c, j, b] = pairs[pb, 6 + p, c, j]
    for p in range(3):
        SC[p, b] = scalars[pb, p]


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _simulate_block(
    T, u, regime, rows, points, pin_start, pin_i, pin_j, pin_value, rules,
    delta, pairs, states, scalars, down_table, up_table, m, record, snaps,
):  # fmt: skip
    """``_simulate_local`` for one block of replicates, lane-innermost."""
    k_periods, r, n = u.shape[0], T.shape[0], T.shape[1]
    # ties, lane-innermost
    Tv = np.empty((n, n, r))
    for b in range(r):
        for i in range(n):
            for j in range(n):
                Tv[i, j, b] = T[b, i, j]
    # parameters, lane-innermost
    PRv = np.empty((n, 6, n, r))
    PGv = np.empty((2, n, n, r))
    POWv = np.empty((n, r))
    SRv = np.empty((n, 10, r))
    SCv = np.empty((3, r))
    # every replicate's parameters at the first period, lane by lane (contiguous writes)
    cur = np.empty(r, dtype=np.int64)
    for b in range(r):
        cur[b] = rows[0, b]
    for i in range(n):
        for p in range(6):
            for j in range(n):
                dst = PRv[i, p, j]
                for b in range(r):
                    dst[b] = pairs[cur[b], p, i, j]
        for p in range(10):
            dst = SRv[i, p]
            for b in range(r):
                dst[b] = states[cur[b], p, i]
        dst = POWv[i]
        for b in range(r):
            dst[b] = states[cur[b], 0, i]
    for p in range(2):
        for c in range(n):
            for j in range(n):
                dst = PGv[p, c, j]
                for b in range(r):
                    dst[b] = pairs[cur[b], 6 + p, c, j]
    for p in range(3):
        dst = SCv[p]
        for b in range(r):
            dst[b] = scalars[cur[b], p]
    # per-period draws, steps and the row's work space
    Uv = np.empty((n, n, r))
    CHv = np.empty((n, n, r))
    XT = np.empty((n, r))
    W = np.empty((8, n, r))
    RC = np.empty((17, r))
    IB = np.empty((4, r), dtype=np.int64)
    FB = IB.view(np.float64)
    # the (c, j) of group mass and rivalry that some parameter row has not 0
    nz_start = np.zeros(3, dtype=np.int64)
    NZ = np.empty((2, 2 * n * n), dtype=np.int64)
    q = 0
    for p in range(2):
        for c in range(n):
            for j in range(n):
                used = False
                for row in range(pairs.shape[0]):
                    used = used or pairs[row, 6 + p, c, j] != 0.0
                if used:
                    NZ[0, q] = c
                    NZ[1, q] = j
                    q += 1
        nz_start[p + 1] = q
    for t in range(k_periods):
        ut = u[t]
        for b in range(r):
            pb = rows[t, b]
            if pb != cur[b]:
                _refresh(b, pb, pairs, states, scalars, PRv, PGv, POWv, SRv, SCv)
                cur[b] = pb
            g = regime[t, b]
            pt = points[b]
            for q in range(pin_start[g], pin_start[g + 1]):
                Tv[pin_i[q], pin_j[q], b] = pin_value[q, pt]
        for i in range(n):
            for j in range(n):
                ur = Uv[i, j]
                for b in range(r):
                    ur[b] = ut[b, i, j]
        for i in range(n):
            for j in range(n):
                xs = Tv[j, i]
                for b in range(r):
                    XT[j, b] = xs[b]
            _decide_row(
                i, n, r, Tv[i], XT, PRv[i], PGv, POWv, SRv[i], SCv, Uv[i], rules[i],
                delta, down_table, up_table, m, CHv[i], W, RC, IB, FB, NZ, nz_start,
            )  # fmt: skip
        for i in range(n):
            for j in range(n):
                tr = Tv[i, j]
                cr = CHv[i, j]
                for b in range(r):
                    tr[b] = tr[b] + cr[b] * delta
        for i in range(n):
            d = Tv[i, i]
            for b in range(r):
                d[b] = 0.0
        for b in range(r):
            g = regime[t, b]
            pt = points[b]
            for q in range(pin_start[g], pin_start[g + 1]):
                Tv[pin_i[q], pin_j[q], b] = pin_value[q, pt]
        if record[t] >= 0:
            s = record[t]
            for b in range(r):
                for i in range(n):
                    for j in range(n):
                        snaps[b, s, i, j] = Tv[i, j, b]
    for b in range(r):
        for i in range(n):
            for j in range(n):
                T[b, i, j] = Tv[i, j, b]


@numba.njit(_LANES_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def simulate_lanes(
    T, u, regime, rows, points, pin_start, pin_i, pin_j, pin_value, rules, delta, pairs,
    states, scalars, down_table, up_table, m, record, snaps,
):  # fmt: skip
    """:func:`sim.kernel.compiled._simulate_local` with ``one_at_a_time`` false (the same
    arguments, the same results), a block of :data:`LANE_BLOCK` replicates at a time
    (replicates are independent)."""
    r = T.shape[0]
    for b0 in range(0, r, LANE_BLOCK):
        b1 = min(b0 + LANE_BLOCK, r)
        _simulate_block(
            T[b0:b1], u[:, b0:b1], regime[:, b0:b1], rows[:, b0:b1], points[b0:b1],
            pin_start, pin_i, pin_j, pin_value, rules, delta, pairs, states, scalars,
            down_table, up_table, m, record, snaps[b0:b1],
        )  # fmt: skip
