"""The controller agent against a fake controller (a bare WebSocket server): what it
sends, in which order, and how it obeys commands. The node is a plain ManagedNode
record, which is the whole of what the agent may know about a node."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection, serve

from edgeoffload.node.agent import ControllerAgent, ManagedNode
from edgeoffload.protocol.control import Command, NodeBeat, NodeBye, NodeHello
from tests.conftest import run
from tests.unit.controller.test_membership import metrics


def managed(calls: list[tuple[str, str]], resumed: asyncio.Event | None = None) -> ManagedNode:
    def resume(reason: str) -> None:
        calls.append(("resume", reason))
        if resumed is not None:
            resumed.set()

    return ManagedNode(
        node_id="n1",
        url="ws://edge:9/offload",
        cores=4,
        metrics=metrics,
        drain=lambda reason: calls.append(("drain", reason)),
        resume=resume,
        labels={"zone": "a"},
        tasks=["echo", "add"],
        speed_hz=2.0e9,
    )


def test_hello_carries_the_nodes_facts_with_sorted_tasks() -> None:
    agent = ControllerAgent(managed([]), "ws://controller:8700/", interval_s=1.0)
    assert agent.url == "ws://controller:8700/ws/node"
    assert agent.hello(3.0e9) == NodeHello(
        node_id="n1",
        url="ws://edge:9/offload",
        cores=4,
        speed_hz=3.0e9,
        labels={"zone": "a"},
        tasks=["add", "echo"],
    )


def test_commands_call_drain_and_resume_with_the_reason_or_a_default() -> None:
    calls: list[tuple[str, str]] = []
    agent = ControllerAgent(managed(calls), "ws://c")
    agent.obey(Command(action="drain", reason="cpu hot"))
    agent.obey(Command(action="resume"))
    agent.obey(Command(action="drain"))
    assert calls == [
        ("drain", "cpu hot"),
        ("resume", "resumed by the controller"),
        ("drain", "drained by the controller"),
    ]


def test_registers_heartbeats_in_sequence_and_obeys_a_live_controller() -> None:
    calls: list[tuple[str, str]] = []
    received: list[object] = []
    decoder = msgspec.json.Decoder(NodeHello | NodeBeat)

    async def controller(ws: ServerConnection) -> None:
        received.append(decoder.decode(await ws.recv()))  # hello
        received.append(decoder.decode(await ws.recv()))  # first beat, at once
        await ws.send(msgspec.json.encode(Command(action="drain", reason="maintenance")).decode())
        received.append(decoder.decode(await ws.recv()))  # second beat, an interval later
        await ws.send(msgspec.json.encode(Command(action="resume")).decode())
        await ws.wait_closed()

    async def scenario() -> ControllerAgent:
        async with serve(controller, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            resumed = asyncio.Event()
            agent = ControllerAgent(
                managed(calls, resumed), f"ws://127.0.0.1:{port}", interval_s=0.05
            )
            task = asyncio.create_task(agent.run())
            await resumed.wait()
            assert agent.connected
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return agent

    agent = run(scenario(), timeout=10)
    hello, first, second = received
    assert isinstance(hello, NodeHello) and hello.node_id == "n1" and hello.speed_hz == 2.0e9
    assert isinstance(first, NodeBeat) and isinstance(second, NodeBeat)
    assert (first.seq, second.seq) == (1, 2)
    assert first.metrics == metrics()
    assert calls == [("drain", "maintenance"), ("resume", "resumed by the controller")]
    assert not agent.connected


def test_an_unreachable_controller_is_retried_without_raising() -> None:
    async def scenario() -> None:
        # A port nothing listens on: every attempt fails, the agent keeps trying.
        agent = ControllerAgent(managed([]), "ws://127.0.0.1:9", interval_s=0.05)
        task = asyncio.create_task(agent.run())
        await asyncio.sleep(0.3)
        assert not task.done() and not agent.connected
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    run(scenario(), timeout=10)


def test_a_command_it_cannot_read_is_logged_and_the_session_goes_on(caplog) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[str, str]] = []

    async def controller(ws: ServerConnection) -> None:
        await ws.recv()  # hello
        await ws.send('{"type": "command", "action": "explode"}')
        await ws.send("not json")
        await ws.send(msgspec.json.encode(Command(action="resume", reason="ok")).decode())
        await ws.wait_closed()

    async def scenario() -> None:
        async with serve(controller, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            resumed = asyncio.Event()
            agent = ControllerAgent(managed(calls, resumed), f"ws://127.0.0.1:{port}", 0.05)
            task = asyncio.create_task(agent.run())
            done, _ = await asyncio.wait(
                {task, asyncio.create_task(resumed.wait())},
                timeout=5,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if task in done:
                task.result()  # raises what killed the agent
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    run(scenario(), timeout=10)
    assert calls == [("resume", "ok")]
    ignored = [r for r in caplog.records if "cannot read" in r.getMessage()]
    assert len(ignored) == 2


def test_leave_says_goodbye_closes_and_does_not_reconnect() -> None:
    received: list[object] = []
    sessions = 0
    decoder = msgspec.json.Decoder(NodeHello | NodeBeat | NodeBye)

    async def controller(ws: ServerConnection) -> None:
        nonlocal sessions
        sessions += 1
        with contextlib.suppress(Exception):
            async for raw in ws:
                received.append(decoder.decode(raw))

    async def scenario() -> tuple[bool, bool]:
        async with serve(controller, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            agent = ControllerAgent(managed([]), f"ws://127.0.0.1:{port}", interval_s=0.05)
            task = asyncio.create_task(agent.run())
            while not agent.connected:  # noqa: ASYNC110 (the agent has no event for it)
                await asyncio.sleep(0.01)
            sent = await agent.leave("stopped by SIGTERM")
            await asyncio.wait_for(task, 5)  # run() ends by itself: no reconnection
            again = await agent.leave()  # no session left: nothing to send
            return sent, again

    sent, again = run(scenario(), timeout=10)
    assert (sent, again) == (True, False)
    assert sessions == 1
    assert isinstance(received[0], NodeHello)
    byes = [m for m in received if isinstance(m, NodeBye)]
    assert byes == [NodeBye(node_id="n1", reason="stopped by SIGTERM")]
    assert received[-1] == byes[0]  # nothing after the goodbye


def test_a_node_says_at_once_that_its_controller_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seen: a node printed READY and nothing else for 40 s (the failures were logged
    at info, under the default level)."""
    import logging
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        agent = ControllerAgent(managed([]), f"ws://127.0.0.1:{port}", 0.05)
        task = asyncio.create_task(agent.run())
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.INFO, logger="edgeoffload.node"):
        asyncio.run(main())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[:1] == [
        f"controller ws://127.0.0.1:{port}/ws/node unreachable: "
        f"ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {port}) (retrying)"
    ]
