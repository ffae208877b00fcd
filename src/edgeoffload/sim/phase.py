"""A refresh phase's new tasks: drawn from the devices' arrival processes, ordered
into rounds (a device's k-th instant in round k), decided by the policy and carried out.

The decisions go in the decision engine's array form, one ``decide_context`` call per
round with one row per task (:func:`decide_phase`), rounds of one task per device
carried out with numpy (:mod:`.rounds`); policies without it (online learners, the
Gymnasium driver, captures) get one ``decide`` call per device-instant, as the real
client makes them (:func:`create`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..decision.features import (
    DEVICE_FEATURES,
    F64,
    I64,
    Context,
    DeviceState,
    NodeStates,
    TaskBatch,
)
from ..errors import InvalidState
from . import rounds
from .table import Outcome, Reason

if TYPE_CHECKING:
    from .simulation import Simulation

DROPPED = int(Outcome.DROPPED)
#: The PowerModel's fields, as DEVICE_FEATURES columns.
POWER_COLUMNS = ("kappa", "transmit_w", "receive_w", "idle_w")
#: The device's own backlogs, as DEVICE_FEATURES columns (filled per task).
_LOCAL_QUEUE = DEVICE_FEATURES.index("local_queue_s")
_UPLINK_QUEUE = DEVICE_FEATURES.index("uplink_queue_s")


@dataclass
class Request:
    """One policy call: tasks ``first .. first+n-1`` of ``device``, with the features it
    was given and the node index of each NodeStates column."""

    device: int
    first: int
    n: int
    tasks: TaskBatch
    state: DeviceState
    nodes: NodeStates
    index: list[int]


def create(sim: Simulation, phase: int, t0: float, t1: float) -> None:
    """Draw the tasks created in [t0, t1) by the devices of ``phase``; decide."""
    rng = sim.rng
    parts = []
    for source in sim.world.sources:
        positions = source.select(sim.world.phase_of, phase)
        devices, times, sizes = source.draw(rng, positions, t0, t1)
        if devices.size:
            app = sim.apps[source.app]
            draws = app.draw(rng, devices.size)
            parts.append((devices, times, source.app, sizes, draws, app))
    if not parts:
        return
    device = np.concatenate([p[0] for p in parts])
    created = np.concatenate([p[1] for p in parts])
    order, rank = decision_order(sim, device, created)
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
    first = sim.tasks.size
    ids = np.arange(first, first + n, dtype=np.int64)
    sim.tasks.add(
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
        for tid in ids[stage >= 0].tolist():
            sim.dags.open_job(tid)
    # Devices whose battery is empty drop their new tasks.
    battery = sim.dev.battery_j
    empty = [d for d in distinct(device).tolist() if battery[d] <= 0.0]
    keep: np.ndarray | None = None
    if empty:
        drop = np.isin(device, empty)
        for tid in (np.flatnonzero(drop) + first).tolist():
            sim._close(tid, sim.tasks.created_s[tid], DROPPED, Reason.BATTERY_EMPTY)
        keep = np.flatnonzero(~drop)
        if keep.size == 0:
            return
    columns = (cycles, mem, io, inb, outb, deadline, prio)
    external = sim.options.external
    if sim._batch_policy is not None and not external and sim.capture is None:
        decide_phase(sim, first, device, rank, created, columns, keep)
        return
    # One policy call per device-instant (per device and round), in id order.
    rows = np.arange(n) if keep is None else keep
    cut = np.flatnonzero((np.diff(device[rows]) != 0) | (np.diff(rank[rows]) != 0)) + 1
    bounds = [0, *cut.tolist(), rows.size]
    now = sim.engine.now
    features: dict[int, tuple[tuple[float, float, float], list[int], NodeStates]] = {}
    for lo_k, hi_k in itertools.pairwise(bounds):
        lo, hi = int(rows[lo_k]), int(rows[hi_k - 1]) + 1  # contiguous ids
        d = int(device[lo])
        known = features.get(d)
        if known is None:
            own = sim._device_features(d)  # first: folds in new bandwidth samples
            index, nodes = sim._node_states(sim.view_of(d), d)
            known = features[d] = (own, index, nodes)
        (cpu_hz, load, charge), index, nodes = known
        tasks = TaskBatch(*(c[lo:hi] for c in columns))
        if external:
            # The environment decides later, task by task: the backlog as of now.
            state = sim._state_at(d, cpu_hz, load, charge, now)
            sim.pending.append(Request(d, first + lo, hi - lo, tasks, state, nodes, index))
            continue
        state = sim._state_at(d, cpu_hz, load, charge, float(created[lo]))
        request = Request(d, first + lo, hi - lo, tasks, state, nodes, index)
        sim.commit(request, sim.policy.decide(tasks, state, nodes))


def decision_order(sim: Simulation, device: np.ndarray, created: np.ndarray) -> tuple[I64, I64]:
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
    if n < 2 or (sim._batching and sim._window > 0.0):
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


def decide_phase(
    sim: Simulation,
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
    dev = sim.dev
    tasks = np.column_stack(columns)
    if keep is not None:
        tasks, device, rank, created = tasks[keep], device[keep], rank[keep], created[keep]
        tids = (keep + first).tolist()
    else:
        tids = list(range(first, first + device.size))
    devs_arr = distinct(device)
    devs = devs_arr.tolist()
    view = sim.view_of(devs[0])
    base = device_rows(sim, devs)
    est = sim.estimator
    up = np.array([est.up_bps(d) for d in devs])
    down = np.array([est.down_bps(d) for d in devs])
    rtt = np.array([dev.rtt_s[d] for d in devs])
    cand = sim._candidates[devs_arr]
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
    windowed = sim._batching and sim._window > 0.0
    assert sim._batch_policy is not None
    vector = None
    if keep is None and sim._plain and rounds.applicable(sim):
        if sim._round_arrays is None:
            sim._round_arrays = rounds.RoundArrays(sim)
        vector = sim._round_arrays
    # When the devices' CPU and uplink are free: read once, then kept up to date by
    # carry_out; read per round from the first round done otherwise on.
    free_at, up_at = free_times(sim, devs) if vector is not None else (None, None)
    # The phase's node arrivals join the stream (:mod:`.arrivals`) rather than the
    # heap, one entry each.
    arrivals: list[tuple[float, int, list[int]]] = []
    sim._arrivals = arrivals
    try:
        for lo, hi in zip([0, *round_cut], [*round_cut, n], strict=True):
            part = who[lo:hi]
            row_devs = dev_list[lo:hi]
            at = created[lo:hi]
            rows_now = base[part]
            if free_at is not None and up_at is not None:
                free, up_free = free_at[part], up_at[part]
            else:
                free, up_free = free_times(sim, row_devs)
            rows_now[:, _LOCAL_QUEUE] = np.maximum(0.0, free - at)
            rows_now[:, _UPLINK_QUEUE] = np.maximum(0.0, up_free - at)
            decisions = sim._batch_policy(Context(tasks[lo:hi], rows_now, nodes[part]))
            if len(decisions) != hi - lo:
                raise InvalidState(
                    f"policy {sim.policy.name!r} returned {len(decisions)} decisions "
                    f"for {hi - lo} tasks"
                )
            exp_l[lo:hi] = decisions.expected_latency_s
            exp_e[lo:hi] = decisions.expected_energy_j
            conf[lo:hi] = decisions.confidence
            same = np.flatnonzero(part[1:] == part[:-1])
            if same.size == 0 and vector is not None and hi - lo >= sim._round_min_rows:
                rounds.carry_out(
                    sim,
                    vector,
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
                sim.numpy_rows["rounds"] += hi - lo
                if free_at is not None and up_at is not None:
                    free_at[part], up_at[part] = free, up_free
                continue
            free_at = up_at = None
            targets = decisions.target.tolist()
            if same.size == 0:
                # NOTE: one task per device in this round (the usual case): each
                # run or sent directly, without _carry_out's per-call set-up.
                sim._carry_out_single(row_devs, tids[lo:hi], targets, who_list[lo:hi], cand_lists)
                continue
            # Several tasks of a device in this round (adjacent: sorted by device).
            cut = (np.flatnonzero(part[1:] != part[:-1]) + 1).tolist()
            for a, b in zip([0, *cut], [*cut, hi - lo], strict=True):
                i = who_list[lo + a]
                if windowed:
                    sim._commit_windowed(
                        row_devs[a],
                        tids[lo + a],
                        targets[a:b],
                        exp_l[lo + a : lo + b].tolist(),
                        exp_e[lo + a : lo + b].tolist(),
                        conf[lo + a : lo + b].tolist(),
                        cand_lists[i],
                    )
                else:
                    sim._carry_out(row_devs[a], tids[lo + a], targets[a:b], cand_lists[i])
    finally:
        sim._arrivals = None
    if not windowed:
        rows = slice(tids[0], tids[0] + len(tids)) if keep is None else np.array(tids)
        note_decisions(sim, rows, exp_l, exp_e, conf)
    sim._stream.add(arrivals)


def note_decisions(
    sim: Simulation, rows: slice | np.ndarray, exp_l: Any, exp_e: Any, conf: Any
) -> None:
    """Record the decisions of tasks ``rows`` (a slice or task ids; decided now, first
    attempt)."""
    sim.tasks.put(
        rows,
        decided_s=sim.engine.now,
        attempts=1,
        expected_latency_s=exp_l,
        expected_energy_j=exp_e,
        confidence=conf,
    )


def device_rows(sim: Simulation, devs: list[int]) -> np.ndarray:
    """The DeviceStates of ``devs`` as Context rows (DEVICE_FEATURES order): the
    same values as :meth:`_device_features`, for many devices at once; the backlog
    columns are left 0 for the caller to fill per task (they depend on when it was
    created)."""
    now = sim.engine.now
    samples = sim._samples
    for d in devs:
        if samples[d]:
            sim._fold_samples(d, now)
    index = np.asarray(devs)
    busy = sim.busy_v[index]
    sim.busy_v[index] = 0.0
    share = np.minimum(0.95, busy / sim.scenario.view_interval_s)
    capacity = sim._capacity[index]
    mains = np.isinf(capacity)
    battery = sim.battery_v[index]
    zero = np.zeros(len(devs))
    columns = {
        "cpu_hz": sim._cpu_hz[index],
        "load": 1.0 - (1.0 - sim._bg_load[index]) * (1.0 - share),
        "battery": np.where(mains, 1.0, np.maximum(0.0, battery / np.where(mains, 1.0, capacity))),
        "local_queue_s": zero,
        "uplink_queue_s": zero,
    }
    power = sim._power[index]
    for i, name in enumerate(POWER_COLUMNS):
        columns[name] = power[:, i]
    return np.column_stack([columns[name] for name in DEVICE_FEATURES])


def free_times(sim: Simulation, devs: list[int]) -> tuple[F64, F64]:
    """When the CPU and the uplink of each device of ``devs`` are next free."""
    cpu = sim.cpu_free_v[devs]
    if sim._round_arrays is not None:
        up = sim._round_arrays.uplinks.free_s_v[devs]
    else:
        up = np.array([sim.dev.up[d].free_s for d in devs])
    return cpu, up


def distinct(device: I64) -> I64:
    """The device ids in ``device``, sorted, once each (``np.unique`` of small
    non-negative ints, at a fraction of its cost)."""
    return np.flatnonzero(np.bincount(device))
