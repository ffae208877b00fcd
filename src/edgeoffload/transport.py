"""Writing frames to a websockets connection without awaiting, when it is safe.

``await ws.send(frame)`` costs an async context manager and a drain per frame. When the
connection is open and its write buffer is below websockets' own high-water mark, the
same frame can be written at once through the connection's sans-I/O protocol, which is
exactly what ``send()`` does inside its context (``protocol.send_binary`` then
``send_data``). That lets a plain callback (no task switch) flush a batch, and it is
what keeps a sequential round trip close to a bare websockets echo. When the buffer is
full, callers fall back to ``await ws.send()``, which waits for it to drain
(backpressure is kept).
"""

from __future__ import annotations

from websockets.asyncio.connection import Connection as WsConnection
from websockets.protocol import State as WsState


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
