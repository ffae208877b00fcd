"""Running an ONNX model: sessions, tensor specs, the per-process cache, load errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import OnnxModel, TensorSpec, cached_model, open_session


def scores_model(path: Path) -> Path:
    """x (n, 3) float -> x @ W, where W is a 3 x 3 permutation (so argmax is known)."""
    w = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["scores"])],
        "perm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_run_and_predict(tmp_path: Path) -> None:
    model = OnnxModel(scores_model(tmp_path / "m.onnx"))
    x = np.array([[5.0, 1.0, 0.0], [0.0, 0.0, 2.0]], np.float32)
    np.testing.assert_array_equal(model.run(x), [[0.0, 5.0, 1.0], [2.0, 0.0, 0.0]])
    assert model.predict(x).tolist() == [1, 0]


def test_specs_name_dynamic_dimensions_none(tmp_path: Path) -> None:
    model = OnnxModel(scores_model(tmp_path / "m.onnx"))
    assert model.input == TensorSpec("x", (None, 3), "float32")
    assert model.output == TensorSpec("scores", (None, 3), "float32")


def test_the_session_is_built_on_first_use_only(tmp_path: Path) -> None:
    path = tmp_path / "later.onnx"
    model = OnnxModel(path, threads=2)  # no file yet: nothing is opened
    assert model.path == path and model.threads == 2
    scores_model(path)
    assert model.session is model.session


def test_open_session_accepts_bytes_and_sets_threads(tmp_path: Path) -> None:
    raw = scores_model(tmp_path / "m.onnx").read_bytes()
    session = open_session(raw, threads=3)
    assert session.get_session_options().intra_op_num_threads == 3
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_unloadable_models_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"bad\.onnx: not a model ONNX Runtime can load"):
        open_session(bad)
    with pytest.raises(ConfigError, match=r"^model: not a model ONNX Runtime can load"):
        open_session(b"garbage")
    with pytest.raises(ConfigError, match=r"missing\.onnx: not a model"):
        OnnxModel(tmp_path / "missing.onnx").run(np.zeros((1, 3), np.float32))


def test_cached_model_is_one_per_resolved_path_and_thread_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = scores_model(tmp_path / "m.onnx")
    monkeypatch.chdir(tmp_path)
    first = cached_model(path)
    assert cached_model(Path("m.onnx")) is first  # relative and absolute: the same file
    assert first.path == path.resolve()
    assert cached_model(path, threads=2) is not first
