"""transport: the reconnect loop's backoff, reset and stop (on a patched sleep, so no
wall-clock time passes), and the fast paths' rules for what they hand over or write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State as WsState

from edgeoffload import transport
from edgeoffload.transport import CONNECTION_ERRORS, dispatch, reconnect_forever, write_nowait
from tests.conftest import run


class Script:
    """A fake session: each call plays the next outcome (an exception or None)."""

    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.log: list[str] = []

    async def __call__(self) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        self.log.append(f"session {type(outcome).__name__ if outcome else 'ok'}")
        if outcome is not None:
            raise outcome

    def stop_when_done(self) -> bool:
        return not self.outcomes


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every backoff sleep instead of sleeping; jitter pinned to its top (1.0)."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        slept.append(round(delay, 9))
        await real_sleep(0)

    monkeypatch.setattr(transport.asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(transport.random, "uniform", lambda a, b: b)
    return slept


def loop(script: Script, **kw: Any) -> tuple[list[str], list[BaseException]]:
    errors: list[BaseException] = []

    def on_down() -> None:
        script.log.append("down")

    run(
        reconnect_forever(
            script, on_error=errors.append, on_down=on_down, stop=script.stop_when_done, **kw
        )
    )
    return script.log, errors


def test_failures_back_off_exponentially_up_to_the_cap(sleeps: list[float]) -> None:
    script = Script(*[OSError("refused")] * 7)
    _, errors = loop(script, min_delay_s=0.5, max_delay_s=5.0)
    # No sleep after the last attempt: stop() is asked first.
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert [str(e) for e in errors] == ["refused"] * 7


def test_a_session_that_got_going_resets_the_delay(sleeps: list[float]) -> None:
    script = Script(OSError(), OSError(), None, OSError(), None)
    log, errors = loop(script)
    assert sleeps == [0.1, 0.2, 0.1, 0.2]  # reset to the minimum, then doubling again
    assert len(errors) == 3
    assert log == [
        "session OSError", "down", "session OSError", "down", "session ok", "down",
        "session OSError", "down", "session ok", "down",
    ]  # fmt: skip


def test_stop_is_asked_after_every_session_and_ends_the_loop_without_sleeping(
    sleeps: list[float],
) -> None:
    script = Script(TimeoutError())
    log, errors = loop(script)
    assert script.calls == 1 and sleeps == []
    assert log == ["session TimeoutError", "down"]
    assert isinstance(errors[0], TimeoutError)


def test_an_unexpected_error_propagates_after_on_down(sleeps: list[float]) -> None:
    script = Script(OSError(), ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        loop(script)
    assert script.log == ["session OSError", "down", "session ValueError", "down"]
    assert sleeps == [0.1]


def test_only_the_given_errors_are_absorbed(sleeps: list[float]) -> None:
    script = Script(KeyError("k"), OSError("not absorbed"))
    with pytest.raises(OSError, match="not absorbed"):  # OSError is not in this loop's list
        loop(script, errors=(KeyError,))
    assert script.calls == 2


def test_the_jitter_is_equal_jitter_between_half_and_all_of_the_delay(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    bounds: list[tuple[float, float]] = []

    def low(a: float, b: float) -> float:
        bounds.append((a, b))
        return a

    monkeypatch.setattr(transport.random, "uniform", low)
    loop(Script(OSError(), OSError(), OSError()), min_delay_s=1.0)
    assert bounds == [(0.5, 1.0), (0.5, 1.0)]
    assert sleeps == [0.5, 1.0]


def test_cancellation_during_the_backoff_ends_the_loop() -> None:
    # A tiny real loop: the session always fails, the backoff is real, we cancel it.
    downs: list[int] = []

    async def failing() -> None:
        raise ConnectionRefusedError

    async def main() -> None:
        third = asyncio.Event()

        def on_down() -> None:
            downs.append(1)
            if len(downs) == 3:
                third.set()

        task = asyncio.ensure_future(
            reconnect_forever(
                failing, on_error=lambda e: None, on_down=on_down,
                min_delay_s=0.001, max_delay_s=0.002,
            )
        )  # fmt: skip
        await third.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main(), timeout=10)
    assert len(downs) >= 3


def test_the_default_errors_cover_refusals_timeouts_and_closed_links() -> None:
    from websockets.exceptions import ConnectionClosedError, InvalidURI

    for exc in (ConnectionRefusedError(), TimeoutError(), InvalidURI("x", "bad")):
        assert isinstance(exc, CONNECTION_ERRORS)
    assert issubclass(ConnectionClosedError, CONNECTION_ERRORS)
    assert not isinstance(ValueError(), CONNECTION_ERRORS)


def fake_conn() -> Any:
    aborted: list[bool] = []
    conn = SimpleNamespace(transport=SimpleNamespace(abort=lambda: aborted.append(True)))
    conn.aborted = aborted
    return conn


def test_dispatch_hands_over_whole_data_frames_as_bytes() -> None:
    got: list[bytes] = []
    conn = fake_conn()
    assert dispatch(conn, got.append, Frame(Opcode.BINARY, b"\x01\x02"))
    assert dispatch(conn, got.append, Frame(Opcode.TEXT, b"hi"))
    assert dispatch(conn, got.append, Frame(Opcode.BINARY, bytearray(b"ba")))
    assert got == [b"\x01\x02", b"hi", b"ba"]
    assert all(type(g) is bytes for g in got)


def test_dispatch_leaves_control_and_unhandled_frames_to_websockets() -> None:
    got: list[bytes] = []
    conn = fake_conn()
    assert not dispatch(conn, None, Frame(Opcode.BINARY, b"x"))
    assert not dispatch(conn, got.append, Frame(Opcode.PING, b""))
    assert not dispatch(conn, got.append, Frame(Opcode.PONG, b""))
    assert not dispatch(conn, got.append, Frame(Opcode.CLOSE, b""))
    assert not dispatch(conn, got.append, Frame(Opcode.CONT, b"x"))  # no message begun
    assert not dispatch(conn, got.append, "not a frame")  # type: ignore[arg-type]
    assert got == []


def test_a_fragmented_message_is_handed_over_whole_at_its_last_frame() -> None:
    got: list[bytes] = []
    conn = fake_conn()
    assert dispatch(conn, got.append, Frame(Opcode.BINARY, b"ab", fin=False))
    assert dispatch(conn, got.append, Frame(Opcode.PING, b"")) is False  # may interleave
    assert dispatch(conn, got.append, Frame(Opcode.CONT, bytearray(b"cd"), fin=False))
    assert got == []
    assert dispatch(conn, got.append, Frame(Opcode.CONT, b"e"))
    assert got == [b"abcde"]
    assert dispatch(conn, got.append, Frame(Opcode.TEXT, b"next"))  # a new message
    assert got == [b"abcde", b"next"]
    assert not dispatch(conn, got.append, Frame(Opcode.CONT, b"x"))  # the last one ended


def test_a_failing_handler_aborts_the_connection_not_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = fake_conn()

    def broken(data: bytes) -> None:
        raise RuntimeError("handler bug")

    assert dispatch(conn, broken, Frame(Opcode.BINARY, b"x"))
    assert conn.aborted == [True]
    assert "message handler failed" in caplog.text


def fake_ws(
    state: WsState = WsState.OPEN, closing: bool = False, buffered: int = 0
) -> tuple[Any, list[bytes], Callable[[], int]]:
    sent: list[bytes] = []
    flushes = [0]

    def send_data() -> None:
        flushes[0] += 1

    ws = SimpleNamespace(
        protocol=SimpleNamespace(state=state, send_binary=sent.append),
        transport=SimpleNamespace(
            is_closing=lambda: closing, get_write_buffer_size=lambda: buffered
        ),
        write_limit_high=1000,
        send_data=send_data,
    )
    return ws, sent, lambda: flushes[0]


def test_write_nowait_writes_every_frame_and_flushes_once() -> None:
    ws, sent, flushes = fake_ws(buffered=1000)  # at the mark, not above it
    assert write_nowait(ws, [b"a", b"b", b"c"])
    assert sent == [b"a", b"b", b"c"] and flushes() == 1


@pytest.mark.parametrize(
    "ws_args",
    [
        {"state": WsState.CLOSING},
        {"state": WsState.CONNECTING},
        {"closing": True},
        {"buffered": 1001},
    ],
)
def test_write_nowait_writes_nothing_when_closed_or_backed_up(ws_args: dict[str, Any]) -> None:
    ws, sent, flushes = fake_ws(**ws_args)
    assert not write_nowait(ws, [b"a"])
    assert sent == [] and flushes() == 0
