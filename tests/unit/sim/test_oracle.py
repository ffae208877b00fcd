"""Hindsight-labelled records for the decision engine."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.features import TASK_FEATURES
from edgeoffload.sim.oracle import DEVICE_FEATURES, NODE_FEATURES, oracle_records
from edgeoffload.sim.scenario import with_overrides

from .conftest import small


def plain():  # type: ignore[no-untyped-def]
    """No batching, caching or loss: hindsight must equal what really happened."""
    return with_overrides(small(), {"batching.enabled": False, "devices[0].count": 4})


def test_shapes_and_features_as_the_policy_saw_them() -> None:
    rec = oracle_records(plain(), "cost_model")
    n = len(rec)
    assert n == 4 * 5 * 20
    k = rec.nodes.shape[1]
    assert rec.tasks.shape == (n, len(TASK_FEATURES))
    assert rec.device.shape == (n, len(DEVICE_FEATURES))
    assert rec.nodes.shape == (n, k, len(NODE_FEATURES))
    assert rec.latency_s.shape == rec.energy_j.shape == (n, 1 + k)
    assert np.isfinite(rec.tasks).all() and np.isfinite(rec.device).all()
    # Bandwidth estimates are the device's (an EWMA), not the trace itself.
    assert (rec.nodes[:, :, NODE_FEATURES.index("up_bps")] > 0).all()
    assert set(np.unique(rec.chosen)) <= {-1, *range(k)}


def test_hindsight_of_the_chosen_option_is_what_happened() -> None:
    rec = oracle_records(plain(), "cost_model")
    rows = np.arange(len(rec))
    column = rec.chosen + 1
    realised = rec.outcome_latency_s
    hindsight = rec.latency_s[rows, column]
    done = np.isfinite(realised)
    assert done.mean() > 0.9
    local = rec.chosen == -1
    np.testing.assert_allclose(hindsight[local & done], realised[local & done], rtol=1e-9)
    np.testing.assert_allclose(
        rec.energy_j[rows, column][local], rec.outcome_energy_j[local], rtol=1e-9
    )
    remote = ~local & done
    assert remote.sum() > 50
    # Downloads are costed on an idle downlink; they rarely queue at this load.
    close = np.isclose(hindsight[remote], realised[remote], rtol=1e-6, atol=1e-9)
    assert close.mean() > 0.95
    assert (hindsight[remote] <= realised[remote] + 1e-9).all()


def test_the_oracle_is_never_worse_than_the_policy() -> None:
    rec = oracle_records(plain(), "always_edge")
    cost = np.where(np.isnan(rec.latency_s), np.inf, rec.cost(0.5))
    rows = np.arange(len(rec))
    best = rec.oracle_target(0.5)
    assert (cost[rows, best + 1] <= cost[rows, rec.chosen + 1]).all()
    assert rec.policy == "always_edge"
    # With nodes ten times slower than the devices, hindsight says: stay local.
    slow = oracle_records(with_overrides(plain(), {"nodes[0].speed_hz": 1.5e8}), "always_edge")
    assert (slow.chosen >= 0).all()
    assert (slow.oracle_target(0.5) == -1).mean() > 0.9


def test_a_down_node_is_not_an_option() -> None:
    scenario = with_overrides(plain(), {"nodes[0].failures.at_s": [[5.0, 10.0]]})
    rec = oracle_records(scenario, "cost_model")
    first = rec.node_index == 0
    arrivals_while_down = first & (rec.created_s[:, None] > 5.2) & (rec.created_s[:, None] < 9.5)
    column = np.zeros_like(rec.latency_s, dtype=bool)
    column[:, 1:] = arrivals_while_down
    # Either the view already excluded the node, or its hindsight cost is infinite.
    assert np.isinf(rec.latency_s[column]).all()


def test_bad_policy_name_is_refused() -> None:
    from edgeoffload.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown policy 'psychic'"):
        oracle_records(plain(), "psychic")


def test_a_failure_that_began_after_the_decision_is_marked_unforeseen() -> None:
    scenario = with_overrides(plain(), {"nodes[0].failures.at_s": [[5.0, 10.0]]})
    rec = oracle_records(scenario, "cost_model")
    assert rec.unforeseen.shape == rec.latency_s.shape
    assert not rec.unforeseen[:, 0].any()  # the device never fails
    first = np.zeros_like(rec.unforeseen)
    first[:, 1:] = rec.node_index >= 0  # the node group of nodes[0]: every node here
    created = np.broadcast_to(rec.created_s[:, None], rec.latency_s.shape)
    # Unforeseen: an infinite node option decided before the crash at 5 s.
    assert rec.unforeseen.any()
    assert (rec.unforeseen <= (np.isinf(rec.latency_s) & first & (created < 5.0))).all()
    # Decided while it was down: the failure was there to see, so not unforeseen.
    down = first & (created > 5.0) & (created < 10.0)
    assert down.any() and not rec.unforeseen[down].any()
    assert np.isinf(rec.latency_s[down]).all()


def test_the_true_link_is_the_trace_and_the_transfers_as_they_happened() -> None:
    """On a constant link the device's estimate is the truth, so a reference told the
    truth (decision.references) sees the features the policy saw, WAN part included;
    told the transfers, the cost model's transfer times are the recorded ones."""
    from edgeoffload.decision.costs import option_costs
    from edgeoffload.decision.evaluation import Labelled
    from edgeoffload.decision.references import told

    link = {"constant_mbps": 8.0, "uplink_scale": 0.5, "rtt_ms": 20}
    scenario = with_overrides(
        plain(), {"devices[0].link": link, "cloud": {"wan_mbps": 200.0, "wan_rtt_ms": 40.0}}
    )
    rec = oracle_records(scenario, "cost_model")
    np.testing.assert_array_equal(rec.link_now_bps, np.tile([4e6, 8e6], (len(rec), 1)))
    cloud = np.array([name == "cloud" for name in rec.node_names])[rec.node_index]
    assert cloud.any() and (~cloud & (rec.node_index >= 0)).any()
    np.testing.assert_allclose(rec.inv_wan[cloud], 1.0 / 200e6)
    assert (rec.inv_wan[~cloud & (rec.node_index >= 0)] == 0.0).all()
    assert np.isnan(rec.inv_wan[rec.node_index < 0]).all()
    lab = Labelled.of(rec)
    truth = told(lab, "true_link").ctx.nodes
    np.testing.assert_allclose(truth, lab.ctx.nodes, rtol=1e-12)
    # A download on an idle 8 Mbit/s downlink: payload and headers over the rate.
    header_bits = 66.0 * 8
    live = np.isfinite(rec.download_s)
    out_bits = rec.tasks[:, TASK_FEATURES.index("output_bytes"), None] * 8.0 + header_bits
    np.testing.assert_allclose(rec.download_s, np.where(live, out_bits / 8e6, np.nan))
    informed = told(lab, "true_transfers")
    _, _, transfer = option_costs(informed.ctx)
    up_s = rec.upload_s[:, 1:] - rec.upload_s[:, :1]
    edge = ~cloud & (rec.node_index >= 0) & live
    expected = up_s + rec.download_s  # an edge node: the wireless hop only
    np.testing.assert_allclose(transfer[:, 1:][edge], expected[edge], rtol=1e-9)
    queue = informed.ctx.device[:, DEVICE_FEATURES.index("uplink_queue_s")]
    np.testing.assert_array_equal(queue, rec.upload_s[:, 0])
