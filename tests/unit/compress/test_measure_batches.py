"""Measuring models with a fixed batch dimension, short data and exact quality figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeoffload.compress.data import Dataset
from edgeoffload.compress.measure import Settings, inputs_for, measure, outputs
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import OnnxModel

FAST = Settings(repeats=1, warmup=0)


def linear(path: Path, batch: int | str, w: np.ndarray) -> Path:
    """y = x @ w, input (batch, rows of w)."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "lin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, w.shape[1]])],
        [numpy_helper.from_array(w.astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_a_fixed_batch_of_one_is_timed_at_batch_1_only(tmp_path: Path) -> None:
    path = linear(tmp_path / "one.onnx", 1, np.eye(3))
    m = measure({"one": path}, None, FAST)["one"]
    assert m.latency_ms_b1 is not None and m.latency_ms_b1 > 0
    assert m.latency_ms_b32 is None and m.cpu_ms_b32 is None
    assert m.size_bytes == path.stat().st_size


def test_outputs_run_a_fixed_batch_model_sample_by_sample(tmp_path: Path) -> None:
    model = OnnxModel(linear(tmp_path / "one.onnx", 1, np.array([[2.0], [1.0]])))
    data = Dataset(np.array([[1, 0], [0, 1], [3, 3]], np.int64))  # cast to float32
    np.testing.assert_array_equal(outputs(model, data), [[2.0], [1.0], [9.0]])


def test_short_data_is_repeated_to_fill_a_batch(tmp_path: Path) -> None:
    model = OnnxModel(linear(tmp_path / "m.onnx", "n", np.eye(2)))
    x = inputs_for(model, Dataset(np.array([[1.0, 2.0], [3.0, 4.0]])), 5)
    assert x.dtype == np.float32
    assert x.tolist() == [[1, 2], [3, 4], [1, 2], [3, 4], [1, 2]]
    # Without data: seeded random inputs, the same for every call.
    np.testing.assert_array_equal(inputs_for(model, None, 4), inputs_for(model, None, 4))


def test_data_of_the_wrong_shape_names_the_option(tmp_path: Path) -> None:
    path = linear(tmp_path / "m.onnx", "n", np.eye(2))
    with pytest.raises(ConfigError, match=r"--data: samples of shape \(2, 3\) do not fit"):
        measure({"m": path}, Dataset(np.zeros((2, 3))), FAST)


def test_accuracy_and_agreement_against_a_reference(tmp_path: Path) -> None:
    ref = linear(tmp_path / "ref.onnx", "n", np.eye(2))
    flipped = linear(tmp_path / "flip.onnx", "n", np.array([[0.0, 1.0], [1.0, 0.0]]))
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 5.0]])
    data = Dataset(x, np.array([0, 1, 1, 1]))
    rows = measure({"ref": ref, "flip": flipped}, data, FAST, reference="ref")
    assert (rows["ref"].accuracy, rows["ref"].agreement) == (0.75, 1.0)
    # The flipped model predicts the other class everywhere.
    assert (rows["flip"].accuracy, rows["flip"].agreement) == (0.25, 0.0)
