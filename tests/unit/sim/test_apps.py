"""sim.apps: task graphs compiled to index lists (after, successors, sinks) and task
attributes drawn in bulk, with content keys apart per app."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from edgeoffload.sim.apps import KEY_SPACE, AppModel
from edgeoffload.sim.scenario import AppSpec


def app(index: int = 0, **fields: Any) -> AppModel:
    return AppModel(index, "a", msgspec.convert(fields, AppSpec))


def test_a_plain_app_draws_its_own_attributes() -> None:
    model = app(cpu_cycles=2e9, input_bytes=1e4, output_bytes=5.0, mem_mb=3.0, io_ops=1.0)
    assert not model.is_dag and model.stages == ()
    d = model.draw(np.random.default_rng(0), 3)
    assert d.cycles.tolist() == [2e9] * 3
    assert d.input_bytes.tolist() == [1e4] * 3 and d.output_bytes.tolist() == [5.0] * 3
    assert d.mem_mb.tolist() == [3.0] * 3 and d.io_ops.tolist() == [1.0] * 3
    assert d.keys.tolist() == [-1, -1, -1]  # no catalog: every input is new
    assert d.later_cycles is None and d.later_output is None


def test_deadline_priority_and_cacheable() -> None:
    assert app().deadline_s == float("inf")
    model = app(deadline_s=0.5, priority=3, cacheable=True)
    assert (model.deadline_s, model.priority, model.cacheable) == (0.5, 3.0, True)


def test_content_keys_are_zipf_ranks_offset_per_app() -> None:
    rng = np.random.default_rng(0)
    keys = app(2, catalog=5, zipf_s=1.0).draw(rng, 2000).keys
    assert keys.min() >= 2 * KEY_SPACE and keys.max() < 2 * KEY_SPACE + 5
    ranks = np.bincount(keys - 2 * KEY_SPACE, minlength=5)
    assert list(ranks) == sorted(ranks, reverse=True)  # rank 0 the most popular


def test_a_chain_by_default_each_stage_reads_the_one_before() -> None:
    model = app(
        stages=[
            {"name": "decode", "cpu_cycles": 1e8, "output_bytes": 100.0},
            {"name": "detect", "cpu_cycles": 2e8, "output_bytes": 10.0},
            {"name": "classify", "cpu_cycles": 3e8, "output_bytes": 1.0},
        ]
    )
    assert model.is_dag
    assert [(s.after, s.successors, s.sink) for s in model.stages] == [
        ((), (1,), False),
        ((0,), (2,), False),
        ((1,), (), True),
    ]


def test_a_diamond_with_named_dependencies_and_two_sinks() -> None:
    # src feeds left, right and extra; join reads left and right. Nothing reads join
    # or extra: both are sinks, whose outputs go back to the device.
    model = app(
        stages=[
            {"name": "src", "cpu_cycles": 1.0},
            {"name": "left", "cpu_cycles": 2.0, "after": ["src"]},
            {"name": "right", "cpu_cycles": 3.0, "after": ["src"]},
            {"name": "join", "cpu_cycles": 4.0, "after": ["left", "right"]},
            {"name": "extra", "cpu_cycles": 5.0, "after": ["src"]},
        ]
    )
    after = [s.after for s in model.stages]
    successors = [s.successors for s in model.stages]
    sinks = [s.name for s in model.stages if s.sink]
    assert after == [(), (0,), (0,), (1, 2), (0,)]
    assert successors == [(1, 2, 4), (3,), (3,), (), ()]
    assert sinks == ["join", "extra"]


def test_a_dag_draws_its_first_stage_and_its_later_stages_up_front() -> None:
    model = app(
        cpu_cycles=9e9,  # unused with stages
        output_bytes=9e9,
        stages=[
            {"name": "a", "cpu_cycles": 1.0, "output_bytes": 10.0},
            {"name": "b", "cpu_cycles": 2.0, "output_bytes": 20.0},
            {"name": "c", "cpu_cycles": 3.0, "output_bytes": 30.0},
        ],
    )
    d = model.draw(np.random.default_rng(0), 2)
    assert d.cycles.tolist() == [1.0, 1.0] and d.output_bytes.tolist() == [10.0, 10.0]
    assert d.later_cycles is not None and d.later_output is not None
    assert d.later_cycles.tolist() == [[2.0, 3.0], [2.0, 3.0]]
    assert d.later_output.tolist() == [[20.0, 30.0], [20.0, 30.0]]


def test_a_single_stage_dag_has_no_later_stages() -> None:
    model = app(stages=[{"name": "only", "cpu_cycles": 7.0}])
    assert model.is_dag and model.stages[0].sink
    d = model.draw(np.random.default_rng(0), 1)
    assert d.cycles.tolist() == [7.0] and d.later_cycles is None


def test_draws_are_reproducible_from_the_stream() -> None:
    spec = {"cpu_cycles": {"dist": "lognormal", "median": 1e9, "sigma": 0.5}, "catalog": 50}
    a = app(**spec).draw(np.random.default_rng(4), 10)
    b = app(**spec).draw(np.random.default_rng(4), 10)
    assert a.cycles.tolist() == b.cycles.tolist() and a.keys.tolist() == b.keys.tolist()
    assert len(set(a.cycles.tolist())) == 10
