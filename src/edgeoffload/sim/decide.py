"""Deciding: a refresh phase's new tasks drawn from the devices' arrival processes,
ordered into rounds (a device's k-th instant in round k) and handed to the policy with
the features a device has (its own state, its view of the nodes, its bandwidth
estimates); single decisions for resubmissions and later task-graph stages.

The decisions go in the decision engine's array form, one ``decide_context`` call per
round with one row per task (:meth:`Decide.decide_phase`), carried out round by round
by :mod:`.commit`; policies without it (online learners, the Gymnasium driver,
captures) get one ``decide`` call per device-instant, as the real client makes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..decision.features import (
    DEVICE_FEATURES,
    F64,
    I64,
    LOCAL_INDEX,
    Context,
    Decisions,
    DeviceState,
    NodeFeatures,
    TaskBatch,
)
from ..errors import InvalidState
from .commit import Commit, check
from .node_queue import ArrivalStream
from .state import POWER_COLUMNS, Arrival, Request, SimState
from .table import Outcome, Reason
from .view import View

DROPPED = int(Outcome.DROPPED)
#: The device's own backlogs, as DEVICE_FEATURES columns (filled per task).
_LOCAL_QUEUE = DEVICE_FEATURES.index("local_queue_s")
_UPLINK_QUEUE = DEVICE_FEATURES.index("uplink_queue_s")

#: ``close(tid, at, outcome, reason)``: the task ended (:class:`.state.Hooks`).
Close = Callable[[int, float, int, Reason], None]


class Decide:
    """The devices' decisions over the shared state (module docstring).

    Args:
        state: the run's shared state.
        commit: carries the decisions out.
        stream: where a phase's node arrivals go (:class:`.node_queue.ArrivalStream`).
        close: the hook that ends a task (a device with an empty battery).
        open_job: the hook for a new task graph (its first stage's task id, and the
            cycles and output bytes of its later stages, drawn with it).
    """

    def __init__(
        self,
        state: SimState,
        commit: Commit,
        stream: ArrivalStream,
        close: Close,
        open_job: Callable[[int, list[float], list[float]], None],
    ) -> None:
        self._state = state
        self._commit = commit
        self._stream = stream
        self._close = close
        self._open_job = open_job
        policy = state.policy
        decide_context = getattr(policy, "decide_context", None)
        # The array form, unless the policy observes outcomes (one call per device).
        self._batch_policy: Callable[[Context], Decisions] | None = (
            decide_context if callable(decide_context) and state.observe is None else None
        )
        #: Per refresh phase, the node snapshot its devices decide on (taken at first
        #: use after a refresh).
        self._views: list[View | None] = [None] * state.scenario.view_phases

    # -- views ----------------------------------------------------------------------------

    def refresh(self, phase: int) -> None:
        """The devices of ``phase`` refresh their view (taken when first needed)."""
        self._views[phase] = None

    def mark_down(self, node_index: int) -> None:
        """Every device learns at once that a node is down (its connections closed)."""
        for view in self._views:
            if view is not None:
                view.mark_down(node_index)

    def view_of(self, d: int) -> View:
        """The node snapshot of device ``d``'s refresh phase (taken at first use)."""
        st = self._state
        phase = int(st.world.phase_of[d])
        view = self._views[phase]
        if view is None:
            view = View(st.nodes, st.engine.now, st.backhaul_bps, st.backhaul_rtt)
            self._views[phase] = view
        return view

    def node_states(
        self, view: View, d: int, exclude: int = -1, data_at: int = -1
    ) -> tuple[list[int], NodeFeatures]:
        st = self._state
        est = st.estimator
        return view.node_states(
            st.dev.candidates[d],
            est.up_bps(d),
            est.down_bps(d),
            st.dev.rtt_s[d],
            exclude,
            data_at,
        )

    # -- the device's own features --------------------------------------------------------

    def device_state(self, d: int) -> DeviceState:
        """The device's own features now as the decision engine's DeviceState,
        including the work already queued on its CPU and its radio."""
        cpu_hz, load, battery = self.device_features(d)
        return self.state_at(d, cpu_hz, load, battery, self._state.engine.now)

    def state_at(
        self, d: int, cpu_hz: float, load: float, battery: float, at: float
    ) -> DeviceState:
        """A DeviceState for a task created at ``at``: the backlog of the device's CPU
        (local work committed before it: what a new local task waits) and of its uplink
        (how long the transfers already queued keep the radio busy)."""
        dev = self._state.dev
        free = dev.cpu_free[d] - at
        return DeviceState(
            cpu_hz,
            load,
            battery,
            dev.power[d],
            local_queue_s=free if free > 0.0 else 0.0,
            uplink_queue_s=dev.up[d].backlog_s(at),
        )

    def device_features(self, d: int) -> tuple[float, float, float]:
        """(speed, load, battery share): load counts background work and the device's
        own local work since its last view; completed transfers update the bandwidth
        estimates first."""
        st = self._state
        dev = st.dev
        if st.samples[d]:
            self.fold_samples(d, st.engine.now)
        share = min(0.95, dev.busy_s[d] / st.scenario.view_interval_s)
        dev.busy_s[d] = 0.0
        load = 1.0 - (1.0 - dev.load[d]) * (1.0 - share)
        capacity = dev.capacity_j[d]
        battery = 1.0 if capacity == float("inf") else max(0.0, dev.battery_j[d] / capacity)
        return dev.cpu_hz[d], load, battery

    def fold_samples(self, d: int, now: float) -> None:
        """Give the estimator the throughput samples of transfers completed by now."""
        st = self._state
        observe = st.estimator.observe
        keep = []
        for sample in st.samples[d]:
            at, uplink, bps = sample
            if at <= now:
                observe(d, uplink, bps)
            else:
                keep.append(sample)
        st.samples[d] = keep

    # -- one decision ---------------------------------------------------------------------

    def decide_one(self, tid: int, exclude: int = -1, data_at: int = -1) -> tuple[int, Decisions]:
        """Ask the policy about one task now (resubmissions, later DAG stages); returns
        the chosen node index (LOCAL_INDEX for the device) and the decisions."""
        st = self._state
        t = st.tasks
        d = t.device[tid]
        now = st.engine.now
        tasks = TaskBatch.of(
            cpu_cycles=t.cpu_cycles[tid],
            mem_mb=t.columns["mem_mb"][tid],
            io_ops=t.columns["io_ops"][tid],
            input_bytes=t.input_bytes[tid],
            output_bytes=t.output_bytes[tid],
            deadline_s=t.deadline_s[tid] - (now - t.created_s[tid]),
            priority=t.priority[tid],
        )
        index, nodes = self.node_states(self.view_of(d), d, exclude, data_at)
        decisions = st.policy.decide(tasks, self.device_state(d), nodes)
        check(st.policy, decisions, 1, len(index))
        target = int(decisions.target[0])
        t.expected_latency_s[tid] = float(decisions.expected_latency_s[0])
        t.expected_energy_j[tid] = float(decisions.expected_energy_j[0])
        t.confidence[tid] = float(decisions.confidence[0])
        t.decided_s[tid] = now
        return (LOCAL_INDEX if target == LOCAL_INDEX else index[target]), decisions

    # -- a refresh phase's tasks ----------------------------------------------------------

    def create(self, phase: int, t0: float, t1: float) -> None:
        """Draw the tasks created in [t0, t1) by the devices of ``phase``; decide."""
        st = self._state
        streams = st.streams
        parts = []
        for k, source in enumerate(st.world.sources):
            positions = source.select(st.world.phase_of, phase)
            devices, times, sizes = source.draw(streams.arrivals[k], positions, t0, t1)
            if devices.size:
                app = st.apps[source.app]
                draws = app.draw(streams.attributes[k], devices.size)
                parts.append((devices, times, source.app, sizes, draws, app))
        if not parts:
            return
        device = np.concatenate([p[0] for p in parts])
        created = np.concatenate([p[1] for p in parts])
        order, rank = decision_order(device, created, self._commit.windowed)
        n = device.size

        def col(get: Callable[[Any], Any]) -> np.ndarray:
            return np.concatenate([get(p) for p in parts])[order]

        device = device[order]
        created = created[order]
        app_ids = col(lambda p: np.full(p[0].size, p[2], dtype=np.int64))
        cycles = col(lambda p: p[4].cycles * p[3])
        mem = col(lambda p: p[4].mem_mb)
        io = col(lambda p: p[4].io_ops)
        inb = col(lambda p: p[4].input_bytes)
        outb = col(lambda p: p[4].output_bytes)
        deadline = col(lambda p: np.full(p[0].size, p[5].deadline_s))
        prio = col(lambda p: np.full(p[0].size, p[5].priority))
        stage = col(lambda p: np.full(p[0].size, 0 if p[5].is_dag else -1, dtype=np.int64))
        first = st.tasks.size
        ids = np.arange(first, first + n, dtype=np.int64)
        st.tasks.add(
            device=device,
            app=app_ids,
            job=ids,
            stage=stage,
            created_s=created,
            cpu_cycles=cycles,
            mem_mb=mem,
            io_ops=io,
            input_bytes=inb,
            output_bytes=outb,
            deadline_s=deadline,
            priority=prio,
            key=col(lambda p: p[4].keys),
        )
        if np.any(stage >= 0):
            # Each job's later stages: row ``within`` of its part's draws.
            part = np.concatenate([np.full(p[0].size, i) for i, p in enumerate(parts)])[order]
            within = col(lambda p: np.arange(p[0].size))
            for row in np.flatnonzero(stage >= 0).tolist():
                draws = parts[int(part[row])][4]
                j = int(within[row])
                cyc = [] if draws.later_cycles is None else draws.later_cycles[j].tolist()
                out = [] if draws.later_output is None else draws.later_output[j].tolist()
                self._open_job(first + row, cyc, out)
        # Devices whose battery is empty drop their new tasks.
        battery = st.dev.battery_j
        empty = [d for d in distinct(device).tolist() if battery[d] <= 0.0]
        keep: np.ndarray | None = None
        if empty:
            drop = np.isin(device, empty)
            for tid in (np.flatnonzero(drop) + first).tolist():
                self._close(tid, st.tasks.created_s[tid], DROPPED, Reason.BATTERY_EMPTY)
            keep = np.flatnonzero(~drop)
            if keep.size == 0:
                return
        columns = (cycles, mem, io, inb, outb, deadline, prio)
        external = st.options.external
        if self._batch_policy is not None and not external and st.capture is None:
            self.decide_phase(first, device, rank, created, columns, keep)
            return
        # One policy call per device-instant (per device and round), in id order.
        rows = np.arange(n) if keep is None else keep
        cut = np.flatnonzero((np.diff(device[rows]) != 0) | (np.diff(rank[rows]) != 0)) + 1
        bounds = [0, *cut.tolist(), rows.size]
        now = st.engine.now
        features: dict[int, tuple[tuple[float, float, float], list[int], NodeFeatures]] = {}
        for lo_k, hi_k in itertools.pairwise(bounds):
            lo, hi = int(rows[lo_k]), int(rows[hi_k - 1]) + 1  # contiguous ids
            d = int(device[lo])
            known = features.get(d)
            if known is None:
                own = self.device_features(d)  # first: folds in new bandwidth samples
                index, nodes = self.node_states(self.view_of(d), d)
                known = features[d] = (own, index, nodes)
            (cpu_hz, load, charge), index, nodes = known
            tasks = TaskBatch(*(c[lo:hi] for c in columns))
            if external:
                # The environment decides later, task by task: the backlog as of now.
                state = self.state_at(d, cpu_hz, load, charge, now)
                st.pending.append(Request(d, first + lo, hi - lo, tasks, state, nodes, index))
                continue
            state = self.state_at(d, cpu_hz, load, charge, float(created[lo]))
            request = Request(d, first + lo, hi - lo, tasks, state, nodes, index)
            self._commit.commit(request, st.policy.decide(tasks, state, nodes))

    def decide_phase(
        self,
        first: int,
        device: I64,
        rank: I64,
        created: F64,
        columns: tuple[np.ndarray, ...],
        keep: I64 | None,
    ) -> None:
        """The decisions of a refresh phase in the decision engine's array form
        (``decide_context``; what ``decide`` computes on): one policy call per round
        (:func:`decision_order`), one row per task, each row with its own device and
        node states (NaN for absent candidates) and the device's backlogs when the task
        was created; each round is carried out before the next is decided.

        Rows are this phase's tasks in id order (``keep``: those still to decide)."""
        st = self._state
        commit = self._commit
        dev = st.dev
        tasks = np.column_stack(columns)
        if keep is not None:
            tasks, device, rank, created = tasks[keep], device[keep], rank[keep], created[keep]
            tids = (keep + first).tolist()
        else:
            tids = list(range(first, first + device.size))
        devs_arr = distinct(device)
        devs = devs_arr.tolist()
        view = self.view_of(devs[0])
        base = self.device_rows(devs)
        est = st.estimator
        up = np.array([est.up_bps(d) for d in devs])
        down = np.array([est.down_bps(d) for d in devs])
        rtt = np.array([dev.rtt_s[d] for d in devs])
        cand = st.candidates[devs_arr]
        nodes = view.context_nodes(cand, up, down, rtt)
        cand_lists = cand.tolist()
        who = np.searchsorted(devs_arr, device)
        who_list = who.tolist()
        dev_list = device.tolist()
        n = device.size
        round_cut = (np.flatnonzero(np.diff(rank)) + 1).tolist()
        exp_l = np.empty(n)
        exp_e = np.empty(n)
        conf = np.empty(n)
        windowed = commit.windowed
        batch_policy = self._batch_policy
        assert batch_policy is not None
        vector = keep is None and st.plain and commit.rounds
        if vector:
            st.uplinks()  # the uplinks' state moves into arrays now
        min_rows = commit.round_min_rows
        # When the devices' CPU and uplink are free: read once, then kept up to date by
        # Commit.round; read per round from the first round done otherwise on.
        free_at, up_at = self.free_times(devs) if vector else (None, None)
        # The phase's node arrivals join the stream (:mod:`.arrivals`) rather than the
        # heap, one entry each.
        arrivals: list[Arrival] = []
        st.arrivals = arrivals
        try:
            for lo, hi in zip([0, *round_cut], [*round_cut, n], strict=True):
                part = who[lo:hi]
                row_devs = dev_list[lo:hi]
                at = created[lo:hi]
                rows_now = base[part]
                if free_at is not None and up_at is not None:
                    free, up_free = free_at[part], up_at[part]
                else:
                    free, up_free = self.free_times(row_devs)
                rows_now[:, _LOCAL_QUEUE] = np.maximum(0.0, free - at)
                rows_now[:, _UPLINK_QUEUE] = np.maximum(0.0, up_free - at)
                decisions = batch_policy(Context(tasks[lo:hi], rows_now, nodes[part]))
                if len(decisions) != hi - lo:
                    raise InvalidState(
                        f"policy {st.policy.name!r} returned {len(decisions)} decisions "
                        f"for {hi - lo} tasks"
                    )
                commit.note_budgets(tids[lo:hi], decisions)
                exp_l[lo:hi] = decisions.expected_latency_s
                exp_e[lo:hi] = decisions.expected_energy_j
                conf[lo:hi] = decisions.confidence
                same = np.flatnonzero(part[1:] == part[:-1])
                if same.size == 0 and vector and hi - lo >= min_rows:
                    commit.round(
                        tids[lo],
                        device[lo:hi],
                        np.asarray(decisions.target, dtype=np.int64),
                        cand[part],
                        at,
                        tasks[lo:hi],
                        free,
                        up_free,
                        down[part],
                    )
                    st.numpy_rows["rounds"] += hi - lo
                    if free_at is not None and up_at is not None:
                        free_at[part], up_at[part] = free, up_free
                    continue
                free_at = up_at = None
                targets = decisions.target.tolist()
                if same.size == 0:
                    # NOTE: one task per device in this round (the usual case): each
                    # run or sent directly, without carry_out's per-call set-up.
                    commit.carry_out_single(
                        row_devs, tids[lo:hi], targets, who_list[lo:hi], cand_lists
                    )
                    continue
                # Several tasks of a device in this round (adjacent: sorted by device).
                cut = (np.flatnonzero(part[1:] != part[:-1]) + 1).tolist()
                for a, b in zip([0, *cut], [*cut, hi - lo], strict=True):
                    i = who_list[lo + a]
                    if windowed:
                        commit.windowed_rows(
                            row_devs[a],
                            tids[lo + a],
                            targets[a:b],
                            exp_l[lo + a : lo + b].tolist(),
                            exp_e[lo + a : lo + b].tolist(),
                            conf[lo + a : lo + b].tolist(),
                            cand_lists[i],
                        )
                    else:
                        commit.carry_out(row_devs[a], tids[lo + a], targets[a:b], cand_lists[i])
        finally:
            st.arrivals = None
        if not windowed:
            rows = slice(tids[0], tids[0] + len(tids)) if keep is None else np.array(tids)
            commit.note(rows, exp_l, exp_e, conf)
        self._stream.add(arrivals)

    def device_rows(self, devs: list[int]) -> np.ndarray:
        """The DeviceStates of ``devs`` as Context rows (DEVICE_FEATURES order): the
        same values as :meth:`device_features`, for many devices at once; the backlog
        columns are left 0 for the caller to fill per task (they depend on when it was
        created)."""
        st = self._state
        now = st.engine.now
        samples = st.samples
        for d in devs:
            if samples[d]:
                self.fold_samples(d, now)
        index = np.asarray(devs)
        busy = st.busy_v[index]
        st.busy_v[index] = 0.0
        share = np.minimum(0.95, busy / st.scenario.view_interval_s)
        capacity = st.capacity[index]
        mains = np.isinf(capacity)
        battery = st.battery_v[index]
        zero = np.zeros(len(devs))
        columns = {
            "cpu_hz": st.cpu_hz[index],
            "load": 1.0 - (1.0 - st.bg_load[index]) * (1.0 - share),
            "battery": np.where(
                mains, 1.0, np.maximum(0.0, battery / np.where(mains, 1.0, capacity))
            ),
            "local_queue_s": zero,
            "uplink_queue_s": zero,
        }
        power = st.power[index]
        for i, name in enumerate(POWER_COLUMNS):
            columns[name] = power[:, i]
        return np.column_stack([columns[name] for name in DEVICE_FEATURES])

    def free_times(self, devs: list[int]) -> tuple[F64, F64]:
        """When the CPU and the uplink of each device of ``devs`` are next free."""
        st = self._state
        cpu = st.cpu_free_v[devs]
        if st.has_uplinks():
            up = st.uplinks().free_s_v[devs]
        else:
            up = np.array([st.dev.up[d].free_s for d in devs])
        return cpu, up


