"""Model 2's kernel (:mod:`sim.kernel.balance`): its fast path against the full rows, and
each mechanism in worlds of two to four states where the theory says what must happen.

The worlds are built as ``Params`` directly (every number an assumption of the test).
"Settling" a state's row means moving one of its ties by a small step, the best move
first, until no move pays: the state's best reply to the others' ties, held fixed.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from sim.kernel import balance, decision, payoffs


def params(n: int, power=None, weights=(0.0, 0.9, 0.1), **pairs) -> payoffs.Params:
    """A world of n states: zero pair parameters unless given (as ``{(i, j): value}``)."""
    arrays = {}
    for name in ("energy", "threat", "proximity", "protection", "arms", "affinity"):
        arrays[name] = np.zeros((n, n))
    for name in ("leverage", "attack", "rivalry"):
        arrays[name] = np.zeros((n, n))
    for name, entries in pairs.items():
        for (i, j), value in entries.items():
            arrays[name][i, j] = value
    return payoffs.Params(
        power=np.ones(n) if power is None else np.asarray(power, dtype=float),
        autonomy=np.zeros(n),
        cross_pressure=np.zeros(n),
        kappa=np.full(n, 0.2),
        tau=np.full(n, 1e-3),
        gamma=np.zeros(n),
        weights=np.tile(weights, (n, 1)),
        beta=np.array(0.5),
        lam=np.array(0.5),
        phi=np.array(0.25),
        balance=np.array(1.0),
        bandwagon=np.array(0.5),
        credibility_rate=np.array(0.1),
        groups=np.eye(n),
        **arrays,
    )


def random_params(rng: np.random.Generator, n: int, batch: tuple[int, ...] = ()):
    """Every parameter drawn at random (shares kept below 1)."""

    def pair(lo=0.0, hi=1.0, share=False):
        a = rng.uniform(lo, hi, batch + (n, n)) * ~np.eye(n, dtype=bool)
        return a / (1.5 * a.sum(axis=-1, keepdims=True)) if share else a

    return payoffs.Params(
        power=rng.uniform(0.2, 3.0, batch + (n,)),
        autonomy=rng.uniform(0.0, 1.0, batch + (n,)),
        cross_pressure=np.zeros(batch + (n,)),
        kappa=np.full(batch + (n,), 0.2),
        tau=np.full(batch + (n,), 1e-3),
        gamma=np.full(batch + (n,), 1e-3),
        weights=rng.dirichlet([1.0, 1.0, 1.0], batch + (n,)),
        energy=pair(share=True),
        threat=pair(),
        proximity=pair(),
        protection=pair(),
        arms=pair(share=True),
        affinity=pair(-1.0, 1.0),
        leverage=pair(share=True),
        attack=np.zeros(batch + (n, n)),
        rivalry=np.zeros(batch + (n, n)),
        beta=np.full(batch, 0.5),
        lam=np.full(batch, 0.5),
        phi=np.full(batch, 0.25),
        balance=rng.uniform(0.0, 2.0, batch),
        bandwagon=rng.uniform(0.0, 1.0, batch),
        credibility_rate=np.full(batch, 0.1),
        groups=np.eye(n),
    )


def lattice_ties(rng, shape, delta=0.05):
    T = np.round(rng.uniform(-0.9, 0.9, shape) / delta) * delta
    n = shape[-1]
    T[..., np.arange(n), np.arange(n)] = 0.0
    return T


def settle(P, T, C, i, delta=0.01, moves=3000):
    """State i's best reply: single-tie moves of ``delta``, the best first, while one pays."""
    T = T.copy()
    for _ in range(moves):
        gains = np.nan_to_num(balance.local_gains(T, C, P, delta)[:, i], nan=-np.inf)
        sign, j = np.unravel_index(np.argmax(gains), gains.shape)
        if gains[sign, j] <= 1e-12:
            return T
        T[i, j] += delta if sign == 1 else -delta
    raise AssertionError("the row did not settle")


