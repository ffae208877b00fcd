"""A decided round carried out with numpy: one task per device, each run on its device
or sent to a node, as :meth:`Simulation._carry_out_single` does task by task.

Within such a round every device appears once, so the tasks touch disjoint device
state; the only state they share is the generator behind link losses (drawn in task
order) and the order of the node arrivals (kept: task order). The arithmetic is the
scalar code's, operation for operation, so the results are the same bit for bit.
Rows the arrays cannot do (a transfer that draws a loss, a boundary case of a link's
inverse) go through the scalar :meth:`Simulation.send`, in task order; a device's first
transfer draws only its first run of successes, done here (:func:`_draw_first`).

Used for rounds of plain tasks (no DAG stage) when no node has an input cache (whose
lookups depend on the order of the transfers to a node) and nobody collects closed
tasks one by one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..decision.features import F64, I64, LOCAL
from ..errors import InvalidState
from .links import LinkArrays
from .table import Outcome

if TYPE_CHECKING:
    from .simulation import Simulation

_DONE, _PENDING = int(Outcome.DONE), int(Outcome.PENDING)
#: Smaller rounds go task by task (numpy's per-call cost would not pay).
MIN_ROWS = 16
#: TaskBatch columns of a round's task matrix (:func:`.phase.decide_phase`).
_CYCLES, _INPUT, _OUTPUT, _DEADLINE = 0, 3, 4, 5


class RoundArrays:
    """Per-device and per-node constants as arrays, built once per simulation."""

    def __init__(self, sim: Simulation) -> None:
        dev = sim.dev
        width = max((len(levels) for levels in dev.levels), default=1)
        self.levels = np.array([[*lv, *(lv[-1:] * (width - len(lv)))] for lv in dev.levels])
        self.levels = self.levels.reshape(len(dev), width)
        self.rtt = np.array(dev.rtt_s, dtype=np.float64)
        self.loss = np.array(dev.loss, dtype=np.float64)
        self.uplinks = LinkArrays(dev.up)
        nodes = sim.nodes
        self.cloud = np.array([n.tier == "cloud" for n in nodes], dtype=bool)
        self.wan_rtt = np.array([n.wan_rtt_s for n in nodes], dtype=np.float64)
        self.wan_bps = np.array([n.wan_bps for n in nodes], dtype=np.float64)
        self.inv_wan = np.array([1.0 / n.wan_bps for n in nodes], dtype=np.float64)


def applicable(sim: Simulation) -> bool:
    """Whether rounds of this simulation's plain tasks can go through :func:`carry_out`."""
    return (
        sim.options.fast_paths
        and sim.closed is None
        and all(n.input_cache is None for n in sim.nodes)
    )


