"""The device's radio: uploads to nodes and downloads of results over its trace-driven
links (:mod:`.links`), with losses, resends and the energy they cost.

The rules, each once, each in a scalar and a numpy version side by side (the same float
operations in the same order, so the same numbers bit for bit; ``test_radio`` holds
them to it):

- **Losses**: each transmission of a device is lost with its link's probability,
  independently; drawn as the number of successes before the next loss (geometric),
  one draw per loss rather than one per transmission (:meth:`Radio.tries`). A transfer
  lost more than ``max_retries`` times fails the task; each resend waits ``rto_s``.
- **Upload** (:meth:`Radio.send`, :meth:`Radio.upload_rows`): tasks created at the
  same instant for the same node share one transfer and its header; an input the node
  has cached is not sent. The transfer queues on the device's uplink; energy is the
  transmit power over the radio time, shared in proportion to each task's bits. It
  reaches the node after half the RTT (plus the WAN for the cloud).
- **Download** (:meth:`Radio.download`, :meth:`Radio.download_rows`): the result
  leaves the node half an RTT (plus the WAN) before it reaches the downlink; energy is
  the receive power over the radio time plus the idle power from the end of the upload
  to the start of the download. The task is done when the result is in.
- **A task-graph stage's inputs** (:meth:`Radio.stage_inputs_to_device`,
  :meth:`Radio.stage_inputs_to_node`): over the device's downlink or uplink, or over
  the backhaul between nodes (:mod:`.dag`).

Completed transfers of at least ``MIN_SAMPLE_BYTES`` leave a throughput sample for the
device's bandwidth estimator (the client's rule: a smaller transfer's time is mostly
latency, not bandwidth).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..decision.estimators import MIN_SAMPLE_BYTES
from ..decision.features import F64, I64, LOCAL_INDEX
from ..errors import InvalidState
from .state import Probe, SimState
from .table import Outcome, Reason

#: The smallest transfer (one copy, headers included) the estimator learns from.
MIN_SAMPLE_BITS = MIN_SAMPLE_BYTES * 8.0

DONE, FAILED, PENDING = int(Outcome.DONE), int(Outcome.FAILED), int(Outcome.PENDING)

#: ``close(tid, at, outcome, reason)``: the task ended (:class:`.state.Hooks`).
Close = Callable[[int, float, int, Reason], None]


class Radio:
    """The devices' radios over the shared state.

    Args:
        state: the run's shared state.
        close: the hook that ends a task (a lost transfer, a result that is in).
        arrive: the engine callback of a transfer's arrival at a node, given
            ``(node index, task ids)`` (:meth:`.node_queue.NodeQueue.arrive`).
    """

    def __init__(self, state: SimState, close: Close, arrive: Callable[[Any], None]) -> None:
        self._state = state
        self._tasks = state.tasks
        self._dev = state.dev
        self._nodes = state.nodes
        self._engine = state.engine
        self._close = close
        self._arrive = arrive
        self._header_bits = state.header_bits
        self._uniform: list[float] = []

    # -- losses ---------------------------------------------------------------------------

    def tries(self, d: int) -> tuple[int, bool]:
        """(transmissions of one transfer, lost for good) for device ``d`` (module
        docstring)."""
        p = self._dev.loss[d]
        if p <= 0.0:
            return 1, False
        until = self._state.until_loss
        k = 1
        while True:
            left = until[d]
            if left < 0:  # first transfer of the device
                left = self.successes(p)
            if left > 0:
                until[d] = left - 1
                return k, False
            until[d] = self.successes(p)  # this one is lost
            if k > self._dev.max_retries[d]:
                return k, True
            k += 1

    def successes(self, p: float) -> int:
        """Successful transmissions before the next loss: Geometric(p) - 1."""
        if not self._uniform:
            self._uniform = (1.0 - self._state.streams.losses.random(4096)).tolist()  # in (0, 1]
        return int(math.log(self._uniform.pop()) / math.log1p(-p))

    def draw_first(self, rows: list[int], devs: list[int]) -> list[int]:
        """Of ``rows`` (positions in ``devs``, in task order; devices with no run of
        successes left), those whose transfer then goes out once.

        A device's first transfer draws its first run of successes (:meth:`tries`):
        drawn here, in task order, up to the first row that needs a draw for a loss
        (made by its :meth:`send`, after these); the later rows are left to ``send``."""
        until, loss = self._state.until_loss, self._dev.loss
        once = []
        for p in rows:
            x = devs[p]
            if until[x] == 0:
                break
            left = until[x] = self.successes(loss[x])  # until[x] < 0: first transfer
            if left == 0:
                break
            once.append(p)
        return once

    # -- uploads --------------------------------------------------------------------------

    def send(self, d: int, node_index: int, at: float, tids: list[int]) -> None:
        """Upload one transfer of tasks from device ``d`` to a node, from ``at``."""
        st = self._state
        t = self._tasks
        dev = self._dev
        node = self._nodes[node_index]
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
                    st.uplink_saved_bytes += b / 8.0
                    b = 0.0
            task_bits.append(b + share)
            bits += b
        k, lost = self.tries(d) if dev.loss[d] > 0.0 else (1, False)
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
        if radio > 0 and bits >= MIN_SAMPLE_BITS:
            st.samples[d].append((end, True, bits * k / radio))
        arrive = end + dev.rtt_s[d] / 2.0
        if node.tier == "cloud":
            arrive += node.wan_rtt_s / 2.0 + bits / node.wan_bps
        arrivals = st.arrivals
        if arrivals is not None:
            arrivals.append((arrive, node_index, tids))
        else:
            self._engine.schedule(arrive, self._arrive, (node_index, tids))

    def upload_rows(
        self, devs: I64, nodes: I64, at: F64, bits: F64
    ) -> tuple[np.ndarray, I64, F64, F64, F64]:
        """:meth:`send` of one-task transfers from distinct devices ``devs`` to
        ``nodes``, from ``at``, of ``bits`` each (header included; no input cache), with
        numpy, for the rows that draw no loss and whose link needs no scalar search.
        Updates the links, batteries, loss countdowns and samples of those rows.

        Returns:
            (fast, rows, energy, end, arrive): ``fast`` marks the rows done here (the
            others are left to :meth:`send`, in order, after these drew); ``rows`` are
            their positions, with their energy, upload end and node arrival time.
        """
        st = self._state
        lossy = st.loss[devs] > 0.0
        # Rows whose transfer draws from the loss generator go the scalar way.
        fast = ~lossy
        if not fast.all():
            left = st.until_v[devs]
            fast |= left > 0
            fast[self.draw_first(np.flatnonzero(~fast).tolist(), devs.tolist())] = True
        fi = np.flatnonzero(fast)
        empty = np.zeros(0)
        if not fi.size:
            return fast, fi, empty, empty, empty
        start, end, done = st.uplinks().transfer(devs[fi], at[fi], bits[fi])
        fast[fi[~done]] = False
        fi, start, end = fi[done], start[done], end[done]
        if not fi.size:
            return fast, fi, empty, empty, empty
        fd = devs[fi]
        fb = bits[fi]
        radio = end - start
        with np.errstate(invalid="ignore", divide="ignore"):
            per_bit = np.where(fb > 0, st.power[fd, 1] * radio / fb, 0.0)
            rate = fb / radio
        energy = per_bit * fb
        fn = nodes[fi]
        arrive = end + st.rtt[fd] / 2.0
        cloud = st.cloud[fn]
        if cloud.any():
            arrive = np.where(cloud, arrive + (st.wan_rtt[fn] / 2.0 + fb / st.wan_bps[fn]), arrive)
        st.battery_v[fd] -= energy  # distinct devices
        st.until_v[fd[lossy[fi]]] -= 1
        sent = (radio > 0) & (fb >= MIN_SAMPLE_BITS)
        samples = st.samples
        for x, e, r in zip(fd[sent].tolist(), end[sent].tolist(), rate[sent].tolist(), strict=True):
            samples[x].append((e, True, r))
        return fast, fi, energy, end, arrive

    def unreachable(self, d: int, at: float) -> bool:
        """Whether device ``d``'s failure detector has its nodes for dead at ``at``.

        A heartbeat's answer (a header's worth each way) would be late by more than the
        detector's timeout ``detector_s``: because the link is stalled (a heartbeat sent
        ``detector_s`` ago would not be back by now on the link's capacity alone), or
        because the bytes queued on the uplink hold a heartbeat sent now for longer than
        that (it shares the connection with them). The second is foreseen: the detector
        fires when the backlog reaches the timeout, where the client's would fire a
        timeout later (the queue as it was then is not kept). The client then aborts the
        connections, and needs a heartbeat through to reconnect."""
        dev = self._dev
        timeout = dev.detector_s[d]
        if timeout == math.inf:
            return False
        up = dev.up[d]
        if up.backlog_s(at) > timeout:
            return True
        sent = at - timeout
        if sent < 0.0:
            return False
        bits = self._header_bits
        half = dev.rtt_s[d] / 2.0
        there = up.alone(sent, bits) + half
        return dev.down[d].alone(there, bits) + half > at

    def probe(self, tid: int, d: int, a: float) -> None:
        """Capture mode: what the uplink and the CPU would give task ``tid`` of device
        ``d`` created at ``a`` (hindsight costs, :mod:`.oracle`)."""
        st = self._state
        assert st.capture is not None
        bits = self._tasks.input_bytes[tid] * 8.0 + self._header_bits
        start, end = self._dev.up[d].probe(a, bits)
        wait = max(0.0, self._dev.cpu_free[d] - a)
        st.capture.probes.append(Probe(tid, wait, start, end))

    # -- downloads ------------------------------------------------------------------------

    def download(self, tid: int, node_index: int, ready: float) -> None:
        """Send a result home over the device's downlink; the task is then done."""
        t = self._tasks
        d = t.device[tid]
        dev = self._dev
        node = self._nodes[node_index]
        bits = t.output_bytes[tid] * 8.0 + self._header_bits
        at = ready + dev.rtt_s[d] / 2.0
        if node.tier == "cloud":
            at += node.wan_rtt_s / 2.0 + bits / node.wan_bps
        k, lost = self.tries(d) if dev.loss[d] > 0.0 else (1, False)
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
        if radio > 0 and bits >= MIN_SAMPLE_BITS:
            self._state.samples[d].append((end, False, bits * k / radio))
        if lost:
            self._close(tid, end, FAILED, Reason.LINK_LOST)
        else:
            self._close(tid, end, DONE, Reason.NONE)

    def download_rows(self, tasks: I64, ready: F64, device: I64, node_of: I64) -> None:
        """:meth:`download` of results to distinct devices that draw no loss, with numpy
        (rows at a boundary case of a link's inverse go the scalar way). The tasks end
        here, written straight into the table: this path is only taken when nobody
        watches tasks end one by one (:mod:`.node_queue`)."""
        st = self._state
        t = self._tasks
        bits = t.view("output_bytes")[tasks] * 8.0 + self._header_bits
        at = ready + st.rtt[device] / 2.0
        cloud = st.cloud[node_of]
        if cloud.any():
            at = np.where(cloud, at + (st.wan_rtt[node_of] / 2.0 + bits / st.wan_bps[node_of]), at)
        start, end, done = st.downlinks().transfer(device, at, bits)
        if not done.all():  # boundary cases of the inverse: the scalar way
            for row in np.flatnonzero(~done).tolist():
                self.download(int(tasks[row]), int(node_of[row]), float(ready[row]))
            tasks, device, bits, start, end = (a[done] for a in (tasks, device, bits, start, end))
        radio = end - start
        upload_end = t.view("upload_end_s")[tasks]
        idle = np.where(start > upload_end, start - upload_end, 0.0)  # NaN compares False
        power = st.power[device]
        energy = power[:, 2] * radio + power[:, 3] * idle
        outcome = t.view("outcome")
        twice = np.flatnonzero(outcome[tasks] != PENDING)
        if twice.size:
            tid = int(tasks[twice[0]])
            raise InvalidState(f"task {tid} ended twice ({outcome[tid]}, then {DONE})")
        t.view("energy_j")[tasks] += energy
        t.view("energy_max_freq_j")[tasks] += energy
        t.view("down_bytes")[tasks] += bits / 8.0
        t.put(tasks, outcome=DONE, reason=0, end_s=end)
        st.battery_v[device] -= energy  # distinct devices
        st.until_v[device[st.loss[device] > 0.0]] -= 1
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = bits / radio
        sent = (radio > 0) & (bits >= MIN_SAMPLE_BITS)
        samples = st.samples
        for d, stop, r in zip(
            device[sent].tolist(), end[sent].tolist(), rate[sent].tolist(), strict=True
        ):
            samples[d].append((stop, False, r))

    # -- a task-graph stage's inputs ------------------------------------------------------

    def stage_inputs_to_device(
        self, tid: int, d: int, inputs: list[tuple[int, float]], now: float
    ) -> float:
        """Download each input of stage ``tid`` held by a node (``(location, bytes)``;
        LOCAL_INDEX: already here) to device ``d``; returns when the last is in. No loss is
        drawn for these (a simplification, docs/simulator.md)."""
        dev = self._dev
        t = self._tasks
        ready = now
        for location, size in inputs:
            if location == LOCAL_INDEX:
                continue
            bits = size * 8.0 + self._header_bits
            start, end = dev.down[d].transfer(now + dev.rtt_s[d] / 2.0, bits)
            energy = dev.power[d].receive_w * (end - start)
            t.energy_j[tid] += energy
            t.energy_max_freq_j[tid] += energy
            dev.battery_j[d] -= energy
            t.down_bytes[tid] += bits / 8.0
            ready = max(ready, end)
        return ready

    def stage_inputs_to_node(
        self, tid: int, d: int, node: int, inputs: list[tuple[int, float]], now: float
    ) -> float:
        """Move each input of stage ``tid`` to ``node``: over device ``d``'s uplink from
        the device, over the backhaul from another node, not at all from ``node``
        itself (plus the WAN into the cloud); returns when the last is there."""
        st = self._state
        dev = self._dev
        t = self._tasks
        arrive = now
        for location, size in inputs:
            bits = size * 8.0 + self._header_bits
            if location == LOCAL_INDEX:
                start, end = dev.up[d].transfer(now, bits)
                energy = dev.power[d].transmit_w * (end - start)
                t.energy_j[tid] += energy
                t.energy_max_freq_j[tid] += energy
                dev.battery_j[d] -= energy
                t.up_bytes[tid] += bits / 8.0
                at = end + dev.rtt_s[d] / 2.0
            elif location == node:
                at = now
            else:
                at = now + bits / st.backhaul_bps + st.backhaul_rtt / 2.0
            target = self._nodes[node]
            if target.tier == "cloud" and location != node:
                at += target.wan_rtt_s / 2.0 + bits / target.wan_bps
            arrive = max(arrive, at)
        t.upload_end_s[tid] = now
        t.batch[tid] = 1
        return arrive
