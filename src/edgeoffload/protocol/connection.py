"""One side of one offload connection, as a pure state machine (sans-I/O).

A :class:`Connection` turns received frames into messages and messages to send into
frames, and checks each against the connection's state. It does no I/O, reads no
clock and starts no task: the WebSocket adapters in :mod:`edgeoffload.transport`
feed it and flush it, and the simulator or a test can drive it directly.

Use::

    conn = Connection(Role.NODE)
    conn.receive_data(frame)                  # bytes of one WebSocket message
    for event in conn.events_received():      # Message | RemoteProtocolError
        ...
    conn.send(Welcome(...))                   # raises LocalProtocolError if not allowed now
    for frame in conn.data_to_send(): ...     # write each as one binary message
    if conn.state is State.CLOSED: close the socket with conn.close_code

Bad input never raises out of :meth:`Connection.receive_data`: it becomes a
:class:`~edgeoffload.errors.RemoteProtocolError` event, and an :class:`Error` frame is
queued for the peer. Before the handshake completes every error closes the
connection; after it, a malformed frame is answered and the connection stays open,
because WebSocket framing keeps message boundaries (one bad frame cannot desynchronise
the ones after it), and closing would cost the sender every other task in flight.
"""

from __future__ import annotations

from enum import Enum

from ..errors import FrameTooLarge, LocalProtocolError, RemoteProtocolError
from .codec import DEFAULT_MAX_FRAME_BYTES, Codec
from .codes import ErrorCode
from .messages import (
    PROTOCOL_VERSION,
    Cancel,
    Draining,
    Error,
    Heartbeat,
    Hello,
    Message,
    Result,
    ResultBatch,
    Resume,
    Status,
    Submit,
    SubmitBatch,
    Welcome,
)


class Role(Enum):
    """Which end of the connection this is."""

    CLIENT = "client"
    NODE = "node"


class State(Enum):
    """Connection states. Every transition is in :data:`TRANSITIONS`."""

    CONNECTING = "connecting"  # client: nothing sent yet
    AWAIT_WELCOME = "await_welcome"  # client: hello sent
    AWAIT_HELLO = "await_hello"  # node: nothing received yet
    HELLO_RECEIVED = "hello_received"  # node: hello received, accept or reject it
    OPEN = "open"
    DRAINING = "draining"  # node takes no new work; results still flow
    CLOSED = "closed"


class Direction(Enum):
    SEND = "send"
    RECV = "recv"


_S, _R = Direction.SEND, Direction.RECV
_TASK_TRAFFIC = (Result, ResultBatch, Error, Status)

#: Every transition lives here: (role, state, direction, message type) -> new state.
#: A message not listed for the current state is a protocol error naming all four.
TRANSITIONS: dict[tuple[Role, State, Direction, type], State] = {
    # client handshake
    (Role.CLIENT, State.CONNECTING, _S, Hello): State.AWAIT_WELCOME,
    (Role.CLIENT, State.AWAIT_WELCOME, _R, Welcome): State.OPEN,
    (Role.CLIENT, State.AWAIT_WELCOME, _R, Error): State.CLOSED,
    # client, open
    **{
        (Role.CLIENT, State.OPEN, _S, t): State.OPEN
        for t in (Submit, SubmitBatch, Cancel, Heartbeat)
    },
    **{(Role.CLIENT, State.OPEN, _R, t): State.OPEN for t in _TASK_TRAFFIC},
    (Role.CLIENT, State.OPEN, _R, Draining): State.DRAINING,
    # client, node draining: no new submits, everything else still flows
    **{(Role.CLIENT, State.DRAINING, _S, t): State.DRAINING for t in (Cancel, Heartbeat)},
    **{(Role.CLIENT, State.DRAINING, _R, t): State.DRAINING for t in (*_TASK_TRAFFIC, Draining)},
    (Role.CLIENT, State.DRAINING, _R, Resume): State.OPEN,
    (Role.CLIENT, State.OPEN, _R, Resume): State.OPEN,
    # node handshake
    (Role.NODE, State.AWAIT_HELLO, _R, Hello): State.HELLO_RECEIVED,
    (Role.NODE, State.HELLO_RECEIVED, _S, Welcome): State.OPEN,
    (Role.NODE, State.HELLO_RECEIVED, _S, Error): State.CLOSED,
    (Role.NODE, State.HELLO_RECEIVED, _S, Draining): State.CLOSED,
    # node, open
    **{
        (Role.NODE, State.OPEN, _R, t): State.OPEN for t in (Submit, SubmitBatch, Cancel, Heartbeat)
    },
    **{(Role.NODE, State.OPEN, _S, t): State.OPEN for t in _TASK_TRAFFIC},
    (Role.NODE, State.OPEN, _S, Draining): State.DRAINING,
    # node, draining: submits may still arrive (sent before the client heard); the node
    # answers each with a `draining` error so that its owner resubmits it elsewhere.
    **{
        (Role.NODE, State.DRAINING, _R, t): State.DRAINING
        for t in (Submit, SubmitBatch, Cancel, Heartbeat)
    },
    **{(Role.NODE, State.DRAINING, _S, t): State.DRAINING for t in (*_TASK_TRAFFIC, Draining)},
    (Role.NODE, State.DRAINING, _S, Resume): State.OPEN,
}

