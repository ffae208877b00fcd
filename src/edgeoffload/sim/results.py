"""What a run leaves behind: per-task records, per-node totals, time series.

:class:`SimResult` is plain data (numpy arrays, lists, dicts), so it pickles across
processes for sweeps and feeds :mod:`.summary`, :mod:`.output` and :mod:`.report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .scenario import Scenario
from .simulation import Simulation
from .table import Outcome, Reason

#: Internal bookkeeping columns left out of the exported records.
INTERNAL = ("compute_by_s",)


@dataclass
class SimResult:
    """One run of one scenario under one policy.

    Attributes:
        records: per-task columns (index = task id), see ``docs/simulator.md``; adds
            ``latency_s`` (result at the device minus creation; NaN unless done) and
            ``deadline_met``.
        apps, node_names: names for the ``app`` and ``target`` columns.
        nodes: per-node totals (:meth:`SimNode.stats`).
        timeline_s, node_load: node busy share at each view refresh, (T, nodes).
        link_times_s, link_up_mbps, link_down_mbps: the first device's link capacity over
            the run (the trace under the results).
    """

    scenario: Scenario
    policy: str
    seed: int
    records: dict[str, np.ndarray]
    apps: list[str]
    node_names: list[str]
    nodes: list[dict[str, Any]]
    timeline_s: np.ndarray
    node_load: np.ndarray
    link_name: str
    link_times_s: np.ndarray
    link_up_mbps: np.ndarray
    link_down_mbps: np.ndarray
    uplink_saved_bytes: float
    events: int
    wall_s: float
    sim_end_s: float

    @property
    def n_tasks(self) -> int:
        return int(self.records["device"].size)

    @classmethod
    def of(cls, sim: Simulation) -> SimResult:
        """Collect a finished simulation's results."""
        records = sim.tasks.arrays()
        for name in INTERNAL:
            records.pop(name, None)
        done = records["outcome"] == int(Outcome.DONE)
        latency = np.where(done, records["end_s"] - records["created_s"], np.nan)
        records["latency_s"] = latency
        records["deadline_met"] = (done & (latency <= records["deadline_s"])).astype(np.int64)
        duration = sim.scenario.duration_s
        times = np.linspace(0.0, duration, min(2000, max(2, int(duration * 10))))
        up = sim.dev.up[0]
        down = sim.dev.down[0]
        load = np.array([v for _, v in sim.timeline], dtype=np.float64)
        return cls(
            scenario=sim.scenario,
            policy=sim.policy.name,
            seed=sim.seed,
            records=records,
            apps=[a.name for a in sim.apps],
            node_names=[n.name for n in sim.nodes],
            nodes=[n.stats(duration) for n in sim.nodes],
            timeline_s=np.array([t for t, _ in sim.timeline], dtype=np.float64),
            node_load=load.reshape(len(sim.timeline), len(sim.nodes)),
            link_name=sim.dev.trace[0],
            link_times_s=times,
            link_up_mbps=np.array([up.capacity_bps(t) for t in times]) / 1e6,
            link_down_mbps=np.array([down.capacity_bps(t) for t in times]) / 1e6,
            uplink_saved_bytes=sim.uplink_saved_bytes,
            events=sim.engine.events,
            wall_s=sim.wall_s,
            sim_end_s=sim.engine.now,
        )


OUTCOME_NAMES = {int(o): o.name.lower() for o in Outcome}
REASON_NAMES = {int(r): r.name.lower() for r in Reason}
