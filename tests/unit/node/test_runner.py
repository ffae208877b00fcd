"""The runner's wiring: the agent sees the node only through ManagedNode, starts only
with a controller, and stops after the node's shutdown on the first signal."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import NoReturn

import msgspec
from websockets.asyncio.server import ServerConnection, serve

from edgeoffload.config import NodeConfig
from edgeoffload.node.runner import managed, serve_until_signalled, start_agent
from edgeoffload.node.server import EdgeNode
from edgeoffload.protocol.control import NodeBeat, NodeHello
from tests.conftest import run


def test_managed_node_carries_the_facts_and_the_nodes_own_controls() -> None:
    config = NodeConfig(port=0, workers=2, node_id="edge-1", labels={"gpu": "true"}, speed_hz=1.5e9)
    node = EdgeNode(config)
    node.port = 4321  # as start() sets it once the socket is bound
    view = managed(node)
    assert (view.node_id, view.url, view.cores) == ("edge-1", "ws://127.0.0.1:4321/offload", 2)
    assert view.labels == {"gpu": "true"} and view.speed_hz == 1.5e9
    assert view.tasks == node.offered and "echo" in view.tasks
    # The controls are the node's own methods: a drain through the view drains the node.
    view.drain("controller says so")
    assert node.drain_reason == "controller says so" and node.scheduler.draining
    view.resume("back")
    assert node.drain_reason is None and not node.scheduler.draining


def test_the_advertised_url_wins_over_the_bound_one() -> None:
    node = EdgeNode(NodeConfig(port=0, advertise_url="wss://edge.example/offload"))
    node.port = 1
    assert managed(node).url == "wss://edge.example/offload"


def test_no_controller_no_agent() -> None:
    node = EdgeNode(NodeConfig(port=0))
    assert start_agent(node) is None


def test_a_signalled_node_registers_then_stops_its_agent_after_the_drain() -> None:
    hellos: list[NodeHello] = []
    ready: list[EdgeNode] = []
    closed = asyncio.Event()
    decoder = msgspec.json.Decoder(NodeHello | NodeBeat)

    async def controller(ws: ServerConnection) -> None:
        message = decoder.decode(await ws.recv())
        assert isinstance(message, NodeHello)
        hellos.append(message)
        os.kill(os.getpid(), signal.SIGTERM)  # the runner's handler, not the default
        await ws.wait_closed()
        closed.set()

    async def scenario() -> None:
        async with serve(controller, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            config = NodeConfig(
                port=0, workers=1, controller=f"ws://127.0.0.1:{port}", speed_hz=1e9
            )
            await serve_until_signalled(config, ready.append)
            await asyncio.wait_for(closed.wait(), 5)

    run(scenario(), timeout=30)
    (node,) = ready
    (hello,) = hellos
    assert hello.node_id == node.node_id and hello.url == node.url and hello.cores == 1


def test_an_agent_that_dies_is_reported_at_once(caplog) -> None:  # type: ignore[no-untyped-def]
    async def controller(ws: ServerConnection) -> None:
        await ws.wait_closed()

    def broken() -> NoReturn:
        raise RuntimeError("sensor gone")

    async def scenario() -> None:
        async with serve(controller, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            node = EdgeNode(NodeConfig(port=0, controller=f"ws://127.0.0.1:{port}", speed_hz=1e9))
            node.port = 1
            node.metrics = broken  # type: ignore[method-assign]  # the first heartbeat fails
            agent = start_agent(node)
            assert agent is not None
            await asyncio.wait({agent}, timeout=5)
            assert isinstance(agent.exception(), RuntimeError)

    run(scenario(), timeout=10)
    (record,) = [r for r in caplog.records if "controller agent stopped" in r.getMessage()]
    assert record.levelname == "ERROR" and "sensor gone" in record.getMessage()
