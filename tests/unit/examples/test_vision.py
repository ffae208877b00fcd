"""The digit tasks: which shapes are images, cost hints, and the strip reader's checks.

(Accuracy on held-out digits is checked in ``tests/unit/compress/test_serving.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.examples.vision import classify_digits, read_digits
from edgeoffload.tasks import TaskSpec, spec_of


def spec(name: str) -> TaskSpec:
    found = spec_of(name)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("shape", "images"),
    [((8, 8), 1), ((5, 8, 8), 5), ((5, 1, 8, 8), 5), ((64,), 1), ((5, 64), 5)],
)
def test_which_shapes_hold_8x8_images(shape: tuple[int, ...], images: int) -> None:
    assert classify_digits(np.zeros(shape)).shape == (images,)


@pytest.mark.parametrize("shape", [(5, 3, 8, 8), (0, 64), (8, 9), (5, 8, 8, 1), (2, 2, 2, 8, 8)])
def test_other_shapes_are_refused_with_their_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(
        ValueError, match=rf"expected 8x8 images, got an array of shape \({shape[0]},"
    ):
        classify_digits(np.zeros(shape))


def test_every_image_layout_gives_the_same_labels() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, (3, 8, 8))
    labels = classify_digits(images)
    assert labels.dtype == np.int64 and labels.shape == (3,)
    np.testing.assert_array_equal(classify_digits(images.reshape(3, 64)), labels)
    np.testing.assert_array_equal(classify_digits(images[:, None]), labels)
    assert classify_digits(images[0]).tolist() == labels[:1].tolist()
    assert classify_digits(images[0].reshape(64)).tolist() == labels[:1].tolist()


def test_read_digits_reads_each_tile_in_order() -> None:
    rng = np.random.default_rng(1)
    tiles = rng.integers(0, 17, (4, 8, 8))
    strip = np.concatenate(list(tiles), axis=1)  # (8, 32)
    expected = "".join(str(d) for d in classify_digits(tiles))
    assert read_digits(strip) == expected


@pytest.mark.parametrize("shape", [(8, 12), (7, 16), (8, 0), (2, 8, 8)])
def test_read_digits_refuses_what_is_not_a_strip(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=rf"8 x 8k strip of digits, got .* shape \({shape[0]}, "):
        read_digits(np.zeros(shape))


def test_hints_grow_with_the_number_of_images() -> None:
    hints = spec("classify_digits").hints([np.zeros((4, 8, 8), np.float32)])
    assert (hints.cpu_cycles, hints.input_bytes, hints.output_bytes) == (9e4 + 1e5, 1024, 32)
    strip = spec("read_digits").hints([np.zeros((8, 24), np.uint8)])
    assert (strip.cpu_cycles, strip.input_bytes, strip.output_bytes) == (9e4 + 7.5e4, 192, 24)
    assert spec("classify_digits").cacheable and spec("read_digits").idempotent
