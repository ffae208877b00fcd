"""Serving a model: the vision task, and a runtime without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgeoffload.compress.data import Dataset
from edgeoffload.errors import ConfigError
from edgeoffload.examples.vision import classify_digits, read_digits
from edgeoffload.models import bundled
from edgeoffload.models.runtime import cached_model


def test_classify_digits_reads_held_out_digits(digits8: tuple[Dataset, Dataset]) -> None:
    test = digits8[1]
    labels = classify_digits(test.x[:, 0])
    assert labels.dtype == np.int64 and labels.shape == (len(test),)
    assert (labels == test.y).mean() >= 0.95
    for shape in [(len(test), 64), (len(test), 1, 8, 8)]:
        np.testing.assert_array_equal(classify_digits(test.x.reshape(shape)), labels)
    assert classify_digits(test.x[0, 0]).tolist() == [labels[0]]  # one (8, 8) image


@pytest.mark.parametrize("shape", [(3, 7, 7), (0, 8, 8), (10,), (2, 2, 8, 8)])
def test_classify_digits_refuses_what_is_not_8x8_images(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected 8x8 images"):
        classify_digits(np.zeros(shape))


def test_one_session_per_process_and_file() -> None:
    assert cached_model(bundled("digits_cnn")) is cached_model(bundled("digits_cnn"))
    with pytest.raises(ConfigError, match="no bundled model 'nope'"):
        bundled("nope")


def test_serving_path_never_imports_torch() -> None:
    # A fresh interpreter: this test process has imported torch for other tests.
    code = """
import sys
import numpy as np
import edgeoffload.node.server, edgeoffload.client, edgeoffload.execution
import edgeoffload.examples.vision as vision
assert 'onnxruntime' not in sys.modules, 'onnxruntime imported before the first task'
print(vision.classify_digits(np.zeros((2, 8, 8))).tolist())
heavy = sorted(m for m in ('torch', 'sklearn', 'onnx', 'scipy') if m in sys.modules)
assert not heavy, heavy
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("[")


def test_read_digits_reads_a_strip_of_digits(digits8: tuple[Dataset, Dataset]) -> None:
    test = digits8[1]
    picked = [int(np.flatnonzero(test.y == d)[0]) for d in (4, 0, 7, 1)]
    strip = np.concatenate([test.x[i, 0] for i in picked], axis=1)  # (8, 32)
    expected = "".join(str(d) for d in classify_digits(test.x[picked, 0]))
    assert read_digits(strip) == expected
    with pytest.raises(ValueError, match="8 x 8k strip"):
        read_digits(np.zeros((8, 12)))
