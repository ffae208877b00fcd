"""Fixtures for the compression tests: the digits, the bundled CNN, hand-built graphs."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeoffload.compress.data import Dataset, digits, save_data
from edgeoffload.models import bundled


@pytest.fixture(scope="session")
def digits8() -> tuple[Dataset, Dataset]:
    """scikit-learn's digits, (train, held-out), images (n, 1, 8, 8)."""
    return digits(8)


@pytest.fixture(scope="session")
def cnn() -> Path:
    """The bundled digits CNN."""
    return bundled("digits_cnn")


@pytest.fixture
def data_files(tmp_path: Path, digits8: tuple[Dataset, Dataset]) -> tuple[Path, Path]:
    """The digits as data files: (train.npz, test.npz)."""
    train, test = digits8
    return save_data(tmp_path / "train.npz", train), save_data(tmp_path / "test.npz", test)


def mlp_model(
    sizes: Sequence[int], seed: int = 0, matmul: bool = False, dead: Sequence[int] = ()
) -> onnx.ModelProto:
    """A ReLU MLP as a hand-built ONNX graph (Gemm with transB=1, or MatMul + Add).

    ``dead``: hidden neurons of the first hidden layer whose incoming weights and bias
    are zero (their ReLU output is always 0, so removing them changes nothing).
    """
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    tensor = "x"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)
        if i == 0 and dead:
            w[list(dead)] = 0
            b[list(dead)] = 0
        out = f"h{i}" if i < len(sizes) - 2 else "y"
        pre = f"z{i}" if out != "y" else "y"
        if matmul:
            inits += [
                numpy_helper.from_array(w.T.copy(), f"w{i}"),
                numpy_helper.from_array(b, f"b{i}"),
            ]
            nodes.append(helper.make_node("MatMul", [tensor, f"w{i}"], [f"m{i}"]))
            nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [pre]))
        else:
            inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
            nodes.append(helper.make_node("Gemm", [tensor, f"w{i}", f"b{i}"], [pre], transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [pre], [out]))
        tensor = out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", sizes[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
