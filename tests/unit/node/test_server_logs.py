"""The node's log records about a connection or a task carry its ids (edgeoffload.logs),
so that a collector can follow one client across its records."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import run
from tests.unit.node.test_server import hello, started


def test_a_record_about_a_connection_names_its_connection_and_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with started() as node:
            ws, _ = await hello(node)  # client id "test"
            await ws.send(b"\xc1 not msgpack")  # a bad frame: logged, answered, kept open
            await ws.recv()
            await ws.close()

    with caplog.at_level(logging.INFO, logger="edgeoffload.node"):
        run(scenario(), timeout=60)
    about = [r for r in caplog.records if r.getMessage().startswith("client test:")]
    assert about, [r.getMessage() for r in caplog.records]
    record = about[0]
    assert record.client_id == "test"  # type: ignore[attr-defined]
    assert isinstance(record.conn_id, int) and record.conn_id >= 1  # type: ignore[attr-defined]
