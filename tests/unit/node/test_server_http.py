"""The node's HTTP side door and connection limits, over real sockets: every path's
status and body (/healthz, /readyz while starting, ready and draining, /metrics, an
unknown path, a method other than GET), the refusals beyond max_connections (503) and
max_connections_per_address (429) with Retry-After, and the close of a connection
that never says hello."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from edgeoffload.config import NodeConfig
from edgeoffload.node.server import PROMETHEUS_TYPE, EdgeNode
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.connection import CLOSE_HELLO_TIMEOUT
from edgeoffload.protocol.messages import PROTOCOL_VERSION, Hello
from edgeoffload.tasks import load_modules
from tests.conftest import run

TASKS = load_modules(["edgeoffload.examples.tasks"])


@asynccontextmanager
async def started(**config: Any) -> AsyncIterator[EdgeNode]:
    node = EdgeNode(NodeConfig(port=0, workers=1, **config), TASKS)
    await node.start()
    try:
        yield node
    finally:
        await node.shutdown()


def request(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


async def get(node: EdgeNode, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(request, node.port, path, method)


def test_healthz_unknown_paths_and_other_methods() -> None:
    async def scenario() -> None:
        async with started() as node:
            status, headers, body = await get(node, "/healthz")
            assert (status, body) == (200, b"ok\n")
            assert headers["Content-Type"] == "text/plain; charset=utf-8"
            assert headers["Content-Length"] == "3"
            status, _, body = await get(node, "/nope?x=1")
            assert status == 404
            assert body == b"no such path: /nope; the offload endpoint is /offload\n"
            status, headers, body = await get(node, "/healthz", method="POST")
            assert status == 405 and headers["Allow"] == "GET"
            assert body == b"POST not allowed; every path here takes GET\n"

    run(scenario(), timeout=60)


def test_readyz_waits_for_warm_workers_and_says_draining() -> None:
    async def scenario() -> None:
        async with started() as node:
            while (answer := await get(node, "/readyz"))[0] != 200:
                assert answer[0] == 503
                assert answer[2] == b"starting: workers are not ready yet\n"
                await asyncio.sleep(0.02)
            assert answer[2] == b"ready\n"
            node.drain("maintenance")
            status, _, body = await get(node, "/readyz")
            assert (status, body) == (503, b"draining: maintenance\n")
            node.resume()
            assert (await get(node, "/readyz"))[0] == 200

    run(scenario(), timeout=60)


def test_metrics_are_prometheus_text_naming_the_node() -> None:
    async def scenario() -> None:
        async with started(node_id="n7") as node:
            status, headers, body = await get(node, "/metrics")
            assert status == 200 and headers["Content-Type"] == PROMETHEUS_TYPE
            assert b'edgeoffload_node_own_cpu_percent{node="n7"}' in body
            # Cached for a second: a second request gets the same bytes.
            assert (await get(node, "/metrics"))[2] == body

    run(scenario(), timeout=60)


def test_connections_beyond_the_limit_are_refused_with_503() -> None:
    async def scenario() -> None:
        async with started(max_connections=1) as node:
            first = await connect(node.url, compression=None)
            with pytest.raises(InvalidStatus) as refused:
                await connect(node.url, compression=None)
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            assert response.body == b"too many connections (limit 1)\n"
            await first.close()
            # The count went down with the close: a new connection is let in.
            for _ in range(50):
                try:
                    again = await connect(node.url, compression=None)
                    break
                except InvalidStatus:
                    await asyncio.sleep(0.02)
            else:
                raise AssertionError("the closed connection was never uncounted")
            await again.close()

    run(scenario(), timeout=60)


def test_connections_beyond_the_per_address_limit_are_refused_with_429() -> None:
    async def scenario() -> None:
        async with started(max_connections_per_address=2) as node:
            open_ = [await connect(node.url, compression=None) for _ in range(2)]
            with pytest.raises(InvalidStatus) as refused:
                await connect(node.url, compression=None)
            response = refused.value.response
            assert response.status_code == 429 and response.headers["Retry-After"] == "1"
            assert response.body == b"too many connections from your address (limit 2)\n"
            for ws in open_:
                await ws.close()

    run(scenario(), timeout=60)


def test_a_connection_without_hello_is_closed_at_the_hello_timeout() -> None:
    async def scenario() -> None:
        async with started(hello_timeout_s=0.1) as node:
            silent = await connect(node.url, compression=None)
            await asyncio.wait_for(silent.wait_closed(), 5)
            assert silent.close_code == CLOSE_HELLO_TIMEOUT
            assert silent.close_reason == "no hello within 0.1 s"
            # One that says hello in time stays open past the timeout.
            talker = await connect(node.url, compression=None)
            await talker.send(Codec().encode(Hello(PROTOCOL_VERSION, "t")))
            await talker.recv()
            await asyncio.sleep(0.2)
            assert talker.close_code is None
            await talker.close()

    run(scenario(), timeout=60)


def test_the_pool_waits_for_the_first_answer_readyz_or_the_delay() -> None:
    """Cold start under a CPU quota (issue 14): the workers' start does not compete
    with the first handshakes; /readyz (an orchestrator wants the node warm) or the
    delay starts them."""

    async def scenario() -> None:
        async with started(pool_start_delay_s=30.0) as node:
            await asyncio.sleep(0.5)
            assert not node.pool.started  # nothing asked for it yet
            await get(node, "/readyz")  # this asks for it
            for _ in range(500):
                if node.pool.started:
                    break
                await asyncio.sleep(0.02)
            assert node.pool.started
        async with started(pool_start_delay_s=0.2) as node:
            assert not node.pool.started
            for _ in range(500):
                if node.pool.started:
                    break
                await asyncio.sleep(0.02)
            assert node.pool.started  # at the latest after the delay

    run(scenario(), timeout=60)
