"""edgeoffload: decide per task whether to compute locally or on an edge node, then do it.

Public API (imported lazily, so that ``import edgeoffload`` stays cheap for a node)::

    from edgeoffload import Client, Graph, task
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BadArguments",
    "BlockingTaskHandle",
    "Cancelled",
    "Client",
    "ClientConfig",
    "ConfigError",
    "DeadlineExceeded",
    "EdgeOffloadError",
    "EmulationError",
    "Forbidden",
    "FrameTooLarge",
    "Graph",
    "NoNodeAvailable",
    "NodeConfig",
    "Overloaded",
    "Stage",
    "TaskError",
    "TaskFailed",
    "TaskHandle",
    "TaskInfo",
    "TaskState",
    "Unauthorized",
    "UnknownTask",
    "__version__",
    "as_completed",
    "task",
    "wait",
]

_WHERE = {
    "Client": "edgeoffload.client.client",
    "ClientConfig": "edgeoffload.config",
    "Graph": "edgeoffload.client.graph",
    "Stage": "edgeoffload.client.graph",
    "NodeConfig": "edgeoffload.config",
    "task": "edgeoffload.tasks",
    "TaskHandle": "edgeoffload.client.handle",
    "TaskInfo": "edgeoffload.client.handle",
    "BlockingTaskHandle": "edgeoffload.client.sync",
    "wait": "edgeoffload.client.futures",
    "as_completed": "edgeoffload.client.futures",
    "FIRST_COMPLETED": "edgeoffload.client.futures",
    "FIRST_EXCEPTION": "edgeoffload.client.futures",
    "ALL_COMPLETED": "edgeoffload.client.futures",
    "TaskState": "edgeoffload.client.ownership",
}

if TYPE_CHECKING:
    from .client.client import Client
    from .client.futures import (
        ALL_COMPLETED,
        FIRST_COMPLETED,
        FIRST_EXCEPTION,
        as_completed,
        wait,
    )
    from .client.graph import Graph, Stage
    from .client.handle import TaskHandle, TaskInfo
    from .client.ownership import TaskState
    from .client.sync import BlockingTaskHandle
    from .config import ClientConfig, NodeConfig
    from .errors import (
        BadArguments,
        Cancelled,
        ConfigError,
        DeadlineExceeded,
        EdgeOffloadError,
        EmulationError,
        Forbidden,
        FrameTooLarge,
        NoNodeAvailable,
        Overloaded,
        TaskError,
        TaskFailed,
        Unauthorized,
        UnknownTask,
    )
    from .tasks import task


def __getattr__(name: str) -> Any:
    import importlib

    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    if name in __all__:
        return getattr(importlib.import_module("edgeoffload.errors"), name)
    raise AttributeError(f"module 'edgeoffload' has no attribute {name!r}")
