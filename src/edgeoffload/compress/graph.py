"""Reading, checking and writing ONNX model files (the ``onnx`` package, no runtime)."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from ..errors import ConfigError
from ..models.runtime import TensorSpec

#: ONNX element types -> numpy dtype names (the ones models take as inputs).
ONNX_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.BOOL: "bool",
}


def load_model(path: str | Path, option: str = "MODEL") -> onnx.ModelProto:
    """Load and check an ONNX model (external weight files next to it are read too).

    Raises:
        ConfigError: missing file, not an ONNX protobuf, or a graph the ONNX checker
            rejects; the message names ``option`` and the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{option}: no such file: {path}")
    try:
        model = onnx.load(str(path))
    except (DecodeError, RuntimeError, OSError) as exc:
        raise ConfigError(f"{option}: {path} is not an ONNX model file ({exc})") from None
    if not model.graph.node:
        raise ConfigError(f"{option}: {path} is not an ONNX model file (no graph nodes)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{option}: {path} is not a valid ONNX model: {first}") from None
    return model


def data_input(model: onnx.ModelProto) -> TensorSpec:
    """The model's first input that is not an initializer (the data it is run on).

    Raises:
        ConfigError: the model takes no data input.
    """
    weights = {init.name for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in weights:
            continue
        tensor = value.type.tensor_type
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        dtype = ONNX_DTYPES.get(tensor.elem_type, onnx.TensorProto.DataType.Name(tensor.elem_type))
        return TensorSpec(value.name, shape, dtype)
    raise ConfigError("the model has no data input")


def compact(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with short tensor names (``t0``, ``t1``...), no shape annotations
    (``value_info``) and no doc strings, in place.

    The graph computes the same and keeps the names of its inputs, outputs and nodes
    (which profiles and pruning reports show; a node without a unique name gets
    ``n<index>``). The long tensor names exporters and quantizers write weigh in small
    models: 11 % of the digits CNN's static INT8 file (docs/compression.md).
    """
    g = model.graph
    del g.value_info[:]
    model.doc_string = ""
    nested = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    if g.sparse_initializer or any(a.type in nested for n in g.node for a in n.attribute):
        return model  # subgraphs may name outer tensors: names left as they are
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for tensor in g.initializer:
        tensor.name = short(tensor.name)
    seen: set[str] = set()
    for i, node in enumerate(g.node):
        if not node.name or node.name in seen:
            node.name = f"n{i}"
        seen.add(node.name)
        node.doc_string = ""
        node.input[:] = [short(x) for x in node.input]
        node.output[:] = [short(x) for x in node.output]
    return model


def save_model(model: onnx.ModelProto, path: str | Path) -> Path:
    """Write ``model`` as one self-contained file after checking it, its internal names
    compacted (:func:`compact`)."""
    compact(model)
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
