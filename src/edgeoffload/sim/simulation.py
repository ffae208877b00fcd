"""The simulation: devices decide with a real Policy, tasks move over trace-driven links
to nodes and back, on the discrete-event clock of :mod:`.engine`.

The life of a task (``docs/simulator.md`` has the picture):

1. **Created** by its device's arrival process. Every ``view_interval_s`` each device
   refreshes its view (node heartbeats, own load and battery, bandwidth estimates) and
   hands the tasks it creates during the next interval to the policy in one
   ``decide(tasks, device, nodes)`` call: the same call, on the same feature objects,
   as the real client. Devices refresh in ``view_phases`` staggered groups
   (:mod:`.phase`).
2. **Local**: the device CPU serves its tasks first-come first-served at the lowest DVFS
   level that meets the deadline; energy ``kappa f^2`` per cycle.
3. **Offloaded**: tasks to the same node created at the same instant (or within the
   batching window) share one transfer. The upload queues on the device's uplink (a
   real trace, see :mod:`.links`), may be lost and resent, and skips the input if the
   node has it cached; it reaches the node after half the RTT (plus the WAN for the
   cloud). The node answers from its result cache, refuses (down, overloaded: the
   device places the task again), drops it (deadline passed before it could start), or
   runs it (:mod:`.nodes`). The result comes back over the downlink.
4. **Ends exactly once**: done, dropped or failed, with a reason (:mod:`.table`).

Device energy per task follows the decision engine's cost model: transmit power while
its bytes go out, idle power from the end of its upload to the start of its download,
receive power while the result comes in, ``kappa f^2`` per local cycle.

Speed: a round of many devices' decisions is carried out with numpy (:mod:`.rounds`),
node arrivals are delivered in batches (:mod:`.arrivals`), and node finishes are held
back and carried out together before anything reads what they change
(:mod:`.finishes`); all give the task-by-task code's numbers bit for bit.
"""

from __future__ import annotations

import gc
import math
import sys
import time as wallclock
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappush, heapreplace
from typing import Any

import numpy as np

from ..decision.features import (
    LOCAL,
    Context,
    Decisions,
    DeviceState,
    NodeStates,
    TaskBatch,
)
from ..decision.policies import Policy
from ..errors import InvalidState
from ..protocol.codes import ErrorCode
from . import phase as phase_tasks
from . import rounds
from .arrivals import ArrivalStream
from .engine import NORMAL, URGENT, Engine
from .estimates import BandwidthEstimator, EwmaBandwidth
from .finishes import FinishQueue
from .nodes import dvfs, task_spec
from .options import SimOptions
from .phase import POWER_COLUMNS, Request
from .scenario import Scenario
from .table import Outcome, Reason, TaskTable
from .view import View
from .world import build

DONE, DROPPED, FAILED = int(Outcome.DONE), int(Outcome.DROPPED), int(Outcome.FAILED)
PENDING = int(Outcome.PENDING)


@dataclass
class Probe:
    """Hindsight inputs taken at commit time (capture mode): what the device-side parts
    of every option would have cost given the true link and CPU state."""

    task: int
    local_wait_s: float
    up_start_s: float
    up_end_s: float


@dataclass
class Capture:
    requests: list[Request] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)


