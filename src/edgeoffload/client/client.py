"""The client: the API, and the executor of the owner's instructions.

``Client`` is used from asyncio (``async with Client(urls) as c: await c.submit(...)``)
or from plain code through the same object (``with Client(urls) as c: c.run(...)``,
:mod:`.sync`), which then runs its event loop on a background thread.

Every rule about a task's life (placement, retry, hedging, parking, local fallback,
fencing, deadlines) is in the pure :mod:`.ownership` state machine. This module feeds it
events (the caller's submits and cancels, what the node links and the controller's
table report, timers coming due) and carries out its instructions: send on a
:class:`~.link.NodeLink`, run here (:mod:`.local`), arm a loop timer, ask the decision
engine (:mod:`.auto`), deliver an outcome to the caller's :class:`~.handle.TaskHandle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast, overload

from ..config import ClientConfig, load
from ..decision.features import LOCAL_INDEX as LOCAL_TARGET
from ..errors import InvalidState, NoNodeAvailable
from ..protocol.control import EventKind
from ..tasks import TaskSpec, spec_of
from . import ownership as own
from .auto import AutoDecider, check_policy_name, fallback_budgets, make_policy
from .futures import gather
from .graph import Graph, Stage, run_graph
from .handle import TaskHandle
from .latency import TaskLatency
from .link import NodeLink
from .listener import LinkEvents
from .local import LocalRunner
from .mapping import BatchDone, run_map
from .node_table import TableFollower
from .ownership import LOCAL, Done, Ownership, Timer, Where
from .placement import DEFAULT_SPEED_HZ, Placement, make_placement
from .sync import BlockingFacade, BlockingTaskHandle, blocking_submit

log = logging.getLogger("edgeoffload.client")


@dataclass(frozen=True, slots=True)
class ClientStats:
    """A snapshot of the client's counters."""

    pending: int
    completed_local: int
    completed_edge: int
    failed: int
    resubmitted: int
    duplicates_dropped: int
    nodes_connected: int
    hedges: int = 0
    hedge_wins: int = 0
    #: Hash-first arguments (the nodes' data-locality cache): bytes not sent because
    #: the node had them, and tasks sent again whole after a ``need_input``.
    input_bytes_saved: int = 0
    inputs_resent: int = 0
    #: Hash-first arguments sent to nodes with a cache, and those sent as their digest
    #: only (the node held them): the cache's input hit rate as this client sees it.
    inputs_hashed: int = 0
    inputs_held: int = 0


