"""Structured and unstructured pruning of ONNX graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edgeoffload.compress.data import Dataset
from edgeoffload.compress.graph import load_model
from edgeoffload.compress.prune import PruneMode, find_units, kept_count, prune
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import open_session

from .conftest import mlp_model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    out: np.ndarray = open_session(model.SerializeToString()).run(None, {"x": x})[0]
    return out


def accuracy(model: onnx.ModelProto, data: Dataset) -> float:
    return float((run(model, data.x).argmax(axis=1) == data.y).mean())


def weight(model: onnx.ModelProto, name: str) -> np.ndarray:
    """The initializer ``name``, or the weight of the node named ``name``."""
    nodes = {n.name: n.input[1] for n in model.graph.node if len(n.input) > 1}
    name = nodes.get(name, name)
    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


def test_units_of_the_bundled_cnn_cross_the_flatten(cnn: Path) -> None:
    units = find_units(load_model(cnn))
    shapes = [(u.producer.node.op_type, u.consumer.node.op_type, u.width, u.block) for u in units]
    assert shapes == [("Conv", "Conv", 16, 1), ("Conv", "Gemm", 32, 16), ("Gemm", "Gemm", 64, 1)]


@pytest.mark.parametrize("matmul", [False, True])
def test_removing_dead_neurons_leaves_the_function_unchanged(matmul: bool) -> None:
    # 3 of 12 first-layer neurons never fire: pruning a quarter must remove exactly them.
    model = mlp_model([10, 12, 4], seed=3, matmul=matmul, dead=[2, 5, 7])
    pruned, report = prune(model, 0.25)
    x = np.random.default_rng(0).standard_normal((50, 10)).astype(np.float32)
    np.testing.assert_allclose(run(pruned, x), run(model, x), rtol=1e-5, atol=1e-5)
    first = "w0"
    assert weight(pruned, first).shape == ((9, 10) if not matmul else (10, 9))
    assert list(report.units.values()) == [(9, 12)]
    assert report.weights_after < report.weights_before


def test_data_aware_pruning_keeps_the_cnn_within_one_point(
    cnn: Path, digits8: tuple[Dataset, Dataset]
) -> None:
    train, test = digits8
    model = load_model(cnn)
    before = accuracy(model, test)
    for align in (1, 16):
        pruned, report = prune(model, 0.3, calibration=train.x, conv_align=align)
        assert accuracy(pruned, test) >= before - 0.01, align
        assert all(kept < width for kept, width in list(report.units.values())[1:])
        onnx.checker.check_model(pruned)


def test_conv_channels_are_rounded_to_the_alignment(
    cnn: Path, digits8: tuple[Dataset, Dataset]
) -> None:
    pruned, report = prune(load_model(cnn), 0.3, calibration=digits8[0].x[:200], conv_align=16)
    assert list(report.units.values()) == [(16, 16), (16, 32), (45, 64)]
    assert weight(pruned, "/features/features.2/Conv").shape == (16, 16, 3, 3)
    assert weight(pruned, "/features/features.6/Gemm").shape == (45, 16 * 16)


@pytest.mark.parametrize(
    ("width", "fraction", "align", "kept"),
    [(64, 0.3, 1, 45), (16, 0.3, 16, 16), (32, 0.3, 16, 16), (48, 0.3, 16, 32), (4, 0.9, 1, 1)],
)
def test_kept_count(width: int, fraction: float, align: int, kept: int) -> None:
    assert kept_count(width, fraction, align) == kept


def test_every_hidden_layer_of_a_deeper_mlp_is_cut() -> None:
    model = mlp_model([10, 12, 8, 4], matmul=True)
    pruned, report = prune(model, 0.5)
    assert list(report.units.values()) == [(6, 12), (4, 8)]
    assert [weight(pruned, f"w{i}").shape for i in range(3)] == [(10, 6), (6, 4), (4, 4)]
    assert run(pruned, np.ones((3, 10), np.float32)).shape == (3, 4)


def test_unstructured_zeroes_the_smallest_weights_but_keeps_every_shape() -> None:
    model = mlp_model([10, 20, 4])
    pruned, report = prune(model, 0.5, PruneMode.UNSTRUCTURED)
    w0, p0 = weight(model, "w0"), weight(pruned, "w0")
    assert p0.shape == w0.shape and (p0 == 0).sum() == w0.size // 2
    assert np.abs(w0[p0 == 0]).max() <= np.abs(w0[p0 != 0]).min()
    assert report.weights_after < report.weights_before


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_fraction_out_of_range_is_refused(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"--prune: fraction must be in \[0, 1\)"):
        prune(mlp_model([4, 8, 2]), fraction)


def test_a_model_without_hidden_layers_cannot_be_pruned_structurally() -> None:
    with pytest.raises(ConfigError, match="no prunable layer pair"):
        prune(mlp_model([4, 2]), 0.3)


def test_a_hidden_tensor_read_twice_is_not_cut() -> None:
    model = mlp_model([4, 8, 2])
    model.graph.output.append(helper.make_tensor_value_info("h0", onnx.TensorProto.FLOAT, None))
    assert find_units(model) == []
