"""Control-plane messages (JSON over WebSocket), pure.

Node → controller on ``/ws/node``: :class:`NodeHello` once, then a :class:`NodeBeat`
every ``heartbeat_interval_s``. Controller → node: :class:`Command` (drain, resume).

Controller → client on ``/ws/subscribe``: one :class:`TableSnapshot`, then a
:class:`TableUpdate` per change (join, load, suspect, dead, draining, recovered, ...).

They live in the protocol layer, beside the data-plane frames of :mod:`.messages`,
because three parties speak them: the controller, and the nodes and clients that must
not depend on the controller's package (an import contract says so). Only
:mod:`edgeoffload.metrics` (the health sample a beat carries) is imported, and it is
pure too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

import msgspec

from ..metrics import NodeMetrics


class NodeState(StrEnum):
    """Liveness as the controller sees it. Draining is separate (a node can be alive and
    draining)."""

    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"


class EventKind(StrEnum):
    """What the event log records (and the table update says)."""

    JOINED = "joined"
    LOAD = "load"
    SUSPECT = "suspect"
    DEAD = "dead"
    RECOVERED = "recovered"
    DRAINED = "drained"
    RESUMED = "resumed"
    RESUBMITTED = "tasks_resubmitted"


class NodeHello(msgspec.Struct, frozen=True, kw_only=True, tag="hello"):
    node_id: str
    url: str
    cores: int
    speed_hz: float
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    tasks: list[str] = msgspec.field(default_factory=list)


class NodeBeat(msgspec.Struct, frozen=True, kw_only=True, tag="beat"):
    node_id: str
    seq: int
    metrics: NodeMetrics


class Command(msgspec.Struct, frozen=True, kw_only=True, tag="command"):
    action: Literal["drain", "resume"]
    reason: str = ""


class NodeView(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the node table, as clients and the REST API see it."""

    node_id: str
    url: str
    state: NodeState
    draining: bool = False
    drain_reason: str | None = None
    cores: int = 1
    speed_hz: float = 0.0
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    tasks: list[str] = msgspec.field(default_factory=list)
    queue_length: int = 0
    running_tasks: int = 0
    cpu_percent: float = 0.0
    p95_task_ms: float | None = None
    joined_at: float = 0.0
    last_seen: float = 0.0

    @property
    def accepting(self) -> bool:
        return self.state is NodeState.ALIVE and not self.draining


class TableSnapshot(msgspec.Struct, frozen=True, kw_only=True, tag="snapshot"):
    nodes: list[NodeView]


class TableUpdate(msgspec.Struct, frozen=True, kw_only=True, tag="update"):
    event: EventKind
    node: NodeView


class ClientReport(msgspec.Struct, frozen=True, kw_only=True, tag="report"):
    """A client tells the controller what it did (for the event log)."""

    event: EventKind
    node_id: str
    count: int


NodeToController = NodeHello | NodeBeat
ControllerToClient = TableSnapshot | TableUpdate
