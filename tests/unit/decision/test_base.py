"""decision.base: from chosen option columns to Decisions, the margin confidence, and
the ContextPolicy contract (decide builds a Context and hands it to decide_context)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.base import ContextPolicy, decisions, margin_confidence
from edgeoffload.decision.features import (
    Context,
    Decisions,
    DeviceState,
    NodeFeatures,
    TaskBatch,
)


def test_decisions_pick_the_chosen_columns_and_shift_targets() -> None:
    latency = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    energy = latency / 10.0
    d = decisions(np.array([0, 2, 1]), np.array([0.1, 0.2, 0.3]), latency, energy)
    assert d.target.tolist() == [-1, 1, 0]  # column 0 is the device
    assert d.target.dtype == np.int64
    assert d.expected_latency_s.tolist() == [1.0, 6.0, 8.0]
    np.testing.assert_allclose(d.expected_energy_j, [0.1, 0.6, 0.8])
    assert d.confidence.tolist() == [0.1, 0.2, 0.3]


def test_decisions_of_an_empty_batch() -> None:
    d = decisions(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2)))
    assert len(d) == 0


@pytest.mark.parametrize(
    ("row", "choice", "confidence"),
    [
        ([1.0, 2.0], 0, 0.5),  # (2 - 1) / 2
        ([4.0, 1.0, 2.0], 1, 0.5),  # runner-up 2: (2 - 1) / 2
        ([3.0, 3.0], 0, 0.0),  # a tie
        ([0.0, 0.0], 0, 0.0),  # both free: 0 / 1e-12
        ([1.0, np.inf], 0, 1.0),  # the only finite option: certain
        ([2.0, 1.0], 0, 0.0),  # not the best (negative margin): clipped
        ([0.0, 1.0], 0, 1.0),
    ],
)
def test_margin_confidence(row: list[float], choice: int, confidence: float) -> None:
    got = margin_confidence(np.array([row]), np.array([choice]))
    assert got.tolist() == pytest.approx([confidence])


def test_one_option_is_always_certain() -> None:
    assert margin_confidence(np.array([[5.0], [7.0]]), np.array([0, 0])).tolist() == [1.0, 1.0]


def test_margin_confidence_is_per_row() -> None:
    cost = np.array([[1.0, 2.0], [1.0, 4.0], [2.0, 2.0]])
    got = margin_confidence(cost, np.array([0, 0, 1]))
    np.testing.assert_allclose(got, [0.5, 0.75, 0.0])


class Recorder(ContextPolicy):
    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[Context] = []

    def decide_context(self, ctx: Context) -> Decisions:
        self.seen.append(ctx)
        n = len(ctx)
        return Decisions(np.full(n, -1), np.ones(n), np.zeros(n), np.zeros(n))


def test_decide_hands_the_calls_context_to_decide_context() -> None:
    policy = Recorder()
    tasks = TaskBatch.of(cpu_cycles=[1.0, 2.0])
    nodes = NodeFeatures(("a",), *(np.array([float(j)]) for j in range(7)))
    out = policy.decide(tasks, DeviceState(cpu_hz=3e9), nodes)
    assert out.target.tolist() == [-1, -1]
    (ctx,) = policy.seen
    assert (len(ctx), ctx.k) == (2, 1)
    assert ctx.tasks[:, 0].tolist() == [1.0, 2.0]
    assert ctx.device[0, 0] == 3e9
    assert ctx.nodes[0, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_the_base_class_has_no_rule_of_its_own() -> None:
    with pytest.raises(NotImplementedError):
        ContextPolicy().decide(TaskBatch.of(cpu_cycles=1.0), DeviceState(1e9), NodeFeatures.empty())
    assert ContextPolicy.name == "policy"
