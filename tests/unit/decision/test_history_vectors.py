"""The LSTM's history step: what one policy call contributes, exactly."""

from __future__ import annotations

import numpy as np

from edgeoffload.decision.features import Context
from edgeoffload.decision.history import (
    FIRST_GAP_S,
    HISTORY_FEATURES,
    STEPS,
    context_vectors,
    history_windows,
)

from .synthetic import random_context


def one_row(nodes: list[list[float]]) -> Context:
    ctx = random_context(1, len(nodes), seed=2)
    ctx.device[0, 1], ctx.device[0, 2] = 0.25, 0.75  # device load, battery
    if nodes:
        ctx.nodes[0] = np.array(nodes)
    return ctx


def test_a_step_averages_the_present_nodes_in_log10() -> None:
    # columns: speed, cores, queue_s, load, up_bps, down_bps, rtt_s
    a = [3e9, 8, 0.1, 0.2, 1e6, 1e7, 0.01]
    b = [2e9, 8, 0.3, 0.4, 3e6, 3e7, 0.03]
    absent = [np.nan] * 7
    (v,) = context_vectors(one_row([a, b, absent]), np.array([0.999]))
    assert len(v) == len(HISTORY_FEATURES)
    np.testing.assert_allclose(
        v, [np.log10(2e6), np.log10(2e7), np.log10(0.02), np.log10(0.2), 0.3, 0.25, 0.75, 0.0]
    )


def test_tiny_figures_are_floored_before_the_log() -> None:
    node = [1e9, 1, 0.0, 0.0, 0.5, 0.0, 0.0]
    (v,) = context_vectors(one_row([node]), np.array([-5.0]))
    # up/down floored at 1 bit/s, rtt and queue at 0.1 ms, a negative gap at 0 (+1 ms).
    np.testing.assert_allclose(v, [0.0, 0.0, -4.0, -4.0, 0.0, 0.25, 0.75, -3.0])


def test_without_nodes_the_node_part_is_zero() -> None:
    (v,) = context_vectors(one_row([]), np.array([FIRST_GAP_S]))
    np.testing.assert_allclose(v, [0, 0, 0, 0, 0, 0.25, 0.75, np.log10(FIRST_GAP_S + 1e-3)])


def test_the_window_keeps_only_the_last_steps_calls() -> None:
    n = STEPS + 3
    ctx = random_context(n, 1, seed=5)
    windows = history_windows(ctx, np.zeros(n, dtype=np.int64), np.arange(float(n)))
    gaps = np.full(n, 1.0)
    gaps[0] = FIRST_GAP_S
    vectors = context_vectors(ctx, gaps)
    # The last row sees the STEPS calls before it, oldest first; the first gap is "long ago".
    np.testing.assert_allclose(windows[-1], vectors[n - 1 - STEPS : n - 1])
    np.testing.assert_allclose(windows[1, -1], vectors[0])
    assert windows[1, -1, -1] == np.log10(FIRST_GAP_S + 1e-3)


def test_rows_out_of_time_order_get_the_same_windows() -> None:
    ctx = random_context(5, 2, seed=6)
    device = np.array([0, 0, 1, 0, 1])
    created = np.array([0.0, 2.0, 0.5, 1.0, 3.0])
    perm = np.array([4, 2, 0, 3, 1])
    sorted_w = history_windows(ctx, device, created)
    shuffled_w = history_windows(ctx.rows(perm), device[perm], created[perm])
    np.testing.assert_allclose(shuffled_w, sorted_w[perm])
