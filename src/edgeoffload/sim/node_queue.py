"""The nodes' queues: transfers arriving at a node, the node's admission, its cores,
and the finishes that send results home.

One rule per step, each in its scalar and its numpy version side by side (the same
float operations in the same order, so the same numbers bit for bit;
``test_node_queue`` holds them to it):

- **Arrival** (:meth:`NodeQueue.arrive`): a task arriving at a node that is down is
  refused (its device places it again); an input cache learns the input; a result
  cache may answer at once. A FIFO node refuses a task when its pending set is full,
  drops it when it could not start before its deadline, else starts it when the
  node's earliest free core frees (Kiefer-Wolfowitz) at the lowest DVFS level that
  meets its compute-by time. A priority node hands it to the real scheduler
  (:mod:`edgeoffload.node.state`, via :class:`.nodes.SimNode`).
- **Arrivals in time order** (:class:`ArrivalStream`): a refresh phase's uploads reach
  their nodes over the next second or so, interleaved with the next phases' uploads.
  Rather than one heap event per arrival they wait here in time order, and one engine
  event, at the time of the earliest, delivers every arrival due before the engine's
  next event (at a tie that event goes first). Nothing else happens in between, so
  the nodes see the same thing as from one event per arrival; the engine's clock and
  event count move as if they had. A batch of arrivals at FIFO nodes without caches,
  all up and with room, whose finishes are held back, goes through numpy in *waves*, a
  node's ``k``-th arrival of the batch in wave ``k``.
- **Finish** (:meth:`NodeQueue.finish`): the node forgets the task (a node that
  crashed meanwhile has a new epoch: the task was placed again), a result cache
  learns the result, and the result goes home (the ``node_done`` hook).
- **Finishes held back** (:class:`FinishQueue`): nothing else reads what a finish at
  a FIFO node changes (the device's downlink, battery, loss countdown and bandwidth
  samples, the task's row, the node's pending set) until one of a few events that do:
  a view refresh, a crash, a placement after a refusal, a node whose pending set is
  full. So a finish is recorded here with its event key ``(time, NORMAL, sequence)``,
  drawn from the engine's own sequence as the event would have been, and every finish
  that would have run before such an event is carried out just before it
  (:meth:`NodeQueue.sync`), in the engine's order: per device in order, as numpy
  passes over *waves* of distinct devices (:meth:`.radio.Radio.download_rows`); a
  transfer that draws from the loss generator goes through the scalar download at its
  place in the order, so the draws come in the same order too. Used when every node is
  a FIFO node without caches and the run has no DAG, no capture, no online policy and
  no external driver.
"""

from __future__ import annotations

import math
import operator
import sys
from bisect import bisect_left, bisect_right
from heapq import heapify, heappush, heapreplace
from typing import Any

import numpy as np

from ..protocol.codes import ErrorCode
from .engine import NORMAL
from .nodes import dvfs, dvfs_pick, dvfs_runs, task_spec
from .radio import Radio
from .state import Arrival, Hooks, SimState
from .table import Outcome, Reason

_first = operator.itemgetter(0)
DROPPED = int(Outcome.DROPPED)
_DROPPED = DROPPED
#: Smaller arrival batches go one arrival at a time (numpy's per-call cost would not
#: pay).
ARRIVAL_MIN_ROWS = 64
#: Fewer finishes than this go one by one (numpy's per-call cost would not pay).
FINISH_MIN_ROWS = 16


