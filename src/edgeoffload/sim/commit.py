"""Carrying out a policy's decisions: each task runs on its device or goes to the node
chosen, in transfers shared by the tasks that can share one.

Tasks of a device created at the same instant for the same node share one transfer
(the client's same-turn batching, up to ``max_items``); with a batching window a
transfer waits ``window_s`` after its first task for others to the same node. Before a
task leaves, the device works out its compute-by time: when the node must be done for
the result to make the deadline, by its own estimate of the way back (sent with the
task).

A round of one task per device is carried out with numpy (:meth:`Commit.round`):
within such a round every device appears once, so the tasks touch disjoint device
state; the only state they share is the generator behind link losses (drawn in task
order) and the order of the node arrivals (kept: task order). The device and the radio
do the physics (:meth:`.device.DeviceCpu.run_rows`, :meth:`.radio.Radio.upload_rows`);
rows they cannot do go through the scalar :meth:`.radio.Radio.send`, in task order.
Rounds go that way for plain tasks (no DAG stage) when no node has an input cache (whose
lookups depend on the order of the transfers to a node) and nobody collects closed
tasks one by one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..decision.features import F64, I64, LOCAL_INDEX, Decisions
from ..decision.policies import Policy
from ..errors import InvalidState
from .device import DeviceCpu
from .radio import Radio
from .state import Arrival, Request, SimState
from .table import Outcome

DONE, PENDING = int(Outcome.DONE), int(Outcome.PENDING)
#: Smaller rounds go task by task (numpy's per-call cost would not pay).
ROUND_MIN_ROWS = 16
#: TaskBatch columns of a round's task matrix (:meth:`.decide.Decide.phase`).
_CYCLES, _INPUT, _OUTPUT, _DEADLINE = 0, 3, 4, 5


def check(policy: Policy, decisions: Decisions, n: int, k: int) -> None:
    """A policy's answer must cover every task with a valid target."""
    target = decisions.target
    if len(decisions) != n or target.shape != (n,):
        raise InvalidState(
            f"policy {policy.name!r} returned {len(decisions)} decisions for {n} tasks"
        )
    if n and (int(target.min()) < LOCAL_INDEX or int(target.max()) >= k):
        raise InvalidState(f"policy {policy.name!r} chose a target outside -1..{k - 1}")


