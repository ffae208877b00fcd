"""Make this process die when its parent dies (Linux ``PR_SET_PDEATHSIG``).

Imported, for this effect alone, by the process pool's forkserver (as a preload
module) and called by each worker at start. Without it, a node killed with SIGKILL
leaves its forkserver and workers behind, blocked forever on a queue nobody writes,
holding its terminal and pipes open. On other systems this is a no-op.
"""

from __future__ import annotations

import os
import sys

#: From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
#: Set by :class:`~edgeoffload.execution.TaskPool` to its own pid before it starts the
#: forkserver, which inherits it: a forkserver whose parent died while it was still
#: starting sees another parent (init) and exits instead of serving no one. (The pool
#: does not import this module: importing it arms the parent-death signal.)
PARENT_ENV = "EDGEOFFLOAD_POOL_PARENT"
#: The process that imported this module: in the forkserver (a preload), the parent of
#: every worker it forks, who inherit this value.
IMPORTED_BY = os.getpid()


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel for SIGKILL when the parent exits; exit now if it already has.

    Args:
        parent: the pid the parent must have (default: the parent now). Give it when
            known beforehand: a parent that died before this call is otherwise missed,
            the orphan's new parent (init) taken for it.
    """
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    expected = os.getppid() if parent is None else parent
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != expected:  # the parent died before prctl took effect
        os._exit(1)


def die_with_forkserver() -> None:
    """In a worker forked by a forkserver that preloaded this module: die with it, even
    when it died between the fork and this call."""
    die_with_parent(IMPORTED_BY if os.getpid() != IMPORTED_BY else None)


def _expected_parent() -> int | None:
    value = os.environ.get(PARENT_ENV, "")
    return int(value) if value.isdigit() else None


die_with_parent(_expected_parent())
