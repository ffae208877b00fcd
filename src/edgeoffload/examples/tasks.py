"""Example tasks: the demo's mixed workload and the benchmark's tiny task.

Cycle counts are measured on this machine (about 2.5e9 cycles/s per core) and are
hints for the decision engine, not limits.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from edgeoffload.tasks import task

if TYPE_CHECKING:  # numpy is imported by the task that uses it, not at node start-up
    import numpy as np


@task(name="echo", inline=True, cpu_cycles=2e3, idempotent=True)
def echo(x: Any) -> Any:
    """Return the argument (the RPC benchmark's tiny task, run in the node's loop)."""
    return x


@task(name="echo_pool", cpu_cycles=2e3, idempotent=True)
def echo_pool(x: Any) -> Any:
    """The same tiny task, run in the process pool."""
    return x


@task(name="add", inline=True, cpu_cycles=1e3, idempotent=True)
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@task(
    name="count_primes",
    cpu_cycles=lambda n: 60.0 * n,
    input_bytes=9,
    output_bytes=9,
    idempotent=True,
    cacheable=True,
)
def count_primes(n: int) -> int:
    """Count primes below ``n`` with a pure-Python sieve (CPU-bound, GIL-holding)."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, n, i)))
    return sum(sieve)


@task(
    name="inspect_frame",
    cpu_cycles=lambda img: 30.0 * img.size,
    mem_mb=lambda img: 3 * img.nbytes / 1e6,
    input_bytes=lambda img: img.nbytes,
    output_bytes=64,
    idempotent=True,
)
def inspect_frame(img: np.ndarray) -> dict[str, Any]:
    """Visual inspection of one grey camera frame: blur, edge energy, defect score.

    A defect shows as a patch of strong edges; the score is the share of pixels whose
    gradient exceeds four times the median gradient.
    """
    import numpy as np

    f = img.astype(np.float32)
    blur = (f[:-2, 1:-1] + f[2:, 1:-1] + f[1:-1, :-2] + f[1:-1, 2:] + 4 * f[1:-1, 1:-1]) / 8
    gy, gx = np.gradient(blur)
    mag = np.hypot(gx, gy)
    threshold = 4 * float(np.median(mag)) + 1e-6
    score = float((mag > threshold).mean())
    return {"defect_score": score, "defective": score > 0.02, "shape": list(img.shape)}


# Sleeping tasks hold a worker as long as this much computing would (at 2.5 GHz).
@task(
    name="frame_histogram",
    cpu_cycles=lambda img: 6.0 * img.size,
    input_bytes=lambda img: img.nbytes,
    output_bytes=2400,
    idempotent=True,
    cacheable=True,
)
def frame_histogram(img: np.ndarray) -> list[int]:
    """The 256-bin grey-level histogram of a frame: a function of its pixels only, so
    ``cacheable`` (a node answers a repeated frame from its result cache)."""
    import numpy as np

    return [int(n) for n in np.bincount(img.reshape(-1).astype(np.uint8), minlength=256)]


@task(name="sleep", cpu_cycles=lambda seconds: seconds * 2.5e9, idempotent=True)
def sleep(seconds: float) -> float:
    """Sleep (an I/O-bound or slow task for tests of deadlines, cancellation and drain)."""
    time.sleep(seconds)
    return seconds


@task(name="fail", cpu_cycles=1e3)
def fail(message: str) -> None:
    """Raise ValueError(message) (tests of task_failed)."""
    raise ValueError(message)


@task(name="crash", cpu_cycles=1e3)
def crash(code: int) -> None:
    """Kill the worker process outright (tests of a worker dying mid-chunk)."""
    import os

    os._exit(code)


@task(name="sleep_echo", cpu_cycles=lambda x, seconds: seconds * 2.5e9, idempotent=True)
def sleep_echo(x: Any, seconds: float) -> Any:
    """Sleep, then return ``x`` (failover tests: slow enough to be in flight when killed)."""
    time.sleep(seconds)
    return x


@task(name="gpu_pid", inline=True, requires={"gpu": "true"}, cpu_cycles=1e3, idempotent=True)
def gpu_pid() -> int:
    """The serving process's id, on nodes labelled gpu=true only (placement tests)."""
    import os

    return os.getpid()


# A three-stage vision pipeline for task graphs (decode -> detect -> classify): each stage
# can run on the device or a node (see edgeoffload.client.graph). Cycles measured on a
# 640 x 480 frame: decode 1 ms, detect 12 ms, classify 20 us on its crop.


@task(
    name="decode_frame",
    cpu_cycles=lambda raw, height, width: 8.0 * height * width,
    mem_mb=lambda raw, height, width: 2 * height * width / 1e6,
    input_bytes=lambda raw, height, width: len(raw),
    output_bytes=lambda raw, height, width: height * width,
    idempotent=True,
)
def decode_frame(raw: bytes, height: int, width: int) -> np.ndarray:
    """Decompress a zlib-compressed grey frame of ``height`` x ``width`` pixels."""
    import zlib

    import numpy as np

    return np.frombuffer(zlib.decompress(raw), dtype=np.uint8).reshape(height, width)


@task(
    name="detect_objects",
    cpu_cycles=lambda img: 100.0 * img.size,
    mem_mb=lambda img: 8 * img.nbytes / 1e6,
    input_bytes=lambda img: img.nbytes,
    output_bytes=lambda img: img.nbytes / 4,
    idempotent=True,
)
def detect_objects(img: np.ndarray) -> np.ndarray:
    """Crop the frame to the box around its strong edges (the whole frame if none)."""
    import numpy as np

    gy, gx = np.gradient(img.astype(np.float32))
    magnitude = np.hypot(gx, gy)
    strong = magnitude > 4 * float(np.median(magnitude)) + 1e-6
    rows, cols = np.nonzero(strong)
    if not len(rows):
        return img.copy()
    return img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].copy()


@task(
    name="classify_crop",
    cpu_cycles=lambda crop: 2.0 * crop.size + 2e4,
    input_bytes=lambda crop: crop.nbytes,
    output_bytes=64,
    idempotent=True,
)
def classify_crop(crop: np.ndarray) -> dict[str, Any]:
    """Label a crop by its brightness: ``bright`` or ``dark``, with its mean and shape."""
    mean = float(crop.mean())
    return {"label": "bright" if mean > 127 else "dark", "mean": mean, "shape": list(crop.shape)}
