"""INT8 quantization with ``onnxruntime.quantization`` (dynamic or static QDQ).

- **dynamic**: weights are stored as int8; activations are quantized at run time, per
  batch, from their observed range (``DynamicQuantizeLinear`` + ``MatMulInteger``).
  Needs no data. Pays on large matrix products (Gemm/MatMul); convolutions become
  ``ConvInteger``, which ONNX Runtime's CPU kernels run slower than fp32 Conv.
- **static** (QDQ format, per-channel weights): activation ranges are fixed from
  calibration inputs, and ONNX Runtime fuses each QuantizeLinear/DequantizeLinear
  pair with its operator into ``QLinearConv``/``QGemm`` kernels. Needs data; the
  format ONNX Runtime recommends for CNNs.

The output's internal names are compacted (:func:`.graph.compact`). Both first run
ONNX Runtime's pre-processing (ONNX shape inference and graph
optimisation). Its symbolic shape inference is skipped: it imports sympy and took 3 s
per model here, and serves models with symbolic dimensions inside the graph
(transformers), not these.
"""

from __future__ import annotations

import contextlib
import enum
import io
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..errors import ConfigError
from .data import conform, subsample
from .graph import data_input, load_model, save_model


class Int8Mode(enum.StrEnum):
    """How activations are quantized (see the module docstring)."""

    DYNAMIC = "dynamic"
    STATIC = "static"


#: Calibration methods by their CLI names.
CALIBRATION_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}

#: Samples per calibration batch when the model's batch dimension is free.
CALIBRATION_BATCH = 64


class _Reader(CalibrationDataReader):  # type: ignore[misc]
    """Feeds calibration inputs to ``quantize_static`` one batch at a time.

    Every batch has the same size (the last is completed with samples from the start):
    the entropy and percentile calibrators of onnxruntime 1.32 stack the batches into
    one array and fail on a short last batch ("inhomogeneous shape").
    """

    def __init__(self, name: str, x: np.ndarray, batch: int) -> None:
        batch = min(batch, len(x))
        n = -(-len(x) // batch) * batch
        padded = np.resize(x, (n, *x.shape[1:]))
        self._batches: Iterator[np.ndarray] = (padded[i : i + batch] for i in range(0, n, batch))
        self._name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}


def quantize(
    src: str | Path,
    dst: str | Path,
    mode: Int8Mode,
    calibration: np.ndarray | None = None,
    *,
    method: str = "minmax",
    per_channel: bool = True,
    op_types: Sequence[str] | None = None,
    qoperator: bool = False,
) -> Path:
    """Write an INT8 version of the model ``src`` to ``dst``.

    Args:
        mode: dynamic or static.
        calibration: model inputs for static mode (at most
            :data:`~.data.MAX_CALIBRATION` are used).
        method: static calibration method, a key of :data:`CALIBRATION_METHODS`.
        per_channel: static mode: one scale per output channel of each weight.
        op_types: quantize only these operator types (default: all that ONNX Runtime
            supports, e.g. ``["MatMul", "Gemm"]`` keeps Conv in fp32).
        qoperator: static mode: write QOperator nodes (``QLinearConv``...) instead of
            QDQ pairs. ONNX Runtime fuses QDQ into the same kernels on the CPU; the AOI
            CNN measured both (docs/compression.md).

    Raises:
        ConfigError: static mode without calibration data, inputs that do not fit
            the model, an unknown method, or a model that cannot be loaded.
    """
    src, dst = Path(src), Path(dst)
    spec = data_input(load_model(src))
    if mode is Int8Mode.STATIC:
        if calibration is None:
            raise ConfigError(
                "--int8 static needs calibration data: --calibration FILE (.npz with 'x')"
            )
        if method not in CALIBRATION_METHODS:
            raise ConfigError(
                f"--calibration-method: {method!r} is not one of {', '.join(CALIBRATION_METHODS)}"
            )
        calibration = conform(subsample(calibration), spec, "--calibration")
    dst.parent.mkdir(parents=True, exist_ok=True)
    types = list(op_types) if op_types else None
    with tempfile.TemporaryDirectory(prefix="edgeoffload-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        if mode is Int8Mode.DYNAMIC:
            quantize_dynamic(pre, dst, weight_type=QuantType.QInt8, op_types_to_quantize=types)
        else:
            assert calibration is not None
            batch = spec.shape[0] or CALIBRATION_BATCH
            # The histogram calibrators print progress to stdout; keep the CLI's tidy.
            with contextlib.redirect_stdout(io.StringIO()):
                _quantize_static(
                    pre, dst, spec.name, calibration, batch, method, per_channel, types, qoperator
                )
    return save_model(load_model(dst), dst)  # names compacted


def _quantize_static(
    src: Path,
    dst: Path,
    name: str,
    x: np.ndarray,
    batch: int,
    method: str,
    per_channel: bool,
    op_types: list[str] | None,
    qoperator: bool = False,
) -> None:
    quantize_static(
        src,
        dst,
        _Reader(name, x, batch),
        quant_format=QuantFormat.QOperator if qoperator else QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CALIBRATION_METHODS[method],
        op_types_to_quantize=op_types,
    )
