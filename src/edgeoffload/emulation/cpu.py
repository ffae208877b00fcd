"""A CPU cap for the emulated device: a cgroup with CFS bandwidth control.

Where the kernel has the cgroup-v2 ``cpu`` controller (``cpu`` in
``/sys/fs/cgroup/cgroup.controllers``) the group gets ``cpu.max``; otherwise the v1
``cpu`` hierarchy's ``cpu.cfs_quota_us`` (this machine: hybrid layout, no v2 cpu
controller). A process is placed in the group by writing its pid to ``cgroup.procs``
*before* it execs the command (``sh -c 'echo $$ > procs && exec ...'``), so every child
it forks is capped from its first instruction. Only the CPU hierarchy is used: the
session's processes sit in a memory cgroup managed by someone else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from ..errors import EmulationError
from .plan import PREFIX, cpu_limit_files, leftovers

CGROUP_ROOT = Path("/sys/fs/cgroup")


def backend(root: Path = CGROUP_ROOT) -> tuple[str, Path] | None:
    """("v2", root) or ("v1", root/cpu) where CPU bandwidth control exists, else None."""
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return "v2", root
    if (root / "cpu" / "cpu.cfs_quota_us").exists():
        return "v1", root / "cpu"
    return None


class CpuCap:
    """One capped cgroup; :meth:`wrap` prefixes a command so it runs inside."""

    def __init__(self, name: str, share: float, period_us: int) -> None:
        found = backend()
        if found is None:
            raise EmulationError("no cgroup with CPU bandwidth control (cpu.max or cfs_quota_us)")
        self.version, base = found
        self.path = base / name
        self.share = share
        try:
            self.path.mkdir(exist_ok=True)
            for key, value in cpu_limit_files(share, period_us, self.version).items():
                (self.path / key).write_text(value)
        except OSError as exc:
            self.remove()
            raise EmulationError(f"cannot create the CPU cgroup {self.path}: {exc}") from exc

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` started inside the group (the shell joins it, then execs)."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs), *argv]

    def stat(self) -> dict[str, int]:
        """``cpu.stat`` (nr_periods, nr_throttled, throttled time) as integers."""
        out = {}
        with contextlib.suppress(OSError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                out[key] = int(value)
        return out

    def remove(self) -> None:
        remove_group(self.path)


class CpuAccount:
    """CPU time of a group of processes (the emulated device's): a ``cpuacct`` cgroup
    (v1; on this kernel a hierarchy apart from ``cpu``, so a capped process joins both)
    or the v2 group's ``cpu.stat`` ``usage_usec``. :meth:`wrap` prefixes a command so
    that it (and every child) is counted from its first instruction."""

    def __init__(self, name: str) -> None:
        controllers = CGROUP_ROOT / "cgroup.controllers"
        if controllers.exists() and "cpu" in controllers.read_text().split():
            self.path, self.v2 = CGROUP_ROOT / name, True
        elif (CGROUP_ROOT / "cpuacct" / "cpuacct.usage").exists():
            self.path, self.v2 = CGROUP_ROOT / "cpuacct" / name, False
        else:
            raise EmulationError("no cgroup accounting CPU time (cpuacct or cgroup v2 cpu.stat)")
        try:
            self.path.mkdir(exist_ok=True)
        except OSError as exc:
            raise EmulationError(f"cannot create the cgroup {self.path}: {exc}") from exc

    def wrap(self, argv: list[str]) -> list[str]:
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *argv]

    @property
    def usage_path(self) -> Path:
        """The file holding the group's CPU time (v2 ``cpu.stat``, v1 ``cpuacct.usage``)."""
        return self.path / ("cpu.stat" if self.v2 else "cpuacct.usage")

    def usage_s(self) -> float:
        """CPU seconds used by the group's processes so far (those gone included)."""
        if self.v2:
            for line in self.usage_path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return 0.0
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def remove(self) -> None:
        if not self.v2:  # v2: the same directory as the cap, removed with it
            remove_group(self.path)


def remove_group(path: Path, timeout_s: float = 5.0) -> None:
    """Kill what is left in a group of ours (our own command's processes), then rmdir."""
    deadline = time.monotonic() + timeout_s
    while path.exists():
        with contextlib.suppress(OSError):
            for pid in (path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def remove_leftover_groups(alive: set[int], me: int) -> list[str]:
    """Remove the CPU cgroups that runs no longer alive left behind; their names."""
    found = backend()
    if found is None:
        return []
    base = found[1]
    names = [p.name for p in base.iterdir() if p.is_dir() and p.name.startswith(PREFIX + "-")]
    gone = leftovers(names, alive, me)
    for name in gone:
        with contextlib.suppress(OSError):
            remove_group(base / name)
    return gone
