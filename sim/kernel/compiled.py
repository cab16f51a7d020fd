"""Model 1's period decisions with local candidates, compiled with numba.

The gains of :func:`sim.kernel.payoffs.local_gains` and the choices of
:func:`sim.kernel.decision.choose_local`, fused into one loop over replicates, states and
ties (:func:`_decide`), and the tables' row scores of :func:`sim.kernel.payoffs.row_utility`
(:func:`row_scores`). For Model 1 with local candidates (the default) both drivers run
them: the Mesa model a period at a time (:func:`decide_local`, through
:func:`sim.kernel.decision.period_choices`), the ensemble engine in a compiled period loop
over blocks of periods (:func:`simulate_local`). The numpy functions stay as the reference:
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
# polynomial to degree 13 (|r| <= ln 2 / 2: truncation under 5e-18), times 2**k built from
# its bits. Within 1 ulp of libm's; written out so that the lanes kernel
# (:mod:`sim.kernel.compiled_lanes`) vectorizes it and the scalar kernel computes the
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
    q = c[12] + r * c[13]
    q = c[11] + r * q
    q = c[10] + r * q
    q = c[9] + r * q
    q = c[8] + r * q
    q = c[7] + r * q
    q = c[6] + r * q
    q = c[5] + r * q
    q = c[4] + r * q
    q = c[3] + r * q
    q = c[2] + r * q
    p = 1.0 + (r + (r * r) * q)
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
    _row_scores(
        T3,
        _rows(rows, (r,), len(P.packed[0])),
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
        from sim.kernel.compiled_lanes import simulate_lanes

        simulate_lanes(T, *args, *rest)
