"""Run a node until SIGTERM or SIGINT: the process side of ``edgeoffload node``.

The first signal starts a graceful shutdown (drain within ``drain_timeout_s``); a
second one forces it (queued work is answered ``draining``, the pool is stopped at
once). Either way the node then deregisters from its controller (``left``, naming the
signal), which a crash cannot do: the controller tells the two apart. The previous
signal handlers come back afterwards.

This is also where the node meets its controller: with ``config.controller`` set, the
runner starts a :class:`~.agent.ControllerAgent` once the node listens and hands it the
node as a :class:`~.agent.ManagedNode` (:func:`managed`). The server and the agent never
import each other; this module is the only one that knows both.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..auth import Role, make_token
from ..config import NodeConfig
from ..tls import context_for
from .server import EdgeNode

if TYPE_CHECKING:
    from .agent import ControllerAgent, ManagedNode

log = logging.getLogger("edgeoffload.node")


def managed(node: EdgeNode) -> ManagedNode:
    """The agent's view of a started node (its id and URL need the bound port)."""
    from .agent import ManagedNode

    config = node.config
    return ManagedNode(
        node_id=node.node_id,
        url=config.advertise_url or node.url,
        cores=node.workers,
        metrics=node.metrics,
        drain=node.drain,
        resume=node.resume,
        labels=dict(config.labels),
        tasks=node.offered,
        speed_hz=config.speed_hz,
        public_key=lambda: node.identity.public_key,
    )


def start_agent(node: EdgeNode) -> asyncio.Task[None] | None:
    """Start the controller agent of a started node, if it has a controller; the
    caller owns the task and cancels it after the node's shutdown."""
    agent = make_agent(node)
    return None if agent is None else launch(agent)


def make_agent(node: EdgeNode) -> ControllerAgent | None:
    """The controller agent of a started node, if it has a controller."""
    config = node.config
    if not config.controller:
        return None
    # Imported only for a node with a controller: the agent brings websockets' client
    # side (and its proxy support, urllib.request and http.client), about 10 ms of CPU
    # that a node without one would pay in its cold start.
    from .agent import ControllerAgent

    return ControllerAgent(
        managed(node),
        config.controller,
        config.heartbeat_interval_s,
        token=controller_token(config, node.node_id),
        ssl=context_for(
            config.controller, config.tls_ca_file, config.tls_cert_file, config.tls_key_file
        ),
    )


def launch(agent: ControllerAgent) -> asyncio.Task[None]:
    """Run an agent in a task that reports an unexpected end."""
    task = asyncio.create_task(agent.run(), name="controller-agent")
    task.add_done_callback(_report_end)
    return task


#: Lifetime of the node tokens a node makes for itself (one per connection).
SELF_TOKEN_TTL_S = 3600.0


def controller_token(config: NodeConfig, node_id: str) -> Callable[[], str | None]:
    """Where the agent's token comes from: the configured ``controller_token``, or, for
    a node that holds the site secret, a ``node`` token for its own id that it signs
    itself at each connection. A node with the secret is trusted by the site already
    (it checks client tokens with it), so this adds no power, and no per-node token
    has to be made and mounted (a Kubernetes pod's id is its name, known only at run
    time)."""
    configured = config.controller_token
    if configured is not None:
        return lambda: configured
    secret = config.auth_secret
    if secret is None:
        return lambda: None
    return lambda: make_token(secret, node_id, Role.NODE, SELF_TOKEN_TTL_S)


def _report_end(task: asyncio.Task[None]) -> None:
    """Log an agent that stopped on an unexpected error: the node goes on serving
    (the controller is off the data path), but unregistered, and someone should know
    now rather than at shutdown."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("controller agent stopped: %r; the node serves on, unregistered", exc)


async def serve_until_signalled(
    config: NodeConfig, on_ready: Callable[[EdgeNode], None] | None = None
) -> None:
    """Start a node, report readiness, and shut it down on the first signal."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()
    count = 0
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        nonlocal count
        count += 1
        received.append(sig.name)
        (stop if count == 1 else force).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    agent: asyncio.Task[None] | None = None
    controller: ControllerAgent | None = None
    try:
        node = EdgeNode(config)
        await node.start()
        controller = make_agent(node)
        agent = None if controller is None else launch(controller)
        if config.identity_key_file:
            # The public half only: what a client pins (ClientConfig.node_keys) to check
            # a node it reaches without a controller (a key made at each start, without
            # a file, is not worth pinning, nor worth making before it is needed).
            log.info("node %s identity key %s", node.node_id, node.identity.public_key)
        if on_ready is not None:
            on_ready(node)
        await stop.wait()
        # The agent keeps heartbeating while the node drains, so that the controller
        # sees the drain; it stops once the node is closed.
        shutdown = asyncio.create_task(node.shutdown())
        forced = asyncio.create_task(force.wait())
        await asyncio.wait({shutdown, forced}, return_when=asyncio.FIRST_COMPLETED)
        if not shutdown.done():
            shutdown.cancel()
            node.abort()
        forced.cancel()
        if controller is not None:
            # Deregister only now: the node's work is answered and its port closed.
            await controller.leave(f"stopped by {received[0]}" if received else "stopped")
    finally:
        if agent is not None:
            agent.cancel()
            await asyncio.wait({agent})  # its end, error included, was reported already
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def print_ready(node: EdgeNode) -> None:
    """The readiness line that scripts and tests wait for."""
    print(f"READY {node.url}", flush=True)
    sys.stdout.flush()
