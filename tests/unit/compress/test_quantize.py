"""INT8 quantization of the bundled CNN: size, accuracy bound, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeoffload.compress.data import Dataset
from edgeoffload.compress.quantize import Int8Mode, quantize
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import OnnxModel


def accuracy(path: Path, data: Dataset) -> float:
    return float((OnnxModel(path).predict(data.x) == data.y).mean())


@pytest.mark.parametrize("mode", list(Int8Mode))
def test_int8_model_is_at_most_30_percent_of_the_size_and_within_one_point(
    mode: Int8Mode, cnn: Path, digits8: tuple[Dataset, Dataset], tmp_path: Path
) -> None:
    train, test = digits8
    out = quantize(cnn, tmp_path / "q.onnx", mode, train.x)
    assert out.stat().st_size <= 0.30 * cnn.stat().st_size  # the size target
    assert accuracy(out, test) >= accuracy(cnn, test) - 0.01
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert ("ConvInteger" in ops) if mode is Int8Mode.DYNAMIC else ("QuantizeLinear" in ops)


def test_dynamic_can_leave_convolutions_in_fp32(cnn: Path, tmp_path: Path) -> None:
    out = quantize(cnn, tmp_path / "q.onnx", Int8Mode.DYNAMIC, op_types=["Gemm", "MatMul"])
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert "Conv" in ops and "ConvInteger" not in ops


def test_entropy_calibration_takes_a_sample_count_that_is_not_a_batch_multiple(
    cnn: Path, digits8: tuple[Dataset, Dataset], tmp_path: Path
) -> None:
    train, test = digits8
    out = quantize(cnn, tmp_path / "q.onnx", Int8Mode.STATIC, train.x[:100], method="entropy")
    assert accuracy(out, test) >= accuracy(cnn, test) - 0.02


def test_static_needs_calibration_data(cnn: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--int8 static needs calibration data"):
        quantize(cnn, tmp_path / "q.onnx", Int8Mode.STATIC)


def test_calibration_of_the_wrong_shape_is_refused(cnn: Path, tmp_path: Path) -> None:
    wrong = np.zeros((10, 64), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"--calibration: samples of shape \(10, 64\)"):
        quantize(cnn, tmp_path / "q.onnx", Int8Mode.STATIC, wrong)


def test_unknown_calibration_method_is_refused(
    cnn: Path, digits8: tuple[Dataset, Dataset], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="--calibration-method"):
        quantize(cnn, tmp_path / "q.onnx", Int8Mode.STATIC, digits8[0].x, method="magic")


def test_static_can_write_qoperator_nodes_instead_of_qdq_pairs(
    cnn: Path, digits8: tuple[Dataset, Dataset], tmp_path: Path
) -> None:
    train, test = digits8
    out = quantize(cnn, tmp_path / "q.onnx", Int8Mode.STATIC, train.x, qoperator=True)
    ops = [node.op_type for node in onnx.load(str(out)).graph.node]
    assert "QLinearConv" in ops and "Conv" not in ops
    assert ops.count("DequantizeLinear") <= 1  # one at the output, not one per weight
    assert accuracy(out, test) >= accuracy(cnn, test) - 0.01
