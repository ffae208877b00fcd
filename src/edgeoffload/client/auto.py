"""``where="auto"``: the decision engine, fed from what the client knows.

Tasks submitted with ``where="auto"`` that could run here (registered in this process)
and there (a node serves them) are decided together, once per event-loop turn, with
one vectorised ``policy.decide`` call per task name; a task chosen to run here adds
its run to the backlog the group's later tasks see, and they are decided again with
it (at most :data:`WALK_MAX` times per group), as the simulator the policies were
trained in commits each choice before the next. The features come from:

- the task: its resource hints evaluated on its arguments, its remaining deadline, its
  priority;
- the device: CPU speed (OS or calibration), load (psutil, at most ``MAX_LOAD``) and
  battery (psutil), and its own backlog: local tasks running times their mean run
  time, over the local workers;
- each candidate node: speed and cores (controller table, else the 2.5 GHz reference
  and the worker count from its hello), queue wait (what the simulator's nodes report:
  the wait of a new task until a worker frees, 0 while one is idle; from its reported
  queued and running tasks, or our own in-flight count if larger, and the task's mean
  run there), the heartbeat round-trip time, and the link bandwidth estimated from
  this client's own transfers (harmonic mean of recent samples; a default until the
  first large transfer).

The policy is ``ClientConfig.policy``: ``"auto"`` is the shipped learned model (the
``learned`` policy); any other name or model folder that
:mod:`edgeoffload.decision.registry` resolves, or a policy object given to the client,
works the same. An online policy also gets
``observe`` calls with the realised latency of each decided task.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..decision.estimators import MIN_SAMPLE_BYTES, HarmonicMean
from ..decision.features import (
    LOCAL_INDEX,
    TASK_FEATURES,
    Decisions,
    DeviceState,
    NodeFeatures,
    TaskBatch,
)
from ..hostinfo import battery_level, cpu_load, cpu_speed_hz
from .link import NodeLink
from .ownership import OwnedTask as Pending
from .placement import DEFAULT_SPEED_HZ

#: Link bandwidth assumed before the first measurement (a good Wi-Fi or 5G uplink).
DEFAULT_BPS = 50e6
#: At most this many times a group is decided again because a local choice added to
#: the backlog its later tasks see (a burst that all goes local costs this many policy
#: calls, not one per task).
WALK_MAX = 32
#: Device load and battery are read at most this often.
DEVICE_REFRESH_S = 0.5
#: The highest device load a decision sees. psutil reads the whole machine, 1.0 as soon
#: as every core is busy, which the cost model turns into a local run 1,000 times slower
#: (its floor) where the OS would share the cores; the simulator the policies are
#: trained in caps a device's background load and its own recent work at 0.95 each.
MAX_LOAD = 0.95


@dataclass(frozen=True, slots=True)
class Choice:
    """A decision for one task: LOCAL_INDEX or an index into the links given."""

    target: int
    decisions: Decisions  # the one-row decision, for online policies' observe()
    tasks: TaskBatch
    device: DeviceState
    nodes: NodeFeatures


class AutoDecider:
    """Builds decision features from client state and asks the policy (module doc)."""

    def __init__(
        self, policy: Any, device_cpu_hz: float | None = None, local_workers: int = 0
    ) -> None:
        self.policy = policy
        self.device_cpu_hz = device_cpu_hz
        #: Local runs at once (``ClientConfig.local_workers``; 0, the loop's thread pool,
        #: counts as one, as the client's backlog does).
        self.local_slots = max(1, local_workers)
        self._device: DeviceState | None = None
        self._device_at = 0.0
        self._bandwidth: dict[str, HarmonicMean] = {}
        self.decided_local = 0
        self.decided_edge = 0

    # -- features -------------------------------------------------------------------------

    def device_state(self, local_backlog_s: float) -> DeviceState:
        now = time.monotonic()
        if self._device is None and self.device_cpu_hz is not None:
            # a declared device (ClientConfig.device_cpu_hz): its speed is what it gets,
            # so the machine's load (other processes, outside its quota) is not its own
            self._device = DeviceState(cpu_hz=self.device_cpu_hz, load=0.0, battery=battery_level())
            self._device_at = math.inf
        elif self._device is None or now - self._device_at > DEVICE_REFRESH_S:
            self._device = DeviceState(
                cpu_hz=cpu_speed_hz(), load=min(cpu_load(), MAX_LOAD), battery=battery_level()
            )
            self._device_at = now
        d = self._device
        return DeviceState(d.cpu_hz, d.load, d.battery, d.power, local_queue_s=local_backlog_s)

    def bandwidth_bps(self, link: NodeLink) -> float:
        estimate = self._bandwidth.get(link.node_id)
        value = estimate.predict() if estimate is not None else float("nan")
        return value if value > 0 else DEFAULT_BPS  # NaN (no sample yet) fails the test

    def observe_transfer(self, link: NodeLink, payload_bytes: float, seconds: float) -> None:
        """A task's data took ``seconds`` on the wire: a bandwidth sample (large ones only)."""
        if payload_bytes < MIN_SAMPLE_BYTES or seconds <= 0:
            return
        self._bandwidth.setdefault(link.node_id, HarmonicMean(k=5)).observe(
            payload_bytes * 8.0 / seconds
        )

    def node_features(
        self, links: Sequence[NodeLink], in_flight: Sequence[int], mean_run_s: float
    ) -> NodeFeatures:
        n = len(links)
        speed = np.empty(n)
        cores = np.empty(n)
        queue = np.empty(n)
        load = np.empty(n)
        bps = np.empty(n)
        rtt = np.empty(n)
        for i, (link, mine) in enumerate(zip(links, in_flight, strict=True)):
            view = link.view
            workers = max(1, link.workers)
            speed[i] = view.speed_hz if view is not None and view.speed_hz > 0 else DEFAULT_SPEED_HZ
            cores[i] = workers
            ahead = max(link.queued + link.running, mine)
            # A new task starts once ``ahead + 1 - workers`` of those ahead are done,
            # ``workers`` at a time: 0 while a worker is idle, as the simulator's
            # nodes report it (the wait of a new arrival, not the work on the node).
            queue[i] = max(0, ahead + 1 - workers) * mean_run_s / workers
            load[i] = (view.cpu_percent / 100.0) if view is not None else 0.0
            bps[i] = self.bandwidth_bps(link)
            rtt[i] = link.rtt_s
        return NodeFeatures(
            tuple(link.node_id for link in links), speed, cores, queue, load, bps, bps, rtt
        )

    # -- decisions --------------------------------------------------------------------------

    def decide(
        self,
        group: Sequence[Pending],
        links: Sequence[NodeLink],
        in_flight: Sequence[int],
        local_backlog_s: float,
        mean_run_s: float,
        now: float,
    ) -> list[Choice]:
        """One decision per task of ``group`` (tasks of the same name, all runnable here
        and on each of ``links``)."""
        columns: dict[str, list[float]] = {name: [] for name in TASK_FEATURES}
        for p in group:
            assert p.spec is not None
            h = p.spec.hints(p.args)
            columns["cpu_cycles"].append(h.cpu_cycles)
            columns["mem_mb"].append(h.mem_mb)
            columns["io_ops"].append(h.io_ops)
            columns["input_bytes"].append(h.input_bytes)
            columns["output_bytes"].append(h.output_bytes)
            columns["deadline_s"].append(
                np.inf if p.deadline_at is None else max(0.0, p.deadline_at - now)
            )
            columns["priority"].append(float(p.priority))
        tasks = TaskBatch(**{k: np.asarray(v, dtype=np.float64) for k, v in columns.items()})
        nodes = self.node_features(links, in_flight, mean_run_s)
        choices: list[Choice] = []
        backlog = local_backlog_s
        start, walked = 0, 0
        while start < len(group):
            # Decide the rest as one batch with the backlog so far; the rows up to the
            # first local choice are final. That choice adds its run to the backlog the
            # rows after it see (the simulator commits each choice before the next, so
            # the policies were trained that way): the rest are decided again, up to
            # WALK_MAX times per group, after which they share the last backlog.
            device = self.device_state(backlog)
            rest = _rows(tasks, start, len(group))
            decisions = self.policy.decide(rest, device, nodes)
            local = np.flatnonzero(decisions.target == LOCAL_INDEX)
            end = len(rest) if len(local) == 0 or walked >= WALK_MAX else int(local[0]) + 1
            for i in range(end):
                choices.append(self._choice(decisions, i, rest, device, nodes))
            if decisions.target[end - 1] == LOCAL_INDEX:
                backlog += self._local_run_s(rest, end - 1, device)
            start += end
            walked += 1
        return choices

    def _local_run_s(self, tasks: TaskBatch, i: int, device: DeviceState) -> float:
        """How much row ``i``'s run here adds to the device's backlog: its cycles at the
        device's free speed, over the local workers (the client's own backlog rule)."""
        return device.run_s(float(tasks.cpu_cycles[i])) / self.local_slots

    def _choice(
        self,
        decisions: Decisions,
        i: int,
        tasks: TaskBatch,
        device: DeviceState,
        nodes: NodeFeatures,
    ) -> Choice:
        target = int(decisions.target[i])
        if target == LOCAL_INDEX:
            self.decided_local += 1
        else:
            self.decided_edge += 1
        budget = decisions.fallback_s
        row = Decisions(
            decisions.target[i : i + 1],
            decisions.confidence[i : i + 1],
            decisions.expected_latency_s[i : i + 1],
            decisions.expected_energy_j[i : i + 1],
            None if budget is None else budget[i : i + 1],
        )
        return Choice(target, row, _rows(tasks, i, i + 1), device, nodes)

    def observe(self, choice: Choice, latency_s: float) -> None:
        """Tell an online policy what the decision cost (energy as expected: the client
        cannot measure the device's)."""
        observe = getattr(self.policy, "observe", None)
        if observe is None:
            return
        observe(
            choice.tasks,
            choice.device,
            choice.nodes,
            choice.decisions,
            np.array([latency_s]),
            choice.decisions.expected_energy_j,
        )


