"""Decision rules: which candidate tie a state picks.

Pure numpy over arrays with leading batch dimensions. Randomness comes only from the
uniform numbers passed in (drawn by the caller from the model's generator), so the same
draws give the same choices on every driver.

Candidates: for each tie ``T_ij`` the state considers moving it by ``-delta``, ``0`` or
``+delta`` with the rest of its row held at its current values ("local" candidates), or,
in the "grid" mode, every point of the lattice ``{-1 + delta, ..., 1 - delta}``. With
one-at-a-time revision and one tie per state (a two-state world), grid mode is Blume's
(1993) logit dynamics, whose stationary law is the Gibbs measure of the potential: the
exact check in the tests. With several ties per state each tie is redrawn given the old
row, which is exact only when the state's utility separates across its ties.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from sim.kernel import balance
from sim.kernel.payoffs import (
    Params,
    candidate_components,
    components,
    local_gains,
    row_utility,
    take,
    utility,
)

RULES = ("logit", "best_response", "fixed")
#: The kernels that score and choose: the compiled one (:mod:`sim.kernel.compiled`) and
#: the numpy reference it is tested against.
KERNELS = ("compiled", "numpy")
LOGIT, BEST_RESPONSE, FIXED = range(3)


def local_values(T: np.ndarray, delta: float) -> np.ndarray:
    """Candidate values ``(B..., N, N, 3)`` for each tie: ``T_ij - delta, T_ij, T_ij + delta``."""
    return T[..., None] + np.array([-delta, 0.0, delta])


def grid_values(T: np.ndarray, delta: float) -> np.ndarray:
    """Candidate values ``(B..., N, N, S)``: the whole lattice, the same for every tie."""
    m = int(round(1.0 / delta))
    grid = np.arange(-m + 1, m) * (1.0 / m)
    return np.broadcast_to(grid, T.shape + grid.shape)


def evaluate(
    T: np.ndarray, values: np.ndarray, P: Params, credibility: np.ndarray | None = None
) -> np.ndarray:
    """Components ``(B..., N, N, S, 4)`` of every candidate.

    Entry ``[..., i, j, s, :]`` scores state i's row with its tie to j set to
    ``values[..., i, j, s]`` and its other ties as they are in ``T``. Candidates outside
    (-1, 1) get NaN components (and are never chosen). ``credibility``: Model 2's
    credibility ``(B..., N, N)`` (:mod:`sim.kernel.balance`); None for Model 1.
    """
    clipped = np.clip(values, -1.0, 1.0)
    if credibility is None:
        comp = candidate_components(T, clipped, P)
    else:
        comp = balance.candidate_components(T, credibility, clipped, P)
    bad = np.abs(values) >= 1.0
    return np.where(bad[..., None], np.nan, comp)


def evaluate_full_rows(T: np.ndarray, values: np.ndarray, P: Params) -> np.ndarray:
    """The same as :func:`evaluate`, re-scoring every candidate's full row (reference)."""
    n = T.shape[-1]
    s = values.shape[-1]
    rows = _set_candidates(T, values)
    comp = components(rows.reshape(T.shape[:-1] + (n * s, n)), T, P)
    comp = comp.reshape(T.shape[:-1] + (n, s, 4))
    bad = np.abs(values) >= 1.0
    return np.where(bad[..., None], np.nan, comp)


def _set_candidates(T: np.ndarray, values: np.ndarray) -> np.ndarray:
    n = T.shape[-1]
    s = values.shape[-1]
    rows = np.broadcast_to(T[..., :, None, None, :], T.shape[:-1] + (n, s, n)).copy()
    onehot = np.eye(n, dtype=bool)[:, None, :]  # (j, 1, k): k == j
    return np.where(onehot, np.clip(values, -1.0, 1.0)[..., None], rows)


