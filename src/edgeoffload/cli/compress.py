"""``edgeoffload compress MODEL --out OUT``: INT8 quantization and pruning of a model.

Works on any ONNX file (or a PyTorch model, exported first) and prints size, latency
and accuracy before and after. ``--build-models DIR`` instead trains and exports the
models of docs/compression.md (needs the ``train`` extra).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from ..compress.data import Dataset

TORCH_SUFFIXES = (".pt", ".pth")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", nargs="?", help="an ONNX model (.onnx), or a PyTorch model (.pt/.pth)"
    )
    parser.add_argument("--out", metavar="FILE", help="where to write the compressed model")
    parser.add_argument("--int8", choices=("dynamic", "static"), help="INT8 quantization")
    parser.add_argument(
        "--prune", type=float, metavar="FRACTION", help="remove this share of neurons/channels"
    )
    parser.add_argument(
        "--prune-mode",
        choices=("structured", "unstructured"),
        default="structured",
        help="structured removes whole neurons/channels (faster); unstructured zeros "
        "single weights (no faster)",
    )
    parser.add_argument(
        "--prune-align",
        default="auto",
        metavar="N",
        help="round the channels a Conv keeps to a multiple of N (default auto: ONNX "
        "Runtime's NCHWc block on this CPU, 16 with AVX-512; 1 turns it off)",
    )
    parser.add_argument(
        "--calibration",
        metavar="FILE",
        help=".npz with 'x' (or .npy): inputs for static INT8 and data-aware pruning",
    )
    parser.add_argument(
        "--calibration-method", choices=("minmax", "entropy", "percentile"), default="minmax"
    )
    parser.add_argument(
        "--op-types", metavar="OPS", help="quantize only these ops, e.g. MatMul,Gemm"
    )
    parser.add_argument(
        "--data", metavar="FILE", help=".npz with 'x' and 'y': measure latency and accuracy on it"
    )
    parser.add_argument(
        "--input-shape", metavar="DIMS", help="PyTorch model without data: one sample's shape"
    )
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads when timing")
    parser.add_argument("--repeats", type=int, default=15, help="timing rounds (median)")
    parser.add_argument(
        "--build-models",
        metavar="DIR",
        help="instead: train and export the report's models and data files into DIR",
    )
    parser.add_argument("--epochs", type=int, help="with --build-models: epochs (default: recipe)")
    parser.add_argument(
        "--only", metavar="NAME", action="append", help="with --build-models: only this model"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="with --build-models: one epoch on small generated sets (a smoke test)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _build(args) if args.build_models else _compress(args)
    except ConfigError as exc:
        sys.stderr.write(f"edgeoffload compress: error: {exc}\n")
        return 2


def _build(args: argparse.Namespace) -> int:
    zoo = import_torch_module("zoo")
    if args.epochs is not None:
        check_positive(args.epochs, "--epochs")
    unknown = sorted(set(args.only or ()) - set(zoo.RECIPES))
    if unknown:
        raise ConfigError(f"--only: no model {unknown[0]!r} (models: {', '.join(zoo.RECIPES)})")
    names = list(args.only or zoo.RECIPES)
    for k, name in enumerate(names, 1):
        # Progress on stderr, one line per step (a build takes minutes on a busy
        # machine and was silent until it ended); the results on stdout.
        def say(line: str, k: int = k) -> None:
            sys.stderr.write(f"[{k}/{len(names)}] {line}\n")
            sys.stderr.flush()

        built = zoo.build(
            name, args.build_models, epochs=args.epochs, quick=args.quick, progress=say
        )
        print(
            f"{name}: {built.onnx} (train {built.train}, held-out {built.test}), "
            f"held-out accuracy {built.accuracy:.4f}"
        )
    return 0


def _compress(args: argparse.Namespace) -> int:
    from ..compress.prune import check_fraction

    if not args.model:
        raise ConfigError("MODEL: give a model file (or --build-models DIR)")
    if not args.out:
        raise ConfigError("--out: give the output file")
    if args.int8 is None and args.prune is None:
        raise ConfigError("nothing to do: give --int8 dynamic|static and/or --prune FRACTION")
    if args.prune is not None:
        check_fraction(args.prune)
        prune_align(args.prune_align)
    if args.int8 == "static" and not args.calibration:
        raise ConfigError(
            "--int8 static needs calibration data: --calibration FILE (.npz with 'x')"
        )
    check_positive(args.threads, "--threads")
    check_positive(args.repeats, "--repeats")
    data, calibration = (
        load_optional(args.data, "--data"),
        load_optional(args.calibration, "--calibration"),
    )
    with tempfile.TemporaryDirectory(prefix="edgeoffload-compress-") as tmp:
        source = onnx_source(args.model, data, calibration, args.input_shape, Path(tmp))
        return _run_pipeline(args, source, data, calibration, Path(tmp))


def _run_pipeline(
    args: argparse.Namespace,
    source: Path,
    data: Dataset | None,
    calibration: Dataset | None,
    tmp: Path,
) -> int:
    from ..compress.data import conform
    from ..compress.graph import data_input, load_model, save_model
    from ..compress.measure import Settings, measure
    from ..compress.prune import PruneMode, prune
    from ..compress.quantize import Int8Mode, quantize
    from ..compress.report import slowdown_warning, text_table

    model = load_model(source, "MODEL")
    spec = data_input(model)
    cal_x: np.ndarray | None = None
    if calibration is not None:
        cal_x = conform(calibration.x, spec, "--calibration")
    if data is not None:
        conform(data.x[:1], spec, "--data")
    out = Path(args.out)
    stages: dict[str, Path] = {"original": source}
    current = source
    if args.prune is not None:
        mode = PruneMode(args.prune_mode)
        use_data = cal_x if mode is PruneMode.STRUCTURED else None
        align = prune_align(args.prune_align)
        pruned, report = prune(model, args.prune, mode, calibration=use_data, conv_align=align)
        current = save_model(pruned, out if args.int8 is None else tmp / "pruned.onnx")
        stages[f"pruned {args.prune:.0%}"] = current
        kept = ", ".join(f"{k} {a}/{b}" for k, (a, b) in report.units.items())
        if mode is PruneMode.UNSTRUCTURED:
            print(f"pruned (unstructured; non-zero/size): {kept}")
        else:
            how = "data-aware" if use_data is not None else "by weight norms, no --calibration"
            print(f"pruned (structured, {how}; kept/width): {kept}")
    if args.int8 is not None:
        op_types = args.op_types.split(",") if args.op_types else None
        quantize(
            current,
            out,
            Int8Mode(args.int8),
            cal_x,
            method=args.calibration_method,
            op_types=op_types,
        )
        stages[f"int8 {args.int8}"] = out
    rows = measure(
        stages,
        data if data is not None else calibration,
        Settings(repeats=args.repeats, threads=args.threads),
        reference="original",
    )
    print(text_table(rows, "original"))
    print(f"wrote {out}")
    warning = slowdown_warning(
        rows, list(stages)[-1], "original", " + ".join(list(stages)[1:]), *_advice(args, model)
    )
    if warning is not None:
        sys.stderr.write(warning + "\n")
    return 0


def _advice(args: argparse.Namespace, model: Any) -> tuple[dict[str, str], str]:
    """How to get each measured variant alone, and why dynamic INT8 slows a CNN."""
    advice = {"original": "keep the original model"}
    if args.prune is not None and args.int8 is not None:
        advice[f"pruned {args.prune:.0%}"] = "drop --int8"
    note = ""
    convs = any(node.op_type == "Conv" for node in model.graph.node)
    if args.int8 == "dynamic" and convs and not args.op_types:
        note = (
            "Dynamic INT8 runs convolutions as ConvInteger, which ONNX Runtime's CPU "
            "kernel runs slower than fp32: --int8 static --calibration FILE fuses them "
            "into QLinearConv, --op-types MatMul,Gemm leaves them in fp32."
        )
    return advice, note


def import_torch_module(name: str):  # type: ignore[no-untyped-def]
    """Import ``edgeoffload.compress.NAME`` (a torch module), or explain the extra."""
    import importlib

    try:
        return importlib.import_module(f"edgeoffload.compress.{name}")
    except ImportError as exc:
        raise ConfigError(
            f"this needs torch and scikit-learn: pip install 'edgeoffload[train]' ({exc})"
        ) from None


def load_optional(path: str | None, option: str) -> Dataset | None:
    """The data file at ``path`` (None if not given)."""
    if path is None:
        return None
    from ..compress.data import load_data

    return load_data(path, option)


def onnx_source(
    model: str,
    data: Dataset | None,
    calibration: Dataset | None,
    input_shape: str | None,
    tmp: Path,
) -> Path:
    """``model`` itself if ONNX; a PyTorch model is exported to ``tmp`` first (its input
    shape from the data, the calibration data or ``--input-shape``)."""
    path = Path(model)
    if path.suffix.lower() not in TORCH_SUFFIXES:
        return path
    if not path.is_file():
        raise ConfigError(f"MODEL: no such file: {path}")
    import numpy as np

    sample = data if data is not None else calibration
    if sample is not None:
        example = sample.x[:1].astype(np.float32)
    elif input_shape:
        example = np.zeros((1, *parse_shape(input_shape)), dtype=np.float32)
    else:
        raise ConfigError(
            f"{path}: a PyTorch model needs an input shape: give --data, --calibration "
            "or --input-shape (e.g. 1,8,8)"
        )
    training = import_torch_module("training")
    exported: Path = training.torch_to_onnx(path, example, tmp / f"{path.stem}.onnx")
    return exported


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,8,8"`` -> ``(1, 8, 8)``.

    Raises:
        ConfigError: not positive integers separated by commas.
    """
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise ConfigError(f"--input-shape: {text!r} is not a shape like 1,8,8")
    return dims


def prune_align(text: str) -> int:
    """``--prune-align``: ``auto`` (the CPU's NCHWc block) or a positive integer.

    Raises:
        ConfigError: anything else.
    """
    from ..compress.prune import nchwc_block

    if text == "auto":
        return nchwc_block()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"--prune-align: 'auto' or a positive integer, got {text!r}")
    return value


def check_positive(value: int, option: str) -> None:
    if value < 1:
        raise ConfigError(f"{option}: must be at least 1, got {value}")
