"""The ensemble engine: R replicates of one sweep advanced together in numpy.

One kernel, two drivers. The Mesa model (:class:`~sim.drivers.model.BalancingModel`)
steps one world with its agents; :func:`simulate` steps R worlds at once through the
same functions (:func:`sim.kernel.decision.period_choices` and
:func:`sim.kernel.decision.apply_choices`), with a leading replicate axis on the ties.
For Model 1 with local candidates it runs the compiled period loop instead
(:func:`sim.kernel.compiled.simulate_local`), which calls the compiled decisions the Mesa
model's ``period_choices`` calls and applies them with the same arithmetic.
Replicate k with seed ``s`` equals the Mesa run with ``rng=s``, tie for tie, because
both take the same numbers in the same order:

- the decision draws come from the generator Mesa builds from the seed
  (:func:`model_generator`), one ``(N, N + 1)`` block per period, burn-in included;
- the shocks follow the same schedule (:func:`sim.world.schedule.schedule_shocks`,
  from each shock's own stream), and a regime means the same parameters and pinned
  ties on both paths (:class:`sim.world.sweep.Sweep`).
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from sim.errors import UserError
from sim.kernel import balance, decision
from sim.kernel.payoffs import take
from sim.world import streams
from sim.world.schedule import ShockSchedule, schedule_shocks, shock_draws
from sim.world.sweep import Sweep

Seed = int | np.random.SeedSequence


def model_generator(seed: Seed) -> np.random.Generator:
    """The generator a :class:`~sim.drivers.model.BalancingModel` with ``rng=seed`` draws from.

    ``mesa.Model`` builds ``numpy.random.default_rng(seed)`` and, for a seed that is not
    an int, draws one integer from it to seed its ``random.Random``; the model's own draws
    start after that. (A test compares the states with Mesa's.)
    """
    g = np.random.default_rng(seed)
    if not isinstance(seed, int | np.integer):
        g.integers(np.iinfo(np.int32).max)
    return g


#: Bytes one replicate of N states holds while a period is evaluated, per N^2: about 60
#: float64 arrays of (N, N) (ties, candidates, gains, temporaries). Measured with
#: ``/usr/bin/time -v`` on 400 and 800 states; memory grows as N^2 per replicate.
BYTES_PER_TIE = 60 * 8

#: The memory a chunk of replicates may take (on top of the tables it yields).
CHUNK_MEMORY = 1 << 30


def default_chunk_size(n: int) -> int:
    """Replicates per chunk: a period's arrays (a few hundred KB each) stay in the L2 cache.

    Much larger chunks spill the cache; below ~16 replicates, Python's overhead per numpy
    call dominates. (Measured with ``python -m sim.tools.bench ensemble --chunk-sizes``.)
    In large worlds the chunk is also kept under :data:`CHUNK_MEMORY` (one replicate at
    least); the results do not depend on the chunk size.
    """
    by_cache = int(np.clip(20000 // (n * n), 16, 2048))
    by_memory = max(1, CHUNK_MEMORY // (BYTES_PER_TIE * n * n))
    return min(by_cache, by_memory)


@dataclass
class Simulation:
    """What :func:`simulate` returns for one chunk of replicates.

    Attributes:
        snaps: ``(R, S, N, N)`` ties at the recorded steps.
        credibility: ``(R, S, N, N)`` Model 2's credibility at the recorded steps (None
            for Model 1).
        regimes: ``(R, S)`` index into ``schedule.regimes`` of the regime at each record.
        schedule: the chunk's shock schedule (replicates numbered 0 .. R - 1).
        points: ``(R,)`` each replicate's sweep point.
    """

    snaps: np.ndarray
    regimes: np.ndarray
    schedule: ShockSchedule
    points: np.ndarray
    credibility: np.ndarray | None = None


#: The most memory one block of decision draws takes: the whole horizon of a baseline
#: chunk in one block (one generator call per replicate instead of one per 8 periods,
#: 5% of an ensemble run), eight periods at least in large worlds.
DRAW_MEMORY = 32 << 20


def draw_block(replicates: int, n: int, periods: int) -> int:
    """Periods per block of :class:`DecisionDraws`: as many as :data:`DRAW_MEMORY` holds,
    at least :attr:`DecisionDraws.BLOCK`, at most ``periods``."""
    per_period = replicates * n * (n + 1) * 8
    return max(1, min(periods, max(DecisionDraws.BLOCK, DRAW_MEMORY // max(per_period, 1))))


class DecisionDraws:
    """Each replicate's decision draws, ``(R, N, N + 1)`` per period, fetched in blocks
    of ``block`` periods (:func:`draw_block`; :attr:`BLOCK` by default).

    A block of k periods from one generator call holds the same numbers as k calls of
    one period each (numpy fills arrays in order), so this matches the Mesa model's
    one call per period, whatever the block.
    """

    BLOCK = 8

    def __init__(self, gens: list[np.random.Generator], n: int, block: int | None = None):
        self.gens = gens
        self.n = n
        self.block = block or self.BLOCK
        self.buf = np.empty((0,))
        self.at = self.block

    def next(self) -> np.ndarray:
        """The next period's draws ``(R, N, N + 1)``."""
        return self.take(1)[0]

    def take(self, most: int) -> np.ndarray:
        """The draws ``(K, R, N, N + 1)`` of the next K periods, 1 <= K <= ``most`` (as
        many as the block holds)."""
        if self.at == self.block:
            self.buf = self._next_block()
            self.at = 0
        k = min(most, self.block - self.at)
        u = self.buf[self.at : self.at + k]
        self.at += k
        return u

    def _next_block(self) -> np.ndarray:
        """The next block's draws ``(block, R, N, N + 1)``, one generator call each."""
        n = self.n
        return np.stack([g.random((self.block, n, n + 1)) for g in self.gens], axis=1)


