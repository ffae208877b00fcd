"""The life of every task a client owns, as a pure state machine: events in, instructions out.

The caller owns its tasks (Ray's ownership model): the client keeps every task it
submitted until exactly one outcome has been delivered to its caller. This module holds
every rule about that life and nothing else: no asyncio, no sockets, no timer handles,
no clock. Time arrives with each event (``now``, seconds on any monotonic scale); a wait
is an :class:`ArmTimer` instruction whose expiry comes back as a :class:`TimerFired`
event. The shape is dask distributed's worker state machine
(``distributed/worker_state_machine.py``: ``handle_stimulus(*events) -> instructions``,
small dataclasses with a stimulus id), without its size.

A task's life::

    Submitted --> DECIDING --(Decided)--> SENT --(ResultReceived)--> DONE
         |            |                    |  \\--(error: its own)--> FAILED
         |            |                    |   \\--(refused / node lost)--> placed again
         |            \\--(Decided LOCAL)--> RUNNING_LOCALLY --(LocalDone)--> DONE/FAILED
         |--(no node up)--> PARKED --(a node comes)--> placed again
         |                     \\--(wait_for_node_s passes)--> FAILED (NoNodeAvailable)
         \\--(any time: deadline, cancel, close)--> FAILED / CANCELLED

Every rule the client applies lives here:

- **placement**: a task goes to the node a pure :class:`~.placement.Placement` picks
  among the eligible ones (placeable, serving the task, carrying its required labels,
  not among the nodes that refused it unless all did); ``where="auto"`` tasks that can
  run on both sides are decided first, together, once per event-loop turn
  (:class:`Decide`, answered by :class:`Decided`), because the decision engine is
  vectorised and one call per task would cost more than the task.
- **retry**: a refusal (``overloaded``, ``draining``) or a lost node places the task
  again; a node that refused is avoided for that task; ``max_attempts`` placements
  without a result fail it, so a task nobody can run does not circulate forever; the
  last of them, for a task that may run here, is here.
- **hedging**: an idempotent task slower than its task's p95 latency gets a second copy
  on another node; the first answer wins and the other copy is cancelled.
- **parking**: with no node up, a task that cannot run here waits up to
  ``wait_for_node_s`` for one, instead of failing during a reconnect.
- **local fallback**: a task registered in this process runs here when no node can
  take it (unless ``where="edge"``), or when its arguments cannot be sent.
- **fallback timer** (issue 16 part 2): the decision engine may give an offloaded
  task a budget (:attr:`Decided.fallback_s`); a task that can run here and has no
  result that long after it was sent is abandoned on its node (the copy is cancelled)
  and run here. Fencing keeps it exactly-once: once it runs here, a late result from
  the node is dropped like any answer from a node the task has left. A link that fades
  mid-upload then costs the budget plus a local run, not an unbounded wait.
- **fencing**: an answer counts only from a node the task is placed on now. A late
  answer from a node the task has left is dropped: this is what makes delivery
  exactly-once.
- **hash-first inputs** (the data-locality cache, node/cache.py): an argument above
  the client's ``input_ref_bytes`` goes to a node with a cache with its digest; the
  next time the same bytes go to that node, only the digest does. The owner keeps, per
  node, the digests it sent there (bounded, like the node's cache, by the node's
  ``cache_bytes``); a node that lacks one answers ``need_input`` and the task is sent
  again to the same node with all its bytes (no new placement, no outcome), so a cache
  can cost a round trip, never a task. A second ``need_input`` for a task sent whole
  fails it (a node that cannot keep what it is sent).
- **batch records**: many small tasks of one name that need no per-task decision can
  be owned as one :class:`OwnedBatch` (one id range, one placement, one deadline
  timer, one outcome vector). An item that needs a rule of its own is split into a
  task record under the same id and follows the rules above, its outcome still going
  into the vector, which is delivered once (:class:`DeliverBatch`).

Ids are unique per client (a counter, :meth:`Ownership.next_id`), across nodes, so a
task placed again keeps its id and any answer about it names it unambiguously.

Invariants (each has a test in ``tests/unit/client/test_ownership.py``):

1. Every task submitted gets exactly one :class:`Deliver` (or one slot in exactly one
   :class:`DeliverBatch`), whatever the order of events. Once settled a task is
   forgotten, so any later event about it finds nothing and does nothing.
2. The per-node index agrees with the tasks' ``node`` and ``hedge`` fields at every
   return from :meth:`Ownership.handle`. Only ``_placed``, ``_index``, ``_unindex``,
   ``_unplace``, ``_drop_copy`` and ``_settle`` write either, and always both. Issue
   11's bug was a caller writing the fields alone: ``in_flight`` then counted a task
   on a node that had dropped it, and losing that node placed it a second time.
3. A task is on at most two nodes (its placement and one hedge copy), and a
   ``SendToNode`` is emitted only for a node that is up and placeable at that moment.
4. A timer the machine armed for a task is cancelled when the task settles, so the
   executor never holds a timer for a task that no longer exists; one that fires
   anyway (cancelled and fired in the same loop turn) finds nothing to do.
5. ``now`` is the only clock: the same events at the same times give the same
   instructions, which is what lets the tests compare whole instruction lists.

What the executor must do (``client/client.py`` is the one there is):

- Carry out the instructions of one :meth:`Ownership.handle` call in order. It may
  feed new events while doing so (an inline local run ends at once, a decision is
  answered at once, a delivered outcome's callback submits more): the machine is
  consistent at every return, and each nested call's instructions are carried out
  before the outer list goes on.
- Arm one timer per :class:`Timer` name (arming a name again replaces it) and feed
  :class:`TimerFired` when it comes due, with the loop's time as ``now``.
- Feed every answer a link reads, every link going up or down, and every change of
  the controller's table. Nothing is filtered before the machine: fencing is the
  machine's rule, so a stale or duplicate answer reaches it and is dropped there.

Why these shapes:

- A timer is a name, not a handle: the machine can cancel what it armed without the
  executor's objects, and a test reads ``ArmTimer(Timer(DEADLINE, 1), 1.0)``.
- A node is known by the id its hello gave, never by the link object: placement,
  fencing and loss all compare ids, and a reconnected node is the same node.
- Answers are fenced by node, not by attempt number: a node answers for the task it
  was given, and the task is either placed there now or not; an attempt number on
  the wire would need the node's cooperation to give the same guarantee.
- Decisions are asked of the executor (:class:`Decide`) rather than made here: the
  decision engine reads the device's load and battery (I/O), and a learned policy
  may run a model; the machine only says which tasks, which nodes, what load.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ..errors import DeadlineExceeded, FrameTooLarge, NoNodeAvailable, Unauthorized, task_error
from ..protocol.codes import ErrorCode
from ..protocol.content import InputRefs
from ..protocol.messages import Error, Result, Submit
from ..tasks import TaskSpec
from .latency import TaskLatency
from .placement import Candidate, Placement, TaskCost

#: Where a task may run: decided (``auto``), forced here, or forced to a node.
Where = Literal["auto", "local", "edge"]
#: The placement of a task that runs on the client itself (never a node's id).
LOCAL = "local"
#: The caller's callback: called once with (value, None) or (None, exception).
Done = Callable[[Any, BaseException | None], None]
#: Codes after which a task is placed again (elsewhere) rather than failed: the node
#: said "not now", not "this task is wrong".
RETRYABLE = frozenset({ErrorCode.OVERLOADED, ErrorCode.DRAINING})
#: Digests remembered per node (besides the node's byte budget): bounds the owner's
#: memory whatever the node says its cache holds.
MAX_KNOWN_INPUTS = 4096
#: The executor's function for hash-first arguments: the large ones of a task's
#: arguments, with their digest and encoded size (protocol.content.large_inputs).
InputRefsOf = Callable[[list[Any]], InputRefs | None]


class TaskState(enum.Enum):
    """Where a task is in its life (module docstring has the diagram)."""

    #: Created, not yet placed (only inside one :meth:`Ownership.handle` call).
    NEW = "new"
    #: Waiting for this turn's decision between local and edge.
    DECIDING = "deciding"
    #: On a node (and maybe a second copy on another: :attr:`OwnedTask.hedge`).
    SENT = "sent"
    #: Refused by the only node there is; placed again when its retry hint passes.
    RETRYING = "retrying"
    #: No node can take it now; it waits for one.
    PARKED = "parked"
    #: Running in this process.
    RUNNING_LOCALLY = "running_locally"
    #: Settled with a value.
    DONE = "done"
    #: Settled with an error (its own, its deadline, no node, attempts used up).
    FAILED = "failed"
    #: Settled by the caller's cancel or the client's close.
    CANCELLED = "cancelled"

    @property
    def settled(self) -> bool:
        """The one outcome has been delivered; nothing more happens to the task."""
        return self in _SETTLED


_SETTLED = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED})


@dataclass(slots=True, eq=False)
class OwnedTask:
    """One owned task: what it is and where it is now.

    Only :class:`Ownership` writes these fields; everyone else (the public handle, the
    decision engine) reads them. It holds no I/O handle, so the whole table can be
    built and inspected in a test.
    """

    id: int
    task: str
    args: list[Any]
    priority: int
    #: When the task fails with ``DeadlineExceeded`` (``now`` scale); None: never.
    deadline_at: float | None
    where: Where
    #: The local registration, if any: it allows local runs and carries hints.
    spec: TaskSpec | None
    created_at: float
    state: TaskState = TaskState.NEW
    #: Node id, :data:`LOCAL`, or None while unplaced (the last one once settled).
    node: str | None = None
    #: The node running a second copy (a hedged request), if any.
    hedge: str | None = None
    #: Placements so far (a hedge copy is not one).
    attempts: int = 0
    #: When it was last sent to a node or started here.
    sent_at: float | None = None
    settled_at: float | None = None
    #: When it last began to wait for a node (its failure names the time it waited).
    parked_at: float | None = None
    #: The decision engine's choice, when ``where="auto"`` decided it (opaque here: it
    #: travels back with the outcome so the engine can learn from it).
    choice: Any = None
    #: Nodes that refused it (made on the first refusal; most tasks never need it).
    excluded: set[str] | None = None
    #: Which of the task's own timers are armed, so settling cancels only those.
    deadline_armed: bool = False
    hedge_armed: bool = False
    fallback_armed: bool = False
    #: The fallback budget the decision engine gave (s after the send); None: none.
    fallback_s: float | None = None
    #: The batch this task was split from (its outcome goes into the batch's vector).
    batch: OwnedBatch | None = None
    #: What the run that produced the outcome reported, for the caller's ``info()``:
    #: its run time and its time at the node before the run (None until then, and for
    #: a failure).
    run_s: float | None = None
    queue_s: float | None = None
    #: Its hash-first arguments (index -> digest, encoded size), computed at its first
    #: send to a node with a cache; empty: none is large enough.
    refs: InputRefs | None = None
    #: A node answered ``need_input``: from now on its arguments go whole.
    inline_inputs: bool = False
    #: Argument bytes its latest send left out (sent as digests only), and how many
    #: arguments those were.
    refs_saved: int = 0
    refs_held: int = 0
    #: Its value came from a node's result cache (the task did not run again).
    cached: bool = False

    @property
    def can_run_locally(self) -> bool:
        """Registered here and not forced to a node."""
        return self.spec is not None and self.where != "edge"


#: The state of one item of a batch record.
_DONE, _IN_BATCH, _SPLIT = 0, 1, 2


@dataclass(slots=True, eq=False)
class OwnedBatch:
    """Many small tasks of one name owned as one record: one id range, one placement,
    one deadline timer, one outcome vector (issue 11, "batch records").

    A map over tiny tasks spends more on owning each task (a record, a placement, an
    outcome each) than on sending it; a frame's worth of tasks shares all of that.
    The batch stays simple by giving up early: an item that needs a rule of its own
    (refused, unsendable, its node lost) is *split* into an :class:`OwnedTask` under
    the same id, which follows the per-task rules and still settles into this vector.
    The vector is delivered once, when every item has its outcome.
    """

    first_id: int
    task: str
    args: list[list[Any]]
    priority: int
    deadline_at: float | None
    where: Where
    spec: TaskSpec | None
    created_at: float
    node: str | None = None
    attempts: int = 0
    sent_at: float | None = None
    #: Per item: _IN_BATCH (owned here), _SPLIT (owned by its OwnedTask), _DONE.
    items: bytearray = field(default_factory=bytearray)
    #: Items on :attr:`node` as part of the batch (not split, not done).
    on_node: int = 0
    remaining: int = 0
    values: list[Any] = field(default_factory=list)
    errors: list[BaseException | None] = field(default_factory=list)
    deadline_armed: bool = False


@dataclass(slots=True)
class NodeInfo:
    """What the owner knows of one node: from its hello, its load reports, and the
    controller's table when one is followed. Kept after the node goes down, so the
    tasks it served still name it in errors."""

    node_id: str
    tasks: frozenset[str] = frozenset()
    labels: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    #: The data connection is up (a hello was answered).
    connected: bool = False
    #: Connected and not draining: the node takes new tasks.
    accepting: bool = False
    rtt_s: float = 0.0
    queued: int = 0
    running: int = 0
    #: The controller's row, when it lists the node: alive, draining, labels, speed.
    listed: bool = False
    alive: bool = True
    draining: bool = False
    table_labels: dict[str, str] = field(default_factory=dict)
    speed_hz: float = 0.0
    #: Its data-locality cache's budget (from its welcome; 0: none, no hash-first).
    cache_bytes: int = 0
    #: Digests of the inputs sent there, oldest first, with their sizes: what it
    #: should still hold (its cache is LRU within cache_bytes, as this is).
    inputs: OrderedDict[bytes, int] = field(default_factory=OrderedDict)
    inputs_bytes: int = 0

    @property
    def placeable(self) -> bool:
        """New tasks may go here: accepting, and (if a controller lists it) alive and
        not draining in its table: the controller sees what one client cannot."""
        return self.accepting and (not self.listed or (self.alive and not self.draining))

    def has_labels(self, required: dict[str, str]) -> bool:
        """The node carries every required label (the controller's word first)."""
        labels = self.table_labels if self.listed else self.labels
        return all(labels.get(k) == v for k, v in required.items())


# -- timers -------------------------------------------------------------------------------


class TimerKind(enum.Enum):
    """What a timer is for; with a task id it names one timer."""

    DEADLINE = "deadline"
    HEDGE = "hedge"
    RETRY = "retry"
    #: One timer for every parked task (they fail together, as before this module).
    PARK = "park"
    #: "At the end of this turn": collects the turn's auto tasks into one decision.
    DECIDE = "decide"
    #: A batch's deadline (named by its first id).
    BATCH_DEADLINE = "batch_deadline"
    #: An offloaded task's budget: past it, the task runs here (``Decided.fallback_s``).
    FALLBACK = "fallback"


class Timer(NamedTuple):
    """A timer's name. A tuple, because the executor hashes one per armed timer."""

    kind: TimerKind
    task_id: int = 0


# -- events -------------------------------------------------------------------------------


@dataclass(slots=True)
class Event:
    """Something that happened, fed to :meth:`Ownership.handle`.

    Events and instructions are treated as immutable but not declared frozen: a
    frozen dataclass sets each field through ``object.__setattr__``, measured here at
    0.74 us against 0.14 us per construction of a seven-field one, and the hot path
    makes four per task (submit, send, result, deliver).

    ``stimulus_id`` names it in logs and is copied to every instruction it causes, so a
    task's history can be followed across events (distributed's ``_stories``); it is
    not compared, so tests compare what happened, not how it was named.
    """

    stimulus_id: str = field(default="", kw_only=True, compare=False)


@dataclass(slots=True)
class Submitted(Event):
    """The caller submitted a task (its id from :meth:`Ownership.next_id`)."""

    id: int
    task: str
    args: list[Any]
    priority: int = 0
    #: Seconds from now; None: no deadline.
    deadline_s: float | None = None
    where: Where = "auto"
    spec: TaskSpec | None = None


@dataclass(slots=True)
class BatchSubmitted(Event):
    """The caller submitted ``len(args)`` tasks of one name at once, ids ``first_id``
    onwards (reserved with :meth:`Ownership.next_ids`). Only for tasks that need no
    per-task decision or labels: the executor submits the others one by one."""

    first_id: int
    task: str
    args: list[list[Any]]
    priority: int = 0
    deadline_s: float | None = None
    where: Where = "edge"
    spec: TaskSpec | None = None


@dataclass(slots=True)
class NodeUp(Event):
    """A node answered our hello: it serves ``tasks`` with ``workers`` workers."""

    node_id: str
    tasks: frozenset[str]
    labels: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    #: The URL its link dialled (to forget why it was unreachable before).
    url: str = ""
    #: Its data-locality cache's budget (0: none).
    cache_bytes: int = 0


@dataclass(slots=True)
class Reached(Event):
    """``url`` (a node's, or ``controller URL``) answers again: forget why it did not."""

    url: str


@dataclass(slots=True)
class NodeUnreachable(Event):
    """A link's attempt to reach ``url`` failed (refused, timed out, a TLS or token
    refusal): why, kept to name in a task's failure. ``everywhere``: the node refused
    our token and no link is up nor still trying for the first time, so waiting
    cannot help (the token will not change)."""

    url: str
    reason: str
    everywhere: bool = False


@dataclass(slots=True)
class NodeDown(Event):
    """A node's connection dropped (closed, timed out, or fenced on the controller's word)."""

    node_id: str
    reason: str = ""


@dataclass(slots=True)
class NodeDraining(Event):
    """The node takes no new task; those it holds still finish there."""

    node_id: str


@dataclass(slots=True)
class NodeResumed(Event):
    """The node takes new tasks again after draining."""

    node_id: str


@dataclass(slots=True)
class NodeLoad(Event):
    """The node's load report (every heartbeat): what placement policies weigh."""

    node_id: str
    rtt_s: float
    queued: int
    running: int
    workers: int


@dataclass(slots=True)
class NodeListed(Event):
    """The controller's row for a node changed (the executor never sends one for a
    dead node it has no link to)."""

    node_id: str
    alive: bool
    draining: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    speed_hz: float = 0.0
    #: The change means the node can take work again (recovered or resumed): tasks
    #: waiting for a node are placed now.
    back: bool = False


@dataclass(slots=True)
class ResultReceived(Event):
    """A node sent a task's value."""

    node_id: str
    result: Result


@dataclass(slots=True)
class ResultsReceived(Event):
    """A node's frame of answers (values and errors), in the order it sent them: one
    event per frame rather than per task, since batch records answer a frame at once."""

    node_id: str
    items: list[Result | Error]


@dataclass(slots=True)
class ErrorReceived(Event):
    """A node refused a task or reported its failure (``error.id`` is set)."""

    node_id: str
    error: Error


@dataclass(slots=True)
class Unsendable(Event):
    """A task's submit could not be encoded for the node (too large, not encodable)."""

    node_id: str
    task_id: int
    exc: Exception


@dataclass(slots=True)
class LocalDone(Event):
    """A local run ended: ``value`` or, when not ``ok``, ``(exc_type, message)``."""

    task_id: int
    ok: bool
    value: Any
    run_s: float


@dataclass(slots=True)
class Decided(Event):
    """The decision engine's answer to one :class:`Decide`: for each task id, a node
    id of the group's nodes or :data:`LOCAL`, and the engine's opaque choice.

    ``fallback_s``: (task id, seconds) for the offloaded tasks that get a fallback
    timer (module docstring); a task not listed has none, as before."""

    choices: tuple[tuple[int, str, Any], ...]
    fallback_s: tuple[tuple[int, float], ...] = ()


@dataclass(slots=True)
class TimerFired(Event):
    """An armed timer's time came (the executor drops cancelled ones itself)."""

    timer: Timer


@dataclass(slots=True)
class CancelRequested(Event):
    """The caller cancelled a task."""

    task_id: int


@dataclass(slots=True)
class Closing(Event):
    """The client closes: every task still owned ends as cancelled."""


# -- instructions -------------------------------------------------------------------------


@dataclass(slots=True)
class Instruction:
    """Something the executor must do; ``stimulus_id`` names the event that caused it."""

    stimulus_id: str = field(default="", kw_only=True, compare=False)


@dataclass(slots=True)
class SendToNode(Instruction):
    """Send ``submit`` on the node's link (``hedge``: a second copy of a task)."""

    node_id: str
    submit: Submit
    hedge: bool = False


@dataclass(slots=True)
class SendBatchToNode(Instruction):
    """Send these submits (a batch's items) on the node's link, in one go."""

    node_id: str
    submits: list[Submit]


@dataclass(slots=True)
class CancelCopy(Instruction):
    """Tell the node to drop the task: its answer is no longer wanted."""

    node_id: str
    task_id: int


@dataclass(slots=True)
class StartLocalRun(Instruction):
    """Run the task here (the arguments are checked); answer with :class:`LocalDone`."""

    task_id: int
    spec: TaskSpec
    args: list[Any]


@dataclass(slots=True)
class ArmTimer(Instruction):
    """Feed ``TimerFired(timer)`` at ``at`` (replacing that timer if armed)."""

    timer: Timer
    at: float


@dataclass(slots=True)
class CancelTimer(Instruction):
    """The timer is no longer needed."""

    timer: Timer


@dataclass(slots=True)
class Decide(Instruction):
    """Ask the decision engine local-or-edge for ``tasks`` (one task name, all runnable
    here and on each of ``nodes``); answer with :class:`Decided`. ``in_flight`` is our
    count on each node and ``local_in_flight`` here, for the engine's queue features."""

    tasks: tuple[OwnedTask, ...]
    nodes: tuple[str, ...]
    in_flight: tuple[int, ...]
    local_in_flight: int


@dataclass(slots=True)
class Deliver(Instruction):
    """The task's one outcome: give it to the caller.

    ``node`` is where the outcome came from (None if never placed). ``run_s`` and
    ``latency_s`` are set for an outcome a run produced, for the executor's estimates
    (the local backlog, bandwidth, an online policy) together with ``choice``.
    """

    task_id: int
    value: Any
    error: BaseException | None
    node: str | None = None
    run_s: float | None = None
    latency_s: float | None = None
    choice: Any = None
    #: The task's record, for the caller's handle (not compared: tests name outcomes).
    record: OwnedTask | None = field(default=None, compare=False)


@dataclass(slots=True)
class DeliverBatch(Instruction):
    """A batch's outcomes, one per task in id order: ``values[i]`` when ``errors[i]`` is
    None. Given once, when the last item settles."""

    first_id: int
    values: list[Any]
    errors: list[BaseException | None]


@dataclass(slots=True)
class Resubmitting(Instruction):
    """A lost node held ``count`` tasks that are placed again (logged and reported to
    the controller's event log)."""

    node_id: str
    reason: str
    count: int


@dataclass(slots=True)
class OwnershipStats:
    """The owner's counters, a frozen snapshot."""

    pending: int
    completed_local: int
    completed_edge: int
    failed: int
    resubmitted: int
    duplicates_dropped: int
    hedges: int
    hedge_wins: int
    #: Argument bytes not sent because the node had them (hash-first), and tasks sent
    #: again whole after a ``need_input``.
    input_bytes_saved: int = 0
    inputs_resent: int = 0
    #: Hash-first arguments in sends to nodes with a cache, and how many of them went
    #: as their digest only (the node held them; less those it then asked for again):
    #: the share held is the data-locality cache's input hit rate as a client sees it.
    inputs_hashed: int = 0
    inputs_held: int = 0
    #: Offloaded tasks whose fallback timer fired, so they ran here.
    fallbacks: int = 0


_NO_COST = TaskCost()


class Ownership:
    """Every task one client owns, and the rules of their lives (module docstring).

    Args:
        placement: picks a node among eligible candidates (pure, deterministic for a
            given seed).
        max_attempts: placements without a result after which a task fails.
        wait_for_node_s: how long a task waits for a node when none is up.
        hedge: send a second copy of slow idempotent tasks.
        latency: the per-task latency record; hedging reads its p95 and latency-aware
            placement its mean. It is fed only when one of them will read it: on a
            machine measured in this project, recording cost 4 % of the client's CPU
            per task.
        input_refs: the large arguments of a task (hash-first to nodes with a cache);
            None: arguments always go whole.
    """

    def __init__(
        self,
        placement: Placement,
        *,
        max_attempts: int = 5,
        wait_for_node_s: float = 10.0,
        hedge: bool = False,
        latency: TaskLatency | None = None,
        input_refs: InputRefsOf | None = None,
    ) -> None:
        self.placement = placement
        self._input_refs = input_refs
        self._input_bytes_saved = self._inputs_resent = 0
        self._inputs_hashed = self._inputs_held = 0
        self.max_attempts = max_attempts
        self.wait_for_node_s = wait_for_node_s
        self.hedge = hedge
        self.latency = latency if latency is not None else TaskLatency()
        self._cost_aware = placement.name == "latency_aware"
        self._track_latency = hedge or self._cost_aware
        self.tasks: dict[int, OwnedTask] = {}
        self.nodes: dict[str, NodeInfo] = {}
        # Placeable nodes by task name served (see _eligible); cleared on node events.
        self._serving: dict[str, list[str]] = {}
        # The per-node index: ids placed on each node (a hedged task under both). Only
        # _index and _unindex touch it, so it cannot drift from the tasks' fields.
        self._by_node: dict[str, set[int]] = {}
        self.batches: dict[int, OwnedBatch] = {}
        # Each id of a batch item still owned by the batch (not split), to its batch.
        self._batch_of: dict[int, OwnedBatch] = {}
        # Batches placed on each node, by first id (a node's loss splits them).
        self._batches_on: dict[str, set[int]] = {}
        # Batch items on each node: in_flight counts them with the tasks.
        self._batch_load: dict[str, int] = {}
        self._parked: list[OwnedTask] = []
        self._park_armed = False
        #: Why each URL could not be reached, at its last attempt (named when a task
        #: finds no node); forgotten when its node comes up.
        self._unreachable: dict[str, str] = {}
        #: Set when every node refused our token: tasks fail at once, not after
        #: wait_for_node_s (the refusal cannot pass by waiting). Cleared by a node up.
        self._refused: str | None = None
        self._undecided: list[OwnedTask] = []
        self._next = 1
        self._completed_local = self._completed_edge = self._failed = 0
        self._resubmitted = self._duplicates = self._hedges = self._hedge_wins = 0
        self._fallbacks = 0
        # One method per event type; a dict lookup beats an isinstance chain on the
        # hot path (a result per task).
        self._handlers: dict[type[Event], Callable[[Any, float, list[Instruction]], None]] = {
            Submitted: self._submitted,
            BatchSubmitted: self._batch_submitted,
            ResultReceived: self._result,
            ResultsReceived: self._results,
            ErrorReceived: self._error,
            LocalDone: self._local_done,
            TimerFired: self._timer,
            Decided: self._decided,
            NodeUp: self._node_up,
            NodeUnreachable: self._node_unreachable,
            Reached: self._reached,
            NodeDown: self._node_down,
            NodeDraining: self._node_draining,
            NodeResumed: self._node_resumed,
            NodeLoad: self._node_load,
            NodeListed: self._node_listed,
            Unsendable: self._unsendable,
            CancelRequested: self._cancel,
            Closing: self._closing,
        }

    # -- the interface --------------------------------------------------------------------

    def next_id(self) -> int:
        """The id for the next :class:`Submitted` (1, 2, 3, ...)."""
        self._next += 1
        return self._next - 1

    def next_ids(self, count: int) -> int:
        """The first of ``count`` consecutive ids for a :class:`BatchSubmitted`."""
        first = self._next
        self._next += count
        return first

    def handle(self, event: Event, now: float) -> list[Instruction]:
        """Apply one event at time ``now``; return what the executor must do, in order.

        Never raises for an event about a task that has ended or a node it does not
        know: answers race with cancels and deadlines, and those are dropped.
        """
        out: list[Instruction] = []
        self._handlers[type(event)](event, now, out)
        if event.stimulus_id:
            # Rare (the hot path leaves ids empty): rebuild with the cause named.
            out = [_named(i, event.stimulus_id) for i in out]
        return out

    def in_flight(self, node: str) -> int:
        """Tasks of ours placed on ``node`` now (hedge copies and batch items included)."""
        ids = self._by_node.get(node)
        return (len(ids) if ids else 0) + self._batch_load.get(node, 0)

    def serving(self, task: str) -> int:
        """How many nodes could take a task called ``task`` now (placeable, serving it)."""
        probe = OwnedTask(0, task, [], 0, None, "edge", None, 0.0)
        return len(self._eligible(probe))

    def get(self, task_id: int) -> OwnedTask | None:
        """The owned task with this id, None once settled."""
        return self.tasks.get(task_id)

    def __len__(self) -> int:
        return len(self.tasks) + len(self._batch_of)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self.tasks or task_id in self._batch_of

    def statistics(self) -> OwnershipStats:
        return OwnershipStats(
            pending=len(self),
            completed_local=self._completed_local,
            completed_edge=self._completed_edge,
            failed=self._failed,
            resubmitted=self._resubmitted,
            duplicates_dropped=self._duplicates,
            hedges=self._hedges,
            hedge_wins=self._hedge_wins,
            input_bytes_saved=self._input_bytes_saved,
            inputs_resent=self._inputs_resent,
            inputs_hashed=self._inputs_hashed,
            inputs_held=self._inputs_held,
            fallbacks=self._fallbacks,
        )

    # -- the caller's events ----------------------------------------------------------------

    def _submitted(self, ev: Submitted, now: float, out: list[Instruction]) -> None:
        """A new task: arm its deadline (a node never starts it after that either: the
        submit carries what is left as a budget), then place it."""
        deadline_at = None if ev.deadline_s is None else now + ev.deadline_s
        t = OwnedTask(ev.id, ev.task, ev.args, ev.priority, deadline_at, ev.where, ev.spec, now)
        self.tasks[t.id] = t
        if deadline_at is not None:
            t.deadline_armed = True
            out.append(ArmTimer(Timer(TimerKind.DEADLINE, t.id), deadline_at))
        self._place(t, now, out)

    def _cancel(self, ev: CancelRequested, now: float, out: list[Instruction]) -> None:
        """The caller gave up: tell the nodes running it, fail it as cancelled."""
        t = self.tasks.get(ev.task_id)
        if t is None:
            b = self._batch_of.get(ev.task_id)
            if b is None:
                return
            t = self._split(b, ev.task_id - b.first_id, now, out)
        self._cancel_copies(t, out)
        self._fail(t, task_error(ErrorCode.CANCELLED, t.id, "cancelled by the caller"), now, out)
        t.state = TaskState.CANCELLED

    def _closing(self, ev: Closing, now: float, out: list[Instruction]) -> None:
        """Every task ends as cancelled. The nodes are not told: their connections
        close next, which drops the tasks' results anyway."""
        for t in list(self.tasks.values()):
            self._fail(t, task_error(ErrorCode.CANCELLED, t.id, "client closed"), now, out)
            t.state = TaskState.CANCELLED
        for task_id, b in list(self._batch_of.items()):
            exc = task_error(ErrorCode.CANCELLED, task_id, "client closed")
            self._item_done(b, task_id - b.first_id, None, exc, now, out)
        if self._park_armed:
            self._park_armed = False
            out.append(CancelTimer(Timer(TimerKind.PARK)))

    # -- placement ----------------------------------------------------------------------------

    def _place(self, t: OwnedTask, now: float, out: list[Instruction]) -> None:
        """Send the task somewhere, or hold it until a node can take it.

        ``where="auto"``, first placement, runnable here and there: it joins this
        turn's decision; a task placed again (refused, its node lost) skips it, since
        the engine already chose the edge for it and a node can still take it.
        """
        if t.where == "local":
            self._run_local(t, now, out)
            return
        if t.attempts and t.can_run_locally and t.attempts + 1 >= self._attempt_limit(t):
            # The last placement its limit allows, for a task that may run here: here,
            # where no lost node or refusal can use it up (nodes declared dead again
            # and again once failed a frame that could have run on the device).
            self._run_local(t, now, out)
            return
        eligible = self._eligible(t)
        if not eligible:
            self._no_node(t, now, out)
            return
        if t.where == "auto" and t.spec is not None and t.attempts == 0:
            t.state = TaskState.DECIDING
            self._undecided.append(t)
            if len(self._undecided) == 1:  # the first of the turn asks for the decision
                out.append(ArmTimer(Timer(TimerKind.DECIDE), now))
            return
        # NOTE: one candidate needs no policy (the common single-node case skips a call).
        node = eligible[0] if len(eligible) == 1 else self._pick(t, eligible)
        self._send_to(t, node, now, out)

    def _no_node(self, t: OwnedTask, now: float, out: list[Instruction]) -> None:
        """No node can take the task now: run it here, fail it, or wait for a node.

        Nodes are up but none serves the task: waiting would not help, so it fails with
        what they do serve (most often a typo or a node started without the module).
        """
        if t.can_run_locally:
            self._run_local(t, now, out)
        elif any(n.accepting for n in self.nodes.values()):
            served = sorted({name for n in self.nodes.values() for name in n.tasks})
            message = f"no connected node serves task {t.task!r} (they serve: {', '.join(served)})"
            self._fail(t, task_error(ErrorCode.UNKNOWN_TASK, t.id, message), now, out)
        else:
            self._park(t, now, out)

    def _eligible(self, t: OwnedTask) -> list[str]:
        """Nodes that may take the task now: placeable, serving it, carrying its
        required labels, and not among those that refused it. When every node refused
        it once, they are all tried again (a refusal means "not now").

        The placeable nodes serving each task name are cached until a node event
        changes them (load reports do not): most tasks have no labels and no refusals,
        and this runs once per placement. The list returned must not be changed.
        """
        serving = self._serving.get(t.task)
        if serving is None:
            serving = self._serving[t.task] = [
                n.node_id for n in self.nodes.values() if n.placeable and t.task in n.tasks
            ]
        excluded = t.excluded
        requires = t.spec.requires if t.spec is not None else None
        if not excluded and not requires:
            return serving
        nodes = self.nodes
        eligible = [
            node
            for node in serving
            if (not excluded or node not in excluded)
            and (not requires or nodes[node].has_labels(requires))
        ]
        if not eligible and excluded:
            excluded.clear()
            return self._eligible(t)
        return eligible

    def _pick(self, t: OwnedTask, eligible: list[str]) -> str:
        """The placement policy's choice among ``eligible`` (non-empty). One candidate
        needs no policy; a policy answering a node not offered gets the first."""
        if len(eligible) == 1:
            return eligible[0]
        nodes = self.nodes
        candidates = []
        for node_id in eligible:
            n = nodes[node_id]
            candidates.append(
                Candidate(
                    node_id,
                    self.in_flight(node_id),
                    n.rtt_s,
                    n.queued,
                    n.running,
                    max(1, n.workers),
                    n.speed_hz,
                )
            )
        chosen = self.placement.choose(candidates, self._task_cost(t))
        return chosen if chosen is not None and chosen in eligible else eligible[0]

    def _task_cost(self, t: OwnedTask) -> TaskCost:
        """What latency-aware placement weighs; evaluating hints costs, so only for it."""
        if not self._cost_aware:
            return _NO_COST
        observed = self.latency.mean_s(t.task)
        if t.spec is None:
            return TaskCost(observed_run_s=observed)
        h = t.spec.hints(t.args)
        return TaskCost(h.cpu_cycles, h.input_bytes, h.output_bytes, observed)

    def _send_to(self, t: OwnedTask, node: str, now: float, out: list[Instruction]) -> None:
        """Place the task on ``node`` and send it; an idempotent task of known latency
        gets a hedge timer at its p95 (Dean and Barroso, "The Tail at Scale", 2013:
        hedging after the p95 costs about 5 % more requests for a much shorter tail)."""
        if not self._placed(t, node):
            self._give_up(t, now, out)
            return
        t.state = TaskState.SENT
        t.sent_at = now
        # NOTE: _submit_for inlined (once per task); its docstring says why these fields.
        deadline_at = t.deadline_at
        budget = None if deadline_at is None else max(0.0, (deadline_at - now) * 1000.0)
        if self._input_refs is None:
            submit = Submit(t.id, t.task, t.args, t.priority, budget, max(0, t.attempts - 1))
        else:
            args, refs = self._args_for(t, node)
            submit = Submit(t.id, t.task, args, t.priority, budget, max(0, t.attempts - 1), refs)
        out.append(SendToNode(node, submit))
        if self.hedge and t.spec is not None and t.spec.idempotent:
            p95 = self.latency.p95_s(t.task)
            if p95 is not None:
                t.hedge_armed = True
                out.append(ArmTimer(Timer(TimerKind.HEDGE, t.id), now + p95))

    def _args_for(self, t: OwnedTask, node: str) -> tuple[list[Any], dict[int, bytes] | None]:
        """The arguments and references of ``t``'s submit to ``node``: each large
        argument with its digest, and without its bytes (None in its place) when the
        node should hold them. Digests are computed once per task, at its first send to
        a node with a cache (a task run here never pays for them)."""
        info = self.nodes.get(node)
        if info is None or info.cache_bytes <= 0:
            return t.args, None
        refs = t.refs
        if refs is None:
            assert self._input_refs is not None
            refs = t.refs = self._input_refs(t.args) or {}
        if not refs:
            return t.args, None
        known = info.inputs
        held = [] if t.inline_inputs else [i for i, (d, _) in refs.items() if d in known]
        args = t.args
        saved = 0
        if held:
            args = list(args)
            for i in held:
                args[i] = None
                d, size = refs[i]
                known.move_to_end(d)
                saved += size
        t.refs_saved, t.refs_held = saved, len(held)
        self._input_bytes_saved += saved
        self._inputs_hashed += len(refs)
        self._inputs_held += len(held)
        for i, (d, size) in refs.items():
            if i not in held:
                self._sent_input(info, d, size)
        return args, {i: d for i, (d, _) in refs.items()}

    def _sent_input(self, info: NodeInfo, digest: bytes, size: int) -> None:
        """The node is sent these bytes (it keeps them if they fit its cache): remember
        them as its newest, forgetting the oldest past its budget, as its LRU does."""
        known = info.inputs
        old = known.pop(digest, None)
        if old is not None:
            info.inputs_bytes -= old
        known[digest] = size
        info.inputs_bytes += size
        while known and (info.inputs_bytes > info.cache_bytes or len(known) > MAX_KNOWN_INPUTS):
            _, dropped = known.popitem(last=False)
            info.inputs_bytes -= dropped

    def _resend_inputs(self, t: OwnedTask, node: str, now: float, out: list[Instruction]) -> None:
        """``node`` lacks some of the task's inputs (``need_input``): send the task there
        again with all its bytes. Not a placement (the node ran nothing; the attempt
        count and the deadline stay); a node that is no longer placeable refuses it,
        so the task is placed again instead (or, for a hedge copy, the copy ends)."""
        info = self.nodes.get(node)
        if info is None or not info.placeable:
            if t.hedge is not None:
                self._drop_copy(t, node)
                return
            self._unplace(t)
            self._place(t, now, out)
            return
        self._inputs_resent += 1
        t.inline_inputs = True
        assert t.refs
        self._input_bytes_saved -= t.refs_saved  # they were not saved after all
        self._inputs_held -= t.refs_held
        for d, _ in t.refs.values():
            old = info.inputs.pop(d, None)
            if old is not None:
                info.inputs_bytes -= old
        args, refs = self._args_for(t, node)
        budget = None if t.deadline_at is None else max(0.0, (t.deadline_at - now) * 1000.0)
        submit = Submit(t.id, t.task, args, t.priority, budget, max(0, t.attempts - 1), refs)
        out.append(SendToNode(node, submit, hedge=node == t.hedge))

    def _placed(self, t: OwnedTask, node: str) -> bool:
        """Count a placement on ``node`` (or LOCAL); False once attempts are used up
        (the task's own ``@task(max_attempts=...)`` if it has one, else the client's)."""
        if t.attempts >= self._attempt_limit(t):
            return False
        t.attempts += 1
        if t.attempts > 1:
            self._resubmitted += 1
        by_node = self._by_node
        if t.node is not None:
            self._unindex(t.node, t.id)
        t.node = node
        # NOTE: _index inlined (the hot path places every task once).
        ids = by_node.get(node)
        if ids is None:
            ids = by_node[node] = set()
        ids.add(t.id)
        return True

    def _attempt_limit(self, t: OwnedTask) -> int:
        """Placements allowed without a result: the task's own ``max_attempts`` if it
        has one, else the client's."""
        spec = t.spec
        if spec is None or spec.max_attempts is None:
            return self.max_attempts
        return spec.max_attempts

    def _run_local(self, t: OwnedTask, now: float, out: list[Instruction]) -> None:
        """Run the task here, checking its arguments first (a node would refuse them
        the same way, with ``bad_args``)."""
        spec = t.spec
        if spec is None:
            error = NoNodeAvailable(f"task {t.task!r} is not registered locally and where='local'")
            self._fail(t, error, now, out)
            return
        if not self._placed(t, LOCAL):
            self._give_up(t, now, out)
            return
        try:
            args = spec.check_args(t.args)
        except TypeError as exc:
            self._fail(t, task_error(ErrorCode.BAD_ARGS, t.id, str(exc)), now, out)
            return
        t.state = TaskState.RUNNING_LOCALLY
        t.sent_at = now
        out.append(StartLocalRun(t.id, spec, args))

    def _park(self, t: OwnedTask, now: float, out: list[Instruction]) -> None:
        """Hold the task until a node can take it, for ``wait_for_node_s``. One timer
        serves every parked task: they wait for the same thing, and a burst of tasks
        during a reconnect would otherwise arm a timer each."""
        t.node = None
        if self._refused is not None:
            self._fail(t, Unauthorized(None, self._refused), now, out)
            return
        t.state = TaskState.PARKED
        t.parked_at = now
        self._parked.append(t)
        if not self._park_armed:
            self._park_armed = True
            out.append(ArmTimer(Timer(TimerKind.PARK), now + self.wait_for_node_s))

    def _unpark(self, now: float, out: list[Instruction]) -> None:
        """A node may take work again: place every parked task (those that find none
        park again, under a fresh timer)."""
        parked, self._parked = self._parked, []
        if self._park_armed:
            self._park_armed = False
            out.append(CancelTimer(Timer(TimerKind.PARK)))
        for t in parked:
            if t.state is TaskState.PARKED and self.tasks.get(t.id) is t:
                self._place(t, now, out)

    # -- answers ------------------------------------------------------------------------------

    def _result(self, ev: ResultReceived, now: float, out: list[Instruction]) -> None:
        """A value from a node: delivered only if the task is placed there now (fencing);
        for a hedged task either copy's node counts, the first wins, the other copy is
        cancelled."""
        self._value(ev.node_id, ev.result, now, out)

    def _value(self, node: str, result: Result, now: float, out: list[Instruction]) -> None:
        """:meth:`_result` without the event object (a frame of answers calls it)."""
        t = self.tasks.get(result.id)
        if t is None or (t.node != node and t.hedge != node):
            b = self._batch_of.get(result.id) if t is None else None
            if b is not None and b.node == node:
                self._completed_edge += 1
                self._item_done(b, result.id - b.first_id, result.value, None, now, out)
            else:
                self._duplicates += 1
            return
        other = None
        if t.hedge is not None:
            other = t.hedge if node == t.node else t.node
            if node == t.hedge:
                self._hedge_wins += 1
        sent_at = t.sent_at if t.sent_at is not None else now
        latency = now - sent_at
        if self._track_latency:
            self.latency.add(t.task, latency)
        if other is not None:
            out.append(CancelCopy(other, t.id))
        self._completed_edge += 1
        run_s = result.run_ms / 1000.0
        t.run_s, t.queue_s = run_s, result.queue_ms / 1000.0
        t.cached = result.cached
        self._settle(t, TaskState.DONE, result.value, None, node, now, out, run_s, latency)

    def _results(self, ev: ResultsReceived, now: float, out: list[Instruction]) -> None:
        """A frame of answers: each as its own event would be, except that a value for
        an item still in its batch goes straight into the batch's vector.

        NOTE: that shortcut is the throughput path of a batched map (one call per
        answer instead of an event object and a dispatch each).
        """
        node = ev.node_id
        batch_of = self._batch_of
        for item in ev.items:
            if isinstance(item, Result):
                b = batch_of.get(item.id)
                if b is not None and b.node == node:
                    self._completed_edge += 1
                    self._item_done(b, item.id - b.first_id, item.value, None, now, out)
                else:
                    self._value(node, item, now, out)
            else:
                self._error(ErrorReceived(node, item), now, out)

    def _error(self, ev: ErrorReceived, now: float, out: list[Instruction]) -> None:
        """A refusal or a failure from a node, fenced like a result.

        - One copy of a hedged task ended without a value: the other copy becomes the
          task's only placement (the bug of issue 11 was to do this behind the per-node
          index).
        - A refusal: the task avoids that node and is placed again; when that node is
          the only one known and gave a retry hint, it is honoured rather than hammering
          the node with the same task.
        - Anything else is the task's own failure: delivered.
        """
        error = ev.error
        node = ev.node_id
        code = error.code
        t = self.tasks.get(error.id) if error.id is not None else None
        if t is None and error.id is not None:
            b = self._batch_of.get(error.id)
            if b is not None and b.node == node:
                if code not in RETRYABLE:  # the item's own failure: into the vector
                    exc = task_error(
                        code,
                        error.id,
                        error.message,
                        exc_type=error.exc_type,
                        retry_after_s=error.retry_after_s,
                    )
                    self._item_done(b, error.id - b.first_id, None, exc, now, out)
                    return
                t = self._split(b, error.id - b.first_id, now, out)  # refused: its own rules
        if t is None or (t.node != node and t.hedge != node):
            if code not in RETRYABLE and code is not ErrorCode.NEED_INPUT:
                self._duplicates += 1
            return
        if code is ErrorCode.NEED_INPUT and t.refs and not t.inline_inputs:
            self._resend_inputs(t, node, now, out)
            return
        if t.hedge is not None:
            self._drop_copy(t, node)
            return
        if code in RETRYABLE:
            self._unplace(t)
            if t.excluded is None:
                t.excluded = set()
            t.excluded.add(node)
            retry = error.retry_after_s or 0.0
            if code is ErrorCode.OVERLOADED and retry > 0 and len(self.nodes) == 1:
                t.state = TaskState.RETRYING
                out.append(ArmTimer(Timer(TimerKind.RETRY, t.id), now + retry))
            else:
                self._place(t, now, out)
            return
        exc = task_error(
            code, t.id, error.message, exc_type=error.exc_type, retry_after_s=error.retry_after_s
        )
        self._settle(t, TaskState.FAILED, None, exc, node, now, out)

    def _unsendable(self, ev: Unsendable, now: float, out: list[Instruction]) -> None:
        """The task could not be encoded for the node. An auto task can still run here;
        any other fails (with the frame limit it broke, or as bad arguments). A hedge
        copy that cannot go leaves the first copy running."""
        t = self.tasks.get(ev.task_id)
        node = ev.node_id
        if t is None:
            b = self._batch_of.get(ev.task_id)
            if b is not None and b.node == node:
                t = self._split(b, ev.task_id - b.first_id, now, out)
        if t is None or (t.node != node and t.hedge != node):
            return
        if t.hedge is not None:
            self._drop_copy(t, node)
            return
        if t.where == "auto" and t.spec is not None:
            self._unplace(t)
            self._run_local(t, now, out)
            return
        exc = ev.exc
        if not isinstance(exc, FrameTooLarge):
            exc = task_error(ErrorCode.BAD_ARGS, t.id, f"arguments cannot be sent: {exc}")
        self._settle(t, TaskState.FAILED, None, exc, None, now, out)

    def _local_done(self, ev: LocalDone, now: float, out: list[Instruction]) -> None:
        """A local run ended; dropped if the task ended meanwhile (deadline, cancel)."""
        t = self.tasks.get(ev.task_id)
        if t is None or t.node != LOCAL:
            self._duplicates += 1
            return
        latency = now - (t.sent_at if t.sent_at is not None else now)
        t.run_s = ev.run_s
        if ev.ok:
            self._completed_local += 1
            self._settle(t, TaskState.DONE, ev.value, None, LOCAL, now, out, ev.run_s, latency)
            return
        exc_type, message = ev.value
        exc = task_error(ErrorCode.TASK_FAILED, t.id, message, exc_type=exc_type)
        self._settle(t, TaskState.FAILED, None, exc, LOCAL, now, out, ev.run_s, latency)

    def _decided(self, ev: Decided, now: float, out: list[Instruction]) -> None:
        """The engine chose for a group: each task still waiting goes where it says
        (an offloaded one with a budget also gets its fallback timer)."""
        budgets = dict(ev.fallback_s) if ev.fallback_s else None
        for task_id, target, choice in ev.choices:
            t = self.tasks.get(task_id)
            if t is None or t.state is not TaskState.DECIDING:
                continue  # cancelled or past its deadline meanwhile
            t.choice = choice
            if target == LOCAL:
                self._run_local(t, now, out)
                continue
            self._send_to(t, target, now, out)
            budget = None if budgets is None else budgets.get(task_id)
            if budget is not None:
                self._arm_fallback(t, budget, now, out)

    def _arm_fallback(
        self, t: OwnedTask, budget: float, now: float, out: list[Instruction]
    ) -> None:
        """The fallback timer of a task just sent (not one the send failed, nor one
        that cannot run here: it would have nothing to fall back to)."""
        if t.state is TaskState.SENT and t.can_run_locally:
            t.fallback_s = budget
            t.fallback_armed = True
            out.append(ArmTimer(Timer(TimerKind.FALLBACK, t.id), now + budget))

    # -- timers -------------------------------------------------------------------------------

    def _timer(self, ev: TimerFired, now: float, out: list[Instruction]) -> None:
        """Route a timer to its rule. A timer of a task that has ended does nothing:
        the executor may fire one it was told to cancel in the same loop turn."""
        kind, task_id = ev.timer
        if kind is TimerKind.DECIDE:
            self._decide(now, out)
        elif kind is TimerKind.BATCH_DEADLINE:
            self._batch_deadline(task_id, now, out)
        elif kind is TimerKind.PARK:
            self._park_expired(now, out)
        else:
            t = self.tasks.get(task_id)
            if t is None:
                return
            if kind is TimerKind.DEADLINE:
                t.deadline_armed = False
                self._cancel_copies(t, out)
                self._fail(t, DeadlineExceeded(t.id, "no result before the deadline"), now, out)
            elif kind is TimerKind.HEDGE:
                t.hedge_armed = False
                self._hedge_now(t, now, out)
            elif kind is TimerKind.FALLBACK:
                t.fallback_armed = False
                self._fall_back(t, now, out)
            elif t.state is TaskState.RETRYING:
                self._place(t, now, out)

    def _decide(self, now: float, out: list[Instruction]) -> None:
        """End of the turn: one :class:`Decide` per task name of the turn's auto tasks
        still waiting (a group whose nodes all went meanwhile goes the no-node way)."""
        undecided, self._undecided = self._undecided, []
        groups: dict[str, list[OwnedTask]] = {}
        for t in undecided:
            if t.state is TaskState.DECIDING and self.tasks.get(t.id) is t:
                groups.setdefault(t.task, []).append(t)
        if not groups:
            return
        local = self.in_flight(LOCAL)
        for group in groups.values():
            eligible = self._eligible(group[0])
            if not eligible:
                for t in group:
                    self._no_node(t, now, out)
                continue
            in_flight = tuple(self.in_flight(n) for n in eligible)
            out.append(Decide(tuple(group), tuple(eligible), in_flight, local))

    def _fall_back(self, t: OwnedTask, now: float, out: list[Instruction]) -> None:
        """The budget passed without a result: leave the node(s), run here. Only a task
        still waiting on the edge side (sent, or refused and waiting to retry, or parked);
        one already running here has nothing to fall back to."""
        if t.state not in (TaskState.SENT, TaskState.RETRYING, TaskState.PARKED):
            return
        if t.state is TaskState.RETRYING:
            out.append(CancelTimer(Timer(TimerKind.RETRY, t.id)))
        self._cancel_copies(t, out)
        if t.hedge is not None:
            self._unindex(t.hedge, t.id)
            t.hedge = None
        if t.hedge_armed:
            t.hedge_armed = False
            out.append(CancelTimer(Timer(TimerKind.HEDGE, t.id)))
        self._fallbacks += 1
        # _run_local moves the task's index entry from its node to LOCAL (_placed), so
        # a late result from the node is fenced off from here on.
        self._run_local(t, now, out)

    def _hedge_now(self, t: OwnedTask, now: float, out: list[Instruction]) -> None:
        """The task is slower than its p95: a second copy on another node, if any."""
        if t.state is not TaskState.SENT or t.node in (None, LOCAL) or t.hedge is not None:
            return
        others = [n for n in self._eligible(t) if n != t.node]
        if not others:
            return
        node = self._pick(t, others)
        t.hedge = node
        self._index(node, t.id)
        self._hedges += 1
        out.append(SendToNode(node, _submit_for(t, now), hedge=True))

    def _park_expired(self, now: float, out: list[Instruction]) -> None:
        """No node came in time: every task still parked fails."""
        self._park_armed = False
        parked, self._parked = self._parked, []
        why = "; ".join(f"{url}: {reason}" for url, reason in self._unreachable.items())
        for t in parked:
            if t.state is TaskState.PARKED and self.tasks.get(t.id) is t:
                waited = now - (t.parked_at if t.parked_at is not None else t.created_at)
                message = f"no node could take task {t.task!r} within {waited:.1f} s"
                self._fail(t, NoNodeAvailable(f"{message} ({why})" if why else message), now, out)

    # -- nodes --------------------------------------------------------------------------------

    def _node(self, node_id: str) -> NodeInfo:
        """The node's record, made on first mention; the caller changes it, so the
        cache of placeable nodes is dropped (load reports use :attr:`nodes` directly)."""
        self._serving.clear()
        n = self.nodes.get(node_id)
        if n is None:
            n = self.nodes[node_id] = NodeInfo(node_id)
        return n

    def _node_unreachable(self, ev: NodeUnreachable, now: float, out: list[Instruction]) -> None:
        """Remember why ``ev.url`` could not be reached; if every node refused our token,
        fail the waiting tasks now, and new ones at once, with that refusal."""
        self._unreachable[ev.url] = ev.reason
        if not ev.everywhere:
            return
        self._refused = f"{ev.url}: {ev.reason}"
        parked, self._parked = self._parked, []
        if self._park_armed:
            self._park_armed = False
            out.append(CancelTimer(Timer(TimerKind.PARK)))
        for t in parked:
            if t.state is TaskState.PARKED and self.tasks.get(t.id) is t:
                self._fail(t, Unauthorized(None, self._refused), now, out)

    def _reached(self, ev: Reached, now: float, out: list[Instruction]) -> None:
        self._unreachable.pop(ev.url, None)

    def _node_up(self, ev: NodeUp, now: float, out: list[Instruction]) -> None:
        """A node joined (or came back): parked tasks try again."""
        self._unreachable.pop(ev.url, None)
        self._refused = None
        n = self._node(ev.node_id)
        n.tasks, n.labels, n.workers = ev.tasks, dict(ev.labels), ev.workers
        n.connected = n.accepting = True
        # Its digests are kept over a reconnect (the same process most often); a
        # restarted node answers need_input for what it lost.
        n.cache_bytes = ev.cache_bytes
        if n.inputs_bytes > n.cache_bytes:
            n.inputs.clear()
            n.inputs_bytes = 0
        if self._parked:
            self._unpark(now, out)

    def _node_down(self, ev: NodeDown, now: float, out: list[Instruction]) -> None:
        """A node is lost: each task on it is placed again, oldest first, unless its
        hedge copy still runs elsewhere (that copy becomes its placement). A late answer
        from the node is dropped by fencing, since no task is placed there any more."""
        n = self._node(ev.node_id)
        n.connected = n.accepting = False
        ids = self._by_node.pop(ev.node_id, None) or set()
        lost = self._split_batches_on(ev.node_id, now, out)
        if not ids and not lost:
            return
        for i in sorted(ids):
            t = self.tasks.get(i)
            if t is None:
                continue
            if t.hedge == ev.node_id:
                t.hedge = None
            elif t.hedge is not None:
                t.node, t.hedge = t.hedge, None
            else:
                t.node = None
                lost.append(t)
        lost.sort(key=_task_id)
        if lost:
            out.append(Resubmitting(ev.node_id, ev.reason, len(lost)))
        for t in lost:
            self._place(t, now, out)

    def _node_draining(self, ev: NodeDraining, now: float, out: list[Instruction]) -> None:
        """No new tasks there; those it holds finish (or come back refused)."""
        self._node(ev.node_id).accepting = False

    def _node_resumed(self, ev: NodeResumed, now: float, out: list[Instruction]) -> None:
        n = self._node(ev.node_id)
        n.accepting = n.connected
        if self._parked:
            self._unpark(now, out)

    def _node_load(self, ev: NodeLoad, now: float, out: list[Instruction]) -> None:
        n = self.nodes.get(ev.node_id)
        if n is None:
            return
        n.rtt_s, n.queued, n.running, n.workers = ev.rtt_s, ev.queued, ev.running, ev.workers

    def _node_listed(self, ev: NodeListed, now: float, out: list[Instruction]) -> None:
        """The controller's word on a node: it decides placeability with the link."""
        n = self._node(ev.node_id)
        n.listed = True
        n.alive, n.draining, n.speed_hz = ev.alive, ev.draining, ev.speed_hz
        n.table_labels = dict(ev.labels)
        if ev.back and self._parked:
            self._unpark(now, out)

    # -- bookkeeping --------------------------------------------------------------------------

    def _index(self, node: str, task_id: int) -> None:
        ids = self._by_node.get(node)
        if ids is None:
            ids = self._by_node[node] = set()
        ids.add(task_id)

    def _unindex(self, node: str, task_id: int) -> None:
        ids = self._by_node.get(node)
        if ids is not None:
            ids.discard(task_id)

    def _unplace(self, t: OwnedTask) -> None:
        """The task left its node (refused there); it waits for a new placement."""
        if t.node is not None:
            self._unindex(t.node, t.id)
            t.node = None

    def _drop_copy(self, t: OwnedTask, node: str) -> None:
        """One copy of a hedged task ended without a value on ``node``: the other copy
        becomes the only placement, in the task and in the per-node index alike."""
        self._unindex(node, t.id)
        if node == t.hedge:
            t.hedge = None
        else:
            t.node, t.hedge = t.hedge, None

    def _cancel_copies(self, t: OwnedTask, out: list[Instruction]) -> None:
        """Tell the nodes running the task (both copies, if hedged) to drop it."""
        for node in (t.node, t.hedge):
            if node is not None and node != LOCAL:
                out.append(CancelCopy(node, t.id))

    def _give_up(self, t: OwnedTask, now: float, out: list[Instruction]) -> None:
        """Attempts used up: fail with ``overloaded``, the usual reason for refusals."""
        message = f"task {t.task!r} was placed {t.attempts} times without a result"
        self._fail(t, task_error(ErrorCode.OVERLOADED, t.id, message), now, out)

    def _fail(self, t: OwnedTask, exc: BaseException, now: float, out: list[Instruction]) -> None:
        self._settle(t, TaskState.FAILED, None, exc, t.node, now, out)

    def _settle(
        self,
        t: OwnedTask,
        state: TaskState,
        value: Any,
        error: BaseException | None,
        node: str | None,
        now: float,
        out: list[Instruction],
        run_s: float | None = None,
        latency_s: float | None = None,
    ) -> None:
        """The one outcome: forget the task, cancel its armed timers, deliver."""
        del self.tasks[t.id]
        # NOTE: _unindex inlined (every task settles once).
        by_node = self._by_node
        if t.node is not None and (ids := by_node.get(t.node)) is not None:
            ids.discard(t.id)
        if t.hedge is not None:
            self._unindex(t.hedge, t.id)
            t.hedge = None
        if node is not None:
            t.node = node
        if t.deadline_armed or t.hedge_armed or t.fallback_armed or t.state is TaskState.RETRYING:
            _cancel_timers_of(t, out)
        t.state = state
        t.settled_at = now
        if error is not None:
            self._failed += 1
        if t.batch is not None:
            self._item_done(t.batch, t.id - t.batch.first_id, value, error, now, out)
            return
        out.append(Deliver(t.id, value, error, node, run_s, latency_s, t.choice, t))

    # -- batch records ------------------------------------------------------------------------

    def _batch_submitted(self, ev: BatchSubmitted, now: float, out: list[Instruction]) -> None:
        """A batch: one record, one deadline timer, then one placement for all items."""
        n = len(ev.args)
        deadline_at = None if ev.deadline_s is None else now + ev.deadline_s
        b = OwnedBatch(
            ev.first_id, ev.task, ev.args, ev.priority, deadline_at, ev.where, ev.spec, now
        )
        b.items = bytearray(b"\x01" * n)
        b.remaining = n
        b.values = [None] * n
        b.errors = [None] * n
        self.batches[b.first_id] = b
        batch_of = self._batch_of
        for task_id in range(b.first_id, b.first_id + n):
            batch_of[task_id] = b
        if deadline_at is not None:
            b.deadline_armed = True
            out.append(ArmTimer(Timer(TimerKind.BATCH_DEADLINE, b.first_id), deadline_at))
        serving = self._serving.get(b.task)
        if serving is None:
            probe = OwnedTask(b.first_id, b.task, [], 0, None, b.where, None, now)
            serving = self._eligible(probe)
        if not serving:
            # No node now: each item takes the per-task way (park, local, or fail).
            for i in range(n):
                self._place(self._split(b, i, now, out), now, out)
            return
        node = serving[0] if len(serving) == 1 else self._pick_batch(b, serving)
        self._send_batch(b, node, now, out)

    def _pick_batch(self, b: OwnedBatch, eligible: list[str]) -> str:
        """The placement policy's choice for the whole batch (no per-task cost: the
        executor batches only when the policy does not weigh one)."""
        nodes = self.nodes
        candidates = [
            Candidate(
                node_id,
                self.in_flight(node_id),
                nodes[node_id].rtt_s,
                nodes[node_id].queued,
                nodes[node_id].running,
                max(1, nodes[node_id].workers),
                nodes[node_id].speed_hz,
            )
            for node_id in eligible
        ]
        chosen = self.placement.choose(candidates, _NO_COST)
        return chosen if chosen is not None and chosen in eligible else eligible[0]

    def _send_batch(self, b: OwnedBatch, node: str, now: float, out: list[Instruction]) -> None:
        """Place every item still in the batch on ``node``, in one instruction."""
        b.node, b.sent_at = node, now
        b.attempts += 1
        budget = None if b.deadline_at is None else max(0.0, (b.deadline_at - now) * 1000.0)
        attempt = b.attempts - 1
        first, task, args, priority = b.first_id, b.task, b.args, b.priority
        submits = [
            Submit(first + i, task, args[i], priority, budget, attempt)
            for i, state in enumerate(b.items)
            if state == _IN_BATCH
        ]
        b.on_node = len(submits)
        self._batch_load[node] = self._batch_load.get(node, 0) + b.on_node
        on = self._batches_on.get(node)
        if on is None:
            on = self._batches_on[node] = set()
        on.add(first)
        out.append(SendBatchToNode(node, submits))

    def _split(self, b: OwnedBatch, i: int, now: float, out: list[Instruction]) -> OwnedTask:
        """Item ``i`` leaves the batch for a task record of its own (same id, same
        placement and attempts, its own deadline timer), to follow the per-task rules."""
        task_id = b.first_id + i
        t = OwnedTask(
            task_id, b.task, b.args[i], b.priority, b.deadline_at, b.where, b.spec, b.created_at
        )
        t.attempts, t.batch, t.sent_at = b.attempts, b, b.sent_at
        t.state = TaskState.SENT if b.node is not None else TaskState.NEW
        b.items[i] = _SPLIT
        del self._batch_of[task_id]
        self.tasks[task_id] = t
        if b.node is not None:
            self._leave_node(b, 1)
            t.node = b.node
            self._index(b.node, task_id)
        if b.deadline_at is not None:
            t.deadline_armed = True
            out.append(ArmTimer(Timer(TimerKind.DEADLINE, task_id), b.deadline_at))
        return t

    def _leave_node(self, b: OwnedBatch, count: int) -> None:
        """``count`` items of ``b`` are no longer on its node as part of the batch."""
        node = b.node
        assert node is not None
        b.on_node -= count
        self._batch_load[node] -= count
        if not b.on_node:
            on = self._batches_on.get(node)
            if on is not None:
                on.discard(b.first_id)

    def _split_batches_on(self, node: str, now: float, out: list[Instruction]) -> list[OwnedTask]:
        """A node is lost: the items its batches still held become tasks to place again."""
        lost: list[OwnedTask] = []
        for first in sorted(self._batches_on.pop(node, ())):
            b = self.batches[first]
            for i, state in enumerate(b.items):
                if state == _IN_BATCH:
                    t = self._split(b, i, now, out)
                    self._unplace(t)
                    lost.append(t)
            b.node = None
        self._batch_load.pop(node, None)
        return lost

    def _item_done(
        self,
        b: OwnedBatch,
        i: int,
        value: Any,
        error: BaseException | None,
        now: float,
        out: list[Instruction],
    ) -> None:
        """One item's outcome into the vector; the last one delivers the batch."""
        if b.items[i] == _IN_BATCH:  # (a split item was counted as a task)
            del self._batch_of[b.first_id + i]
            self._leave_node(b, 1)
            if error is not None:
                self._failed += 1
        b.items[i] = _DONE
        b.values[i], b.errors[i] = value, error
        b.remaining -= 1
        if b.remaining:
            return
        del self.batches[b.first_id]
        if b.deadline_armed:
            b.deadline_armed = False
            out.append(CancelTimer(Timer(TimerKind.BATCH_DEADLINE, b.first_id)))
        out.append(DeliverBatch(b.first_id, b.values, b.errors))

    def _batch_deadline(self, first: int, now: float, out: list[Instruction]) -> None:
        """The batch's deadline passed: its items still in it fail (and are cancelled
        on the node); split items fail by their own timers."""
        b = self.batches.get(first)
        if b is None:
            return
        b.deadline_armed = False
        for i, state in enumerate(b.items):
            if state == _IN_BATCH:
                if b.node is not None:
                    out.append(CancelCopy(b.node, first + i))
                exc = DeadlineExceeded(first + i, "no result before the deadline")
                self._item_done(b, i, None, exc, now, out)


def _task_id(t: OwnedTask) -> int:
    return t.id


def _cancel_timers_of(t: OwnedTask, out: list[Instruction]) -> None:
    """Cancel the task's armed timers (it settles: none of them may fire for it)."""
    if t.deadline_armed:
        t.deadline_armed = False
        out.append(CancelTimer(Timer(TimerKind.DEADLINE, t.id)))
    if t.hedge_armed:
        t.hedge_armed = False
        out.append(CancelTimer(Timer(TimerKind.HEDGE, t.id)))
    if t.fallback_armed:
        t.fallback_armed = False
        out.append(CancelTimer(Timer(TimerKind.FALLBACK, t.id)))
    if t.state is TaskState.RETRYING:
        out.append(CancelTimer(Timer(TimerKind.RETRY, t.id)))


def _submit_for(t: OwnedTask, now: float) -> Submit:
    """The frame for ``t``: its remaining deadline as a budget (so a node never starts
    it late), and its attempt number (so the node's log tells a retry)."""
    budget = None if t.deadline_at is None else max(0.0, (t.deadline_at - now) * 1000.0)
    return Submit(t.id, t.task, t.args, t.priority, budget, max(0, t.attempts - 1))


def _named(instruction: Instruction, stimulus_id: str) -> Instruction:
    """The same instruction carrying its cause's id."""
    return dataclasses.replace(instruction, stimulus_id=stimulus_id)


__all__ = [
    "LOCAL",
    "RETRYABLE",
    "ArmTimer",
    "BatchSubmitted",
    "CancelCopy",
    "CancelRequested",
    "CancelTimer",
    "Closing",
    "Decide",
    "Decided",
    "Deliver",
    "DeliverBatch",
    "Done",
    "ErrorReceived",
    "Event",
    "InputRefsOf",
    "Instruction",
    "LocalDone",
    "NodeDown",
    "NodeDraining",
    "NodeInfo",
    "NodeListed",
    "NodeLoad",
    "NodeResumed",
    "NodeUp",
    "OwnedBatch",
    "OwnedTask",
    "Ownership",
    "OwnershipStats",
    "Resubmitting",
    "ResultReceived",
    "ResultsReceived",
    "SendBatchToNode",
    "SendToNode",
    "StartLocalRun",
    "Submitted",
    "TaskState",
    "Timer",
    "TimerFired",
    "TimerKind",
    "Unsendable",
    "Where",
]
