"""Simulated edge (and cloud) nodes: cores, queue discipline, DVFS, caches, crashes.

Two queue disciplines:

- ``fifo``: first come, first served over ``cores`` identical cores. A task's start is
  known the moment it arrives (Kiefer-Wolfowitz: the earliest-free core, kept in a heap
  of core free times), so the node needs one event per task, its finish.
- ``priority``: the real node's :class:`~edgeoffload.node.scheduler.Scheduler`, the
  same object the edge node runs (priority, then earliest deadline, then arrival;
  bounded admission; expired tasks never start), fed simulated time.

Both never start a task whose deadline has passed (it is dropped, ``deadline_expired``)
and refuse a task beyond ``max_pending`` (``overloaded``). DVFS: a task runs at the
lowest frequency level whose finish still meets its compute deadline (the task's
deadline less the time its result needs to get home), else at the highest; dynamic
energy is ``kappa * f**2`` per cycle, so the saving against always-maximum frequency is
``1 - level**2`` per task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..decision.features import F64, I64
from ..node.scheduler import Job, Scheduler
from ..protocol.messages import Error, Submit
from ..tasks import TaskSpec
from .cache import LRUCache


def _never_called() -> None:  # a simulated task has no body
    raise AssertionError("simulated tasks are not executed")


class SimNode:
    """One node's state (see the module docstring). Times are simulated seconds."""

    __slots__ = (
        "busy_s",
        "cores",
        "down_s",
        "down_since",
        "dyn_j",
        "dyn_max_j",
        "epoch",
        "expired",
        "fifo",
        "free",
        "group",
        "idle",
        "index",
        "input_cache",
        "kappa",
        "levels",
        "max_pending",
        "name",
        "pending",
        "refused_down",
        "refused_overloaded",
        "result_cache",
        "scheduler",
        "speed_hz",
        "static_w",
        "tier",
        "up",
        "wan_bps",
        "wan_rtt_s",
    )

    def __init__(
        self,
        index: int,
        name: str,
        *,
        group: str,
        cores: int,
        speed_hz: float,
        discipline: str = "fifo",
        levels: tuple[float, ...] = (1.0,),
        kappa: float = 1e-27,
        static_w: float = 0.0,
        input_items: int = 0,
        result_items: int = 0,
        max_pending: int = 10_000,
        tier: str = "edge",
        wan_rtt_s: float = 0.0,
        wan_bps: float = float("inf"),
    ) -> None:
        self.index = index
        self.name = name
        self.group = group
        self.cores = cores
        self.speed_hz = speed_hz
        self.levels = levels
        self.kappa = kappa
        self.static_w = static_w
        self.max_pending = max_pending
        self.tier = tier
        self.wan_rtt_s = wan_rtt_s
        self.wan_bps = wan_bps
        self.fifo = discipline == "fifo"
        #: Core free times (a heap; FIFO path).
        self.free = [0.0] * cores
        #: Tasks admitted and not finished, in arrival order.
        self.pending: dict[int, None] = {}
        self.scheduler = (
            None if self.fifo else Scheduler(max_pending=max_pending, workers=cores, fair=False)
        )
        self.idle = cores
        self.input_cache = LRUCache(input_items) if input_items else None
        self.result_cache = LRUCache(result_items) if result_items else None
        self.up = True
        #: Bumped by every crash: finish events of an older epoch are void.
        self.epoch = 0
        self.down_since = 0.0
        self.down_s = 0.0
        self.busy_s = 0.0
        self.dyn_j = 0.0
        self.dyn_max_j = 0.0
        self.expired = 0
        self.refused_down = 0
        self.refused_overloaded = 0

    # -- execution ------------------------------------------------------------------------

    def run_at(self, start: float, cycles: float, compute_by: float) -> tuple[float, float, float]:
        """Run a task from ``start`` at its DVFS level; returns (service time, level,
        dynamic energy) and counts them."""
        speed = self.speed_hz
        service, level = dvfs(self.levels, speed, cycles, compute_by - start)
        self.busy_s += service
        f = speed * level
        energy = self.kappa * f * f * cycles
        self.dyn_j += energy
        self.dyn_max_j += self.kappa * speed * speed * cycles
        return service, level, energy

    def submit(
        self, task: int, owner: int, app: TaskSpec, priority: float, budget_s: float, now: float
    ) -> Error | None:
        """Priority path: admit into the real scheduler (None, or the refusal)."""
        assert self.scheduler is not None
        deadline_ms = None if budget_s == float("inf") else max(0.0, budget_s * 1000.0)
        submit = Submit(
            id=task, task=app.name, args=[], priority=int(priority), deadline_ms=deadline_ms
        )
        return self.scheduler.admit(owner, submit, app, [], now)

    def next_jobs(self, now: float) -> tuple[list[Job], list[Job]]:
        """Priority path: (jobs to start on the idle cores, jobs expired in the queue)."""
        assert self.scheduler is not None
        if self.idle <= 0:
            return [], []
        jobs, expired = self.scheduler.next_chunk(now, self.idle)
        self.idle -= len(jobs)
        return jobs, expired

    # -- view -----------------------------------------------------------------------------

    def queue_s(self, now: float) -> float:
        """Expected wait of a task arriving now (what the node reports in its heartbeat):
        exact for FIFO; for the priority path, queued tasks times mean run time over
        cores."""
        if self.fifo:
            first = self.free[0]
            return first - now if first > now else 0.0
        assert self.scheduler is not None
        if self.scheduler.queued == 0 and self.idle > 0:
            return 0.0
        return self.scheduler.retry_after_s()

    def load(self, now: float) -> float:
        """Busy share of the cores now."""
        if self.fifo:
            return sum(1 for f in self.free if f > now) / self.cores
        return (self.cores - self.idle) / self.cores

    # -- failures -------------------------------------------------------------------------

    def crash(self, now: float) -> list[int]:
        """Go down: every pending task is lost (returned, in arrival order, for its owner
        to place again); caches are lost; later finish events are void."""
        lost = list(self.pending)
        self.pending.clear()
        self.up = False
        self.epoch += 1
        self.down_since = now
        if self.scheduler is not None:
            self.scheduler.abandon_all()
        for cache in (self.input_cache, self.result_cache):
            if cache is not None:
                cache.clear()
        return lost

    def recover(self, now: float) -> None:
        """Come back up, idle and empty."""
        self.up = True
        self.down_s += now - self.down_since
        self.free = [now] * self.cores
        self.idle = self.cores
        if self.scheduler is not None:
            self.scheduler = Scheduler(max_pending=self.max_pending, workers=self.cores, fair=False)

    def uncount(self, start: float, service: float, level: float, cycles: float, at: float) -> None:
        """Take back the busy time and energy a crash at ``at`` prevented."""
        undone = min(service, max(0.0, start + service - at))
        if undone <= 0:
            return
        self.busy_s -= undone
        share = undone / service if service > 0 else 0.0
        f = self.speed_hz * level
        self.dyn_j -= self.kappa * f * f * cycles * share
        self.dyn_max_j -= self.kappa * self.speed_hz**2 * cycles * share

    def stats(self, duration_s: float) -> dict[str, Any]:
        """Per-node totals for the summary."""
        up_s = max(
            0.0, duration_s - self.down_s - (duration_s - self.down_since if not self.up else 0.0)
        )
        return {
            "name": self.name,
            "group": self.group,
            "tier": self.tier,
            "cores": self.cores,
            "utilisation": self.busy_s / (self.cores * duration_s) if duration_s > 0 else 0.0,
            "busy_core_s": self.busy_s,
            "up_s": up_s,
            "dynamic_energy_j": self.dyn_j,
            "dynamic_energy_max_freq_j": self.dyn_max_j,
            "static_energy_j": self.static_w * up_s,
            "expired": self.expired,
            "refused_down": self.refused_down,
            "refused_overloaded": self.refused_overloaded,
            "input_cache_hits": self.input_cache.hits if self.input_cache else 0,
            "input_cache_misses": self.input_cache.misses if self.input_cache else 0,
            "result_cache_hits": self.result_cache.hits if self.result_cache else 0,
            "result_cache_misses": self.result_cache.misses if self.result_cache else 0,
        }


