"""Node finishes held back and carried out together, with numpy.

When a task finishes on a FIFO node the node forgets it and the result goes home over
the device's downlink (:meth:`Simulation._finish`, :meth:`Simulation.download`). Nothing
else in the simulation reads what that changes (the device's downlink, battery, loss
countdown and bandwidth samples, the task's row, the node's pending set) until one of a
few events that do: a view refresh, a crash, a placement after a refusal, a node whose
pending set is full. So instead of one heap event per finish, a finish is recorded here
with its event key ``(time, NORMAL, sequence)``, drawn from the engine's own sequence as
the event would have been, and every finish that would have run before such an event
is carried out just before it (:meth:`FinishQueue.flush`), in the engine's order:

- per device, in order; as one numpy pass per *wave*, a wave holding at most one
  finish per device (:class:`~.links.LinkArrays`), the same arithmetic as the scalar
  code, so the same numbers bit for bit;
- a transfer that draws from the loss generator goes through the scalar
  :meth:`Simulation.download` at its place in the order, so the draws come in the same
  order too.

Used when every node is a FIFO node without caches and the run has no DAG, no capture,
no online policy and no external driver (:meth:`Simulation.start`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidState
from .engine import NORMAL
from .links import LinkArrays
from .table import Outcome

if TYPE_CHECKING:
    from .simulation import Simulation

_DONE, _PENDING = int(Outcome.DONE), int(Outcome.PENDING)
#: Fewer rows than this go one by one (numpy's per-call cost would not pay).
MIN_ROWS = 16


class FinishQueue:
    """Finishes not yet carried out, as parallel lists (see the module docstring)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.time: list[float] = []
        self.seq: list[int] = []
        self.task: list[int] = []
        self.node: list[int] = []
        self.epoch: list[int] = []
        dev = sim.dev
        self._downlinks = LinkArrays(dev.down)
        self._rtt = np.array(dev.rtt_s, dtype=np.float64)
        self._loss = np.array(dev.loss, dtype=np.float64)
        nodes = sim.nodes
        self._cloud = np.array([n.tier == "cloud" for n in nodes], dtype=bool)
        self._wan_rtt = np.array([n.wan_rtt_s for n in nodes], dtype=np.float64)
        self._wan_bps = np.array([n.wan_bps for n in nodes], dtype=np.float64)
        self._min_rows = sim.options.min_rows(MIN_ROWS)

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
        engine = self.sim.engine
        engine.events += m
        if before is None:  # the end of the run: the clock ends at the last event
            engine.now = max(engine.now, float(times[m - 1]))
        self._carry_out(times[:m], tasks[:m], node_of[:m], epochs[:m])

    def _carry_out(
        self, times: np.ndarray, tasks: np.ndarray, node_of: np.ndarray, epochs: np.ndarray
    ) -> None:
        """Due finishes in order: the node forgets each, then its result goes home."""
        sim = self.sim
        nodes = sim.nodes
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
        device = sim.tasks.view("device")[tasks]
        # A row draws from the loss generator when its device's countdown has run out:
        # the rows before the first such row go in numpy waves, that row the scalar way,
        # and so on. slack: the countdown each row will meet (a draw at <= 0), gathered
        # once; only the drawing device's later rows change after a draw.
        until = sim._until_loss
        seen = occurrence(device)
        slack = sim.until_v[device] - seen
        draws = (self._loss[device] > 0.0) & (slack <= 0)
        n = tasks.size
        lo = 0
        while lo < n:
            ahead = np.flatnonzero(draws[lo:])
            row = int(ahead[0]) + lo if ahead.size else n
            if row > lo:
                self._waves(tasks[lo:row], times[lo:row], device[lo:row], node_of[lo:row])
            if row < n:
                sim.download(tl[row], int(node_of[row]), float(times[row]))
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
        """:meth:`Simulation.download` of results on distinct devices, no loss draw: with
        numpy when enough rows for numpy to pay, else one by one."""
        if tasks.size >= self._min_rows:
            self._download_many(tasks, ready, device, node_of)
            self.sim.numpy_rows["finishes"] += tasks.size
        else:
            self._one_by_one(tasks, ready, node_of)

    def _one_by_one(self, tasks: np.ndarray, ready: np.ndarray, node_of: np.ndarray) -> None:
        download = self.sim.download
        for tid, node, at in zip(tasks.tolist(), node_of.tolist(), ready.tolist(), strict=True):
            download(tid, node, at)

    def _download_many(
        self, tasks: np.ndarray, ready: np.ndarray, device: np.ndarray, node_of: np.ndarray
    ) -> None:
        """:meth:`_download` with numpy."""
        sim = self.sim
        t = sim.tasks
        bits = t.view("output_bytes")[tasks] * 8.0 + sim._header_bits
        at = ready + self._rtt[device] / 2.0
        cloud = self._cloud[node_of]
        if cloud.any():
            at = np.where(
                cloud, at + (self._wan_rtt[node_of] / 2.0 + bits / self._wan_bps[node_of]), at
            )
        start, end, done = self._downlinks.transfer(device, at, bits)
        if not done.all():  # boundary cases of the inverse: the scalar way
            for row in np.flatnonzero(~done).tolist():
                sim.download(int(tasks[row]), int(node_of[row]), float(ready[row]))
            tasks, device, bits, start, end = (a[done] for a in (tasks, device, bits, start, end))
        radio = end - start
        upload_end = t.view("upload_end_s")[tasks]
        idle = np.where(start > upload_end, start - upload_end, 0.0)  # NaN compares False
        power = sim._power[device]
        energy = power[:, 2] * radio + power[:, 3] * idle
        outcome = t.view("outcome")
        twice = np.flatnonzero(outcome[tasks] != _PENDING)
        if twice.size:
            tid = int(tasks[twice[0]])
            raise InvalidState(f"task {tid} ended twice ({outcome[tid]}, then {_DONE})")
        t.view("energy_j")[tasks] += energy
        t.view("energy_max_freq_j")[tasks] += energy
        t.view("down_bytes")[tasks] += bits / 8.0
        t.put(tasks, outcome=_DONE, reason=0, end_s=end)
        sim.battery_v[device] -= energy  # distinct devices
        sim.until_v[device[self._loss[device] > 0.0]] -= 1
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = bits / radio
        sent = radio > 0
        samples = sim._samples
        for d, stop, r in zip(
            device[sent].tolist(), end[sent].tolist(), rate[sent].tolist(), strict=True
        ):
            samples[d].append((stop, False, r))


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
