"""The host side of the container test: a client that follows a containerised controller.

Run in the engine's network namespace (where the containers' bridge addresses are
reachable): ``python -m tests.container_client CONTROLLER_URL TASKS TOKEN_FILE``. The
site has a secret, so the client's token comes from a file (never argv). It first asks
without a token, once of the controller (a REST write) and once of a node (a hello),
and records how each refused; then it waits for two nodes from the controller's table,
submits TASKS 20 ms tasks at once, prints one JSON line with the refusals and the
tasks each node holds (the test then stops a container), waits for every result, and
prints a JSON line with what it got. It reads nothing else from the test.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from websockets.asyncio.client import connect

from edgeoffload import Client
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.messages import PROTOCOL_VERSION, Error, Hello


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def rest_write_without_token(controller: str, node_id: str) -> int:
    """The HTTP status of a drain asked for with no token (an admin's write)."""
    base = controller.replace("ws://", "http://", 1)
    request = urllib.request.Request(f"{base}/api/nodes/{node_id}/drain", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def hello_without_token(url: str) -> str:
    """What a node answers a hello that carries no token: the error's code."""
    codec = Codec()
    async with connect(url, compression=None, open_timeout=10) as ws:
        await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "stranger")))
        answer = codec.decode(await ws.recv(decode=False))
    return answer.code.value if isinstance(answer, Error) else type(answer).__name__


async def main(controller: str, tasks: int, token: str) -> None:
    delivered: Counter[int] = Counter()
    wrong: list[int] = []
    errors: list[str] = []
    async with Client([], controller=controller, token=token) as client:
        await client.wait_for_nodes(2, timeout_s=60)
        refused = {
            "rest_write": rest_write_without_token(controller, client.nodes[0].node_id),
            "node_hello": await hello_without_token(client.nodes[0].url),
        }
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        outstanding = [tasks]

        def on_done(i: int):  # type: ignore[no-untyped-def]
            def cb(value: object, exc: BaseException | None) -> None:
                if exc is not None:
                    errors.append(repr(exc))
                elif value != i:
                    wrong.append(i)
                delivered[i] += 1
                outstanding[0] -= 1
                if outstanding[0] == 0 and not done.done():
                    done.set_result(None)

            return cb

        handles = [
            client.submit_nowait("sleep_echo", [i, 0.02], on_done(i), where="edge")
            for i in range(tasks)
        ]
        await asyncio.sleep(0.5)
        on_node = Counter(h.node for h in handles if not h.done())
        emit({
            "refused": refused,
            "in_flight": {link.node_id: on_node[link.node_id] for link in client.nodes},
        })  # fmt: skip
        await asyncio.wait_for(done, 90)
        stats = client.statistics()
        emit({
            "delivered": {str(i): n for i, n in sorted(delivered.items())},
            "wrong": wrong,
            "errors": errors[:10],
            "resubmitted": stats.resubmitted,
            "failed": stats.failed,
        })  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]).read_text().strip()))
