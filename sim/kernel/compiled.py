"""Model 1's period decisions with local candidates, compiled with numba.

The gains of :func:`sim.kernel.payoffs.local_gains` and the choices of
:func:`sim.kernel.decision.choose_local`, fused into one loop over replicates, states and
ties (:func:`_decide`), and the tables' row scores of :func:`sim.kernel.payoffs.row_utility`
(:func:`row_scores`). For Model 1 with local candidates (the default) both drivers run
them: the Mesa model a period at a time (:func:`decide_local`, through
:func:`sim.kernel.decision.period_choices`), the ensemble engine in a compiled period loop
over blocks of periods (:func:`simulate_local`), with the replicates as SIMD lanes
(:func:`simulate_lanes`, the same arithmetic). The numpy functions stay as the reference:
the tests hold the compiled gains equal to them to rounding (1e-12) and the choices equal
on every draw not within rounding of a decision boundary. The formulas, term by term, are
those of ``docs/ODD.md`` section 7.8; the names below are those of ``local_gains``.

Why compiled: the numpy kernel makes about 130 array calls a period, each with a fixed cost
of about a microsecond, over arrays of a few hundred ties; fused, a tie costs tens of
nanoseconds. No ``fastmath``: it changes how NaN (an impossible move) compares, and with
it the choices.

Replicates may use different parameter rows (``rows``): the sweep point and shock regime
of each, so that one call serves every replicate however many regimes they are in.

The machine code is cached on disk (numba's ``cache=True``, beside this file or in
``NUMBA_CACHE_DIR``); ``./dev setup`` compiles it once (a few seconds), so a user's first
run does not wait for the compiler; a changed source compiles again at its first use.
The drivers choose between this and the numpy reference (``MULTIVECTOR_KERNEL``, read by
:func:`sim.drivers.engine.kernel_name`); the kernel itself reads no setting. Model 2's
gains and row scores are compiled in :mod:`sim.kernel.compiled_balance`.
"""

from __future__ import annotations

import numba
import numpy as np

# The order of the packed parameter arrays (:func:`pack`); the kernel reads them by index.
PAIRS = (
    "energy",
    "theta",
    "pi",
    "leverage_weight",
    "rival_leverage",
    "aff",
    "group_mass",
    "rivalry",
)
STATES = (
    "power",
    "autonomy",
    "cross_pressure",
    "kappa",
    "tau",
    "gamma",
    "w_energy",
    "w_security",
    "w_alignment",
    "inv_denom",
)
SCALARS = ("beta", "lam", "phi")

# decision rule codes, as in sim.kernel.decision (which imports this module lazily)
_LOGIT, _BEST_RESPONSE = 0, 1