# ---- the fast path ------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5])
def test_local_gains_equal_full_rows(n):
    """The hot path equals re-scoring every candidate's full row (to rounding)."""
    rng = np.random.default_rng(n)
    off = ~np.eye(n, dtype=bool)
    for _ in range(4):
        P = random_params(rng, n)
        P = replace(P, attack=np.zeros((n, n)))
        T = lattice_ties(rng, (n, n))
        C = rng.uniform(0.0, 1.0, (n, n)) * off
        gains = balance.local_gains(T, C, P, 0.05)
        values = decision.local_values(T, 0.05)
        U = decision.utility_of(balance.candidate_components(T, C, values, P), P)
        full = np.stack([U[..., 0] - U[..., 1], U[..., 2] - U[..., 1]])
        np.testing.assert_allclose(gains[:, off], full[:, off], rtol=0, atol=1e-12)
        assert np.isnan(gains[:, ~off]).all()


def test_a_batch_gives_the_same_bits_as_one_world():
    """Replicates stacked on a leading axis get exactly the numbers of their own run."""
    rng = np.random.default_rng(3)
    n, b = 4, 3
    P = random_params(rng, n, (b,))
    T = lattice_ties(rng, (b, n, n))
    C = rng.uniform(0.0, 1.0, (b, n, n))
    together = balance.local_gains(T, C, P, 0.05)
    for r in range(b):
        one = replace(P, **{f: getattr(P, f)[r] for f in P.__dataclass_fields__ if f != "groups"})
        alone = balance.local_gains(T[r], C[r], one, 0.05)
        assert np.array_equal(alone, together[:, r], equal_nan=True)
        assert np.array_equal(
            balance.next_credibility(C[r], T[r], one), balance.next_credibility(C, T, P)[r]
        )


def test_components_are_bounded():
    """Energy in [0, 1], security (minus a noisy-OR of threats) in [-1, 0], cost >= 0."""
    rng = np.random.default_rng(8)
    for _ in range(20):
        P = random_params(rng, 4)
        T = rng.uniform(-0.999, 0.999, (4, 4))
        comp, _ = balance.row_utility(T, rng.uniform(0, 1, (4, 4)), P)
        assert np.isfinite(comp).all()
        assert ((comp[:, 0] >= 0) & (comp[:, 0] <= 1)).all()
        assert ((comp[:, 1] >= -1) & (comp[:, 1] <= 0)).all()
        assert (comp[:, 3] >= 0).all()


# ---- balance of threat ----------------------------------------------------------------

# i is the deciding state, j a would-be protector (hostile to k), k the threatener.
SELF, ALLY, FOE = 0, 1, 2


def threat_world(h, p_i=1.0, credibility=0.8, proximity=1.0, balance_weight=1.0):
    P = params(
        3,
        power=[p_i, 3.0, 3.0],
        threat={(SELF, FOE): h},
        proximity={(SELF, FOE): proximity, (SELF, ALLY): 0.3},
        protection={(SELF, ALLY): credibility},
    )
    P = replace(P, balance=np.array(balance_weight))
    T = np.zeros((3, 3))
    T[ALLY, FOE] = T[FOE, ALLY] = -0.6
    T[ALLY, SELF] = 0.5
    C = np.zeros((3, 3))
    C[SELF, ALLY] = credibility
    return P, T, C


def balancing_response(**world) -> float:
    """How much i's tie to the protector gains on its tie to the threatener when k's
    hostility rises from 0.3 to 0.9 (positive: balancing; negative: bandwagoning)."""
    lo = settle(*threat_world(0.3, **world), i=SELF)
    hi = settle(*threat_world(0.9, **world), i=SELF)
    return (hi[SELF, ALLY] - hi[SELF, FOE]) - (lo[SELF, ALLY] - lo[SELF, FOE])


def test_threat_raises_the_value_of_protectors():
    """The gain of moving toward a protector that opposes k grows with k's threat."""
    gains = []
    for h in (0.0, 0.3, 0.6, 0.9):
        P, T, C = threat_world(h, balance_weight=0.0)
        gains.append(balance.local_gains(T, C, P, 0.05)[1, SELF, ALLY])
    assert np.all(np.diff(gains) > 0)
    P, T, C = threat_world(0.0, balance_weight=0.0)
    assert gains[0] == pytest.approx(balance.local_gains(T, C, P, 0.05)[1, SELF, ALLY])