class NodeQueue:
    """The nodes' side of the model over the shared state (module docstring).

    Args:
        state: the run's shared state.
        hooks: what a task's life moves on to (:class:`.state.Hooks`): ``close``,
            ``resubmit`` (refused or crashed), ``node_done`` (the result goes home).
    """

    def __init__(self, state: SimState, hooks: Hooks) -> None:
        self._state = state
        self._tasks = state.tasks
        self._nodes = state.nodes
        self._engine = state.engine
        self.close = hooks.close
        self._resubmit = hooks.resubmit
        self._node_done = hooks.node_done
        self._specs = [task_spec(a.name) for a in state.apps]
        #: Node finishes held back (:class:`FinishQueue`), when the run allows it.
        self.finishes: FinishQueue | None = None
        self.stream = ArrivalStream(state, self)

    def hold_finishes(self, radio: Radio) -> None:
        """Hold finishes back from now on (the run allows it: module docstring)."""
        self.finishes = FinishQueue(self._state, radio)

    def sync(self) -> None:
        """Carry out the finishes held back whose events come before the event being
        processed: before anything that reads what they change."""
        if self.finishes is not None:
            current = self._engine.current
            self.finishes.flush((current[0], current[1], current[2]))

    def flush_until(self, until: float) -> None:
        """Carry out the finishes held back up to ``until`` (inf: all), at the end of
        a stretch of the run."""
        if self.finishes is not None:
            if until == math.inf:
                self.finishes.flush(None)
            else:
                self.finishes.flush((until, NORMAL, sys.maxsize))

    def arrive(self, arg: tuple[int, list[int]]) -> None:
        """A transfer of tasks ``tids`` reaches node ``node_index`` now (an engine
        callback, or from the :class:`ArrivalStream`)."""
        node_index, tids = arg
        node = self._nodes[node_index]
        now = self._engine.now
        plain_fifo = self._state.plain_fifo
        if plain_fifo[node_index] and node.up:
            self._arrive_fifo(node_index, tids, now)
            return
        t = self._tasks
        cacheable = self._state.cacheable
        for tid in tids:
            t.node_arrival_s[tid] = now
            if not node.up:
                node.refused_down += 1
                self._resubmit(tid, node_index)
                continue
            key = t.key[tid]
            if key >= 0:
                if node.input_cache is not None and not t.input_cache_hit[tid]:
                    node.input_cache.insert(key)
                result = node.result_cache
                if result is not None and cacheable[t.app[tid]] and result.lookup(key):
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
                    self.close(tid, now, DROPPED, Reason.DEADLINE_EXPIRED)
                else:
                    node.refused_overloaded += 1
                    self._resubmit(tid, node_index)
        if not node.fifo and node.up:
            self.dispatch(node_index)

    def _arrive_fifo(self, node_index: int, tids: list[int], now: float) -> None:
        """Tasks arriving at an up FIFO node: all of :meth:`arrive` at a node without
        caches (the usual case), the tasks that need a core after the cache lookups
        otherwise; the finish event pushed (or held back) directly."""
        node = self._nodes[node_index]
        t = self._tasks
        created, deadline, cycles_of = t.created_s, t.deadline_s, t.cpu_cycles
        pending, free, levels = node.pending, node.free, node.levels
        speed, kappa = node.speed_hz, node.kappa
        engine = self._engine
        heap, seq = engine.heap, engine.seq
        finished = self.finish
        held = self.finishes
        for tid in tids:
            t.node_arrival_s[tid] = now
            if len(pending) >= node.max_pending and held is not None:
                self.sync()  # finishes before now free places
            if len(pending) >= node.max_pending:
                node.refused_overloaded += 1
                self._resubmit(tid, node_index)
                continue
            # Kiefer-Wolfowitz: the task starts when the earliest-free core frees.
            start = free[0] if free[0] > now else now
            if start >= created[tid] + deadline[tid]:
                node.expired += 1
                self.close(tid, now, DROPPED, Reason.DEADLINE_EXPIRED)
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

    def dispatch(self, node_index: int) -> None:
        """Priority nodes: start queued work on idle cores."""
        node = self._nodes[node_index]
        engine = self._engine
        now = engine.now
        t = self._tasks
        jobs, expired = node.next_jobs(now)
        for job in expired:
            node.pending.pop(job.id, None)
            node.expired += 1
            self.close(job.id, now, DROPPED, Reason.DEADLINE_EXPIRED)
        for job in jobs:
            tid = job.id
            service, level, energy = node.run_at(now, t.cpu_cycles[tid], t.compute_by_s[tid])
            t.start_s[tid] = now
            t.finish_s[tid] = now + service
            t.service_s[tid] = service
            t.level[tid] = level
            t.node_energy_j[tid] += energy
            speed = node.speed_hz
            t.node_energy_max_freq_j[tid] += node.kappa * speed * speed * t.cpu_cycles[tid]
            engine.schedule(now + service, self.finish, (node_index, tid, node.epoch, job))

    def finish(self, arg: tuple[int, int, int, Any]) -> None:
        """A task's run on a node ends now (an engine callback)."""
        node_index, tid, epoch, job = arg
        node = self._nodes[node_index]
        if epoch != node.epoch:
            return  # the node crashed meanwhile; the task was placed again
        node.pending.pop(tid, None)
        t = self._tasks
        key = t.key[tid]
        if node.result_cache is not None and key >= 0 and self._state.cacheable[t.app[tid]]:
            node.result_cache.insert(key)
        self._node_done(tid, node_index, self._engine.now)
        if job is not None:
            assert node.scheduler is not None
            node.scheduler.finished(job, True, t.service_s[tid])
            node.idle += 1
            self.dispatch(node_index)


