"""The device's own CPU: local runs, first come first served, at the lowest DVFS level
that meets the deadline; energy ``kappa f^2`` per cycle.

Two versions of the one rule, side by side so that they stay the same rule:
:meth:`DeviceCpu.run` for one task (the event handlers), :meth:`DeviceCpu.run_rows`
for a round of tasks on distinct devices (:mod:`.commit`), with the same float
operations in the same order, so the same numbers bit for bit (``test_device`` holds
them to it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..decision.features import F64, I64
from .nodes import dvfs, dvfs_pick, dvfs_runs
from .state import SimState
from .table import Outcome, Reason

DONE = int(Outcome.DONE)

#: ``close(tid, at, outcome, reason)``: the task ended (:class:`.state.Hooks`).
Close = Callable[[int, float, int, Reason], None]


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
        hz = dev.cpu_hz[d]
        speed = hz * (1.0 - dev.load[d])
        free = dev.cpu_free[d]
        start = free if free > ready else ready
        budget = t.deadline_s[tid] - (start - t.created_s[tid])
        run, level = dvfs(dev.levels[d], speed, cycles, budget)
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
        kappa = st.power[devs, 0]
        f = hz * level
        energy = kappa * f * f * cycles
        st.cpu_free_v[devs] = end  # distinct devices
        st.busy_v[devs] += run
        st.battery_v[devs] -= energy
        return start, end, level, run, energy, kappa * hz * hz * cycles
