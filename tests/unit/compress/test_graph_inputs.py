"""Graph helpers on hand-built models: the data input, refusals, what compacting skips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeoffload.compress.graph import compact, data_input, load_model
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import TensorSpec


def model_of(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    inits: list[onnx.TensorProto] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1])],
        inits or [],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_data_input_skips_initializers_listed_as_inputs() -> None:
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    model = model_of(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 2]),  # old exporters
            helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", 3]),
        ],
        [w],
    )
    assert data_input(model) == TensorSpec("x", (None, 3), "float64")


def test_a_model_without_data_input_is_refused() -> None:
    c = numpy_helper.from_array(np.ones(2, np.float32), "c")
    model = model_of([helper.make_node("Identity", ["c"], ["y"])], [], [c])
    with pytest.raises(ConfigError, match="the model has no data input"):
        data_input(model)


def test_an_empty_or_invalid_graph_is_refused(tmp_path: Path) -> None:
    empty = model_of([], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])])
    onnx.save(empty, tmp_path / "empty.onnx")
    with pytest.raises(
        ConfigError, match=r"--model: .*empty\.onnx is not an ONNX model file \(no graph nodes\)"
    ):
        load_model(tmp_path / "empty.onnx", "--model")
    # A node reading a tensor nobody defines: the checker's first line is quoted.
    broken = model_of(
        [helper.make_node("Relu", ["nowhere"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
    )
    onnx.save(broken, tmp_path / "broken.onnx")
    with pytest.raises(ConfigError, match=r"broken\.onnx is not a valid ONNX model: .*nowhere"):
        load_model(tmp_path / "broken.onnx")


def test_compact_leaves_tensor_names_of_graphs_with_subgraphs() -> None:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["outer_long_name"], ["b"])],
        "branch",
        [],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)],
    )
    model = model_of(
        [
            helper.make_node("Relu", ["x"], ["outer_long_name"]),
            helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch),
        ],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
    )
    model.doc_string = "exported by something"
    compact(model)
    assert model.graph.node[0].output[0] == "outer_long_name"
    assert model.doc_string == ""


def test_compact_renames_inner_tensors_in_first_use_order() -> None:
    w = numpy_helper.from_array(np.ones((1, 1), np.float32), "weights/of/layer")
    model = model_of(
        [
            helper.make_node("MatMul", ["x", "weights/of/layer"], ["hidden/one"], name="mm"),
            helper.make_node("Relu", ["hidden/one"], ["y"], name="mm"),  # duplicate name
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [w],
    )
    compact(model)
    assert model.graph.initializer[0].name == "t0"
    assert [list(n.input) for n in model.graph.node] == [["x", "t0"], ["t1"]]
    assert [list(n.output) for n in model.graph.node] == [["t1"], ["y"]]
    assert [n.name for n in model.graph.node] == ["mm", "n1"]
    onnx.checker.check_model(model)
