"""where="auto": the decision engine decides, batched per loop turn, and learns."""

from __future__ import annotations

from typing import Any

import pytest

import edgeoffload.examples.tasks as ex
from edgeoffload import Client
from edgeoffload.decision.policies import CostModel
from edgeoffload.errors import ConfigError
from tests.conftest import NodeProcess, run


class Counting:
    """Wraps a policy, counting decide() calls and observe() outcomes."""

    name = "counting"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.decided = 0
        self.observed = 0
        self.sizes: list[int] = []

    def decide(self, tasks: Any, device: Any, nodes: Any) -> Any:
        self.calls += 1
        self.decided += len(tasks)
        self.sizes.append(len(tasks))
        return self.inner.decide(tasks, device, nodes)

    def observe(
        self, tasks: Any, device: Any, nodes: Any, decisions: Any, latency_s: Any, energy_j: Any
    ) -> None:
        self.observed += len(latency_s)


@pytest.mark.parametrize(
    ("policy", "local", "edge"), [("always_local", 120, 0), ("always_edge", 0, 120)]
)
def test_trivial_policies_send_everything_one_way(
    node: NodeProcess, policy: str, local: int, edge: int
) -> None:
    async def main() -> None:
        async with Client([node.url], policy=policy) as client:
            assert await client.map(ex.add, range(120), [1] * 120) == [i + 1 for i in range(120)]
            stats = client.statistics()
            assert (stats.completed_local, stats.completed_edge) == (local, edge)

    run(main())


def test_decisions_are_batched_per_loop_turn_and_outcomes_observed(node: NodeProcess) -> None:
    policy = Counting(CostModel())

    async def main() -> None:
        async with Client([node.url], policy=policy) as client:
            assert await client.map(ex.count_primes, [30_000] * 300, window=100) == [3245] * 300
            stats = client.statistics()
            assert stats.completed_local + stats.completed_edge == 300

    run(main())
    # Each task is decided at least once; the rest of a group again after each of its
    # tasks is chosen to run here (client/auto.py), a bounded number of times.
    assert policy.decided >= 300
    # The map's first window (100 tasks submitted in one turn) is one call; later calls
    # are smaller (tasks submitted as results come back, and the walk's re-decisions),
    # their number depending on the machine's timing.
    assert policy.sizes[0] >= 50, policy.sizes[:5]
    assert policy.observed == 300


def test_the_shipped_model_decides_by_default(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url]) as client:
            results = await client.map(ex.inspect_frame, [_frame()] * 40)
            assert all(r["shape"] == [120, 160] for r in results)
            assert client._auto is not None
            assert client._auto.decided_local + client._auto.decided_edge == 40

    run(main())


def test_tasks_not_registered_here_are_not_decided(node_factory) -> None:  # type: ignore[no-untyped-def]
    remote = node_factory("--workers", "1", "--tasks", "tests.remote_tasks")

    async def main() -> None:
        async with Client([remote.url], policy="always_local") as client:
            # unknown to this process (never imported here): it can only run on the node
            assert await client.submit("remote_only", 5) == 50
            assert client.statistics().completed_edge == 1

    run(main())


def test_unknown_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown policy 'nope'"):
        Client([], policy="nope")


def _frame() -> Any:
    import numpy as np

    return np.random.default_rng(3).integers(0, 255, (120, 160), dtype=np.uint8)
