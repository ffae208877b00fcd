"""A hedged task whose first copy fails: the per-node books must follow the survivor.

Found in review (issue 11): the client moved a hedged task's placement from node A
to node B by editing the task behind the owner table's per-node index, so A still
counted it in flight, and losing A placed again a task B was still running.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeoffload.client.client import Client
from edgeoffload.client.owner import Pending
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Error


@dataclass
class _Link:
    node_id: str


def _hedged(client: Client) -> Pending:
    p = client.owner.create(
        "t", [], priority=0, deadline_at=None, where="edge", spec=None, on_done=lambda v, e: None
    )
    assert client.owner.place(p, "A")
    client.owner.add_hedge(p, "B")
    return p


def test_first_copy_failing_moves_the_task_to_the_hedge_node_in_the_books() -> None:
    client = Client([])
    p = _hedged(client)
    client.on_error(_Link("A"), Error(p.id, ErrorCode.TASK_FAILED, "boom"))  # type: ignore[arg-type]
    assert (p.node, p.hedge) == ("B", None)
    assert client.owner.in_flight("A") == 0
    assert client.owner.in_flight("B") == 1
    assert client.owner.node_lost("A") == []  # B still runs it: nothing to place again
