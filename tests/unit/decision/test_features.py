"""decision.features: the batch containers, their column orders and the two layouts
(Context rows, broadcasting Columns) every policy computes on."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.features import (
    DEVICE_FEATURES,
    LOCAL_INDEX,
    NODE_FEATURES,
    TASK_FEATURES,
    Columns,
    Context,
    Decisions,
    DeviceState,
    NodeFeatures,
    PowerModel,
    TaskBatch,
    device_row,
)


def nodes(k: int) -> NodeFeatures:
    """``k`` nodes whose every feature is distinct: column j of node i is 10 j + i."""
    cols = [np.arange(k, dtype=float) + 10.0 * j for j in range(len(NODE_FEATURES))]
    return NodeFeatures(tuple(f"n{i}" for i in range(k)), *cols)


DEVICE = DeviceState(
    cpu_hz=1e9,
    load=0.25,
    battery=0.5,
    power=PowerModel(kappa=2e-27, transmit_w=1.5, receive_w=0.9, idle_w=0.2),
    local_queue_s=0.125,
    uplink_queue_s=0.0625,
)


def test_one_task_from_scalars_gets_the_defaults() -> None:
    batch = TaskBatch.of(cpu_cycles=5e8, input_bytes=10)
    assert len(batch) == 1
    assert batch.matrix().tolist() == [[5e8, 0.0, 0.0, 10.0, 0.0, np.inf, 0.0]]
    assert batch.input_bytes.dtype == np.float64  # an int becomes a float


def test_a_batch_broadcasts_scalars_against_sequences_into_own_arrays() -> None:
    batch = TaskBatch.of(cpu_cycles=[1.0, 2.0, 3.0], deadline_s=0.5, priority=np.array([1.0]))
    assert len(batch) == 3
    assert batch.deadline_s.tolist() == [0.5, 0.5, 0.5]
    assert batch.priority.tolist() == [1.0, 1.0, 1.0]
    batch.deadline_s[0] = 9.0  # a copy, not a read-only broadcast view
    assert batch.deadline_s.tolist() == [9.0, 0.5, 0.5]
    assert batch.matrix().shape == (3, len(TASK_FEATURES))


def test_sequences_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        TaskBatch.of(cpu_cycles=[1.0, 2.0, 3.0], mem_mb=[1.0, 2.0])


def test_the_matrix_columns_follow_task_features() -> None:
    values = {name: float(i + 1) for i, name in enumerate(TASK_FEATURES)}
    assert TaskBatch.of(**values).matrix().tolist() == [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]


def test_device_row_follows_device_features() -> None:
    assert dict(zip(DEVICE_FEATURES, device_row(DEVICE), strict=True)) == {
        "cpu_hz": 1e9,
        "load": 0.25,
        "battery": 0.5,
        "kappa": 2e-27,
        "transmit_w": 1.5,
        "receive_w": 0.9,
        "idle_w": 0.2,
        "local_queue_s": 0.125,
        "uplink_queue_s": 0.0625,
    }


def test_default_device_is_idle_full_and_with_no_backlog() -> None:
    row = device_row(DeviceState(cpu_hz=2e9))
    assert row == (2e9, 0.0, 1.0, 1e-27, 1.3, 1.0, 0.3, 0.0, 0.0)


def test_context_rows_share_the_device_and_nodes_without_copies() -> None:
    ctx = Context.of(TaskBatch.of(cpu_cycles=[1.0, 2.0]), DEVICE, nodes(3))
    assert (len(ctx), ctx.k) == (2, 3)
    assert ctx.tasks.shape == (2, 7) and ctx.device.shape == (2, 9) and ctx.nodes.shape == (2, 3, 7)
    assert ctx.device.strides[0] == 0 and ctx.nodes.strides[0] == 0  # broadcast views
    assert ctx.nodes[1, 2].tolist() == [2.0, 12.0, 22.0, 32.0, 42.0, 52.0, 62.0]
    assert ctx.device[1].tolist() == list(device_row(DEVICE))


def test_a_context_without_nodes_has_zero_columns() -> None:
    ctx = Context.of(TaskBatch.of(cpu_cycles=[1.0, 2.0]), DEVICE, NodeFeatures.empty())
    assert ctx.nodes.shape == (2, 0, 7) and ctx.k == 0
    assert len(NodeFeatures.empty()) == 0


def test_rows_selects_the_same_rows_of_every_array() -> None:
    ctx = Context.of(TaskBatch.of(cpu_cycles=[1.0, 2.0, 3.0]), DEVICE, nodes(2))
    sub = ctx.rows(np.array([2, 0]))
    assert sub.tasks[:, 0].tolist() == [3.0, 1.0]
    assert sub.device.shape == (2, 9) and sub.nodes.shape == (2, 2, 7)
    assert len(ctx.rows(slice(1, 1))) == 0


def test_columns_of_a_call_and_of_its_context_hold_the_same_values() -> None:
    tasks = TaskBatch.of(cpu_cycles=[1.0, 2.0], input_bytes=[3.0, 4.0])
    direct = Columns.of(tasks, DEVICE, nodes(3))
    via = Columns.from_context(Context.of(tasks, DEVICE, nodes(3)))
    assert (direct.n, direct.k) == (via.n, via.k) == (2, 3)
    assert direct.tasks[0].shape == via.tasks[0].shape == (2, 1)
    assert direct.nodes[0].shape == (3,) and via.nodes[0].shape == (2, 3)
    assert direct.device == device_row(DEVICE)  # plain floats on the fast path
    for a, b in zip(direct.nodes, via.nodes, strict=True):
        np.testing.assert_array_equal(np.broadcast_to(a, (2, 3)), b)
    for a, b in zip(direct.device, via.device, strict=True):
        assert np.all(np.asarray(b) == a)


def test_decisions_length_and_the_local_index() -> None:
    d = Decisions(np.array([LOCAL_INDEX, 0]), np.ones(2), np.zeros(2), np.zeros(2))
    assert len(d) == 2 and LOCAL_INDEX == -1
