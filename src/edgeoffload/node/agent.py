"""A node's link to the controller: register, send a heartbeat with the health metrics
every interval, obey drain and resume commands, reconnect with backoff, and say goodbye
(:meth:`ControllerAgent.leave`) when the node stops on purpose, so that the controller
records ``left`` rather than suspecting a crash.

The controller is off the data path: while it is down the node serves as before, and
it registers again when the controller comes back.

The agent knows the node only through :class:`ManagedNode`, a handful of facts and
callables that :mod:`.runner` fills in from the running
:class:`~edgeoffload.node.server.EdgeNode`. So neither module imports the other: the
server moves bytes and knows nothing of a controller, and the agent can be tested
against a plain record (tests/unit/node/test_agent.py does, with a fake controller).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from ssl import SSLContext

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..hostinfo import cpu_speed_hz
from ..metrics import NodeMetrics
from ..protocol.control import Command, NodeBeat, NodeBye, NodeHello
from ..transport import Unreachable, reconnect_forever

log = logging.getLogger("edgeoffload.node")


@dataclass(frozen=True, slots=True)
class ManagedNode:
    """What the agent needs from the node it represents, and nothing more.

    The facts are fixed once the node listens (its id and URL need the bound port); the
    callables are read or obeyed on every heartbeat and command.

    Attributes:
        node_id: the id the controller knows the node by.
        url: where clients reach the node (the advertised URL if one is configured).
        cores: worker processes (the controller's capacity estimate).
        labels: the node's labels, matched against tasks' ``requires``.
        tasks: the names of the tasks it serves.
        metrics: a health sample now (sent with each heartbeat).
        drain: stop taking new work, with the reason the controller gave.
        resume: take new work again.
        speed_hz: the CPU speed if configured; else the agent measures it once, off
            the event loop, before its first hello.
        public_key: where the node's identity key (edgeoffload.identity) comes from,
            registered in every hello so the controller can vouch for it to clients;
            called once, off the event loop, before the first hello (a key made at its
            first use imports ``cryptography``: no cost on the way to READY).
    """

    node_id: str
    url: str
    cores: int
    metrics: Callable[[], NodeMetrics]
    drain: Callable[[str], None]
    resume: Callable[[str], None]
    labels: dict[str, str] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    speed_hz: float | None = None
    public_key: Callable[[], str] | None = None


class ControllerAgent:
    """Keeps one node registered with one controller (module docstring).

    Args:
        node: the node as the agent sees it.
        controller_url: the controller's base URL (``ws://host:port`` or ``wss://``).
        interval_s: time between heartbeats.
        token: gives the node's token for the controller, if it has a secret.
        ssl: the TLS context for a ``wss://`` controller.

    ``await agent.run()`` runs until cancelled; :attr:`connected` says whether a
    session with the controller is up.
    """

    def __init__(
        self,
        node: ManagedNode,
        controller_url: str,
        interval_s: float = 1.0,
        token: Callable[[], str | None] = lambda: None,
        ssl: SSLContext | None = None,
    ) -> None:
        self.node = node
        self.url = controller_url.rstrip("/") + "/ws/node"
        self.interval_s = interval_s
        self.connected = False
        self._speed_hz: float | None = node.speed_hz
        #: The node's token (role node) for a controller with a secret, asked for at
        #: every connection, so that one made by the node itself is always fresh.
        self.token = token
        #: For a wss:// controller: the CAs to verify it with (and the node's own
        #: certificate, for mutual TLS); None for ws://.
        self.ssl = ssl
        #: The session's connection while one is up (what :meth:`leave` says goodbye on).
        self._ws: ClientConnection | None = None
        #: Set by :meth:`leave`: no heartbeat, session or reconnection after it.
        self._leaving = False
        self._public_key: str | None = None
        #: Says why the controller cannot be reached: at once, not after 40 s of silence.
        self._unreachable = Unreachable(log, "controller", self.url)

    def _headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def run(self) -> None:
        """Register, heartbeat and obey commands, reconnecting until cancelled."""
        await reconnect_forever(
            self._session,
            on_error=self._unreachable,
            on_down=lambda: setattr(self, "connected", False),
            stop=lambda: self._leaving,
        )

    async def leave(self, reason: str = "", timeout_s: float = 1.0) -> bool:
        """Deregister: send a :class:`NodeBye` on the current session and close it, and
        stop reconnecting. Returns whether the goodbye was sent; without a session (the
        controller is down) there is no one to tell, and the controller, when it comes
        back, suspects the silent node as usual. ``timeout_s`` bounds the wait, so that
        a hung controller cannot hold up the node's exit."""
        self._leaving = True
        ws = self._ws
        if ws is None:
            return False
        bye = NodeBye(node_id=self.node.node_id, reason=reason[:1024])
        try:
            async with asyncio.timeout(timeout_s):
                await ws.send(msgspec.json.encode(bye).decode())
                await ws.close()
        except (TimeoutError, ConnectionClosed, OSError) as exc:
            log.info("controller %s: goodbye not delivered: %r", self.url, exc)
            return False
        log.info("deregistered from controller %s", self.url)
        return True

    def hello(self, speed_hz: float, public_key: str | None = None) -> NodeHello:
        """The registration message (sent first on every session)."""
        node = self.node
        return NodeHello(
            node_id=node.node_id,
            url=node.url,
            cores=node.cores,
            speed_hz=speed_hz,
            labels=dict(node.labels),
            tasks=sorted(node.tasks),
            public_key=public_key,
        )

    def obey(self, command: Command) -> None:
        """Carry out one controller command on the node."""
        if command.action == "drain":
            self.node.drain(command.reason or "drained by the controller")
        else:
            self.node.resume(command.reason or "resumed by the controller")

    async def _session(self) -> None:
        if self._leaving:
            return
        if self._speed_hz is None:
            self._speed_hz = await asyncio.to_thread(cpu_speed_hz)
        if self._public_key is None and self.node.public_key is not None:
            self._public_key = await asyncio.to_thread(self.node.public_key)
        async with connect(
            self.url,
            open_timeout=5,
            close_timeout=1,
            additional_headers=self._headers(),
            ssl=self.ssl,
        ) as ws:
            hello = self.hello(self._speed_hz, self._public_key)
            await ws.send(msgspec.json.encode(hello).decode())
            self.connected = True
            self._ws = ws
            self._unreachable.reached()
            log.info("registered with controller %s", self.url)
            commands = asyncio.create_task(self._commands(ws))
            try:
                seq = 0
                while not commands.done() and not self._leaving:
                    seq += 1
                    beat = NodeBeat(node_id=self.node.node_id, seq=seq, metrics=self.node.metrics())
                    await ws.send(msgspec.json.encode(beat).decode())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(commands), self.interval_s)
            finally:
                self._ws = None
                commands.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await commands

    async def _commands(self, ws: ClientConnection) -> None:
        decoder = msgspec.json.Decoder(Command)
        async for raw in ws:
            try:
                command = decoder.decode(raw)
            except msgspec.DecodeError as exc:
                # A newer controller's command, or a bug: the node keeps serving and
                # keeps its registration; the controller sees the next heartbeat.
                log.warning("controller %s: ignored a command it cannot read: %s", self.url, exc)
                continue
            self.obey(command)
