"""``bench deploy``'s result file holds exactly the keys the deployment issue names."""

from __future__ import annotations

from edgeoffload.bench.deploy import LIMITS, report


def test_the_result_file_has_exactly_the_named_keys() -> None:
    """The run measures a third limit (0.1 CPU on a 1 s period) for the docs' table;
    it once leaked into ``cold_start_ms``, whose keys the issue fixes at two."""
    runs = {
        name: {"answer_ms": [300.0 + i, 100.0 + i, 200.0 + i], "cpu_ready_ms": [50.0, 70.0, 60.0]}
        for i, name in enumerate(LIMITS)
    }
    result = report({"image": runs}, 123)
    assert result == {
        "cold_start_ms": {"unlimited": 200.0, "cpus_0_1": 201.0},
        "image_bytes": 123,
        "startup_cpu_ms": 60.0,
    }
