"""Pruning of ONNX models: whole neurons and channels (structured), or single weights.

Structured pruning is the one that makes a model faster: ONNX Runtime's dense kernels
do the same work on a zero as on any other number, so zeroing 30 % of the weights
(``unstructured``) changes neither the time nor the file size, while removing 30 % of
a layer's neurons removes their rows from its weight matrix *and* their columns from
the next layer's, and the matrix products shrink with them.

The graph is edited directly (the ``onnx`` package and numpy; no torch, no retraining),
so any ONNX model with the supported patterns (:mod:`.units`) can be pruned: the
bundled models, a user's file, the decision engine's model. Each unit keeps its
``1 - fraction`` most important channels. Importance of channel j
is ``|producer weights and bias of j| * |consumer weights reading j|`` (L2 norms): for
ReLU-like layers, the size of what j can add to the next layer's input. Graph outputs,
tensors read by two nodes, and weights shared by two nodes are never cut, so the
pruned model computes the same function of the remaining channels and its inputs and
outputs keep their shapes.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx

from ..errors import ConfigError
from .reconstruct import prune_with_data
from .units import (
    Unit,
    align_for,
    channels_to_keep,
    copy_model,
    cuts,
    find_units,
    kept_count,
    label,
    replace_initializers,
    weights_of,
)


class PruneMode(enum.StrEnum):
    """``structured``: remove neurons/channels (faster, smaller). ``unstructured``: zero
    the smallest weights of each layer (same size and speed; for comparison)."""

    STRUCTURED = "structured"
    UNSTRUCTURED = "unstructured"


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What was cut. ``units``: structured, producer node -> (channels kept, width);
    unstructured, weight -> (non-zero weights, size). Weights count non-zero floats."""

    mode: PruneMode
    fraction: float
    units: dict[str, tuple[int, int]] = field(default_factory=dict)
    weights_before: int = 0
    weights_after: int = 0


def check_fraction(fraction: float) -> float:
    """The fraction itself, if it is in [0, 1).

    Raises:
        ConfigError: it is not (pruning everything would leave no model).
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"--prune: fraction must be in [0, 1), got {fraction}")
    return fraction


def prune(
    model: onnx.ModelProto,
    fraction: float,
    mode: PruneMode = PruneMode.STRUCTURED,
    calibration: np.ndarray | None = None,
    conv_align: int = 1,
) -> tuple[onnx.ModelProto, PruneReport]:
    """A pruned copy of ``model`` and a report of what was cut.

    Args:
        model: the model (not modified).
        fraction: share of each unit's channels to remove, in [0, 1).
        mode: structured (remove channels) or unstructured (zero weights).
        calibration: model inputs (already of the input's dtype). With them, structured
            pruning selects channels by measured contribution and refits the next
            layer (:mod:`.reconstruct`); without, it ranks channels by weight norms.
        conv_align: round the channels a Conv keeps to a multiple of this (structured;
            :func:`nchwc_block` gives the one that keeps ONNX Runtime's fast kernels).

    Raises:
        ConfigError: fraction outside [0, 1), or (structured) no prunable unit found.
    """
    check_fraction(fraction)
    model = copy_model(model)
    if mode is PruneMode.UNSTRUCTURED:
        return _prune_unstructured(model, fraction)
    units = find_units(model)
    if not units:
        raise ConfigError(
            "--prune: no prunable layer pair found (structured pruning needs Gemm, MatMul or "
            "Conv layers joined by channel-wise ops; try --prune-mode unstructured)"
        )
    before = _count_weights(weights_of(model))
    if calibration is None:
        pruned, kept = _prune_by_weights(model, units, fraction, conv_align)
    else:
        pruned, kept = prune_with_data(model, units, fraction, calibration, conv_align)
    del pruned.graph.value_info[:]  # shapes of hidden tensors changed; re-inferred here
    pruned = onnx.shape_inference.infer_shapes(pruned)
    after = _count_weights(weights_of(pruned))
    return pruned, PruneReport(PruneMode.STRUCTURED, fraction, kept, before, after)


def importance(unit: Unit, weights: dict[str, np.ndarray]) -> np.ndarray:
    """Per-channel importance: producer norm (weights and bias) times consumer norm."""
    w = np.moveaxis(weights[unit.producer.weight], unit.producer.out_axis, 0)
    produced = np.square(w.reshape(unit.width, -1)).sum(axis=1)
    for bias in unit.producer.biases:
        produced = produced + np.square(weights[bias].reshape(-1))
    c = np.moveaxis(weights[unit.consumer.weight], unit.consumer.in_axis, 0)
    consumed = np.square(c.reshape(unit.width, unit.block, -1)).sum(axis=(1, 2))
    score: np.ndarray = np.sqrt(produced) * np.sqrt(consumed)
    return score


def nchwc_block() -> int:
    """The channel block of ONNX Runtime's NCHWc convolutions on this CPU: 16 with
    AVX-512, 8 with AVX2, else 1 (MLAS picks its kernels the same way).

    Measured here (AVX-512, the bundled CNN, batch 32; docs/compression.md): pruned to
    11/22 conv channels it ran 0.70x as fast as unpruned, to 16/16 channels 1.28x. A
    channel count that is not a multiple of the block falls off the blocked kernels.
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return 1
    if "avx512f" in flags:
        return 16
    return 8 if "avx2" in flags else 1


def _prune_by_weights(
    model: onnx.ModelProto, units: list[Unit], fraction: float, conv_align: int
) -> tuple[onnx.ModelProto, dict[str, tuple[int, int]]]:
    """Data-free: rank channels by weight norms, cut, no repair."""
    weights = weights_of(model)
    # Every cut is decided on the original weights, then applied: a layer between two
    # units loses output rows for one and input columns for the other, which commute.
    planned: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    kept: dict[str, tuple[int, int]] = {}
    for unit in units:
        count = kept_count(unit.width, fraction, align_for(unit, conv_align))
        keep = channels_to_keep(importance(unit, weights), count)
        kept[label(unit)] = (len(keep), unit.width)
        for name, axis, index in cuts(unit, keep):
            planned[name].append((axis, index))
    new = {}
    for name, edits in planned.items():
        array = weights[name]
        for axis, index in edits:
            array = np.take(array, index, axis=axis)
        new[name] = array
    replace_initializers(model, new)
    return model, kept


def _prune_unstructured(
    model: onnx.ModelProto, fraction: float
) -> tuple[onnx.ModelProto, PruneReport]:
    """Zero the smallest ``fraction`` of each layer weight (by magnitude)."""
    inits = {t.name: t for t in model.graph.initializer}
    names = {
        node.input[1]
        for node in model.graph.node
        if node.op_type in ("Gemm", "MatMul", "Conv")
        and len(node.input) > 1
        and node.input[1] in inits
    }
    weights = weights_of(model)
    new: dict[str, np.ndarray] = {}
    for name in sorted(names):
        flat = weights[name].reshape(-1).copy()
        flat[np.argsort(np.abs(flat), kind="stable")[: round(fraction * flat.size)]] = 0
        new[name] = flat.reshape(weights[name].shape)
    replace_initializers(model, new)
    counts = {n: (int(np.count_nonzero(w)), int(w.size)) for n, w in new.items()}
    after = _count_weights(weights_of(model))
    return model, PruneReport(
        PruneMode.UNSTRUCTURED, fraction, counts, _count_weights(weights), after
    )


def _count_weights(weights: dict[str, np.ndarray]) -> int:
    """Non-zero floating-point parameters."""
    return sum(
        int(np.count_nonzero(w)) for w in weights.values() if np.issubdtype(w.dtype, np.floating)
    )
