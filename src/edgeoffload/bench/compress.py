"""``edgeoffload bench compress``: every model and variant, measured the same way.

For each model of :mod:`edgeoffload.compress.zoo` (trained here, seeded): fp32, INT8
dynamic, INT8 static (QDQ, calibrated on the training split), pruned 30 % (structured,
data-aware), pruned 30 % + INT8 (the recipe's mode), and a distilled student. Sizes are
file sizes; latencies are medians of interleaved rounds in this one process with one
intra-op thread (:mod:`edgeoffload.compress.measure`); accuracy is on the held-out split.

Writes OUT/compress.json (``{"models": {MODEL: {VARIANT: {size_bytes,
latency_ms_b1, latency_ms_b32, accuracy}}}, "meta": {...}}``) and the tables in
docs/compression.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeoffload.cli import Parser

from .common import DEST, machine, update_doc_section, write_json

VARIANTS = ("fp32", "int8_dynamic", "int8_static", "pruned_30", "pruned_30_int8", "distilled")
PRUNE_FRACTION = 0.3

#: Why a variant is not faster, where the profile (meta.op_time_us_b32) shows it.
#: Keyed by (variant, model has convolutions); shown when the batch-32 speed-up < 1.1x.
WHY_NOT_FASTER = {
    ("int8_dynamic", True): "Dynamic INT8 runs each Conv as ConvInteger, its input quantized at "
    "run time and its output dequantized by separate Cast/Mul/Add ops; ONNX Runtime's CPU "
    "ConvInteger kernel is far slower than its fp32 convolution",
    ("int8_static", True): "The QDQ pairs are fused into QLinearConv/QGemm as intended, but the "
    "int8 convolution kernel is itself no faster than the fp32 one here: the two convolutions "
    "reduce over 9 (3x3x1) and 144 (3x3x16) values per output on 8x8 maps, too little work for "
    "int8 dot products to pay, and quantizing the input and the NCHW/NHWC transposes come on top",
    ("pruned_30_int8", True): "Its int8 convolutions gain nothing on this model (see "
    "int8_static), so quantizing takes back what pruning saved; pruned_30 alone is the faster "
    "CNN",
}
#: Operator types listed per profile in the docs.
TOP_OPS = 4


def build_variants(
    name: str, work: Path, epochs: int | None
) -> tuple[dict[str, Path], Any, dict[str, list[int]]]:
    """Train model ``name`` and write its variants into ``work``.

    Returns:
        the variants' files, the held-out data, and the pruned layers' [kept, width].
    """
    from edgeoffload.compress import zoo
    from edgeoffload.compress.arch import parse_arch
    from edgeoffload.compress.data import load_data, subsample
    from edgeoffload.compress.distill import DistillSettings, distill
    from edgeoffload.compress.graph import load_model, save_model
    from edgeoffload.compress.prune import nchwc_block, prune
    from edgeoffload.compress.quantize import Int8Mode, quantize
    from edgeoffload.compress.training import export_onnx
    from edgeoffload.models.runtime import OnnxModel

    recipe = zoo.RECIPES[name]
    built = zoo.build(name, work, epochs=epochs)
    train, test = load_data(built.train), load_data(built.test)
    calib = subsample(train.x, recipe.calibration) if recipe.calibration else train.x
    out = {"fp32": built.onnx}
    out["int8_dynamic"] = quantize(built.onnx, work / f"{name}.int8_dynamic.onnx", Int8Mode.DYNAMIC)
    out["int8_static"] = quantize(
        built.onnx, work / f"{name}.int8_static.onnx", Int8Mode.STATIC, calib
    )
    pruned, report = prune(
        load_model(built.onnx), PRUNE_FRACTION, calibration=calib, conv_align=nchwc_block()
    )
    kept = {layer: list(counts) for layer, counts in report.units.items()}
    out["pruned_30"] = save_model(pruned, work / f"{name}.pruned_30.onnx")
    out["pruned_30_int8"] = quantize(
        out["pruned_30"], work / f"{name}.pruned_30_int8.onnx", Int8Mode(recipe.int8), calib
    )
    settings = DistillSettings() if epochs is None else DistillSettings(epochs=epochs)
    student = distill(OnnxModel(built.onnx), parse_arch(recipe.student), train, settings)
    out["distilled"] = export_onnx(student, train.x, work / f"{name}.distilled.onnx")
    return out, test, kept


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench compress")
    parser.add_argument("--repeats", type=int, default=21, help="interleaved timing rounds")
    parser.add_argument(
        "--work", default=None, help="where models are written (default: OUT/compress-work)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="override every training's epochs (a quick run)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave results and docs alone"
    )
    args = parser.parse_args(argv)

    from edgeoffload.compress import zoo
    from edgeoffload.compress.measure import Settings, measure, op_times
    from edgeoffload.compress.report import markdown_table, text_table

    settings = Settings(repeats=args.repeats, threads=1)
    work = Path(args.work) if args.work else DEST.out / "compress-work"
    load_before = os.getloadavg()
    t0 = time.monotonic()
    models: dict[str, dict[str, Any]] = {}
    tables: dict[str, str] = {}
    kept: dict[str, dict[str, list[int]]] = {}
    profiles: dict[str, dict[str, dict[str, float]]] = {}
    cpu: dict[str, dict[str, list[float | None]]] = {}
    held_out: dict[str, int] = {}
    for name in zoo.RECIPES:
        paths, test, kept[name] = build_variants(name, work, args.epochs)
        held_out[name] = len(test)
        rows = measure(paths, test, settings, reference="fp32")
        print(f"{name}:\n{text_table(rows, 'fp32')}\n", flush=True)
        models[name] = {v: rows[v].as_json() for v in VARIANTS}
        cpu[name] = {v: [_r(rows[v].cpu_ms_b1), _r(rows[v].cpu_ms_b32)] for v in VARIANTS}
        x32 = np.ascontiguousarray(np.resize(test.x, (32, *test.x.shape[1:])))
        profiles[name] = {v: op_times(paths[v], x32) for v in VARIANTS}
        tables[name] = (
            markdown_table(rows, "fp32") + _cpu_line(rows) + _notes(name, rows, profiles[name])
        )
    data = {
        "models": models,
        "meta": {
            "command": "edgeoffload bench compress " + " ".join(argv),
            "threads": settings.threads,
            "repeats": settings.repeats,
            "pruned_30_int8_mode": {n: r.int8 for n, r in zoo.RECIPES.items()},
            "students": {n: r.student for n, r in zoo.RECIPES.items()},
            "pruned_30_kept": kept,
            "cpu_ms_b1_b32": cpu,
            "op_time_us_b32": {
                m: {v: {op: round(us, 1) for op, us in p.items()} for v, p in per.items()}
                for m, per in profiles.items()
            },
            "held_out_samples": held_out,
            "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "seconds": round(time.monotonic() - t0, 1),
            "machine": machine("onnxruntime", "onnx", "torch", "scikit-learn"),
        },
    }
    if not args.no_write:
        write_json("compress.json", data)
        update_doc_section("compression.md", "compress", _doc(data, tables))
    return 0


def _notes(name: str, rows: Any, profiles: dict[str, dict[str, float]]) -> str:
    """One line per variant that is not faster at batch 32: why, and its profile."""
    from edgeoffload.compress.report import speedup

    conv = any("Conv" in op for op in profiles["fp32"])
    lines = []
    for variant in VARIANTS[1:]:
        gain = speedup(rows["fp32"].latency_ms_b32, rows[variant].latency_ms_b32)
        if gain is None or gain >= 1.1:
            continue
        reason = WHY_NOT_FASTER.get((variant, conv), "")
        lines.append(
            f"- **{variant}** is not faster ({gain:.2f}x at batch 32). {reason}"
            f"{'. ' if reason else ''}Profile, µs per batch-32 call: "
            f"{_ops(profiles[variant])} (fp32: {_ops(profiles['fp32'])})."
        )
    return ("\n\n" + "\n".join(lines)) if lines else ""


def _cpu_line(rows: Any) -> str:
    """The batch-32 CPU time of each variant (and its speed-up), for a loaded machine."""
    from edgeoffload.compress.report import speedup

    base = rows["fp32"].cpu_ms_b32
    parts = [
        f"{v} {rows[v].cpu_ms_b32:.4f} ms ({speedup(base, rows[v].cpu_ms_b32) or 0:.2f}x)"
        for v in VARIANTS
        if rows[v].cpu_ms_b32 is not None
    ]
    return (
        "\n\nCPU time of the calling thread per batch-32 call (median): " + ", ".join(parts) + "."
    )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _ops(profile: dict[str, float]) -> str:
    return ", ".join(f"{op} {us:.0f}" for op, us in list(profile.items())[:TOP_OPS])


def _doc(data: dict[str, Any], tables: dict[str, str]) -> str:
    meta = data["meta"]
    m = meta["machine"]
    load = meta["load_average_1m"]
    titles = {
        "digits_cnn": "digits_cnn: small CNN, 8x8 digits (16/32 conv channels, dense 64)",
        "digits_mlp": "digits_mlp: 784-1024-1024-10 MLP, digits upsampled to 28x28",
        "aoi_cnn": "aoi_cnn: the AOI defect classifier, 128x128 generated parts (six 3x3 "
        "convolutions, 265 MFLOPs per image; examples/aoi)",
    }
    parts = [
        f"`{meta['command'].strip()}` on {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
        f"onnxruntime {m['packages'].get('onnxruntime')}, one intra-op thread, "
        f"median of {meta['repeats']} interleaved rounds; 1-minute load average "
        f"{load[0]} before, {load[1]} after (the machine was shared). Accuracy on the "
        f"held-out samples ({', '.join(f'{k} {v}' for k, v in meta['held_out_samples'].items())});"
        " speed-ups against fp32. "
        f"Students: {', '.join(f'{k} `{v}`' for k, v in meta['students'].items())}. "
        f"pruned_30_int8 uses "
        f"{', '.join(f'{v} INT8 for {k}' for k, v in meta['pruned_30_int8_mode'].items())}.",
    ]
    for name, table in tables.items():
        parts.append(f"### {titles.get(name, name)}\n\n{table}")
    return "\n\n".join(parts)
