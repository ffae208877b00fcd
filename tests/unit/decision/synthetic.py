"""Synthetic decision contexts for the policy tests (no simulator needed)."""

from __future__ import annotations

import numpy as np

from edgeoffload.decision.costs import option_costs
from edgeoffload.decision.evaluation import Labelled
from edgeoffload.decision.features import Context


def random_context(n: int, k: int, seed: int = 0) -> Context:
    """``n`` decisions with ``k`` candidate nodes each, over wide ranges."""
    rng = np.random.default_rng(seed)
    tasks = np.column_stack(
        [
            10 ** rng.uniform(7.5, 10, n),  # cycles
            np.zeros(n),
            np.zeros(n),
            10 ** rng.uniform(3, 6.5, n),  # input bytes
            10 ** rng.uniform(2, 4, n),  # output bytes
            rng.choice([0.3, 1.0, 5.0, np.inf], n),  # deadline
            rng.integers(0, 2, n).astype(float),
        ]
    )
    device = np.column_stack(
        [
            rng.uniform(1e9, 2e9, n),
            rng.uniform(0.0, 0.5, n),
            rng.uniform(0.1, 1.0, n),
            np.full(n, 1e-27),
            np.full(n, 1.3),
            np.full(n, 1.0),
            np.full(n, 0.3),
            np.zeros(n),
            np.zeros(n),
        ]
    )
    nodes = np.stack(
        [
            rng.uniform(2e9, 4e9, (n, k)),
            np.full((n, k), 8.0),
            rng.exponential(0.05, (n, k)),
            rng.uniform(0, 1, (n, k)),
            10 ** rng.uniform(5.5, 8, (n, k)),
            10 ** rng.uniform(6, 8.5, (n, k)),
            rng.uniform(0.005, 0.08, (n, k)),
        ],
        axis=-1,
    )
    return Context(tasks, device, nodes)


def synthetic_labelled(n: int, k: int, seed: int = 0, noise: float = 0.0) -> Labelled:
    """Decisions whose realised costs are the cost model's estimates (times log-normal
    noise): the oracle is then the cost model itself when ``noise`` is 0."""
    ctx = random_context(n, k, seed)
    latency, energy, _ = option_costs(ctx)
    rng = np.random.default_rng(seed + 1)
    factor = np.exp(rng.normal(0.0, noise, latency.shape)) if noise else 1.0
    return Labelled(
        ctx,
        latency * factor,
        energy * factor,
        np.tile(np.arange(k), (n, 1)),
        np.zeros(n, dtype=np.int64),
        np.arange(n, dtype=np.float64) * 0.01,
    )