@pytest.mark.parametrize("p_i", [3.0, 6.0])
def test_a_state_as_strong_as_its_threatener_balances(p_i):
    """No power gap: accommodation removes nothing, the state turns to its protector and
    away from the threatener, whatever the protector's credibility (above none)."""
    for credibility in (0.3, 0.6, 0.9):
        assert balancing_response(p_i=p_i, credibility=credibility) > 0.05
        lo = settle(*threat_world(0.3, p_i=p_i, credibility=credibility), i=SELF)
        hi = settle(*threat_world(0.9, p_i=p_i, credibility=credibility), i=SELF)
        assert hi[SELF, FOE] <= lo[SELF, FOE]


def test_a_weak_state_beside_a_strong_one_with_no_protector_bandwagons():
    """Walt's conditions together (weak, proximate, no credible protector): the tie to
    the threatener rises with the threat."""
    assert balancing_response(p_i=0.1, credibility=0.0) < -0.2
    lo = settle(*threat_world(0.3, p_i=0.1, credibility=0.0), i=SELF)
    hi = settle(*threat_world(0.9, p_i=0.1, credibility=0.0), i=SELF)
    assert hi[SELF, FOE] > lo[SELF, FOE] + 0.2


def test_the_boundary_between_balancing_and_bandwagoning():
    """For each power gap there is one credibility above which the weak state balances;
    the weaker the state, the more credible its protector must be. A distant threatener
    is balanced at a credibility where a near one is appeased."""
    grid = np.linspace(0.0, 1.0, 11)
    thresholds = []
    for p_i in (0.5, 1.0, 2.0):
        response = np.array([balancing_response(p_i=p_i, credibility=c) for c in grid])
        flips = np.flatnonzero(np.diff(np.sign(response)) != 0)
        assert len(flips) == 1, (p_i, response)  # one boundary
        assert response[0] < 0 < response[-1]
        thresholds.append(grid[flips[0] + 1])
    assert thresholds[0] > thresholds[1] > thresholds[2]
    near = balancing_response(p_i=1.0, credibility=0.4)
    far = balancing_response(p_i=1.0, credibility=0.4, proximity=0.3)
    assert near < 0 < far


# ---- leverage, both edges --------------------------------------------------------------

# k holds leverage over i; j and m oppose k; j is the outside option.
OTHER = 3


def leverage_world(lev, p_j, credibility, t_jk):
    P = params(
        4,
        power=[1.0, p_j, 5.0, 3.0],
        leverage={(SELF, FOE): lev},
        proximity={(SELF, FOE): 1.0},
        protection={(SELF, ALLY): credibility},
    )
    P = replace(P, balance=np.array(0.0))
    T = np.zeros((4, 4))
    T[ALLY, FOE] = T[FOE, ALLY] = t_jk
    T[FOE, OTHER] = T[OTHER, FOE] = -0.6
    T[ALLY, SELF] = 0.5
    C = np.zeros((4, 4))
    C[SELF, ALLY] = credibility
    return P, T, C


def outside_tie(lev, **world) -> float:
    return settle(*leverage_world(lev, **world), i=SELF)[SELF, ALLY]


def test_leverage_buys_compliance_when_no_one_can_protect():
    """A weak, uncredible opponent of the holder: more leverage, less closeness to it."""
    world = dict(p_j=3.0, credibility=0.0, t_jk=-0.6)
    ties = [outside_tie(lev, **world) for lev in (0.0, 0.3, 0.6)]
    assert ties[0] == pytest.approx(0.0)
    assert ties[2] < ties[1] < -0.05


def test_leverage_drives_to_outside_options_when_one_can_protect():
    """A strong, credible, hostile opponent of the holder: more leverage, more closeness
    to it (the coerced state seeks an outside option)."""
    world = dict(p_j=20.0, credibility=1.0, t_jk=-0.9)
    ties = [outside_tie(lev, **world) for lev in (0.0, 0.3, 0.6)]
    assert ties[2] > ties[1] > 0.05


