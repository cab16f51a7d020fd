"""Large worlds on purpose: memory per replicate grows as N^2, never N^3.

A world of 500 states (the most a scenario file may hold) is run for two periods and
its indices computed, with every numpy allocation traced: the peak must stay far below
one ``(N, N, N)`` float array (1 GB at 500 states), which is what the rivalry term used
to build.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
from worlds import build, ring_world

import sim
from sim.drivers.engine import default_chunk_size
from sim.kernel.payoffs import _rivalry_among_partners
from sim.world.compiled import compile_world


def _big_world(n: int):
    return compile_world(build(ring_world(n, rivalry_every=7, steps=2, burn_in=1)))


def test_a_500_state_run_stays_far_below_one_cubic_array():
    n = 500
    w = _big_world(n)
    tracemalloc.start()
    try:
        model = sim.BalancingModel(world=w, rng=1, agent_data=False).run()
        table = model.indices_table()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(table["utility"]).all()
    cubic = n**3 * 8
    assert peak < cubic / 4, f"peak {peak / 1e6:.0f} MB against {cubic / 1e6:.0f} MB for N^3"


def test_rivalry_among_partners_equals_the_direct_sum_bit_for_bit():
    rng = np.random.default_rng(3)
    for n in (3, 9, 40):
        r = rng.random((n, n)) * (rng.random((n, n)) < 0.4)
        r = (r + r.T) / 2
        np.fill_diagonal(r, 0.0)
        for rivalry in (r, np.stack([r, 0.5 * r])):  # one world, or stacked sweep points
            eye = np.eye(n, dtype=bool)
            mask = eye[:, :, None] | eye[:, None, :]
            direct = 0.5 * np.where(mask, 0.0, rivalry[..., None, :, :]).sum(axis=(-1, -2))
            np.testing.assert_array_equal(_rivalry_among_partners(rivalry), direct)


def test_chunks_shrink_with_the_world_and_never_vanish():
    assert default_chunk_size(9) == 246  # small worlds: sized for the cache, as before
    sizes = [default_chunk_size(n) for n in (100, 300, 500, 1000, 2000)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] == 1
