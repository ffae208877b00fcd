"""client.auto: the features ``where="auto"`` decides from (node queue waits, speeds,
link bandwidth from our own transfers, the device capped and cached), the batch handed
to the policy, one choice per task, and online feedback."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgeoffload.client import auto
from edgeoffload.client.auto import (
    DEFAULT_BPS,
    MIN_SAMPLE_BYTES,
    AutoDecider,
    check_policy_name,
    make_policy,
)
from edgeoffload.client.placement import DEFAULT_SPEED_HZ
from edgeoffload.decision.features import Decisions, DeviceState, NodeFeatures, TaskBatch
from edgeoffload.errors import ConfigError
from edgeoffload.tasks import TaskSpec


def link(node_id: str = "a", **kw: Any) -> Any:
    base: dict[str, Any] = dict(
        node_id=node_id, view=None, workers=2, queued=0, running=0, rtt_s=0.01
    )
    return SimpleNamespace(**{**base, **kw})


class Recorder:
    """A policy: sends task i to target ``targets[i]`` and keeps what it was given."""

    name = "recorder"

    def __init__(self, targets: list[int]) -> None:
        self.targets = targets
        self.calls: list[tuple[TaskBatch, DeviceState, NodeFeatures]] = []
        self.observed: list[Any] = []

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        self.calls.append((tasks, device, nodes))
        n = len(tasks)
        return Decisions(
            np.array(self.targets[:n]),
            np.linspace(0.1, 0.9, n),
            np.arange(n, dtype=float),
            np.arange(n, dtype=float) / 10,
        )


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A fixed machine: 2 GHz, fully busy (psutil's 1.0), half a battery."""
    reads = {"load": 0}

    def load() -> float:
        reads["load"] += 1
        return 1.0

    monkeypatch.setattr(auto, "cpu_speed_hz", lambda: 2e9)
    monkeypatch.setattr(auto, "cpu_load", load)
    monkeypatch.setattr(auto, "battery_level", lambda: 0.5)
    return reads


