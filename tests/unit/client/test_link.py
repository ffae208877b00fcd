"""NodeLink against a real in-process EdgeNode on port 0: what it learns from the
Welcome, how it packs one turn's submits into frames, what heartbeats teach it (RTT,
load, liveness, and a hung node declared dead), how it reconnects after an abort or
a node's close, how a refused token ends an attempt, and how drain and resume gate
what it sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from edgeoffload.client.link import NodeLink
from edgeoffload.config import ClientConfig, NodeConfig
from edgeoffload.node.server import EdgeNode
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.control import NodeState, NodeView
from edgeoffload.protocol.messages import Error, Result, Submit
from edgeoffload.tasks import TaskSpec, load_modules
from tests.conftest import run

LIMIT = 1 << 16

TASKS = {
    **load_modules(["edgeoffload.examples.tasks"]),
    "twice": TaskSpec(name="twice", fn=lambda x: 2 * x, module="tests", inline=True),
}


class Recorder:
    """A LinkListener that writes down every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.answers: dict[int, Result | Error] = {}
        self.changed = asyncio.Event()

    def _note(self, name: str, detail: Any = None) -> None:
        self.calls.append((name, detail))
        self.changed.set()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def until(self, check: Any) -> None:
        async def poll() -> None:
            while not check():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(poll(), 10.0)

    def link_up(self, link: NodeLink) -> None:
        self._note("up", link.node_id)

    def link_down(self, link: NodeLink, reason: str) -> None:
        self._note("down", reason)

    def on_result(self, link: NodeLink, result: Result) -> None:
        self.answers[result.id] = result
        self._note("result", result.id)

    def on_results(self, link: NodeLink, items: list[Result | Error]) -> None:
        for item in items:
            assert item.id is not None
            self.answers[item.id] = item
        self._note("results", [item.id for item in items])

    def on_error(self, link: NodeLink, error: Error) -> None:
        assert error.id is not None
        self.answers[error.id] = error
        self._note("error", (error.id, error.code, error.message))

    def on_unsendable(self, link: NodeLink, submit: Submit, exc: Exception) -> None:
        self._note("unsendable", (submit.id, type(exc).__name__))

    def on_draining(self, link: NodeLink) -> None:
        self._note("draining")

    def on_resumed(self, link: NodeLink) -> None:
        self._note("resumed")

    def on_status(self, link: NodeLink) -> None:
        self._note("status")

    def link_failed(self, link: NodeLink, reason: str, unauthorized: bool) -> None:
        self._note("failed", (reason, unauthorized))


@asynccontextmanager
async def node_and_link(
    node_config: dict[str, Any] | None = None, **client: Any
) -> AsyncIterator[tuple[EdgeNode, NodeLink, Recorder]]:
    node = EdgeNode(
        NodeConfig(port=0, workers=1, max_frame_bytes=LIMIT, **(node_config or {})), TASKS
    )
    await node.start()
    recorder = Recorder()
    config = ClientConfig(
        max_frame_bytes=LIMIT,
        reconnect_min_s=0.01,
        reconnect_max_s=0.05,
        heartbeat_interval_s=client.pop("heartbeat_interval_s", 5.0),
        **client,
    )
    link = NodeLink(node.url, config, recorder, "tester")
    link.start()
    try:
        yield node, link, recorder
    finally:
        await link.close()
        await node.shutdown()


def test_the_welcome_names_the_node_and_what_it_serves() -> None:
    async def scenario() -> None:
        async with node_and_link({"labels": {"zone": "a"}, "node_id": "n1"}) as (node, link, rec):
            assert link.node_id == node.url and not link.tried and not link.placeable
            await asyncio.wait_for(link.wait_up(), 10)
            assert link.tried and link.connected and link.accepting and link.placeable
            assert rec.calls[0] == ("up", "n1")
            assert link.node_id == "n1" and link.tasks == frozenset(node.offered)
            assert "twice" in link.tasks and link.labels == {"zone": "a"} and link.workers == 1
            assert link.has_labels({"zone": "a"}) and link.has_labels({})
            assert not link.has_labels({"zone": "b"}) and not link.has_labels({"gpu": "1"})

    run(scenario(), timeout=60)


