"""The simulation: devices decide with a real Policy, tasks move over trace-driven links
to nodes and back, on the discrete-event clock of :mod:`.engine`.

The life of a task (``docs/simulator.md`` has the picture):

1. **Created** by its device's arrival process. Every ``view_interval_s`` each device
   refreshes its view (node heartbeats, own load and battery, bandwidth estimates) and
   hands the tasks it creates during the next interval to the policy in one
   ``decide(tasks, device, nodes)`` call: the same call, on the same feature objects,
   as the real client. Devices refresh in ``view_phases`` staggered groups
   (:mod:`.decide`).
2. **Local**: the device CPU serves its tasks first-come first-served at the lowest DVFS
   level that meets the deadline; energy ``kappa f^2`` per cycle.
3. **Offloaded**: tasks to the same node created at the same instant (or within the
   batching window) share one transfer. The upload queues on the device's uplink (a
   real trace, see :mod:`.links`), may be lost and resent, and skips the input if the
   node has it cached; it reaches the node after half the RTT (plus the WAN for the
   cloud). The node answers from its result cache, refuses (down, overloaded: the
   device places the task again), drops it (deadline passed before it could start), or
   runs it (:mod:`.nodes`). The result comes back over the downlink.
4. **Ends exactly once**: done, dropped or failed, with a reason (:mod:`.table`).

Device energy per task follows the decision engine's cost model: transmit power while
its bytes go out, idle power from the end of its upload to the start of its download,
receive power while the result comes in, ``kappa f^2`` per local cycle.

The parts, from the bottom up (each imports only those below it; a lower part calls up
only through the hooks it was given, :class:`.state.Hooks`):

- :mod:`.engine` (the clock and the event heap) and :mod:`.state` (:class:`SimState`:
  the task table, the world, the per-device values that change, the constants as
  arrays);
- the modelled things, each with its scalar and its numpy version side by side:
  :mod:`.device` (the local CPU and DVFS), :mod:`.radio` (uploads, downloads,
  losses), :mod:`.node_queue` (arrivals at nodes, their cores, finishes);
- the phases of a task's life: :mod:`.commit` (carrying decisions out), :mod:`.decide`
  (the policy calls), :mod:`.dag` (task graphs), :mod:`.lifecycle` (ends and second
  chances);
- this module, which builds them, wires the hooks and runs the clock.

Speed: a round of many devices' decisions is carried out with numpy, node arrivals are
delivered in batches, and node finishes are held back and carried out together before
anything reads what they change; all give the task-by-task code's numbers bit for bit
(``tests/unit/sim/test_golden.py`` and ``test_fast_paths.py`` hold them to it).
"""

from __future__ import annotations

import copy
import gc
import time as wallclock
from collections.abc import Callable
from typing import Any

import numpy as np

from ..decision.features import Decisions
from ..decision.policies import Policy
from .commit import Commit
from .dag import Dags
from .decide import Decide
from .device import DeviceCpu
from .engine import URGENT
from .estimates import BandwidthEstimator, EwmaBandwidth
from .lifecycle import Lifecycle
from .node_queue import NodeQueue
from .options import SimOptions
from .radio import Radio
from .scenario import Scenario
from .state import Capture, Probe, Request, SimState
from .world import build

__all__ = ["Capture", "Probe", "Simulation"]


def reproducible(policy: Policy) -> Policy:
    """The policy as a simulation must run it: a function of the seed alone, on any
    machine. The learned policy's compiled kernel loads on a thread and decides like its
    numpy path to 1e-9, not bit for bit, so which path a decision took would depend on
    timing; and its float32 products differ in their last bits with the BLAS kernel the
    CPU gets (a decision near a tie flips). A policy that has such a fast path
    (``compiled`` true, or ``portable`` false) runs a copy without it, scoring by the
    portable forward pass."""
    fast: Any = policy
    if getattr(fast, "compiled", False) is True or getattr(fast, "portable", True) is False:
        slow = copy.copy(fast)  # shallow: the same model, read-only
        slow.compiled = False
        slow.portable = True
        return slow  # type: ignore[no-any-return]
    return policy


