"""Ownership under failure: kill -9 one of three nodes with 1,000 tasks in flight."""

from __future__ import annotations

import asyncio
from collections import Counter

from edgeoffload import Client
from tests.conftest import NodeProcess, run


def test_kill_one_of_three_nodes_every_task_completes_exactly_once(node_factory) -> None:  # type: ignore[no-untyped-def]
    nodes: list[NodeProcess] = [node_factory("--workers", "1") for _ in range(3)]
    delivered: Counter[int] = Counter()

    async def main() -> None:
        async with Client([n.url for n in nodes], wait_for_node_s=20) as client:
            await client.wait_for_nodes(3)
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            outstanding = {"n": 1000}

            def on_done(i: int):  # type: ignore[no-untyped-def]
                def cb(value: object, exc: BaseException | None) -> None:
                    assert exc is None, exc
                    assert value == i
                    delivered[i] += 1
                    outstanding["n"] -= 1
                    if outstanding["n"] == 0:
                        done.set_result(None)

                return cb

            # 20 ms tasks on 3 single-worker nodes: ~7 s of work, all in flight at once.
            handles = [
                client.submit_nowait("sleep_echo", [i, 0.02], on_done(i), where="edge")
                for i in range(1000)
            ]
            await asyncio.sleep(0.5)
            victim = nodes[1]
            victim_id = next(link.node_id for link in client.nodes if link.url == victim.url)
            on_victim = [h for h in handles if not h.done() and h.node == victim_id]
            assert len(on_victim) > 100
            victim.kill()  # SIGKILL
            await asyncio.wait_for(done, 60)
            stats = client.statistics()
            # A result the victim sent before it died may still be read from the socket
            # (CI once saw 324 placed again of 325 counted): such a task settles with the
            # victim as its source. Every other one counted must have been placed again.
            answered_by_victim = sum(h.node == victim_id for h in on_victim)
            assert answered_by_victim < 20
            assert stats.resubmitted >= len(on_victim) - answered_by_victim
            assert stats.failed == 0

    run(main(), timeout=90)
    assert sorted(delivered) == list(range(1000))
    assert set(delivered.values()) == {1}
