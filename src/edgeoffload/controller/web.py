"""The controller's live dashboard: the page at ``/``, its two static files, and the
stream of updates at ``/api/stream`` (server-sent events).

The page is rendered here with what the controller knows when it is asked (the nodes,
their state, metrics and labels), so it shows the site without JavaScript; its script
(``static/dashboard.js``, plain, no build step) then follows the stream, redraws the
nodes, the charts (plain SVG) and the event log, and offers drain and resume. Nothing
it loads comes from another site, which an edge site without internet needs; the
``Content-Security-Policy`` header makes the browser hold the page to that.

Server-sent events rather than a WebSocket: one-way is all the page needs, and the
stream is a plain GET, authorised like every read. The script reads it with ``fetch``
(not ``EventSource``, which cannot send an ``Authorization`` header), so a token never
goes into a URL, where logs and proxies would keep it.
"""

from __future__ import annotations

import html
import string
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from ..auth import Keys
from ..errors import Unauthorized
from ..metrics import METRIC_NAMES, NodeMetrics
from ..protocol.control import EventKind, NodeState, NodeView
from ..version import __version__
from .access import Access, authorize
from .dashboard import Latest
from .service import Controller

#: The page's metrics, in the order shown: field, label, how to format the value.
#: Every field of :class:`~edgeoffload.metrics.NodeMetrics` (a test checks it).
METRICS: tuple[tuple[str, str, str], ...] = (
    ("cpu_percent", "CPU", "pct"),
    ("own_cpu_percent", "node CPU", "pct"),
    ("load_avg_1m", "load 1m", "num"),
    ("memory_available_bytes", "mem free", "bytes"),
    ("swap_used_bytes", "swap used", "bytes"),
    ("disk_free_bytes", "disk free", "bytes"),
    ("disk_read_bytes_per_s", "disk read", "bps"),
    ("disk_write_bytes_per_s", "disk write", "bps"),
    ("net_recv_bytes_per_s", "net in", "bps"),
    ("net_sent_bytes_per_s", "net out", "bps"),
    ("queue_length", "queue", "int"),
    ("running_tasks", "running", "int"),
    ("completed_per_s", "done/s", "rate"),
    ("failed_per_s", "failed/s", "rate"),
    ("p95_task_ms", "p95 task", "ms"),
    ("open_connections", "conns", "int"),
    ("process_rss_bytes", "RSS", "bytes"),
    ("temperature_c", "temp", "celsius"),
    ("cache_hit_percent", "cache hits", "pct"),
    ("cache_bytes_saved", "cache saved", "bytes"),
    ("cache_hits", "cache hit n", "int"),
    ("cache_misses", "cache miss n", "int"),
    ("cache_used_bytes", "cache used", "bytes"),
)
assert {m[0] for m in METRICS} == set(METRIC_NAMES)

#: Kinds of the event log the page filters on (``load`` is never logged).
EVENT_KINDS = tuple(k.value for k in EventKind if k is not EventKind.LOAD)

#: Seconds between keep-alive comments on a quiet stream: under the idle timeouts of
#: common proxies (nginx's proxy_read_timeout is 60 s).
KEEPALIVE_S = 15.0

#: Headers of the page. The policy allows only this origin: no CDN, font or beacon,
#: and no script that an injected label could smuggle in (inline scripts are refused).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_STATIC_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
Denied = Callable[[Request, Access], Response | None]


