"""Task graphs against a real node: stages where asked, decided one by one on their
actual inputs, results passed on through the device, a failing stage stops the graph."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

import edgeoffload.examples.tasks as ex
from edgeoffload import Client, Graph, TaskFailed
from edgeoffload.decision.features import LOCAL_INDEX
from edgeoffload.decision.policies import CostModel
from tests.conftest import NodeProcess, run

HEIGHT, WIDTH = 120, 160


def _raw_frame() -> bytes:
    img = np.full((HEIGHT, WIDTH), 30, dtype=np.uint8)
    img[40:70, 60:100] = 230  # one bright object
    return zlib.compress(img.tobytes())


def _expected_label() -> dict[str, Any]:
    return ex.classify_crop(ex.detect_objects(ex.decode_frame(_raw_frame(), HEIGHT, WIDTH)))


def _pipeline(where: tuple[Any, Any, Any]) -> tuple[Graph, Any]:
    g = Graph()
    frame = g.stage(ex.decode_frame, _raw_frame(), HEIGHT, WIDTH, where=where[0])
    crop = g.stage(ex.detect_objects, frame, where=where[1])
    return g, g.stage(ex.classify_crop, crop, where=where[2])


def _diamond(where: tuple[Any, Any, Any, Any]) -> tuple[Graph, Any]:
    g = Graph()
    a = g.stage(ex.add, 1, 2, where=where[0])
    b = g.stage(ex.add, a, 10, where=where[1])
    c = g.stage(ex.add, a, 100, where=where[2])
    return g, g.stage(ex.add, b, c, where=where[3])


class Recording:
    """Wraps a policy; records each decide() call's task count and input bytes."""

    name = "recording"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[list[float]] = []
        self.targets: list[list[int]] = []

    def decide(self, tasks: Any, device: Any, nodes: Any) -> Any:
        self.calls.append([float(b) for b in tasks.input_bytes])
        decisions = self.inner.decide(tasks, device, nodes)
        self.targets.append([int(t) for t in decisions.target])
        return decisions


@pytest.mark.parametrize(
    ("where", "local", "edge"),
    [
        (("local", "edge", "local"), 2, 1),
        (("edge", "local", "edge"), 1, 2),
        (("edge", "edge", "edge"), 0, 3),
    ],
)
def test_a_chain_runs_each_stage_where_asked(
    node: NodeProcess, where: tuple[Any, Any, Any], local: int, edge: int
) -> None:
    async def main() -> None:
        async with Client([node.url]) as client:
            g, label = _pipeline(where)
            assert await client.submit_graph(g, deadline=30) == {label: _expected_label()}
            stats = client.statistics()
            assert (stats.completed_local, stats.completed_edge, stats.failed) == (local, edge, 0)

    run(main())


def test_a_diamond_runs_each_stage_where_asked(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url]) as client:
            g, d = _diamond(("local", "edge", "local", "edge"))
            assert await client.submit_graph(g) == {d: (3 + 10) + (3 + 100)}
            stats = client.statistics()
            assert (stats.completed_local, stats.completed_edge) == (2, 2)

    run(main())


def test_auto_stages_are_decided_by_the_policy_on_their_own_inputs(node: NodeProcess) -> None:
    policy = Recording(CostModel())

    async def main() -> None:
        async with Client([node.url], policy=policy) as client:
            g, label = _pipeline(("auto", "auto", "auto"))
            assert await client.submit_graph(g) == {label: _expected_label()}
            g, d = _diamond(("auto", "auto", "auto", "auto"))
            assert await client.submit_graph(g) == {d: 116}
            stats = client.statistics()
            assert stats.completed_local + stats.completed_edge == 7

    run(main())
    crop = ex.detect_objects(ex.decode_frame(_raw_frame(), HEIGHT, WIDTH))
    expected = [
        [float(len(_raw_frame()))],  # decode: the compressed frame
        [float(HEIGHT * WIDTH)],  # detect: the decoded frame, as it came back
        [float(crop.nbytes)],  # classify: the crop
        [0.0],  # the diamond's a
        [0.0, 0.0],  # b and c, ready together: one call
    ]
    if policy.targets[4][0] == LOCAL_INDEX:
        expected.append([0.0])  # c again, with the backlog b adds here (client/auto.py)
    assert policy.calls == [*expected, [0.0]]  # then d


def test_auto_follows_the_policy_to_the_edge(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url], policy="always_edge") as client:
            g, d = _diamond(("auto", "auto", "auto", "auto"))
            assert await client.submit_graph(g) == {d: 116}
            assert client.statistics().completed_edge == 4

    run(main())


def test_a_failing_stage_fails_the_graph_and_its_dependants_never_run(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url]) as client:
            g = Graph()
            message = g.stage(ex.echo, "bad frame", where="local")
            detect = g.stage(ex.fail, message, where="edge", name="detect")
            g.stage(ex.echo, detect, where="edge", name="classify")
            with pytest.raises(TaskFailed, match=r"stage 'detect' \(task 'fail'\)") as info:
                await client.submit_graph(g)
            assert info.value.exc_type == "ValueError"
            assert "bad frame" in str(info.value)
            stats = client.statistics()
            assert (stats.completed_local, stats.completed_edge) == (1, 0)  # classify never ran
            assert (stats.failed, stats.pending) == (1, 0)

    run(main())


def test_the_blocking_facade_runs_a_graph(node: NodeProcess) -> None:
    with Client([node.url]) as client:
        g, d = _diamond(("edge", "local", "edge", "local"))
        assert client.run_graph(g, deadline=30) == {d: 116}
        assert client.statistics().completed_edge == 2
