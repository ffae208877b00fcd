"""The controller's HTTP side: REST API with an OpenAPI document, Prometheus metrics,
health probes, the two WebSocket endpoints (nodes, subscribers), and the dashboard
(its page and stream are in :mod:`.web`).

Bodies are encoded by msgspec from the same structs the rest of the system uses, and
the OpenAPI schemas are generated from those structs too (one definition of each
shape). Every error is JSON ``{"error": CODE, "message": TEXT}`` with a 4xx status;
an unexpected failure is a 500 with the same shape and no traceback.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..auth import Claims
from ..config import keys_of
from ..errors import Forbidden, Unauthorized
from ..metrics import NodeMetrics
from ..protocol.control import NodeView, Reason
from ..version import __version__
from . import web
from .access import Access, authorize
from .dashboard import Event
from .service import Controller

log = logging.getLogger("edgeoffload.controller")


class MetricSample(msgspec.Struct, frozen=True):
    ts: float
    metrics: NodeMetrics


class ErrorBody(msgspec.Struct, frozen=True):
    error: str
    message: str
    detail: Any = None


class DrainRequest(msgspec.Struct, frozen=True):
    reason: Reason = ""


#: Largest REST request body read; the drain body is a short reason (a 200 MiB one was
#: once accepted whole: +801 MiB of controller memory and a 632 MB database).
MAX_BODY_BYTES = 64 * 1024
#: Largest id a query may name: the store's ids are signed 64-bit integers
#: (``since_id=2**63`` answered 500).
MAX_ID = 2**63 - 1


_REF = "#/components/schemas/{name}"
_SCHEMAS = (NodeView, MetricSample, Event, ErrorBody, DrainRequest)


def _json(value: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def _error(status: int, error: str, message: str, detail: Any = None) -> Response:
    return _json(ErrorBody(error, message, detail), status)


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _body(_ref("ErrorBody"), "no such node")}
BAD: dict[int | str, dict[str, Any]] = {422: _body(_ref("ErrorBody"), "invalid parameter")}
DENIED: dict[int | str, dict[str, Any]] = {
    401: _body(_ref("ErrorBody"), "token missing or refused (with a secret)"),
    403: _body(_ref("ErrorBody"), "the token's role may not do this"),
}
#: WebSocket close code for refused credentials (RFC 6455 section 7.4.1: policy violation).
CLOSE_POLICY = 1008


def create_app(controller: Controller) -> FastAPI:
    """The FastAPI application bound to a running :class:`Controller`."""
    app = FastAPI(
        title="edgeoffload controller",
        version=__version__,
        description="Membership, health and the node table of an edgeoffload site.",
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "http_error"
        response = _error(exc.status_code, code, str(exc.detail))
        if exc.headers:  # e.g. Allow on a 405, which Starlette sets and this must keep
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return _error(422, "bad_request", f"{where}: {first['msg']}", errors)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("request %s failed", request.url.path)
        return _error(500, "internal", "internal error; see the controller log")

    keys = keys_of(controller.config)
    open_reads = controller.config.open_reads

    def denied(request: Request, access: Access) -> Response | None:
        """The 401/403 answer when the request may not reach this endpoint (access.py)."""
        try:
            authorize(keys, access, request.headers.get("authorization"), open_reads)
        except Forbidden as exc:
            return _error(403, "forbidden", exc.message)
        except Unauthorized as exc:
            response = _error(401, "unauthorized", exc.message)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return None

    def node_or_404(node_id: str) -> NodeView | Response:
        view = controller.membership.get(node_id)
        return view if view is not None else _error(404, "not_found", f"no node {node_id!r}")

    @app.get(
        "/api/nodes",
        response_class=Response,
        responses={200: _body({"type": "array", "items": _ref("NodeView")}, "every known node")},
    )
    async def list_nodes(request: Request) -> Response:
        if (refused := denied(request, Access.READ)) is not None:
            return refused
        return _json(sorted(controller.membership.views(), key=lambda v: v.node_id))

    @app.get(
        "/api/nodes/{node_id}",
        response_class=Response,
        responses={200: _body(_ref("NodeView"), "the node"), **NOT_FOUND},
    )
    async def get_node(node_id: str, request: Request) -> Response:
        if (refused := denied(request, Access.READ)) is not None:
            return refused
        found = node_or_404(node_id)
        return found if isinstance(found, Response) else _json(found)

    @app.get(
        "/api/nodes/{node_id}/metrics",
        response_class=Response,
        responses={
            200: _body({"type": "array", "items": _ref("MetricSample")}, "samples, oldest first"),
            **NOT_FOUND,
            **BAD,
        },
    )
    async def node_metrics(
        node_id: str,
        request: Request,
        since: float | None = Query(None, description="Unix time; default: 5 minutes ago"),
        limit: int = Query(1000, ge=1, le=10_000),
    ) -> Response:
        if (refused := denied(request, Access.READ)) is not None:
            return refused
        found = node_or_404(node_id)
        if isinstance(found, Response):
            return found
        start = since if since is not None else time.time() - 300
        rows = await controller.db(controller.store.metrics, node_id, start, limit)
        return _json([MetricSample(ts, m) for ts, m in rows])

    async def _drain_reason(request: Request) -> str | Response:
        raw = await _capped_body(request)
        if raw is None:
            return _error(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
        if not raw:
            return ""
        try:
            return msgspec.json.decode(raw, type=DrainRequest).reason
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error(422, "bad_request", f"body: {exc}")

    @app.post(
        "/api/nodes/{node_id}/drain",
        response_class=Response,
        openapi_extra={"requestBody": {"required": False, **_body(_ref("DrainRequest"), "why")}},
        responses={200: _body(_ref("NodeView"), "the node, draining"), **NOT_FOUND, **BAD},
    )
    async def drain(node_id: str, request: Request) -> Response:
        if (refused := denied(request, Access.WRITE)) is not None:
            return refused
        reason = await _drain_reason(request)
        if isinstance(reason, Response):
            return reason
        view = await controller.drain(node_id, reason)
        return _json(view) if view is not None else _error(404, "not_found", f"no node {node_id!r}")

    @app.post(
        "/api/nodes/{node_id}/resume",
        response_class=Response,
        responses={200: _body(_ref("NodeView"), "the node, taking work"), **NOT_FOUND},
    )
    async def resume(node_id: str, request: Request) -> Response:
        if (refused := denied(request, Access.WRITE)) is not None:
            return refused
        view = await controller.resume(node_id)
        return _json(view) if view is not None else _error(404, "not_found", f"no node {node_id!r}")

    @app.get(
        "/api/events",
        response_class=Response,
        responses={
            200: _body({"type": "array", "items": _ref("Event")}, "events, oldest first"),
            **BAD,
        },
    )
    async def events(
        request: Request,
        since_id: int = Query(0, ge=0, le=MAX_ID, description="return events after this id"),
        limit: int = Query(100, ge=1, le=10_000),
        node_id: str | None = None,
        last: int | None = Query(None, ge=1, le=10_000, description="the newest N instead"),
    ) -> Response:
        if (refused := denied(request, Access.READ)) is not None:
            return refused
        if last is not None:
            rows = await controller.events(since_id, last, node_id, newest=True)
        else:
            rows = await controller.events(since_id, limit, node_id)
        return _json([Event(r.id, r.ts, r.kind, r.node_id, r.detail) for r in rows])

    @app.get("/metrics", response_class=Response, include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if (refused := denied(request, Access.READ)) is not None:
            return refused
        return Response(_prometheus_text(controller), media_type="text/plain; version=0.0.4")

    @app.get("/healthz", response_class=Response)
    async def healthz() -> Response:
        return Response("ok\n", media_type="text/plain")

    @app.get("/readyz", response_class=Response)
    async def readyz() -> Response:
        if controller.ready:
            return Response("ready\n", media_type="text/plain")
        return Response("starting\n", status_code=503, media_type="text/plain")

    async def admitted(ws: WebSocket, access: Access) -> tuple[bool, Claims | None]:
        """Whether a WebSocket may proceed, with its token's claims. A refused one is
        accepted, then closed with 1008 and the reason, so the peer can log why."""
        try:
            return True, authorize(keys, access, ws.headers.get("authorization"))
        except Unauthorized as exc:
            await ws.accept()
            await ws.close(code=CLOSE_POLICY, reason=f"unauthorized: {exc.message}"[:120])
            return False, None

    @app.websocket("/ws/node")
    async def node_ws(ws: WebSocket) -> None:
        ok, claims = await admitted(ws, Access.NODE)
        if ok:
            await _session(ws, lambda r, s: controller.node_session(r, s, claims))

    @app.websocket("/ws/subscribe")
    async def subscribe_ws(ws: WebSocket) -> None:
        ok, claims = await admitted(ws, Access.SUBSCRIBE)
        if ok:
            await _session(ws, lambda r, s: controller.subscriber_session(r, s, claims))

    web.add_routes(app, controller, keys, open_reads, denied)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _, components = msgspec.json.schema_components(_SCHEMAS, ref_template=_REF)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _capped_body(request: Request) -> bytes | None:
    """The request body, or ``None`` once it exceeds :data:`MAX_BODY_BYTES` (refused from
    its Content-Length when it has one, else while it streams in: never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def _session(ws: WebSocket, run: Any) -> None:
    """Accept, then hand the session to the controller; a bad message closes it (1003)."""
    await ws.accept()

    async def receive() -> str:
        return await ws.receive_text()

    async def send(data: bytes) -> None:
        await ws.send_text(data.decode())

    try:
        await run(receive, send)
    except WebSocketDisconnect:
        pass
    except Unauthorized as exc:
        log.warning("control connection refused: %s", exc.message)
        await ws.close(code=CLOSE_POLICY, reason=f"unauthorized: {exc.message}"[:120])
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        log.info("control connection closed: %s", exc)
        await ws.close(code=1003, reason=str(exc)[:120])


def _prometheus_text(controller: Controller) -> bytes:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    stats = controller.statistics()
    registry = CollectorRegistry()
    nodes = Gauge("edgeoffload_controller_nodes", "nodes by state", ["state"], registry=registry)
    for state in ("alive", "suspect", "dead"):
        nodes.labels(state=state).set(stats.nodes_by_state.get(state, 0))
    Gauge("edgeoffload_controller_nodes_draining", "nodes draining", registry=registry).set(
        stats.draining
    )
    Gauge(
        "edgeoffload_controller_subscribers", "clients following the table", registry=registry
    ).set(stats.subscribers)
    Gauge(
        "edgeoffload_controller_dashboard_streams",
        "dashboard pages following /api/stream",
        registry=registry,
    ).set(stats.pages)
    Gauge("edgeoffload_controller_heartbeats", "heartbeats received", registry=registry).set(
        stats.heartbeats
    )
    Gauge("edgeoffload_controller_events", "events logged", registry=registry).set(stats.events)
    Gauge(
        "edgeoffload_controller_failed_changes",
        "changes that could not be applied",
        registry=registry,
    ).set(stats.failed_changes)
    per_node = {
        name: Gauge(
            f"edgeoffload_node_{name}", f"node {name} (last heartbeat)", ["node"], registry=registry
        )
        for name in (
            "queue_length",
            "running_tasks",
            "cpu_percent",
            "cache_hit_percent",
            "cache_bytes_saved",
        )
    }
    for view in controller.membership.views():
        for name, gauge in per_node.items():
            gauge.labels(node=view.node_id).set(float(getattr(view, name)))
    return generate_latest(registry)
