"""Run a node until SIGTERM or SIGINT: the process side of ``edgeoffload node``.

The first signal starts a graceful shutdown (drain within ``drain_timeout_s``); a
second one forces it (queued work is answered ``draining``, the pool is stopped at
once). The previous signal handlers come back afterwards.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from ..config import NodeConfig
from .server import EdgeNode


async def serve_until_signalled(
    config: NodeConfig, on_ready: Callable[[EdgeNode], None] | None = None
) -> None:
    """Start a node, report readiness, and shut it down on the first signal."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()
    count = 0

    def on_signal() -> None:
        nonlocal count
        count += 1
        (stop if count == 1 else force).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        node = EdgeNode(config)
        await node.start()
        if on_ready is not None:
            on_ready(node)
        await stop.wait()
        shutdown = asyncio.create_task(node.shutdown())
        forced = asyncio.create_task(force.wait())
        await asyncio.wait({shutdown, forced}, return_when=asyncio.FIRST_COMPLETED)
        if not shutdown.done():
            shutdown.cancel()
            node.abort()
        forced.cancel()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def print_ready(node: EdgeNode) -> None:
    """The readiness line that scripts and tests wait for."""
    print(f"READY {node.url}", flush=True)
    sys.stdout.flush()
