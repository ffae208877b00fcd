"""Shared fixtures: real node processes on free loopback ports, and a leak check."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run a coroutine on a fresh event loop, with a timeout (tests are sync functions)."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def edgeoffload(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``edgeoffload`` command as a user would; capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "edgeoffload", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class NodeProcess:
    """A real ``edgeoffload node`` process."""

    proc: subprocess.Popen[str]
    url: str
    started_s: float
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (kill if it does not exit in time); close our end of its stdout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def start_node(*extra: str, timeout: float = 20.0, prefix: Sequence[str] = ()) -> NodeProcess:
    """Start a node on a free port and wait for its READY line (no sleeps, no polling).

    ``prefix`` runs it under another command, e.g. ``ip netns exec NAME``.
    """
    args = [*prefix, sys.executable, "-m", "edgeoffload", "node", "--port", "0", *extra]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=None, text=True, env={**os.environ}
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            return NodeProcess(proc, line.split()[1], time.monotonic() - t0, args)
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"node did not start: {args} (exit {proc.wait()})")


@pytest.fixture
def node_factory() -> Iterator[Callable[..., NodeProcess]]:
    """Start node processes; every one is stopped (killed if need be) after the test."""
    nodes: list[NodeProcess] = []

    def factory(*extra: str, prefix: Sequence[str] = ()) -> NodeProcess:
        node = start_node(*extra, prefix=prefix)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        node.stop(timeout=5)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the whole session (see tests/pg.py)."""
    from tests import pg

    reason = pg.unavailable()
    if reason is not None:
        pytest.skip(reason)
    with pg.postgres_server() as url:
        yield url


def start_controller(*extra: str, timeout: float = 30.0) -> NodeProcess:
    """Start a controller on a free port (unless --port is given) and wait for READY.

    Its CPU health rule is off (``--cpu-percent-max 100``) unless given: every node of a
    test shares this machine, so each sees the others' work as foreign load and would
    be drained for it (the rule is unit-tested in tests/unit/test_metrics.py).
    """
    port = [] if "--port" in extra else ["--port", "0"]
    cpu = [] if "--cpu-percent-max" in extra else ["--cpu-percent-max", "100"]
    args = [sys.executable, "-m", "edgeoffload", "controller", *port, *cpu, *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            return NodeProcess(proc, line.split()[1], 0.0, args)
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"controller did not start: {args} (exit {proc.wait()})")


@pytest.fixture
def controller_factory() -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def factory(*extra: str) -> NodeProcess:
        c = start_controller(*extra)
        started.append(c)
        return c

    yield factory
    for c in started:
        c.stop(timeout=10)


@pytest.fixture
def node(node_factory: Callable[..., NodeProcess]) -> NodeProcess:
    """One node with 2 workers serving the example tasks."""
    return node_factory("--workers", "2")