class Simulation:
    """One scenario under one policy (see the module docstring).

    Args:
        scenario: a validated scenario.
        policy: any :class:`~edgeoffload.decision.policies.Policy`.
        seed: overrides ``scenario.seed``.
        options: how the run goes (capture, Gymnasium mode, closed-task reports, the
            numpy paths): :class:`~.options.SimOptions`, fixed for the run.
        estimator: bandwidth estimator (default: EWMA with the scenario's alpha).

    Call :meth:`run`, then read :attr:`tasks` (or use :func:`edgeoffload.sim.run`).
    """

    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        *,
        seed: int | None = None,
        options: SimOptions | None = None,
        estimator: BandwidthEstimator | None = None,
    ) -> None:
        self.options = options = options or SimOptions()
        self.scenario = scenario
        self.policy = policy
        self.seed = scenario.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.engine = Engine()
        self.world = build(scenario, self.rng)
        self.apps = self.world.apps
        self.dev = self.world.devices
        self.nodes = self.world.nodes
        self.tasks = TaskTable()
        self.estimator: BandwidthEstimator = estimator or EwmaBandwidth(
            [link.mean_bps() for link in self.dev.up],
            [link.mean_bps() for link in self.dev.down],
            scenario.estimator.alpha,
        )
        self._samples: list[list[tuple[float, bool, float]]] = [[] for _ in range(len(self.dev))]
        self._specs = [task_spec(a.name) for a in self.apps]
        self._cacheable = [a.cacheable for a in self.apps]
        self._views: list[View | None] = [None] * scenario.view_phases
        self._uniform: list[float] = []
        #: Node arrivals of the phase being committed (see :func:`.phase.decide_phase`).
        self._arrivals: list[tuple[float, int, list[int]]] | None = None
        #: Per device: transmissions left before the next loss (-1: not drawn yet).
        self._until_loss = array("q", [-1]) * len(self.dev)
        # Numpy views of the per-device state that changes (for the numpy paths).
        self.until_v = np.frombuffer(self._until_loss, dtype=np.int64)
        self.battery_v = np.frombuffer(self.dev.battery_j)
        self.cpu_free_v = np.frombuffer(self.dev.cpu_free)
        self.busy_v = np.frombuffer(self.dev.busy_s)
        batching = scenario.batching
        self._batching = batching.enabled
        self._window = batching.window_s
        self._max_items = batching.max_items
        self._header_bits = batching.header_bytes * 8.0
        self._backhaul_bps = scenario.backhaul_mbps * 1e6
        self._backhaul_rtt = scenario.backhaul_rtt_ms / 1000.0
        self.capture = Capture() if options.capture else None
        #: Gymnasium mode (``options.external``): policy calls are queued here and the
        #: engine stops.
        self.pending: list[Request] = []
        #: Task ids closed since the owner last cleared it (``options.report_closed``).
        self.closed: list[int] | None = [] if options.report_closed else None
        #: Rows carried out by each numpy path (what the fast paths took; diagnostics).
        self.numpy_rows = {"rounds": 0, "arrivals": 0, "finishes": 0}
        self._round_min_rows = options.min_rows(rounds.MIN_ROWS)
        #: Node busy share over time: (time, one value per node).
        self.timeline: list[tuple[float, list[float]]] = []
        self.uplink_saved_bytes = 0.0
        self.wall_s = 0.0
        self._started = False
        from .dag import Dags

        self.dags = Dags(self)
        # Every device's candidate nodes as a padded matrix (-1: none), for the
        # all-devices-at-once decision path.
        width = max((len(c) for c in self.dev.candidates), default=0)
        self._candidates = np.full((len(self.dev), width), -1, dtype=np.int64)
        for d, cands in enumerate(self.dev.candidates):
            self._candidates[d, : len(cands)] = cands
        decide_context = getattr(policy, "decide_context", None)
        self._batch_policy: Callable[[Context], Decisions] | None = (
            decide_context if callable(decide_context) else None
        )
        # Online policies learn from outcomes: ``observe(tasks, device, nodes,
        # decisions, latency_s, energy_j)`` per policy call, once all its tasks have
        # ended (at the time the last one ended, so nothing is learnt early). They are
        # called once per device, so that each call's outcomes go back together.
        # Per-device constants as arrays, for the all-devices-at-once decision path.
        dev = self.dev
        self._cpu_hz = np.array(dev.cpu_hz)
        self._bg_load = np.array(dev.load)
        self._capacity = np.array(dev.capacity_j)
        power_rows = [[getattr(p, f) for f in POWER_COLUMNS] for p in dev.power]
        self._power = np.array(power_rows).reshape(-1, len(POWER_COLUMNS))
        observe = getattr(policy, "observe", None)
        self._observe: Callable[..., None] | None = observe if callable(observe) else None
        if self._observe is not None:
            self._batch_policy = None
        self._watch: dict[int, tuple[Request, Decisions, list[int]]] = {}
        #: No DAG app: every task is a plain one (rounds can go through :mod:`.rounds`).
        self._plain = not any(a.is_dag for a in self.apps)
        self._round_arrays: rounds.RoundArrays | None = None
        #: Node finishes held back (:mod:`.finishes`), when the run allows it (start).
        self._finishes: FinishQueue | None = None
        #: Nodes whose arrivals can take :meth:`_arrive_fifo` (when up).
        self._plain_fifo = [
            n.fifo and n.input_cache is None and n.result_cache is None for n in self.nodes
        ]
        self._stream = ArrivalStream(self)

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the first view refresh of every phase and the failure schedule."""
        if self._started:
            return
        self._started = True
        s = self.scenario
        step = s.view_interval_s
        for phase in range(s.view_phases):
            end = min(s.duration_s, (phase + 1) * step / s.view_phases)
            self.engine.schedule(0.0, self._refresh, (phase, 0.0, end))
        for at, node, crash in self.world.failures:
            self.engine.schedule(at, self._crash if crash else self._recover, node, URGENT)
        if self.nodes:
            self.engine.schedule(0.0, self._sample, max(step, s.duration_s / 1000.0))
        o = self.options
        if (
            o.fast_paths
            and self._plain
            and all(self._plain_fifo)
            and self.capture is None
            and self._observe is None
            and not o.external
            and self.closed is None
        ):
            self._finishes = FinishQueue(self)

    def run(
        self, until: float | None = None, progress: Callable[[float], None] | None = None
    ) -> None:
        """Run to ``until`` (default: to the end, every task finished).

        Args:
            progress: called with the simulated time after each chunk of the run.
        """
        self.start()
        t0 = wallclock.perf_counter()
        # The run makes next to no reference cycles, while the cyclic collector's full
        # passes over the growing task table cost a tenth of the stress benchmark.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if progress is None:
                self._run_engine(float("inf") if until is None else until)
                return
            end = self.scenario.duration_s if until is None else until
            for i in range(1, 101):
                self._run_engine(end * i / 100)
                progress(self.engine.now)
            if until is None:
                self._run_engine(float("inf"))
        finally:
            if collecting:
                gc.enable()
            self.wall_s += wallclock.perf_counter() - t0

    def _run_engine(self, until: float) -> None:
        """Run the engine to ``until``, then the finishes held back up to it."""
        stopped = self.engine.run(until)
        if self._finishes is not None and not stopped:
            if until == float("inf"):
                self._finishes.flush(None)
            else:
                self._finishes.flush((until, NORMAL, sys.maxsize))

    def _sync(self) -> None:
        """Carry out the finishes held back (:mod:`.finishes`) whose events come before
        the event being processed: before anything that reads what they change."""
        if self._finishes is not None:
            current = self.engine.current
            self._finishes.flush((current[0], current[1], current[2]))

    # -- views and decisions ------------------------------------------------------------

    def _refresh(self, arg: tuple[int, float, float]) -> None:
        self._sync()
        phase, t0, t1 = arg
        s = self.scenario
        # The view is taken when the phase's first task needs it (a refresh with no new
        # task costs no snapshot).
        self._views[phase] = None
        if t1 > t0:
            phase_tasks.create(self, phase, t0, t1)
        if t1 < s.duration_s:
            nxt = min(s.duration_s, t1 + s.view_interval_s)
            self.engine.schedule(t1, self._refresh, (phase, t1, nxt))
        if self.pending:
            self.engine.stop()

    def _sample(self, step: float) -> None:
        """Record every node's busy share (for the report), every ``step`` seconds."""
        now = self.engine.now
        self.timeline.append((now, [n.load(now) for n in self.nodes]))
        if now + step <= self.scenario.duration_s:
            self.engine.schedule(now + step, self._sample, step)

    def _device_state(self, d: int) -> DeviceState:
        """The device's own features now as the decision engine's DeviceState,
        including the work already queued on its CPU and its radio."""
        cpu_hz, load, battery = self._device_features(d)
        return self._state_at(d, cpu_hz, load, battery, self.engine.now)

    def _state_at(
        self, d: int, cpu_hz: float, load: float, battery: float, at: float
    ) -> DeviceState:
        """A DeviceState for a task created at ``at``: the backlog of the device's CPU
        (local work committed before it: what a new local task waits) and of its uplink
        (how long the transfers already queued keep the radio busy)."""
        free = self.dev.cpu_free[d] - at
        return DeviceState(
            cpu_hz,
            load,
            battery,
            self.dev.power[d],
            local_queue_s=free if free > 0.0 else 0.0,
            uplink_queue_s=self.dev.up[d].backlog_s(at),
        )

    def _device_features(self, d: int) -> tuple[float, float, float]:
        """(speed, load, battery share): load counts background work and the device's
        own local work since its last view; completed transfers update the bandwidth
        estimates first."""
        dev = self.dev
        if self._samples[d]:
            self._fold_samples(d, self.engine.now)
        share = min(0.95, dev.busy_s[d] / self.scenario.view_interval_s)
        dev.busy_s[d] = 0.0
        load = 1.0 - (1.0 - dev.load[d]) * (1.0 - share)
        capacity = dev.capacity_j[d]
        battery = 1.0 if capacity == float("inf") else max(0.0, dev.battery_j[d] / capacity)
        return dev.cpu_hz[d], load, battery

    def _fold_samples(self, d: int, now: float) -> None:
        """Give the estimator the throughput samples of transfers completed by now."""
        observe = self.estimator.observe
        keep = []
        for sample in self._samples[d]:
            at, uplink, bps = sample
            if at <= now:
                observe(d, uplink, bps)
            else:
                keep.append(sample)
        self._samples[d] = keep

    def _node_states(
        self, view: View, d: int, exclude: int = -1, data_at: int = -1
    ) -> tuple[list[int], NodeStates]:
        est = self.estimator
        return view.node_states(
            self.dev.candidates[d],
            est.up_bps(d),
            est.down_bps(d),
            self.dev.rtt_s[d],
            exclude,
            data_at,
        )

    def view_of(self, d: int) -> View:
        """The node snapshot of device ``d``'s refresh phase (taken at first use)."""
        phase = int(self.world.phase_of[d])
        view = self._views[phase]
        if view is None:
            view = View(self.nodes, self.engine.now, self._backhaul_bps, self._backhaul_rtt)
            self._views[phase] = view
        return view

    def decide_one(self, tid: int, exclude: int = -1, data_at: int = -1) -> tuple[int, Decisions]:
        """Ask the policy about one task now (resubmissions, later DAG stages); returns
        the chosen node index (LOCAL for the device) and the decisions."""
        t = self.tasks
        d = t.device[tid]
        tasks = TaskBatch.of(
            cpu_cycles=t.cpu_cycles[tid],
            mem_mb=t.columns["mem_mb"][tid],
            io_ops=t.columns["io_ops"][tid],
            input_bytes=t.input_bytes[tid],
            output_bytes=t.output_bytes[tid],
            deadline_s=t.deadline_s[tid] - (self.engine.now - t.created_s[tid]),
            priority=t.priority[tid],
        )
        index, nodes = self._node_states(self.view_of(d), d, exclude, data_at)
        decisions = self.policy.decide(tasks, self._device_state(d), nodes)
        _check(self.policy, decisions, 1, len(index))
        target = int(decisions.target[0])
        t.expected_latency_s[tid] = float(decisions.expected_latency_s[0])
        t.expected_energy_j[tid] = float(decisions.expected_energy_j[0])
        t.confidence[tid] = float(decisions.confidence[0])
        t.decided_s[tid] = self.engine.now
        return (LOCAL if target == LOCAL else index[target]), decisions

    def commit(self, request: Request, decisions: Decisions) -> None:
        """Carry out one policy call's decisions (in creation order)."""
        _check(self.policy, decisions, request.n, len(request.index))
        if self.capture is not None:
            self.capture.requests.append(request)
        if self._observe is not None:
            left = [request.n]
            for tid in range(request.first, request.first + request.n):
                self._watch[tid] = (request, decisions, left)
        self._commit_rows(
            request.device,
            request.first,
            decisions.target.tolist(),
            decisions.expected_latency_s.tolist(),
            decisions.expected_energy_j.tolist(),
            decisions.confidence.tolist(),
            request.index,
        )

    def _commit_rows(
        self,
        d: int,
        first: int,
        targets: list[int],
        exp_l: list[float],
        exp_e: list[float],
        conf: list[float],
        index: list[int],
    ) -> None:
        """Carry out the decisions for tasks ``first, first+1, ...`` of device ``d``;
        ``index`` maps a target column to a node (-1: no node there)."""
        if self._batching and self._window > 0.0:
            self._commit_windowed(d, first, targets, exp_l, exp_e, conf, index)
            return
        phase_tasks.note_decisions(self, slice(first, first + len(targets)), exp_l, exp_e, conf)
        self._carry_out(d, first, targets, index)

    def _carry_out(self, d: int, first: int, targets: list[int], index: list[int]) -> None:
        """Run locally or send tasks ``first, first+1, ...`` of device ``d`` as decided
        (no batching window; :meth:`_commit_rows` without the bookkeeping)."""
        t = self.tasks
        created = t.created_s
        batching = self._batching
        capture = self.capture
        max_items = self._max_items
        n = len(targets)
        # Tasks created at the same instant share a transfer per node (the client's
        # same-turn batching); ``group`` holds them until the instant is over.
        group: dict[int, list[int]] | None = None
        group_at = 0.0
        for j, target in enumerate(targets):
            tid = first + j
            a = created[tid]
            if group is not None and a != group_at:
                for node, tids in group.items():
                    self.send(d, node, group_at, tids)
                group = None
            if capture is not None:
                self._probe(tid, d, a)
            node = self._assign(tid, d, target, index, a)
            if node == LOCAL:
                continue
            if group is None:
                if batching and j + 1 < n and created[tid + 1] == a:
                    group = {node: [tid]}
                    group_at = a
                else:
                    self.send(d, node, a, [tid])
                continue
            members = group.get(node)
            if members is None:
                group[node] = [tid]
            elif len(members) < max_items:
                members.append(tid)
            else:
                self.send(d, node, a, members)
                group[node] = [tid]
        if group is not None:
            for node, tids in group.items():
                self.send(d, node, group_at, tids)

    def _carry_out_single(
        self,
        devs: list[int],
        tids: list[int],
        targets: list[int],
        who: list[int],
        index: list[list[int]],
    ) -> None:
        """:meth:`_carry_out` of one task per device: task ``tids[j]`` of device
        ``devs[j]`` whose candidate list is ``index[who[j]]`` (nothing to batch)."""
        t = self.tasks
        created = t.created_s
        for d, tid, target, i in zip(devs, tids, targets, who, strict=True):
            node = self._assign(tid, d, target, index[i], created[tid])
            if node != LOCAL:
                self.send(d, node, created[tid], [tid])

    def _assign(self, tid: int, d: int, target: int, candidates: list[int], at: float) -> int:
        """Carry out the policy's choice for task ``tid`` of device ``d``, created at
        ``at``: run it here (returns LOCAL) or note the node it goes to (returns its
        index; the caller sends it). ``target`` is a column of ``candidates``."""
        t = self.tasks
        if target == LOCAL:
            t.target[tid] = LOCAL
            self.run_local(tid, d, at)
            return LOCAL
        node = candidates[target] if 0 <= target < len(candidates) else -1
        if node < 0:
            raise InvalidState(
                f"policy {self.policy.name!r} chose column {target}, where there is no node"
            )
        t.target[tid] = node
        self._set_compute_by(tid, d, node)
        return node

    def _commit_windowed(
        self,
        d: int,
        first: int,
        targets: list[int],
        exp_l: list[float],
        exp_e: list[float],
        conf: list[float],
        index: list[int],
    ) -> None:
        """:meth:`_commit_rows` with a batching window: a transfer waits ``window_s``
        after its first task for others to the same node."""
        t = self.tasks
        created = t.created_s
        now = self.engine.now
        open_msgs: dict[int, tuple[float, list[int]]] = {}
        earliest = math.inf  # send time of the earliest open transfer
        for j, target in enumerate(targets):
            tid = first + j
            a = created[tid]
            t.decided_s[tid] = now
            t.attempts[tid] = 1
            t.expected_latency_s[tid] = exp_l[j]
            t.expected_energy_j[tid] = exp_e[j]
            t.confidence[tid] = conf[j]
            if earliest < a:
                earliest = self._flush(d, open_msgs, a)
            if self.capture is not None:
                self._probe(tid, d, a)
            node = self._assign(tid, d, target, index, a)
            if node == LOCAL:
                continue
            msg = open_msgs.get(node)
            if msg is not None and len(msg[1]) < self._max_items:
                msg[1].append(tid)
                continue
            if msg is not None:
                self.send(d, node, msg[0], msg[1])
            open_msgs[node] = (a + self._window, [tid])
            earliest = min(m[0] for m in open_msgs.values())
        if open_msgs:
            self._flush(d, open_msgs, math.inf)

    def _flush(self, d: int, open_msgs: dict[int, tuple[float, list[int]]], before: float) -> float:
        """Send the open transfers that no later task can join, in send-time order;
        returns the earliest send time still open."""
        due = sorted((m[0], node) for node, m in open_msgs.items() if m[0] < before)
        for at, node in due:
            self.send(d, node, at, open_msgs.pop(node)[1])
        return min((m[0] for m in open_msgs.values()), default=math.inf)

    def _set_compute_by(self, tid: int, d: int, node: int) -> None:
        """The time by which the node must finish computing for the result to make the
        deadline, by the device's own estimate of the way back (sent with the task)."""
        t = self.tasks
        deadline = t.deadline_s[tid]
        if deadline == float("inf"):
            t.compute_by_s[tid] = deadline
            return
        n = self.nodes[node]
        back = (t.output_bytes[tid] * 8.0 + self._header_bits) * (
            1.0 / self.estimator.down_bps(d) + 1.0 / n.wan_bps
        )
        t.compute_by_s[tid] = (
            t.created_s[tid] + deadline - back - (self.dev.rtt_s[d] + n.wan_rtt_s) / 2.0
        )

    # -- the device -----------------------------------------------------------------------

    def run_local(self, tid: int, d: int, ready: float) -> None:
        """Run on the device CPU from ``ready`` (FIFO after its earlier local work)."""
        dev = self.dev
        t = self.tasks
        cycles = t.cpu_cycles[tid]
        hz = dev.cpu_hz[d]
        speed = hz * (1.0 - dev.load[d])
        free = dev.cpu_free[d]
        start = free if free > ready else ready
        budget = t.deadline_s[tid] - (start - t.created_s[tid])
        run, level = dvfs(dev.levels[d], speed, cycles, budget)
        end = start + run
        dev.cpu_free[d] = end
        dev.busy_s[d] += run
        kappa = dev.power[d].kappa
        f = hz * level
        energy = kappa * f * f * cycles
        t.energy_j[tid] += energy
        t.energy_max_freq_j[tid] += kappa * hz * hz * cycles
        dev.battery_j[d] -= energy
        t.start_s[tid] = start
        t.finish_s[tid] = end
        t.level[tid] = level
        t.service_s[tid] = run
        if t.stage[tid] >= 0:
            self.dags.local_done(tid, end)
        else:
            self._close(tid, end, DONE)

    def _tries(self, d: int) -> tuple[int, bool]:
        """(transmissions of one transfer, lost for good): each transmission of the
        device is lost with its link's probability, independently. Drawn as the number
        of successes before the next loss (geometric), one draw per loss rather than
        one per transmission."""
        p = self.dev.loss[d]
        if p <= 0.0:
            return 1, False
        until = self._until_loss
        k = 1
        while True:
            left = until[d]
            if left < 0:  # first transfer of the device
                left = self._successes(p)
            if left > 0:
                until[d] = left - 1
                return k, False
            until[d] = self._successes(p)  # this one is lost
            if k > self.dev.max_retries[d]:
                return k, True
            k += 1

    def _successes(self, p: float) -> int:
        """Successful transmissions before the next loss: Geometric(p) - 1."""
        if not self._uniform:
            self._uniform = (1.0 - self.rng.random(4096)).tolist()  # in (0, 1]
        return int(math.log(self._uniform.pop()) / math.log1p(-p))

    def send(self, d: int, node_index: int, at: float, tids: list[int]) -> None:
        """Upload one transfer of tasks from device ``d`` to a node."""
        t = self.tasks
        dev = self.dev
        node = self.nodes[node_index]
        cache = node.input_cache
        header = self._header_bits
        size = len(tids)
        share = header / size
        bits = header
        task_bits = []
        input_bytes = t.input_bytes
        for tid in tids:
            b = input_bytes[tid] * 8.0
            if cache is not None:
                key = t.key[tid]
                if key >= 0 and cache.lookup(key):
                    t.input_cache_hit[tid] = 1
                    self.uplink_saved_bytes += b / 8.0
                    b = 0.0
            task_bits.append(b + share)
            bits += b
        k, lost = self._tries(d) if dev.loss[d] > 0.0 else (1, False)
        start, end = dev.up[d].transfer(at, bits * k)
        radio = end - start
        if k > 1:
            end += (k - 1) * dev.rto_s[d]
        # Radio energy, shared in proportion to each task's bytes.
        joules_per_bit = dev.power[d].transmit_w * radio / bits if bits > 0 else 0.0
        energy_j, energy_max, up_bytes = t.energy_j, t.energy_max_freq_j, t.up_bytes
        spent = 0.0
        for tid, b in zip(tids, task_bits, strict=True):
            energy = joules_per_bit * b
            energy_j[tid] += energy
            energy_max[tid] += energy
            up_bytes[tid] += b * k / 8.0
            t.upload_end_s[tid] = end
            t.batch[tid] = size
            spent += energy
        dev.battery_j[d] -= spent
        if lost:
            for tid in tids:
                self._close(tid, end, FAILED, Reason.LINK_LOST)
            return
        if radio > 0:
            self._samples[d].append((end, True, bits * k / radio))
        arrive = end + dev.rtt_s[d] / 2.0
        if node.tier == "cloud":
            arrive += node.wan_rtt_s / 2.0 + bits / node.wan_bps
        if self._arrivals is not None:
            self._arrivals.append((arrive, node_index, tids))
        else:
            self.engine.schedule(arrive, self._arrive, (node_index, tids))

    def _probe(self, tid: int, d: int, a: float) -> None:
        assert self.capture is not None
        t = self.tasks
        bits = t.input_bytes[tid] * 8.0 + self._header_bits
        start, end = self.dev.up[d].probe(a, bits)
        wait = max(0.0, self.dev.cpu_free[d] - a)
        self.capture.probes.append(Probe(tid, wait, start, end))

    # -- the node -------------------------------------------------------------------------

    def _arrive(self, arg: tuple[int, list[int]]) -> None:
        node_index, tids = arg
        node = self.nodes[node_index]
        now = self.engine.now
        if self._plain_fifo[node_index] and node.up:
            self._arrive_fifo(node_index, tids, now)
            return
        t = self.tasks
        for tid in tids:
            t.node_arrival_s[tid] = now
            if not node.up:
                node.refused_down += 1
                self.resubmit(tid, node_index)
                continue
            key = t.key[tid]
            if key >= 0:
                if node.input_cache is not None and not t.input_cache_hit[tid]:
                    node.input_cache.insert(key)
                result = node.result_cache
                if result is not None and self._cacheable[t.app[tid]] and result.lookup(key):
                    t.result_cache_hit[tid] = 1
                    t.start_s[tid] = t.finish_s[tid] = now
                    t.service_s[tid] = 0.0
                    self._node_done(tid, node_index, now)
                    continue
            if node.fifo:
                self._arrive_fifo(node_index, [tid], now)
            else:
                budget = t.created_s[tid] + t.deadline_s[tid] - now
                refusal = node.submit(
                    tid, t.device[tid], self._specs[t.app[tid]], t.priority[tid], budget, now
                )
                if refusal is None:
                    node.pending[tid] = None
                elif refusal.code is ErrorCode.DEADLINE_EXCEEDED:
                    node.expired += 1
                    self._close(tid, now, DROPPED, Reason.DEADLINE_EXPIRED)
                else:
                    node.refused_overloaded += 1
                    self.resubmit(tid, node_index)
        if not node.fifo and node.up:
            self._dispatch(node_index)

    def _arrive_fifo(self, node_index: int, tids: list[int], now: float) -> None:
        """Tasks arriving at an up FIFO node: all of :meth:`_arrive` at a node without
        caches (the usual case), the tasks that need a core after the cache lookups
        otherwise; the finish event pushed (or held back) directly."""
        node = self.nodes[node_index]
        t = self.tasks
        created, deadline, cycles_of = t.created_s, t.deadline_s, t.cpu_cycles
        pending, free, levels = node.pending, node.free, node.levels
        speed, kappa = node.speed_hz, node.kappa
        heap, seq = self.engine.heap, self.engine.seq
        finished = self._finish
        held = self._finishes
        for tid in tids:
            t.node_arrival_s[tid] = now
            if len(pending) >= node.max_pending and held is not None:
                self._sync()  # finishes before now free places
            if len(pending) >= node.max_pending:
                node.refused_overloaded += 1
                self.resubmit(tid, node_index)
                continue
            # Kiefer-Wolfowitz: the task starts when the earliest-free core frees.
            start = free[0] if free[0] > now else now
            if start >= created[tid] + deadline[tid]:
                node.expired += 1
                self._close(tid, now, DROPPED, Reason.DEADLINE_EXPIRED)
                continue
            cycles = cycles_of[tid]
            service, level = dvfs(levels, speed, cycles, t.compute_by_s[tid] - start)
            f = speed * level
            energy = kappa * f * f * cycles
            node.busy_s += service
            node.dyn_j += energy
            node.dyn_max_j += kappa * speed * speed * cycles
            finish = start + service
            heapreplace(free, finish)
            pending[tid] = None
            t.start_s[tid] = start
            t.finish_s[tid] = finish
            t.service_s[tid] = service
            t.level[tid] = level
            t.node_energy_j[tid] += energy
            t.node_energy_max_freq_j[tid] += kappa * speed**2 * cycles
            if held is None:
                entry = (node_index, tid, node.epoch, None)
                heappush(heap, (finish, NORMAL, next(seq), finished, entry))
            else:
                held.time.append(finish)
                held.seq.append(next(seq))
                held.task.append(tid)
                held.node.append(node_index)
                held.epoch.append(node.epoch)

    def _started_on_node(
        self, tid: int, node: Any, start: float, service: float, level: float, energy: float
    ) -> None:
        t = self.tasks
        t.start_s[tid] = start
        t.finish_s[tid] = start + service
        t.service_s[tid] = service
        t.level[tid] = level
        t.node_energy_j[tid] += energy
        speed = node.speed_hz
        t.node_energy_max_freq_j[tid] += node.kappa * speed * speed * t.cpu_cycles[tid]

    def _dispatch(self, node_index: int) -> None:
        """Priority path: start queued work on idle cores."""
        node = self.nodes[node_index]
        now = self.engine.now
        t = self.tasks
        jobs, expired = node.next_jobs(now)
        for job in expired:
            node.pending.pop(job.id, None)
            node.expired += 1
            self._close(job.id, now, DROPPED, Reason.DEADLINE_EXPIRED)
        for job in jobs:
            tid = job.id
            service, level, energy = node.run_at(now, t.cpu_cycles[tid], t.compute_by_s[tid])
            self._started_on_node(tid, node, now, service, level, energy)
            self.engine.schedule(now + service, self._finish, (node_index, tid, node.epoch, job))

    def _finish(self, arg: tuple[int, int, int, Any]) -> None:
        node_index, tid, epoch, job = arg
        node = self.nodes[node_index]
        if epoch != node.epoch:
            return  # the node crashed meanwhile; the task was placed again
        node.pending.pop(tid, None)
        t = self.tasks
        key = t.key[tid]
        if node.result_cache is not None and key >= 0 and self._cacheable[t.app[tid]]:
            node.result_cache.insert(key)
        now = self.engine.now
        if t.stage[tid] >= 0:
            self.dags.node_done(tid, node_index, now)
        else:
            self.download(tid, node_index, now)
        if job is not None:
            assert node.scheduler is not None
            node.scheduler.finished(job, True, t.service_s[tid])
            node.idle += 1
            self._dispatch(node_index)

    def _node_done(self, tid: int, node_index: int, now: float) -> None:
        if self.tasks.stage[tid] >= 0:
            self.dags.node_done(tid, node_index, now)
        else:
            self.download(tid, node_index, now)

    def download(self, tid: int, node_index: int, ready: float) -> None:
        """Send a result home over the device's downlink; the task is then done."""
        t = self.tasks
        d = t.device[tid]
        dev = self.dev
        node = self.nodes[node_index]
        bits = t.output_bytes[tid] * 8.0 + self._header_bits
        at = ready + dev.rtt_s[d] / 2.0
        if node.tier == "cloud":
            at += node.wan_rtt_s / 2.0 + bits / node.wan_bps
        k, lost = self._tries(d) if dev.loss[d] > 0.0 else (1, False)
        start, end = dev.down[d].transfer(at, bits * k)
        radio = end - start
        if k > 1:
            end += (k - 1) * dev.rto_s[d]
        power = dev.power[d]
        upload_end = t.upload_end_s[tid]
        idle = start - upload_end if start > upload_end else 0.0  # NaN compares False
        energy = power.receive_w * radio + power.idle_w * idle
        t.energy_j[tid] += energy
        t.energy_max_freq_j[tid] += energy
        dev.battery_j[d] -= energy
        t.down_bytes[tid] += bits * k / 8.0
        if radio > 0:
            self._samples[d].append((end, False, bits * k / radio))
        if lost:
            self._close(tid, end, FAILED, Reason.LINK_LOST)
        else:
            self._close(tid, end, DONE)

    def resubmit(self, tid: int, failed_node: int) -> None:
        """The task's node crashed or refused it: place it again (another node or the
        device), or fail it after ``max_attempts`` placements."""
        self._sync()
        t = self.tasks
        now = self.engine.now
        t.attempts[tid] += 1
        if t.attempts[tid] > self.scenario.max_attempts:
            self._close(tid, now, FAILED, Reason.MAX_ATTEMPTS)
            return
        # The earlier attempt's times are void (its energy stays spent).
        t.node_arrival_s[tid] = t.start_s[tid] = t.finish_s[tid] = math.nan
        t.service_s[tid] = t.level[tid] = math.nan
        d = t.device[tid]
        target, _ = self.decide_one(tid, exclude=failed_node)
        t.target[tid] = target
        if target == LOCAL:
            self.run_local(tid, d, now)
        else:
            self._set_compute_by(tid, d, target)
            self.send(d, target, now, [tid])

    def _crash(self, node_index: int) -> None:
        self._sync()
        node = self.nodes[node_index]
        now = self.engine.now
        t = self.tasks
        # Its connections close: every device knows at once (architecture: a dead node
        # is noticed by its clients through the closed socket).
        for view in self._views:
            if view is not None:
                view.mark_down(node_index)
        for tid in node.crash(now):
            start = t.start_s[tid]
            if start == start:  # started (not NaN): take back what it did not run
                node.uncount(start, t.service_s[tid], t.level[tid], t.cpu_cycles[tid], now)
            self.resubmit(tid, node_index)

    def _recover(self, node_index: int) -> None:
        self.nodes[node_index].recover(self.engine.now)

    def _close(self, tid: int, at: float, outcome: int, reason: Reason = Reason.NONE) -> None:
        t = self.tasks
        if t.outcome[tid] != PENDING:
            raise InvalidState(f"task {tid} ended twice ({t.outcome[tid]}, then {outcome})")
        t.outcome[tid] = outcome
        t.reason[tid] = int(reason)
        t.end_s[tid] = at
        if self.closed is not None:
            self.closed.append(tid)
        if self._watch:
            watched = self._watch.pop(tid, None)
            if watched is not None:
                watched[2][0] -= 1
                if watched[2][0] == 0:
                    self._report_outcomes(watched[0], watched[1])

    def _report_outcomes(self, request: Request, decisions: Decisions) -> None:
        """Every task of a policy call has ended: tell the policy, when the last ended."""
        t = self.tasks
        ids = range(request.first, request.first + request.n)
        done = [t.outcome[i] == DONE for i in ids]
        latency = np.array(
            [
                t.end_s[i] - t.created_s[i] if ok else math.nan
                for i, ok in zip(ids, done, strict=True)
            ]
        )
        energy = np.array([t.energy_j[i] for i in ids])
        at = max(self.engine.now, max(t.end_s[i] for i in ids))
        outcome = (request.tasks, request.state, request.nodes, decisions, latency, energy)
        self.engine.schedule(at, self._deliver_outcomes, outcome)

    def _deliver_outcomes(self, outcome: tuple[Any, ...]) -> None:
        assert self._observe is not None
        self._observe(*outcome)


def _check(policy: Policy, decisions: Decisions, n: int, k: int) -> None:
    """A policy's answer must cover every task with a valid target."""
    target = decisions.target
    if len(decisions) != n or target.shape != (n,):
        raise InvalidState(
            f"policy {policy.name!r} returned {len(decisions)} decisions for {n} tasks"
        )
    if n and (int(target.min()) < LOCAL or int(target.max()) >= k):
        raise InvalidState(f"policy {policy.name!r} chose a target outside -1..{k - 1}")
