"""decision.references: the features a reference is told, on hand-made records whose
answers are worked out in the comments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from edgeoffload.decision.costs import option_costs
from edgeoffload.decision.evaluation import Labelled
from edgeoffload.decision.features import (
    DEVICE_FEATURES,
    NODE_FEATURES,
    TASK_FEATURES,
    Context,
)
from edgeoffload.decision.policies import CostModel
from edgeoffload.decision.references import FLOOR_BPS, told

UP, DOWN = NODE_FEATURES.index("up_bps"), NODE_FEATURES.index("down_bps")


def records(link_now: tuple[float, float] = (1e6, 2e6)) -> Labelled:
    """One task (100 kB up, 10 kB down) with an edge node (column 0), a cloud node
    behind a 100 Mbit/s WAN (column 1) and a padded column (2); the device estimated
    4 Mbit/s up and 8 down, the trace said ``link_now``. The upload started 0.5 s after
    creation and took 1 s; the edge's download took 0.2 s, the cloud's failed."""
    tasks = np.zeros((1, len(TASK_FEATURES)))
    tasks[0, TASK_FEATURES.index("cpu_cycles")] = 1e9
    tasks[0, TASK_FEATURES.index("input_bytes")] = 1e5
    tasks[0, TASK_FEATURES.index("output_bytes")] = 1e4
    tasks[0, TASK_FEATURES.index("deadline_s")] = 10.0
    device = np.zeros((1, len(DEVICE_FEATURES)))
    device[0, :4] = (1e9, 0.0, 1.0, 1e-27)
    inv_wan = np.array([[0.0, 1e-8, np.nan]])
    nodes = np.full((1, 3, len(NODE_FEATURES)), np.nan)
    nodes[0, :2] = (3e9, 4, 0.0, 0.0, np.nan, np.nan, 0.02)
    nodes[0, :2, UP] = 1.0 / (1.0 / 4e6 + inv_wan[0, :2])
    nodes[0, :2, DOWN] = 1.0 / (1.0 / 8e6 + inv_wan[0, :2])
    return Labelled(
        Context(tasks, device, nodes),
        latency_s=np.array([[0.1, 1.0, np.inf, np.nan]]),
        energy_j=np.array([[0.1, 0.1, np.inf, np.nan]]),
        node_index=np.array([[0, 1, -1]]),
        device_id=np.array([0]),
        created_s=np.array([0.0]),
        upload_s=np.array([[0.5, 1.5]]),
        download_s=np.array([[0.2, np.inf, np.nan]]),
        link_now_bps=np.array([link_now]),
        inv_wan=inv_wan,
    )


def test_the_true_link_replaces_the_estimate_and_keeps_the_wan() -> None:
    lab = records()
    nodes = told(lab, "true_link").ctx.nodes[0]
    np.testing.assert_allclose(nodes[:2, UP], [1e6, 1.0 / (1e-6 + 1e-8)])
    np.testing.assert_allclose(nodes[:2, DOWN], [2e6, 1.0 / (0.5e-6 + 1e-8)])
    assert np.isnan(nodes[2]).all()  # padding stays absent
    # Everything else as the policy saw it, and the records themselves untouched.
    others = [i for i in range(len(NODE_FEATURES)) if i not in (UP, DOWN)]
    np.testing.assert_array_equal(nodes[:2][:, others], lab.ctx.nodes[0, :2][:, others])
    assert lab.ctx.nodes[0, 0, UP] == 4e6


def test_the_true_transfers_give_the_recorded_times_without_revealing_a_failure() -> None:
    informed = told(records(), "true_transfers")
    latency, _, transfer = option_costs(informed.ctx)
    # Edge: the recorded 1 s upload and 0.2 s download.
    assert transfer[0, 1] == pytest.approx(1.2)
    # Cloud: the same upload plus the WAN's 0.8 Mbit at 100 Mbit/s; its download failed
    # (a crash after the decision), so it is taken at the link's 2 Mbit/s of the
    # decision: 80 kbit in 0.04 s, plus the WAN's 0.0008 s.
    assert transfer[0, 2] == pytest.approx(1.0 + 0.008 + 0.04 + 0.0008)
    assert np.isfinite(latency[0, 2])
    # The upload waited 0.5 s behind the device's earlier transfers.
    queue = informed.ctx.device[0, DEVICE_FEATURES.index("uplink_queue_s")]
    assert queue == 0.5
    assert latency[0, 1] == pytest.approx(0.5 + 1.2 + 0.02 + 1e9 / 3e9)


def test_an_outage_is_a_floor_rate_and_the_cost_model_stays_local() -> None:
    informed = told(records(link_now=(0.0, 0.0)), "true_link")
    assert (informed.ctx.nodes[0, :2, UP] <= FLOOR_BPS).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by a rate of 0
        decisions = CostModel().decide_context(informed.ctx)
    assert decisions.target.tolist() == [-1]
    # With the estimate (4 Mbit/s) the same task goes to the edge node.
    assert CostModel().decide_context(records().ctx).target.tolist() == [0]


def test_records_without_the_truth_and_unknown_truths_are_refused() -> None:
    lab = records()
    with pytest.raises(ValueError, match="unknown link truth 'psychic'"):
        told(lab, "psychic")
    bare = Labelled(
        lab.ctx, lab.latency_s, lab.energy_j, lab.node_index, lab.device_id, lab.created_s
    )
    with pytest.raises(ValueError, match="do not carry the true link"):
        told(bare, "true_link")


def test_the_truth_survives_concat_and_rows() -> None:
    lab = records()
    both = Labelled.concat([lab, lab.rows(slice(0, 1))])
    assert both.link_now_bps is not None and both.link_now_bps.shape == (2, 2)
    assert both.download_s is not None and both.download_s.shape == (2, 3)
    np.testing.assert_array_equal(
        told(both, "true_link").ctx.nodes[1], told(lab, "true_link").ctx.nodes[0]
    )