class ArrivalStream:
    """Arrivals not yet delivered, in time order (see the module docstring)."""

    def __init__(self, state: SimState, queue: NodeQueue) -> None:
        self._state = state
        self._engine = state.engine
        self._queue = queue
        #: Queued arrivals as runs in time order (one per :meth:`add`, oldest first),
        #: and where each run's undelivered part starts.
        self._runs: list[list[Arrival]] = []
        self._heads: list[int] = []
        #: The delivery event in the heap: its time, and a token (a replaced event is
        #: void when it comes up).
        self._due = math.inf
        self._token = 0
        self._min_rows = state.options.min_rows(ARRIVAL_MIN_ROWS)

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
            self._engine.schedule(at, self._deliver, self._token)

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
        engine = self._engine
        if token != self._token:
            engine.void()  # a replaced event: not one of the model's
            return
        self._due = math.inf
        heap = engine.heap
        now = engine.now
        arrive = self._queue.arrive
        while True:
            at = self._next()
            if at == math.inf or (
                at > now and ((heap and heap[0][0] <= at) or at > engine.until or engine.stopping)
            ):
                break
            batch = self._take(now, heap[0][0] if heap else math.inf, engine.until)
            if len(batch) >= self._min_rows and self._can_batch(batch):
                self._batch(batch)
                self._state.numpy_rows["arrivals"] += len(batch)
                now = engine.now
                continue
            for k, (at, node, tids) in enumerate(batch):
                if at > now:
                    if (heap and heap[0][0] <= at) or engine.stopping:
                        # An event placed meanwhile (a re-placement) comes first.
                        self._runs.insert(0, batch[k:])
                        self._heads.insert(0, 0)
                        break
                    engine.advance(at)
                    now = at
                arrive((node, tids))
        if self._runs:
            self._schedule(self._next())

    def _can_batch(self, batch: list[Arrival]) -> bool:
        """Whether ``batch`` can go through :meth:`_batch`."""
        if self._queue.finishes is None:
            return False
        nodes, plain = self._state.nodes, self._state.plain_fifo
        count: dict[int, int] = {}
        for _, node, tids in batch:
            count[node] = count.get(node, 0) + len(tids)
        for node, k in count.items():
            n = nodes[node]
            if not (plain[node] and n.up) or len(n.pending) + k > n.max_pending:
                return False
        return True

    def _batch(self, batch: list[Arrival]) -> None:
        """:meth:`NodeQueue.arrive` of ``batch`` (in order; FIFO nodes without caches,
        up, with room) with numpy."""
        st = self._state
        engine = self._engine
        t = st.tasks
        nodes = st.nodes
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
        free = np.full((len(nodes), st.max_cores), math.inf)
        for k in touched:
            free[k, : nodes[k].cores] = nodes[k].free
        # Rows by wave (each wave contiguous, in arrival order), with what the waves need
        # per row worked out once: the run time at each DVFS level.
        wave = occurrence(node)
        order = np.argsort(wave, kind="stable")
        cuts = np.cumsum(np.bincount(wave)).tolist()
        w_node, w_times, w_due = node[order], times[order], due[order]
        w_by, w_cycles = compute_by[order], cycles[order]
        speed = st.node_speed[w_node]
        levels = st.node_levels[w_node]
        runs = dvfs_runs(levels, speed, w_cycles)
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
            pick_w = dvfs_pick(runs[lo:hi], w_by[lo:hi] - start_w)
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
        w_energy = st.node_kappa[w_node] * f * f * w_cycles
        # The nodes' totals, added up task by task in arrival order (a dropped task adds
        # +0.0, which changes nothing): a running sum along each node's waves.
        waves = np.zeros((len(nodes), len(cuts) + 1))
        at_wave = (w_node, wave[order] + 1)
        for name, values in (
            ("busy_s", w_run),
            ("dyn_j", w_energy),
            ("dyn_max_j", st.kappa_ss[w_node] * w_cycles),
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
            close = self._queue.close
            for row in np.flatnonzero(expired).tolist():
                nodes[node_l[row]].expired += 1
                close(tid_l[row], times_l[row], _DROPPED, Reason.DEADLINE_EXPIRED)
        ran_tids = tid[ran].tolist() if ran.size < m else tid_l
        ran_nodes = node[ran].tolist()
        rows = tid[ran]
        finish = start[ran] + service[ran]
        t.put(rows, start_s=start[ran], finish_s=finish, service_s=service[ran], level=level[ran])
        t.view("node_energy_j")[rows] += energy[ran]
        t.view("node_energy_max_freq_j")[rows] += st.kappa_s2[node[ran]] * cycles[ran]
        pending = [n.pending for n in nodes]
        for task, k in zip(ran_tids, ran_nodes, strict=True):
            pending[k][task] = None
        held = self._queue.finishes
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
        engine.count(int(np.count_nonzero(steps)))
        last = times_l[-1]
        if last > engine.now:
            engine.advance(last, counted=False)


class FinishQueue:
    """Finishes not yet carried out, as parallel lists (see the module docstring)."""

    def __init__(self, state: SimState, radio: Radio) -> None:
        self._state = state
        self._radio = radio
        self.time: list[float] = []
        self.seq: list[int] = []
        self.task: list[int] = []
        self.node: list[int] = []
        self.epoch: list[int] = []
        state.downlinks()  # the downlinks' state moves into arrays now
        self._min_rows = state.options.min_rows(FINISH_MIN_ROWS)

    def flush(self, before: tuple[float, int, int] | None = None) -> None:
        """Carry out, in order, every finish whose event would have run before the event
        keyed ``before`` (``(time, priority, sequence)``; None: all of them)."""
        if not self.time:
            return
        k = len(self.time)
        times = np.fromiter(self.time, np.float64, k)
        seqs = np.fromiter(self.seq, np.int64, k)
        order = np.lexsort((seqs, times))
        times, seqs = times[order], seqs[order]
        if before is None:
            m = times.size
        else:
            at, priority, seq = before
            m = int(np.searchsorted(times, at, side="left"))
            if priority == NORMAL:  # at a tie, the older finishes go first
                m += int(np.searchsorted(seqs[m:][times[m:] == at], seq, side="left"))
        if m == 0:
            return
        tasks = np.fromiter(self.task, np.int64, k)[order]
        node_of = np.fromiter(self.node, np.int64, k)[order]
        epochs = np.fromiter(self.epoch, np.int64, k)[order]
        rest = slice(m, None)
        self.time = times[rest].tolist()
        self.seq = seqs[rest].tolist()
        self.task = tasks[rest].tolist()
        self.node = node_of[rest].tolist()
        self.epoch = epochs[rest].tolist()
        engine = self._state.engine
        engine.count(m)
        if before is None:  # the end of the run: the clock ends at the last event
            engine.settle(float(times[m - 1]))
        self._carry_out(times[:m], tasks[:m], node_of[:m], epochs[:m])

    def _carry_out(
        self, times: np.ndarray, tasks: np.ndarray, node_of: np.ndarray, epochs: np.ndarray
    ) -> None:
        """Due finishes in order: the node forgets each, then its result goes home."""
        st = self._state
        nodes = st.nodes
        # A node that crashed meanwhile has a new epoch: its tasks were placed again.
        current = np.fromiter([node.epoch for node in nodes], np.int64, len(nodes))
        keep = epochs == current[node_of]
        if not keep.all():
            tasks, times, node_of = tasks[keep], times[keep], node_of[keep]
        if tasks.size == 0:
            return
        tl = tasks.tolist()
        for tid, n in zip(tl, node_of.tolist(), strict=True):
            nodes[n].pending.pop(tid, None)
        device = st.tasks.view("device")[tasks]
        # A row draws from the loss generator when its device's countdown has run out:
        # the rows before the first such row go in numpy waves, that row the scalar way,
        # and so on. slack: the countdown each row will meet (a draw at <= 0), gathered
        # once; only the drawing device's later rows change after a draw.
        until = st.until_loss
        seen = occurrence(device)
        slack = st.until_v[device] - seen
        draws = (st.loss[device] > 0.0) & (slack <= 0)
        n = tasks.size
        lo = 0
        while lo < n:
            ahead = np.flatnonzero(draws[lo:])
            row = int(ahead[0]) + lo if ahead.size else n
            if row > lo:
                self._waves(tasks[lo:row], times[lo:row], device[lo:row], node_of[lo:row])
            if row < n:
                self._radio.download(tl[row], int(node_of[row]), float(times[row]))
                d = int(device[row])
                later = row + 1 + np.flatnonzero(device[row + 1 :] == d)
                slack[later] = until[d] - (seen[later] - seen[row] - 1)
                draws[later] = slack[later] <= 0
            lo = row + 1

    def _waves(
        self, tasks: np.ndarray, times: np.ndarray, device: np.ndarray, node_of: np.ndarray
    ) -> None:
        """Downloads that draw nothing, in order: one numpy pass per wave of distinct
        devices (a device's k-th download is in wave k)."""
        seen = occurrence(device)
        waves = int(seen.max()) + 1
        if waves == 1:
            self._download(tasks, times, device, node_of)
        elif waves * self._min_rows > tasks.size:  # small waves: one by one
            self._one_by_one(tasks, times, node_of)
        else:
            for wave in range(waves):
                rows = np.flatnonzero(seen == wave)
                self._download(tasks[rows], times[rows], device[rows], node_of[rows])

    def _download(
        self, tasks: np.ndarray, ready: np.ndarray, device: np.ndarray, node_of: np.ndarray
    ) -> None:
        """Downloads of results on distinct devices, no loss draw: with numpy when enough
        rows for numpy to pay, else one by one."""
        if tasks.size >= self._min_rows:
            self._radio.download_rows(tasks, ready, device, node_of)
            self._state.numpy_rows["finishes"] += tasks.size
        else:
            self._one_by_one(tasks, ready, node_of)

    def _one_by_one(self, tasks: np.ndarray, ready: np.ndarray, node_of: np.ndarray) -> None:
        download = self._radio.download
        for tid, node, at in zip(tasks.tolist(), node_of.tolist(), ready.tolist(), strict=True):
            download(tid, node, at)


def occurrence(values: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries hold the same value."""
    n = values.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    first = np.ones(n, dtype=bool)
    first[1:] = ranked[1:] != ranked[:-1]
    position = np.arange(n)
    start = np.maximum.accumulate(np.where(first, position, 0))
    seen = np.empty(n, dtype=np.int64)
    seen[order] = position - start
    return seen
