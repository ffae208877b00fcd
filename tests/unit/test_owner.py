"""The client's ownership table: exactly-once delivery and fencing."""

from __future__ import annotations

from typing import Any

from edgeoffload.client.owner import LOCAL, OwnerTable, Pending


def new(table: OwnerTable, **kw: Any) -> Pending:
    return table.create(
        "t",
        [],
        priority=0,
        deadline_at=None,
        where="auto",
        spec=None,
        on_done=lambda v, e: None,
        **kw,
    )


def test_ids_are_unique_and_increasing() -> None:
    table = OwnerTable(max_attempts=3)
    assert [new(table).id for _ in range(3)] == [1, 2, 3]


def test_answer_is_taken_once_from_the_current_node_only() -> None:
    table = OwnerTable(max_attempts=3)
    p = new(table)
    assert table.place(p, "A")
    assert table.take(p.id, "B") is None  # not placed there
    assert table.take(p.id, "A") is p
    assert table.take(p.id, "A") is None  # duplicate
    assert table.duplicates_dropped == 2
    assert len(table) == 0


def test_node_lost_returns_its_tasks_and_fences_late_answers() -> None:
    table = OwnerTable(max_attempts=3)
    a, b, c = new(table), new(table), new(table)
    for p in (a, b):
        table.place(p, "A")
    table.place(c, "B")
    lost = table.node_lost("A")
    assert lost == [a, b] and a.node is None
    assert table.in_flight("A") == 0 and table.in_flight("B") == 1
    table.place(a, "B")
    assert table.take(a.id, "A") is None  # the dead node's late result is dropped
    assert table.take(a.id, "B") is a
    assert table.resubmitted == 1


def test_attempts_are_bounded() -> None:
    table = OwnerTable(max_attempts=2)
    p = new(table)
    assert table.place(p, "A")
    table.unplace(p)
    assert table.place(p, LOCAL)
    table.unplace(p)
    assert not table.place(p, "A")


def test_remove_claims_wherever_it_is() -> None:
    table = OwnerTable(max_attempts=2)
    p = new(table)
    table.place(p, "A")
    assert table.remove(p.id) is p
    assert table.remove(p.id) is None
    assert table.in_flight("A") == 0
