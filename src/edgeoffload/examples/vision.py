"""Vision tasks served from an ONNX model: handwritten digits, one by one or in a strip.

Serve with ``edgeoffload node --tasks edgeoffload.examples.vision`` (needs the ``ml``
extra: onnxruntime). The model is the bundled ``digits_cnn.onnx`` (see
:mod:`edgeoffload.models`); each pool worker loads its ONNX Runtime session on its
first task and keeps it, and nothing heavier than numpy is imported when the node
starts (onnxruntime comes with the first task; torch never).

To serve another (e.g. compressed) model, write a task module the same way::

    from edgeoffload.models.runtime import cached_model

    @task(name="classify_digits_int8")
    def classify_digits_int8(images):
        return cached_model("/models/digits_cnn.int8.onnx").predict(images)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeoffload.tasks import task

if TYPE_CHECKING:  # numpy is imported by the task, not when the node starts
    import numpy as np

#: Side of the square grey images the model takes, and their largest pixel value.
IMAGE_SIZE = 8
PIXEL_MAX = 16


def _cycles(images: np.ndarray) -> float:
    # Measured: ~35 us per call and ~10 us per image (one thread, 2.5e9 cycles/s); see
    # the digits_cnn fp32 row of docs/compression.md.
    return 9e4 + 2.5e4 * (images.size // (IMAGE_SIZE * IMAGE_SIZE))


@task(
    name="classify_digits",
    cpu_cycles=_cycles,
    mem_mb=8.0,
    input_bytes=lambda images: images.nbytes,
    output_bytes=lambda images: 8 * (images.size // (IMAGE_SIZE * IMAGE_SIZE)),
    idempotent=True,
    cacheable=True,
)
def classify_digits(images: np.ndarray) -> np.ndarray:
    """The digit (0-9) in each 8x8 grey image, pixel values 0..16 (scikit-learn's digits).

    Args:
        images: one image ``(8, 8)``, or a batch ``(n, 8, 8)``, ``(n, 64)`` or
            ``(n, 1, 8, 8)``; any numeric dtype.

    Returns:
        int64 labels, one per image.

    Raises:
        ValueError: the array does not hold 8x8 images.
    """
    import numpy as np

    from edgeoffload.models import bundled
    from edgeoffload.models.runtime import cached_model

    x = np.asarray(images, dtype=np.float32)
    if not _is_images(x.shape):
        raise ValueError(f"expected 8x8 images, got an array of shape {x.shape}")
    x = x.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
    return cached_model(bundled("digits_cnn")).predict(x).astype(np.int64)


@task(
    name="read_digits",
    cpu_cycles=lambda strip: 9e4 + 2.5e4 * (strip.shape[-1] // IMAGE_SIZE),
    mem_mb=8.0,
    input_bytes=lambda strip: strip.nbytes,
    output_bytes=lambda strip: 8 * (strip.shape[-1] // IMAGE_SIZE),
    idempotent=True,
    cacheable=True,
)
def read_digits(strip: np.ndarray) -> str:
    """Visual inspection: read a number stamped on a part, from one grey strip image.

    Args:
        strip: ``(8, 8 * k)``: k digits side by side, pixel values 0..16.

    Returns:
        The k digits as a string, e.g. ``"4071"``.

    Raises:
        ValueError: the strip is not 8 pixels high and a multiple of 8 wide.
    """
    import numpy as np

    x = np.asarray(strip)
    if x.ndim != 2 or x.shape[0] != IMAGE_SIZE or x.shape[1] % IMAGE_SIZE or not x.size:
        raise ValueError(f"expected an 8 x 8k strip of digits, got an array of shape {x.shape}")
    tiles = x.reshape(IMAGE_SIZE, -1, IMAGE_SIZE).transpose(1, 0, 2)  # (k, 8, 8)
    return "".join(str(int(d)) for d in classify_digits(tiles))


def _is_images(shape: tuple[int, ...]) -> bool:
    """(8, 8), (n, 8, 8), (n, 1, 8, 8), (64,) or (n, 64), with n > 0."""
    side, flat = (IMAGE_SIZE, IMAGE_SIZE), IMAGE_SIZE * IMAGE_SIZE
    if 0 in shape:
        return False
    return (
        (len(shape) in (2, 3) and shape[-2:] == side)
        or (len(shape) == 4 and shape[1:] == (1, *side))
        or (len(shape) in (1, 2) and shape[-1] == flat)
    )