def net_utility(U: np.ndarray, moved: np.ndarray, gamma: np.ndarray, stay: np.ndarray):
    """``U - gamma [moved]`` per candidate, ``-inf`` for impossible candidates.

    A tie with no possible candidate (cannot happen with valid parameters) keeps only
    its stay candidate, at 0.
    """
    V = U - gamma[..., None, None] * moved
    nan = np.isnan(V)
    if nan.any():
        none_ok = nan.all(axis=-1, keepdims=True)
        V = np.where(nan, -np.inf, V)
        V = np.where(none_ok & (np.arange(V.shape[-1]) == stay[..., None]), 0.0, V)
    return V


def _logit_weights(V: np.ndarray, top: np.ndarray, tau: np.ndarray) -> np.ndarray:
    return np.exp((V - top) / tau[..., None, None])


def logit_probabilities(V: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``P(s) ~ exp(V_s / tau)`` over the last axis, from :func:`net_utility` output."""
    w = _logit_weights(V, V.max(axis=-1, keepdims=True), tau)
    return w / w.sum(axis=-1, keepdims=True)


def choose(
    U: np.ndarray,
    moved: np.ndarray,
    rule: np.ndarray,
    tau: np.ndarray,
    gamma: np.ndarray,
    u: np.ndarray,
    stay: np.ndarray,
) -> np.ndarray:
    """Index of the chosen candidate for each tie.

    Args:
        U: utilities ``(B..., N, N, S)`` (NaN for impossible candidates).
        moved: ``(B..., N, N, S)`` bool, True where the candidate changes the tie.
        rule: ``(N,)`` rule codes (:data:`LOGIT`, :data:`BEST_RESPONSE`, :data:`FIXED`).
        tau, gamma: ``(B..., N)`` logit temperature and move cost of each state.
        u: ``(B..., N, N)`` uniform draws in [0, 1), one per tie.
        stay: ``(B..., N, N)`` index of the candidate that keeps the tie as it is.

    Returns:
        ``(B..., N, N)`` integer candidate indices. Logit: ``P(s) ~ exp((U_s - gamma
        [moved_s]) / tau)``, sampled by inverse CDF with ``u``. Best response: the
        highest ``U_s - gamma [moved_s]``, staying on ties. Fixed: stay.
    """
    V = net_utility(U, moved, gamma, stay)
    top = V.max(axis=-1, keepdims=True)
    r = rule[:, None]
    out = stay
    if (rule == LOGIT).any():
        w = _logit_weights(V, top, tau)
        cdf = np.cumsum(w, axis=-1)
        cdf /= cdf[..., -1:]
        logit = (u[..., None] >= cdf[..., :-1]).sum(axis=-1)
        out = np.where(r == LOGIT, logit, out)
    if (rule == BEST_RESPONSE).any():
        stay_is_best = np.take_along_axis(V, stay[..., None], -1)[..., 0] >= top[..., 0]
        best = np.where(stay_is_best, stay, np.argmax(V, axis=-1))
        out = np.where(r == BEST_RESPONSE, best, out)
    return out


def choose_local(
    gain: np.ndarray,
    rule: np.ndarray,
    tau: np.ndarray,
    gamma: np.ndarray,
    u: np.ndarray,
) -> np.ndarray:
    """:func:`choose` for local candidates, from :func:`~sim.kernel.payoffs.local_gains`.

    The candidates are ``-delta, stay, +delta`` (indices 0, 1, 2) with net utilities
    ``gain_down - gamma, 0, gain_up - gamma`` relative to staying; NaN gains are
    impossible moves. The same rules and inverse-CDF sampling as :func:`choose`.

    Args:
        gain: ``(2, B..., N, N)``; rule: ``(N,)``; tau, gamma: ``(B..., N)``;
        u: ``(B..., N, N)`` uniforms.

    Returns:
        ``(B..., N, N)`` candidate indices in {0, 1, 2}.
    """
    V = gain - gamma[..., None]
    V[np.isnan(V)] = -np.inf
    down, up = V[0], V[1]
    r = rule[:, None]
    out = np.ones(u.shape, dtype=np.intp)
    if (rule == LOGIT).any():
        top = np.maximum(np.maximum(down, up), 0.0)
        inv_tau = 1.0 / tau[..., None]
        w_down = np.exp((down - top) * inv_tau)
        w_stay = np.exp(-top * inv_tau)
        w_up = np.exp((up - top) * inv_tau)
        below = w_down + w_stay
        total = below + w_up
        logit = (u * total >= w_down).astype(np.intp)
        logit += u * total >= below
        out = np.where(r == LOGIT, logit, out)
    if (rule == BEST_RESPONSE).any():
        best = np.where(np.maximum(down, up) <= 0.0, 1, np.where(down >= up, 0, 2))
        out = np.where(r == BEST_RESPONSE, best, out)
    return out


#: The step of the finite differences that give a tie's marginal utility and curvature
#: under continuous candidates.
FINITE_STEP = 1e-4
#: Continuous ties stay within +-TIE_LIMIT (the barrier cost is infinite at +-1).
TIE_LIMIT = 0.999


def row_scores(
    T: np.ndarray,
    P: Params,
    delta: float,
    credibility: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    kernel: str = "compiled",
) -> tuple[np.ndarray, np.ndarray]:
    """Components ``(B..., N, 4)`` and utility ``(B..., N)`` of every state's current row:
    Model 1's (:func:`~sim.kernel.payoffs.row_utility`, compiled as
    :func:`sim.kernel.compiled.row_scores`), or Model 2's with its ``credibility``
    (:func:`~sim.kernel.balance.row_utility`, compiled as
    :func:`sim.kernel.compiled_balance.row_scores`). ``rows``: ``(B,)`` the row of ``P``'s
    batch each record uses (records in several shock regimes at once; None: ``P`` as it
    is); ``kernel``: as for :func:`period_choices`."""
    if _compiled_kernel(T, P, rows, kernel):
        from sim.kernel import compiled, compiled_balance

        if credibility is None:
            return compiled.row_scores(T, P, delta, rows)
        return compiled_balance.row_scores(T, credibility, P, rows)
    if rows is not None:
        P = take(P, rows)
    if credibility is None:
        return row_utility(T, P, delta)
    return balance.row_utility(T, credibility, P)


def _gains(T, P, step, credibility, kernel):
    """Gains of moving each tie by ``-step`` and ``+step``: Model 1's kernel, or Model 2's
    with its ``credibility`` (compiled, :mod:`sim.kernel.compiled_balance`, unless
    ``kernel`` is ``"numpy"``)."""
    if credibility is None:
        return local_gains(T, P, step)
    if _compiled_kernel(T, P, None, kernel):
        from sim.kernel import compiled_balance

        return compiled_balance.local_gains(T, credibility, P, step)
    return balance.local_gains(T, credibility, P, step)


def continuous_temperature(tau, adjustment: float):
    """The Langevin temperature of continuous ties, ``(tau / 2) (1 - a / 2)``: the one at
    which a tie scatters as on the lattice under the logit rule (:func:`continuous_moves`),
    by the scenario's ``tie_noise``."""
    return tau * (0.5 * (1.0 - adjustment / 2.0))


