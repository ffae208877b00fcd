"""Control-plane messages (JSON over WebSocket), pure.

Node → controller on ``/ws/node``: :class:`NodeHello` once, then a :class:`NodeBeat`
every ``heartbeat_interval_s``. Controller → node: :class:`Command` (drain, resume).

Controller → client on ``/ws/subscribe``: one :class:`TableSnapshot`, then a
:class:`TableUpdate` per change (join, load, suspect, dead, draining, recovered, ...).
Client → controller on the same link: :class:`ClientReport` (its resubmissions, for the
event log) and :class:`ClientCounts` (where its tasks ran, for the dashboard).

They live in the protocol layer, beside the data-plane frames of :mod:`.messages`,
because three parties speak them: the controller, and the nodes and clients that must
not depend on the controller's package (an import contract says so). Only
:mod:`edgeoffload.metrics` (the health sample a beat carries) is imported, and it is
pure too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from ..metrics import NodeMetrics

# Every field a peer sends is bounded at decoding, so that nothing out of range reaches
# the membership, the store or the tick loop: a hello with ``cores = 2**63`` once passed
# decoding, overflowed SQLite's 64-bit INTEGER inside the tick loop and stopped failure
# detection for every node. The limits are far above any real value.

#: A node id: printable ASCII without spaces (host:port by default), at most 128.
NodeId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
#: URLs of at most 2,048 characters (the common limit of browsers and proxies).
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
#: Short names (labels, task names): at most 256 characters.
Name = Annotated[str, msgspec.Meta(max_length=256)]
#: Free text from operators (a drain reason): at most 1 KiB; a 2 MiB reason once
#: exceeded the node's frame limit and the node reconnected in a loop.
Reason = Annotated[str, msgspec.Meta(max_length=1024)]
#: Counts that fit a signed 64-bit column.
Int64 = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


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
    node_id: NodeId
    url: Url
    #: Worker processes (1 to 65,536).
    cores: Annotated[int, msgspec.Meta(ge=1, le=65_536)]
    #: Cycles per second of one core; finite (inf and NaN fail the bounds).
    speed_hz: Annotated[float, msgspec.Meta(ge=0, le=1e13)]
    labels: Annotated[dict[Name, Name], msgspec.Meta(max_length=64)] = msgspec.field(
        default_factory=dict
    )
    tasks: Annotated[list[Name], msgspec.Meta(max_length=10_000)] = msgspec.field(
        default_factory=list
    )


class NodeBeat(msgspec.Struct, frozen=True, kw_only=True, tag="beat"):
    node_id: NodeId
    seq: Int64
    metrics: NodeMetrics


class Command(msgspec.Struct, frozen=True, kw_only=True, tag="command"):
    action: Literal["drain", "resume"]
    reason: Reason = ""


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
    #: The node's data-locality cache at its last heartbeat: hit share (0..100) and
    #: argument bytes its clients did not send.
    cache_hit_percent: float = 0.0
    cache_bytes_saved: int = 0

    @property
    def accepting(self) -> bool:
        return self.state is NodeState.ALIVE and not self.draining


class TableSnapshot(msgspec.Struct, frozen=True, kw_only=True, tag="snapshot"):
    nodes: list[NodeView]
    #: The controller takes :class:`ClientCounts` on this link. A client sends them only
    #: when this says so: an older controller closes a link that sends a message it
    #: does not know (and an older client ignores this field).
    counts: bool = False


class TableUpdate(msgspec.Struct, frozen=True, kw_only=True, tag="update"):
    event: EventKind
    node: NodeView


class ClientReport(msgspec.Struct, frozen=True, kw_only=True, tag="report"):
    """A client tells the controller what it did (for the event log)."""

    event: EventKind
    node_id: NodeId
    count: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]


class ClientCounts(msgspec.Struct, frozen=True, kw_only=True, tag="counts"):
    """A client's running totals of tasks completed on the device and on the edge, sent
    about once a second while they change: the dashboard's offload share."""

    local: Int64
    edge: Int64


NodeToController = NodeHello | NodeBeat
ClientToController = ClientReport | ClientCounts
ControllerToClient = TableSnapshot | TableUpdate