def _read(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


def add_routes(
    app: FastAPI, controller: Controller, keys: Keys | None, open_reads: bool, denied: Denied
) -> None:
    """Add the dashboard's routes to the controller's application.

    ``denied`` is the API's check (a 401/403 answer, or ``None`` when allowed).
    """
    static = {name: _read(name) for name in _STATIC_TYPES}
    template = string.Template(_read("dashboard.html").decode())

    @app.api_route("/", methods=["GET", "HEAD"], response_class=Response, include_in_schema=False)
    async def page(request: Request) -> Response:
        # The page itself is served to anyone: a browser cannot send a token with a
        # navigation, and the page is what asks for one. Its data is rendered only when
        # reads are open; otherwise the script fetches it with the token.
        readable = denied(request, Access.READ) is None
        body = render_page(
            template,
            controller.membership.views() if readable else None,
            controller.recent.latest() if readable else {},
            auth=keys is not None,
            reads_open=readable,
        )
        return Response(body, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    @app.get("/static/{name}", response_class=Response, include_in_schema=False)
    async def static_file(name: str) -> Response:
        if name not in static:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return Response(
            static[name],
            media_type=_STATIC_TYPES[name],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @app.get(
        "/api/stream",
        response_class=Response,
        responses={200: {"description": "server-sent events: snapshot, then updates"}},
    )
    async def stream(request: Request) -> Response:
        """The dashboard's live feed (``text/event-stream``): one ``snapshot`` frame,
        then ``update``, ``sample``, ``event`` and ``share`` frames (JSON, each with its
        ``type``). Authorised like every read; ``can_write`` in the snapshot says whether
        the same token may drain and resume. Ends when the token expires."""
        if (refused := denied(request, Access.READ)) is not None:
            return refused
        header = request.headers.get("authorization")
        can_write = denied(request, Access.WRITE) is None
        until = None
        try:
            claims = authorize(keys, Access.READ, header, open_reads)
        except Unauthorized:  # pragma: no cover - denied() said it passes
            claims = None
        if claims is not None:
            until = claims.expires_at
        frames = controller.watch(can_write, idle_s=KEEPALIVE_S, until=until)
        return StreamingResponse(
            _sse(frames),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _sse(frames: AsyncIterator[bytes | None]) -> AsyncIterator[bytes]:
    """Frames as server-sent events (one ``data:`` line each: compact JSON has no
    newline), ``None`` as a keep-alive comment."""
    yield b"retry: 2000\n\n"
    async for frame in frames:
        yield b": keep-alive\n\n" if frame is None else b"data: " + frame + b"\n\n"


# -- the page, rendered -----------------------------------------------------------------------


def render_page(
    template: string.Template,
    nodes: list[NodeView] | None,
    latest: dict[str, Latest],
    *,
    auth: bool,
    reads_open: bool,
) -> str:
    """The dashboard's HTML; ``nodes`` is ``None`` when the reader needs a token."""
    if nodes is None:
        cards = '<p class="empty">A token is needed to read this controller.</p>'
    elif not nodes:
        cards = '<p class="empty">No node has registered yet.</p>'
    else:
        cards = "\n".join(
            node_card(v, latest.get(v.node_id)) for v in sorted(nodes, key=lambda v: v.node_id)
        )
    config = {
        "auth": auth,
        "reads_open": reads_open,
        "metrics": METRICS,
        "event_kinds": EVENT_KINDS,
    }
    kinds = "".join(
        f'<label><input type="checkbox" name="kind" value="{k}" checked> {k}</label>'
        for k in EVENT_KINDS
    )
    return template.substitute(
        version=html.escape(__version__),
        config=html.escape(msgspec.json.encode(config).decode()),
        summary=summary(nodes) if nodes is not None else "",
        nodes=cards,
        kinds=kinds,
    )


def summary(nodes: list[NodeView]) -> str:
    counts = {s.value: 0 for s in NodeState} | {"draining": 0}
    for v in nodes:
        counts[v.state.value] += 1
        counts["draining"] += v.draining
    return " ".join(
        f'<span class="count state-{k}"><b>{n}</b> {k}</span>' for k, n in counts.items()
    )


def node_card(view: NodeView, latest: Latest | None) -> str:
    """One node: id, state, drain reason, URL, labels and its latest metrics.

    The script draws the same content (``nodeHead`` and ``nodeBody`` in dashboard.js);
    every string from a node is escaped, since any node may name and label itself as it
    likes.
    """
    e = html.escape
    state = view.state.value
    draining = '<span class="badge draining">draining</span>' if view.draining else ""
    reason = (
        f'<p class="reason">{e(view.drain_reason)}</p>'
        if view.draining and view.drain_reason
        else ""
    )
    labels = "".join(f"<li>{e(k)}={e(v)}</li>" for k, v in sorted(view.labels.items()))
    metrics = latest.metrics if latest is not None else None
    cells = "".join(
        f'<div><dt>{label}</dt><dd data-metric="{name}">{e(_value(metrics, name, kind))}</dd></div>'
        for name, label, kind in METRICS
    )
    return (
        f'<article class="node" data-node="{e(view.node_id)}" data-state="{state}" '
        f'data-draining="{str(view.draining).lower()}">'
        f'<header><h3>{e(view.node_id)}</h3><span class="badge state-{state}">{state}</span>'
        f"{draining}</header>{reason}"
        f'<p class="url">{e(view.url)} · {_workers(view.cores)}</p>'
        f'<ul class="labels">{labels}</ul><dl class="metrics">{cells}</dl></article>'
    )


def _workers(n: int) -> str:
    return "1 worker" if n == 1 else f"{n} workers"


def _value(metrics: NodeMetrics | None, name: str, kind: str) -> str:
    if metrics is None:
        return "–"
    return format_value(getattr(metrics, name), kind)


def format_value(value: Any, kind: str) -> str:
    """A metric for people (``formatValue`` in dashboard.js does the same)."""
    if value is None:
        return "–"
    v = float(value)
    if kind in ("bytes", "bps"):
        units = ["B", "KiB", "MiB", "GiB", "TiB"]
        i = 0
        while abs(v) >= 1024 and i < len(units) - 1:
            v /= 1024
            i += 1
        text = f"{v:.0f} {units[i]}" if i == 0 or v >= 100 else f"{v:.1f} {units[i]}"
        return text + ("/s" if kind == "bps" else "")
    if kind == "pct":
        return f"{v:.0f} %"
    if kind == "int":
        return f"{v:.0f}"
    if kind == "ms":
        if v < 1:
            return f"{v:.2g} ms"
        return f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"
    if kind == "celsius":
        return f"{v:.0f} °C"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"