class Commit:
    """Carries out decisions (module docstring) with the device's CPU and radio."""

    def __init__(self, state: SimState, device: DeviceCpu, radio: Radio) -> None:
        self._state = state
        self._tasks = state.tasks
        self._dev = state.dev
        self._device = device
        self._radio = radio
        self._policy = state.policy
        self._batching = state.batching
        self._window = state.window_s
        self._max_items = state.max_items
        self.windowed = state.batching and state.window_s > 0.0
        #: Whether rounds of plain tasks may go through :meth:`round` (module docstring).
        self.rounds = (
            state.options.fast_paths
            and state.closed is None
            and all(n.input_cache is None for n in state.nodes)
            and not state.any_detector
        )
        self.round_min_rows = state.options.min_rows(ROUND_MIN_ROWS)

    def commit(self, request: Request, decisions: Decisions) -> None:
        """Carry out one policy call's decisions (in creation order)."""
        st = self._state
        check(self._policy, decisions, request.n, len(request.index))
        self.note_budgets(range(request.first, request.first + request.n), decisions)
        if st.capture is not None:
            st.capture.requests.append(request)
        if st.observe is not None:
            left = [request.n]
            for tid in range(request.first, request.first + request.n):
                st.watch[tid] = (request, decisions, left)
        self.rows(
            request.device,
            request.first,
            decisions.target.tolist(),
            decisions.expected_latency_s.tolist(),
            decisions.expected_energy_j.tolist(),
            decisions.confidence.tolist(),
            request.index,
        )

    def note_budgets(self, tids: Any, decisions: Decisions) -> None:
        """Keep the finite fallback budgets of the offloaded tasks among ``tids``
        (``SimOptions.fallback``; ``Lifecycle.close`` applies them)."""
        budgets, keep = decisions.fallback_s, self._state.fallback
        if keep is None or budgets is None:
            return
        for tid, target, budget in zip(
            tids, decisions.target.tolist(), budgets.tolist(), strict=True
        ):
            if target != LOCAL_INDEX and math.isfinite(budget):
                keep[int(tid)] = float(budget)

    def rows(
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
        if self.windowed:
            self.windowed_rows(d, first, targets, exp_l, exp_e, conf, index)
            return
        self.note(slice(first, first + len(targets)), exp_l, exp_e, conf)
        self.carry_out(d, first, targets, index)

    def note(self, rows: slice | np.ndarray, exp_l: Any, exp_e: Any, conf: Any) -> None:
        """Record the decisions of tasks ``rows`` (a slice or task ids; decided now,
        first attempt)."""
        self._tasks.put(
            rows,
            decided_s=self._state.engine.now,
            attempts=1,
            expected_latency_s=exp_l,
            expected_energy_j=exp_e,
            confidence=conf,
        )

    def carry_out(self, d: int, first: int, targets: list[int], index: list[int]) -> None:
        """Run locally or send tasks ``first, first+1, ...`` of device ``d`` as decided
        (no batching window; :meth:`rows` without the bookkeeping)."""
        t = self._tasks
        created = t.created_s
        batching = self._batching
        capture = self._state.capture
        max_items = self._max_items
        send = self._radio.send
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
                    send(d, node, group_at, tids)
                group = None
            if capture is not None:
                self._radio.probe(tid, d, a)
            node = self.assign(tid, d, target, index, a)
            if node == LOCAL_INDEX:
                continue
            if group is None:
                if batching and j + 1 < n and created[tid + 1] == a:
                    group = {node: [tid]}
                    group_at = a
                else:
                    send(d, node, a, [tid])
                continue
            members = group.get(node)
            if members is None:
                group[node] = [tid]
            elif len(members) < max_items:
                members.append(tid)
            else:
                send(d, node, a, members)
                group[node] = [tid]
        if group is not None:
            for node, tids in group.items():
                send(d, node, group_at, tids)

    def carry_out_single(
        self,
        devs: list[int],
        tids: list[int],
        targets: list[int],
        who: list[int],
        index: list[list[int]],
    ) -> None:
        """:meth:`carry_out` of one task per device: task ``tids[j]`` of device
        ``devs[j]`` whose candidate list is ``index[who[j]]`` (nothing to batch)."""
        created = self._tasks.created_s
        send = self._radio.send
        assign = self.assign
        for d, tid, target, i in zip(devs, tids, targets, who, strict=True):
            node = assign(tid, d, target, index[i], created[tid])
            if node != LOCAL_INDEX:
                send(d, node, created[tid], [tid])

    def assign(self, tid: int, d: int, target: int, candidates: list[int], at: float) -> int:
        """Carry out the policy's choice for task ``tid`` of device ``d``, created at
        ``at``: run it here (returns LOCAL_INDEX) or note the node it goes to (returns its
        index; the caller sends it). ``target`` is a column of ``candidates``."""
        t = self._tasks
        if target == LOCAL_INDEX or self._radio.unreachable(d, at):
            # (unreachable: the client's detector has declared the nodes dead, so the
            # task runs here whatever was chosen)
            t.target[tid] = LOCAL_INDEX
            self._device.run(tid, d, at)
            return LOCAL_INDEX
        node = candidates[target] if 0 <= target < len(candidates) else -1
        if node < 0:
            raise InvalidState(
                f"policy {self._policy.name!r} chose column {target}, where there is no node"
            )
        t.target[tid] = node
        self.set_compute_by(tid, d, node)
        return node

    def windowed_rows(
        self,
        d: int,
        first: int,
        targets: list[int],
        exp_l: list[float],
        exp_e: list[float],
        conf: list[float],
        index: list[int],
    ) -> None:
        """:meth:`rows` with a batching window: a transfer waits ``window_s`` after its
        first task for others to the same node."""
        t = self._tasks
        created = t.created_s
        now = self._state.engine.now
        capture = self._state.capture
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
            if capture is not None:
                self._radio.probe(tid, d, a)
            node = self.assign(tid, d, target, index, a)
            if node == LOCAL_INDEX:
                continue
            msg = open_msgs.get(node)
            if msg is not None and len(msg[1]) < self._max_items:
                msg[1].append(tid)
                continue
            if msg is not None:
                self._radio.send(d, node, msg[0], msg[1])
            open_msgs[node] = (a + self._window, [tid])
            earliest = min(m[0] for m in open_msgs.values())
        if open_msgs:
            self._flush(d, open_msgs, math.inf)

    def _flush(self, d: int, open_msgs: dict[int, tuple[float, list[int]]], before: float) -> float:
        """Send the open transfers that no later task can join, in send-time order;
        returns the earliest send time still open."""
        due = sorted((m[0], node) for node, m in open_msgs.items() if m[0] < before)
        for at, node in due:
            self._radio.send(d, node, at, open_msgs.pop(node)[1])
        return min((m[0] for m in open_msgs.values()), default=math.inf)

    def set_compute_by(self, tid: int, d: int, node: int) -> None:
        """The time by which the node must finish computing for the result to make the
        deadline, by the device's own estimate of the way back (sent with the task)."""
        t = self._tasks
        deadline = t.deadline_s[tid]
        if deadline == float("inf"):
            t.compute_by_s[tid] = deadline
            return
        st = self._state
        n = st.nodes[node]
        back = (t.output_bytes[tid] * 8.0 + st.header_bits) * (
            1.0 / st.estimator.down_bps(d) + 1.0 / n.wan_bps
        )
        t.compute_by_s[tid] = (
            t.created_s[tid] + deadline - back - (self._dev.rtt_s[d] + n.wan_rtt_s) / 2.0
        )

    def round(
        self,
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
        """Carry out tasks ``first, first+1, ...`` with numpy (module docstring): one
        per device ``devs[i]``, decided ``targets[i]`` over candidate row ``cand[i]``,
        created at ``created[i]``, TaskBatch row ``tasks[i]``. ``cpu_free[i]``,
        ``up_free[i]``: when the device's CPU and uplink are free, set here to those
        after the round; ``down_bps[i]``: its downlink estimate."""
        st = self._state
        t = self._tasks
        n = devs.size
        last = first + n
        k = cand.shape[1]
        local = targets == LOCAL_INDEX
        column = np.clip(targets, 0, max(k - 1, 0))
        node = cand[np.arange(n), column] if k else np.full(n, -1, dtype=np.int64)
        bad = ~local & ((targets < 0) | (targets >= k) | (node < 0))
        if bad.any():
            raise InvalidState(
                f"policy {self._policy.name!r} chose column {int(targets[np.argmax(bad)])}, "
                "where there is no node"
            )
        node = np.where(local, LOCAL_INDEX, node)
        start_s, finish_s, level_col, service_s, end_s, upload_end = (
            np.full(n, math.nan) for _ in range(6)
        )
        energy_j, energy_max = np.zeros(n), np.zeros(n)
        outcome = np.full(n, PENDING, dtype=np.int64)

        # -- on the device ------------------------------------------------------------
        li = np.flatnonzero(local)
        if li.size:
            start, end, level, run, energy, at_max = self._device.run_rows(
                devs[li], tasks[li, _CYCLES], created[li], tasks[li, _DEADLINE], cpu_free[li]
            )
            cpu_free[li] = end
            start_s[li], finish_s[li], level_col[li], service_s[li] = start, end, level, run
            end_s[li] = end
            energy_j[li] = energy
            energy_max[li] = at_max
            outcome[li] = DONE

        # -- sent to a node -----------------------------------------------------------
        si = np.flatnonzero(~local)
        compute_by = np.full(n, math.inf)
        up_bytes = np.zeros(n)
        batch = np.zeros(n, dtype=np.int64)
        slow: list[int] = []
        entries: list[Arrival] = []
        if si.size:
            d = devs[si]
            nd = node[si]
            at = created[si]
            header = st.header_bits
            deadline = tasks[si, _DEADLINE]
            back = (tasks[si, _OUTPUT] * 8.0 + header) * (1.0 / down_bps[si] + st.inv_wan[nd])
            with np.errstate(invalid="ignore"):
                by = at + deadline - back - (st.rtt[d] + st.wan_rtt[nd]) / 2.0
            compute_by[si] = np.where(deadline == math.inf, deadline, by)
            bits = header + tasks[si, _INPUT] * 8.0
            fast, fi, energy, end, arrive = self._radio.upload_rows(d, nd, at, bits)
            if fi.size:
                fb = bits[fi]
                rows = si[fi]
                energy_j[rows] = energy
                energy_max[rows] = energy
                up_bytes[rows] = fb / 8.0
                upload_end[rows] = end
                up_free[rows] = end  # as LinkArrays.transfer left them
                batch[rows] = 1
                # The node arrivals in task order (the scalar rows' go in below).
                tids = [[tid] for tid in (rows + first).tolist()]
                entries = list(zip(arrive.tolist(), nd[fi].tolist(), tids, strict=True))
            slow = np.flatnonzero(~fast).tolist()

        # -- the table, then the scalar rows --------------------------------------------
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
        arrivals = st.arrivals
        assert arrivals is not None
        if slow:
            own: list[Arrival] = []
            st.arrivals = own
            lost = 0  # scalar rows without an arrival (before the one at hand)
            try:
                for p in slow:  # ``entries`` holds the arrivals of the rows before p
                    row = int(si[p])
                    x = int(devs[row])
                    self._radio.send(x, int(node[row]), float(created[row]), [first + row])
                    up_free[row] = self._dev.up[x].free_s
                    if own:
                        entries.insert(p - lost, own.pop())
                    else:
                        lost += 1
            finally:
                st.arrivals = arrivals
        arrivals.extend(entries)
