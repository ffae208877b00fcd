"""Task graphs in the simulator: partial offloading, one decision per stage.

A DAG task's stages are tasks of their own in the table (same ``job``, ``stage`` = the
stage index). Stage 0 is created and decided like any task. When a stage finishes, its
output stays where it ran; each later stage is created as soon as all the stages it
reads have finished, and the device's policy decides where it runs, through the same
``decide`` call, with the features of the path its input would take: NodeFeatures where
the node already holding the input has no transfer (infinite rate) and the other nodes
are reached over the backhaul (see :mod:`.view`). Then its inputs move:

- to the device: over the device's downlink, from each node holding an input;
- to a node: over the device's uplink from the device, over the backhaul from another
  node, not at all from the same node.

The outputs of the sinks (stages nothing reads) go back to the device; the job is done
when every sink's output has arrived.

Simplifications (documented in ``docs/simulator.md``): a stage resubmitted after a
crash takes its input from the device, as the owner keeps a copy; the device CPU serves
later stages in the order they were committed.
"""

from __future__ import annotations

from collections.abc import Callable

from ..decision.features import LOCAL_INDEX
from .commit import Commit
from .decide import Decide
from .device import DeviceCpu
from .node_queue import NodeQueue
from .radio import Radio
from .state import SimState
from .table import Outcome, Reason

#: ``close(tid, at, outcome, reason)``: the task ended (:class:`.state.Hooks`).
Close = Callable[[int, float, int, Reason], None]


class Job:
    __slots__ = ("cycles", "deadline_at", "done_at", "location", "output", "tids")

    def __init__(
        self, stages: int, deadline_at: float, cycles: list[float], output: list[float]
    ) -> None:
        self.deadline_at = deadline_at
        #: Cycles and output bytes of stages 1, 2, ... (drawn with the job, so that
        #: every policy's job has the same stages: common random numbers).
        self.cycles = cycles
        self.output = output
        self.tids = [-1] * stages
        self.location = [LOCAL_INDEX] * stages
        self.done_at: list[float | None] = [None] * stages


class Dags:
    """The DAG jobs of one simulation, by job id (the first stage's task id).

    Args:
        state: the run's shared state.
        decide, commit, device, radio, queue: the parts a later stage goes through.
        close: the hook that ends a task (a stage done where its output stays).
    """

    def __init__(
        self,
        state: SimState,
        decide: Decide,
        commit: Commit,
        device: DeviceCpu,
        radio: Radio,
        queue: NodeQueue,
        close: Close,
    ) -> None:
        self._state = state
        self._decide = decide
        self._commit = commit
        self._device = device
        self._radio = radio
        self._queue = queue
        self._close = close
        self.jobs: dict[int, Job] = {}

    def open_job(self, tid: int, cycles: list[float], output: list[float]) -> None:
        """A DAG task was created: ``tid`` is its first stage; ``cycles`` and
        ``output`` are its later stages' sizes."""
        t = self._state.tasks
        app = self._state.apps[t.app[tid]]
        job = Job(len(app.stages), t.created_s[tid] + t.deadline_s[tid], cycles, output)
        job.tids[0] = tid
        self.jobs[tid] = job

    def local_done(self, tid: int, end: float) -> None:
        """A stage ran on the device; it completes at ``end``."""
        self._state.engine.schedule(end, self._done_event, (tid, LOCAL_INDEX))

    def node_done(self, tid: int, node: int, now: float) -> None:
        """A stage finished on ``node`` (now)."""
        self._done(tid, node, now)

    def _done_event(self, arg: tuple[int, int]) -> None:
        tid, location = arg
        self._done(tid, location, self._state.engine.now)

    def _done(self, tid: int, location: int, now: float) -> None:
        st = self._state
        t = st.tasks
        job = self.jobs[t.job[tid]]
        k = t.stage[tid]
        app = st.apps[t.app[tid]]
        stage = app.stages[k]
        job.location[k] = location
        job.done_at[k] = now
        if stage.sink and location != LOCAL_INDEX:
            self._radio.download(tid, location, now)
        else:
            self._close(tid, now, int(Outcome.DONE), Reason.NONE)
        for s in stage.successors:
            if job.tids[s] < 0 and all(job.done_at[dep] is not None for dep in app.stages[s].after):
                self._launch(tid, job, s, now)

    def _launch(self, parent: int, job: Job, s: int, now: float) -> None:
        """Create stage ``s`` of the job, decide where it runs, move its inputs."""
        st = self._state
        t = st.tasks
        app = st.apps[t.app[parent]]
        d = t.device[parent]
        deps = app.stages[s].after
        inputs = [(job.location[dep], t.output_bytes[job.tids[dep]]) for dep in deps]
        cycles, output = job.cycles[s - 1], job.output[s - 1]
        tid = t.add(
            device=[d],
            app=[app.index],
            job=[t.job[parent]],
            stage=[s],
            created_s=[now],
            cpu_cycles=[cycles],
            mem_mb=[0.0],
            io_ops=[0.0],
            input_bytes=[sum(b for _, b in inputs)],
            output_bytes=[output],
            deadline_s=[job.deadline_at - now],
            priority=[app.priority],
            key=[-1],
        )
        job.tids[s] = tid
        places = {loc for loc, _ in inputs}
        data_at = next(iter(places)) if len(places) == 1 else LOCAL_INDEX
        target, _ = self._decide.decide_one(tid, data_at=data_at)
        t.attempts[tid] = 1
        t.target[tid] = target
        if target == LOCAL_INDEX:
            self._device.run(tid, d, self._radio.stage_inputs_to_device(tid, d, inputs, now))
        else:
            self._commit.set_compute_by(tid, d, target)
            self._to_node(tid, d, target, inputs, now)

    def _to_node(
        self, tid: int, d: int, node: int, inputs: list[tuple[int, float]], now: float
    ) -> None:
        """Move the inputs to ``node`` and schedule the stage's arrival there."""
        arrive = self._radio.stage_inputs_to_node(tid, d, node, inputs, now)
        self._state.engine.schedule(arrive, self._queue.arrive, (node, [tid]))
