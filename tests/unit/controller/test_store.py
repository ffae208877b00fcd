"""The store, against SQLite and a real PostgreSQL server, with the same tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgeoffload.controller.store import Store, open_store
from edgeoffload.errors import ConfigError
from edgeoffload.protocol.control import NodeState, NodeView
from tests.unit.controller.test_membership import metrics


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path}/c.db")
    else:
        url = request.getfixturevalue("postgres_url")
        s = open_store(url)
        for table in ("nodes", "metrics", "events"):
            s._execute(f"DELETE FROM {table}")
        s._db.commit()
    yield s
    s.close()


def view(node_id: str = "a", **kw: object) -> NodeView:
    fields: dict[str, object] = {"state": NodeState.ALIVE, **kw}
    return NodeView(node_id=node_id, url=f"ws://{node_id}", **fields)  # type: ignore[arg-type]


def test_nodes_upsert_and_reload(store: Store) -> None:
    store.save_node(view(labels={"gpu": "true"}, tasks=["echo"], cores=4, speed_hz=2e9))
    store.save_node(view("b"))
    store.save_node(
        view(state=NodeState.DEAD, draining=True, drain_reason="x", labels={"gpu": "true"})
    )
    nodes = store.nodes()
    assert [n.node_id for n in nodes] == ["a", "b"]
    a = nodes[0]
    assert (a.state, a.draining, a.drain_reason, a.labels) == (
        NodeState.DEAD,
        True,
        "x",
        {"gpu": "true"},
    )


def test_metrics_time_series_and_retention(store: Store) -> None:
    for t in range(10):
        store.add_metrics("a", float(t), metrics(cpu=float(t)))
    store.add_metrics("b", 5.0, metrics())
    rows = store.metrics("a", since=5.0)
    assert [ts for ts, _ in rows] == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert rows[0][1].cpu_percent == 5.0 and rows[0][1].p95_task_ms == 12.0
    assert store.prune_metrics(before=8.0) == 9
    assert [ts for ts, _ in store.metrics("a", since=0.0)] == [8.0, 9.0]


def test_events_are_ordered_and_paged(store: Store) -> None:
    ids = [
        store.add_event(float(i), "joined" if i % 2 else "dead", "a" if i < 3 else "b", f"d{i}")
        for i in range(5)
    ]
    assert ids == sorted(ids)
    assert [e.detail for e in store.events(since_id=ids[1])] == ["d2", "d3", "d4"]
    assert [e.detail for e in store.events(limit=2)] == ["d0", "d1"]
    assert [e.detail for e in store.events(node_id="b")] == ["d3", "d4"]


def test_bad_store_urls_are_config_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="expected sqlite:///PATH or postgresql://"):
        open_store("mysql://x")
    with pytest.raises(ConfigError, match="unable to open database file"):
        open_store(f"sqlite:///{tmp_path}/no/such/dir/c.db")
    with pytest.raises(ConfigError, match="OperationalError"):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_events_are_pruned_by_age_then_count(store: Store) -> None:
    for i in range(30):
        store.add_event(float(i), "joined", f"n{i}", "")
    assert store.prune_events(before=10.0, keep=15) == 15
    kept = store.events(0, 100)
    assert [e.node_id for e in kept] == [f"n{i}" for i in range(15, 30)]
    assert store.prune_events(before=0.0, keep=100) == 0


def test_the_newest_events_come_oldest_first(store: Store) -> None:
    for i in range(10):
        store.add_event(float(i), "joined", f"n{i}", "")
    assert [e.node_id for e in store.events(0, 3, newest=True)] == ["n7", "n8", "n9"]
    assert [e.node_id for e in store.events(0, 3, "n2", newest=True)] == ["n2"]


def test_a_nodes_key_is_kept_and_a_row_can_be_forgotten(store: Store) -> None:
    key = "k" * 43
    store.save_node(view("a", public_key=key))
    store.save_node(view("b"))
    assert [(v.node_id, v.public_key) for v in store.nodes()] == [("a", key), ("b", None)]
    store.delete_node("a")
    assert [v.node_id for v in store.nodes()] == ["b"]


def test_a_database_from_before_identity_keys_gains_the_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        """CREATE TABLE nodes (
        node_id TEXT PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL,
        draining INTEGER NOT NULL, drain_reason TEXT, cores INTEGER NOT NULL,
        speed_hz DOUBLE PRECISION NOT NULL, labels TEXT NOT NULL, tasks TEXT NOT NULL,
        joined_at DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL)"""
    )
    db.execute(
        "INSERT INTO nodes VALUES ('old', 'ws://h:1', 'alive', 0, NULL, 1, 0, '{}', '[]', 0, 0)"
    )
    db.commit()
    db.close()
    store = open_store(f"sqlite:///{path}")
    try:
        assert [(v.node_id, v.public_key) for v in store.nodes()] == [("old", None)]
        store.save_node(view("old", public_key="k" * 43))
        assert store.nodes()[0].public_key == "k" * 43
    finally:
        store.close()
