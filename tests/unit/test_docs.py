"""The documentation that mirrors code is checked against it."""

from __future__ import annotations

from pathlib import Path

from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import MESSAGE_TYPES

ROOT = Path(__file__).resolve().parents[2]


def test_protocol_doc_lists_every_error_code_and_message() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    for code in ErrorCode:
        assert f"| `{code.value}` |" in text, code
    for message in MESSAGE_TYPES:
        assert f"| {message.__name__} |" in text, message


def test_protocol_doc_descriptions_match_the_code() -> None:
    from edgeoffload.protocol.codes import DESCRIPTIONS

    text = (ROOT / "docs" / "protocol.md").read_text()
    for code, description in DESCRIPTIONS.items():
        assert f"| `{code.value}` | {description} |" in text, code


def test_protocol_doc_lists_every_close_code() -> None:
    from edgeoffload.protocol import connection

    text = (ROOT / "docs" / "protocol.md").read_text()
    for name in dir(connection):
        if name.startswith("CLOSE_"):
            assert f"| {getattr(connection, name)} |" in text, name