def _rows(tasks: TaskBatch, start: int, end: int) -> TaskBatch:
    """Rows ``start:end`` of a batch (the batch itself when that is all of it)."""
    if start == 0 and end == len(tasks):
        return tasks
    return TaskBatch(*(getattr(tasks, name)[start:end] for name in TASK_FEATURES))


def fallback_budgets(
    tasks: Sequence[Any], choices: Sequence[Choice]
) -> tuple[tuple[int, float], ...]:
    """(task id, budget s) for the offloaded tasks whose policy gave a finite fallback
    budget (``Decisions.fallback_s``; ``client.ownership`` arms the timer)."""
    out = []
    for t, c in zip(tasks, choices, strict=True):
        budget = c.decisions.fallback_s
        if c.target != LOCAL_INDEX and budget is not None and np.isfinite(budget[0]):
            out.append((int(t.id), float(budget[0])))
    return tuple(out)


def check_policy_name(name: str) -> None:
    """Raises ConfigError unless ``name`` resolves (``"auto"``, a registered name, a
    model folder: :mod:`edgeoffload.decision.registry`); loads nothing."""
    from ..decision.registry import check

    check(name)


def make_policy(name: str) -> Any:
    """The policy called ``name``; ``"auto"`` is the shipped learned model (loaded on
    the first decision, not at start-up)."""
    from ..decision.registry import resolve

    return resolve(name)
