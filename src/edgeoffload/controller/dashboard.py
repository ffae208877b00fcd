"""What the live dashboard shows, kept in memory: the last minutes of every node's
heartbeat samples and of the clients' offload share, and the frames pushed to pages.

Pure: time arrives as an argument, nothing here reads a clock or a socket. The
controller (:mod:`.service`) feeds it each heartbeat and each client count report, and
pushes the frames it returns to the pages following ``/api/stream`` (:mod:`.web`).

Why in memory and not from the store: the charts cover minutes, at one sample a second
per node; a page that connects needs all of them at once, and a query per node per
page would put the store's thread on the path of every reload. The store keeps the
long series (``retention_s``) for the REST API.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import msgspec

from ..metrics import NodeMetrics
from ..protocol.control import NodeView

#: How far back the charts go: long enough to see a trend, short enough that a page
#: loads in one frame (600 samples a node at 1 Hz, 4 numbers each).
WINDOW_S = 600.0
#: Width of one offload-share bucket: clients report once a second, each on its own
#: clock, so the share is summed over a few reports rather than taken from one.
SHARE_BUCKET_S = 5.0


class Point(msgspec.Struct, frozen=True, array_like=True):
    """One chart point of one node: what its heartbeat said at ``ts``."""

    ts: float
    completed_per_s: float
    failed_per_s: float
    p95_task_ms: float | None
    queue_length: int
    running_tasks: int


class SharePoint(msgspec.Struct, frozen=True, array_like=True):
    """Tasks completed by clients in one bucket, on the device and on the edge."""

    ts: float
    local: int
    edge: int


class Event(msgspec.Struct, frozen=True):
    """One row of the event log, as the REST API and the page see it."""

    id: int
    ts: float
    kind: str
    node_id: str
    detail: str


class Latest(msgspec.Struct, frozen=True):
    ts: float
    metrics: NodeMetrics


class Snapshot(msgspec.Struct, frozen=True, kw_only=True, tag="snapshot"):
    """The first frame of a stream: everything the page draws."""

    now: float
    window_s: float
    #: Whether this stream's token may drain and resume (the page shows the buttons).
    can_write: bool
    nodes: list[NodeView]
    latest: dict[str, Latest]
    series: dict[str, list[Point]]
    share: list[SharePoint]
    share_bucket_s: float
    events: list[Event]


class SampleFrame(msgspec.Struct, frozen=True, kw_only=True, tag="sample"):
    """A node's heartbeat: its full metrics, and the chart point made of them."""

    node_id: str
    ts: float
    metrics: NodeMetrics
    point: Point


class EventFrame(msgspec.Struct, frozen=True, kw_only=True, tag="event"):
    event: Event


class ShareFrame(msgspec.Struct, frozen=True, kw_only=True, tag="share"):
    """The current bucket's totals (a later frame for the same ``ts`` replaces it)."""

    point: SharePoint


def point_of(ts: float, m: NodeMetrics) -> Point:
    return Point(ts, m.completed_per_s, m.failed_per_s, m.p95_task_ms, m.queue_length,
                 m.running_tasks)  # fmt: skip


@dataclass
class _Client:
    local: int
    edge: int


@dataclass
class Recent:
    """The dashboard's memory (module docstring).

    Args:
        window_s: samples and share buckets older than this are dropped.
        share_bucket_s: width of one offload-share bucket.
    """

    window_s: float = WINDOW_S
    share_bucket_s: float = SHARE_BUCKET_S
    _series: dict[str, deque[Point]] = field(default_factory=dict)
    _latest: dict[str, Latest] = field(default_factory=dict)
    _share: deque[SharePoint] = field(default_factory=deque)
    _clients: dict[int, _Client] = field(default_factory=dict)

    def add_sample(self, node_id: str, ts: float, metrics: NodeMetrics) -> SampleFrame:
        """Record a heartbeat; returns the frame to push to pages."""
        point = point_of(ts, metrics)
        series = self._series.setdefault(node_id, deque())
        series.append(point)
        self._latest[node_id] = Latest(ts, metrics)
        _trim(series, ts - self.window_s)
        return SampleFrame(node_id=node_id, ts=ts, metrics=metrics, point=point)

    def add_counts(self, client: int, local: int, edge: int, now: float) -> ShareFrame | None:
        """Record a client's running totals of tasks completed locally and on the edge.

        The first report of a client only sets its baseline (it may have run for hours
        before it connected), and totals that went down mean it restarted its counters:
        a new baseline too. Returns the frame of the bucket that changed, if any.
        """
        before = self._clients.get(client)
        self._clients[client] = _Client(local, edge)
        if before is None or local < before.local or edge < before.edge:
            return None
        d_local, d_edge = local - before.local, edge - before.edge
        if not d_local and not d_edge:
            return None
        start = now - now % self.share_bucket_s
        if self._share and self._share[-1].ts == start:
            last = self._share.pop()
            d_local, d_edge = d_local + last.local, d_edge + last.edge
        point = SharePoint(start, d_local, d_edge)
        self._share.append(point)
        _trim(self._share, now - self.window_s)
        return ShareFrame(point=point)

    def latest(self) -> dict[str, Latest]:
        """Each node's last sample."""
        return dict(self._latest)

    def client_gone(self, client: int) -> None:
        """Forget a client whose subscription ended (a reconnect starts a new baseline)."""
        self._clients.pop(client, None)

    def snapshot(
        self, now: float, nodes: list[NodeView], events: list[Event], can_write: bool
    ) -> Snapshot:
        """Everything within the window at ``now``, for a page that just connected."""
        since = now - self.window_s
        for series in self._series.values():
            _trim(series, since)
        _trim(self._share, since)
        return Snapshot(
            now=now,
            window_s=self.window_s,
            can_write=can_write,
            nodes=sorted(nodes, key=lambda v: v.node_id),
            latest=dict(self._latest),
            series={n: list(s) for n, s in self._series.items() if s},
            share=list(self._share),
            share_bucket_s=self.share_bucket_s,
            events=events,
        )


def _trim(points: deque[Point] | deque[SharePoint], since: float) -> None:
    while points and points[0].ts < since:
        points.popleft()
