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


def die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent exits; exit now if it already has."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


die_with_parent()
