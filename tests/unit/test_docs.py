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


def test_the_client_doc_examples_run_and_print_what_they_say() -> None:
    """Each Python example of docs/client.md runs as a user would run it (a fresh
    interpreter), and each ``print`` whose line ends ``# a b c`` prints that."""
    import os
    import re
    import subprocess
    import sys

    text = (ROOT / "docs" / "client.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for block in blocks:
        done = subprocess.run(
            [sys.executable, "-c", block], capture_output=True, text=True, timeout=60, env=env
        )
        assert done.returncode == 0, done.stderr
        expected = [
            m.group(1).split(":")[0].strip()
            for m in re.finditer(r"^\s*print\(.*# (.+)$", block, re.M)
        ]
        lines = done.stdout.splitlines()
        for want in expected:
            assert want in lines, (want, lines)
