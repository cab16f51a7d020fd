"""Many short random streams at once: numpy's ``SeedSequence`` and ``PCG64``, compiled.

Each probabilistic shock of each replicate draws its uniforms from a stream of its own
(:func:`sim.world.schedule.shock_uniforms`: ``default_rng(SeedSequence(entropy,
spawn_key=(*key, tag, crc32(id)))).random(periods)``), which keeps the counterfactual
arms on common random numbers. Made one by one, a stream costs about 15 us, most of it
building the ``SeedSequence`` and seeding the generator: a tenth of an ensemble run.
:func:`uniforms` makes the same numbers for many streams in one compiled call (about
0.3 us a stream), by numpy's own algorithms, step for step: the entropy pool of
``SeedSequence`` (its hash and mix functions, pool size 4), ``generate_state(4,
uint64)``, PCG64's seeding (``pcg_setseq_128_srandom_r``), its step (the 128-bit LCG)
and output (XSL-RR), and ``random()``'s ``(next64 >> 11) * 2**-53``. The tests hold it
equal to numpy, bit for bit, on seeds of every kind (``tests/test_kernel.py``); numpy
guarantees these streams do not change between its versions (NEP 19), and a sequence
this module cannot read (another pool size) is left to numpy. The ensemble also makes
the decision draws of int seeds by :func:`seeded` and :func:`draw`
(:class:`sim.drivers.engine.IntSeedDraws`: ``default_rng(seed)``'s numbers, without
building a generator per replicate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT_HI, _PCG_MULT_LO = 2549297995355413924, 4865540595714422341
_POOL = 4  # numpy's default pool size (words)
_WORD = 0xFFFFFFFF


@numba.njit(inline="always", cache=True)
def _hashmix(value, hash_const):
    """SeedSequence's hashmix: the mixed value and the next hash constant (uint32)."""
    value ^= hash_const
    hash_const = np.uint32(hash_const * np.uint32(_MULT_A))
    value = np.uint32(value * hash_const)
    value ^= value >> np.uint32(16)
    return value, hash_const


@numba.njit(inline="always", cache=True)
def _mix(x, y):
    result = np.uint32(np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y)
    return result ^ (result >> np.uint32(16))


@intrinsic
def _mul_128(typingctx, a, b):
    """The 128-bit product of two uint64, ``(high, low)``: one LLVM multiply of 128-bit
    integers (a single ``mul`` on x86-64), as PCG64's C code does with ``__int128``."""
    signature = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, sig, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        low = builder.trunc(product, ir.IntType(64))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, sig.return_type, (high, low))

    return signature, codegen


@numba.njit(inline="always", cache=True)
def _pcg_step(s_hi, s_lo, i_hi, i_lo):
    """state * multiplier + increment, modulo 2**128."""
    hi, lo = _mul_128(s_lo, np.uint64(_PCG_MULT_LO))
    hi = hi + s_lo * np.uint64(_PCG_MULT_HI) + s_hi * np.uint64(_PCG_MULT_LO)
    out_lo = lo + i_lo
    return hi + i_hi + (np.uint64(1) if out_lo < lo else np.uint64(0)), out_lo


@numba.njit("void(uint32[:, ::1], int64[::1], uint64[:, ::1])", cache=True, nogil=True)
def _seed(words, lengths, states):
    """Stream s: assembled entropy ``words[s, :lengths[s]]`` -> PCG64's state
    ``states[s]`` = (state high, state low, increment high, increment low), as
    ``PCG64(SeedSequence)`` seeds it."""
    pool = np.empty(_POOL, np.uint32)
    state = np.empty(2 * _POOL, np.uint32)
    val = np.empty(_POOL, np.uint64)
    for s in range(words.shape[0]):
        n = lengths[s]
        # SeedSequence.mix_entropy
        h = np.uint32(_INIT_A)
        for i in range(_POOL):
            pool[i], h = _hashmix(words[s, i] if i < n else np.uint32(0), h)
        for i_src in range(_POOL):
            for i_dst in range(_POOL):
                if i_src != i_dst:
                    v, h = _hashmix(pool[i_src], h)
                    pool[i_dst] = _mix(pool[i_dst], v)
        for i_src in range(_POOL, n):
            for i_dst in range(_POOL):
                v, h = _hashmix(words[s, i_src], h)
                pool[i_dst] = _mix(pool[i_dst], v)
        # generate_state(4, uint64): 8 words, little-endian pairs
        h = np.uint32(_INIT_B)
        for k in range(2 * _POOL):
            v = pool[k % _POOL] ^ h
            h = np.uint32(h * np.uint32(_MULT_B))
            v = np.uint32(v * h)
            state[k] = v ^ (v >> np.uint32(16))
        for k in range(_POOL):
            val[k] = np.uint64(state[2 * k]) | (np.uint64(state[2 * k + 1]) << np.uint64(32))
        # PCG64: seed (val0 << 64 | val1), increment (val2 << 64 | val3) << 1 | 1
        i_hi = (val[2] << np.uint64(1)) | (val[3] >> np.uint64(63))
        i_lo = (val[3] << np.uint64(1)) | np.uint64(1)
        s_hi, s_lo = _pcg_step(np.uint64(0), np.uint64(0), i_hi, i_lo)
        lo = s_lo + val[1]
        s_hi = s_hi + val[0] + (np.uint64(1) if lo < s_lo else np.uint64(0))
        s_hi, s_lo = _pcg_step(s_hi, lo, i_hi, i_lo)
        states[s, 0] = s_hi
        states[s, 1] = s_lo
        states[s, 2] = i_hi
        states[s, 3] = i_lo


