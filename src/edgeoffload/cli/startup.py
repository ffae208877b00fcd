"""What the command does before anything else, to keep a process's start-up CPU low.

A node's cold start at 0.1 CPU is about ten times the CPU it spends before its first
answer (docs/deployment.md), so a module imported on that path and never used costs
its import time tenfold. The one such module this package cannot simply import later
itself is ``importlib.metadata``: ``websockets.version`` imports it at the top, on every
start, and uses it only in an unreleased websockets. Importing it pulls in ``email``,
``zipfile``, ``csv`` and ``importlib.resources``: about 10 ms of CPU in the node's
container, the largest single import on its start path that it never needs.

:func:`defer_importlib_metadata` puts a stand-in module in its place that imports the
real one at its first attribute access, so whoever uses it gets the real module, only
later. importlib's own ``LazyLoader`` cannot do this: the import statement reads the
module's ``__spec__``, which makes a lazy module load at once; the stand-in's
``__spec__`` is a plain attribute (None), so ``import importlib.metadata`` binds the
stand-in without loading anything.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

NAME = "importlib.metadata"


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


def defer_importlib_metadata() -> bool:
    """Defer ``importlib.metadata`` to its first use; False if it is imported already."""
    if NAME in sys.modules:
        return False
    stand_in = DeferredModule(NAME)
    sys.modules[NAME] = stand_in
    importlib.metadata = stand_in
    return True
