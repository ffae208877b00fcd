"""websockets connections tuned for a request/response protocol of whole binary messages.

Two things, both measured on the round trip of a tiny task:

- **Messages handed over as they are parsed.** websockets' asyncio connection queues
  each received message in an assembler that a reader task awaits (``async for``): one
  task switch, and one event-loop turn, per message. The client's and the node's
  connection classes (``client/link.py``, ``node/server.py``) instead pass every
  complete data message to a callback, through :func:`dispatch`, from websockets' own
  ``process_event`` (the documented override point of the ``create_connection`` escape
  hatch), in the same turn in which its bytes arrived.
  Backpressure is natural: the callback runs before more data is read (and the node
  pauses reading a connection whose answers pile up unread). Fragmented messages
  (which edgeoffload never sends) are assembled here too: left to websockets'
  assembler, which nobody reads, they were lost, and after its queue filled (about 14)
  the connection stopped being read.
- **Writes without awaiting** (:func:`write_nowait`). ``await ws.send(frame)`` costs an
  async context manager and a drain per frame. When the connection is open and its
  write buffer is below websockets' high-water mark, the frame is written at once
  through the connection's sans-I/O protocol, exactly as ``send()`` does inside its
  context. When the buffer is full, callers fall back to ``await ws.send()``, which
  waits for it to drain.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from websockets.asyncio.connection import Connection as WsConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.protocol import Event
from websockets.protocol import State as WsState

log = logging.getLogger("edgeoffload.transport")

#: Called with each complete message's bytes.
OnMessage = Callable[[bytes], None]


def dispatch(conn: WsConnection, handler: OnMessage | None, event: Event) -> bool:
    """Hand a complete data message to ``handler``; False if the frame is not part of one
    (a control frame) or there is no handler.

    A fragmented message (RFC 6455 section 5.4: legal, though edgeoffload never sends
    one) is assembled here and handed over whole at its last frame. Its total size is
    bounded by the connection's ``max_size`` already: websockets' parser counts the
    fragments of a message together and closes with 1009 past it.
    """
    if handler is None or not isinstance(event, Frame):
        return False
    opcode = event.opcode
    parts: list[bytes] | None = getattr(conn, "_fragments", None)
    if opcode is Opcode.CONT:
        if parts is None:  # websockets' parser refuses this already
            return False
        parts.append(bytes(event.data))
        if not event.fin:
            return True
        conn._fragments = None  # type: ignore[attr-defined]
        data: bytes = b"".join(parts)
    elif opcode is Opcode.BINARY or opcode is Opcode.TEXT:
        if not event.fin:
            conn._fragments = [bytes(event.data)]  # type: ignore[attr-defined]
            return True
        data = event.data if isinstance(event.data, bytes) else bytes(event.data)
    else:
        return False
    try:
        handler(data)
    except Exception:
        # A bug in the handler must not corrupt websockets' parser state: drop the
        # connection (its owner sees it close and recovers), keep the process.
        log.exception("message handler failed; closing the connection")
        conn.transport.abort()
    return True


def write_nowait(ws: WsConnection, frames: list[bytes]) -> bool:
    """Write binary frames now if the connection is open and not backed up.

    Returns:
        True if every frame was written; False if nothing was (send them with
        ``await ws.send``).
    """
    if ws.protocol.state is not WsState.OPEN or ws.transport.is_closing():
        return False
    if ws.transport.get_write_buffer_size() > ws.write_limit_high:
        return False
    for frame in frames:
        ws.protocol.send_binary(frame)
    ws.send_data()
    return True


#: What a failed or lost connection attempt raises (and the reconnect loop absorbs).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    InvalidHandshake,
    InvalidURI,
    TimeoutError,
    ConnectionClosed,
)


class Unreachable:
    """Says why ``url`` cannot be reached, for a link that retries forever: a warning
    the first time and whenever the reason changes (a newcomer whose controller is down
    sees it at once, not after 40 s of silence), info for the retries in between (a
    controller down for an hour must not fill the log), and a warning when it is reached
    again after a failure. Returns the reason, to pass on."""

    def __init__(self, log: logging.Logger, what: str, url: str) -> None:
        self.log, self.what, self.url = log, what, url
        self.last: str | None = None

    def __call__(self, exc: BaseException) -> str:
        reason = f"{type(exc).__name__}: {exc}"
        level = logging.INFO if reason == self.last else logging.WARNING
        self.log.log(level, "%s %s unreachable: %s (retrying)", self.what, self.url, reason)
        self.last = reason
        return reason

    def reached(self) -> None:
        if self.last is not None:
            self.log.warning("%s %s reached again", self.what, self.url)
            self.last = None


async def reconnect_forever(
    session: Callable[[], Awaitable[None]],
    *,
    on_error: Callable[[BaseException], object],
    on_down: Callable[[], None],
    min_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
    errors: tuple[type[BaseException], ...] = CONNECTION_ERRORS,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run ``session`` again whenever it ends, until ``stop()`` (or cancellation).

    Between attempts it waits with exponential backoff and "equal jitter" (AWS
    architecture blog, 2015), so that a restarted server is not hit by every client at
    the same instant; a session that got going resets the delay. ``on_error`` sees each
    expected failure (``errors``); ``on_down`` runs after every session, however it ended.
    """
    delay = min_delay_s
    while True:
        try:
            await session()
            delay = min_delay_s
        except errors as exc:
            on_error(exc)
        finally:
            on_down()
        if stop():
            return
        await asyncio.sleep(random.uniform(0.5, 1.0) * delay)
        delay = min(delay * 2, max_delay_s)
