"""The end of a task's life and its second chances: each task ends exactly once (done,
dropped or failed, with a reason); a task refused by its node, or on a node that
crashes, is placed again (another node or the device) until ``max_attempts``.

:class:`Lifecycle` is the :class:`.state.Hooks` the lower parts call up to: they hold
its bound methods, given at their construction, and never import this module. An
online policy hears about a policy call's outcomes once all its tasks have ended, at
the time the last one ended (so nothing is learnt early).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..decision.features import LOCAL_INDEX, Decisions
from ..errors import InvalidState
from .commit import Commit
from .dag import Dags
from .decide import Decide
from .device import DeviceCpu
from .node_queue import NodeQueue
from .radio import Radio
from .state import Request, SimState
from .table import Outcome, Reason

DONE, FAILED, PENDING = int(Outcome.DONE), int(Outcome.FAILED), int(Outcome.PENDING)


class Lifecycle:
    """Ends and second chances over the shared state (module docstring).

    Built first, with the state only (the lower parts take its methods as their
    hooks); :meth:`connect` then gives it the parts it uses.
    """

    def __init__(self, state: SimState) -> None:
        self._state = state
        self._tasks = state.tasks
        self._closed = state.closed
        self._watch = state.watch
        self._fallback = state.fallback
        #: Tasks the fallback timer moved to their device (``SimOptions.fallback``).
        self.fallbacks = 0

    def connect(
        self,
        decide: Decide,
        commit: Commit,
        device: DeviceCpu,
        radio: Radio,
        queue: NodeQueue,
        dags: Dags,
    ) -> None:
        self._decide = decide
        self._commit = commit
        self._device = device
        self._radio = radio
        self._queue = queue
        self._dags = dags

    # -- hooks of the lower parts ---------------------------------------------------------

    def close(self, tid: int, at: float, outcome: int, reason: Reason = Reason.NONE) -> None:
        """Task ``tid`` ends at ``at`` (exactly once).

        An offloaded task with a fallback budget (``SimOptions.fallback``) whose
        outcome, whatever it is, comes later than the budget does not end here: it
        was abandoned at its creation plus the budget and runs on its device from
        then (after any local work queued meanwhile), which ends it. The radio energy
        it spent stays spent; the node's work for it is not taken back.
        """
        t = self._tasks
        fallback = self._fallback
        if fallback and tid in fallback:
            budget = fallback.pop(tid)
            since = t.created_s[tid]
            if at - since > budget and t.target[tid] != LOCAL_INDEX and t.stage[tid] < 0:
                self.fallbacks += 1
                self._device.run(tid, int(t.device[tid]), since + budget)
                return
        if t.outcome[tid] != PENDING:
            raise InvalidState(f"task {tid} ended twice ({t.outcome[tid]}, then {outcome})")
        t.outcome[tid] = outcome
        t.reason[tid] = int(reason)
        t.end_s[tid] = at
        if self._closed is not None:
            self._closed.append(tid)
        if self._watch:
            watched = self._watch.pop(tid, None)
            if watched is not None:
                watched[2][0] -= 1
                if watched[2][0] == 0:
                    self._report_outcomes(watched[0], watched[1])

    def node_done(self, tid: int, node_index: int, now: float) -> None:
        """A task finished on a node (or its result cache answered): a task-graph stage
        goes on to the next stages, a task's result goes home."""
        if self._tasks.stage[tid] >= 0:
            self._dags.node_done(tid, node_index, now)
        else:
            self._radio.download(tid, node_index, now)

    def local_done(self, tid: int, end: float) -> None:
        """A task-graph stage ran on its device, to ``end``."""
        self._dags.local_done(tid, end)

    def open_job(self, tid: int, cycles: list[float], output: list[float]) -> None:
        """A task graph was created; ``tid`` is its first stage, ``cycles`` and
        ``output`` the sizes of its later stages."""
        self._dags.open_job(tid, cycles, output)

    def resubmit(self, tid: int, failed_node: int) -> None:
        """The task's node crashed or refused it: place it again (another node or the
        device), or fail it after ``max_attempts`` placements."""
        st = self._state
        self._queue.sync()
        t = self._tasks
        now = st.engine.now
        t.attempts[tid] += 1
        if t.attempts[tid] > st.scenario.max_attempts:
            self.close(tid, now, FAILED, Reason.MAX_ATTEMPTS)
            return
        # The earlier attempt's times are void (its energy stays spent).
        t.node_arrival_s[tid] = t.start_s[tid] = t.finish_s[tid] = math.nan
        t.service_s[tid] = t.level[tid] = math.nan
        d = t.device[tid]
        target, _ = self._decide.decide_one(tid, exclude=failed_node)
        t.target[tid] = target
        if target == LOCAL_INDEX:
            self._device.run(tid, d, now)
        else:
            self._commit.set_compute_by(tid, d, target)
            self._radio.send(d, target, now, [tid])

    # -- failures (engine callbacks) ------------------------------------------------------

    def crash(self, node_index: int) -> None:
        """A node crashes now: its tasks are placed again."""
        self._queue.sync()
        st = self._state
        node = st.nodes[node_index]
        now = st.engine.now
        t = self._tasks
        # Its connections close: every device knows at once (architecture: a dead node
        # is noticed by its clients through the closed socket).
        self._decide.mark_down(node_index)
        for tid in node.crash(now):
            start = t.start_s[tid]
            if start == start:  # started (not NaN): take back what it did not run
                node.uncount(start, t.service_s[tid], t.level[tid], t.cpu_cycles[tid], now)
            self.resubmit(tid, node_index)

    def recover(self, node_index: int) -> None:
        st = self._state
        st.nodes[node_index].recover(st.engine.now)

    # -- online policies ------------------------------------------------------------------

    def _report_outcomes(self, request: Request, decisions: Decisions) -> None:
        """Every task of a policy call has ended: tell the policy, when the last ended."""
        st = self._state
        t = self._tasks
        ids = range(request.first, request.first + request.n)
        done = [t.outcome[i] == DONE for i in ids]
        latency = np.array(
            [
                t.end_s[i] - t.created_s[i] if ok else math.nan
                for i, ok in zip(ids, done, strict=True)
            ]
        )
        energy = np.array([t.energy_j[i] for i in ids])
        at = max(st.engine.now, max(t.end_s[i] for i in ids))
        outcome = (request.tasks, request.state, request.nodes, decisions, latency, energy)
        st.engine.schedule(at, self._deliver_outcomes, outcome)

    def _deliver_outcomes(self, outcome: tuple[Any, ...]) -> None:
        observe = self._state.observe
        assert observe is not None
        observe(*outcome)