class IntSeedDraws(DecisionDraws):
    """:class:`DecisionDraws` for replicates seeded by ints (``default_rng(seed)``, which
    draws nothing before the model does): the same numbers, each block made for every
    replicate in one compiled call by numpy's own algorithms (:mod:`sim.world.streams`),
    without a numpy generator per replicate (``tests/test_kernel.py``)."""

    def __init__(self, seeds: list[int], n: int, block: int):
        super().__init__([], n, block)
        self.states = streams.int_seeded(seeds)

    def _next_block(self) -> np.ndarray:
        n, r = self.n, self.states.shape[0]
        out = np.empty((self.block, r, n, n + 1))
        streams.draw(self.states, out.reshape(self.block, r, n * (n + 1)))
        return out


def simulate(sweep: Sweep, seeds: list[Seed], points: np.ndarray, steps: np.ndarray) -> Simulation:
    """Burn in and run one chunk of replicates over the horizon, keeping ``steps``.

    Args:
        sweep: the worlds of the sweep points (one structure).
        seeds: one seed per replicate.
        points: ``(R,)`` each replicate's sweep point (index into ``sweep.worlds``).
        steps: the steps to record, sorted (0 is the record after the burn-in).
    """
    w = sweep.world
    n, r = w.n, len(seeds)
    block = draw_block(r, n, w.burn_in + w.n_periods)
    if all(isinstance(s, int | np.integer) for s in seeds):
        # default_rng(seed) draws nothing before the model: its draws, and the shocks'
        # streams, made by numpy's algorithms compiled (sim.world.streams), no generator
        seqs = [streams.IntSeed(int(s)) for s in seeds]
        draws = IntSeedDraws([int(s) for s in seeds], n, block)
    else:
        gens = [model_generator(s) for s in seeds]
        seqs = [g.bit_generator.seed_seq for g in gens]
        draws = DecisionDraws(gens, n, block)
    schedule = schedule_shocks(
        sweep.shocks,
        shock_draws(seqs, sweep.shocks, w.n_periods),
        sweep.probability[points],
        sweep.enabled,
    )
    kernel = kernel_name()
    if w.model == 1 and w.candidates == "local" and kernel == "compiled":
        snaps = _simulate_compiled(sweep, schedule, draws, np.zeros((r, n, n)), points, steps)
        return Simulation(snaps, schedule.record_regimes(steps), schedule, points)
    settings = dict(
        kernel=kernel,
        rules=w.rules,
        delta=w.delta,
        candidates=w.candidates,
        update=w.update,
        adjustment=w.adjustment,
    )

    burn_in_regime = np.zeros(r, dtype=np.intp)
    in_force = {}  # the last period's regimes, and their parameters, rows and pins

    def regime_setup(regime: np.ndarray):
        """Each replicate's parameters (one set, or a row per replicate) and the pins of
        the replicates' regimes ``(R,)`` (the same as the last period's most periods:
        then kept)."""
        last = in_force.get("regime")
        if last is not None and np.array_equal(last, regime):
            return in_force["setup"]
        P, rows = sweep.in_force(regime, schedule.regimes, points)
        if rows is not None:
            P = take(P, rows)
        groups = np.unique(regime)
        pinned = []  # (pins, the replicates they hold: None for all)
        for g in groups:
            pins = sweep.pins(schedule.regimes[g])
            if pins is not None:
                pinned.append((pins, None if len(groups) == 1 else np.flatnonzero(regime == g)))
        in_force["regime"] = regime
        in_force["setup"] = P, pinned
        return P, pinned

    def decide(T, C, u: np.ndarray, regime: np.ndarray):
        """Pin, choose, apply, pin, then update the credibility (Model 2): one period of
        every replicate, ``regime`` ``(R,)`` each one's regime. One kernel call whatever
        the regimes: replicate k has its parameters from row ``rows[k]`` of the regimes'
        parameters side by side (:meth:`~sim.world.sweep.Sweep.in_force`)."""
        P, pinned = regime_setup(regime)
        for pins, members in pinned:
            pins.apply(T, points, members)
        values, choice, revising = decision.period_choices(T, P, u, credibility=C, **settings)
        T = decision.apply_choices(T, values, choice, revising, w.delta)
        for pins, members in pinned:
            pins.apply(T, points, members)
        if C is not None:
            C = balance.next_credibility(C, T, P)
        return T, C

    T = np.zeros((r, n, n))
    C = balance.initial_credibility(sweep.params((), points), T.shape) if w.model == 2 else None
    for _ in range(w.burn_in):
        T, C = decide(T, C, draws.next(), burn_in_regime)
    record = np.zeros(w.n_periods + 1, dtype=bool)
    record[steps] = True
    slot = np.cumsum(record) - 1
    snaps = np.empty((r, len(steps), n, n))
    trust = None if C is None else np.empty_like(snaps)
    if record[0]:
        snaps[:, 0] = T
        if C is not None:
            trust[:, 0] = C
    for p in range(w.n_periods):
        T, C = decide(T, C, draws.next(), schedule.regime[:, p])
        if record[p + 1]:
            snaps[:, slot[p + 1]] = T
            if C is not None:
                trust[:, slot[p + 1]] = C
    return Simulation(snaps, schedule.record_regimes(steps), schedule, points, trust)


