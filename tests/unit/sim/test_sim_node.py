"""One simulated node (sim/nodes.py SimNode) by hand: DVFS energy per run, the queue
wait it reports, its load, a crash and recovery, the busy time and energy a crash
takes back, its totals, and the priority path through the real scheduler."""

from __future__ import annotations

import heapq

import pytest

from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.sim.nodes import SimNode, task_spec

APP = task_spec("frame")


def node(**kw: object) -> SimNode:
    args: dict[str, object] = {"group": "edge", "cores": 2, "speed_hz": 1e9}
    args.update(kw)
    return SimNode(0, "n0", **args)  # type: ignore[arg-type]


def test_a_run_takes_the_lowest_level_that_meets_its_compute_deadline() -> None:
    n = node(levels=(0.5, 1.0), kappa=1e-27)
    # 1e8 cycles: 0.2 s at half speed fits a budget of 0.3 s from start 1.0.
    service, level, energy = n.run_at(1.0, 1e8, compute_by=1.3)
    assert (service, level) == (0.2, 0.5)
    assert energy == pytest.approx(1e-27 * (0.5e9) ** 2 * 1e8)  # 0.025 J
    assert n.dyn_max_j == pytest.approx(1e-27 * 1e18 * 1e8)  # 0.1 J at full speed
    # The saving against always-maximum is 1 - level**2.
    assert 1 - n.dyn_j / n.dyn_max_j == pytest.approx(0.75)
    # A budget too short: full speed.
    service, level, _ = n.run_at(2.0, 1e8, compute_by=2.15)
    assert (service, level) == (0.1, 1.0)
    assert n.busy_s == pytest.approx(0.3)


def test_fifo_queue_wait_and_load_come_from_the_core_free_times() -> None:
    n = node(cores=2)
    assert n.queue_s(0.0) == 0.0 and n.load(0.0) == 0.0
    n.free = [0.5, 2.0]  # a heap: the earliest-free core first
    heapq.heapify(n.free)
    assert n.queue_s(0.2) == pytest.approx(0.3)  # until the first core is free
    assert n.load(0.2) == 1.0
    assert n.load(1.0) == 0.5 and n.queue_s(1.0) == 0.0
    assert n.load(3.0) == 0.0


def test_a_crash_loses_pending_tasks_in_order_and_caches_and_voids_the_epoch() -> None:
    n = node(input_items=4, result_items=4)
    assert n.input_cache is not None and n.result_cache is not None
    n.input_cache.insert(1)
    n.result_cache.insert(2)
    n.pending.update(dict.fromkeys([7, 3, 9]))
    assert n.crash(5.0) == [7, 3, 9]
    assert (n.up, n.epoch, n.down_since, n.pending) == (False, 1, 5.0, {})
    assert len(n.input_cache) == 0 and len(n.result_cache) == 0
    n.recover(8.0)
    assert (n.up, n.down_s, n.free, n.idle) == (True, 3.0, [8.0, 8.0], 2)
    assert n.crash(9.0) == [] and n.epoch == 2


def test_uncount_takes_back_only_the_part_after_the_crash() -> None:
    n = node(levels=(1.0,), kappa=1e-27)
    service, level, _ = n.run_at(0.0, 1e9, compute_by=10.0)  # 1 s at 1 GHz: 1 J
    assert (service, level) == (1.0, 1.0)
    n.uncount(0.0, service, level, 1e9, at=0.25)  # 0.75 s never ran
    assert n.busy_s == pytest.approx(0.25)
    assert n.dyn_j == pytest.approx(0.25) and n.dyn_max_j == pytest.approx(0.25)
    n.uncount(0.0, service, level, 1e9, at=2.0)  # it had finished: nothing to undo
    assert n.busy_s == pytest.approx(0.25)


def test_stats_count_down_time_including_a_crash_not_yet_recovered() -> None:
    n = node(cores=2, static_w=10.0)
    n.run_at(0.0, 1e9, compute_by=10.0)  # 1 busy core-second
    n.crash(2.0)
    n.recover(3.0)  # down 1 s
    n.crash(8.0)  # and down from 8 s to the end at 10 s
    stats = n.stats(10.0)
    assert stats["up_s"] == pytest.approx(7.0)
    assert stats["static_energy_j"] == pytest.approx(70.0)
    assert stats["utilisation"] == pytest.approx(1.0 / 20.0)
    assert stats["busy_core_s"] == pytest.approx(1.0)
    assert (stats["name"], stats["group"], stats["tier"], stats["cores"]) == (
        "n0",
        "edge",
        "edge",
        2,
    )
    assert stats["input_cache_hits"] == stats["result_cache_misses"] == 0
    assert node().stats(0.0)["utilisation"] == 0.0


def test_the_priority_path_admits_starts_on_idle_cores_and_refuses_beyond_its_bound() -> None:
    n = node(discipline="priority", cores=1, max_pending=2)
    assert n.scheduler is not None and not n.fifo
    assert n.submit(1, owner=0, app=APP, priority=0, budget_s=float("inf"), now=0.0) is None
    assert n.submit(2, owner=0, app=APP, priority=5, budget_s=1.0, now=0.0) is None
    refused = n.submit(3, owner=0, app=APP, priority=0, budget_s=1.0, now=0.0)
    assert refused is not None and refused.code is ErrorCode.OVERLOADED and refused.id == 3
    started, expired = n.next_jobs(0.0)
    assert [j.id for j in started] == [2] and expired == []  # higher priority first
    assert n.idle == 0 and n.load(0.0) == 1.0
    assert n.next_jobs(0.0) == ([], [])  # no idle core
    assert n.queue_s(0.0) > 0.0  # one queued behind a busy core
    n.crash(0.5)
    n.recover(0.6)
    assert n.scheduler.queued == 0 and n.idle == 1 and n.queue_s(0.6) == 0.0


def test_the_priority_path_drops_a_task_whose_deadline_passed_in_the_queue() -> None:
    n = node(discipline="priority", cores=1)
    assert n.submit(1, owner=0, app=APP, priority=0, budget_s=0.1, now=0.0) is None
    started, expired = n.next_jobs(0.5)
    assert started == [] and [j.id for j in expired] == [1]


def test_a_simulated_task_has_no_body() -> None:
    assert APP.name == "frame" and APP.module == "edgeoffload.sim"
    with pytest.raises(AssertionError, match="simulated tasks are not executed"):
        APP.fn()