# ---- credibility ------------------------------------------------------------------------


def test_credibility_target_falls_as_the_protector_courts_the_threatener():
    """Same support from j; the closer j moves to k (i's threatener), the less i counts
    on j; with no threat to i, j's ties to k do not matter."""
    P = params(
        3,
        power=[1.0, 3.0, 3.0],
        threat={(SELF, FOE): 0.8},
        proximity={(SELF, FOE): 1.0},
        protection={(SELF, ALLY): 0.9},
    )
    targets = []
    for t_jk in (-0.8, -0.4, 0.0, 0.4, 0.8):
        T = np.zeros((3, 3))
        T[ALLY, SELF] = 0.6
        T[ALLY, FOE] = t_jk
        targets.append(balance.credibility_target(T, P)[SELF, ALLY])
    assert np.all(np.diff(targets) < 0)
    # the ceiling times j's support times one minus the courting (k is the only threat)
    assert targets[0] == pytest.approx(0.9 * 0.8 * (1 - 0.1**2))
    calm = replace(P, threat=np.zeros((3, 3)))
    T[ALLY, FOE] = 0.8
    assert balance.credibility_target(T, calm)[SELF, ALLY] == pytest.approx(0.9 * 0.8)


def test_credibility_moves_a_share_of_the_gap_each_period():
    P = params(3, protection={(SELF, ALLY): 1.0})
    T = np.zeros((3, 3))
    T[ALLY, SELF] = 1.0  # full support, no threat: the target is the ceiling
    C = np.zeros((3, 3))
    for _ in range(10):
        C = balance.next_credibility(C, T, P)
    assert C[SELF, ALLY] == pytest.approx(1 - 0.9**10)


def test_an_attack_cuts_trust_in_those_who_stand_by():
    """k attacks i: a partner neutral to k keeps 1 - 3/4 of i's trust, one hostile to k
    keeps it all, and the attacker loses it whole."""
    P = params(
        4,
        protection={(SELF, ALLY): 1.0, (SELF, OTHER): 1.0, (SELF, FOE): 1.0},
        attack={(SELF, FOE): 1.0},
    )
    P = replace(P, credibility_rate=np.array(0.0))
    T = np.zeros((4, 4))
    T[OTHER, FOE] = -1.0  # m is k's enemy; j is neutral toward k
    C = np.full((4, 4), 0.8) * ~np.eye(4, dtype=bool)
    after = balance.next_credibility(C, T, P)
    assert after[SELF, ALLY] == pytest.approx(0.8 * (1 - 0.75))
    assert after[SELF, OTHER] == pytest.approx(0.8)
    assert after[SELF, FOE] == pytest.approx(0.0)
    assert after[ALLY, OTHER] == pytest.approx(0.8)  # no one attacked j


# ---- structural balance and landscape theory ------------------------------------------


def test_a_friends_friend_pays_and_a_friends_enemy_costs():
    """i is a friend of j; the gain of moving toward k rises with j's tie to k."""
    P = params(3, weights=(0.0, 0.0, 1.0))
    gains = []
    for t_jk in (-0.8, 0.0, 0.8):
        T = np.zeros((3, 3))
        T[SELF, ALLY] = 0.6
        T[ALLY, FOE] = T[FOE, ALLY] = t_jk
        gains.append(balance.local_gains(T, np.zeros((3, 3)), P, 0.05)[1, SELF, FOE])
    assert gains[0] < gains[1] < gains[2]


