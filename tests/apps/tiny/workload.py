"""The tiny application's requests (pure, seeded): a frame every ``PERIOD_S`` with a
fresh (or, ``repeat=True``, the same few) 8-bit images, alternating small and large
work, so that a policy has something to tell apart."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DEADLINE_S = 0.25
PERIOD_S = 0.05


class Request(NamedTuple):
    at_s: float
    task: str
    args: tuple
    deadline_s: float | None
    group: str


def workload(n: int, seed: int = 0, *, repeat: bool = False) -> list[Request]:
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, size=(96, 96), dtype=np.uint8) for _ in range(3)]
    out = []
    for i in range(n):
        x = images[i % 3] if repeat else rng.integers(0, 256, size=(96, 96), dtype=np.uint8)
        rounds = 40 if i % 2 else 2000
        out.append(Request(i * PERIOD_S, "tiny_mix", (x, rounds), DEADLINE_S, "frame"))
    return out


def check(request: Request, result: object) -> bool:
    from .tasks import tiny_mix

    return isinstance(result, float) and abs(result - tiny_mix(*request.args)) < 1e-6
