"""cli.compress: every refusal is one line with exit code 2 and comes before any work
(no model, no output, nothing to do, static INT8 without calibration, bad fraction,
alignment, threads, shapes, data files), a PyTorch model needs an input shape, and a
tiny ONNX model goes through pruning and INT8 with the table and file written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.cli import main
from edgeoffload.cli.compress import (
    check_positive,
    load_optional,
    onnx_source,
    parse_shape,
    prune_align,
)
from edgeoffload.compress.prune import nchwc_block
from edgeoffload.errors import ConfigError


def test_parse_shape() -> None:
    assert parse_shape("1,8,8") == (1, 8, 8)
    assert parse_shape("3") == (3,)
    for bad in ("", "1,x", "0,2", "-1", "1,,2"):
        with pytest.raises(ConfigError, match=rf"--input-shape: {bad!r} is not a shape like 1,8,8"):
            parse_shape(bad)


def test_prune_align() -> None:
    assert prune_align("auto") == nchwc_block()
    assert prune_align("1") == 1
    assert prune_align("8") == 8
    for bad in ("0", "-4", "x", "1.5"):
        with pytest.raises(ConfigError) as exc:
            prune_align(bad)
        assert str(exc.value) == f"--prune-align: 'auto' or a positive integer, got {bad!r}"


def test_check_positive() -> None:
    check_positive(1, "--threads")
    with pytest.raises(ConfigError, match=r"^--repeats: must be at least 1, got 0$"):
        check_positive(0, "--repeats")


def test_load_optional(tmp_path: Path) -> None:
    assert load_optional(None, "--data") is None
    f = tmp_path / "d.npz"
    np.savez(f, x=np.ones((4, 2), np.float32), y=np.arange(4))
    data = load_optional(str(f), "--data")
    assert data is not None and data.x.shape == (4, 2)
    with pytest.raises(ConfigError, match=r"^--calibration: no such file: "):
        load_optional(str(tmp_path / "none.npz"), "--calibration")


def test_an_onnx_model_is_its_own_source(tmp_path: Path) -> None:
    assert onnx_source("m.onnx", None, None, None, tmp_path) == Path("m.onnx")


def test_a_pytorch_model_needs_a_file_and_a_shape(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^MODEL: no such file: "):
        onnx_source(str(tmp_path / "m.pt"), None, None, None, tmp_path)
    pt = tmp_path / "m.PTH"
    pt.write_bytes(b"")
    with pytest.raises(ConfigError, match="a PyTorch model needs an input shape"):
        onnx_source(str(pt), None, None, None, tmp_path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "MODEL: give a model file (or --build-models DIR)"),
        (["m.onnx"], "--out: give the output file"),
        (["m.onnx", "--out", "o.onnx"], "nothing to do: give --int8 dynamic|static and/or --prune"),
        (["m.onnx", "--out", "o", "--prune", "1"], "--prune: fraction must be in [0, 1), got 1.0"),
        (
            ["m.onnx", "--out", "o", "--prune", "0.5", "--prune-align", "x"],
            "--prune-align: 'auto' or a positive integer, got 'x'",
        ),
        (["m.onnx", "--out", "o", "--int8", "static"], "--int8 static needs calibration data"),
        (["m.onnx", "--out", "o", "--int8", "dynamic", "--threads", "0"], "--threads: must be"),
        (["m.onnx", "--out", "o", "--int8", "dynamic", "--repeats", "0"], "--repeats: must be"),
        (["m.onnx", "--out", "o", "--int8", "dynamic", "--data", "no.npz"], "--data: no such"),
    ],
)
def test_refusals_are_one_line_and_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["compress", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"edgeoffload compress: error: {message}")
    assert err.count("\n") == 1


def _tiny_model(path: Path) -> None:
    """x (N, 8) -> Gemm 8x16 -> Relu -> Gemm 16x3: prunable and quantizable."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(8, 16)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(16, np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=(16, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_prune_then_int8_writes_the_model_and_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, out, data = tmp_path / "m.onnx", tmp_path / "o.onnx", tmp_path / "d.npz"
    _tiny_model(model)
    rng = np.random.default_rng(1)
    np.savez(data, x=rng.normal(size=(32, 8)).astype(np.float32), y=rng.integers(0, 3, 32))
    argv = ["compress", str(model), "--out", str(out), "--prune", "0.5", "--int8", "dynamic"]
    assert main([*argv, "--data", str(data), "--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    # half of the hidden layer's 16 neurons kept
    assert lines[0] == "pruned (structured, by weight norms, no --calibration; kept/width): w1 8/16"
    assert lines[1].split() == [
        "model",
        "size",
        "of",
        "ref",
        "b1",
        "ms",
        "b32",
        "ms",
        "b32",
        "speed-up",
        "accuracy",
        "vs",
        "ref",
        "agree",
    ]
    assert [line.split()[0] for line in lines[2:5]] == ["original", "pruned", "int8"]
    assert lines[2].split()[-3:] == ["+0.0", "pt", "1.0000"]  # the reference agrees with itself
    assert printed.rstrip().endswith(f"wrote {out}")
    assert out.is_file() and out.stat().st_size > 0


def test_a_model_whose_input_the_data_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = tmp_path / "m.onnx", tmp_path / "d.npz"
    _tiny_model(model)
    np.savez(data, x=np.ones((4, 5), np.float32))
    argv = ["compress", str(model), "--out", str(tmp_path / "o.onnx"), "--int8", "dynamic"]
    assert main([*argv, "--data", str(data)]) == 2
    assert capsys.readouterr().err == (
        "edgeoffload compress: error: --data: samples of shape (1, 5) do not fit the model "
        "input 'x' of shape ('?', 8)\n"
    )
    assert not (tmp_path / "o.onnx").exists()