#: A four-state landscape (Axelrod and Bennett 1993): sizes s and symmetric propensities
#: p (positive: would be together). By hand, the energy sum_{i<j} s_i s_j p_ij d_ij of
#: each partition of {A, B, C, D} (d = 1 across the split), with s = (3, 2, 2, 1) and
#: p_AB = 1, p_AC = -1, p_AD = -0.5, p_BC = -1, p_BD = 0.5, p_CD = 1:
#:   {ABCD}: s_i s_j p_ij summed is 0, so every split's energy is the sum of the cut pairs'
#:   {AB|CD}: AC -6, AD -1.5, BC -4, BD 1  -> -10.5 (the minimum)
#:   {A|BCD}: AB 6, AC -6, AD -1.5          -> -1.5
#:   {B|ACD}: AB 6, BC -4, BD 1             ->  3
#:   {C|ABD}: AC -6, BC -4, CD 2            -> -8
#:   {D|ABC}: AD -1.5, BD 1, CD 2           ->  1.5
#:   {AC|BD}: AB 6, AD -1.5, BC -4, CD 2    ->  2.5
#:   {AD|BC}: AB 6, AC -6, BD 1, CD 2       ->  3
#:   {ABCD} (no split)                      ->  0
SIZES = np.array([3.0, 2.0, 2.0, 1.0])
PROPENSITY = np.array(
    [
        [0.0, 1.0, -1.0, -0.5],
        [1.0, 0.0, -1.0, 0.5],
        [-1.0, -1.0, 0.0, 1.0],
        [-0.5, 0.5, 1.0, 0.0],
    ]
)
BY_HAND = {
    (0, 0, 1, 1): -10.5,
    (0, 1, 1, 1): -1.5,
    (0, 1, 0, 0): 3.0,
    (0, 0, 1, 0): -8.0,
    (0, 0, 0, 1): 1.5,
    (0, 1, 0, 1): 2.5,
    (0, 1, 1, 0): 3.0,
    (0, 0, 0, 0): 0.0,
}


def landscape_energy(side: tuple[int, ...]) -> float:
    cut = np.not_equal.outer(side, side)
    return float(0.5 * (np.outer(SIZES, SIZES) * PROPENSITY * cut).sum())


def landscape_world() -> payoffs.Params:
    """Alignment only; affinity of i for j proportional to s_j p_ij (each row is
    normalised by a positive number, which changes no state's ranking)."""
    n = len(SIZES)
    P = params(n, power=SIZES, weights=(0.0, 0.0, 1.0))
    return replace(P, affinity=SIZES[None, :] * PROPENSITY)


def coalition_ties(side) -> np.ndarray:
    c = np.where(np.asarray(side) == 0, 1.0, -1.0)
    T = 0.95 * np.outer(c, c)
    np.fill_diagonal(T, 0.0)
    return T


def test_landscape_energies_by_code_equal_those_by_hand():
    for side, energy in BY_HAND.items():
        assert landscape_energy(side) == pytest.approx(energy)
    every = {s: landscape_energy(s) for s in itertools.product((0, 1), repeat=4) if s[0] == 0}
    assert min(every, key=every.get) == (0, 0, 1, 1)


def test_landscape_theory_is_a_special_case():
    """With ties of two coalitions (``x_ij = +-0.95``), a state's alignment payoff is
    highest on the side landscape theory puts it, and the configurations no state wants
    to leave (switching its whole row to the other side) are the landscape's local
    minima under single moves; the global minimum {AB|CD} is one of them."""
    P = landscape_world()
    C = np.zeros((4, 4))
    sides = [s for s in itertools.product((0, 1), repeat=4) if s[0] == 0]

    def utility(side, i):
        T = coalition_ties(side)
        return balance.row_utility(T, C, P)[1][i]

    def flip(side, i):
        out = list(side)
        out[i] = 1 - out[i]
        return tuple(out) if out[0] == 0 else tuple(1 - v for v in out)

    stable = set()
    minima = set()
    for side in sides:
        if all(utility(side, i) >= utility(flip(side, i), i) for i in range(4)):
            stable.add(side)
        if all(landscape_energy(side) <= landscape_energy(flip(side, i)) for i in range(4)):
            minima.add(side)
        for i in range(4):  # the payoff and the energy rank a move the same way
            du = utility(flip(side, i), i) - utility(side, i)
            de = landscape_energy(flip(side, i)) - landscape_energy(side)
            assert np.sign(du) == -np.sign(de) or abs(de) < 1e-12
    assert stable == minima
    assert (0, 0, 1, 1) in stable
