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
        #: Queued arrivals as runs in time order (one per :meth:`add`, oldest first),
        #: and where each run's undelivered part starts.
        self._runs: list[list[Arrival]] = []
        self._heads: list[int] = []
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
        self._min_rows = sim.options.min_rows(MIN_ROWS)

    def add(self, arrivals: list[Arrival]) -> None:
        """Queue transfers (any order; at equal times, those queued earlier and then the
        given order go first)."""
        if not arrivals:
            return
        run = sorted(arrivals, key=_first)  # stable
        self._runs.append(run)
        self._heads.append(0)
        self._schedule(run[0][0])

    def _schedule(self, at: float) -> None:
        """Have the delivery event at ``at`` if that is earlier than the one there is."""
        if at < self._due:
            self._due = at
            self._token += 1
            self.sim.engine.schedule(at, self._deliver, self._token)

    def _next(self) -> float:
        """When the earliest queued arrival comes (inf: none)."""
        return min(
            (run[head][0] for run, head in zip(self._runs, self._heads, strict=True)),
            default=math.inf,
        )

    def _take(self, now: float, bound: float, until: float) -> list[Arrival]:
        """Remove and return, in order, the queued arrivals at or before ``now`` and
        those before ``bound`` and at or before ``until``."""
        parts = []
        runs, heads = self._runs, self._heads
        for r, run in enumerate(runs):
            head, n = heads[r], len(run)
            end = max(
                bisect_right(run, now, head, n, key=_first),
                min(
                    bisect_left(run, bound, head, n, key=_first),
                    bisect_right(run, until, head, n, key=_first),
                ),
            )
            if end > head:
                parts.append(run[head:end])
                heads[r] = end
        kept = [r for r, run in enumerate(runs) if heads[r] < len(run)]
        if len(kept) < len(runs):
            self._runs = [runs[r] for r in kept]
            self._heads = [heads[r] for r in kept]
        if len(parts) == 1:
            return parts[0]
        batch = [arrival for part in parts for arrival in part]
        batch.sort(key=_first)  # stable: older runs first at equal times
        return batch

    def _deliver(self, token: int) -> None:
        """Deliver every arrival due before the engine's next event."""
        sim = self.sim
        engine = sim.engine
        if token != self._token:
            engine.events -= 1  # a replaced event: not one of the model's
            return
        self._due = math.inf
        heap = engine.heap
        now = engine.now
        while True:
            at = self._next()
            if at == math.inf or (
                at > now and ((heap and heap[0][0] <= at) or at > engine.until or engine.stopping)
            ):
                break
            batch = self._take(now, heap[0][0] if heap else math.inf, engine.until)
            if len(batch) >= self._min_rows and self._can_batch(batch):
                self._batch(batch)
                sim.numpy_rows["arrivals"] += len(batch)
                now = engine.now
                continue
            for k, (at, node, tids) in enumerate(batch):
                if at > now:
                    if (heap and heap[0][0] <= at) or engine.stopping:
                        # An event placed meanwhile (a re-placement) comes first.
                        self._runs.insert(0, batch[k:])
                        self._heads.insert(0, 0)
                        break
                    engine.now = now = at
                    engine.current = (at, NORMAL, next(engine.seq), None, None)
                    engine.events += 1
                sim._arrive((node, tids))
        if self._runs:
            self._schedule(self._next())

    def _can_batch(self, batch: list[Arrival]) -> bool:
        """Whether ``batch`` can go through :meth:`_batch`."""
        sim = self.sim
        if sim._finishes is None:
            return False
        nodes, plain = sim.nodes, sim._plain_fifo
        count: dict[int, int] = {}
        for _, node, tids in batch:
            count[node] = count.get(node, 0) + len(tids)
        for node, k in count.items():
            n = nodes[node]
            if not (plain[node] and n.up) or len(n.pending) + k > n.max_pending:
                return False
        return True

    def _batch(self, batch: list[Arrival]) -> None:
        """:meth:`Simulation._arrive_fifo` of ``batch`` (in order) with numpy."""
        sim = self.sim
        engine = sim.engine
        t = sim.tasks
        nodes = sim.nodes
        times_l: list[float] = []
        node_l: list[int] = []
        tid_l: list[int] = []
        for at, k, tids in batch:
            if len(tids) == 1:
                times_l.append(at)
                node_l.append(k)
                tid_l.append(tids[0])
            else:
                times_l.extend([at] * len(tids))
                node_l.extend([k] * len(tids))
                tid_l.extend(tids)
        m = len(tid_l)
        times = np.array(times_l)
        node = np.array(node_l, dtype=np.int64)
        tid = np.array(tid_l, dtype=np.int64)
        cycles = t.view("cpu_cycles")[tid]
        due = t.view("created_s")[tid] + t.view("deadline_s")[tid]
        compute_by = t.view("compute_by_s")[tid]
        # The cores' free times as one array (padded with +inf, never the earliest).
        touched = np.unique(node).tolist()
        free = np.full((len(nodes), self._cores), math.inf)
        for k in touched:
            free[k, : nodes[k].cores] = nodes[k].free
        # Rows by wave (each wave contiguous, in arrival order), with what the waves need
        # per row worked out once: the run time at each DVFS level.
        wave = occurrence(node)
        order = np.argsort(wave, kind="stable")
        cuts = np.cumsum(np.bincount(wave)).tolist()
        w_node, w_times, w_due = node[order], times[order], due[order]
        w_by, w_cycles = compute_by[order], cycles[order]
        speed = self._speed[w_node]
        levels = self._levels[w_node]
        runs = w_cycles[:, None] / (speed[:, None] * levels)
        top = levels.shape[1] - 1
        begin = np.empty(m)
        pick = np.empty(m, dtype=np.int64)
        late = np.empty(m, dtype=bool)
        lo = 0
        for hi in cuts:  # a node's k-th arrival in wave k: distinct nodes within a wave
            nd = w_node[lo:hi]
            slots = free[nd]
            core = slots.argmin(axis=1)
            earliest = slots[np.arange(hi - lo), core]
            now = w_times[lo:hi]
            start_w = np.where(earliest > now, earliest, now)
            late_w = start_w >= w_due[lo:hi]
            # The lowest level that meets the compute-by time, else the highest.
            fits = runs[lo:hi] <= (w_by[lo:hi] - start_w)[:, None]
            pick_w = np.where(fits.any(axis=1), fits.argmax(axis=1), top)
            finish_w = start_w + runs[lo:hi][np.arange(hi - lo), pick_w]
            if late_w.any():  # dropped: the core stays free
                keep = ~late_w
                free[nd[keep], core[keep]] = finish_w[keep]
            else:
                free[nd, core] = finish_w
            begin[lo:hi], pick[lo:hi], late[lo:hi] = start_w, pick_w, late_w
            lo = hi
        rows = np.arange(m)
        w_level = levels[rows, pick]
        w_run = runs[rows, pick]
        f = speed * w_level
        w_energy = self._kappa[w_node] * f * f * w_cycles
        # The nodes' totals, added up task by task in arrival order (a dropped task adds
        # +0.0, which changes nothing): a running sum along each node's waves.
        waves = np.zeros((len(nodes), len(cuts) + 1))
        at_wave = (w_node, wave[order] + 1)
        for name, values in (
            ("busy_s", w_run),
            ("dyn_j", w_energy),
            ("dyn_max_j", self._kappa_ss[w_node] * w_cycles),
        ):
            waves[:, 0] = [getattr(n, name) for n in nodes]
            waves[:, 1:] = 0.0
            waves[at_wave] = np.where(late, 0.0, values)
            total = np.cumsum(waves, axis=1)[:, -1].tolist()
            for k in touched:
                setattr(nodes[k], name, total[k])
        for k in touched:
            heap = free[k, : nodes[k].cores].tolist()
            heapify(heap)
            nodes[k].free = heap
        # Back to arrival order.
        start, service, level, energy = (np.empty(m) for _ in range(4))
        expired = np.empty(m, dtype=bool)
        start[order], service[order], level[order] = begin, w_run, w_level
        energy[order], expired[order] = w_energy, late
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
        t.put(rows, start_s=start[ran], finish_s=finish, service_s=service[ran], level=level[ran])
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
