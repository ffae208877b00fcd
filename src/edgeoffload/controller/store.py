"""The controller's store: nodes, a metrics time series and the event log.

One small interface, two databases: SQLite (the embedded default, a file) and
PostgreSQL (a shared store). Both are reached through DB-API and the same SQL; the only
differences (placeholders, auto-increment) are the two subclasses' few lines. Calls
block: the controller runs them on one dedicated thread, so they are also serialised.

URLs: ``sqlite:///path/to/file.db`` (``sqlite:///:memory:`` for tests) and
``postgresql://user@host:port/dbname``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from ..errors import ConfigError
from ..metrics import NodeMetrics
from ..protocol.control import NodeView


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    ts: float
    kind: str
    node_id: str
    detail: str


_METRICS_DECODER = msgspec.json.Decoder(NodeMetrics)
_VIEW_FIELDS = (
    "node_id",
    "url",
    "state",
    "draining",
    "drain_reason",
    "cores",
    "speed_hz",
    "labels",
    "tasks",
    "joined_at",
    "last_seen",
    "public_key",
)


class Store:
    """SQL shared by both databases; subclasses connect and set the dialect."""

    placeholder = "?"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, connection: Any) -> None:
        self._db = connection
        self._migrate()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.placeholder)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        cur = self._db.cursor()
        cur.execute(self._sql(sql), params)
        return cur

    def _migrate(self) -> None:
        for statement in (
            """CREATE TABLE IF NOT EXISTS nodes (
                node_id TEXT PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL,
                draining INTEGER NOT NULL, drain_reason TEXT, cores INTEGER NOT NULL,
                speed_hz DOUBLE PRECISION NOT NULL, labels TEXT NOT NULL, tasks TEXT NOT NULL,
                joined_at DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL,
                public_key TEXT)""",
            """CREATE TABLE IF NOT EXISTS metrics (
                node_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, data TEXT NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS metrics_node_ts ON metrics (node_id, ts)",
            f"""CREATE TABLE IF NOT EXISTS events (
                id {self.serial}, ts DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL,
                node_id TEXT NOT NULL, detail TEXT NOT NULL)""",
        ):
            self._execute(statement)
        # A database made before nodes had identity keys: add the column (SQLite has no
        # ADD COLUMN IF NOT EXISTS, so look first; both databases fill cursor.description).
        columns = {d[0] for d in self._execute("SELECT * FROM nodes LIMIT 0").description}
        if "public_key" not in columns:
            self._execute("ALTER TABLE nodes ADD COLUMN public_key TEXT")
        self._db.commit()

    # -- nodes --------------------------------------------------------------------------

    def delete_node(self, node_id: str) -> None:
        """Forget one node's row (its events stay in the log)."""
        self._execute("DELETE FROM nodes WHERE node_id = ?", (node_id,))
        self._db.commit()

    def save_node(self, v: NodeView) -> None:
        """Insert or update one node's row (its load figures are not persisted)."""
        values = (
            v.node_id, v.url, v.state.value, int(v.draining), v.drain_reason, v.cores, v.speed_hz,
            json.dumps(v.labels), json.dumps(v.tasks), v.joined_at, v.last_seen, v.public_key,
        )  # fmt: skip
        columns = ", ".join(_VIEW_FIELDS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _VIEW_FIELDS[1:])
        self._execute(
            f"INSERT INTO nodes ({columns}) VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT (node_id) DO UPDATE SET {updates}",
            values,
        )
        self._db.commit()

    def nodes(self) -> list[NodeView]:
        rows = self._execute(
            f"SELECT {', '.join(_VIEW_FIELDS)} FROM nodes ORDER BY node_id"
        ).fetchall()
        views = []
        for row in rows:
            d = dict(zip(_VIEW_FIELDS, row, strict=True))
            d["draining"] = bool(d["draining"])
            d["labels"] = json.loads(d["labels"])
            d["tasks"] = json.loads(d["tasks"])
            views.append(msgspec.convert(d, NodeView))
        return views

    # -- metrics --------------------------------------------------------------------------

    def add_metrics(self, node_id: str, ts: float, m: NodeMetrics) -> None:
        self._execute(
            "INSERT INTO metrics (node_id, ts, data) VALUES (?, ?, ?)",
            (node_id, ts, msgspec.json.encode(m).decode()),
        )
        self._db.commit()

    def metrics(
        self, node_id: str, since: float, limit: int = 10_000
    ) -> list[tuple[float, NodeMetrics]]:
        rows = self._execute(
            "SELECT ts, data FROM metrics WHERE node_id = ? AND ts >= ? ORDER BY ts LIMIT ?",
            (node_id, since, limit),
        ).fetchall()
        return [(float(ts), _METRICS_DECODER.decode(data)) for ts, data in rows]

    def prune_metrics(self, before: float) -> int:
        """Delete samples older than ``before`` (the retention setting)."""
        cur = self._execute("DELETE FROM metrics WHERE ts < ?", (before,))
        self._db.commit()
        return int(cur.rowcount)

    # -- events ---------------------------------------------------------------------------

    def add_event(self, ts: float, kind: str, node_id: str, detail: str) -> int:
        cur = self._execute(
            "INSERT INTO events (ts, kind, node_id, detail) VALUES (?, ?, ?, ?) RETURNING id",
            (ts, kind, node_id, detail),
        )
        (event_id,) = cur.fetchone()
        self._db.commit()
        return int(event_id)

    def prune_events(self, before: float, keep: int) -> int:
        """Delete events older than ``before``, then all but the newest ``keep``."""
        cur = self._execute("DELETE FROM events WHERE ts < ?", (before,))
        deleted = int(cur.rowcount)
        cur = self._execute(
            "DELETE FROM events WHERE id <= "
            "(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (keep,),
        )
        self._db.commit()
        return deleted + max(0, int(cur.rowcount))

    def events(
        self,
        since_id: int = 0,
        limit: int = 1000,
        node_id: str | None = None,
        newest: bool = False,
    ) -> list[EventRecord]:
        """Events after ``since_id``, oldest first: the first ``limit`` of them, or with
        ``newest`` the last ``limit`` (what a status view shows)."""
        sql = "SELECT id, ts, kind, node_id, detail FROM events WHERE id > ?"
        params: tuple[Any, ...] = (since_id,)
        if node_id is not None:
            sql += " AND node_id = ?"
            params += (node_id,)
        order = " ORDER BY id DESC LIMIT ?" if newest else " ORDER BY id LIMIT ?"
        rows = self._execute(sql + order, (*params, limit)).fetchall()
        records = [EventRecord(int(i), float(ts), k, n, d) for i, ts, k, n, d in rows]
        return records[::-1] if newest else records

    def close(self) -> None:
        self._db.close()


class SqliteStore(Store):
    def __init__(self, path: str) -> None:
        import sqlite3

        # One thread uses it (the controller's store thread), but not the one that
        # opened it in tests: allow that, access is serialised by the caller.
        db = sqlite3.connect(path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        super().__init__(db)


class PostgresStore(Store):
    placeholder = "%s"
    serial = "BIGSERIAL PRIMARY KEY"

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__(psycopg.connect(url))


def open_store(url: str) -> Store:
    """Open the store named by ``url`` (see the module docstring).

    Raises:
        ConfigError: unknown scheme, or the database cannot be opened.
    """
    try:
        if url.startswith("sqlite:///"):
            return SqliteStore(url.removeprefix("sqlite:///") or ":memory:")
        if url.startswith(("postgresql://", "postgres://")):
            return PostgresStore(url)
    except ImportError as exc:
        raise ConfigError(f"store {url!r}: {exc} (install the `pg` extra for PostgreSQL)") from exc
    except Exception as exc:  # sqlite3.Error, psycopg.Error: both name the problem
        raise ConfigError(f"store {url!r}: {type(exc).__name__}: {exc}") from exc
    raise ConfigError(f"store {url!r}: expected sqlite:///PATH or postgresql://...")