class Simulation:
    """One scenario under one policy (see the module docstring).

    Args:
        scenario: a validated scenario.
        policy: any :class:`~edgeoffload.decision.policies.Policy`.
        seed: overrides ``scenario.seed``.
        options: how the run goes (capture, Gymnasium mode, closed-task reports, the
            numpy paths): :class:`~.options.SimOptions`, fixed for the run.
        estimator: bandwidth estimator (default: EWMA with the scenario's alpha).

    Call :meth:`run`, then read :attr:`tasks` (or use :func:`edgeoffload.sim.run`).
    """

    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        *,
        seed: int | None = None,
        options: SimOptions | None = None,
        estimator: BandwidthEstimator | None = None,
    ) -> None:
        options = options or SimOptions()
        policy = reproducible(policy)
        seed = scenario.seed if seed is None else seed
        rng = np.random.default_rng(seed)
        world = build(scenario, rng)
        initial = scenario.estimator.initial_mbps
        estimator = estimator or EwmaBandwidth(
            [link.mean_bps() if initial is None else initial * 1e6 for link in world.devices.up],
            [link.mean_bps() if initial is None else initial * 1e6 for link in world.devices.down],
            scenario.estimator.alpha,
        )
        self.state = st = SimState(scenario, policy, seed, options, world, rng, estimator)
        # The state's parts under their usual names (the same objects).
        self.scenario, self.policy, self.seed, self.options = scenario, policy, seed, options
        self.rng, self.engine, self.world = rng, st.engine, world
        self.apps, self.dev, self.nodes, self.tasks = st.apps, st.dev, st.nodes, st.tasks
        self.estimator = estimator
        self.capture: Capture | None = st.capture
        #: Gymnasium mode (``options.external``): policy calls queued for the driver.
        self.pending: list[Request] = st.pending
        #: Task ids closed since the owner last cleared it (``options.report_closed``).
        self.closed: list[int] | None = st.closed
        #: Rows carried out by each numpy path (what the fast paths took; diagnostics).
        self.numpy_rows = st.numpy_rows
        #: Node busy share over time: (time, one value per node).
        self.timeline: list[tuple[float, list[float]]] = []
        self.wall_s = 0.0
        self._started = False
        # The parts, bottom up; the lower ones get the lifecycle's methods as hooks.
        life = self.lifecycle = Lifecycle(st)
        self.queue = NodeQueue(st, life)
        self.radio = Radio(st, life.close, self.queue.arrive)
        self.device = DeviceCpu(st, life.close, life.local_done)
        self.commits = Commit(st, self.device, self.radio)
        self.decide = Decide(st, self.commits, self.queue.stream, life.close, life.open_job)
        self.dags = Dags(
            st, self.decide, self.commits, self.device, self.radio, self.queue, life.close
        )
        life.connect(self.decide, self.commits, self.device, self.radio, self.queue, self.dags)

    @property
    def uplink_saved_bytes(self) -> float:
        """Input bytes not sent because a node had them cached."""
        return self.state.uplink_saved_bytes

    def commit(self, request: Request, decisions: Decisions) -> None:
        """Carry out one policy call's decisions (the Gymnasium driver's)."""
        self.commits.commit(request, decisions)

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the first view refresh of every phase and the failure schedule."""
        if self._started:
            return
        self._started = True
        s = self.scenario
        st = self.state
        step = s.view_interval_s
        for phase in range(s.view_phases):
            end = min(s.duration_s, (phase + 1) * step / s.view_phases)
            self.engine.schedule(0.0, self._refresh, (phase, 0.0, end))
        life = self.lifecycle
        for at, node, crash in self.world.failures:
            self.engine.schedule(at, life.crash if crash else life.recover, node, URGENT)
        if self.nodes:
            self.engine.schedule(0.0, self._sample, max(step, s.duration_s / 1000.0))
        o = self.options
        if (
            o.fast_paths
            and st.plain
            and all(st.plain_fifo)
            and st.capture is None
            and st.observe is None
            and not o.external
            and st.closed is None
        ):
            self.queue.hold_finishes(self.radio)

    def run(
        self, until: float | None = None, progress: Callable[[float], None] | None = None
    ) -> None:
        """Run to ``until`` (default: to the end, every task finished).

        Args:
            progress: called with the simulated time after each chunk of the run.
        """
        self.start()
        t0 = wallclock.perf_counter()
        # The run makes next to no reference cycles, while the cyclic collector's full
        # passes over the growing task table cost a tenth of the stress benchmark.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if progress is None:
                self._run_engine(float("inf") if until is None else until)
                return
            end = self.scenario.duration_s if until is None else until
            for i in range(1, 101):
                self._run_engine(end * i / 100)
                progress(self.engine.now)
            if until is None:
                self._run_engine(float("inf"))
        finally:
            if collecting:
                gc.enable()
            self.wall_s += wallclock.perf_counter() - t0

    def _run_engine(self, until: float) -> None:
        """Run the engine to ``until``, then the finishes held back up to it."""
        stopped = self.engine.run(until)
        if not stopped:
            self.queue.flush_until(until)

    def _refresh(self, arg: tuple[int, float, float]) -> None:
        self.queue.sync()
        phase, t0, t1 = arg
        s = self.scenario
        self.decide.refresh(phase)
        if t1 > t0:
            self.decide.create(phase, t0, t1)
        if t1 < s.duration_s:
            nxt = min(s.duration_s, t1 + s.view_interval_s)
            self.engine.schedule(t1, self._refresh, (phase, t1, nxt))
        if self.pending:
            self.engine.stop()

    def _sample(self, step: float) -> None:
        """Record every node's busy share (for the report), every ``step`` seconds."""
        now = self.engine.now
        self.timeline.append((now, [n.load(now) for n in self.nodes]))
        if now + step <= self.scenario.duration_s:
            self.engine.schedule(now + step, self._sample, step)
