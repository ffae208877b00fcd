"""Network and weak-device emulation on one machine: a device and edge hosts as network
namespaces, links shaped per direction (rate or a replayed bandwidth trace, delay,
jitter, loss) and the device's CPU capped.

- :mod:`.plan` (pure): names, addresses, the rate schedule and every command line;
- :mod:`.network`: :class:`Emulation`, which builds, runs and tears it down;
- :mod:`.relay`: the user-space delay relay (this kernel has no netem);
- :mod:`.cpu`: the CPU cap (a cgroup with CFS bandwidth control);
- :mod:`.probe`: traffic and CPU probes that measure what the emulation achieves.
"""

from __future__ import annotations

from .network import Emulation, available, remove_leftovers
from .plan import EmulationSpec, LinkSpec, Plan, Shape, make_plan, symmetric_spec

__all__ = [
    "Emulation",
    "EmulationSpec",
    "LinkSpec",
    "Plan",
    "Shape",
    "available",
    "make_plan",
    "remove_leftovers",
    "symmetric_spec",
]