def pack(P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model 1's parameters of a :class:`~sim.kernel.payoffs.Params` with batch shape
    ``()`` or ``(B,)`` as three C-contiguous arrays: ``pairs`` ``(B, 8, N, N)``,
    ``states`` ``(B, 10, N)`` and ``scalars`` ``(B, 3)``, in the orders of
    :data:`PAIRS`, :data:`STATES` and :data:`SCALARS` (``B`` = 1 when unbatched);
    read-only, as the compiled functions take them.
    """
    d = P.derived
    n = P.power.shape[-1]
    gmr = d["group_mass_and_rivalry"]
    pair_arrays = {
        "energy": P.energy,
        "theta": d["theta"],
        "pi": d["pi"],
        "leverage_weight": d["leverage_weight"],
        "rival_leverage": d["rival_leverage"],
        "aff": d["aff"],
        "group_mass": gmr[..., :n],
        "rivalry": gmr[..., n:],
    }
    w = P.weights
    state_arrays = {
        "power": P.power,
        "autonomy": P.autonomy,
        "cross_pressure": P.cross_pressure,
        "kappa": P.kappa,
        "tau": P.tau,
        "gamma": P.gamma,
        "w_energy": w[..., 0],
        "w_security": w[..., 1],
        "w_alignment": w[..., 2],
        "inv_denom": d["inv_denom"],
    }
    scalar_arrays = {"beta": P.beta, "lam": P.lam, "phi": P.phi}
    return packed(P, (PAIRS, pair_arrays), (STATES, state_arrays), (SCALARS, scalar_arrays))


def packed(P, pairs, states, scalars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, arrays)`` of pair, state and scalar parameters of ``P`` (batch shape
    ``()`` or ``(B,)``) stacked in that order as the compiled functions read them:
    ``(B, K, N, N)``, ``(B, K, N)`` and ``(B, K)``, read-only (``B`` = 1 unbatched)."""
    n = P.power.shape[-1]
    batch = P.power.shape[:-1]
    if len(batch) > 1:
        raise ValueError(f"pack: parameters with batch shape {batch}; expected () or (B,)")
    b = batch[0] if batch else 1
    out = []
    for (order, arrays), tail in ((pairs, (n, n)), (states, (n,)), (scalars, ())):
        stacked = np.stack(
            [np.broadcast_to(arrays[k], batch + tail) for k in order], axis=-1 - len(tail)
        )
        out.append(_frozen(stacked.reshape(b, len(order), *tail), np.float64))
    return tuple(out)


def _readonly(dtype, ndim: int):
    return numba.types.Array(dtype, ndim, "C", readonly=True)


# Every input is passed read-only (:func:`_frozen`) so that one signature, compiled once
# and cached, serves every call. The parameters (:func:`pack`) and the tie cost's steps
# on the lattice (:func:`_step_tables`) come in the same form to every function.
_PARAMS = (
    _readonly(numba.float64, 4),  # pairs
    _readonly(numba.float64, 3),  # states
    _readonly(numba.float64, 2),  # scalars
)
_STEPS = (
    _readonly(numba.float64, 1),  # down_table
    _readonly(numba.float64, 1),  # up_table
    numba.int64,  # m
)
_SIGNATURE = numba.types.void(
    _readonly(numba.float64, 3),  # T
    _readonly(numba.float64, 3),  # u
    _readonly(numba.boolean, 2),  # revising
    _readonly(numba.int64, 1),  # rows
    _readonly(numba.int64, 1),  # rules
    numba.float64,  # delta
    *_PARAMS,
    *_STEPS,
    numba.types.Array(numba.int64, 3, "C"),  # choice (written)
    numba.types.Array(numba.float64, 4, "C"),  # gains (written)
)


def _frozen(a, dtype) -> np.ndarray:
    """A read-only C-contiguous view of ``a`` as ``dtype`` (a copy only if needed)."""
    v = np.ascontiguousarray(a, dtype=dtype).view()
    v.flags.writeable = False
    return v


@numba.njit("float64(float64)", cache=True, error_model="numpy")
def _barrier(z):
    """``[(1 + z) ln(1 + z) + (1 - z) ln(1 - z)] / 2`` with ``0 ln 0 = 0``."""
    up = 1.0 + z
    down = 1.0 - z
    c = 0.0
    if up > 0.0:
        c += up * np.log(up)
    if down > 0.0:
        c += down * np.log(down)
    return c / 2.0


# exp(x) for the logit weights (x <= 0), the same in every kernel: Cody-Waite reduction
# x = k ln 2 + r (fdlibm's split of ln 2: k * _LN2_HI is exact), exp(r) by its Taylor
# polynomial to degree 13 (|r| <= ln 2 / 2: truncation under 5e-18; Estrin's scheme),
# times 2**k built from its bits. Within 1 ulp of libm's; written out so that the lanes
# kernel
# (:func:`simulate_lanes`, below) vectorizes it and the scalar kernel computes the
# same bits (libm's exp is a call LLVM cannot vectorize, and half of the scalar kernel).
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_TAYLOR = tuple(1.0 / np.prod(np.arange(1.0, k + 1.0)) for k in range(14))  # 1 / k!
# below this exp(x) rounds to 0 (exp(-745.14) is half the smallest subnormal)
EXP_ZERO = -745.2


@numba.njit(inline="always", error_model="numpy", cache=True)
def exp_parts(x):
    """``exp(x) = p * 2**k1 * 2**k2`` for ``x <= 0``: ``(p, bits1, bits2)``, the two
    scales as int64 float64 bit patterns (``(k + 1023) << 52``; two, so that results
    down to the subnormals scale exactly). Arguments below :data:`EXP_ZERO` (-inf too)
    and NaN give ``exp(0)``'s parts: :func:`exp_of` puts 0 (or NaN) back, so that no lane
    computes a subnormal on the way (slow on x86)."""
    c = _TAYLOR
    xc = x if x >= EXP_ZERO else 0.0
    xc = xc if xc < 709.0 else 709.0
    kf = np.rint(xc * _LOG2E)
    r = xc - kf * _LN2_HI
    r = r - kf * _LN2_LO
    # q = c2 + c3 r + ... + c13 r^11 by Estrin's scheme: a chain of 7 steps, not
    # Horner's 22 (the scalar kernel waits on it; the lanes kernel does not mind)
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    b0 = (c[2] + c[3] * r) + (c[4] + c[5] * r) * r2
    b1 = (c[6] + c[7] * r) + (c[8] + c[9] * r) * r2
    b2 = (c[10] + c[11] * r) + (c[12] + c[13] * r) * r2
    q = (b0 + b1 * r4) + b2 * r8
    p = 1.0 + (r + r2 * q)
    k = np.int64(kf)
    k1 = k >> 1
    k2 = k - k1
    return p, (k1 + 1023) << 52, (k2 + 1023) << 52


@numba.njit(inline="always", error_model="numpy", cache=True)
def exp_of(x, p, scale1, scale2):
    """exp(x) from :func:`exp_parts` ``p`` and its scales read as float64."""
    e = p * scale1 * scale2
    e = e if x >= EXP_ZERO else 0.0
    return e if x == x else x


@numba.njit(inline="always", error_model="numpy", cache=True)
def _exp(x, bits, scales):
    """exp(x), x <= 0, as :func:`exp_parts` and :func:`exp_of` compute it; ``bits``: an
    int64 work array of 2, ``scales`` its float64 view."""
    p, bits1, bits2 = exp_parts(x)
    bits[0] = bits1
    bits[1] = bits2
    return exp_of(x, p, scales[0], scales[1])


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _row_state(T, b, i, pb, pairs, states, scalars, scratch):
    """State i's row in replicate b (parameter row ``pb``): fills ``scratch`` with the
    ties ``x``, friendliness ``f``, commitments ``k`` (own entries 0), reciprocity
    ``rho``, the mass of each partner's group and each partner's rivals' commitment, and
    returns the row's totals ``(unthreatened, unprotected, total_mass, mass_sq)``
    (section 7.8 of ``docs/ODD.md``). Both the decisions and the tables read rows here."""
    n = T.shape[1]
    beta = scalars[pb, 0]
    lam = scalars[pb, 1]
    x = scratch[0]
    f = scratch[1]
    k = scratch[2]
    rho = scratch[3]
    group_mass = scratch[4]
    rival_commitment = scratch[5]
    unthreatened = 1.0
    unprotected = 1.0
    total_mass = 0.0
    for j in range(n):
        xj = T[b, i, j] if j != i else 0.0
        fj = (1.0 + xj) / 2.0
        kj = fj * fj if j != i else 0.0
        rj = beta + (1.0 - beta) * ((1.0 + T[b, j, i]) / 2.0)
        x[j] = xj
        f[j] = fj
        k[j] = kj
        rho[j] = rj
        unthreatened *= 1.0 - pairs[pb, 1, i, j] * (1.0 - lam * rj * fj)
        unprotected *= 1.0 - pairs[pb, 2, i, j] * rj * kj
        total_mass += states[pb, 0, j] * kj
    mass_sq = 0.0
    for j in range(n):
        gm = 0.0
        rc = 0.0
        for c in range(n):
            gm += k[c] * pairs[pb, 6, c, j]
            rc += k[c] * pairs[pb, 7, c, j]
        group_mass[j] = gm
        rival_commitment[j] = rc
        mass_sq += states[pb, 0, j] * k[j] * gm
    return unthreatened, unprotected, total_mass, mass_sq


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _decide(T, u, revising, b, pb, rules, delta, params, steps, choice, gains, scratch):
    """Replicate ``b``'s decisions, with parameter row ``pb``: fill ``choice[b]`` with
    each tie's candidate index (0 down, 1 stay, 2 up) and ``gains[:, b]`` with the gains of
    ``-delta`` and ``+delta`` (NaN where the move leaves (-1, 1), on the diagonal and in
    rows that do not revise). ``T`` ``(R, N, N)`` ties; ``u`` ``(R, N, >= N)`` uniforms;
    ``revising`` ``(R, N)``; ``rules`` ``(N,)``; ``delta`` the step; ``params``:
    ``(pairs, states, scalars)`` from :func:`pack`; ``steps``: ``(down_table, up_table,
    m)``, the barrier's changes by ``-+delta`` on the lattice ``k delta``, ``k = -m ..
    m``; ``scratch`` ``(6, N)`` work space.

    Both the per-period kernel (:func:`_local_choices`, the Mesa model's) and the chunk's
    loop (:func:`_simulate_local`, the ensemble's) call this one function, so the two
    drivers compute the same numbers.
    """
    pairs, states, scalars = params
    down_table, up_table, m = steps
    n = T.shape[1]
    half = 0.5 * delta
    bump = half * half
    inv_delta = 1.0 / delta
    x, f, k, rho = scratch[0], scratch[1], scratch[2], scratch[3]
    group_mass, rival_commitment = scratch[4], scratch[5]  # filled by _row_state
    bits = np.empty(2, dtype=np.int64)
    scales = bits.view(np.float64)
    lam = scalars[pb, 1]
    phi = scalars[pb, 2]
    inv_phi = 1.0 / (1.0 + phi)
    for i in range(n):
        if not revising[b, i]:
            for j in range(n):
                choice[b, i, j] = 1
                gains[0, b, i, j] = np.nan
                gains[1, b, i, j] = np.nan
            continue
        w_energy = states[pb, 6, i]
        w_security = states[pb, 7, i]
        w_alignment = states[pb, 8, i]
        unthreatened, unprotected, total_mass, mass_sq = _row_state(
            T, b, i, pb, pairs, states, scalars, scratch
        )
        threat = 1.0 - unthreatened
        hhi = mass_sq / (total_mass * total_mass) if total_mass > 0.0 else 0.0
        autonomy_weight = w_alignment * states[pb, 1, i]
        cross_weight = w_alignment * (states[pb, 2, i] * states[pb, 9, i])
        kappa = states[pb, 3, i]
        inv_tau = 1.0 / states[pb, 4, i]
        gamma = states[pb, 5, i]
        rule = rules[i]
        for j in range(n):
            if j == i:
                choice[b, i, j] = 1
                gains[0, b, i, j] = np.nan
                gains[1, b, i, j] = np.nan
                continue
            xj = x[j]
            fj = f[j]
            rj = rho[j]
            k_slope = delta * fj
            # the part affine in the sign of the step: even + s * odd
            odd = (w_energy * half) * pairs[pb, 0, i, j] * rj
            odd += (w_alignment * delta) * pairs[pb, 5, i, j]
            theta = pairs[pb, 1, i, j]
            lam_rho = lam * rj
            threat_factor = 1.0 - theta * (1.0 - lam_rho * fj)
            threat_drop = unthreatened / threat_factor * theta * lam_rho * half
            pi_rho = pairs[pb, 2, i, j] * rj
            cover_rate = unprotected / (1.0 - pi_rho * k[j]) * pi_rho
            cover_odd = cover_rate * k_slope
            cover_even = cover_rate * bump
            even = w_security * (threat * cover_even - threat_drop * cover_odd)
            odd += w_security * (threat * cover_odd + threat_drop * (unprotected - cover_even))
            rival_rate = w_security * pairs[pb, 4, i, j]
            even -= rival_rate * bump
            odd -= rival_rate * k_slope
            cross_rate = cross_weight * rival_commitment[j]
            even -= cross_rate * bump
            odd -= cross_rate * k_slope
            # the barrier's change from the lattice table, or computed off the lattice
            kf = np.rint(xj * inv_delta)
            on_lattice = abs(xj - kf * delta) <= 1e-9
            idx = min(max(int(kf) + m, 0), 2 * m)
            hinge_now = max(phi - xj, 0.0) * inv_phi
            lever = -w_security * pairs[pb, 3, i, j]
            p_j = states[pb, 0, j]
            mass_odd = p_j * k_slope
            down = up = 0.0
            for s in range(2):
                sign = 2.0 * s - 1.0
                v = xj + sign * delta
                valid = abs(v) < 1.0
                v = min(max(v, -1.0), 1.0)
                hinge = max(phi - v, 0.0) * inv_phi
                g = (hinge * hinge - hinge_now * hinge_now) * lever
                if total_mass > 0.0:
                    mass_change = bump * p_j + sign * mass_odd
                    new_total = total_mass + mass_change
                    new_sq = (2.0 * group_mass[j] + mass_change) * mass_change + mass_sq
                    hhi_change = new_sq / (new_total * new_total) - hhi
                    g -= hhi_change * autonomy_weight
                if on_lattice:
                    cost = down_table[idx] if s == 0 else up_table[idx]
                else:
                    cost = _barrier(v) - _barrier(xj)
                g -= cost * kappa
                g += even + sign * odd
                gains[s, b, i, j] = g if valid else np.nan
                if s == 0:
                    down = g - gamma if valid else -np.inf
                else:
                    up = g - gamma if valid else -np.inf
            if rule == _LOGIT:
                # weights exp((V - top) / tau); the top one is exp(0) = 1
                top = max(max(down, up), 0.0)
                if top == 0.0:
                    w_stay = 1.0
                    w_down = _exp(down * inv_tau, bits, scales)
                    w_up = _exp(up * inv_tau, bits, scales)
                elif top == down:
                    w_down = 1.0
                    w_stay = _exp(-top * inv_tau, bits, scales)
                    w_up = _exp((up - top) * inv_tau, bits, scales)
                else:
                    w_up = 1.0
                    w_stay = _exp(-top * inv_tau, bits, scales)
                    w_down = _exp((down - top) * inv_tau, bits, scales)
                below = w_down + w_stay
                total = below + w_up
                draw = u[b, i, j] * total
                choice[b, i, j] = (1 if draw >= w_down else 0) + (1 if draw >= below else 0)
            elif rule == _BEST_RESPONSE:
                if max(down, up) <= 0.0:
                    choice[b, i, j] = 1
                elif down >= up:
                    choice[b, i, j] = 0
                else:
                    choice[b, i, j] = 2
            else:
                choice[b, i, j] = 1


@numba.njit(_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def _local_choices(
    T, u, revising, rows, rules, delta, pairs, states, scalars, down_table, up_table, m,
    choice, gains,
):  # fmt: skip
    """Fill ``choice`` ``(R, N, N)`` with each tie's candidate index (0 down, 1 stay, 2 up)
    and ``gains`` ``(2, R, N, N)`` with the gains of ``-delta`` and ``+delta`` (NaN where
    the move leaves (-1, 1), on the diagonal and in rows that do not revise).

    ``T`` ``(R, N, N)`` ties; ``u`` ``(R, N, N)`` uniforms; ``revising`` ``(R, N)``;
    ``rows`` ``(R,)`` each replicate's parameter row; ``rules`` ``(N,)``; ``delta`` the
    step; ``pairs``, ``states``, ``scalars`` from :func:`pack`; ``down_table``,
    ``up_table``: the barrier's changes by ``-+delta`` on the lattice ``k delta``,
    ``k = -m .. m``.
    """
    r, n = T.shape[0], T.shape[1]
    scratch = np.empty((6, n))
    params = (pairs, states, scalars)
    steps = (down_table, up_table, m)
    for b in range(r):
        _decide(T, u, revising, b, rows[b], rules, delta, params, steps, choice, gains, scratch)


_CHUNK_SIGNATURE = numba.types.void(
    numba.types.Array(numba.float64, 3, "C"),  # T (updated in place)
    _readonly(numba.float64, 4),  # u: (K, R, N, N + 1)
    _readonly(numba.int64, 2),  # regime: (K, R)
    _readonly(numba.int64, 2),  # rows: (K, R)
    _readonly(numba.int64, 1),  # points: (R,)
    _readonly(numba.int64, 1),  # pin_start: (regimes + 1,)
    _readonly(numba.int64, 1),  # pin_i
    _readonly(numba.int64, 1),  # pin_j
    _readonly(numba.float64, 2),  # pin_value: (pins, points)
    numba.boolean,  # one_at_a_time
    _readonly(numba.int64, 1),  # rules
    numba.float64,  # delta
    *_PARAMS,
    *_STEPS,
    _readonly(numba.int64, 1),  # record: (K,)
    numba.types.Array(numba.float64, 4, "C"),  # snaps (written)
)


@numba.njit(_CHUNK_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def _simulate_local(
    T, u, regime, rows, points, pin_start, pin_i, pin_j, pin_value, one_at_a_time, rules,
    delta, pairs, states, scalars, down_table, up_table, m, record, snaps,
):  # fmt: skip
    """K periods of R replicates: for each period and replicate, pin the ties its regime
    holds, decide (:func:`_decide`), apply the moves of the revising states, pin again;
    after period t, if ``record[t] >= 0``, copy the ties into ``snaps[:, record[t]]``.

    The same steps, in the same order and with the same arithmetic, as the engine's
    period loop in Python (``decision.period_choices`` and ``decision.apply_choices``,
    ``Pins.apply``): what the Mesa model does a period at a time.
    ``regime[t, b]`` indexes the pins (``pin_start``: where each regime's pins begin in
    ``pin_i``, ``pin_j``, ``pin_value[:, point]``); ``rows[t, b]`` the parameters.
    """
    k_periods, r, n = u.shape[0], T.shape[0], T.shape[1]
    scratch = np.empty((6, n))
    choice = np.empty((r, n, n), dtype=np.int64)
    gains = np.empty((2, r, n, n))
    revising = np.empty((r, n), dtype=np.bool_)
    params = (pairs, states, scalars)
    steps = (down_table, up_table, m)
    for t in range(k_periods):
        ut = u[t]
        for b in range(r):
            g = regime[t, b]
            for q in range(pin_start[g], pin_start[g + 1]):
                T[b, pin_i[q], pin_j[q]] = pin_value[q, points[b]]
            if one_at_a_time:
                who = min(int(ut[b, 0, n] * n), n - 1)
                for i in range(n):
                    revising[b, i] = i == who
            else:
                for i in range(n):
                    revising[b, i] = True
            _decide(
                T, ut, revising, b, rows[t, b], rules, delta, params, steps, choice, gains,
                scratch,
            )  # fmt: skip
            for i in range(n):
                if revising[b, i]:
                    for j in range(n):
                        T[b, i, j] = T[b, i, j] + (choice[b, i, j] - 1) * delta
                T[b, i, i] = 0.0
            for q in range(pin_start[g], pin_start[g + 1]):
                T[b, pin_i[q], pin_j[q]] = pin_value[q, points[b]]
        if record[t] >= 0:
            snaps[:, record[t]] = T


_ROW_SIGNATURE = numba.types.void(
    _readonly(numba.float64, 3),  # T
    _readonly(numba.int64, 1),  # rows
    numba.float64,  # delta
    *_PARAMS,
    _readonly(numba.float64, 1),  # barrier_table
    numba.int64,  # m
    numba.types.Array(numba.float64, 3, "C"),  # comp (written)
    numba.types.Array(numba.float64, 2, "C"),  # util (written)
)


@numba.njit(_ROW_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def _row_scores(T, rows, delta, pairs, states, scalars, barrier_table, m, comp, util):
    """Fill ``comp`` ``(R, N, 4)`` (energy, security, alignment, cost) and ``util``
    ``(R, N)`` with every state's current row, as ``payoffs.row_utility`` does."""
    r, n = T.shape[0], T.shape[1]
    inv_delta = 1.0 / delta
    scratch = np.empty((6, n))
    x = scratch[0]
    f = scratch[1]
    k = scratch[2]
    rho = scratch[3]
    rival_commitment = scratch[5]
    for b in range(r):
        pb = rows[b]
        phi = scalars[pb, 2]
        inv_phi = 1.0 / (1.0 + phi)
        for i in range(n):
            unthreatened, unprotected, total_mass, mass_sq = _row_state(
                T, b, i, pb, pairs, states, scalars, scratch
            )
            energy = 0.0
            leverage = 0.0
            affinity = 0.0
            barrier = 0.0
            pressure = 0.0
            for j in range(n):
                xj = x[j]
                kj = k[j]
                energy += pairs[pb, 0, i, j] * rho[j] * f[j]
                hinge = max(phi - xj, 0.0) * inv_phi
                leverage += pairs[pb, 3, i, j] * hinge * hinge + pairs[pb, 4, i, j] * kj
                affinity += pairs[pb, 5, i, j] * xj
                pressure += rival_commitment[j] * kj
                if j != i:
                    kf = np.rint(xj * inv_delta)
                    if abs(xj - kf * delta) <= 1e-9:
                        barrier += barrier_table[min(max(int(kf) + m, 0), 2 * m)]
                    else:
                        barrier += _barrier(xj)
            security = -(1.0 - unthreatened) * unprotected - leverage
            hhi = mass_sq / (total_mass * total_mass) if total_mass > 0.0 else 0.0
            cross = 0.5 * pressure * states[pb, 9, i]
            alignment = affinity - states[pb, 1, i] * hhi - states[pb, 2, i] * cross
            cost = states[pb, 3, i] * barrier
            comp[b, i, 0] = energy
            comp[b, i, 1] = security
            comp[b, i, 2] = alignment
            comp[b, i, 3] = cost
            util[b, i] = (
                states[pb, 6, i] * energy
                + states[pb, 7, i] * security
                + states[pb, 8, i] * alignment
                - cost
            )


def _rows(rows: np.ndarray | None, shape: tuple[int, ...], available: int) -> np.ndarray:
    """Each replicate's parameter row ``shape`` (``(R,)``, or ``(K, R)`` over K periods),
    checked; None: replicate r reads row r if there are several, else the one."""
    if rows is None:
        r = shape[-1]
        rows = np.broadcast_to(np.arange(r) if available > 1 else np.zeros(r, np.int64), shape)
    rows = _frozen(rows, np.int64)
    if rows.shape != shape or (rows.size and (rows.min() < 0 or rows.max() >= available)):
        raise ValueError(f"rows {rows.shape} do not index {available} parameter rows")
    return rows


def _step_tables(delta: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The tie cost's changes by ``-delta`` and ``+delta`` at each point ``k delta`` of
    the lattice (``k = -m .. m``), and ``m``."""
    from sim.kernel.payoffs import _barrier_table

    _, down, up = _barrier_table(float(delta))
    return _frozen(down, np.float64), _frozen(up, np.float64), (len(down) - 1) // 2


def _batch(T: np.ndarray) -> tuple[np.ndarray, bool]:
    """``T`` as a read-only ``(R, N, N)`` batch, and whether it was one ``(N, N)``."""
    single = T.ndim == 2
    return _frozen(T[None] if single else T, np.float64), single


def decide_local(
    T: np.ndarray,
    P,
    u: np.ndarray,
    revising: np.ndarray,
    rules: np.ndarray,
    delta: float,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Model 1's choices among local candidates, and the gains they come from.

    ``choice`` ``(R, N, N)`` (or ``(N, N)``): the candidate indices of
    ``choose_local(local_gains(T, P, delta), rules, P.tau, P.gamma, u)`` on the revising
    states, 1 (stay) on the others and on the diagonal. ``gains`` ``(2, R, N, N)`` (or
    ``(2, N, N)``): ``local_gains(T, P, delta)`` on the revising states' rows, NaN on the
    others.

    Args:
        T: ties ``(N, N)`` or ``(R, N, N)``; u: uniforms of ``T``'s shape.
        P: parameters with batch shape ``()`` or ``(B,)``.
        revising: ``(N,)`` or ``(R, N)`` bool.
        rules: ``(N,)`` rule codes; delta: the tie step.
        rows: ``(R,)`` the row of ``P``'s batch each replicate uses; None: replicate r uses
            row r (``P`` batched over the replicates) or the one set (``P`` unbatched).
    """
    T3, single = _batch(T)
    r, n = T3.shape[0], T3.shape[-1]
    u3 = _frozen(np.broadcast_to(u, T3.shape), np.float64)
    rev = _frozen(np.broadcast_to(revising, (r, n)), np.bool_)
    choice = np.empty(T3.shape, dtype=np.int64)
    gains = np.empty((2, *T3.shape))
    _local_choices(
        T3,
        u3,
        rev,
        _rows(rows, (r,), len(P.packed[0])),
        _frozen(rules, np.int64),
        float(delta),
        *P.packed,
        *_step_tables(delta),
        choice,
        gains,
    )
    if single:
        return choice[0], gains[:, 0]
    return choice, gains


def row_scores(
    T: np.ndarray, P, delta: float, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Components ``(R, N, 4)`` and utility ``(R, N)`` of every state's current row of
    ``T`` ``(R, N, N)`` (or ``(N, N)``): ``payoffs.row_utility(T, P, delta)`` to
    rounding. ``rows``: as for :func:`decide_local`."""
    from sim.kernel.payoffs import _barrier_table

    T3, single = _batch(T)
    r, n = T3.shape[0], T3.shape[-1]
    at = _barrier_table(float(delta))[0]
    comp = np.empty((r, n, 4))
    util = np.empty((r, n))
    rows = _rows(rows, (r,), len(P.packed[0]))
    # records in SIMD lanes, those of one parameter row together (the scalar loop,
    # _row_scores, computes the same bits)
    order = _frozen(np.argsort(rows, kind="stable"), np.int64)
    row_scores_lanes(
        T3,
        order,
        rows,
        float(delta),
        *P.packed,
        _frozen(at, np.float64),
        (len(at) - 1) // 2,
        comp,
        util,
    )
    if single:
        return comp[0], util[0]
    return comp, util


def simulate_local(
    T: np.ndarray,
    P,
    u: np.ndarray,
    regime: np.ndarray,
    rows: np.ndarray | None,
    points: np.ndarray,
    pins: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    update: str,
    rules: np.ndarray,
    delta: float,
    record: np.ndarray,
    snaps: np.ndarray,
) -> None:
    """K periods of Model 1 with local candidates for R replicates, in one call: the
    ensemble engine's period loop (:func:`sim.drivers.engine.simulate`).

    Args:
        T: ties ``(R, N, N)``, advanced in place.
        P: the parameters of every regime side by side (batch ``()`` or ``(B,)``).
        u: the K periods' draws ``(K, R, N, N + 1)``.
        regime: ``(K, R)`` each replicate's regime (index into ``pins``).
        rows: ``(K, R)`` each replicate's row of ``P`` (None: ``P`` is one set).
        points: ``(R,)`` sweep points (the pinned values differ by point).
        pins: ``(start, i, j, value)``: regime g pins ``T[i[q], j[q]] = value[q, point]``
            for ``q`` in ``start[g] .. start[g + 1] - 1``.
        update: ``simultaneous`` or ``one_at_a_time``; rules, delta: the world's.
        record: ``(K,)`` the slot of ``snaps`` ``(R, S, N, N)`` to copy the ties into
            after each period, -1 for none.
    """
    k, r = u.shape[0], T.shape[0]
    start, pin_i, pin_j, value = pins
    args = (
        _frozen(u, np.float64),
        _frozen(regime, np.int64),
        _rows(rows, (k, r), len(P.packed[0])),
        _frozen(points, np.int64),
        _frozen(start, np.int64),
        _frozen(pin_i, np.int64),
        _frozen(pin_j, np.int64),
        _frozen(value, np.float64),
    )
    rest = (
        _frozen(rules, np.int64),
        float(delta),
        *P.packed,
        *_step_tables(delta),
        _frozen(record, np.int64),
        snaps,
    )
    if update == "one_at_a_time":  # one row a period: the scalar loop computes only it
        _simulate_local(T, *args, True, *rest)
    else:
        simulate_lanes(T, *args, *rest)


# --------------------------------------------------------------------------------------
# The ensemble's period loop with the replicates in SIMD lanes
# --------------------------------------------------------------------------------------
# The loop of _simulate_local for states that all revise every period (``update:
# simultaneous``, every shipped scenario), rearranged so that the replicates are the
# innermost loop: the ties live as (N, N, R), each replicate's parameters in
# replicate-innermost copies (refreshed only for the replicates whose parameter row
# changes: a shock regime), and every loop over replicates is free of branches, so that
# LLVM vectorizes it (4 lanes of AVX2 here); the exponentials are exp_parts, not calls to
# libm. Every floating-point operation is that of _decide, in the same order, with the
# same exp: the Mesa model (one replicate a period through _decide) and the ensemble
# compute the same bits, tie for tie (tests/test_ensemble.py, every shipped scenario;
# tests/test_compiled.py replays chunks through both loops). About twice as fast as the
# scalar loop (python -m sim.tools.bench kernel). ``one_at_a_time`` (one state revises a
# period) stays in the scalar loop, which computes only the revising row.
# These functions live in this file with _decide and exp_parts on purpose: numba's cache
# is invalidated by a change to the file of the cached function only, not to the
# functions it inlines from other files.

#: Replicates per block of lanes: a block's replicate-innermost arrays stay in the caches
#: (blocks of 128, 256 and 512 replicates ran alike; unblocked, 256 took 20% longer).
LANE_BLOCK = 128
#: The most the row scores' block of ties may take (large worlds get fewer lanes).
_LANE_BYTES = 16 << 20

# the chunk loop's arguments without ``one_at_a_time``
_LANES_SIGNATURE = numba.types.void(*(a for a in _CHUNK_SIGNATURE.args if a != numba.boolean))


@numba.njit(inline="always", error_model="numpy", cache=True)
def _all_finite(k, n, lanes):
    """Whether ``k[c, b]`` is finite for every state c and lane b < ``lanes`` (then the
    group sums may skip their terms whose parameter is 0: k * 0 = +0 leaves a sum as it
    is; not for an infinite or NaN k)."""
    n_bad = 0
    for c in range(n):
        kc = k[c]
        for b in range(lanes):
            n_bad += 0 if abs(kc[b]) < np.inf else 1
    return n_bad == 0


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
    if _all_finite(k, n, L):
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


# --------------------------------------------------------------------------------------
# The tables' row scores, records in lanes
# --------------------------------------------------------------------------------------

_ROW_LANES_SIGNATURE = numba.types.void(
    _readonly(numba.float64, 3),  # T: (B, N, N) records
    _readonly(numba.int64, 1),  # order: the records sorted by parameter row
    _readonly(numba.int64, 1),  # rows: (B,) each record's parameter row
    numba.float64,  # delta
    *_PARAMS,
    _readonly(numba.float64, 1),  # barrier_table
    numba.int64,  # m
    numba.types.Array(numba.float64, 3, "C"),  # comp (written): (B, N, 4)
    numba.types.Array(numba.float64, 2, "C"),  # util (written): (B, N)
)


@numba.njit(_ROW_LANES_SIGNATURE, cache=True, error_model="numpy", nogil=True)
def row_scores_lanes(T, order, rows, delta, pairs, states, scalars, barrier_table, m, comp, util):
    """:func:`_row_scores` (the same arithmetic in the same order,
    the same bits) with the records as SIMD lanes: records that share a parameter row
    (``order`` sorts them so) go through in blocks of :data:`LANE_BLOCK`, their
    parameters the same in every lane."""
    n_records, n = T.shape[0], T.shape[1]
    inv_delta = 1.0 / delta
    two_m = 2 * m
    # lanes: a block of records, no more than there are, nor than 16 MB of ties holds
    # (a 500-state world: 8, not 128 x 2 MB)
    L = max(1, min(LANE_BLOCK, n_records, _LANE_BYTES // (8 * n * n)))
    X = np.empty((n, n, L))  # the block's ties, record innermost
    x = np.empty((n, L))
    f = np.empty((n, L))
    k = np.empty((n, L))
    rho = np.empty((n, L))
    rc = np.empty((n, L))
    gm = np.empty((n, L))
    # the (c, j) where the block's row has a group mass (p = 0) or rivalry (p = 1) not 0,
    # in the order of c then j: NZ[:, nz_start[p]:nz_start[p + 1]]
    NZ = np.empty((2, 2 * n * n), dtype=np.int64)
    nz_start = np.zeros(3, dtype=np.int64)
    acc = np.empty((9, L))
    cost_at = np.empty(L)
    off = np.empty(L)
    lo = 0
    while lo < n_records:
        pb = rows[order[lo]]
        hi = lo
        while hi < n_records and hi - lo < L and rows[order[hi]] == pb:
            hi += 1
        lanes = hi - lo
        for b in range(lanes):
            rec = order[lo + b]
            for i in range(n):
                for j in range(n):
                    X[i, j, b] = T[rec, i, j]
        q = 0
        for p in range(2):
            for c in range(n):
                for j in range(n):
                    if pairs[pb, 6 + p, c, j] != 0.0:
                        NZ[0, q] = c
                        NZ[1, q] = j
                        q += 1
            nz_start[p + 1] = q
        beta = scalars[pb, 0]
        lam = scalars[pb, 1]
        phi = scalars[pb, 2]
        inv_phi = 1.0 / (1.0 + phi)
        unth = acc[0]
        unpr = acc[1]
        tot = acc[2]
        msq = acc[3]
        energy = acc[4]
        leverage = acc[5]
        affinity = acc[6]
        barrier = acc[7]
        pressure = acc[8]
        for i in range(n):
            for b in range(lanes):
                unth[b] = 1.0
                unpr[b] = 1.0
                tot[b] = 0.0
                msq[b] = 0.0
                energy[b] = 0.0
                leverage[b] = 0.0
                affinity[b] = 0.0
                barrier[b] = 0.0
                pressure[b] = 0.0
            # the row's state (_row_state)
            for j in range(n):
                diag = j == i
                th = pairs[pb, 1, i, j]
                pi_ = pairs[pb, 2, i, j]
                pw = states[pb, 0, j]
                xr = X[i, j]
                xc = X[j, i]
                xj_ = x[j]
                fj_ = f[j]
                kj_ = k[j]
                rj_ = rho[j]
                for b in range(lanes):
                    xj = xr[b] if not diag else 0.0
                    fj = (1.0 + xj) / 2.0
                    kj = fj * fj if not diag else 0.0
                    rj = beta + (1.0 - beta) * ((1.0 + xc[b]) / 2.0)
                    xj_[b] = xj
                    fj_[b] = fj
                    kj_[b] = kj
                    rj_[b] = rj
                    unth[b] *= 1.0 - th * (1.0 - lam * rj * fj)
                    unpr[b] *= 1.0 - pi_ * rj * kj
                    tot[b] += pw * kj
            # group mass and rivals' commitment, summed over c: only the (c, j) where
            # the row is not 0, as in _decide_row (k * 0 = +0 leaves a sum unchanged
            # while every k is finite; else every term is added)
            for j in range(n):
                g_ = gm[j]
                rc_ = rc[j]
                for b in range(lanes):
                    g_[b] = 0.0
                    rc_[b] = 0.0
            if _all_finite(k, n, lanes):
                for q in range(nz_start[1]):
                    kc = k[NZ[0, q]]
                    g_ = gm[NZ[1, q]]
                    p6 = pairs[pb, 6, NZ[0, q], NZ[1, q]]
                    for b in range(lanes):
                        g_[b] += kc[b] * p6
                for q in range(nz_start[1], nz_start[2]):
                    kc = k[NZ[0, q]]
                    rc_ = rc[NZ[1, q]]
                    p7 = pairs[pb, 7, NZ[0, q], NZ[1, q]]
                    for b in range(lanes):
                        rc_[b] += kc[b] * p7
            else:
                for c in range(n):
                    kc = k[c]
                    for j in range(n):
                        g_ = gm[j]
                        rc_ = rc[j]
                        p6 = pairs[pb, 6, c, j]
                        p7 = pairs[pb, 7, c, j]
                        for b in range(lanes):
                            g_[b] += kc[b] * p6
                            rc_[b] += kc[b] * p7
            for j in range(n):
                pw = states[pb, 0, j]
                kj_ = k[j]
                g_ = gm[j]
                for b in range(lanes):
                    msq[b] += pw * kj_[b] * g_[b]
            # the payoff terms, tie by tie in the order of j
            for j in range(n):
                e_ij = pairs[pb, 0, i, j]
                lw = pairs[pb, 3, i, j]
                rl = pairs[pb, 4, i, j]
                af = pairs[pb, 5, i, j]
                xj_ = x[j]
                fj_ = f[j]
                kj_ = k[j]
                rj_ = rho[j]
                rc_ = rc[j]
                for b in range(lanes):
                    xj = xj_[b]
                    kj = kj_[b]
                    energy[b] += e_ij * rj_[b] * fj_[b]
                    hinge = max(phi - xj, 0.0) * inv_phi
                    leverage[b] += lw * hinge * hinge + rl * kj
                    affinity[b] += af * xj
                    pressure[b] += rc_[b] * kj
                if j != i:
                    n_off = 0
                    for b in range(lanes):
                        xj = xj_[b]
                        kf = np.rint(xj * inv_delta)
                        on_lattice = abs(xj - kf * delta) <= 1e-9
                        cost_at[b] = barrier_table[min(max(int(kf) + m, 0), two_m)]
                        off[b] = 0.0 if on_lattice else 1.0
                        n_off += 0 if on_lattice else 1
                    if n_off > 0:
                        for b in range(lanes):
                            if off[b] != 0.0:
                                cost_at[b] = _barrier(xj_[b])
                    for b in range(lanes):
                        barrier[b] += cost_at[b]
            w_energy = states[pb, 6, i]
            w_security = states[pb, 7, i]
            w_alignment = states[pb, 8, i]
            for b in range(lanes):
                rec = order[lo + b]
                security = -(1.0 - unth[b]) * unpr[b] - leverage[b]
                total = tot[b]
                hhi = msq[b] / (total * total) if total > 0.0 else 0.0
                cross = 0.5 * pressure[b] * states[pb, 9, i]
                alignment = affinity[b] - states[pb, 1, i] * hhi - states[pb, 2, i] * cross
                cost = states[pb, 3, i] * barrier[b]
                comp[rec, i, 0] = energy[b]
                comp[rec, i, 1] = security
                comp[rec, i, 2] = alignment
                comp[rec, i, 3] = cost
                util[rec, i] = (
                    w_energy * energy[b] + w_security * security + w_alignment * alignment - cost
                )
        lo = hi
