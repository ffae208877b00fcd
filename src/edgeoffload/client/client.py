"""The client: decide where each task runs, send it, and own it until its one outcome.

``Client`` is used from asyncio (``async with Client(urls) as c: await c.submit(...)``)
or from plain code through the same object (``with Client(urls) as c: c.run(...)``),
which then runs its event loop on a background thread.

Every task goes through one path: create it in the :class:`~.owner.OwnerTable`, place
it (a node chosen by :mod:`.placement`, or local), and deliver its outcome once. When a
node's connection drops, refuses a task (``overloaded``, ``draining``) or the task
cannot be sent there, the task is placed again: on another node, or locally when it is
registered in this process and ``where`` allows, or it waits for a node for up to
``wait_for_node_s``. A task fails only with a reason: its own error, its deadline, or
its attempts used up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import ClientConfig, load
from ..controller.messages import EventKind, NodeState, NodeView
from ..decision.features import LOCAL as LOCAL_TARGET
from ..errors import (
    DeadlineExceeded,
    FrameTooLarge,
    InvalidState,
    NoNodeAvailable,
    task_error,
)
from ..execution import TaskPool, run_inline
from ..protocol.codec import Codec
from ..protocol.codes import ErrorCode
from ..protocol.messages import Error, Result, Submit
from ..tasks import TaskSpec, spec_of
from .auto import AutoDecider, check_policy_name, make_policy
from .graph import Graph, Stage, run_graph
from .latency import TaskLatency
from .link import LinkListener, NodeLink
from .owner import LOCAL, OwnerTable, Pending, Where
from .placement import DEFAULT_SPEED_HZ, Candidate, Placement, TaskCost, make_placement
from .table import TableFollower

log = logging.getLogger("edgeoffload.client")

T = TypeVar("T")

#: Codes after which a task is placed again (elsewhere) rather than failed.
RETRYABLE = frozenset({ErrorCode.OVERLOADED, ErrorCode.DRAINING})


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


class Client(LinkListener):
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
        base = config if config is not None else load(ClientConfig, env={})
        if urls is not None:
            overrides["urls"] = list(urls)
        if overrides:
            fields = {**_as_dict(base), **overrides}
            base = load(ClientConfig, env={}, overrides=fields)
        self.config = base
        self.client_id = base.client_id or f"client-{uuid.uuid4().hex[:8]}"
        chosen = placement if placement is not None else base.placement
        self.placement = make_placement(chosen) if isinstance(chosen, str) else chosen
        # Per-task latencies feed hedging and latency-aware placement; measured here
        # (py-spy) at 4 % of the client's CPU per task, so kept only for them.
        self._track_latency = base.hedge or self.placement.name == "latency_aware"
        self._policy: Any = policy if policy is not None else base.policy
        if isinstance(self._policy, str):
            check_policy_name(self._policy)
        self._auto: AutoDecider | None = None
        self._undecided: list[Pending] = []
        self._local_run_s = 0.0  # running mean of local run times (for the backlog)
        self.owner = OwnerTable(base.max_attempts)
        self.latency = TaskLatency()
        self._links: dict[str, NodeLink] = {}
        self._parked: list[Pending] = []
        self._park_timer: asyncio.TimerHandle | None = None
        self._local_pool: TaskPool | None = None
        self._local_tasks: set[asyncio.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: _LoopThread | None = None
        self._closed = False
        self._counts = {"local": 0, "edge": 0, "failed": 0}
        self.table: TableFollower | None = None
        self._follow: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, wait: bool = True) -> Client:
        """Connect to every node; with ``wait``, return once each has answered or failed
        its first attempt (a node that is down is retried in the background)."""
        if self._loop is not None:
            raise InvalidState("client already started")
        self._loop = asyncio.get_running_loop()
        for url in self.config.urls:
            self.add_node(url)
        if self.config.controller:
            self.table = TableFollower(self.config.controller, self)
            self._follow = asyncio.create_task(self.table.run())
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.table.wait_synced(), self.config.connect_timeout_s)
        if wait and self._links:
            await asyncio.wait(
                [asyncio.create_task(link.wait_up()) for link in self._links.values()],
                timeout=self.config.connect_timeout_s,
            )
        return self

    async def close(self) -> None:
        """Fail what is still pending (``cancelled``), close links, stop the local pool."""
        if self._closed:
            return
        self._closed = True
        for p in self.owner.pending():
            if self.owner.remove(p.id) is not None:
                self._fail(p, task_error(ErrorCode.CANCELLED, p.id, "client closed"))
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
        await asyncio.gather(*(link.close() for link in self._links.values()))
        for fut in list(self._local_tasks):
            fut.cancel()
        if self._local_pool is not None:
            self._local_pool.shutdown(wait=False)

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
            link = self._links[url] = NodeLink(url, self.config, self, self.client_id)
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

    def statistics(self) -> ClientStats:
        c = self._counts
        return ClientStats(
            pending=len(self.owner),
            completed_local=c["local"],
            completed_edge=c["edge"],
            failed=c["failed"],
            resubmitted=self.owner.resubmitted,
            duplicates_dropped=self.owner.duplicates_dropped,
            nodes_connected=sum(link.connected for link in self._links.values()),
            hedges=self.owner.hedges,
            hedge_wins=self.owner.hedge_wins,
        )

    # -- async API --------------------------------------------------------------------------

    async def submit(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        priority: int = 0,
        deadline: float | None = None,
        where: Where = "auto",
    ) -> Any:
        """Run a registered task (a function decorated with @task, or its name) and
        return its value.

        Args:
            priority: higher runs first at the node.
            deadline: seconds from now; the task fails with ``DeadlineExceeded`` if it has
                no result by then, and a node never starts it after that.
            where: ``"auto"`` (an edge node if one can take it, else locally),
                ``"local"`` or ``"edge"``.

        Raises:
            TaskError: the task's own failure (``TaskFailed``), its deadline, a refusal
                after every retry, ... (see :mod:`edgeoffload.errors`).
            NoNodeAvailable: where="edge" and no node came within ``wait_for_node_s``.
        """
        loop = self._running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def done(value: Any, exc: BaseException | None) -> None:
            if not fut.done():
                if exc is None:
                    fut.set_result(value)
                else:
                    fut.set_exception(exc)

        p = self.submit_nowait(
            fn, list(args), done, priority=priority, deadline=deadline, where=where
        )
        try:
            return await fut
        except asyncio.CancelledError:
            self.cancel(p.id)
            raise

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
        loop = self._running_loop()
        calls = iter(zip(*iterables, strict=False))
        results: list[Any] = []
        first_error: list[BaseException] = []
        finished = loop.create_future()
        state = {"in_flight": 0, "exhausted": False}

        def launch() -> None:
            while state["in_flight"] < window:
                call = next(calls, None)
                if call is None:
                    state["exhausted"] = True
                    break
                index = len(results)
                results.append(None)
                state["in_flight"] += 1
                self.submit_nowait(
                    fn, list(call), _slot(index), priority=priority, deadline=deadline, where=where
                )
            if state["exhausted"] and state["in_flight"] == 0 and not finished.done():
                finished.set_result(None)

        def _slot(index: int) -> Callable[[Any, BaseException | None], None]:
            def done(value: Any, exc: BaseException | None) -> None:
                state["in_flight"] -= 1
                if exc is None:
                    results[index] = value
                elif not first_error:
                    first_error.append(exc)
                launch()

            return done

        launch()
        await finished
        if first_error:
            raise first_error[0]
        return results

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
        on_done: Callable[[Any, BaseException | None], None],
        *,
        priority: int = 0,
        deadline: float | None = None,
        where: Where = "auto",
    ) -> Pending:
        """Submit from a callback: ``on_done(value, exc)`` is called exactly once, from
        the event loop. The building block of :meth:`submit` and :meth:`map`."""
        if self._closed:
            raise InvalidState("client is closed")
        if where not in ("auto", "local", "edge"):
            raise ValueError(f"where must be 'auto', 'local' or 'edge', not {where!r}")
        loop = self._running_loop()
        spec = spec_of(fn)
        name = fn if isinstance(fn, str) else (spec.name if spec else None)
        if name is None:
            raise ValueError(f"{fn!r} is not a registered task (decorate it with @task)")
        deadline_at = None if deadline is None else loop.time() + deadline
        p = self.owner.create(
            name,
            args,
            priority=priority,
            deadline_at=deadline_at,
            where=where,
            spec=spec,
            on_done=on_done,
        )
        if deadline_at is not None:
            p.timer = loop.call_at(deadline_at, self._deadline_passed, p.id)
        self._place(p)
        return p

    def cancel(self, task_id: int) -> bool:
        """Cancel a pending task; its caller gets ``Cancelled``. False if already ended."""
        p = self.owner.remove(task_id)
        if p is None:
            return False
        self._cancel_remote(p)
        self._fail(p, task_error(ErrorCode.CANCELLED, p.id, "cancelled by the caller"))
        return True

    # -- sync facade ------------------------------------------------------------------------

    def __enter__(self) -> Client:
        self._thread = _LoopThread()
        self._thread.call(self.start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.call(self.close())
            self._thread.stop()
            self._thread = None

    def run(self, fn: Callable[..., Any] | str, *args: Any, **options: Any) -> Any:
        """Blocking :meth:`submit`, for code without an event loop (``with Client(...)``)."""
        return self._sync().call(self.submit(fn, *args, **options))

    def run_map(
        self, fn: Callable[..., Any] | str, *iterables: Iterable[Any], **options: Any
    ) -> list[Any]:
        """Blocking :meth:`map`."""
        return self._sync().call(self.map(fn, *iterables, **options))

    def run_graph(self, graph: Graph, **options: Any) -> dict[Stage, Any]:
        """Blocking :meth:`submit_graph`."""
        return self._sync().call(self.submit_graph(graph, **options))

    def _sync(self) -> _LoopThread:
        if self._thread is None:
            raise InvalidState("use `with Client(...) as c:` for blocking calls")
        return self._thread

    # -- placement --------------------------------------------------------------------------

    def _place(self, p: Pending) -> None:
        """Send the task somewhere, or park it until a node can take it.

        ``where="auto"``, first placement, task runnable here and there: the decision
        engine decides, with the other such tasks of this loop turn (:meth:`_decide`).
        """
        if p.where == "local":
            self._run_local(p)
            return
        eligible = self._eligible(p)
        if not eligible:
            self._no_node(p)
            return
        if p.where == "auto" and p.spec is not None and p.attempts == 0:
            self._undecided.append(p)
            if len(self._undecided) == 1:
                self._running_loop().call_soon(self._decide)
            return
        self._send_to(p, self._pick(p, eligible))

    def _no_node(self, p: Pending) -> None:
        """No node can take the task now: run it here, fail it, or wait for a node."""
        if p.can_run_locally:
            self._run_local(p)
        elif any(link.accepting for link in self._links.values()):
            self.owner.remove(p.id)
            served = sorted({t for link in self._links.values() for t in link.tasks})
            self._fail(
                p,
                task_error(
                    ErrorCode.UNKNOWN_TASK,
                    p.id,
                    f"no connected node serves task {p.task!r} (they serve: {', '.join(served)})",
                ),
            )
        else:
            self._park(p)

    def _send_to(self, p: Pending, link: NodeLink) -> None:
        if not self.owner.place(p, link.node_id):
            self._give_up(p)
            return
        self._send(p, link)
        if self.config.hedge and p.spec is not None and p.spec.idempotent:
            p95 = self.latency.p95_s(p.task)
            if p95 is not None:
                p.hedge_timer = self._running_loop().call_later(p95, self._hedge, p.id)

    def _decide(self) -> None:
        """Decide, in one policy call per task name, the auto tasks of this turn."""
        undecided, self._undecided = self._undecided, []
        groups: dict[str, list[Pending]] = {}
        for p in undecided:
            if self.owner.get(p.id) is p and p.node is None:  # not cancelled meanwhile
                groups.setdefault(p.task, []).append(p)
        if not groups:
            return
        auto = self._auto_decider()
        now = self._running_loop().time()
        local_backlog = (
            self.owner.in_flight(LOCAL) * self._local_run_s / max(1, self.config.local_workers)
        )
        for group in groups.values():
            eligible = self._eligible(group[0])
            if not eligible:
                for p in group:
                    self._no_node(p)
                continue
            in_flight = [self.owner.in_flight(link.node_id) for link in eligible]
            spec = group[0].spec
            assert spec is not None
            mean_run = spec.hints(group[0].args).cpu_cycles / DEFAULT_SPEED_HZ
            choices = auto.decide(group, eligible, in_flight, local_backlog, mean_run, now)
            for p, choice in zip(group, choices, strict=True):
                p.choice = choice
                if choice.target == LOCAL_TARGET:
                    self._run_local(p)
                else:
                    self._send_to(p, eligible[choice.target])

    def _auto_decider(self) -> AutoDecider:
        if self._auto is None:
            policy = self._policy
            self._auto = AutoDecider(make_policy(policy) if isinstance(policy, str) else policy)
        return self._auto

    def _send(self, p: Pending, link: NodeLink) -> None:
        now = self._running_loop().time()
        p.sent_at = now
        link.send(self._submit_for(p, now))

    @staticmethod
    def _submit_for(p: Pending, now: float) -> Submit:
        """The frame for ``p``: its remaining deadline as a budget, its attempt number."""
        budget = None if p.deadline_at is None else max(0.0, (p.deadline_at - now) * 1000.0)
        return Submit(p.id, p.task, p.args, p.priority, budget, max(0, p.attempts - 1))

    def _hedge(self, task_id: int) -> None:
        """The task is slower than its p95: send a second copy to another node (the
        first answer wins; the other copy is cancelled)."""
        p = self.owner.get(task_id)
        if p is None or p.node in (None, LOCAL) or p.hedge is not None:
            return
        p.hedge_timer = None
        others = [link for link in self._eligible(p) if link.node_id != p.node]
        if not others:
            return
        link = self._pick(p, others)
        self.owner.add_hedge(p, link.node_id)
        link.send(self._submit_for(p, self._running_loop().time()))

    def _eligible(self, p: Pending) -> list[NodeLink]:
        """Nodes that may take the task now: accepting, serving it, carrying its
        required labels, and not among those that refused it (unless all did)."""
        excluded = p.excluded
        requires = p.spec.requires if p.spec is not None else None
        eligible = [
            link
            for link in self._links.values()
            if link.placeable
            and p.task in link.tasks
            and (not excluded or link.node_id not in excluded)
            and (not requires or link.has_labels(requires))
        ]
        if not eligible and excluded:  # every node refused it once: try them all again
            excluded.clear()
            return self._eligible(p)
        return eligible

    def _pick(self, p: Pending, eligible: list[NodeLink]) -> NodeLink:
        """The placement policy's choice among ``eligible`` (non-empty)."""
        if len(eligible) == 1:
            return eligible[0]
        in_flight = self.owner.in_flight
        candidates = [
            Candidate(
                link.node_id,
                in_flight(link.node_id),
                link.rtt_s,
                link.queued,
                link.running,
                max(1, link.workers),
                link.view.speed_hz if link.view is not None else 0.0,
            )
            for link in eligible
        ]
        chosen = self.placement.choose(candidates, self._task_cost(p))
        return next((link for link in eligible if link.node_id == chosen), eligible[0])

    def _task_cost(self, p: Pending) -> TaskCost:
        """What latency-aware placement needs (evaluated only for that policy)."""
        if self.placement.name != "latency_aware":
            return _NO_COST
        observed = self.latency.mean_s(p.task)
        if p.spec is None:
            return TaskCost(observed_run_s=observed)
        h = p.spec.hints(p.args)
        return TaskCost(h.cpu_cycles, h.input_bytes, h.output_bytes, observed)

    def _link_of(self, node_id: str) -> NodeLink | None:
        return next((link for link in self._links.values() if link.node_id == node_id), None)

    def _run_local(self, p: Pending) -> None:
        spec = p.spec
        if spec is None:
            self.owner.remove(p.id)
            self._fail(
                p, NoNodeAvailable(f"task {p.task!r} is not registered locally and where='local'")
            )
            return
        if not self.owner.place(p, LOCAL):
            self._give_up(p)
            return
        try:
            args = spec.check_args(p.args)
        except TypeError as exc:
            if self.owner.take(p.id, LOCAL) is not None:
                self._fail(p, task_error(ErrorCode.BAD_ARGS, p.id, str(exc)))
            return
        if spec.inline:
            self._deliver_local(p.id, *run_inline(spec, args))
            return
        fut = asyncio.ensure_future(self._run_local_async(spec, args))
        self._local_tasks.add(fut)
        fut.add_done_callback(self._local_tasks.discard)
        fut.add_done_callback(lambda f: self._local_done(p.id, f))

    async def _run_local_async(self, spec: TaskSpec, args: list[Any]) -> tuple[bool, Any, float]:
        """Run a non-inline task here: in the local process pool when one is configured
        (and the task's module can be imported by a worker), else on a thread."""
        if self.config.local_workers > 0 and spec.module != "__main__":
            pool = self._local_pool
            if pool is None or spec.module not in pool.modules:
                modules = [*(pool.modules if pool else []), spec.module]
                if pool is not None:
                    pool.shutdown(wait=False)
                pool = self._local_pool = TaskPool(modules, self.config.local_workers)
            ((ok, value, run_s),) = await pool.run_chunk([(spec.name, args)])
            return ok, (_value_codec().decode_value(value) if ok else value), run_s
        return await self._running_loop().run_in_executor(None, run_inline, spec, args)

    def _local_done(self, task_id: int, fut: asyncio.Future[tuple[bool, Any, float]]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self._deliver_local(task_id, False, (type(exc).__name__, str(exc)), 0.0)
        else:
            self._deliver_local(task_id, *fut.result())

    def _deliver_local(self, task_id: int, ok: bool, value: Any, run_s: float) -> None:
        p = self.owner.take(task_id, LOCAL)
        if p is None:
            return
        self._local_run_s += 0.2 * (run_s - self._local_run_s)
        if p.choice is not None and self._auto is not None and ok:
            self._auto.observe(p.choice, run_s)
        if ok:
            self._counts["local"] += 1
            self._succeed(p, value)
        else:
            exc_type, message = value
            self._fail(p, task_error(ErrorCode.TASK_FAILED, p.id, message, exc_type=exc_type))

    def _park(self, p: Pending) -> None:
        """No node can take the task now: hold it until one can, for a while."""
        loop = self._running_loop()
        p.node = None
        self._parked.append(p)
        if self._park_timer is None:
            self._park_timer = loop.call_later(self.config.wait_for_node_s, self._park_expired)

    def _unpark(self) -> None:
        parked, self._parked = self._parked, []
        if self._park_timer is not None:
            self._park_timer.cancel()
            self._park_timer = None
        for p in parked:
            if self.owner.get(p.id) is p and p.node is None:
                self._place(p)

    def _park_expired(self) -> None:
        self._park_timer = None
        parked, self._parked = self._parked, []
        for p in parked:
            if self.owner.remove(p.id) is not None:
                self._fail(
                    p,
                    NoNodeAvailable(
                        f"no node could take task {p.task!r} within {self.config.wait_for_node_s} s"
                    ),
                )

    # -- outcomes ---------------------------------------------------------------------------

    def _succeed(self, p: Pending, value: Any) -> None:
        _cancel_timers(p)
        _call(p, value, None)

    def _fail(self, p: Pending, exc: BaseException) -> None:
        _cancel_timers(p)
        self._counts["failed"] += 1
        _call(p, None, exc)

    def _give_up(self, p: Pending) -> None:
        self.owner.remove(p.id)
        self._fail(
            p,
            task_error(
                ErrorCode.OVERLOADED,
                p.id,
                f"task {p.task!r} was placed {p.attempts} times without a result",
            ),
        )

    def _deadline_passed(self, task_id: int) -> None:
        p = self.owner.remove(task_id)
        if p is None:
            return
        p.timer = None
        self._cancel_remote(p)
        self._fail(p, DeadlineExceeded(p.id, "no result before the deadline"))

    def _cancel_remote(self, p: Pending) -> None:
        """Tell the nodes running ``p`` (both copies, if hedged) to drop it."""
        for node in (p.node, p.hedge):
            if node is not None and node != LOCAL:
                link = self._link_of(node)
                if link is not None:
                    link.cancel([p.id])

    # -- LinkListener -------------------------------------------------------------------------

    def link_up(self, link: NodeLink) -> None:
        log.info("connected to node %s (%s)", link.node_id, link.url)
        if self._parked:
            self._unpark()

    def link_down(self, link: NodeLink, reason: str) -> None:
        lost = self.owner.node_lost(link.node_id)
        if lost:
            log.warning(
                "node %s lost (%s): placing %d tasks again", link.node_id, reason, len(lost)
            )
            if self.table is not None:
                self.table.report(EventKind.RESUBMITTED, link.node_id, len(lost))
        for p in lost:
            self._place(p)

    # -- TableListener ------------------------------------------------------------------------

    def table_node(self, view: NodeView, event: EventKind | None) -> None:
        """A row of the controller's table changed: join it, note its state, or fence it."""
        link = self._links.get(view.url)
        if view.state is NodeState.DEAD:
            if link is not None:
                link.view = view
                link.fence("declared dead by the controller")
            return
        if link is None:
            link = self.add_node(view.url)
        link.view = view
        if event is EventKind.RECOVERED or (event is EventKind.RESUMED and self._parked):
            self._unpark()

    def on_draining(self, link: NodeLink) -> None:
        log.info("node %s is draining", link.node_id)

    def on_resumed(self, link: NodeLink) -> None:
        log.info("node %s takes work again", link.node_id)
        if self._parked:
            self._unpark()

    def on_result(self, link: NodeLink, result: Result) -> None:
        hedged = self.owner.peek(result.id, link.node_id)
        other = None
        if hedged is not None and hedged.hedge is not None:
            other = hedged.hedge if hedged.node == link.node_id else hedged.node
        p = self.owner.take(result.id, link.node_id)
        if p is not None:
            self._counts["edge"] += 1
            if p.choice is not None and self._auto is not None:
                self._learn(p, link, result.run_ms / 1000.0)
            if self._track_latency and p.sent_at:
                self.latency.add(p.task, self._running_loop().time() - p.sent_at)
            if other is not None:  # the losing copy of a hedged request
                loser = self._link_of(other)
                if loser is not None:
                    loser.cancel([p.id])
            self._succeed(p, result.value)

    def on_error(self, link: NodeLink, error: Error) -> None:
        assert error.id is not None
        code = error.code
        hedged = self.owner.peek(error.id, link.node_id)
        if hedged is not None and hedged.hedge is not None:
            # One copy of a hedged request failed or was refused: the other continues.
            self.owner.drop_copy(hedged, link.node_id)
            return
        if code in RETRYABLE:
            p = self.owner.peek(error.id, link.node_id)
            if p is None:
                return
            self.owner.unplace(p)
            if p.excluded is None:
                p.excluded = set()
            p.excluded.add(link.node_id)
            retry = error.retry_after_s or 0.0
            if code is ErrorCode.OVERLOADED and retry > 0 and len(self._links) == 1:
                self._running_loop().call_later(retry, self._replace, p.id)
            else:
                self._place(p)
            return
        p = self.owner.take(error.id, link.node_id)
        if p is not None:
            self._fail(
                p,
                task_error(
                    code,
                    p.id,
                    error.message,
                    exc_type=error.exc_type,
                    retry_after_s=error.retry_after_s,
                ),
            )

    def _learn(self, p: Pending, link: NodeLink, run_s: float) -> None:
        """A decided task came back from a node: a bandwidth sample for its link (the
        round trip less the node's run time and the link's RTT), and the outcome for an
        online policy."""
        assert self._auto is not None
        latency = self._running_loop().time() - p.sent_at
        tasks = p.choice.tasks
        payload = float(tasks.input_bytes[0] + tasks.output_bytes[0])
        self._auto.observe_transfer(link, payload, latency - run_s - link.rtt_s)
        self._auto.observe(p.choice, latency)

    def _replace(self, task_id: int) -> None:
        p = self.owner.get(task_id)
        if p is not None and p.node is None:
            self._place(p)

    def on_unsendable(self, link: NodeLink, submit: Submit, exc: Exception) -> None:
        p = self.owner.peek(submit.id, link.node_id)
        if p is None:
            return
        if p.where == "auto" and p.spec is not None:
            # Too big (or not encodable) to offload: the device can still run it.
            self.owner.unplace(p)
            self._run_local(p)
            return
        self.owner.remove(p.id)
        if isinstance(exc, FrameTooLarge):
            self._fail(p, exc)
        else:
            self._fail(p, task_error(ErrorCode.BAD_ARGS, p.id, f"arguments cannot be sent: {exc}"))

    # -- helpers ------------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise InvalidState(
                "client not started: use `async with Client(...)` or `with Client(...)`"
            )
        return self._loop


_NO_COST = TaskCost()


def _call(p: Pending, value: Any, exc: BaseException | None) -> None:
    """Deliver an outcome. A callback that raises is the caller's bug: it is logged,
    and never allowed to break the connection the answer came on."""
    try:
        p.on_done(value, exc)
    except Exception:
        log.exception("the callback of task %d (%s) raised", p.id, p.task)


def _cancel_timers(p: Pending) -> None:
    if p.timer is not None:
        p.timer.cancel()
    if p.hedge_timer is not None:
        p.hedge_timer.cancel()


@functools.cache
def _value_codec() -> Codec:
    return Codec()


def _as_dict(config: ClientConfig) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(config)


class _LoopThread:
    """An event loop on a daemon thread, for the blocking facade."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="edgeoffload-client", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


__all__ = ["Client", "ClientStats"]
