"""A real controller (uvicorn on port 0, SQLite in a temporary folder) served from a
background thread of this process, for tests that speak HTTP to it without a child
process; nodes are registered and sampled through the controller itself."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from edgeoffload.config import ControllerConfig
from edgeoffload.controller.runner import ControllerServer
from edgeoffload.metrics import NodeMetrics
from edgeoffload.protocol.control import NodeHello

T = TypeVar("T")


def metrics(**kw: Any) -> NodeMetrics:
    fields: dict[str, Any] = dict(
        cpu_percent=12.0,
        load_avg_1m=0.5,
        memory_available_bytes=8 * 1024**3,
        swap_used_bytes=0,
        disk_free_bytes=100 * 1024**3,
        disk_read_bytes_per_s=0.0,
        disk_write_bytes_per_s=0.0,
        net_recv_bytes_per_s=0.0,
        net_sent_bytes_per_s=0.0,
        queue_length=3,
        running_tasks=2,
        completed_per_s=41.5,
        failed_per_s=0.0,
        p95_task_ms=None,
        open_connections=1,
        process_rss_bytes=1 << 20,
    )
    fields.update(kw)
    return NodeMetrics(**fields)


class Served:
    """The server, its loop, and helpers to act on it from the test's thread."""

    def __init__(self, server: ControllerServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.url = server.url

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def register(self, node_id: str, with_sample: bool = False) -> None:
        c = self.server.controller
        now = time.time()
        hello = NodeHello(node_id=node_id, url=f"ws://10.0.0.1:1/{node_id}", cores=2, speed_hz=1e9)
        self.call(c.apply(c.membership.register(hello, now)))
        if with_sample:
            sample = metrics()
            self.call(c.apply(c.membership.beat(node_id, sample, now)))
            self.call(c.db(c.store.add_metrics, node_id, now, sample))

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, decoded JSON or text, headers)."""
        req = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, raw, hdrs = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            status, raw, hdrs = exc.code, exc.read(), dict(exc.headers)
        try:
            return status, json.loads(raw), hdrs
        except ValueError:
            return status, raw.decode(), hdrs


@contextmanager
def serving(tmp_path: Path, **config: Any) -> Iterator[Served]:
    cfg = ControllerConfig(port=0, store=f"sqlite:///{tmp_path}/c.db", **config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = ControllerServer(cfg)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(20)
    try:
        yield Served(server, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
