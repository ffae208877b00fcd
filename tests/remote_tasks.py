"""Tasks that only nodes load (tests must not import this module themselves)."""

from __future__ import annotations

from edgeoffload.tasks import task


@task(name="remote_only", inline=True)
def remote_only(x: int) -> int:
    return x * 10
