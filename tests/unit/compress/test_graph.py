"""Loading and checking ONNX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.compress.graph import data_input, load_model, save_model
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import OnnxModel, TensorSpec


def test_the_bundled_model_takes_batches_of_8x8_images(cnn: Path) -> None:
    assert data_input(load_model(cnn)) == TensorSpec("x", (None, 1, 8, 8), "float32")


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text("hello, I am not a model\n")
    with pytest.raises(ConfigError, match=r"MODEL: .* is not an ONNX model file"):
        load_model(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--teacher: no such file"):
        load_model(tmp_path / "nope.onnx", "--teacher")


def test_compacting_names_keeps_the_results_and_the_interface(cnn: Path, tmp_path: Path) -> None:
    model = load_model(cnn)
    original = [n.name for n in model.graph.node]
    model.graph.node[0].name = ""  # unnamed
    model.graph.node[1].name = original[2]  # a duplicate
    old = model.graph.node[2].output[0]
    for node in model.graph.node:  # an exporter's long tensor name
        node.input[:] = ["a/very/long/name" * 20 if x == old else x for x in node.input]
        node.output[:] = ["a/very/long/name" * 20 if x == old else x for x in node.output]
    long_size = len(model.SerializeToString())
    out = save_model(model, tmp_path / "c.onnx")  # compacts
    compacted = load_model(out)
    assert out.stat().st_size < long_size - 300
    assert [v.name for v in compacted.graph.input] == ["x"]
    assert [v.name for v in compacted.graph.output] == [v.name for v in model.graph.output]
    assert [n.name for n in compacted.graph.node] == ["n0", original[2], "n2", *original[3:]]
    assert all(len(t.name) <= 4 for t in compacted.graph.initializer)
    assert not compacted.graph.value_info
    x = np.random.default_rng(0).random((7, 1, 8, 8), dtype=np.float32)
    assert np.array_equal(OnnxModel(out).run(x), OnnxModel(cnn).run(x))