def _simulate_compiled(
    sweep: Sweep,
    schedule: ShockSchedule,
    draws: DecisionDraws,
    T: np.ndarray,
    points: np.ndarray,
    steps: np.ndarray,
) -> np.ndarray:
    """:func:`simulate`'s period loop for Model 1 with local candidates, compiled: one
    call of :func:`sim.kernel.compiled.simulate_local` per block of draws (:func:`draw_block`),
    the same steps as the loop in Python (pin, decide, apply, pin) through the same
    compiled decisions as the Mesa model. Returns the snapshots ``(R, S, N, N)``."""
    from sim.kernel import compiled

    w = sweep.world
    r = T.shape[0]
    total = w.burn_in + w.n_periods
    # every regime's parameters side by side; replicate b in regime g reads row
    # g * points + its point
    P = sweep.mixed(schedule.regimes)
    regime = np.concatenate([np.zeros((w.burn_in, r), dtype=np.intp), schedule.regime.T])
    rows = regime * sweep.n_points + points if P.power.ndim > 1 else None
    # the slot of each record: step 0 closes the burn-in, step t > 0 period t - 1
    record = np.full(total, -1, dtype=np.int64)
    snaps = np.empty((r, len(steps), w.n, w.n))
    for k, step in enumerate(steps):
        at = w.burn_in + step - 1
        if at >= 0:
            record[at] = k
        else:  # no burn-in: step 0 is the start
            snaps[:, k] = T
    pins = pin_table(sweep, schedule.regimes)
    g = 0
    while g < total:
        u = draws.take(total - g)
        k = len(u)
        compiled.simulate_local(
            T,
            P,
            u,
            regime[g : g + k],
            None if rows is None else rows[g : g + k],
            points,
            pins,
            update=w.update,
            rules=w.rules,
            delta=w.delta,
            record=record[g : g + k],
            snaps=snaps,
        )
        g += k
    return snaps


