"""The node's bounded answer backlog, over a real socket: a client that stops reading
gets its connection paused, then closed with its backlog dropped (CLOSE_BACKLOG_FULL
when the close frame still reaches it), so that one slow reader costs the node a
bounded amount of memory; another client is served on meanwhile."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edgeoffload.config import NodeConfig
from edgeoffload.node.server import EdgeNode
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.connection import CLOSE_BACKLOG_FULL
from edgeoffload.protocol.messages import (
    PROTOCOL_VERSION,
    Hello,
    Result,
    ResultBatch,
    Submit,
    SubmitBatch,
)
from edgeoffload.tasks import TaskSpec
from tests.conftest import run

codec = Codec()
MB = 1 << 20
TASKS = {"grow": TaskSpec(name="grow", fn=lambda n: b"x" * n, module="tests", inline=True)}


def test_a_client_that_does_not_read_is_closed_and_its_answers_dropped() -> None:
    async def scenario() -> None:
        config = NodeConfig(
            port=0, workers=1, max_frame_bytes=MB, max_backlog_bytes=MB, backlog_timeout_s=0.2
        )
        node = EdgeNode(config, TASKS)
        await node.start()
        try:
            # max_queue=1: the client stops reading its socket after one message.
            slow = await connect(node.url, compression=None, max_size=None, max_queue=1)
            await slow.send(codec.encode(Hello(PROTOCOL_VERSION, "slow")))
            await slow.recv()
            for k in range(40):  # 80 answers of 500 kB: 40 MB it will not read
                batch = SubmitBatch([Submit(2 * k + i, "grow", [500_000]) for i in range(2)])
                await slow.send(codec.encode(batch))
            for _ in range(300):
                if not node._sessions:
                    break
                await asyncio.sleep(0.01)
            assert node._sessions == {}  # the node let go of it
            # Another client is served as usual.
            fine = await connect(node.url, compression=None, max_size=None)
            await fine.send(codec.encode(Hello(PROTOCOL_VERSION, "fine")))
            await fine.recv()
            await fine.send(codec.encode(Submit(1, "grow", [3])))
            answer = codec.decode(await fine.recv(decode=False))
            assert answer == Result(1, b"xxx", answer.run_ms, answer.queue_ms)  # type: ignore[union-attr]
            await fine.close()
            # What the slow client gets when it reads at last: far fewer than 80 answers,
            # then the close (its code, unless the node had to drop the socket first).
            got = 0
            try:
                while True:
                    message = codec.decode(await slow.recv(decode=False))
                    got += len(message.items) if isinstance(message, ResultBatch) else 1
            except ConnectionClosed:
                pass
            assert got < 80
            assert slow.close_code in (CLOSE_BACKLOG_FULL, 1006)
        finally:
            await node.shutdown()

    run(scenario(), timeout=60)
