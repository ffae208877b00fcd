"""A node's link to the controller: register, send a heartbeat with the health metrics
every interval, obey drain and resume commands, and reconnect with backoff.

The controller is off the data path: while it is down the node serves as before, and
it registers again when the controller comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ..controller.messages import Command, NodeBeat, NodeHello
from ..hostinfo import cpu_speed_hz
from ..tls import context_for
from ..transport import reconnect_forever

if TYPE_CHECKING:
    from .server import EdgeNode

log = logging.getLogger("edgeoffload.node")


class ControllerAgent:
    """Keeps one node registered with one controller (module docstring)."""

    def __init__(self, node: EdgeNode, controller_url: str, interval_s: float = 1.0) -> None:
        self.node = node
        self.url = controller_url.rstrip("/") + "/ws/node"
        self.interval_s = interval_s
        self.connected = False
        self._speed_hz: float | None = node.config.speed_hz
        token = node.config.controller_token
        #: The node's own token (role node) for a controller with a secret.
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        #: For a wss:// controller: verified against the system's CAs and tls_ca_file,
        #: the node's certificate shown for mutual TLS.
        self._ssl = context_for(
            self.url, node.config.tls_ca_file, node.config.tls_cert_file, node.config.tls_key_file
        )

    async def run(self) -> None:
        await reconnect_forever(
            self._session,
            on_error=lambda exc: log.info("controller %s unreachable: %s", self.url, exc),
            on_down=lambda: setattr(self, "connected", False),
        )

    async def _session(self) -> None:
        node = self.node
        if self._speed_hz is None:
            self._speed_hz = await asyncio.to_thread(cpu_speed_hz)
        async with connect(
            self.url,
            open_timeout=5,
            close_timeout=1,
            additional_headers=self._headers,
            ssl=self._ssl,
        ) as ws:
            hello = NodeHello(
                node_id=node.node_id,
                url=node.config.advertise_url or node.url,
                cores=node.workers,
                speed_hz=self._speed_hz,
                labels=dict(node.config.labels),
                tasks=sorted(node.tasks),
            )
            await ws.send(msgspec.json.encode(hello).decode())
            self.connected = True
            log.info("registered with controller %s", self.url)
            commands = asyncio.create_task(self._commands(ws))
            try:
                seq = 0
                while not commands.done():
                    seq += 1
                    beat = NodeBeat(node_id=node.node_id, seq=seq, metrics=node.metrics())
                    await ws.send(msgspec.json.encode(beat).decode())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(commands), self.interval_s)
            finally:
                commands.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await commands

    async def _commands(self, ws: object) -> None:
        decoder = msgspec.json.Decoder(Command)
        async for raw in ws:  # type: ignore[attr-defined]
            command = decoder.decode(raw)
            if command.action == "drain":
                self.node.drain(command.reason or "drained by the controller")
            else:
                self.node.resume(command.reason or "resumed by the controller")
