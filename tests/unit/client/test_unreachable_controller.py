"""A client whose controller is down says so, with the controller's URL and why, and
keeps retrying (issue 15: it raised ``NoNodeAvailable`` after 15 s naming nothing; a node
printed READY and nothing else for 40 s)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from edgeoffload import Client
from edgeoffload.errors import NoNodeAvailable
from edgeoffload.transport import Unreachable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_task_that_found_no_node_names_the_unreachable_controller() -> None:
    url = f"ws://127.0.0.1:{free_port()}"

    async def main() -> None:
        async with Client(controller=url, wait_for_node_s=0.5) as c:
            with pytest.raises(NoNodeAvailable) as err:
                await c.submit("add", 1, 2, where="edge")
        message = str(err.value)
        assert f"controller {url}" in message, message
        assert "ConnectionRefusedError" in message, message

    asyncio.run(main())


def test_unreachable_warns_once_per_reason_then_says_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("edgeoffload.test")
    say = Unreachable(log, "controller", "http://c:1")
    with caplog.at_level(logging.INFO, logger="edgeoffload.test"):
        assert (
            say(ConnectionRefusedError(111, "refused"))
            == "ConnectionRefusedError: [Errno 111] refused"
        )
        say(ConnectionRefusedError(111, "refused"))
        say(TimeoutError("timed out"))
        say.reached()
        say.reached()
    refused = "ConnectionRefusedError: [Errno 111] refused"
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (
            logging.WARNING,
            f"controller http://c:1 unreachable: {refused} (retrying)",
        ),
        (
            logging.INFO,
            f"controller http://c:1 unreachable: {refused} (retrying)",
        ),
        (logging.WARNING, "controller http://c:1 unreachable: TimeoutError: timed out (retrying)"),
        (logging.WARNING, "controller http://c:1 reached again"),
    ]