class Client(BlockingFacade):
    """Submit registered tasks to edge nodes or run them locally (module docstring).

    Args:
        urls: node WebSocket URLs (``ws://host:port/offload``); may be empty (all local).
        config: full settings; keyword overrides are applied on top.
        placement: chooses among candidate nodes: a policy object or the name of one in
            :mod:`.placement` (default: the ``placement`` setting, least in-flight).
        policy: decides local or edge for ``where="auto"``: a policy object (anything
            with ``decide(tasks, device, nodes)``) or a registered name (default: the
            ``policy`` setting, ``"auto"``: the shipped learned model).
    """

    def __init__(
        self,
        urls: Sequence[str] | str | None = None,
        *,
        config: ClientConfig | None = None,
        placement: Placement | str | None = None,
        policy: Any = None,
        **overrides: Any,
    ) -> None:
        if isinstance(urls, str):
            urls = [urls]
        # Without a config, the settings `edgeoffload config show client` prints:
        # defaults < EDGEOFFLOAD_CLIENT__* (then the keyword arguments).
        base = config if config is not None else load(ClientConfig)
        if urls is not None:
            overrides["urls"] = list(urls)
        if overrides:
            fields = {**_as_dict(base), **overrides}
            base = load(ClientConfig, env={}, overrides=fields)
        self.config = base
        self.client_id = base.client_id or f"client-{uuid.uuid4().hex[:8]}"
        chosen = placement if placement is not None else base.placement
        self.placement = make_placement(chosen) if isinstance(chosen, str) else chosen
        self._policy: Any = policy if policy is not None else base.policy
        if isinstance(self._policy, str):
            check_policy_name(self._policy)
        self._auto: AutoDecider | None = None
        self._own = Ownership(
            self.placement,
            max_attempts=base.max_attempts,
            wait_for_node_s=base.wait_for_node_s,
            hedge=base.hedge,
            input_refs=_input_refs_of(base),
        )
        self._handles: dict[int, TaskHandle | Done] = {}
        self._batch_receivers: dict[int, BatchDone] = {}
        # A map's tasks are owned as batch records (one per frame's worth) when no
        # per-task rule needs them one by one: no hedging, no per-task placement cost.
        self._batching = base.batching and not base.hedge and self.placement.name != "latency_aware"
        self._timers: dict[Timer, asyncio.Handle] = {}
        self._local = LocalRunner(base.local_workers)
        self._local_run_s = 0.0  # running mean of local run times (for the backlog)
        self._links: dict[str, NodeLink] = {}  # by URL
        self._by_node: dict[str, NodeLink] = {}  # by node id, once it named itself
        self._listener = LinkEvents(self._feed, self._by_node, self._links, self.add_node)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.table: TableFollower | None = None
        self._follow: asyncio.Task[None] | None = None
        self._execute: dict[type[own.Instruction], Callable[[Any], None]] = {
            own.SendToNode: self._send,
            own.Deliver: self._deliver,
            own.SendBatchToNode: self._send_batch,
            own.DeliverBatch: self._deliver_batch,
            own.ArmTimer: self._arm,
            own.CancelTimer: self._disarm,
            own.StartLocalRun: self._start_local,
            own.CancelCopy: self._cancel_copy,
            own.Decide: self._decide,
            own.Resubmitting: self._resubmitting,
        }

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, wait: bool = True) -> Client:
        """Connect to every node; with ``wait``, return once each has answered or failed
        its first attempt (a node that is down is retried in the background)."""
        if self._loop is not None:
            raise InvalidState("client already started")
        self._loop = asyncio.get_running_loop()
        for url in self.config.urls:
            self.add_node(url)
        # No longer than a task would wait for a node: a node that accepts TCP and never
        # answers must not hold `submit --timeout 0.3` for connect_timeout_s (5 s). The
        # links go on trying in the background.
        patience = min(self.config.connect_timeout_s, self.config.wait_for_node_s)
        if self.config.controller:
            self.table = TableFollower(
                self.config.controller, self._listener, self.config, counts=self._where_ran
            )
            self._follow = asyncio.create_task(self.table.run())
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.table.wait_synced(), patience)
        if wait and self._links:
            # Until each link has tried once (up, or failed with a reason): a refused
            # connection answers at once, so a dead node costs no connect_timeout_s.
            links = list(self._links.values())
            waiters = {asyncio.create_task(link.wait_tried()): link for link in links}
            _, pending = await asyncio.wait(waiters, timeout=patience)
            for waiter in pending:  # owned and ended here: never left pending at exit
                waiter.cancel()
                # Said in a task's failure if no node comes: which node, and why.
                reason = f"no answer to the connection within {patience:.1f} s, still trying"
                self._feed(own.NodeUnreachable(waiters[waiter].url, reason))
        return self

    async def close(self) -> None:
        """Fail what is still pending (``cancelled``), close links, stop the local pool."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._feed(own.Closing())
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
        await asyncio.gather(*(link.close() for link in self._links.values()))
        self._local.close()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def __aenter__(self) -> Client:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_for_nodes(self, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until ``count`` nodes are connected.

        Raises:
            NoNodeAvailable: not within ``timeout_s`` seconds.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while sum(link.accepting for link in self._links.values()) < count:
            if loop.time() > end:
                raise NoNodeAvailable(f"fewer than {count} nodes connected after {timeout_s} s")
            await asyncio.sleep(0.01)

    def add_node(self, url: str) -> NodeLink:
        """Start using a node (connects in the background; no-op if already known)."""
        link = self._links.get(url)
        if link is None:
            self._running_loop()
            link = self._links[url] = NodeLink(url, self.config, self._listener, self.client_id)
            link.start()
        return link

    async def remove_node(self, url: str) -> None:
        """Stop using a node: close its link; its tasks in flight are placed again."""
        link = self._links.pop(url, None)
        if link is not None:
            await link.close()

    @property
    def nodes(self) -> list[NodeLink]:
        return list(self._links.values())

    @property
    def latency(self) -> TaskLatency:
        """Recent latencies per task (fed when hedging or latency-aware placement is on)."""
        return self._own.latency

    def _where_ran(self) -> tuple[int, int]:
        """Tasks completed (locally, on nodes) so far, for the controller's dashboard."""
        stats = self.statistics()
        return stats.completed_local, stats.completed_edge

    def statistics(self) -> ClientStats:
        s = self._own.statistics()
        return ClientStats(
            pending=s.pending,
            completed_local=s.completed_local,
            completed_edge=s.completed_edge,
            failed=s.failed,
            resubmitted=s.resubmitted,
            duplicates_dropped=s.duplicates_dropped,
            nodes_connected=sum(link.connected for link in self._links.values()),
            hedges=s.hedges,
            hedge_wins=s.hedge_wins,
            input_bytes_saved=s.input_bytes_saved,
            inputs_resent=s.inputs_resent,
            inputs_hashed=s.inputs_hashed,
            inputs_held=s.inputs_held,
        )

    # -- async API --------------------------------------------------------------------------

    def submit(
        self,
        fn: Callable[..., Any] | str,
        /,
        *args: Any,
        priority: int = 0,
        deadline: float | None = None,
        where: Where = "auto",
    ) -> TaskHandle:
        """Run a registered task (a function decorated with @task, or its name); return
        its future at once.

        In a coroutine the future is a :class:`~.handle.TaskHandle`, an asyncio future:
        ``await client.submit(...)`` gives the value (as it always has), or keep it to
        poll (``done()``), cancel, ``gather``, ``wait`` for or iterate with
        ``as_completed``; its ``id`` names the task and ``info()`` says where and how it
        ran. From a blocking client (``with Client(...) as c:``, on any other thread) it
        is a :class:`~.sync.BlockingTaskHandle`, a ``concurrent.futures.Future``
        (``c.submit(...).result()``).

        Args:
            priority: higher runs first at the node.
            deadline: seconds from now; the task fails with ``DeadlineExceeded`` if it has
                no result by then, and a node never starts it after that.
            where: ``"auto"`` (an edge node if one can take it, else locally),
                ``"local"`` or ``"edge"``.

        Raises:
            InvalidState: the client is not started, or closed.
            ValueError: ``fn`` is not a registered task, or ``where`` is unknown.

        The future raises (when awaited or asked for its result) the task's error:
        ``TaskError`` (its own failure ``TaskFailed``, its deadline, a refusal after
        every retry, ... see :mod:`edgeoffload.errors`), or ``NoNodeAvailable`` for
        where="edge" when no node came within ``wait_for_node_s``.
        """

        def make() -> TaskHandle:
            return self.submit_nowait(
                fn, list(args), None, priority=priority, deadline=deadline, where=where
            )

        thread = self._thread
        if thread is not None and not thread.here:
            # NOTE: typed for the async client; `with Client(...) as c` makes `c` Any
            # (BlockingFacade.__enter__), so blocking callers are not misled.
            return cast(TaskHandle, blocking_submit(thread, make))
        return make()

    @overload
    def gather(
        self, futures: Iterable[BlockingTaskHandle], /, *, return_exceptions: bool = False
    ) -> list[Any]: ...

    @overload
    def gather(
        self, futures: Iterable[TaskHandle], /, *, return_exceptions: bool = False
    ) -> Awaitable[list[Any]]: ...

    def gather(self, futures: Iterable[Any], /, *, return_exceptions: bool = False) -> Any:
        """The values of these futures, in order (Dask's ``client.gather``): awaited for
        task handles (``await client.gather(futs)``), called for a blocking client's.

        Raises:
            the first task error (the other tasks go on running), unless
            ``return_exceptions``, which puts each error in its future's place.
        """
        return gather(futures, return_exceptions)

    async def map(
        self,
        fn: Callable[..., Any] | str,
        *iterables: Iterable[Any],
        window: int = 1000,
        priority: int = 0,
        deadline: float | None = None,
        where: Where = "auto",
    ) -> list[Any]:
        """Like builtin ``map``: one task per tuple of items, results in order.

        Keeps at most ``window`` tasks in flight. Raises the first task error after
        every task has ended (none is left running).
        """
        self._running_loop()
        name, spec = _task_name(fn)
        batched = self._batching and where != "local"
        if spec is not None and (where == "auto" or spec.requires):
            batched = False  # a decision or labels per task: one by one
        return await run_map(
            zip(*iterables, strict=False),
            window,
            lambda args, done: self._submit(fn, args, done, priority, deadline, where),
            (
                (lambda calls, done: self._submit_batch(fn, calls, done, priority, deadline, where))
                if batched
                else None
            ),
            self.config.batch_max_items,
            lambda: self._own.serving(name),
        )

    async def submit_graph(
        self, graph: Graph, *, deadline: float | None = None
    ) -> dict[Stage, Any]:
        """Run a task graph (:class:`~.graph.Graph`): each stage is submitted like
        :meth:`submit` as soon as the stages it reads have finished, and decided on its
        own inputs. Results pass through this device (no node-to-node transfer).

        Args:
            deadline: seconds from now for the whole graph (each stage gets the rest).

        Returns:
            the result of each sink (a stage no other stage reads), by its handle.

        Raises:
            ValueError: the graph is empty.
            TaskError, NoNodeAvailable: a stage failed (its message names the stage); the
                stages still running are cancelled and those after it never run.
        """
        return await run_graph(self, graph, deadline)

    def submit_nowait(
        self,
        fn: Callable[..., Any] | str,
        args: list[Any],
        on_done: Done | None = None,
        *,
        priority: int = 0,
        deadline: float | None = None,
        where: Where = "auto",
    ) -> TaskHandle:
        """Submit from a callback: ``on_done(value, exc)``, if given, is called exactly
        once, from the event loop. Returns the task's read-only handle (await it for
        the value). The building block of :meth:`submit` and :meth:`submit_graph`."""
        handle = TaskHandle(on_done, self._cancel_task, self._running_loop())
        self._submit(fn, args, handle, priority, deadline, where)
        return handle

    def _submit(
        self,
        fn: Callable[..., Any] | str,
        args: list[Any],
        receiver: TaskHandle | Done,
        priority: int,
        deadline: float | None,
        where: Where,
    ) -> None:
        """Submit with the outcome going to ``receiver``: a handle, or for :meth:`map`
        a bare callback (no handle to build per task on the throughput path)."""
        if self._closed:
            raise InvalidState("client is closed")
        if where not in ("auto", "local", "edge"):
            raise ValueError(f"where must be 'auto', 'local' or 'edge', not {where!r}")
        loop = self._running_loop()
        name, spec = _task_name(fn)
        task_id = self._own.next_id()
        self._handles[task_id] = receiver
        event = own.Submitted(task_id, name, args, priority, deadline, where, spec)
        instructions = self._own.handle(event, loop.time())
        if isinstance(receiver, TaskHandle):
            record = self._own.tasks.get(task_id)
            if record is not None:  # else it ended at once: its Deliver carries the record
                receiver._record = record
        self._run(instructions)

    def _submit_batch(
        self,
        fn: Callable[..., Any] | str,
        calls: list[list[Any]],
        done: BatchDone,
        priority: int,
        deadline: float | None,
        where: Where,
    ) -> None:
        """Submit ``calls`` as one batch record; ``done(values, errors)`` once for all."""
        if self._closed:
            raise InvalidState("client is closed")
        loop = self._running_loop()
        name, spec = _task_name(fn)
        first = self._own.next_ids(len(calls))
        self._batch_receivers[first] = done
        event = own.BatchSubmitted(first, name, calls, priority, deadline, where, spec)
        self._run(self._own.handle(event, loop.time()))

    def cancel(self, task_id: int) -> bool:
        """Cancel a pending task: its future ends cancelled (a callback given to
        :meth:`submit_nowait` gets ``Cancelled``). False if already ended."""
        receiver = self._handles.get(task_id)
        if isinstance(receiver, TaskHandle):
            return receiver.cancel()
        return self._cancel_task(task_id)

    def _cancel_task(self, task_id: int) -> bool:
        """Tell the owner (a handle's own cancel comes here)."""
        if task_id not in self._own:
            return False
        self._feed(own.CancelRequested(task_id))
        return True

    # -- the executor -----------------------------------------------------------------------

    def _feed(self, event: own.Event) -> None:
        """One event into the owner, its instructions carried out in order (events
        come only once started: from the loop's links, timers and callers)."""
        assert self._loop is not None
        execute = self._execute
        for instruction in self._own.handle(event, self._loop.time()):
            execute[type(instruction)](instruction)

    def _run(self, instructions: list[own.Instruction]) -> None:
        execute = self._execute
        for instruction in instructions:
            execute[type(instruction)](instruction)

    def _send(self, ins: own.SendToNode) -> None:
        self._by_node[ins.node_id].send(ins.submit)

    def _send_batch(self, ins: own.SendBatchToNode) -> None:
        self._by_node[ins.node_id].send_many(ins.submits)

    def _deliver_batch(self, ins: own.DeliverBatch) -> None:
        try:
            self._batch_receivers.pop(ins.first_id)(ins.values, ins.errors)
        except Exception:  # the caller's bug: logged, never breaking the link it came on
            log.exception("the callback of tasks %d+ raised", ins.first_id)

    def _cancel_copy(self, ins: own.CancelCopy) -> None:
        link = self._by_node.get(ins.node_id)
        if link is not None:
            link.cancel([ins.task_id])

    def _start_local(self, ins: own.StartLocalRun) -> None:
        self._local.start(ins.spec, ins.args, functools.partial(self._local_done, ins.task_id))

    def _local_done(self, task_id: int, ok: bool, value: Any, run_s: float) -> None:
        self._feed(own.LocalDone(task_id, ok, value, run_s))

    def _arm(self, ins: own.ArmTimer) -> None:
        """A loop timer that feeds the owner ``TimerFired`` (one per name: re-arming
        replaces it; a time already past runs at the end of this turn)."""
        loop = self._running_loop()
        old = self._timers.pop(ins.timer, None)
        if old is not None:
            old.cancel()
        fire = functools.partial(self._fire, ins.timer)
        self._timers[ins.timer] = (
            loop.call_soon(fire) if ins.at <= loop.time() else loop.call_at(ins.at, fire)
        )

    def _disarm(self, ins: own.CancelTimer) -> None:
        timer = self._timers.pop(ins.timer, None)
        if timer is not None:
            timer.cancel()

    def _fire(self, timer: Timer) -> None:
        self._timers.pop(timer, None)
        self._feed(own.TimerFired(timer))

    def _decide(self, ins: own.Decide) -> None:
        """Ask the decision engine about one group and feed its answer back at once."""
        if self._auto is None:
            policy = self._policy
            self._auto = AutoDecider(
                make_policy(policy) if isinstance(policy, str) else policy,
                self.config.device_cpu_hz,
                self.config.local_workers,
            )
        first = ins.tasks[0]
        assert first.spec is not None
        mean_run = first.spec.hints(first.args).cpu_cycles / DEFAULT_SPEED_HZ
        backlog = ins.local_in_flight * self._local_run_s / max(1, self.config.local_workers)
        links = [self._by_node[n] for n in ins.nodes]
        now = self._running_loop().time()
        choices = self._auto.decide(ins.tasks, links, ins.in_flight, backlog, mean_run, now)
        self._feed(
            own.Decided(
                tuple(
                    (t.id, LOCAL if c.target == LOCAL_TARGET else ins.nodes[c.target], c)
                    for t, c in zip(ins.tasks, choices, strict=True)
                ),
                fallback_s=fallback_budgets(ins.tasks, choices),
            )
        )

    def _deliver(self, ins: own.Deliver) -> None:
        """The outcome to the caller; a run's timings to the estimates first."""
        auto, choice, run_s = self._auto, ins.choice, ins.run_s
        if choice is None and ins.node != LOCAL:
            pass  # the common case: nothing to learn from
        elif ins.node == LOCAL and run_s is not None:
            self._local_run_s += 0.2 * (run_s - self._local_run_s)
            if choice is not None and auto is not None and ins.error is None:
                auto.observe(choice, run_s)
        elif choice is not None and auto is not None and run_s is not None:
            # A bandwidth sample for the link (the round trip less the node's run time
            # and the link's RTT), and the realised latency for an online policy.
            link = self._by_node.get(ins.node or "")
            latency = ins.latency_s or 0.0
            # Arguments sent as digests only: the bytes did not cross, so the round
            # trip says nothing about the link's bandwidth.
            hashed = ins.record is not None and ins.record.refs_saved > 0
            if link is not None and not hashed:
                payload = float(choice.tasks.input_bytes[0] + choice.tasks.output_bytes[0])
                auto.observe_transfer(link, payload, latency - run_s - link.rtt_s)
            auto.observe(choice, latency)
        receiver = self._handles.pop(ins.task_id)
        if isinstance(receiver, TaskHandle):
            if ins.record is not None:
                receiver._record = ins.record
            receiver._settle(ins.value, ins.error)
            return
        try:
            receiver(ins.value, ins.error)
        except Exception:  # the caller's bug: logged, never breaking the link it came on
            log.exception(
                "the callback of task %d raised", ins.task_id, extra={"task_id": ins.task_id}
            )

    def _resubmitting(self, ins: own.Resubmitting) -> None:
        log.warning(
            "node %s lost (%s): placing %d tasks again",
            ins.node_id,
            ins.reason,
            ins.count,
            extra={"node_id": ins.node_id},
        )
        if self.table is not None:
            self.table.report(EventKind.RESUBMITTED, ins.node_id, ins.count)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise InvalidState(
                "client not started: use `async with Client(...)` or `with Client(...)`"
            )
        return self._loop


def _task_name(fn: Callable[..., Any] | str) -> tuple[str, TaskSpec | None]:
    """The task's name and its local registration (None if only a node has it)."""
    spec = spec_of(fn)
    name = fn if isinstance(fn, str) else (spec.name if spec else None)
    if name is None:
        raise ValueError(f"{fn!r} is not a registered task (decorate it with @task)")
    return name, spec


def _input_refs_of(config: ClientConfig) -> own.InputRefsOf | None:
    """The owner's function for hash-first arguments (None when ``input_ref_bytes`` is
    0): digests of the codec's bytes, the ones a node computes (protocol.content)."""
    threshold = config.input_ref_bytes
    if threshold <= 0:
        return None
    from ..protocol.codec import Codec
    from ..protocol.content import large_inputs

    encode = Codec(config.max_frame_bytes).encode_value
    return lambda args: large_inputs(args, threshold, encode)


def _as_dict(config: ClientConfig) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(config)


__all__ = ["Client", "ClientStats", "TaskHandle"]