def carry_out(
    sim: Simulation,
    arrays: RoundArrays,
    first: int,
    devs: I64,
    targets: I64,
    cand: I64,
    created: F64,
    tasks: F64,
    cpu_free: F64,
    up_free: F64,
    down_bps: F64,
) -> None:
    """Carry out tasks ``first, first+1, ...`` (one per device ``devs[i]``, decided
    ``targets[i]`` over candidate row ``cand[i]``, created at ``created[i]``, TaskBatch
    row ``tasks[i]``). ``cpu_free[i]``, ``up_free[i]``: when the device's CPU and uplink
    are free, set here to those after the round; ``down_bps[i]``: its downlink estimate."""
    t = sim.tasks
    dev = sim.dev
    n = devs.size
    last = first + n
    k = cand.shape[1]
    local = targets == LOCAL
    column = np.clip(targets, 0, max(k - 1, 0))
    node = cand[np.arange(n), column] if k else np.full(n, -1, dtype=np.int64)
    bad = ~local & ((targets < 0) | (targets >= k) | (node < 0))
    if bad.any():
        raise InvalidState(
            f"policy {sim.policy.name!r} chose column {int(targets[np.argmax(bad)])}, "
            "where there is no node"
        )
    node = np.where(local, LOCAL, node)
    start_s, finish_s, level_col, service_s, end_s, upload_end = (
        np.full(n, math.nan) for _ in range(6)
    )
    energy_j, energy_max = np.zeros(n), np.zeros(n)
    outcome = np.full(n, _PENDING, dtype=np.int64)

    # -- on the device (Simulation.run_local) ---------------------------------------
    li = np.flatnonzero(local)
    if li.size:
        d = devs[li]
        cycles = tasks[li, _CYCLES]
        ready = created[li]
        hz = sim._cpu_hz[d]
        speed = hz * (1.0 - sim._bg_load[d])
        free = cpu_free[li]
        start = np.where(free > ready, free, ready)
        budget = tasks[li, _DEADLINE] - (start - ready)
        levels = arrays.levels[d]
        level = levels[:, -1]
        for j in range(levels.shape[1] - 1, -1, -1):  # the lowest level that makes it
            lj = levels[:, j]
            level = np.where(cycles / (speed * lj) <= budget, lj, level)
        run = cycles / (speed * level)
        end = start + run
        kappa = sim._power[d, 0]
        f = hz * level
        energy = kappa * f * f * cycles
        cpu_free[li] = end
        sim.cpu_free_v[d] = end  # distinct devices
        sim.busy_v[d] += run
        sim.battery_v[d] -= energy
        start_s[li], finish_s[li], level_col[li], service_s[li] = start, end, level, run
        end_s[li] = end
        energy_j[li] = energy
        energy_max[li] = kappa * hz * hz * cycles
        outcome[li] = _DONE

    # -- sent to a node (Simulation._set_compute_by, send) --------------------------
    si = np.flatnonzero(~local)
    compute_by = np.full(n, math.inf)
    up_bytes = np.zeros(n)
    batch = np.zeros(n, dtype=np.int64)
    slow: list[int] = []
    entries: list[tuple[float, int, list[int]]] = []
    if si.size:
        d = devs[si]
        dl = d.tolist()
        nd = node[si]
        at = created[si]
        header = sim._header_bits
        deadline = tasks[si, _DEADLINE]
        back = (tasks[si, _OUTPUT] * 8.0 + header) * (1.0 / down_bps[si] + arrays.inv_wan[nd])
        with np.errstate(invalid="ignore"):
            by = at + deadline - back - (arrays.rtt[d] + arrays.wan_rtt[nd]) / 2.0
        compute_by[si] = np.where(deadline == math.inf, deadline, by)
        lossy = arrays.loss[d] > 0.0
        # Rows whose transfer draws from the loss generator go the scalar way.
        fast = ~lossy
        if not fast.all():
            left = sim.until_v[d]
            fast |= left > 0
            fast[_draw_first(sim, np.flatnonzero(~fast).tolist(), dl)] = True
        bits = header + tasks[si, _INPUT] * 8.0
        fi = np.flatnonzero(fast)
        if fi.size:
            start, end, done = arrays.uplinks.transfer(d[fi], at[fi], bits[fi])
            fast[fi[~done]] = False
            fi, start, end = fi[done], start[done], end[done]
        if fi.size:
            fd = d[fi]
            fb = bits[fi]
            radio = end - start
            with np.errstate(invalid="ignore", divide="ignore"):
                per_bit = np.where(fb > 0, sim._power[fd, 1] * radio / fb, 0.0)
                rate = fb / radio
            energy = per_bit * fb
            rows = si[fi]
            energy_j[rows] = energy
            energy_max[rows] = energy
            up_bytes[rows] = fb / 8.0
            upload_end[rows] = end
            up_free[rows] = end  # as LinkArrays.transfer left them
            batch[rows] = 1
            fn = nd[fi]
            arrive = end + arrays.rtt[fd] / 2.0
            cloud = arrays.cloud[fn]
            if cloud.any():
                arrive = np.where(
                    cloud, arrive + (arrays.wan_rtt[fn] / 2.0 + fb / arrays.wan_bps[fn]), arrive
                )
            sim.battery_v[fd] -= energy  # distinct devices
            sim.until_v[fd[lossy[fi]]] -= 1
            sent = radio > 0
            samples = sim._samples
            for x, e, r in zip(
                fd[sent].tolist(), end[sent].tolist(), rate[sent].tolist(), strict=True
            ):
                samples[x].append((e, True, r))
            # The node arrivals in task order (the scalar rows' go in below).
            tids = [[tid] for tid in (rows + first).tolist()]
            entries = list(zip(arrive.tolist(), fn.tolist(), tids, strict=True))
        slow = np.flatnonzero(~fast).tolist()

    # -- the table, then the scalar rows ---------------------------------------------
    t.put(
        slice(first, last),
        target=node,
        compute_by_s=compute_by,
        start_s=start_s,
        finish_s=finish_s,
        level=level_col,
        service_s=service_s,
        end_s=end_s,
        outcome=outcome,
        energy_j=energy_j,
        energy_max_freq_j=energy_max,
        up_bytes=up_bytes,
        upload_end_s=upload_end,
        batch=batch,
    )
    arrivals = sim._arrivals
    assert arrivals is not None
    if slow:
        own: list[tuple[float, int, list[int]]] = []
        sim._arrivals = own
        lost = 0  # scalar rows without an arrival (before the one at hand)
        try:
            for p in slow:  # ``entries`` holds the arrivals of the rows before p
                row = int(si[p])
                x = int(devs[row])
                sim.send(x, int(node[row]), float(created[row]), [first + row])
                up_free[row] = dev.up[x].free_s
                if own:
                    entries.insert(p - lost, own.pop())
                else:
                    lost += 1
        finally:
            sim._arrivals = arrivals
    arrivals.extend(entries)


def _draw_first(sim: Simulation, rows: list[int], devs: list[int]) -> list[int]:
    """Of ``rows`` (positions in ``devs``, in task order; devices with no run of
    successes left), those whose transfer then goes out once.

    A device's first transfer draws its first run of successes (:meth:`Simulation._tries`):
    drawn here, in task order, up to the first row that needs a draw for a loss (made by
    its :meth:`Simulation.send`, after these); the later rows are left to ``send``."""
    until, loss = sim._until_loss, sim.dev.loss
    once = []
    for p in rows:
        x = devs[p]
        if until[x] == 0:
            break
        left = until[x] = sim._successes(loss[x])  # until[x] < 0: first transfer
        if left == 0:
            break
        once.append(p)
    return once
