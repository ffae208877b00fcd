"""The prunable structure of a graph: which layer pairs are units, and how one is cut."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeoffload.compress.units import (
    align_for,
    channels_to_keep,
    columns,
    copy_model,
    cuts,
    find_units,
    kept_count,
    label,
    replace_initializers,
    weights_of,
)

from .conftest import mlp_model


def graph_model(
    nodes: list[onnx.NodeProto],
    inits: dict[str, np.ndarray],
    x_shape: list[int | str],
    outputs: tuple[str, ...] = ("y",),
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def gemm_pair(**first: int) -> onnx.ModelProto:
    """x(4) -Gemm-> 6 -Relu-> -Gemm-> 2, the first Gemm's attributes from ``first``."""
    w0 = np.ones((6, 4)) if first.get("transB", 1) else np.ones((4, 6))
    return graph_model(
        [
            helper.make_node("Gemm", ["x", "w0", "b0"], ["z"], name="fc0", **first),
            helper.make_node("Relu", ["z"], ["h"]),
            helper.make_node("Gemm", ["h", "w1"], ["y"], transB=1),
        ],
        {"w0": w0, "b0": np.zeros(6), "w1": np.ones((2, 6))},
        ["n", 4],
    )


def test_a_gemm_pair_is_one_unit_with_its_axes_and_bias() -> None:
    (unit,) = find_units(gemm_pair(transB=1))
    assert (unit.producer.weight, unit.producer.out_axis, unit.producer.in_axis) == ("w0", 0, 1)
    assert unit.producer.biases == ("b0",)
    assert (unit.consumer.weight, unit.consumer.in_axis, unit.width, unit.block) == ("w1", 1, 6, 1)
    assert label(unit) == "fc0"
    assert align_for(unit, 16) == 1


def test_gemm_without_transb_holds_its_outputs_on_axis_1() -> None:
    (unit,) = find_units(gemm_pair(transB=0))
    assert (unit.producer.out_axis, unit.producer.in_axis, unit.width) == (1, 0, 6)


def test_a_transposed_input_or_a_wrong_sized_bias_is_not_cut() -> None:
    assert find_units(gemm_pair(transB=1, transA=1)) == []
    model = gemm_pair(transB=1)
    replace_initializers(model, {"b0": np.zeros(5, np.float32)})
    assert find_units(model) == []


def test_a_weight_shared_by_two_nodes_is_not_cut() -> None:
    model = graph_model(
        [
            helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
            helper.make_node("Gemm", ["h", "w"], ["y"], transB=1),
        ],
        {"w": np.ones((4, 4))},
        ["n", 4],
    )
    assert find_units(model) == []


def test_matmul_takes_the_following_add_as_its_bias() -> None:
    (unit,) = find_units(mlp_model([5, 7, 3], matmul=True))
    assert unit.producer.biases == ("b0",)
    assert unit.producer.output == "z0"  # the Add's output, not the MatMul's
    assert (unit.producer.out_axis, unit.consumer.in_axis) == (1, 0)


def test_an_op_between_the_layers_that_is_not_channel_wise_stops_the_walk() -> None:
    model = graph_model(
        [
            helper.make_node("Gemm", ["x", "w0"], ["z"], transB=1),
            helper.make_node("Softmax", ["z"], ["h"]),
            helper.make_node("Gemm", ["h", "w1"], ["y"], transB=1),
        ],
        {"w0": np.ones((6, 4)), "w1": np.ones((2, 6))},
        ["n", 4],
    )
    assert find_units(model) == []


def conv_model(group: int = 1, bn: bool = False) -> onnx.ModelProto:
    """x(1,2,4,4) -Conv(4 ch)-> [BN] -Relu-> Flatten -Gemm-> 3."""
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], group=group, name="conv")]
    inits = {"cw": np.ones((4, 2 // group, 1, 1)), "cb": np.zeros(4)}
    tensor = "c"
    if bn:
        nodes.append(helper.make_node("BatchNormalization", ["c", "s", "o", "m", "v"], ["bn"]))
        inits |= {"s": np.ones(4), "o": np.zeros(4), "m": np.zeros(4), "v": np.ones(4)}
        tensor = "bn"
    nodes += [
        helper.make_node("Relu", [tensor], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1),
    ]
    inits["fw"] = np.ones((3, 4 * 16))
    return graph_model(nodes, inits, [1, 2, 4, 4])


def test_a_conv_unit_crosses_the_flatten_with_one_block_per_channel() -> None:
    (unit,) = find_units(conv_model(bn=True))
    assert (unit.width, unit.block) == (4, 16)
    assert unit.channel_params == ("s", "o", "m", "v")
    assert align_for(unit, 16) == 16
    keep = np.array([1, 3])
    assert cuts(unit, keep)[:5] == [
        ("cw", 0, keep),
        ("cb", -1, keep),
        ("s", -1, keep),
        ("o", -1, keep),
        ("m", -1, keep),
    ]
    name, axis, features = cuts(unit, keep)[-1]
    assert (name, axis) == ("fw", 1)
    assert features.tolist() == list(range(16, 32)) + list(range(48, 64))


def test_a_grouped_conv_is_not_a_layer() -> None:
    assert find_units(conv_model(group=2)) == []


def test_columns_give_each_kept_channel_its_block_of_features() -> None:
    assert columns(np.array([0, 2]), 3).tolist() == [0, 1, 2, 6, 7, 8]
    assert columns(np.array([4]), 1).tolist() == [4]


def test_channels_to_keep_are_the_highest_scores_in_ascending_order() -> None:
    scores = np.array([0.5, 3.0, 0.1, 2.0, 3.0])
    assert channels_to_keep(scores, 3).tolist() == [1, 3, 4]
    # Ties keep the earlier channel (stable order).
    assert channels_to_keep(np.ones(4), 2).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("width", "fraction", "align", "kept"),
    [(10, 0.0, 1, 10), (10, 0.99, 1, 1), (8, 0.3, 16, 6), (40, 0.5, 16, 16), (64, 0.1, 16, 64)],
)
def test_kept_count_edges(width: int, fraction: float, align: int, kept: int) -> None:
    # A unit narrower than the alignment is not aligned; the aligned count stays <= width.
    assert kept_count(width, fraction, align) == kept


def test_copy_model_and_replace_initializers() -> None:
    model = mlp_model([3, 4, 2])
    copy = copy_model(model)
    replace_initializers(copy, {"b0": np.full(4, 7.0, np.float32)})
    assert weights_of(copy)["b0"].tolist() == [7.0] * 4
    assert weights_of(model)["b0"].tolist() != [7.0] * 4
    assert list(weights_of(copy)) == ["w0", "b0", "w1", "b1"]
