"""Node arrivals: the transfers on their way to a node, delivered in time order.

A refresh phase's uploads reach their nodes over the next second or so, interleaved
with the next phases' uploads. Rather than one heap event per arrival, they wait here
in time order (:class:`ArrivalStream`), and one engine event, at the time of the
earliest, delivers every arrival due before the engine's next event (at a tie that
event goes first). Nothing else happens in between, so the nodes see the same thing as
from one event per arrival; the engine's clock and event count move as if they had.

A batch of arrivals at FIFO nodes without caches, all up and with room for them, whose
finishes are held back (:mod:`.finishes`), goes through numpy in *waves*, a node's
``k``-th arrival of the batch in wave ``k``: the task starts when the node's earliest
free core frees (Kiefer-Wolfowitz), at the lowest DVFS level that meets its
compute-by time, as :meth:`Simulation._arrive_fifo` does task by task, with the same
float operations, so the same numbers bit for bit. Other arrivals go through the
scalar code one at a time.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left, bisect_right
from heapq import heapify
from typing import TYPE_CHECKING

import numpy as np

from .engine import NORMAL
from .finishes import occurrence
from .table import Outcome, Reason

if TYPE_CHECKING:
    from .simulation import Simulation

#: One transfer: (arrival time, node index, task ids).
Arrival = tuple[float, int, list[int]]

_first = operator.itemgetter(0)
_DROPPED = int(Outcome.DROPPED)
#: Smaller batches go one arrival at a time (numpy's per-call cost would not pay).
MIN_ROWS = 64


class ArrivalStream:
    """Arrivals not yet delivered, in time order (see the module docstring)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.items: list[Arrival] = []
        self.head = 0
        #: The delivery event in the heap: its time, and a token (a replaced event is
        #: void when it comes up).
        self._due = math.inf
        self._token = 0
        nodes = sim.nodes
        width = max((len(n.levels) for n in nodes), default=1)
        padded = [[*n.levels, *(n.levels[-1:] * (width - len(n.levels)))] for n in nodes]
        self._levels = np.array(padded).reshape(len(nodes), width)
        self._speed = np.array([n.speed_hz for n in nodes], dtype=np.float64)
        self._kappa = np.array([n.kappa for n in nodes], dtype=np.float64)
        # The scalar code's per-node factors, computed the same way.
        self._kappa_ss = np.array([n.kappa * n.speed_hz * n.speed_hz for n in nodes])
        self._kappa_s2 = np.array([n.kappa * n.speed_hz**2 for n in nodes])
        self._cores = max((n.cores for n in nodes), default=1)

    def __len__(self) -> int:
        return len(self.items) - self.head

    def add(self, arrivals: list[Arrival]) -> None:
        """Queue transfers (any order; at equal times, queued ones and then the given
        order go first)."""
        if not arrivals:
            return
        items = self.items[self.head :]
        items.extend(arrivals)
        items.sort(key=_first)  # stable
        self.items, self.head = items, 0
        first = items[0][0]
        if first < self._due:
            self._due = first
            self._token += 1
            self.sim.engine.schedule(first, self._deliver, self._token)

    def _deliver(self, token: int) -> None:
        """Deliver every arrival due before the engine's next event."""
        sim = self.sim
        engine = sim.engine
        if token != self._token:
            engine.events -= 1  # a replaced event: not one of the model's
            return
        self._due = math.inf
        items, heap = self.items, engine.heap
        nodes, plain = sim.nodes, sim._plain_fifo
        i, n = self.head, len(self.items)
        now = engine.now
        while i < n:
            at = items[i][0]
            if at > now and ((heap and heap[0][0] <= at) or at > engine.until or engine.stopping):
                break
            bound = heap[0][0] if heap else math.inf
            end = max(
                bisect_right(items, now, i, n, key=_first),
                min(
                    bisect_left(items, bound, i, n, key=_first),
                    bisect_right(items, engine.until, i, n, key=_first),
                ),
            )
            if end - i >= MIN_ROWS and self._can_batch(i, end):
                self._batch(i, end)
                i = end
                now = engine.now
                continue
            if at > now:
                engine.now = now = at
                engine.current = (at, NORMAL, next(engine.seq), None, None)
                engine.events += 1
            _, node, tids = items[i]
            i += 1
            if plain[node] and nodes[node].up:
                sim._arrive_fifo(node, tids, now)
            else:
                sim._arrive((node, tids))
        self.head = i
        if i < n:
            self._due = items[i][0]
            self._token += 1
            engine.schedule(self._due, self._deliver, self._token)
        else:
            self.items, self.head = [], 0

    def _can_batch(self, i: int, end: int) -> bool:
        """Whether arrivals ``i .. end-1`` can go through :meth:`_batch`."""
        sim = self.sim
        if sim._finishes is None:
            return False
        nodes, plain = sim.nodes, sim._plain_fifo
        count: dict[int, int] = {}
        for _, node, tids in self.items[i:end]:
            count[node] = count.get(node, 0) + len(tids)
        for node, k in count.items():
            n = nodes[node]
            if not (plain[node] and n.up) or len(n.pending) + k > n.max_pending:
                return False
        return True

    def _batch(self, i: int, end: int) -> None:
        """:meth:`Simulation._arrive_fifo` of arrivals ``i .. end-1`` with numpy."""
        sim = self.sim
        engine = sim.engine
        t = sim.tasks
        nodes = sim.nodes
        batch = self.items[i:end]
        times_l: list[float] = []
        node_l: list[int] = []
        tid_l: list[int] = []
        for at, node, tids in batch:
            if len(tids) == 1:
                times_l.append(at)
                node_l.append(node)
                tid_l.append(tids[0])
            else:
                times_l.extend([at] * len(tids))
                node_l.extend([node] * len(tids))
                tid_l.extend(tids)
        m = len(tid_l)
        times = np.array(times_l)
        node = np.array(node_l, dtype=np.int64)
        tid = np.array(tid_l, dtype=np.int64)
        cycles = t.view("cpu_cycles")[tid]
        due = t.view("created_s")[tid] + t.view("deadline_s")[tid]
        compute_by = t.view("compute_by_s")[tid]
        # The nodes' state as arrays (cores padded with +inf, never the earliest free).
        touched = np.unique(node).tolist()
        cores = self._cores
        free = np.full((len(nodes), cores), math.inf)
        busy = np.zeros(len(nodes))
        dyn = np.zeros(len(nodes))
        dyn_max = np.zeros(len(nodes))
        for k in touched:
            n = nodes[k]
            free[k, : n.cores] = n.free
            busy[k], dyn[k], dyn_max[k] = n.busy_s, n.dyn_j, n.dyn_max_j
        start = np.empty(m)
        service = np.empty(m)
        level = np.empty(m)
        energy = np.empty(m)
        expired = np.zeros(m, dtype=bool)
        wave = occurrence(node)
        for w in range(int(wave.max()) + 1):
            rows = np.flatnonzero(wave == w)
            nd = node[rows]
            slots = free[nd]
            core = slots.argmin(axis=1)
            earliest = slots[np.arange(rows.size), core]
            now = times[rows]
            begin = np.where(earliest > now, earliest, now)
            late = begin >= due[rows]
            if late.any():
                expired[rows[late]] = True
                keep = ~late
                rows, nd, core, begin = rows[keep], nd[keep], core[keep], begin[keep]
            c = cycles[rows]
            speed = self._speed[nd]
            budget = compute_by[rows] - begin
            levels = self._levels[nd]
            lv = levels[:, -1]
            for j in range(levels.shape[1] - 1, -1, -1):  # the lowest level that makes it
                lj = levels[:, j]
                lv = np.where(c / (speed * lj) <= budget, lj, lv)
            run = c / (speed * lv)
            f = speed * lv
            joules = self._kappa[nd] * f * f * c
            free[nd, core] = begin + run
            busy[nd] += run
            dyn[nd] += joules
            dyn_max[nd] += self._kappa_ss[nd] * c
            start[rows], service[rows], level[rows], energy[rows] = begin, run, lv, joules
        for k in touched:
            n = nodes[k]
            row = free[k, : n.cores].tolist()
            heapify(row)
            n.free = row
            n.busy_s, n.dyn_j, n.dyn_max_j = float(busy[k]), float(dyn[k]), float(dyn_max[k])
        # The table, the nodes' pending sets and the held finishes, in arrival order.
        t.view("node_arrival_s")[tid] = times
        ran = np.flatnonzero(~expired)
        if ran.size < m:
            close = sim._close
            for row in np.flatnonzero(expired).tolist():
                nodes[node_l[row]].expired += 1
                close(tid_l[row], times_l[row], _DROPPED, Reason.DEADLINE_EXPIRED)
        ran_tids = tid[ran].tolist() if ran.size < m else tid_l
        ran_nodes = node[ran].tolist()
        rows = tid[ran]
        finish = start[ran] + service[ran]
        t.view("start_s")[rows] = start[ran]
        t.view("finish_s")[rows] = finish
        t.view("service_s")[rows] = service[ran]
        t.view("level")[rows] = level[ran]
        t.view("node_energy_j")[rows] += energy[ran]
        t.view("node_energy_max_freq_j")[rows] += self._kappa_s2[node[ran]] * cycles[ran]
        pending = [n.pending for n in nodes]
        for task, k in zip(ran_tids, ran_nodes, strict=True):
            pending[k][task] = None
        held = sim._finishes
        assert held is not None
        seq = engine.seq
        held.time.extend(finish.tolist())
        held.seq.extend([next(seq) for _ in ran_tids])
        held.task.extend(ran_tids)
        held.node.extend(ran_nodes)
        epoch = [n.epoch for n in nodes]
        held.epoch.extend([epoch[k] for k in ran_nodes])
        # The clock and the event count, as from one event per arrival time.
        steps = np.diff(times, prepend=engine.now) > 0.0
        engine.events += int(np.count_nonzero(steps))
        last = times_l[-1]
        if last > engine.now:
            engine.now = last
            engine.current = (last, NORMAL, next(seq), None, None)
