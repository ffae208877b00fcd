"""The decide bench finds the shipped models from an installed package (the benches
moved into the package, and a path written for the checkout's old bench/ folder
pointed at src/edgeoffload/src/edgeoffload/...)."""

from __future__ import annotations

from edgeoffload.bench.decide_models import BANDWIDTH_MODEL
from edgeoffload.decision.learned import DEFAULT_MODEL


def test_the_shipped_bandwidth_model_is_where_the_bench_looks() -> None:
    assert (BANDWIDTH_MODEL / "meta.json").is_file(), BANDWIDTH_MODEL
    assert BANDWIDTH_MODEL.parent == DEFAULT_MODEL.parent
