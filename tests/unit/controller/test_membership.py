"""The controller's membership state machine, on a virtual clock."""

from __future__ import annotations

from edgeoffload.controller.membership import Membership
from edgeoffload.metrics import GIB, HealthThresholds, NodeMetrics
from edgeoffload.protocol.control import EventKind, NodeHello, NodeState


def hello(node_id: str = "n1") -> NodeHello:
    return NodeHello(
        node_id=node_id, url=f"ws://{node_id}/offload", cores=2, speed_hz=2.5e9, tasks=["echo"]
    )


def metrics(cpu: float = 10.0, own: float = 0.0, memory: int = 8 * GIB) -> NodeMetrics:
    return NodeMetrics(
        cpu_percent=cpu, load_avg_1m=0.1, memory_available_bytes=memory, swap_used_bytes=0,
        disk_free_bytes=100 * GIB, disk_read_bytes_per_s=0, disk_write_bytes_per_s=0,
        net_recv_bytes_per_s=0, net_sent_bytes_per_s=0, queue_length=3, running_tasks=1,
        completed_per_s=5, failed_per_s=0, p95_task_ms=12.0, open_connections=2,
        process_rss_bytes=1, own_cpu_percent=own,
    )  # fmt: skip


def events(changes: list) -> list[EventKind]:  # type: ignore[type-arg]
    return [c.event for c in changes]


def beat_for(m: Membership, seconds: float, start: float = 0.0, step: float = 1.0) -> float:
    t = start
    while t < start + seconds:
        t += step
        m.beat("n1", metrics(), t)
    return t


def test_join_then_load_updates() -> None:
    m = Membership()
    assert events(m.register(hello(), 0.0)) == [EventKind.JOINED]
    changes = m.beat("n1", metrics(), 1.0)
    assert events(changes) == [EventKind.LOAD]
    view = m.get("n1")
    assert view is not None and (view.queue_length, view.p95_task_ms) == (3, 12.0)


def test_silence_makes_suspect_then_dead_and_a_heartbeat_recovers() -> None:
    m = Membership(heartbeat_interval_s=1.0, acceptable_pause_s=1.0)
    m.register(hello(), 0.0)
    t = beat_for(m, 20)
    assert m.tick(t + 1.0) == []  # one interval late: nothing
    seen = []
    for k in range(1, 60):
        seen += events(m.tick(t + k * 0.1))
    assert seen == [EventKind.SUSPECT, EventKind.DEAD]
    view = m.get("n1")
    assert view is not None and view.state is NodeState.DEAD
    assert events(m.beat("n1", metrics(), t + 10)) == [EventKind.RECOVERED]


def test_a_dead_node_that_registers_again_recovers() -> None:
    m = Membership()
    m.register(hello(), 0.0)
    m.tick(100.0)
    changes = m.register(hello(), 101.0)
    assert events(changes) == [EventKind.RECOVERED]


def test_degraded_health_drains_after_consecutive_samples_and_recovery_resumes() -> None:
    # Durations off: the sample count alone (test_health_gate.py covers durations).
    m = Membership(thresholds=HealthThresholds(consecutive=3, drain_after_s=0, resume_after_s=0))
    m.register(hello(), 0.0)
    got = []
    for t in range(1, 4):
        got += events(m.beat("n1", metrics(memory=GIB), float(t)))
    assert got == [EventKind.LOAD, EventKind.LOAD, EventKind.DRAINED]
    view = m.get("n1")
    assert view is not None and view.draining and "memory available" in (view.drain_reason or "")
    got = []
    for t in range(4, 7):
        got += events(m.beat("n1", metrics(), float(t)))
    assert got[-1] is EventKind.RESUMED


def test_healthy_busy_node_is_not_drained() -> None:
    m = Membership(thresholds=HealthThresholds(consecutive=1))
    m.register(hello(), 0.0)
    for t in range(1, 10):
        assert EventKind.DRAINED not in events(m.beat("n1", metrics(cpu=99, own=95), float(t)))


def test_operator_drain_is_not_resumed_by_health() -> None:
    m = Membership(thresholds=HealthThresholds(consecutive=1))
    m.register(hello(), 0.0)
    change = m.drain("n1", "maintenance")
    assert change is not None and change.event is EventKind.DRAINED
    assert m.drain("n1", "again") is None
    for t in range(1, 5):
        assert EventKind.RESUMED not in events(m.beat("n1", metrics(), float(t)))
    resumed = m.resume("n1")
    assert resumed is not None and resumed.event is EventKind.RESUMED
    assert m.resume("nope") is None and m.drain("nope", "x") is None


def test_restore_keeps_states_and_drain() -> None:
    m = Membership()
    m.register(hello(), 0.0)
    m.drain("n1", "maintenance")
    views = m.views()
    again = Membership()
    again.restore(views, 50.0)
    view = again.get("n1")
    assert view is not None and view.draining and view.drain_reason == "maintenance"
    assert again.tick(50.5) == []  # restored nodes get a fresh clock


def die(m: Membership, t: float) -> float:
    """Tick a silent n1 until it is declared dead; returns the time it was."""
    while True:
        t += 0.1
        if EventKind.DEAD in events(m.tick(t)):
            return t


def test_a_node_dead_past_the_retention_leaves_the_table() -> None:
    """The table used to keep every dead or made-up node forever."""
    m = Membership(dead_retention_s=60.0)
    m.register(hello(), 0.0)
    dead_at = die(m, beat_for(m, 10))
    assert m.get("n1") is not None
    assert m.tick(dead_at + 59.9) == []
    removed = m.tick(dead_at + 60.0)
    assert events(removed) == [EventKind.REMOVED]
    assert removed[0].detail == "dead for 60 s"
    assert m.get("n1") is None and "n1" not in [v.node_id for v in m.views()]
    assert m.tick(dead_at + 120.0) == []  # once
    # The node comes back later: it simply joins again.
    assert events(m.register(hello(), dead_at + 200.0)) == [EventKind.JOINED]


def test_a_node_that_recovers_in_time_starts_a_fresh_retention() -> None:
    m = Membership(dead_retention_s=60.0)
    m.register(hello(), 0.0)
    dead_at = die(m, beat_for(m, 10))
    t = beat_for(m, 10, start=dead_at + 30.0)  # back before the retention ran out
    again = die(m, t)
    assert m.tick(dead_at + 61.0) == []  # the first death no longer counts
    assert m.get("n1") is not None
    assert events(m.tick(again + 60.0)) == [EventKind.REMOVED]


def test_a_dead_node_restored_after_a_restart_leaves_after_the_retention() -> None:
    old = Membership(dead_retention_s=60.0)
    old.register(hello(), 0.0)
    die(old, beat_for(old, 10))
    [dead] = old.views()
    m = Membership(dead_retention_s=60.0)
    m.restore([dead], 1_000.0)  # counted from the restart: the death time was not kept
    assert m.tick(1_059.0) == []
    assert events(m.tick(1_060.0)) == [EventKind.REMOVED]


def test_without_a_retention_a_dead_node_stays() -> None:
    m = Membership(dead_retention_s=None)
    m.register(hello(), 0.0)
    dead_at = die(m, beat_for(m, 10))
    assert m.tick(dead_at + 1e9) == [] and m.get("n1") is not None
