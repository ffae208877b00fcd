"""The DVFS rule (sim/nodes.py): the lowest level that fits the budget, else the
highest; the rows version equal to the scalar one."""

from __future__ import annotations

import math

import numpy as np

from edgeoffload.sim.nodes import dvfs, dvfs_pick, dvfs_runs


def test_the_lowest_level_that_fits_else_the_highest() -> None:
    assert dvfs((0.5, 1.0), 1e9, 1e8, 0.25) == (0.2, 0.5)
    assert dvfs((0.5, 1.0), 1e9, 1e8, 0.15) == (0.1, 1.0)
    assert dvfs((0.5, 1.0), 1e9, 1e8, 0.05) == (0.1, 1.0)  # late anyway: full speed
    assert dvfs((0.5, 1.0), 1e9, 1e8, math.nan) == (0.1, 1.0)


def test_rows_equal_the_scalar_rule() -> None:
    rng = np.random.default_rng(1)
    table = [(0.5, 0.75, 1.0), (1.0,), (0.6, 1.0)]
    width = 3
    pick_from = rng.integers(0, 3, 200)
    levels = np.array([[*table[i], *(table[i][-1:] * (width - len(table[i])))] for i in pick_from])
    hz = rng.uniform(1e9, 3e9, 200)
    cycles = rng.lognormal(19, 1, 200)
    budget = rng.choice([0.01, 0.1, 0.5, 2.0, math.inf, math.nan], 200)
    runs = dvfs_runs(levels, hz, cycles)
    pick = dvfs_pick(runs, budget)
    rows = np.arange(200)
    got = list(zip(runs[rows, pick].tolist(), levels[rows, pick].tolist(), strict=True))
    expected = [
        dvfs(table[i], float(h), float(c), float(b))
        for i, h, c, b in zip(pick_from, hz, cycles, budget, strict=True)
    ]
    assert got == expected
