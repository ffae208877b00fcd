"""Tasks that only nodes load (tests must not import this module themselves)."""

from __future__ import annotations

from edgeoffload.tasks import task


@task(name="remote_only", inline=True)
def remote_only(x: int) -> int:
    return x * 10


@task(name="blob")
def blob(n: int) -> bytes:
    """A large result from a small submit (tests of the bounded result backlog)."""
    return b"x" * n
