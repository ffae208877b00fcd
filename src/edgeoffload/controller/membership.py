"""Who is alive, suspect, dead or draining: the controller's pure state machine.

Events come in with their time (``now``, seconds of a monotonic or wall clock); each
call returns the changes to record in the store and push to clients. A phi-accrual
detector (:mod:`edgeoffload.liveness`) per node turns missed heartbeats into suspect,
then dead; a heartbeat from a suspect or dead node makes it alive again (recovered).
Degraded health for ``thresholds.consecutive`` samples in a row drains a node; as many
healthy samples in a row resume it, unless an operator drained it (only an operator
resumes that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from ..liveness import PhiAccrual
from ..metrics import HealthThresholds, NodeMetrics, assess
from ..protocol.control import EventKind, NodeHello, NodeState, NodeView

HEALTH = "health: "


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that happened to one node."""

    event: EventKind
    node: NodeView
    detail: str = ""


@dataclass(slots=True)
class _Entry:
    view: NodeView
    detector: PhiAccrual
    metrics: NodeMetrics | None = None
    degraded_run: int = 0
    healthy_run: int = 0


@dataclass
class Membership:
    """The node table and its transitions (module docstring).

    Args:
        heartbeat_interval_s: nodes' heartbeat period.
        suspect_phi / dead_phi: suspicion levels of the two transitions.
        acceptable_pause_s: silence that is never suspicious.
    """

    heartbeat_interval_s: float = 1.0
    suspect_phi: float = 8.0
    dead_phi: float = 12.0
    acceptable_pause_s: float = 1.0
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    _nodes: dict[str, _Entry] = field(default_factory=dict)

    def views(self) -> list[NodeView]:
        return [e.view for e in self._nodes.values()]

    def get(self, node_id: str) -> NodeView | None:
        entry = self._nodes.get(node_id)
        return entry.view if entry else None

    def restore(self, views: list[NodeView], now: float) -> None:
        """Reload the table after a controller restart; heartbeats resume the clock
        (a node that stays silent is suspected and declared dead as usual)."""
        for view in views:
            entry = self._entry(view)
            entry.detector.heartbeat(now)

    def _entry(self, view: NodeView) -> _Entry:
        entry = _Entry(
            view,
            PhiAccrual(self.heartbeat_interval_s, acceptable_pause_s=self.acceptable_pause_s),
        )
        self._nodes[view.node_id] = entry
        return entry

    # -- input ----------------------------------------------------------------------------

    def register(self, hello: NodeHello, now: float) -> list[Change]:
        old = self._nodes.get(hello.node_id)
        view = NodeView(
            node_id=hello.node_id,
            url=hello.url,
            state=NodeState.ALIVE,
            draining=old.view.draining if old else False,
            drain_reason=old.view.drain_reason if old else None,
            cores=hello.cores,
            speed_hz=hello.speed_hz,
            labels=dict(hello.labels),
            tasks=list(hello.tasks),
            joined_at=now,
            last_seen=now,
        )
        entry = self._entry(view)
        entry.detector.heartbeat(now)
        if old is not None and old.view.state is not NodeState.ALIVE:
            return [Change(EventKind.RECOVERED, view, f"was {old.view.state}")]
        return [Change(EventKind.JOINED, view)]

    def beat(self, node_id: str, metrics: NodeMetrics, now: float) -> list[Change]:
        entry = self._nodes.get(node_id)
        if entry is None:
            return []
        entry.detector.heartbeat(now)
        entry.metrics = metrics
        changes: list[Change] = []
        view = msgspec.structs.replace(
            entry.view,
            queue_length=metrics.queue_length,
            running_tasks=metrics.running_tasks,
            cpu_percent=metrics.cpu_percent,
            p95_task_ms=metrics.p95_task_ms,
            last_seen=now,
            cache_hit_percent=metrics.cache_hit_percent,
            cache_bytes_saved=metrics.cache_bytes_saved,
        )
        if view.state is not NodeState.ALIVE:
            was = view.state
            view = msgspec.structs.replace(view, state=NodeState.ALIVE)
            changes.append(Change(EventKind.RECOVERED, view, f"was {was}"))
        entry.view = view
        changes += self._judge_health(entry, metrics)
        if not changes:
            changes.append(Change(EventKind.LOAD, entry.view))
        return changes

    def _judge_health(self, entry: _Entry, metrics: NodeMetrics) -> list[Change]:
        reasons = assess(metrics, self.thresholds)
        if reasons:
            entry.degraded_run += 1
            entry.healthy_run = 0
        else:
            entry.healthy_run += 1
            entry.degraded_run = 0
        view = entry.view
        need = self.thresholds.consecutive
        if reasons and not view.draining and entry.degraded_run >= need:
            return [self._set_drain(entry, HEALTH + "; ".join(reasons))]
        health_drained = view.draining and (view.drain_reason or "").startswith(HEALTH)
        if not reasons and health_drained and entry.healthy_run >= need:
            return [self._set_resume(entry, "health recovered")]
        return []

    def tick(self, now: float) -> list[Change]:
        """Check every node's silence; returns suspect and dead transitions."""
        changes = []
        for entry in self._nodes.values():
            phi = entry.detector.phi(now)
            state = entry.view.state
            new = state
            if state is not NodeState.DEAD and phi >= self.dead_phi:
                new = NodeState.DEAD
            elif state is NodeState.ALIVE and phi >= self.suspect_phi:
                new = NodeState.SUSPECT
            if new is not state:
                entry.view = msgspec.structs.replace(entry.view, state=new)
                kind = EventKind.DEAD if new is NodeState.DEAD else EventKind.SUSPECT
                changes.append(Change(kind, entry.view, f"phi {phi:.1f}"))
        return changes

    def drain(self, node_id: str, reason: str) -> Change | None:
        """Operator drain (stays until :meth:`resume`). None if unknown or already so."""
        entry = self._nodes.get(node_id)
        if entry is None or entry.view.draining:
            return None
        return self._set_drain(entry, reason)

    def resume(self, node_id: str) -> Change | None:
        entry = self._nodes.get(node_id)
        if entry is None or not entry.view.draining:
            return None
        return self._set_resume(entry, "resumed by operator")

    def _set_drain(self, entry: _Entry, reason: str) -> Change:
        entry.view = msgspec.structs.replace(entry.view, draining=True, drain_reason=reason)
        return Change(EventKind.DRAINED, entry.view, reason)

    def _set_resume(self, entry: _Entry, reason: str) -> Change:
        entry.view = msgspec.structs.replace(entry.view, draining=False, drain_reason=None)
        return Change(EventKind.RESUMED, entry.view, reason)
