"""decision.modelfile: a model folder written and read back, and every way reading one
can fail, each with the message that says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision.modelfile import META, ONNX, WEIGHTS, ModelFiles, Scaler
from edgeoffload.errors import ConfigError
from edgeoffload.version import __version__


def saved(tmp_path: Path, onnx: bytes | None = None) -> Path:
    files = ModelFiles(
        "policy_mlp",
        {"features": ["a", "b"], "metrics": {"agreement": 0.9}},
        {"w": np.arange(6.0).reshape(2, 3), "b": np.array([1, 2], dtype=np.int32)},
    )
    return files.save(tmp_path / "model", onnx_bytes=onnx)


def test_a_folder_round_trips(tmp_path: Path) -> None:
    path = saved(tmp_path, onnx=b"onnx-bytes")
    assert sorted(p.name for p in path.iterdir()) == [META, ONNX, WEIGHTS]
    assert (path / ONNX).read_bytes() == b"onnx-bytes"
    back = ModelFiles.load(path, "policy_mlp")
    assert back.kind == "policy_mlp"
    assert back.meta == {
        "features": ["a", "b"],
        "metrics": {"agreement": 0.9},
        "package_version": __version__,
    }
    assert back.array("w").tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert back.array("b").dtype == np.float64  # every array is read as float64


def test_meta_is_sorted_stable_json(tmp_path: Path) -> None:
    text = (saved(tmp_path) / META).read_text()
    assert text.endswith("}\n")
    assert list(json.loads(text)) == ["features", "kind", "metrics", "package_version"]
    assert saved(tmp_path).joinpath(META).read_text() == text  # same bytes each time


def test_no_onnx_file_without_onnx_bytes(tmp_path: Path) -> None:
    assert not (saved(tmp_path) / ONNX).exists()


def test_any_of_several_kinds_may_be_wanted(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert ModelFiles.load(path, ("gbdt", "policy_mlp")).kind == "policy_mlp"
    assert ModelFiles.load(path).kind == "policy_mlp"  # no kind: any


def test_another_kind_is_refused_by_name(tmp_path: Path) -> None:
    path = saved(tmp_path)
    with pytest.raises(ConfigError, match="holds a 'policy_mlp' model, not gbdt or lstm"):
        ModelFiles.load(path, ("gbdt", "lstm"))


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model folder not found"):
        ModelFiles.load(tmp_path / "nope")


def test_a_folder_without_meta_or_weights(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"has no {META}"):
        ModelFiles.load(tmp_path)
    (tmp_path / META).write_text('{"kind": "x"}')
    with pytest.raises(ConfigError, match=f"has no {WEIGHTS}"):
        ModelFiles.load(tmp_path)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"kind": 3}', "{}"])
def test_unreadable_or_kindless_meta(tmp_path: Path, text: str) -> None:
    (tmp_path / META).write_text(text)
    with pytest.raises(ConfigError, match=META):
        ModelFiles.load(tmp_path)


def test_corrupt_weights(tmp_path: Path) -> None:
    path = saved(tmp_path)
    (path / WEIGHTS).write_bytes(b"not a zip file")
    with pytest.raises(ConfigError, match=f"cannot read {WEIGHTS}"):
        ModelFiles.load(path)


def test_a_missing_array_is_named() -> None:
    with pytest.raises(ConfigError, match=r"policy_mlp model has no array 'mlp\.w0'"):
        ModelFiles("policy_mlp").array("mlp.w0")


def test_scaler_standardises_and_leaves_constant_columns_unscaled() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    scaler = Scaler.fit(x)
    assert scaler.mean.tolist() == [2.0, 5.0]
    assert scaler.scale.tolist() == [1.0, 1.0]  # std 1; a constant column: 1, not 0
    assert scaler(x).tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    wide = Scaler.fit(np.array([[0.0], [4.0]]))
    assert wide(np.array([[6.0]])).tolist() == [[2.0]]  # (6 - 2) / 2


def test_scaler_round_trips_through_a_folder(tmp_path: Path) -> None:
    scaler = Scaler(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert sorted(scaler.arrays("s")) == ["s.mean", "s.scale"]
    ModelFiles("k", {}, scaler.arrays("s")).save(tmp_path)
    back = Scaler.from_files(ModelFiles.load(tmp_path), "s")
    assert back.mean.tolist() == [1.0, 2.0] and back.scale.tolist() == [3.0, 4.0]
    with pytest.raises(ConfigError, match=r"no array 'scaler\.mean'"):
        Scaler.from_files(ModelFiles.load(tmp_path))