def continuous_moves(
    T: np.ndarray,
    gains: np.ndarray,
    rule: np.ndarray,
    P: Params,
    u: np.ndarray,
    adjustment: float,
) -> np.ndarray:
    """New ties under continuous choice: a step toward the best reply, plus noise.

    The marginal utility of a tie is ``U' = (g+ - g-) / 2h`` from the gains of moving it
    by ``-h`` and ``+h`` (:data:`FINITE_STEP`). A logit state's tie moves by
    ``a M U' - 2 a t x / kappa + sqrt(2 a t M) z`` with ``M = (1 - x^2) / kappa`` (the
    inverse curvature of the tie cost), ``a`` the ``adjustment``, ``z`` the standard
    normal quantile of the tie's uniform draw and the temperature
    ``t = (tau / 2) (1 - a / 2)`` (:func:`continuous_temperature`). This is a Langevin step
    preconditioned by ``M`` with its drift correction (``t M'``). The logit rule on the
    lattice (local candidates: one step down, stay, one step up) has the stationary law
    ``exp(2 U / tau)`` as ``delta -> 0`` (detailed balance: the normalisers of two
    neighbouring ties differ by ``exp(dU / tau)`` as well), so a tie scatters by the
    scenario's ``tie_noise`` (``tau = 2 kappa sigma^2``); the Langevin step at ``tau / 2``
    has that law as ``a -> 0``, and the factor ``1 - a / 2`` takes back the widening of a
    finite step (exactly, where the utility is quadratic). So continuous ties are the
    continuous limit of the same choice rule and scatter as much as lattice ties. Where
    the tie cost dominates the curvature of the utility, ``M U'`` is the Newton step to
    the best reply, so a tie closes the share ``a`` of its gap in a period. Best-response
    states take the step without noise and correction; fixed states stay. Ties stay
    within ``+-TIE_LIMIT``.

    Args:
        T: ties ``(B..., N, N)``; gains: ``(2, B..., N, N)`` at step :data:`FINITE_STEP`.
        rule: ``(N,)`` rule codes; P: parameters; u: ``(B..., N, N)`` uniforms.

    Returns:
        ``(B..., N, N)`` the new ties (own ties meaningless).
    """
    slope = (np.nan_to_num(gains[1]) - np.nan_to_num(gains[0])) / (2.0 * FINITE_STEP)
    kappa = P.kappa[..., None]
    mobility = adjustment * (1.0 - T * T) / kappa  # a M
    r = rule[:, None]
    step = np.where(r == FIXED, 0.0, mobility * slope)
    t = continuous_temperature(P.tau[..., None], adjustment)
    z = ndtri(np.clip(u, 1e-12, 1.0 - 1e-12))
    noise = np.sqrt(2.0 * t * mobility) * z - 2.0 * adjustment * t * T / kappa
    step = np.where(r == LOGIT, step + noise, step)
    return np.clip(T + step, -TIE_LIMIT, TIE_LIMIT)


