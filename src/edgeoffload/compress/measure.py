"""Measuring model files: size, latency at batch 1 and 32, accuracy, agreement.

Variants are compared fairly: one process, the same session settings (one intra-op
thread unless told otherwise), and *interleaved* rounds (each round times every
variant once, in turn), so a burst of load from another process hits all variants
alike instead of one. A figure is the median over rounds of the mean time per call
within a round.

Latency is wall-clock time. The CPU time of the calling thread is recorded beside it:
with one intra-op thread ONNX Runtime computes on the caller's thread, so CPU time
leaves out the time the process waited for a core, which on a shared machine is most
of the difference between two runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.runtime import OnnxModel
from .data import Dataset, conform
from .report import Measurement, Quality, quality

#: Target duration of one timed sample (calls are repeated until it is reached):
#: long enough that timer resolution and one-off scheduling hiccups do not matter.
SAMPLE_S = 0.02
#: Batch sizes timed (the report's two latency columns).
BATCH_SIZES = (1, 32)
#: Samples per call when scoring accuracy.
SCORE_BATCH = 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """How models are run and timed.

    Attributes:
        repeats: interleaved rounds per batch size (the median is reported).
        threads: intra-op threads of every session.
        warmup: untimed calls per model and batch size before the first round.
    """

    repeats: int = 15
    threads: int = 1
    warmup: int = 5


def inputs_for(model: OnnxModel, data: Dataset | None, size: int, seed: int = 0) -> np.ndarray:
    """A batch of ``size`` inputs: from ``data`` (repeated if it is short), else random
    normal values of the model's input shape (for timing a model without data)."""
    spec = model.input
    if data is not None:
        x = conform(data.x, spec)
        return np.ascontiguousarray(np.resize(x, (size, *x.shape[1:])))
    dims = [size] + [d or 1 for d in spec.shape[1:]]
    return np.random.default_rng(seed).standard_normal(dims).astype(spec.dtype)


def outputs(model: OnnxModel, data: Dataset) -> np.ndarray:
    """The model's first output for all of ``data`` (run in batches)."""
    x = conform(data.x, model.input)
    step = model.input.shape[0] or SCORE_BATCH
    return np.concatenate([model.run(x[i : i + step]) for i in range(0, len(x), step)])


def measure(
    paths: Mapping[str, str | Path],
    data: Dataset | None = None,
    settings: Settings = Settings(),
    reference: str | None = None,
) -> dict[str, Measurement]:
    """Measure each model file (name -> path); see the module docstring for fairness.

    Args:
        data: inputs for latency and, when labelled, accuracy; random inputs if None.
        reference: the name whose outputs the others' are compared with (the
            uncompressed model): ``agreement`` and ``deviation``.
    """
    models = {name: OnnxModel(path, settings.threads) for name, path in paths.items()}
    outs = {name: outputs(m, data) for name, m in models.items()} if data is not None else {}
    times: dict[tuple[str, int], list[float]] = {}
    batches: dict[tuple[str, int], np.ndarray] = {}
    calls: dict[tuple[str, int], int] = {}
    for name, model in models.items():
        for size in BATCH_SIZES:
            fixed = model.input.shape[0]
            if fixed is not None and fixed != size:
                continue  # a fixed batch dimension: no figure for other sizes
            x = batches[name, size] = inputs_for(model, data, size)
            for _ in range(settings.warmup):
                model.run(x)
            t0 = time.perf_counter()
            model.run(x)
            calls[name, size] = max(1, int(SAMPLE_S / max(time.perf_counter() - t0, 1e-7)))
            times[name, size] = []
    cpu: dict[tuple[str, int], list[float]] = {key: [] for key in times}
    for _ in range(settings.repeats):
        for key, samples in times.items():
            model, x, n = models[key[0]], batches[key], calls[key]
            t0, c0 = time.perf_counter(), time.thread_time()
            for _ in range(n):
                model.run(x)
            samples.append((time.perf_counter() - t0) / n * 1e3)
            cpu[key].append((time.thread_time() - c0) / n * 1e3)
    out = {}
    for name in models:
        q = Quality()
        if data is not None:
            q = quality(outs[name], data.y, outs[reference] if reference else None)
        b1, b32 = (_median(times.get((name, s))) for s in BATCH_SIZES)
        cpu1, cpu32 = (_median(cpu.get((name, s))) for s in BATCH_SIZES)
        size = Path(paths[name]).stat().st_size
        out[name] = Measurement(
            size, b1, b32, q.accuracy, q.agreement, q.mae, q.deviation, cpu1, cpu32
        )
    return out


def _median(samples: list[float] | None) -> float | None:
    return float(np.median(samples)) if samples else None


def op_times(
    path: str | Path, x: np.ndarray, runs: int = 200, threads: int = 1
) -> dict[str, float]:
    """Microseconds per run spent in each operator type, from ONNX Runtime's profiler
    (the median of each node over ``runs`` calls, summed per type), most costly first.

    This is where the "why is it not faster" answers of docs/compression.md come from:
    the profile names the kernels ONNX Runtime really ran after its graph fusions.
    """
    import json
    import tempfile

    from ..models.runtime import import_onnxruntime

    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="edgeoffload-profile-") as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for _ in range(runs):
            session.run(None, {name: x})
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[tuple[str, str], list[float]] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            key = (event["name"], event["args"]["op_name"])
            per_node.setdefault(key, []).append(float(event["dur"]))
    per_op: dict[str, float] = {}
    for (_, op), durations in per_node.items():
        per_op[op] = per_op.get(op, 0.0) + float(np.median(durations))
    return dict(sorted(per_op.items(), key=lambda kv: -kv[1]))