def dvfs(
    levels: tuple[float, ...], hz: float, cycles: float, budget_s: float
) -> tuple[float, float]:
    """(run time, level): the lowest frequency level (fractions of ``hz``, increasing)
    that runs ``cycles`` within ``budget_s``, else the highest.

    The DVFS rule of the device CPU and of the nodes; :func:`dvfs_runs` and
    :func:`dvfs_pick` are the same rule for many rows at once."""
    for level in levels:
        run = cycles / (hz * level)
        if run <= budget_s:
            return run, level
    level = levels[-1]
    return cycles / (hz * level), level


def dvfs_runs(levels: F64, hz: F64, cycles: F64) -> F64:
    """Each row's run time at each of its levels (rows of ``levels`` padded with their
    last level), as :func:`dvfs` computes them: ``cycles / (hz * level)``."""
    return cycles[:, None] / (hz[:, None] * levels)


def dvfs_pick(runs: F64, budget_s: F64) -> I64:
    """:func:`dvfs` for many rows: the column of the first level whose run (``runs``,
    :func:`dvfs_runs`) fits each row's budget, else the last column."""
    fits = runs <= budget_s[:, None]
    pick: I64 = np.where(fits.any(axis=1), fits.argmax(axis=1), runs.shape[1] - 1)
    return pick


def task_spec(name: str) -> TaskSpec:
    """The registry entry the real scheduler expects, for a simulated app."""
    return TaskSpec(name=name, fn=_never_called, module="edgeoffload.sim")
