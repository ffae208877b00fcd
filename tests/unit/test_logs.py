"""Log records as text and as JSON, with the ids they carry (edgeoffload.logs)."""

from __future__ import annotations

import json
import logging

import pytest

from edgeoffload.logs import JsonFormatter, TextFormatter, configure


def record(msg: str = "node %s joined", *args: object, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("edgeoffload.controller", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(r, key, value)
    return r


def test_json_records_carry_their_ids_as_fields() -> None:
    doc = json.loads(
        JsonFormatter().format(record("node %s joined", "n1", node_id="n1", task_id=7))
    )
    assert doc["message"] == "node n1 joined" and doc["level"] == "INFO"
    assert doc["logger"] == "edgeoffload.controller"
    assert (doc["node_id"], doc["task_id"]) == ("n1", 7)
    assert "conn_id" not in doc and doc["time"].endswith("Z") and doc["ts"] > 0


def test_json_records_keep_the_exception_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        r = record("failed")
        r.exc_info = sys.exc_info()
    line = JsonFormatter().format(r)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exc"]


def test_text_records_append_their_ids() -> None:
    line = TextFormatter().format(record("node %s joined", "n1", node_id="n1", conn_id="c3"))
    assert line.endswith("INFO node n1 joined node_id=n1 conn_id=c3")
    assert TextFormatter().format(record("plain")).endswith("INFO plain")


def test_configure_replaces_handlers_and_refuses_unknown_values() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        handler = configure("info", "json")
        assert root.handlers == [handler] and root.level == logging.INFO
        assert isinstance(handler.formatter, JsonFormatter)
        with pytest.raises(ValueError, match="log level 'LOUD'"):
            configure("loud")
        with pytest.raises(ValueError, match="log format 'xml'"):
            configure("INFO", "xml")  # type: ignore[arg-type]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_the_client_s_records_about_a_node_carry_its_id(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from edgeoffload import Client

    async def main() -> None:
        async with Client(["ws://127.0.0.1:9/offload"]):
            pass

    with caplog.at_level(logging.INFO, logger="edgeoffload.client"):
        asyncio.run(main())
    about = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert about and about[0].node_id == "ws://127.0.0.1:9/offload"  # type: ignore[attr-defined]
    doc = json.loads(JsonFormatter().format(about[0]))
    assert doc["node_id"] == "ws://127.0.0.1:9/offload"
