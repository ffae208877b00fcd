"""The device's own CPU: local runs, first come first served, at the lowest DVFS level
that meets the deadline; energy ``kappa f^2`` per cycle.

Two refinements a real capped device needs, both off by default (the rule is then the
plain one, bit for bit): a run costs ``overhead_cycles`` beyond its task's own (the
client's work per request), and under a CPU quota (:class:`.scenario.QuotaSpec`) the
CPU runs at full speed, ``cpu_hz / share``, until the period's quota is used and then
waits for the next period (:func:`quota_end`). The DVFS level is picked on the run time
at the average speed (the quota's waits are not foreseen).

Two versions of the one rule, side by side so that they stay the same rule:
:meth:`DeviceCpu.run` for one task (the event handlers), :meth:`DeviceCpu.run_rows`
for a round of tasks on distinct devices (:mod:`.commit`), with the same float
operations in the same order, so the same numbers bit for bit (``test_device`` holds
them to it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..decision.features import F64, I64
from .nodes import dvfs, dvfs_pick, dvfs_runs
from .state import SimState
from .table import Outcome, Reason

DONE = int(Outcome.DONE)

#: ``close(tid, at, outcome, reason)``: the task ended (:class:`.state.Hooks`).
Close = Callable[[int, float, int, Reason], None]


def quota_end(
    start: float, work: float, share: float, period: float, at: float, used: float
) -> tuple[float, float, float]:
    """When ``work`` seconds of full-speed CPU begun at ``start`` end under a quota of
    ``share * period`` seconds every ``period`` (periods ``[k period, (k+1) period)``),
    the device having used ``used`` of period ``at`` so far.

    Returns:
        (end, the period the work ended in, how much of that period's quota is used).
    """
    q = share * period
    k = float(math.floor(start / period))
    if k != at:
        used = 0.0
    avail = q - used
    left = (k + 1.0) * period - start
    if left < avail:
        avail = left
    if avail < 0.0:
        avail = 0.0
    if work <= avail:
        return start + work, k, used + work
    rest = work - avail
    m = float(math.ceil(rest / q))  # further periods, the last one partly
    last = rest - (m - 1.0) * q
    return (k + m) * period + last, k + m, last


def quota_end_rows(
    start: F64, work: F64, share: F64, period: F64, at: F64, used: F64
) -> tuple[F64, F64, F64]:
    """:func:`quota_end` of many rows, with the same float operations in the same order."""
    q = share * period
    k = np.floor(start / period)
    used = np.where(k == at, used, 0.0)
    avail = q - used
    left = (k + 1.0) * period - start
    avail = np.where(left < avail, left, avail)
    avail = np.where(avail < 0.0, 0.0, avail)
    fits = work <= avail
    rest = work - avail
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.ceil(rest / q)
    last = rest - (m - 1.0) * q
    end = np.where(fits, start + work, (k + m) * period + last)
    return end, np.where(fits, k, k + m), np.where(fits, used + work, last)


class DeviceCpu:
    """The devices' CPUs over the shared state.

    Args:
        state: the run's shared state.
        close: the hook that ends a task (called when a plain task's run ends).
        local_done: the hook for a task-graph stage that ran here (``(tid, end)``).
    """

    def __init__(
        self, state: SimState, close: Close, local_done: Callable[[int, float], None]
    ) -> None:
        self._state = state
        self._tasks = state.tasks
        self._dev = state.dev
        self._close = close
        self._local_done = local_done

    def run(self, tid: int, d: int, ready: float) -> None:
        """Run task ``tid`` on device ``d``'s CPU from ``ready`` (after its earlier
        local work); the task ends when the run does."""
        dev = self._dev
        t = self._tasks
        cycles = t.cpu_cycles[tid]
        extra = dev.overhead_cycles[d]
        if extra:
            cycles = cycles + extra
        hz = dev.cpu_hz[d]
        speed = hz * (1.0 - dev.load[d])
        free = dev.cpu_free[d]
        start = free if free > ready else ready
        budget = t.deadline_s[tid] - (start - t.created_s[tid])
        run, level = dvfs(dev.levels[d], speed, cycles, budget)
        share = dev.quota_share[d]
        if share < 1.0:
            end, dev.quota_at[d], dev.quota_used[d] = quota_end(
                start,
                run * share,
                share,
                dev.quota_period_s[d],
                dev.quota_at[d],
                dev.quota_used[d],
            )
        else:
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
            self._local_done(tid, end)
        else:
            self._close(tid, end, DONE, Reason.NONE)

    def run_rows(
        self, devs: I64, cycles: F64, created: F64, deadline: F64, free: F64
    ) -> tuple[F64, F64, F64, F64, F64, F64]:
        """:meth:`run` of tasks created at ``created`` (ready then), one per device
        ``devs`` (distinct), with numpy. ``free``: when each device's CPU is free (the
        devices' CPU, busy time and battery are updated here). The caller writes the
        task rows and ends the tasks (at ``end``).

        Returns:
            (start, end, level, run, energy, energy at the highest frequency).
        """
        st = self._state
        if st.any_overhead:
            cycles = cycles + st.overhead[devs]
        hz = st.cpu_hz[devs]
        speed = hz * (1.0 - st.bg_load[devs])
        start = np.where(free > created, free, created)
        budget = deadline - (start - created)
        levels = st.levels[devs]
        runs = dvfs_runs(levels, speed, cycles)
        rows = np.arange(devs.size)
        pick = dvfs_pick(runs, budget)
        level, run = levels[rows, pick], runs[rows, pick]
        end = start + run
        if st.any_quota:
            share = st.quota_share[devs]
            capped = share < 1.0
            q_end, q_at, q_used = quota_end_rows(
                start,
                run * share,
                share,
                st.quota_period[devs],
                st.quota_at_v[devs],
                st.quota_used_v[devs],
            )
            end = np.where(capped, q_end, end)
            st.quota_at_v[devs] = np.where(capped, q_at, st.quota_at_v[devs])
            st.quota_used_v[devs] = np.where(capped, q_used, st.quota_used_v[devs])
        kappa = st.power[devs, 0]
        f = hz * level
        energy = kappa * f * f * cycles
        st.cpu_free_v[devs] = end  # distinct devices
        st.busy_v[devs] += run
        st.battery_v[devs] -= energy
        return start, end, level, run, energy, kappa * hz * hz * cycles
