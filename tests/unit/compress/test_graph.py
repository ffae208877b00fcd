"""Loading and checking ONNX files."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeoffload.compress.graph import data_input, load_model
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import TensorSpec


def test_the_bundled_model_takes_batches_of_8x8_images(cnn: Path) -> None:
    assert data_input(load_model(cnn)) == TensorSpec("x", (None, 1, 8, 8), "float32")


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text("hello, I am not a model\n")
    with pytest.raises(ConfigError, match=r"MODEL: .* is not an ONNX model file"):
        load_model(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--teacher: no such file"):
        load_model(tmp_path / "nope.onnx", "--teacher")
