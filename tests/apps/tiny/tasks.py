"""The tiny application's task: ``rounds`` products of a 64x64 matrix with itself.

The cycle hint is measured: a round took 16 us of process time on this machine's core
(4,000 rounds, ``time.process_time``), 4e4 cycles of the 2.5-GHz reference core.
"""

from __future__ import annotations

import numpy as np

from edgeoffload.tasks import task

CYCLES_PER_ROUND = 4.0e4


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
