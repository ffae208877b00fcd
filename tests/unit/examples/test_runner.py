"""The examples' shared runner: how outcomes become the printed figures."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from examples.runner import Outcome, summarise
from examples.traffic.workload import Request

from edgeoffload.errors import DeadlineExceeded, TaskFailed


def test_late_answers_are_misses_with_their_latency_and_failures_are_counted() -> None:
    requests = [Request(0.0, "t", (i,), 1.0, "g") for i in range(4)]
    outcomes = [
        Outcome(0, "g", latency_s=0.1, where="node-1", value=0),
        Outcome(
            1,
            "g",
            latency_s=1.5,
            where="local",
            value=1,
            late=True,
            error=DeadlineExceeded(None, "late"),
        ),
        Outcome(2, "g", latency_s=1.0, where=None, error=DeadlineExceeded(None, "dropped")),
        Outcome(3, "g", latency_s=0.2, where="node-1", error=TaskFailed(3, "boom")),
    ]

    def check(request: Any, value: Any) -> bool:
        return bool(value == request.args[0])

    args = argparse.Namespace(seed=0, repeat=False, time_scale=1.0)
    report = summarise("x", "auto", args, requests, outcomes, 2.0, check)
    assert report.deadline_misses == 2 and report.failed == 1 and report.wrong == 0
    # Latencies: the answered (in time or late) and the dropped; not the failed one.
    assert report.latency_ms["p50"] == pytest.approx(1000.0)
    assert report.throughput_per_s == pytest.approx(2.0)  # 4 ended in 2 s
    assert report.offload_share == pytest.approx(2 / 4)
    assert "deadline misses: 2 (50.0 %)" in report.lines()


def test_a_wrong_answer_is_counted() -> None:
    requests = [Request(0.0, "t", (7,), None, "g")]
    outcomes = [Outcome(0, "g", latency_s=0.1, where="local", value=8)]
    args = argparse.Namespace(seed=0, repeat=False, time_scale=1.0)
    report = summarise("x", "auto", args, requests, outcomes, 1.0, lambda r, v: v == r.args[0])
    assert report.wrong == 1