def continuous_pull(
    T: np.ndarray,
    P: Params,
    rules: np.ndarray,
    adjustment: float,
    credibility: np.ndarray | None = None,
    kernel: str = "compiled",
) -> np.ndarray:
    """Continuous ties: the step each tie's payoffs alone give it, :func:`continuous_moves`
    without its noise (``z = 0``): ``a M U'`` toward the best reply, less the logit
    rule's drift correction. The rest of a tie's step is chance. ``(B..., N, N)``."""
    gains = _gains(T, P, FINITE_STEP, credibility, kernel)
    calm = np.full(T.shape, 0.5)  # the median draw: z = 0
    return continuous_moves(T, gains, rules, P, calm, adjustment) - T


#: Tie offsets of the local candidates, in candidate order (down, stay, up) per unit step.
LOCAL_STEPS = np.array([-1.0, 0.0, 1.0])


def period_choices(
    T: np.ndarray,
    P: Params,
    u: np.ndarray,
    *,
    rules: np.ndarray,
    delta: float,
    candidates: str,
    update: str,
    credibility: np.ndarray | None = None,
    adjustment: float = 0.3,
    kernel: str = "compiled",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One period's decisions of every state: what both drivers call.

    Model 1 with local candidates (the default) runs the compiled kernel
    (:func:`sim.kernel.compiled.decide_local`) unless ``kernel`` is ``"numpy"``; the
    rest, and that reference, run the numpy kernels of this package.

    Args:
        T: ties ``(B..., N, N)``; P: parameters in force (batch shape ``B`` or none).
        u: this period's uniforms ``(B..., N, N + 1)``: one per tie, and in the last
            column of row 0 the draw that picks who revises under one-at-a-time updating.
        rules, delta, candidates, update: the world's settings (see :class:`~sim.world.World`).
        credibility: Model 2's credibility ``(B..., N, N)``; None for Model 1.
        adjustment: with continuous candidates, the share of the way to the best reply a
            tie moves in a period (:func:`continuous_moves`).
        kernel: ``"compiled"`` or ``"numpy"`` (the drivers' setting,
            :func:`sim.drivers.engine.kernel_name`).

    Returns:
        ``values`` ``(B..., N, N, S)`` (the candidate ties; ``None`` for local candidates,
        which are ``T + LOCAL_STEPS * delta``; with continuous candidates the one new
        value of each tie, ``S = 1``), ``choice`` ``(B..., N, N)`` (the index of the chosen
        candidate), ``revising`` ``(B..., N)`` bool.
    """
    n = T.shape[-1]
    uniforms = u[..., :n]
    if update == "one_at_a_time":
        who = np.minimum((u[..., 0, n] * n).astype(np.intp), n - 1)
        revising = np.arange(n) == who[..., None]
    else:
        revising = np.ones(T.shape[:-1], dtype=bool)
    if candidates == "local" and credibility is None and _compiled_kernel(T, P, None, kernel):
        from sim.kernel import compiled

        choice, _ = compiled.decide_local(T, P, uniforms, revising, rules, delta)
        return None, choice, revising
    if candidates == "continuous":
        gains = _gains(T, P, FINITE_STEP, credibility, kernel)
        new = continuous_moves(T, gains, rules, P, uniforms, adjustment)
        return new[..., None], np.zeros(T.shape, dtype=np.intp), revising
    if candidates == "local":
        gains = _gains(T, P, delta, credibility, kernel)
        choice = choose_local(gains, rules, P.tau, P.gamma, uniforms)
        return None, choice, revising
    values = grid_values(T, delta)
    comp = evaluate(T, values, P, credibility)
    U = utility_of(comp, P)
    current = T[..., None]
    moved = ~np.isclose(values, current)
    stay = np.abs(values - current).argmin(axis=-1)
    choice = choose(U, moved, rules, P.tau, P.gamma, uniforms, stay)
    return values, choice, revising


def _compiled_kernel(T: np.ndarray, P: Params, rows: np.ndarray | None, kernel: str) -> bool:
    """Whether Model 1's compiled kernel is asked for and takes these arrays (one
    replicate axis at most)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
    if kernel != "compiled":
        return False
    batch = P.power.shape[:-1]
    if T.ndim > 3 or len(batch) > 1:
        return False
    return rows is not None or not batch or batch == T.shape[:-2]


def utility_of(comp: np.ndarray, P: Params) -> np.ndarray:
    """Utilities ``(B..., N, N, S)`` of :func:`evaluate` output ``(B..., N, N, S, 4)``."""
    shape = comp.shape  # (B..., N, N, S, 4): one row of candidates per state
    flat = comp.reshape(*shape[:-3], shape[-3] * shape[-2], 4)
    return utility(flat, P).reshape(shape[:-1])


def apply_choices(
    T: np.ndarray,
    values: np.ndarray | None,
    choice: np.ndarray,
    revising: np.ndarray,
    delta: float,
) -> np.ndarray:
    """The new ties: each revising state's chosen candidates; own ties stay 0.

    Local candidates (``values`` None): ``T + LOCAL_STEPS[choice] * delta``, the same
    numbers as indexing ``T[..., None] + LOCAL_STEPS * delta``.
    """
    if values is None:
        new = T + (choice - 1) * delta
    else:
        new = np.take_along_axis(values, choice[..., None], axis=-1)[..., 0]
    new = np.where(revising[..., None], new, T)
    n = T.shape[-1]
    new[..., np.arange(n), np.arange(n)] = 0.0
    return new