def test_the_device_load_is_capped_and_read_at_most_twice_a_second(
    machine: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(auto.time, "monotonic", lambda: clock[0])
    d = AutoDecider(Recorder([]))
    first = d.device_state(0.25)
    assert (first.cpu_hz, first.load, first.battery) == (2e9, 0.95, 0.5)
    assert first.local_queue_s == 0.25
    clock[0] += 0.4
    assert d.device_state(1.0).local_queue_s == 1.0  # the backlog is always fresh
    assert machine["load"] == 1
    clock[0] += 0.2
    d.device_state(0.0)
    assert machine["load"] == 2


def test_a_declared_device_speed_is_used_and_the_machine_load_is_not_its_own(
    machine: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An emulated device under a CPU quota: its speed is given (ClientConfig.device_cpu_hz);
    # the host's load (other processes, outside the quota) must not slow it a second time.
    clock = [100.0]
    monkeypatch.setattr(auto.time, "monotonic", lambda: clock[0])
    d = AutoDecider(Recorder([]), device_cpu_hz=4e8)
    first = d.device_state(0.5)
    assert (first.cpu_hz, first.load, first.battery) == (4e8, 0.0, 0.5)
    assert first.local_queue_s == 0.5
    clock[0] += 10.0
    assert d.device_state(0.0).cpu_hz == 4e8
    assert machine["load"] == 0


def test_a_client_takes_a_positive_device_speed() -> None:
    from edgeoffload.client.client import Client

    assert Client(device_cpu_hz=5e8).config.device_cpu_hz == 5e8
    with pytest.raises(ConfigError, match="device_cpu_hz"):
        Client(device_cpu_hz=-1.0)


def test_queue_wait_is_zero_while_a_worker_is_idle() -> None:
    d = AutoDecider(Recorder([]))
    f = d.node_features(
        [
            link("idle", workers=2, queued=0, running=1),
            link("full", workers=2, queued=1, running=2),  # 3 ahead: waits for 2 runs
            link("mine", workers=1, queued=0, running=0),  # but we have 3 in flight there
            link("zero", workers=0),  # a node that reported no workers counts one
        ],
        in_flight=[0, 0, 3, 0],
        mean_run_s=0.5,
    )
    assert f.ids == ("idle", "full", "mine", "zero")
    assert f.queue_s.tolist() == [0.0, 0.5, 1.5, 0.0]  # (3 + 1 - 2) * 0.5 / 2; 3 * 0.5 / 1
    assert f.cores.tolist() == [2.0, 2.0, 1.0, 1.0]


def test_speed_and_load_come_from_the_controller_view_when_there_is_one() -> None:
    d = AutoDecider(Recorder([]))
    views = [
        None,
        SimpleNamespace(speed_hz=3.5e9, cpu_percent=40.0),
        SimpleNamespace(speed_hz=0.0, cpu_percent=10.0),  # unknown speed
    ]
    f = d.node_features([link(str(i), view=v) for i, v in enumerate(views)], [0, 0, 0], 0.1)
    assert f.speed_hz.tolist() == [DEFAULT_SPEED_HZ, 3.5e9, DEFAULT_SPEED_HZ]
    assert f.load.tolist() == [0.0, 0.4, 0.1]
    assert f.rtt_s.tolist() == [0.01] * 3


def test_bandwidth_is_a_default_until_a_large_transfer_is_measured() -> None:
    d = AutoDecider(Recorder([]))
    a, b = link("a"), link("b")
    assert d.bandwidth_bps(a) == DEFAULT_BPS
    d.observe_transfer(a, MIN_SAMPLE_BYTES - 1, 0.001)  # too small to say anything
    d.observe_transfer(a, 1e6, 0.0)  # no duration
    assert d.bandwidth_bps(a) == DEFAULT_BPS
    d.observe_transfer(a, 1e6, 8.0)  # 1 Mbit/s
    d.observe_transfer(a, 1e6, 2.0)  # 4 Mbit/s
    assert d.bandwidth_bps(a) == pytest.approx(2 / (1 / 1e6 + 1 / 4e6))  # harmonic: 1.6e6
    assert d.bandwidth_bps(b) == DEFAULT_BPS  # per node
    f = d.node_features([a, b], [0, 0], 0.1)
    assert f.up_bps.tolist() == f.down_bps.tolist() == [pytest.approx(1.6e6), DEFAULT_BPS]


def pending(spec: TaskSpec, args: list[Any], deadline_at: float | None, priority: int) -> Any:
    return SimpleNamespace(spec=spec, args=args, deadline_at=deadline_at, priority=priority)


SPEC = TaskSpec(
    "resize",
    lambda n: n,
    __name__,
    cpu_cycles=lambda n: n * 1e6,
    input_bytes=lambda n: n * 10.0,
    output_bytes=100.0,
    mem_mb=2.0,
)


def test_decide_builds_one_batch_and_gives_one_choice_per_task() -> None:
    policy = Recorder([1, 0, -1])  # local last: nothing after it to decide again
    d = AutoDecider(policy)
    group = [
        pending(SPEC, [1], None, 0),
        pending(SPEC, [2], 10.5, 3),  # 0.5 s left at now = 10
        pending(SPEC, [3], 9.0, -1),  # already past: 0 left
    ]
    choices = d.decide(group, [link("a"), link("b")], [0, 0], 0.0, 0.1, now=10.0)
    ((tasks, device, nodes),) = policy.calls
    assert tasks.cpu_cycles.tolist() == [1e6, 2e6, 3e6]
    assert tasks.input_bytes.tolist() == [10.0, 20.0, 30.0]
    assert tasks.output_bytes.tolist() == [100.0] * 3 and tasks.mem_mb.tolist() == [2.0] * 3
    assert tasks.deadline_s.tolist() == [math.inf, 0.5, 0.0]
    assert tasks.priority.tolist() == [0.0, 3.0, -1.0]
    assert nodes.ids == ("a", "b") and device.load == 0.95
    assert [c.target for c in choices] == [1, 0, -1]
    assert (d.decided_local, d.decided_edge) == (1, 2)
    second = choices[1]
    assert second.tasks.cpu_cycles.tolist() == [2e6] and len(second.decisions) == 1
    assert second.decisions.expected_latency_s.tolist() == [1.0]
    assert second.nodes is nodes and second.device is device


def test_a_burst_sees_the_backlog_its_own_local_choices_add() -> None:
    """19 signal plans at once on a 0.61-GHz device (49 ms each here), 50 ms from the
    nodes: the first is better run here, but not the 19th behind 18 others. Decided as
    one batch with the backlog before the burst, every plan went local and the last
    ones missed their 1-s deadline (the traffic example, bench e2e, auto 0 % offloaded
    against the cost model's 10 %); the simulator, which commits each choice before
    the next, offloaded them."""
    policy = make_policy("cost_model")
    d = AutoDecider(policy, device_cpu_hz=0.6125e9)
    group = [pending(SPEC, [30], 11.0, 0) for _ in range(19)]  # 3e7 cycles, 1 s left
    links = [link("a", rtt_s=0.05), link("b", rtt_s=0.05)]
    choices = d.decide(group, links, [0, 0], 0.0, 0.012, now=10.0)
    targets = [c.target for c in choices]
    local = [i for i, t in enumerate(targets) if t == -1]
    assert local and local == list(range(len(local))) and len(local) < 19, targets
    run_s = 3e7 / 0.6125e9
    # Each task saw the local work chosen before it in the burst.
    assert [c.device.local_queue_s for c in choices[: len(local) + 1]] == pytest.approx(
        [i * run_s for i in range(len(local) + 1)]
    )
    # Alone (no backlog) the same task is run here: the walk changed the later choices.
    (alone,) = d.decide(group[:1], links, [0, 0], 0.0, 0.012, now=10.0)
    assert alone.target == -1


def test_a_burst_s_walk_is_bounded_and_the_rest_is_decided_at_once() -> None:
    """A map of many tasks that all go local is decided in at most WALK_MAX + 2 calls."""
    policy = Recorder([-1] * 1000)
    d = AutoDecider(policy, device_cpu_hz=1e9)
    group = [pending(SPEC, [1], None, 0) for _ in range(1000)]
    choices = d.decide(group, [link("a")], [0], 0.0, 0.001, now=0.0)
    assert [c.target for c in choices] == [-1] * 1000
    assert len(policy.calls) <= auto.WALK_MAX + 2
    last = policy.calls[-1][1].local_queue_s
    assert last == pytest.approx((len(policy.calls) - 1) * 1e6 / 1e9)


def test_an_online_policy_is_told_the_realised_latency() -> None:
    class Online(Recorder):
        def observe(self, *args: Any) -> None:
            self.observed.append(args)

    policy = Online([0])
    d = AutoDecider(policy)
    (choice,) = d.decide([pending(SPEC, [1], None, 0)], [link()], [0], 0.0, 0.1, now=0.0)
    d.observe(choice, 0.125)
    (args,) = policy.observed
    tasks, device, nodes, decisions, latency, energy = args
    assert tasks is choice.tasks and nodes is choice.nodes and device is choice.device
    assert decisions is choice.decisions
    assert latency.tolist() == [0.125]
    assert energy.tolist() == choice.decisions.expected_energy_j.tolist()  # as expected


def test_a_policy_without_observe_is_left_alone() -> None:
    d = AutoDecider(Recorder([0]))
    (choice,) = d.decide([pending(SPEC, [1], None, 0)], [link()], [0], 0.0, 0.1, now=0.0)
    d.observe(choice, 1.0)  # nothing to call, nothing raised


def test_policy_names_are_checked_and_resolved_by_the_registry() -> None:
    check_policy_name("cost_model")
    check_policy_name("auto")
    with pytest.raises(ConfigError, match="cost_modle"):
        check_policy_name("cost_modle")
    assert make_policy("always_local").name == "always_local"
