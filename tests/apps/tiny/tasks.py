"""The tiny application's task: ``rounds`` products of a 64x64 matrix with itself.

The cycle hint is the work counted, not measured: 2 * 64**3 multiply-adds a round at
about one per 4 cycles in numpy's small-matrix path (on the 2.5-GHz reference core a
round took about 0.1 ms here, 2.6e5 cycles); it only has to order small and large.
"""

from __future__ import annotations

import numpy as np

from edgeoffload.tasks import task

CYCLES_PER_ROUND = 2.6e5


@task(
    name="tiny_mix",
    cpu_cycles=lambda x, rounds: CYCLES_PER_ROUND * rounds,
    input_bytes=lambda x, rounds: float(x.nbytes),
    output_bytes=8.0,
    idempotent=True,
)  # cacheable: depends only on its arguments
def tiny_mix(x: np.ndarray, rounds: int) -> float:
    m = x[:64, :64].astype(np.float64) / 255.0
    acc = np.eye(64)
    for _ in range(int(rounds)):
        acc = acc @ m
        acc /= max(1e-9, float(np.abs(acc).max()))
    return float(acc.sum())