def pin_table(sweep: Sweep, regimes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ties each regime pins, as the compiled loop reads them: ``(start, i, j,
    value)``, regime g pinning ``T[i[q], j[q]] = value[q, point]`` for ``q`` from
    ``start[g]`` to ``start[g + 1] - 1``."""
    start = [0]
    rows, cols, values = [], [], []
    for regime in regimes:
        pins = sweep.pins(regime)
        if pins is not None:
            rows.append(pins.rows)
            cols.append(pins.cols)
            values.append(np.broadcast_to(pins.values, (sweep.n_points, len(pins.rows))).T)
        start.append(start[-1] + (0 if pins is None else len(pins.rows)))
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return np.array(start), empty, empty, np.zeros((0, sweep.n_points))
    return np.array(start), np.concatenate(rows), np.concatenate(cols), np.concatenate(values)


#: The environment variable that chooses the kernel of both drivers: ``compiled`` (the
#: default) or ``numpy`` (the reference the compiled kernel is tested against; slower).
KERNEL_ENV = "MULTIVECTOR_KERNEL"


def kernel_name() -> str:
    """The kernel named by :data:`KERNEL_ENV` (``compiled`` when unset or empty), one of
    :data:`sim.kernel.decision.KERNELS`.

    Raises:
        UserError: the variable names another kernel.
    """
    name = os.environ.get(KERNEL_ENV, "").strip() or "compiled"
    if name not in decision.KERNELS:
        raise UserError(
            f"{KERNEL_ENV}={name!r}: expected one of {', '.join(decision.KERNELS)} (the "
            "compiled kernel, the default, or the numpy reference it is tested against)"
        )
    return name


#: The environment variable that sets how many threads numpy's BLAS (and any OpenMP
#: runtime) may use in the engine and in each batch worker; default 1.
THREADS_ENV = "MULTIVECTOR_BLAS_THREADS"


def blas_threads() -> int:
    """The BLAS and OpenMP threads the engine and batch workers use: the whole number in
    :data:`THREADS_ENV`, 1 when it is unset or empty.

    One, because the engine's arrays are small (a chunk's period is a few hundred KB):
    OpenBLAS, by default one thread per core, gains no speed from its threads there, and
    they spin while they wait. Measured on 2 cores, 100 states: the same wall time for
    twice the CPU; in batch workers that already use every core, or in a process pinned
    to one core, they slow every run (the issue measured 669 ms a run instead of 121).

    Raises:
        UserError: the variable holds something else than a whole number >= 1.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return 1
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise UserError(
            f"{THREADS_ENV}={raw!r}: expected a whole number of threads, 1 or more (how "
            "many threads numpy's BLAS may use in the ensemble engine and in each batch "
            "worker; unset, it is 1)"
        )
    return threads


#: The thread pools of this process (:func:`_thread_pools`), with the number of Python
#: modules loaded when they were found.
_POOLS: tuple[int, ThreadpoolController] | None = None


def _thread_pools() -> ThreadpoolController:
    """The BLAS and OpenMP libraries loaded in this process, found once and found again
    when more Python modules have been imported since (one may have loaded a library).
    Finding them scans every loaded library, about 2 ms: done per chunk, that was 4% of
    an ensemble's time."""
    global _POOLS
    loaded = len(sys.modules)
    if _POOLS is None or _POOLS[0] != loaded:
        _POOLS = (loaded, ThreadpoolController())
    return _POOLS[1]


def limited_threads(threads: int | None = None):
    """BLAS and OpenMP limited to ``threads`` (default :func:`blas_threads`) in this
    process, for the ``with`` block this is used in; the earlier limits come back after.
    Used around the engine's work (chunk by chunk, so a caller between chunks keeps its
    own settings)."""
    return _thread_pools().limit(limits=blas_threads() if threads is None else threads)


_MALLOC_TUNED = False

#: numpy's environment variable for its huge-page advice; when it is set, the user's
#: choice stands and :func:`reuse_freed_memory` leaves the advice as it is.
HUGEPAGE_ENV = "NUMPY_MADVISE_HUGEPAGE"


def reuse_freed_memory() -> None:
    """Memory settings for the engine's temporaries and tables (Linux; a no-op
    elsewhere). Set once per process.

    - **glibc keeps freed temporaries for reuse.** A period allocates dozens of arrays of
      a few hundred KB. Above glibc's dynamic mmap threshold each one is a fresh
      mapping, and the page faults of touching it cost more than the arithmetic (about a
      third of the ensemble's time on the chunk sizes above). Raising the mmap and trim
      thresholds lets the heap serve them again; the process keeps up to 128 MB of freed
      memory instead of returning it at once.
    - **No huge-page advice on numpy's large arrays** (unless the user set
      :data:`HUGEPAGE_ENV`). numpy asks Linux for transparent huge pages on every array of
      4 MB or more. Where the kernel's ``transparent_hugepage/defrag`` is ``madvise``
      (Debian's and most distributions' default), a fault in such an array when no huge
      page is free makes the kernel compact memory then and there: filling a fresh 440 MB
      array took 0.4-1.2 s with the advice and 0.2 s without it on this project's
      machine (numpy issue 31590 describes the stall). An ensemble's table is such memory,
      written once; the temporaries the advice would help stay in the heap anyway.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    if HUGEPAGE_ENV not in os.environ:
        set_advice = getattr(np._core.multiarray, "_set_madvise_hugepage", None)
        if set_advice is not None:
            set_advice(False)
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (glibc's maximum)
        libc.mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass
