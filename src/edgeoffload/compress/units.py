"""The prunable structure of an ONNX graph: layers, units, and cutting them.

A *unit* is a hidden dimension between two weight layers::

    producer (Gemm | MatMul [+ Add bias] | Conv, group 1)
      -> channel-wise ops (Relu, Sigmoid, MaxPool, BatchNormalization, ...)
      -> [Flatten, when the producer is a Conv: each channel is H*W consecutive features]
      -> consumer (Gemm | MatMul | Conv, group 1) on its data input

Removing channel j of a unit removes the producer's output j (its weight row, bias,
and any per-channel parameters on the way) and the consumer's input features of j.
Graph outputs, tensors read by two nodes, and weights shared by two nodes are never
cut, so the pruned model computes the same function of the remaining channels and its
inputs and outputs keep their shapes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

#: Ops that act on each element alone: any channel layout passes through them.
ELEMENTWISE_OPS = frozenset(
    {"Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"}
    | {"Softplus", "Gelu", "Identity", "Dropout"}
)


#: Ops that act on each channel of axis 1 separately (NCHW feature maps, or the
#: features of a Gemm's 2-D output).
AXIS1_OPS = frozenset(
    {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization"}
)


@dataclass(frozen=True, slots=True)
class Layer:
    """A node with a weight initializer: which weight axis holds its outputs and inputs."""

    node: onnx.NodeProto
    weight: str
    out_axis: int
    in_axis: int
    #: Bias initializers of its outputs: Gemm's C, Conv's B, or a MatMul's Add.
    biases: tuple[str, ...]
    #: The tensor holding its outputs (after the bias Add, for MatMul + Add).
    output: str


@dataclass(frozen=True, slots=True)
class Unit:
    """A prunable hidden dimension of ``width`` channels between two layers."""

    producer: Layer
    consumer: Layer
    width: int
    #: Consumer input features per channel: 1, or H*W after a Flatten.
    block: int
    #: Per-channel parameters of channel-wise ops on the way (BatchNormalization).
    channel_params: tuple[str, ...] = ()


def find_units(model: onnx.ModelProto) -> list[Unit]:
    """Every prunable hidden dimension of ``model`` (see the module docstring)."""
    graph = _Graph(model)
    units = []
    for node in model.graph.node:
        producer = graph.layer(node)
        if producer is not None:
            unit = graph.follow(producer)
            if unit is not None:
                units.append(unit)
    return units


class _Graph:
    """Look-ups over one model: initializers, use counts, consumers, inferred shapes."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.inits = {t.name: t for t in model.graph.initializer}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        self.uses: dict[str, int] = defaultdict(int)
        for node in model.graph.node:
            for name in node.input:
                self.consumers[name].append(node)
                self.uses[name] += 1
        self.outputs = {o.name for o in model.graph.output}
        self.shapes = _shapes(model)

    def sole_consumer(self, tensor: str) -> onnx.NodeProto | None:
        """The one node reading ``tensor``; None if it is a graph output or read twice."""
        nodes = self.consumers.get(tensor, [])
        if tensor in self.outputs or len(nodes) != 1:
            return None
        return nodes[0]

    def private(self, name: str) -> bool:
        """``name`` is an initializer read by exactly one node (safe to cut)."""
        return name in self.inits and self.uses[name] == 1

    def layer(self, node: onnx.NodeProto) -> Layer | None:
        """``node`` as a :class:`Layer`, or None when it is not one we can cut."""
        if len(node.input) < 2 or not self.private(node.input[1]):
            return None
        dims = list(self.inits[node.input[1]].dims)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        output = node.output[0]
        if node.op_type == "Gemm" and attrs.get("transA", 0) == 0 and len(dims) == 2:
            out_axis = 0 if attrs.get("transB", 0) else 1
            if bias is not None and not (
                self.private(bias) and _size(self.inits[bias]) == dims[out_axis]
            ):
                return None
        elif node.op_type == "MatMul" and len(dims) == 2:
            out_axis, bias = 1, None
            add = self.sole_consumer(output)
            if add is not None and add.op_type == "Add":
                other = add.input[1] if add.input[0] == output else add.input[0]
                if self.private(other) and list(self.inits[other].dims) in (
                    [dims[1]],
                    [1, dims[1]],
                ):
                    bias, output = other, add.output[0]
        elif node.op_type == "Conv" and attrs.get("group", 1) == 1 and len(dims) >= 3:
            out_axis = 0
            if bias is not None and not self.private(bias):
                return None
        else:
            return None
        biases = () if bias is None else (bias,)
        return Layer(node, node.input[1], out_axis, 1 - out_axis, biases, output)

    def follow(self, producer: Layer) -> Unit | None:
        """Walk from ``producer``'s output through channel-wise ops to the next layer."""
        width = int(self.inits[producer.weight].dims[producer.out_axis])
        axis1_ok = producer.node.op_type in ("Conv", "Gemm")
        tensor, block, flattened = producer.output, 1, False
        params: list[str] = []
        while True:
            node = self.sole_consumer(tensor)
            if node is None or node.input[0] != tensor:
                return None
            if any(node.output[1:]):  # a second output used (MaxPool indices, Dropout mask)
                return None
            if node.op_type in ELEMENTWISE_OPS or (
                node.op_type in AXIS1_OPS and axis1_ok and not flattened
            ):
                if node.op_type == "BatchNormalization":
                    if not all(self.private(p) for p in node.input[1:5]):
                        return None
                    params.extend(node.input[1:5])
                tensor = node.output[0]
            elif node.op_type == "Flatten" and producer.node.op_type == "Conv" and not flattened:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                dims = self.shapes.get(tensor)
                if axis != 1 or dims is None or dims[1] != width or None in dims[2:]:
                    return None
                block = int(np.prod([d or 1 for d in dims[2:]]))
                tensor, flattened = node.output[0], True
            else:
                consumer = self.layer(node)
                if consumer is None:
                    return None
                fits = self.inits[consumer.weight].dims[consumer.in_axis] == width * block
                conv_to_dense = producer.node.op_type == "Conv" and consumer.node.op_type != "Conv"
                if not fits or (conv_to_dense and not flattened):
                    return None
                return Unit(producer, consumer, width, block, tuple(params))


def kept_count(width: int, fraction: float, align: int = 1) -> int:
    """How many of ``width`` channels to keep: ``width - round(fraction * width)``, at
    least one, and, if ``align`` > 1, rounded to the nearest multiple of ``align``
    (at least ``align``, at most ``width``)."""
    keep = max(1, width - round(fraction * width))
    if align > 1 and width >= align:
        keep = min(width, max(align, align * round(keep / align)))
    return keep


def channels_to_keep(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices (ascending) of the ``count`` highest scores."""
    order = np.argsort(-scores, kind="stable")[:count]
    return np.sort(order)


def cuts(unit: Unit, keep: np.ndarray) -> list[tuple[str, int, np.ndarray]]:
    """(initializer, axis, indices to keep) for one unit: producer outputs, its biases
    and channel parameters, the consumer's input features."""
    out: list[tuple[str, int, np.ndarray]] = [(unit.producer.weight, unit.producer.out_axis, keep)]
    out += [(name, -1, keep) for name in (*unit.producer.biases, *unit.channel_params)]
    out.append((unit.consumer.weight, unit.consumer.in_axis, columns(keep, unit.block)))
    return out


def columns(keep: np.ndarray, block: int) -> np.ndarray:
    """Feature indices of the kept channels (each channel owns ``block`` features)."""
    columns: np.ndarray = (keep[:, None] * block + np.arange(block)).reshape(-1)
    return columns


def align_for(unit: Unit, conv_align: int) -> int:
    """The channel multiple for ``unit``: ``conv_align`` for a Conv producer, else 1."""
    return conv_align if unit.producer.node.op_type == "Conv" else 1


def label(unit: Unit) -> str:
    """A unit's name in reports: its producer node's name (or weight's)."""
    return unit.producer.node.name or unit.producer.weight


def weights_of(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every initializer of ``model`` as a numpy array, by name."""
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy (graph edits on it leave ``model`` alone)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def replace_initializers(model: onnx.ModelProto, arrays: dict[str, np.ndarray]) -> None:
    """Overwrite the named initializers of ``model`` with ``arrays`` (in place)."""
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.name in arrays:
            new = numpy_helper.from_array(arrays[tensor.name], tensor.name)
            model.graph.initializer[i].CopyFrom(new)


def _size(tensor: onnx.TensorProto) -> int:
    return int(np.prod(tensor.dims)) if tensor.dims else 1


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Inferred shapes of the model's tensors (None for a dynamic dimension)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except onnx.shape_inference.InferenceError:
        return {}
    out: dict[str, list[int | None]] = {}
    graph = inferred.graph
    for value in (*graph.value_info, *graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        out[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return out
