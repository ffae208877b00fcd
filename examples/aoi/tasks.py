"""AOI tasks: classify camera frames of parts as ``ok`` or one of three defects.

Serve with ``edgeoffload node --tasks examples.aoi.tasks`` (from the checkout root;
needs the ``ml`` extra: onnxruntime, never torch). The model is the static INT8 (QDQ,
calibrated) ``aoi_cnn`` in ``models/`` (README.md says how it is rebuilt and what it
scores); each pool worker opens its ONNX Runtime session on its first task and keeps it
(:func:`edgeoffload.models.runtime.cached_model`). Importing this module imports numpy's
type names only.

Hints, measured with ``python -m examples.measure aoi`` (CPU time of the task at the
decision engine's 2.5 GHz reference; README.md gives the figures and the load): one
frame costs about :data:`CYCLES_PER_CALL` + :data:`CYCLES_PER_FRAME` cycles.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeoffload.tasks import task

if TYPE_CHECKING:  # numpy is imported by the task, not when the node starts
    import numpy as np

#: The committed models (README.md: how to rebuild them).
MODEL_DIR = Path(__file__).resolve().parent / "models"
#: The served variant: static INT8 (faster than fp32 at the same accuracy, README.md).
MODEL = MODEL_DIR / "aoi_cnn.int8_static.onnx"
#: Frame side and the class names (as the generator, edgeoffload.examples.parts).
SIZE = 128
CLASSES = ("ok", "scratch", "spot", "missing_hole")
#: Cycle hint: a call's fixed cost and each frame's (see the module docstring). Measured
#: here: one frame 2.3e6 cycles (0.93 ms CPU, ``examples.measure aoi``, load 1.3); the
#: INT8 model at batch 32 0.63 ms per frame (1.6e6), so the rest is the call's.
CYCLES_PER_CALL = 7.0e5
CYCLES_PER_FRAME = 1.6e6
#: A verdict's msgpack size (label, defect flag, score): 33 bytes measured.
VERDICT_BYTES = 36


def _frames(frames: np.ndarray) -> int:
    return int(frames.size // (SIZE * SIZE))


def classify(frames: np.ndarray, model: str | Path = MODEL) -> list[dict[str, Any]]:
    """The verdict for each frame of ``frames`` ``(n, 128, 128)`` (grey levels 0..255).

    Raises:
        ValueError: the array does not hold 128x128 frames.
    """
    import numpy as np

    from edgeoffload.models.runtime import cached_model

    x = np.asarray(frames)
    if x.ndim != 3 or x.shape[1:] != (SIZE, SIZE) or not len(x):
        raise ValueError(f"expected 128x128 grey frames (n, 128, 128), got shape {x.shape}")
    logits = cached_model(model).run(x[:, None].astype(np.float32))
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    out = []
    for row in p:
        k = int(row.argmax())
        out.append({"label": CLASSES[k], "defect": k != 0, "score": round(float(row[k]), 4)})
    return out


# cacheable: the verdict depends only on the frame
@task(
    name="inspect_part",
    cpu_cycles=CYCLES_PER_CALL + CYCLES_PER_FRAME,
    mem_mb=16.0,
    input_bytes=lambda frame: frame.nbytes,
    output_bytes=VERDICT_BYTES,
    idempotent=True,
    cacheable=True,
)
def inspect_part(frame: np.ndarray) -> dict[str, Any]:
    """One camera frame ``(128, 128)`` -> ``{"label", "defect", "score"}``.

    Raises:
        ValueError: the frame is not 128x128.
    """
    import numpy as np

    x = np.asarray(frame)
    if x.shape != (SIZE, SIZE):
        raise ValueError(f"expected a 128x128 grey frame, got shape {x.shape}")
    return classify(x[None])[0]


@task(
    name="inspect_parts",
    cpu_cycles=lambda frames: CYCLES_PER_CALL + CYCLES_PER_FRAME * _frames(frames),
    mem_mb=lambda frames: 16.0 + 0.5 * _frames(frames),
    input_bytes=lambda frames: frames.nbytes,
    output_bytes=lambda frames: VERDICT_BYTES * _frames(frames),
    idempotent=True,
    cacheable=True,
)
def inspect_parts(frames: np.ndarray) -> list[dict[str, Any]]:
    """A batch ``(n, 128, 128)`` (e.g. the four camera views of a part) in one model call,
    cheaper per frame than n calls (README.md: batch 1 against batch 32)."""
    return classify(frames)
