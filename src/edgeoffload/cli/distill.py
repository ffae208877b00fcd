"""``edgeoffload distill --teacher T.onnx --student-arch SPEC --data D --out S.onnx``.

Trains a small student on the teacher's soft outputs (torch, the ``train`` extra),
exports it to ONNX, and prints size, latency and accuracy of teacher and student.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError
from .compress import check_positive, import_torch_module, load_optional, onnx_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teacher", required=True, metavar="FILE", help="ONNX model (or PyTorch .pt/.pth)"
    )
    parser.add_argument(
        "--student-arch",
        required=True,
        metavar="SPEC",
        help="mlp:H1,H2,... or cnn:C1,C2,.../D1,... (e.g. mlp:256,128, cnn:8,16/32)",
    )
    parser.add_argument(
        "--data", required=True, metavar="FILE", help="training inputs: .npz with 'x' (+ 'y')"
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="the student's ONNX file")
    parser.add_argument(
        "--test",
        metavar="FILE",
        help="held-out .npz to score on (default: 20%% of --data is held out if labelled)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="default 60")
    parser.add_argument("--temperature", type=float, default=None, help="default 4")
    parser.add_argument(
        "--alpha", type=float, default=None, help="weight of the true labels, default 0.3"
    )
    parser.add_argument(
        "--regression",
        action="store_true",
        help="match the teacher's outputs by mean squared error (not class scores)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads when timing")
    parser.add_argument("--repeats", type=int, default=15, help="timing rounds (median)")


def run(args: argparse.Namespace) -> int:
    try:
        return _distill(args)
    except ConfigError as exc:
        sys.stderr.write(f"edgeoffload distill: error: {exc}\n")
        return 2


def _distill(args: argparse.Namespace) -> int:
    from ..compress.arch import parse_arch
    from ..compress.data import conform, split

    arch = parse_arch(args.student_arch)  # refused before torch is imported
    if not Path(args.teacher).is_file():  # before the data is read and torch imported
        raise ConfigError(f"--teacher: no such file: {args.teacher}")
    check_positive(args.threads, "--threads")
    check_positive(args.repeats, "--repeats")
    if args.epochs is not None:
        check_positive(args.epochs, "--epochs")
    if args.temperature is not None and args.temperature <= 0:
        raise ConfigError(f"--temperature: must be positive, got {args.temperature}")
    if args.alpha is not None and not 0 <= args.alpha <= 1:
        raise ConfigError(f"--alpha: must be in [0, 1], got {args.alpha}")
    data = load_optional(args.data, "--data")
    assert data is not None
    test = load_optional(args.test, "--test")
    if test is None and data.y is not None and len(data) >= 10:
        data, test = split(data, 0.2, args.seed)
        print(f"no --test: scoring on 20 % of --data held out ({len(test)} samples)")
    distill = import_torch_module("distill")
    training = import_torch_module("training")
    from ..compress.graph import load_model
    from ..compress.measure import Settings, measure
    from ..compress.report import text_table
    from ..models.runtime import OnnxModel

    with tempfile.TemporaryDirectory(prefix="edgeoffload-distill-") as tmp:
        teacher_path = onnx_source(args.teacher, data, None, None, Path(tmp))
        load_model(teacher_path, "--teacher")
        defaults = distill.DistillSettings()
        settings = distill.DistillSettings(
            epochs=args.epochs or defaults.epochs,
            temperature=args.temperature or defaults.temperature,
            alpha=defaults.alpha if args.alpha is None else args.alpha,
            seed=args.seed,
            regression=args.regression,
        )
        teacher = OnnxModel(teacher_path)
        student = distill.distill(teacher, arch, data, settings)
        example = conform(data.x[:1], teacher.input, "--data")
        out = training.export_onnx(student, example, args.out)
        rows = measure(
            {"teacher": teacher_path, f"student {arch}": out},
            test if test is not None else data,
            Settings(repeats=args.repeats, threads=args.threads),
            reference="teacher",
        )
    print(text_table(rows, "teacher"))
    print(f"wrote {out}")
    return 0