def decision_order(device: I64, created: F64, windowed: bool) -> tuple[I64, I64]:
    """(order, round) of an interval's new tasks. A device decides the tasks it
    creates at one instant together (the client's tasks of one event-loop turn),
    each seeing the backlog the earlier instants' decisions left on its CPU and
    uplink; so the instants go in rounds: round ``r`` is every device's ``r``-th
    instant. Task ids follow the rounds (then device, then creation), so each round
    is a contiguous run of ids, and each device-instant too.

    With a batching window the interval is one round (a transfer may join tasks of
    several instants): each task then sees the backlog committed before it.
    """
    order = np.lexsort((created, device))
    n = device.size
    if n < 2 or windowed:
        return order, np.zeros(n, dtype=np.int64)
    dev_sorted, at = device[order], created[order]
    new_device = np.ones(n, dtype=bool)
    new_device[1:] = dev_sorted[1:] != dev_sorted[:-1]
    new_instant = new_device.copy()
    new_instant[1:] |= at[1:] != at[:-1]
    instant = np.cumsum(new_instant) - 1
    rank = instant - np.maximum.accumulate(np.where(new_device, instant, 0))
    if not rank.any():
        return order, rank
    again = np.lexsort((dev_sorted, rank))  # stable: creation order within a device
    return order[again], rank[again]


def distinct(device: I64) -> I64:
    """The device ids in ``device``, sorted, once each (``np.unique`` of small
    non-negative ints, at a fraction of its cost)."""
    return np.flatnonzero(np.bincount(device))
