"""The example tasks: their results and the cost hints the decision engine reads."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from edgeoffload.examples import tasks as ex
from edgeoffload.tasks import TaskSpec, spec_of


def spec(name: str) -> TaskSpec:
    found = spec_of(name)
    assert found is not None, name
    return found


@pytest.mark.parametrize(("n", "primes"), [(0, 0), (2, 0), (3, 1), (10, 4), (100, 25), (7919, 999)])
def test_count_primes_counts_below_n(n: int, primes: int) -> None:
    assert ex.count_primes(n) == primes


def test_count_primes_hints_scale_with_n() -> None:
    hints = spec("count_primes").hints([1000])
    assert (hints.cpu_cycles, hints.input_bytes, hints.output_bytes) == (60_000.0, 9, 9)
    assert spec("count_primes").cacheable and spec("count_primes").idempotent


def test_inline_and_pool_flags() -> None:
    assert [spec(n).inline for n in ("echo", "add", "gpu_pid")] == [True, True, True]
    assert [spec(n).inline for n in ("echo_pool", "count_primes", "sleep")] == [False] * 3
    # Failing and crashing tasks are not idempotent: a retry would repeat the effect.
    assert not spec("fail").idempotent and not spec("crash").idempotent
    assert spec("gpu_pid").requires == {"gpu": "true"}


def test_small_tasks_return_their_arguments() -> None:
    assert ex.echo({"a": [1]}) == {"a": [1]}
    assert ex.echo_pool(b"x") == b"x"
    assert ex.add(2.5, 4) == 6.5
    assert ex.sleep(0.0) == 0.0
    assert ex.sleep_echo("y", 0.0) == "y"
    assert spec("sleep").hints([0.2]).cpu_cycles == pytest.approx(0.5e9)


def test_fail_raises_its_message() -> None:
    with pytest.raises(ValueError, match=r"^boom$"):
        ex.fail("boom")


def frame_with_patch() -> np.ndarray:
    img = np.full((60, 80), 100, np.uint8)
    img[20:30, 40:52] = np.indices((10, 12)).sum(axis=0) % 2 * 255  # a checkerboard patch
    return img


def test_inspect_frame_flags_a_patch_of_edges_and_passes_a_flat_frame() -> None:
    bad = ex.inspect_frame(frame_with_patch())
    assert bad["defective"] and bad["defect_score"] > 0.02 and bad["shape"] == [60, 80]
    flat = ex.inspect_frame(np.full((60, 80), 100, np.uint8))
    assert flat == {"defect_score": 0.0, "defective": False, "shape": [60, 80]}
    hints = spec("inspect_frame").hints([np.zeros((60, 80), np.uint8)])
    assert (hints.cpu_cycles, hints.input_bytes, hints.mem_mb) == (
        30.0 * 4800,
        4800,
        3 * 4800 / 1e6,
    )


def test_the_vision_pipeline_decodes_crops_and_classifies() -> None:
    img = frame_with_patch()
    raw = zlib.compress(img.tobytes())
    decoded = ex.decode_frame(raw, 60, 80)
    assert np.array_equal(decoded, img)
    hints = spec("decode_frame").hints([raw, 60, 80])
    assert (hints.input_bytes, hints.output_bytes, hints.cpu_cycles) == (len(raw), 4800, 8.0 * 4800)
    crop = ex.detect_objects(decoded)
    # The box of strong gradients: the 10 x 12 patch, one pixel wider on every side
    # (the central-difference gradient reaches one pixel out).
    assert crop.shape == (12, 14)
    assert np.array_equal(crop, decoded[19:31, 39:53])
    crop[:] = 0  # a copy, not a view of the frame
    assert decoded[20, 40] == img[20, 40]
    assert ex.classify_crop(np.full((2, 3), 200, np.uint8)) == {
        "label": "bright",
        "mean": 200.0,
        "shape": [2, 3],
    }
    assert ex.classify_crop(np.zeros((4, 4)))["label"] == "dark"


def test_detect_objects_returns_the_whole_frame_when_nothing_stands_out() -> None:
    flat = np.full((5, 7), 9, np.uint8)
    crop = ex.detect_objects(flat)
    assert np.array_equal(crop, flat) and crop is not flat