#: Error messages about a bad frame quote msgspec's diagnosis; this bounds their size.
MAX_ERROR_MESSAGE_CHARS = 300

#: WebSocket close codes the I/O layer uses when the connection ends in CLOSED.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
#: Application close codes (RFC 6455 section 7.4.2 leaves 4000-4999 to applications),
#: used by the node's I/O adapter; docs/protocol.md lists them.
#: No hello within the node's ``hello_timeout_s`` of the connection opening.
CLOSE_HELLO_TIMEOUT = 4001
#: The client left answers unread: its backlog stayed above ``max_backlog_bytes`` for
#: ``backlog_timeout_s`` (the node had stopped reading the connection meanwhile).
CLOSE_BACKLOG_FULL = 4002


class Connection:
    """Protocol state of one connection (see the module docstring for use).

    Args:
        role: which end this is.
        max_frame_bytes: frames above this are refused in both directions.
    """

    def __init__(self, role: Role, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.role = role
        self.state = State.CONNECTING if role is Role.CLIENT else State.AWAIT_HELLO
        self.codec = Codec(max_frame_bytes)
        #: Set when the state becomes CLOSED: the WebSocket close code to use.
        self.close_code: int | None = None
        self.close_reason = ""
        self._events: list[Message | RemoteProtocolError] = []
        self._outgoing: list[bytes] = []

    # -- receiving ---------------------------------------------------------------------

    def receive_data(self, data: bytes | memoryview) -> None:
        """Parse one received frame; read the outcome with :meth:`events_received`.

        Never raises for bad input: it records a :class:`RemoteProtocolError` event,
        queues an :class:`Error` frame for the peer and, if the error is fatal, moves to
        CLOSED with :attr:`close_code` set.
        """
        if self.state is State.CLOSED:
            return
        try:
            message = self.codec.decode(data)
        except RemoteProtocolError as exc:
            if not (exc.code is ErrorCode.BAD_FRAME and self._salvage(data)):
                self._fail(exc)
            return
        new_state = TRANSITIONS.get((self.role, self.state, _R, type(message)))
        if new_state is None:
            self._fail(
                RemoteProtocolError(
                    ErrorCode.BAD_FRAME,
                    f"{type(message).__name__} not allowed for a {self.role.value} "
                    f"in state {self.state.value}",
                )
            )
            return
        if isinstance(message, Hello | Welcome) and message.version != PROTOCOL_VERSION:
            self._fail(
                RemoteProtocolError(
                    ErrorCode.VERSION_MISMATCH,
                    f"peer speaks protocol version {message.version}, "
                    f"this side speaks {PROTOCOL_VERSION}",
                ),
                fatal=True,
            )
            return
        self.state = new_state
        if new_state is State.CLOSED:
            self._close(CLOSE_NORMAL, "closed by peer")
        self._events.append(message)

    def _salvage(self, data: bytes | memoryview) -> bool:
        """A node keeps the valid submits of a batch with bad items: the batch becomes
        an event of its valid submits, then a :class:`~edgeoffload.errors.BadItem`
        event per bad item (the node answers each under its id). False: not such a
        batch, or not now (refuse the frame whole)."""
        if self.role is not Role.NODE or self.state not in (State.OPEN, State.DRAINING):
            return False
        if (self.role, self.state, _R, SubmitBatch) not in TRANSITIONS:
            return False
        batch, bad = self.codec.salvage_batch(data)
        if not bad:
            return False
        if batch is not None:
            self._events.append(batch)
        self._events.extend(bad)
        return True

    def events_received(self) -> list[Message | RemoteProtocolError]:
        """Return and clear what :meth:`receive_data` produced, in order."""
        events, self._events = self._events, []
        return events

    def _fail(self, exc: RemoteProtocolError, *, fatal: bool = False) -> None:
        fatal = fatal or self.state not in (State.OPEN, State.DRAINING)
        self._events.append(exc)
        if self.role is Role.NODE and self.state is not State.CLOSED:
            # The client learns why. A client does not answer a node's bad frame with a
            # frame of its own: it closes (a node that sends garbage is not trusted).
            self._outgoing.append(self._error_frame(exc.code, exc.message))
        if fatal or self.role is Role.CLIENT:
            code = CLOSE_TOO_BIG if exc.code is ErrorCode.TOO_LARGE else CLOSE_PROTOCOL_ERROR
            self._close(code, f"{exc.code}: {exc.message}"[:120])

    def _error_frame(self, code: ErrorCode, message: str) -> bytes:
        """An Error frame about the connection, its message shortened to fit the limit."""
        for text in (message[:MAX_ERROR_MESSAGE_CHARS], ""):
            try:
                return self.codec.encode(Error(None, code, text))
            except FrameTooLarge:
                continue
        return self.codec._encoder.encode(Error(None, code, ""))  # the peer will refuse it

    # -- sending -----------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Queue one message; collect the frame with :meth:`data_to_send`.

        Raises:
            LocalProtocolError: the message is not allowed in the current state.
            FrameTooLarge: the encoded frame exceeds the limit (nothing is queued).
            TypeError: a task value is not a msgpack value or numpy array.
        """
        new_state = TRANSITIONS.get((self.role, self.state, _S, type(message)))
        if new_state is None:
            raise LocalProtocolError(
                ErrorCode.BAD_FRAME,
                f"cannot send {type(message).__name__} as a {self.role.value} "
                f"in state {self.state.value}",
            )
        frame = self.codec.encode(message)
        self._outgoing.append(frame)
        self.state = new_state
        if new_state is State.CLOSED:
            code = CLOSE_POLICY_VIOLATION if isinstance(message, Error) else CLOSE_GOING_AWAY
            self._close(code, message.message if isinstance(message, Error) else "draining")

    def data_to_send(self) -> list[bytes]:
        """Return and clear the frames to write, one WebSocket binary message each."""
        frames, self._outgoing = self._outgoing, []
        return frames

    # -- handshake helpers ---------------------------------------------------------------

    def reject(self, code: ErrorCode, message: str) -> None:
        """Node: refuse a received hello (e.g. ``unauthorized``) and close."""
        self.send(Error(None, code, message))

    def close(self, reason: str = "closed") -> None:
        """Mark the connection closed by this side (normal closure)."""
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self._close(CLOSE_NORMAL, reason)

    def _close(self, code: int, reason: str) -> None:
        self.state = State.CLOSED
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason

    @property
    def can_submit(self) -> bool:
        """True when the client may send new submits (handshake done, node not draining)."""
        return self.state is State.OPEN
