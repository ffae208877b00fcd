"""The host side of the container test: a client that follows a containerised controller.

Run in the engine's network namespace (where the containers' bridge addresses are
reachable): ``python -m tests.container_client CONTROLLER_URL TASKS``. It waits for two
nodes from the controller's table, submits TASKS 20 ms tasks at once, prints one JSON
line with the tasks each node holds (the test then stops a container), waits for every
result, and prints a JSON line with what it got. It reads nothing else from the test.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from edgeoffload import Client


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def main(controller: str, tasks: int) -> None:
    delivered: Counter[int] = Counter()
    wrong: list[int] = []
    errors: list[str] = []
    async with Client([], controller=controller) as client:
        await client.wait_for_nodes(2, timeout_s=60)
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
        emit({"in_flight": {link.node_id: on_node[link.node_id] for link in client.nodes}})
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
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
