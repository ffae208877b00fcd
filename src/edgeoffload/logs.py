"""Logging set-up for every command: human-readable lines by default, one JSON object
per line (``--log-format json``) for log collectors (Loki, Fluent Bit, Elastic...).

Records about a task, a node or a connection carry those ids as fields, passed with
``extra=`` (``log.info("...", extra={"node_id": n})``): :data:`CONTEXT_FIELDS` lists
them. The JSON form puts each in its own key, so a collector can follow one task
across client, node and controller logs (as dask's ``stimulus_id`` does); the text
form appends them as ``key=value``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Literal

#: Ids a record may carry (``extra={...}``), in the order the text form prints them.
CONTEXT_FIELDS = ("task_id", "node_id", "conn_id", "client_id", "subject")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
Format = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (Unix seconds), time (ISO 8601, UTC), level,
    logger, message, the context ids it has, and the exception text if any.

    json is imported here, not with the module: only ``--log-format json`` needs it, and
    a node's start-up imports are its cold start at 0.1 CPU (docs/deployment.md)."""

    def __init__(self) -> None:
        super().__init__()
        import json

        self._dumps = json.dumps

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 6),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return self._dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """``time logger LEVEL message key=value ...`` (the context ids it has)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{name}={value}"
            for name in CONTEXT_FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        if not ids:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the ids
        return f"{head} {' '.join(ids)}{sep}{tail}"


def configure(level: str = "WARNING", fmt: Format = "text") -> logging.Handler:
    """Send every edgeoffload (and library) record at ``level`` or above to stderr in
    ``fmt``; replaces handlers set before (a command configures logging once).

    Raises:
        ValueError: an unknown level or format.
    """
    level = level.upper()
    if level not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r} is not text or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
