"""What the command does before anything else, to keep a process's start-up CPU low.

A node's cold start at 0.1 CPU is about ten times the CPU it spends before its first
answer (docs/deployment.md), so a module imported on that path and never used costs
its import time tenfold. The modules of :data:`DEFERRED` are such modules that this
package cannot simply import later itself, because a library imports them at the top
on every start. The largest is ``importlib.metadata``: ``websockets.version`` imports
it and uses it only in an unreleased websockets. Importing it pulls in ``email``,
``zipfile``, ``csv`` and ``importlib.resources``: about 10 ms of CPU in the node's
container, the largest single import on its start path that it never needs.

:func:`defer_unused_imports` puts a stand-in module in each one's place that imports
the real one at its first attribute access, so whoever uses it gets the real module,
only later. importlib's own ``LazyLoader`` cannot do this: the import statement reads
the module's ``__spec__``, which makes a lazy module load at once; the stand-in's
``__spec__`` is a plain attribute (None), so ``import importlib.metadata`` binds the
stand-in without loading anything.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: Imported at the top of a library on every start, not used by a node: why not.
DEFERRED = {
    # websockets.version, for a development version's number (about 10 ms).
    "importlib.metadata": "websockets.version",
    # websockets.headers, for the Host header a client sends (about 1 ms).
    "ipaddress": "websockets.headers",
    # websockets.frames, for the masks a client puts on its frames (about 1 ms, with
    # random and hmac).
    "secrets": "websockets.frames",
}


class DeferredModule(types.ModuleType):
    """A module that becomes the real one (by name) at its first attribute access."""

    def __getattr__(self, attr: str) -> Any:
        real = self._load()
        return getattr(real, attr)

    def _load(self) -> types.ModuleType:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        # From now on the stand-in answers from the real module's attributes directly
        # (a reference taken before the load, e.g. websockets.version's, stays valid).
        self.__dict__.update(real.__dict__)
        return real


def defer_unused_imports() -> list[str]:
    """Defer each module of :data:`DEFERRED` to its first use; the ones deferred (not
    those imported already)."""
    deferred = []
    for name in DEFERRED:
        if name in sys.modules:
            continue
        stand_in = DeferredModule(name)
        sys.modules[name] = stand_in
        parent, _, child = name.rpartition(".")
        if parent:  # `import importlib.metadata` binds importlib, then reads this
            setattr(importlib.import_module(parent), child, stand_in)
        deferred.append(name)
    return deferred
