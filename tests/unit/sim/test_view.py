"""sim.view: what a device sees of the nodes: a snapshot at one instant, the link to
each node (edge, cloud through the WAN, a DAG stage's data already on a node), down
nodes and excluded ones left out; worked on three hand-made nodes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from edgeoffload.decision.features import NODE_FEATURES
from edgeoffload.sim.view import View


@dataclass
class FakeNode:
    name: str
    speed_hz: float
    cores: int
    queue: float
    busy: float
    wan_bps: float = math.inf
    wan_rtt_s: float = 0.0
    up: bool = True
    asked: list[float] = field(default_factory=list)

    def queue_s(self, time: float) -> float:
        self.asked.append(time)
        return self.queue

    def load(self, time: float) -> float:
        return self.busy


def nodes() -> list[FakeNode]:
    return [
        FakeNode("e0", 2e9, 4, queue=0.1, busy=0.5),
        FakeNode("e1", 3e9, 2, queue=0.2, busy=0.25),
        FakeNode("cloud", 1e10, 64, queue=0.0, busy=0.0, wan_bps=1e8, wan_rtt_s=0.05),
    ]


def view(ns: list[FakeNode] | None = None) -> View:
    return View(ns or nodes(), 7.5, backhaul_bps=1e9, backhaul_rtt_s=0.002)  # type: ignore[arg-type]


def test_the_snapshot_is_taken_at_the_views_time() -> None:
    ns = nodes()
    v = view(ns)
    assert v.time == 7.5 and all(n.asked == [7.5] for n in ns)
    assert v.queue.tolist() == [0.1, 0.2, 0.0] and v.load.tolist() == [0.5, 0.25, 0.0]
    assert v.inv_wan.tolist() == [0.0, 0.0, 1e-8]


def test_edge_nodes_see_the_devices_own_link() -> None:
    index, f = view().node_states((0, 1), up_bps=1e7, down_bps=2e7, rtt_s=0.01)
    assert index == [0, 1] and f.ids == ("e0", "e1")
    assert f.speed_hz.tolist() == [2e9, 3e9] and f.cores.tolist() == [4.0, 2.0]
    assert f.up_bps.tolist() == [1e7, 1e7] and f.down_bps.tolist() == [2e7, 2e7]
    assert f.rtt_s.tolist() == [0.01, 0.01]


def test_the_cloud_adds_the_wan_as_a_resistance_and_its_rtt() -> None:
    _, f = view().node_states((0, 1, 2), up_bps=1e7, down_bps=2e7, rtt_s=0.01)
    np.testing.assert_allclose(f.up_bps, [1e7, 1e7, 1 / (1e-7 + 1e-8)])  # 9.09 Mbit/s
    np.testing.assert_allclose(f.down_bps, [2e7, 2e7, 1 / (5e-8 + 1e-8)])
    np.testing.assert_allclose(f.rtt_s, [0.01, 0.01, 0.06])


def test_down_and_excluded_nodes_are_left_out() -> None:
    ns = nodes()
    ns[0].up = False
    index, f = view(ns).node_states((0, 1, 2), 1e7, 2e7, 0.01, exclude=2)
    assert index == [1] and f.ids == ("e1",)
    assert len(f) == 1


def test_a_node_marked_down_after_the_snapshot_disappears_from_cached_sets() -> None:
    v = view()
    assert v.node_states((0, 1), 1e7, 2e7, 0.01)[0] == [0, 1]
    v.mark_down(0)
    assert v.node_states((0, 1), 1e7, 2e7, 0.01)[0] == [1]


def test_a_stage_whose_data_is_on_a_node_pays_no_transfer_there_and_backhaul_elsewhere() -> None:
    index, f = view().node_states((0, 1, 2), 1e7, 2e7, 0.01, data_at=0)
    assert index == [0, 1, 2]
    np.testing.assert_allclose(f.up_bps, [math.inf, 1e9, 1 / (1e-9 + 1e-8)])
    np.testing.assert_allclose(f.rtt_s, [0.01, 0.012, 0.062])
    np.testing.assert_allclose(f.down_bps, [2e7, 2e7, 1 / (5e-8 + 1e-8)])  # back to the device


def test_no_candidates_no_columns() -> None:
    index, f = view().node_states((), 1e7, 2e7, 0.01)
    assert index == [] and len(f) == 0 and f.up_bps.shape == (0,)


def test_context_nodes_for_many_devices_pads_absent_and_down_nodes_with_nan() -> None:
    ns = nodes()
    ns[1].up = False
    rows = view(ns).context_nodes(
        np.array([[0, 2], [1, -1]]),
        up_bps=np.array([1e7, 4e7]),
        down_bps=np.array([2e7, 8e7]),
        rtt_s=np.array([0.01, 0.03]),
    )
    assert rows.shape == (2, 2, len(NODE_FEATURES))
    col = {name: j for j, name in enumerate(NODE_FEATURES)}
    assert rows[0, 0, col["speed_hz"]] == 2e9 and rows[0, 0, col["queue_s"]] == 0.1
    assert rows[0, 0, col["up_bps"]] == pytest.approx(1e7)
    assert rows[0, 1, col["up_bps"]] == pytest.approx(1 / (1e-7 + 1e-8))
    assert rows[0, 1, col["rtt_s"]] == pytest.approx(0.06)
    assert np.isnan(rows[1]).all()  # a down node, then padding


def test_context_nodes_agrees_with_node_states() -> None:
    v = view()
    _, f = v.node_states((0, 1, 2), 1e7, 2e7, 0.01)
    rows = v.context_nodes(
        np.array([[0, 1, 2]]), np.array([1e7]), np.array([2e7]), np.array([0.01])
    )
    expected = np.column_stack([getattr(f, name) for name in NODE_FEATURES])
    np.testing.assert_allclose(rows[0], expected)
