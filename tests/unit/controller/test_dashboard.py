"""The dashboard's memory: samples kept for the window, and the offload share counted
from each client's running totals (baselines, restarts, buckets)."""

from __future__ import annotations

from edgeoffload.controller.dashboard import Recent, SharePoint, point_of
from edgeoffload.metrics import NodeMetrics
from edgeoffload.protocol.control import NodeState, NodeView


def metrics(completed: float = 0.0, p95: float | None = None, queue: int = 0) -> NodeMetrics:
    return NodeMetrics(
        cpu_percent=10.0, load_avg_1m=0.5, memory_available_bytes=1 << 30, swap_used_bytes=0,
        disk_free_bytes=1 << 34, disk_read_bytes_per_s=0.0, disk_write_bytes_per_s=0.0,
        net_recv_bytes_per_s=0.0, net_sent_bytes_per_s=0.0, queue_length=queue,
        running_tasks=1, completed_per_s=completed, failed_per_s=0.0, p95_task_ms=p95,
        open_connections=1, process_rss_bytes=1 << 25,
    )  # fmt: skip


def view(node_id: str) -> NodeView:
    return NodeView(node_id=node_id, url=f"ws://{node_id}", state=NodeState.ALIVE)


def test_samples_are_framed_and_kept_for_the_window_only() -> None:
    recent = Recent(window_s=10.0)
    frame = recent.add_sample("a", 100.0, metrics(completed=5.0, p95=2.5, queue=3))
    assert frame.node_id == "a" and frame.ts == 100.0
    assert frame.point == point_of(100.0, frame.metrics)
    assert (frame.point.completed_per_s, frame.point.p95_task_ms, frame.point.queue_length) == (
        5.0,
        2.5,
        3,
    )
    for ts in (104.0, 108.0, 112.0):
        recent.add_sample("a", ts, metrics())
    recent.add_sample("b", 101.0, metrics())
    snap = recent.snapshot(112.0, [view("b"), view("a")], [], can_write=False)
    # a's samples older than 10 s are gone, and b's only one is too: its series is empty.
    assert [p.ts for p in snap.series["a"]] == [104.0, 108.0, 112.0]
    assert "b" not in snap.series
    assert snap.latest["b"].ts == 101.0  # the last sample stays for the node's card
    assert [v.node_id for v in snap.nodes] == ["a", "b"]
    assert snap.window_s == 10.0 and not snap.can_write


def test_the_offload_share_counts_what_clients_did_since_their_first_report() -> None:
    recent = Recent(share_bucket_s=5.0)
    # A client that ran for hours before it connected: its first report is a baseline.
    assert recent.add_counts(1, local=1000, edge=5000, now=100.0) is None
    assert recent.add_counts(2, local=0, edge=0, now=100.5) is None
    first = recent.add_counts(1, local=1010, edge=5030, now=101.0)
    assert first is not None and first.point == SharePoint(100.0, 10, 30)
    # Another client in the same bucket adds to it; nothing new, no frame.
    second = recent.add_counts(2, local=0, edge=20, now=102.0)
    assert second is not None and second.point == SharePoint(100.0, 10, 50)
    assert recent.add_counts(2, local=0, edge=20, now=103.0) is None
    # A new bucket.
    third = recent.add_counts(1, local=1011, edge=5030, now=106.0)
    assert third is not None and third.point == SharePoint(105.0, 1, 0)
    # Totals that went down: the client restarted its counters; a new baseline.
    assert recent.add_counts(1, local=3, edge=4, now=107.0) is None
    fourth = recent.add_counts(1, local=4, edge=4, now=108.0)
    assert fourth is not None and fourth.point == SharePoint(105.0, 2, 0)
    # A client that reconnects starts from a baseline again.
    recent.client_gone(2)
    assert recent.add_counts(2, local=0, edge=900, now=109.0) is None
    snap = recent.snapshot(109.0, [], [], can_write=True)
    assert snap.share == [SharePoint(100.0, 10, 50), SharePoint(105.0, 2, 0)]
    assert snap.share_bucket_s == 5.0


def test_share_buckets_leave_the_window() -> None:
    recent = Recent(window_s=20.0, share_bucket_s=5.0)
    recent.add_counts(1, 0, 0, 0.0)
    recent.add_counts(1, 0, 1, 1.0)
    recent.add_counts(1, 0, 2, 30.0)
    assert [p.ts for p in recent.snapshot(30.0, [], [], False).share] == [30.0]