@numba.njit("void(uint64[:, ::1], float64[:, :, ::1])", cache=True, nogil=True)
def draw(states, out):
    """Advance every stream: stream s fills ``out[k, s, :]`` for k = 0, 1, ... in order,
    as ``Generator.random`` fills an array; ``states`` are left after the last draw."""
    for s in range(states.shape[0]):
        s_hi, s_lo, i_hi, i_lo = states[s, 0], states[s, 1], states[s, 2], states[s, 3]
        for k in range(out.shape[0]):
            row = out[k, s]
            for e in range(row.shape[0]):
                s_hi, s_lo = _pcg_step(s_hi, s_lo, i_hi, i_lo)
                x = s_hi ^ s_lo
                rot = s_hi >> np.uint64(58)
                x = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
                row[e] = np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        states[s, 0] = s_hi
        states[s, 1] = s_lo


def seeded(rows: list[list[int]]) -> np.ndarray:
    """PCG64 states ``(S, 4)`` of streams from their assembled entropy words."""
    width = max((len(r) for r in rows), default=0)
    words = np.zeros((len(rows), max(width, 1)), dtype=np.uint32)
    for s, r in enumerate(rows):
        words[s, : len(r)] = r
    states = np.empty((len(rows), 4), dtype=np.uint64)
    _seed(words, np.array([len(r) for r in rows], dtype=np.int64), states)
    return states


def _words(x) -> list[int]:
    """numpy's ``_coerce_to_uint32_array``: an int as little-endian 32-bit words (0 as one
    word), a sequence as its elements' words in order."""
    if isinstance(x, list | tuple | np.ndarray):
        return [w for e in x for w in _words(e)]
    x = int(x)
    if x < 0:
        raise ValueError("entropy and spawn keys are non-negative")
    out = [x & _WORD]
    x >>= 32
    while x:
        out.append(x & _WORD)
        x >>= 32
    return out


class IntSeed(NamedTuple):
    """What the streams read of ``SeedSequence(entropy)`` (an int seed's), without
    building one (6 us each)."""

    entropy: int
    spawn_key: tuple = ()
    pool_size: int = _POOL


def readable(seq: np.random.SeedSequence) -> bool:
    """Whether :func:`uniforms` makes ``seq``'s children (numpy's default pool size)."""
    return seq.pool_size == _POOL


def uniforms(
    seqs: Sequence[np.random.SeedSequence], tails: Sequence[tuple[int, ...]], periods: int
) -> np.ndarray:
    """``(len(seqs), len(tails), periods)``: for each sequence and each tail, the uniforms
    of ``default_rng(SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key,
    *tail))).random(periods)``, bit for bit. Every sequence must be :func:`readable`."""
    tail_words = [_words(list(tail)) for tail in tails]
    ints = all(type(q) is IntSeed and not q.spawn_key and q.pool_size == _POOL for q in seqs)
    states = _int_seeded([q.entropy for q in seqs], tail_words) if ints else None
    if states is None:
        rows = []
        for seq in seqs:  # each sequence's words once, then each tail's
            run, key = _words(seq.entropy), _words(list(seq.spawn_key))
            rows.extend(_assembled(run, key + tail) for tail in tail_words)
        states = seeded(rows)
    out = np.empty((periods, len(states), 1))
    draw(states, out)
    return np.ascontiguousarray(out[:, :, 0].T).reshape(len(seqs), len(tails), periods)


def int_seeded(seeds: Sequence[int]) -> np.ndarray:
    """PCG64 states ``(S, 4)`` of ``default_rng(seed)`` for each int seed: ``seeded`` of
    their assembled words."""
    states = _int_seeded([int(x) for x in seeds], [[]])
    return states if states is not None else seeded([assembled(int(x), ()) for x in seeds])


def _int_seeded(ints: list[int], tails: list[list[int]]) -> np.ndarray | None:
    """The states of :func:`seeded` for the int entropies ``ints`` (runs' int seeds, no
    spawn key, numpy's pool size) and each tail's words (entropy major), with the words
    laid out by array operations: when every entropy is in [0, 2**64), its words are its
    low and high 32 bits padded with zeros to the pool size, then the tail's. (Without a
    tail numpy's words are one or two, but the pool reads a missing word as 0, so the
    padded four mix alike.) None otherwise (then :func:`seeded` of each one's words)."""
    if not ints or min(ints) < 0 or max(ints) >= 1 << 64:
        return None
    entropy = np.array(ints, dtype=np.uint64)
    low = (entropy & np.uint64(_WORD)).astype(np.uint32)
    high = (entropy >> np.uint64(32)).astype(np.uint32)
    width = _POOL + max(len(t) for t in tails)
    words = np.zeros((len(ints), len(tails), width), dtype=np.uint32)
    words[:, :, 0] = low[:, None]
    words[:, :, 1] = high[:, None]
    for k, tail in enumerate(tails):
        words[:, k, _POOL : _POOL + len(tail)] = tail
    lengths = np.repeat([[_POOL + len(t) for t in tails]], len(ints), axis=0)
    states = np.empty((len(ints) * len(tails), 4), dtype=np.uint64)
    _seed(words.reshape(-1, width), lengths.ravel(), states)
    return states


def assembled(entropy, spawn_key: tuple) -> list[int]:
    """``SeedSequence(entropy, spawn_key=spawn_key)``'s assembled entropy words."""
    return _assembled(_words(entropy), _words(list(spawn_key)))


def _assembled(run: list[int], spawn: list[int]) -> list[int]:
    """The entropy's words, padded with zeros to the pool size when there is a spawn key,
    then the spawn key's."""
    return (run + [0] * (_POOL - len(run)) if spawn and len(run) < _POOL else run) + spawn