def test_a_controllers_row_overrides_labels_and_gates_placement() -> None:
    async def scenario() -> None:
        async with node_and_link({"labels": {"zone": "a"}}) as (_, link, _rec):
            await asyncio.wait_for(link.wait_up(), 10)
            row = NodeView(node_id="n", url=link.url, state=NodeState.ALIVE, labels={"zone": "b"})
            link.view = row
            assert link.placeable and link.has_labels({"zone": "b"})
            assert not link.has_labels({"zone": "a"})  # the controller's word wins
            link.view = NodeView(node_id="n", url=link.url, state=NodeState.SUSPECT)
            assert not link.placeable
            link.view = NodeView(node_id="n", url=link.url, state=NodeState.ALIVE, draining=True)
            assert not link.placeable
            link.view = None
            link.accepting = False
            assert not link.placeable

    run(scenario(), timeout=60)


def test_one_turns_submits_travel_in_frames_of_batch_max_items() -> None:
    async def scenario() -> None:
        async with node_and_link(batch_max_items=2) as (_, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            link.send_many([Submit(i, "twice", [i]) for i in range(5)])
            link.send_many([])  # nothing queued, nothing sent
            await rec.until(lambda: len(rec.answers) == 5)
            # 5 submits in one turn, at most 2 per frame: 2 + 2 + 1.
            assert (link.submit_frames, link.submits_sent) == (3, 5)
            assert {i: a.value for i, a in rec.answers.items()} == {  # type: ignore[union-attr]
                0: 0,
                1: 2,
                2: 4,
                3: 6,
                4: 8,
            }
            # Submits of separate turns go in separate frames.
            link.send(Submit(10, "twice", [10]))
            await asyncio.sleep(0)
            link.send(Submit(11, "twice", [11]))
            await rec.until(lambda: len(rec.answers) == 7)
            assert (link.submit_frames, link.submits_sent) == (5, 7)

    run(scenario(), timeout=60)


def test_batching_off_sends_one_frame_per_submit() -> None:
    async def scenario() -> None:
        async with node_and_link(batching=False, batch_max_items=64) as (_, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            link.send_many([Submit(i, "twice", [i]) for i in range(4)])
            await rec.until(lambda: len(rec.answers) == 4)
            assert (link.submit_frames, link.submits_sent) == (4, 4)
            # Without batching the node answers one Result per frame, never a batch.
            assert "results" not in rec.names()
            assert rec.names().count("result") == 4

    run(scenario(), timeout=60)


def test_a_submit_that_cannot_be_encoded_is_reported_alone_and_its_batch_split() -> None:
    async def scenario() -> None:
        async with node_and_link() as (_, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            link.send_many(
                [
                    Submit(1, "twice", [1]),
                    Submit(2, "twice", [object()]),  # TypeError when encoded
                    Submit(3, "echo", ["x" * (2 * LIMIT)]),  # larger than a frame
                    Submit(4, "twice", [4]),
                ]
            )
            await rec.until(lambda: len(rec.answers) == 2)
            unsendable = sorted(d for n, d in rec.calls if n == "unsendable")
            assert unsendable == [(2, "TypeError"), (3, "FrameTooLarge")]
            assert sorted(rec.answers) == [1, 4]
            # Halving [1,2,3,4] -> [1,2] [3,4] -> [1] [2] [3] [4]: the two good ones each
            # go in a frame of their own.
            assert (link.submit_frames, link.submits_sent) == (2, 2)

    run(scenario(), timeout=60)


def test_heartbeats_measure_rtt_and_carry_the_nodes_load() -> None:
    async def scenario() -> None:
        async with node_and_link(heartbeat_interval_s=0.02) as (_, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            await rec.until(lambda: rec.names().count("status") >= 3)
            assert link.liveness is not None and link.liveness.last_heartbeat is not None
            assert 0.0 < link.rtt_s < 1.0
            assert (link.queued, link.running, link.workers) == (0, 0, 1)
            assert link.declared_dead == 0 and link.last_error == ""

    run(scenario(), timeout=60)


def test_a_fenced_link_goes_down_then_reconnects() -> None:
    async def scenario() -> None:
        async with node_and_link() as (_, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            link.fence("controller declared it dead")
            assert link.last_fence == "controller declared it dead" and link.declared_dead == 1
            await rec.until(lambda: rec.names().count("up") == 2)
            assert rec.names()[:3] == ["up", "down", "up"]
            assert link.connected and link.accepting
            # The new connection works.
            link.send(Submit(7, "twice", [21]))
            await rec.until(lambda: 7 in rec.answers)
            assert rec.answers[7].value == 42  # type: ignore[union-attr]

    run(scenario(), timeout=60)


def test_fence_before_any_connection_does_nothing() -> None:
    async def scenario() -> None:
        link = NodeLink("ws://127.0.0.1:9", ClientConfig(), Recorder(), "tester")
        link.fence("gone")
        assert (link.last_fence, link.declared_dead) == ("", 0)
        link.cancel([1, 2])  # not connected: nothing queued
        assert link._outbox == []

    run(scenario(), timeout=10)


def test_a_node_shutting_down_drains_the_link_then_it_goes_down() -> None:
    async def scenario() -> None:
        node = EdgeNode(NodeConfig(port=0, workers=1, drain_timeout_s=1.0), TASKS)
        await node.start()
        rec = Recorder()
        cfg = ClientConfig(reconnect_min_s=0.01, reconnect_max_s=0.05, heartbeat_interval_s=5.0)
        link = NodeLink(node.url, cfg, rec, "tester")
        link.start()
        try:
            await asyncio.wait_for(link.wait_up(), 10)
            await node.shutdown("maintenance")
            await rec.until(lambda: "down" in rec.names())
            # (the first heartbeat's Status may come in between: left out; after the
            # down come failed reconnect attempts)
            names = [n for n in rec.names() if n != "status"]
            assert names[: names.index("down") + 1] == ["up", "draining", "down"]
            assert set(names[names.index("down") + 1 :]) <= {"failed"}
            assert not link.connected and not link.accepting and not link.placeable
            assert dict(rec.calls)["down"] == "connection closed (1001 maintenance)"
        finally:
            await link.close()

    run(scenario(), timeout=60)


def test_drain_refuses_new_submits_on_the_client_side_and_resume_reopens() -> None:
    async def scenario() -> None:
        async with node_and_link() as (node, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            node.drain("maintenance")
            await rec.until(lambda: "draining" in rec.names())
            assert not link.accepting and not link.placeable and link.connected
            link.send(Submit(1, "twice", [1]))
            await rec.until(lambda: 1 in rec.answers)
            assert rec.calls[-1] == ("error", (1, ErrorCode.DRAINING, "node is draining; not sent"))
            assert link.submit_frames == 0
            node.resume("back")
            await rec.until(lambda: "resumed" in rec.names())
            assert link.accepting and link.placeable
            link.send(Submit(2, "twice", [2]))
            await rec.until(lambda: 2 in rec.answers)
            assert rec.answers[2].value == 4  # type: ignore[union-attr]

    run(scenario(), timeout=60)


def test_a_refused_token_fails_the_attempt_as_unauthorized() -> None:
    async def scenario() -> None:
        async with node_and_link({"auth_secret": "s" * 32}, token="not-a-jwt") as (_, link, rec):
            await asyncio.wait_for(link.wait_tried(), 10)
            assert link.tried and not link.connected and link.unauthorized
            name, (reason, unauthorized) = rec.calls[0]
            assert name == "failed" and unauthorized is True
            assert "token is invalid" in reason and reason == link.last_error
            assert "up" not in rec.names() and "down" not in rec.names()

    run(scenario(), timeout=60)


def test_a_node_that_is_not_there_fails_without_being_unauthorized() -> None:
    async def scenario() -> None:
        rec = Recorder()
        cfg = ClientConfig(reconnect_min_s=0.01, reconnect_max_s=0.02, connect_timeout_s=2.0)
        # Port 9 (discard) on loopback: nothing listens, the connect is refused.
        link = NodeLink("ws://127.0.0.1:9", cfg, rec, "tester")
        link.start()
        try:
            await asyncio.wait_for(link.wait_tried(), 10)
            name, (reason, unauthorized) = rec.calls[0]
            assert name == "failed" and unauthorized is False and not link.unauthorized
            assert reason.startswith(("ConnectionRefusedError", "OSError"))
            # It keeps trying, and never reports a link_down for a link never up.
            await rec.until(lambda: rec.names().count("failed") >= 2)
            assert set(rec.names()) == {"failed"}
        finally:
            await link.close()

    run(scenario(), timeout=30)


def test_cancel_reaches_the_node_and_the_task_is_answered_cancelled() -> None:
    async def scenario() -> None:
        async with node_and_link() as (_, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            link.send(Submit(1, "sleep", [0.3]))
            link.send(Submit(2, "sleep", [5.0]))  # queued behind 1 on one worker
            await asyncio.sleep(0.05)
            link.cancel([2])
            link.cancel([])  # nothing to cancel, nothing sent
            await rec.until(lambda: 2 in rec.answers)
            answer = rec.answers[2]
            assert isinstance(answer, Error) and answer.code is ErrorCode.CANCELLED

    run(scenario(), timeout=60)


def test_a_silent_node_is_declared_dead_by_phi_and_the_link_reconnects() -> None:
    async def scenario() -> None:
        async with node_and_link(
            heartbeat_interval_s=0.02, dead_phi=3.0, acceptable_pause_s=0.05
        ) as (node, link, rec):
            await asyncio.wait_for(link.wait_up(), 10)
            await rec.until(lambda: "status" in rec.names())
            # The node stops reading this connection: heartbeats go unanswered, but
            # the socket stays open (a hung node), so only the detector can tell.
            for session in list(node._sessions.values()):
                session.ws.transport.pause_reading()  # type: ignore[attr-defined]
            await rec.until(lambda: "down" in rec.names())
            assert link.declared_dead == 1 and link.last_fence == ""
            reason = dict(rec.calls)["down"]
            assert reason.startswith("no heartbeat answer for ") and "(phi " in reason
            # A new connection is a new session, read as usual.
            await rec.until(lambda: rec.names().count("up") == 2)
            assert link.connected

    run(scenario(), timeout=60)


# -- node identity (edgeoffload.identity): the link checks the welcome's signature ---------


async def identity_attempt(
    key: str | None, pin: bool = False, row_id: str | None = "n1", signs: bool = True
) -> tuple[NodeLink, Recorder]:
    """One first attempt at node n1 with ``key`` as the table row's (or, with ``pin``,
    as the pinned key); returns the link (closed) and what it reported."""
    import msgspec

    node = EdgeNode(NodeConfig(port=0, workers=1, node_id="n1"), TASKS)
    await node.start()
    if not signs:  # a node from before identity keys
        node.admission.offer = msgspec.structs.replace(node.admission.offer, identity=None)
    rec = Recorder()
    pins = {node.url: key} if pin and key else {}
    config = ClientConfig(reconnect_min_s=0.01, reconnect_max_s=0.05, node_keys=pins)
    link = NodeLink(node.url, config, rec, "tester")
    if row_id is not None and not pin:
        link.view = NodeView(node_id=row_id, url=node.url, state=NodeState.ALIVE, public_key=key)
    link.start()
    try:
        await asyncio.wait_for(link.wait_tried(), 10)
    finally:
        await link.close()
        await node.shutdown()
    return link, rec


def test_a_row_with_another_key_than_the_nodes_is_refused_before_any_task() -> None:
    from edgeoffload.identity import NodeIdentity

    async def scenario() -> None:
        link, rec = await identity_attempt(NodeIdentity.generate().public_key)
        name, (reason, unauthorized) = rec.calls[0]
        assert name == "failed" and unauthorized and link.unauthorized
        assert reason.startswith("unauthorized: node n1 at ws://")
        assert "is not the node the controller registered" in reason
        assert "does not match the node's key" in reason
        assert "up" not in rec.names()

    run(scenario(), timeout=60)


def test_the_right_key_from_a_row_or_a_pin_is_accepted(tmp_path: Any) -> None:
    from edgeoffload.identity import NodeIdentity

    async def scenario() -> None:
        key_file = str(tmp_path / "n1.key")
        key = NodeIdentity.load_or_create(key_file).public_key
        for pin in (False, True):
            node = EdgeNode(
                NodeConfig(port=0, workers=1, node_id="n1", identity_key_file=key_file), TASKS
            )
            await node.start()
            rec = Recorder()
            config = ClientConfig(node_keys={node.url: key} if pin else {})
            link = NodeLink(node.url, config, rec, "tester")
            if not pin:
                link.view = NodeView(
                    node_id="n1", url=node.url, state=NodeState.ALIVE, public_key=key
                )
            link.start()
            try:
                await asyncio.wait_for(link.wait_up(), 10)
                assert rec.calls[0] == ("up", "n1")
            finally:
                await link.close()
                await node.shutdown()

    run(scenario(), timeout=60)


def test_a_wrong_pin_another_node_id_or_no_signature_is_refused() -> None:
    from edgeoffload.identity import NodeIdentity

    async def scenario() -> None:
        cases = [
            ({"pin": True}, "is not the node whose key is pinned", "does not match"),
            ({"row_id": "n2"}, "node n2 at", "it calls itself 'n1'"),
            ({"signs": False}, "the controller registered", "carries no identity signature"),
        ]
        for kw, who, why in cases:
            _link, rec = await identity_attempt(NodeIdentity.generate().public_key, **kw)
            name, (reason, unauthorized) = rec.calls[0]
            assert name == "failed" and unauthorized, (kw, rec.calls)
            assert who in reason and why in reason, (kw, reason)
            assert "up" not in rec.names()

    run(scenario(), timeout=60)


def test_a_row_without_a_key_is_accepted_as_before() -> None:
    async def scenario() -> None:
        _link, rec = await identity_attempt(None)
        assert rec.calls[0] == ("up", "n1")

    run(scenario(), timeout=60)
