"""Build, run and tear down an emulated network (the I/O half of :mod:`.plan`).

:class:`Emulation` executes a :class:`~edgeoffload.emulation.plan.Plan`: it removes what
a killed run left behind, creates the namespaces, links, qdiscs and loss rules, starts
the delay relay process when a link has a delay, replays the traces on a thread that
sleeps until each change is due (absolute deadlines, so errors do not accumulate), caps
the device's CPU, and undoes all of it in :meth:`close` (idempotent; also run by
``with``)::

    with Emulation(symmetric_spec(rtt_ms=40, trace=t)) as emu:
        proc = emu.device_popen(["python", "client.py", emu.edge_addresses[0]])
        server = emu.edge_popen(0, ["edgeoffload", "node", "--host", emu.edge_addresses[0]])

Everything a run creates is named ``eoemu-<pid>-...``; deleting the namespaces removes
its veths, qdiscs, rules and routes; the relay dies with its parent and its TUN devices
with it; the cgroup is removed after its processes. A SIGKILLed run leaves namespaces
and maybe a cgroup, which the next :meth:`Emulation.start` (or
:func:`remove_leftovers`) removes, leaving runs still alive alone.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import EmulationError
from .cpu import CpuCap, remove_leftover_groups
from .plan import EmulationSpec, Plan, RateChange, leftovers, make_plan, rate_changes
from .relay import relay_spec

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
#: Seconds a setup command may take (namespace creation: 120 ms measured).
COMMAND_TIMEOUT_S = 10.0


@functools.cache
def available() -> str | None:
    """None if this machine can emulate, else why not: root, the tools, and a real try
    (a namespace with a veth pair and a tbf qdisc, made and deleted, about 150 ms)."""
    if os.geteuid() != 0:
        return "network emulation needs root (network namespaces, tc, cgroups)"
    for tool in ("ip", "tc", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (iproute2 / util-linux)"
    ns = f"eoemu-{os.getpid()}-probe"
    try:
        _run(["ip", "netns", "add", ns])
        _run(["ip", "-n", ns, "link", "add", "name", "a", "type", "veth", "peer", "name", "b"])
        _run(
            [
                "tc",
                "-n",
                ns,
                "qdisc",
                "add",
                "dev",
                "a",
                "root",
                "tbf",
                "rate",
                "1mbit",
                "burst",
                "3028",
                "latency",
                "100ms",
            ]
        )
    except EmulationError as exc:
        return f"the kernel refused a step of the emulation: {exc}"
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=COMMAND_TIMEOUT_S)
    return None


def relay_available() -> str | None:
    """None if the delay relay can run here (a TUN device), else why not."""
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun: delay and jitter need a TUN device"
    return None


def loss_tool() -> str | None:
    """``"nft"`` or ``"iptables"``, whichever is installed (``make system-deps``)."""
    for tool in ("nft", "iptables"):
        if shutil.which(tool):
            return tool
    return None


def _run(cmd: Sequence[str]) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or exc.stdout or "").strip()
        raise EmulationError(f"{' '.join(cmd)}: {said or f'exit {exc.returncode}'}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmulationError(f"{' '.join(cmd)}: {exc}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(me: int | None = None) -> list[str]:
    """Delete namespaces and cgroups of runs that are no longer alive; their names."""
    me = os.getpid() if me is None else me
    names = sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
    owners = {
        int(n.split("-")[1]) for n in names if n.startswith("eoemu-") and n.split("-")[1].isdigit()
    }
    alive = {pid for pid in owners if _alive(pid)}
    gone = leftovers(names, alive, me)
    for ns in gone:
        _kill_in_namespace(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=COMMAND_TIMEOUT_S)
    return gone + remove_leftover_groups(alive, me)


def _kill_in_namespace(ns: str) -> None:
    """Processes a dead run started in its namespace (its command, servers) end with it."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
    for pid in out.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)


@dataclass
class AppliedChange:
    """A rate change as the replay carried it out: when it was due and when it was done
    (seconds from the replay's start), for the fidelity report."""

    change: RateChange
    done_s: float


@dataclass
class Emulation:
    """A running emulated network (see the module docstring). One at a time per
    ``owner_pid``: the names carry it, so a second one with the same pid fails to start
    (``EmulationError``, the namespace exists) until the first is closed.

    Attributes:
        spec: what to build.
        owner_pid: the pid in every name (default: this process).
        seed: the relay's jitter seed.
    """

    spec: EmulationSpec
    owner_pid: int = field(default_factory=os.getpid)
    seed: int = 0
    plan: Plan = field(init=False)
    applied: list[AppliedChange] = field(init=False, default_factory=list)
    replay_start: float | None = field(init=False, default=None)
    cpu: CpuCap | None = field(init=False, default=None)
    _relay: subprocess.Popen[str] | None = field(init=False, default=None)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _replay: threading.Thread | None = field(init=False, default=None)
    _started: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.plan = make_plan(self.spec, self.owner_pid)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Emulation:
        """Build everything; on any failure undo what was built and raise.

        Raises:
            EmulationError: a command failed (the message names it and the reason).
        """
        reason = available()
        if reason:
            raise EmulationError(reason)
        removed = remove_leftovers(self.owner_pid)
        if removed:
            log.warning("removed leftovers of killed runs: %s", ", ".join(removed))
        self._started = True
        try:
            tool = loss_tool()
            for cmd in self.plan.setup_commands():
                if cmd[:4] == ["ip", "netns", "exec", cmd[3]] and cmd[4] == "nft":
                    if tool is None:
                        raise EmulationError(
                            "loss needs nftables or iptables (apt-get install nftables; "
                            "make system-deps)"
                        )
                    if tool == "iptables":
                        continue  # added below, one rule per direction
                _run(cmd)
            if tool == "iptables":
                for link in self.plan.links:
                    for direction in ("up", "down"):
                        if getattr(link.spec, direction).loss > 0:
                            for cmd in self.plan.loss_commands(link.index, direction, "iptables"):
                                _run(cmd)
            if any(link.spec.delayed for link in self.plan.links):
                reason = relay_available()
                if reason:
                    raise EmulationError(reason)
                self._start_relay()
            if self.spec.device_cpu is not None:
                self.cpu = CpuCap(
                    self.plan.cgroup_name, self.spec.device_cpu, self.spec.cpu_period_us
                )
            self.replay_start = time.monotonic()
            if any(
                s.trace is not None
                for link in self.plan.links
                for s in (link.spec.up, link.spec.down)
            ):
                self._replay = threading.Thread(
                    target=self._replay_loop, name="trace-replay", daemon=True
                )
                self._replay.start()
        except BaseException:
            self.close()
            raise
        return self

    def _start_relay(self) -> None:
        spec = json.dumps(relay_spec(self.plan, self.seed))
        self._relay = subprocess.Popen(
            [sys.executable, "-m", "edgeoffload.emulation.relay", spec, str(os.getpid())],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._relay.stdout is not None
        line = self._relay.stdout.readline()
        if line.strip() != "ready":
            self._relay.wait(5)
            err = self._relay.stderr.read() if self._relay.stderr else ""
            raise EmulationError(f"the delay relay did not start: {err.strip() or line!r}")
        for link in self.plan.links:
            if link.spec.delayed:
                for cmd in self.plan.relay_route_commands(link.index):
                    _run(cmd)

    def _replay_loop(self) -> None:
        assert self.replay_start is not None
        for change in rate_changes(self.plan):
            if self._stop.wait(max(0.0, self.replay_start + change.at_s - time.monotonic())):
                return
            try:
                _run(self.plan.rate_command(change.link, change.direction, change.rate_mbit))
            except EmulationError as exc:
                if self._stop.is_set():
                    return
                log.error("trace replay: %s", exc)
                continue
            self.applied.append(AppliedChange(change, time.monotonic() - self.replay_start))

    def close(self) -> None:
        """Undo everything (idempotent): replay, relay, namespaces (and what they hold),
        the CPU cgroup."""
        self._stop.set()
        if self._replay is not None:
            self._replay.join(COMMAND_TIMEOUT_S)
            self._replay = None
        if self._relay is not None:
            self._relay.terminate()
            try:
                self._relay.wait(5)
            except subprocess.TimeoutExpired:
                self._relay.kill()
                self._relay.wait(5)
            for stream in (self._relay.stdout, self._relay.stderr):
                if stream is not None:
                    stream.close()
            self._relay = None
        if self._started:
            for ns in self.plan.namespaces:
                if (NETNS_DIR / ns).exists():
                    _kill_in_namespace(ns)
            for cmd in self.plan.teardown_commands():
                subprocess.run(cmd, capture_output=True, timeout=COMMAND_TIMEOUT_S)
            self._started = False
        if self.cpu is not None:
            self.cpu.remove()
            self.cpu = None

    def __enter__(self) -> Emulation:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- running things --------------------------------------------------------------

    @property
    def edge_addresses(self) -> tuple[str, ...]:
        return self.plan.edge_addresses

    @property
    def device_address(self) -> str:
        return self.plan.links[0].device_address

    def device_argv(self, argv: Sequence[str], capped: bool = True) -> list[str]:
        """``argv`` as run on the device: its network namespace, under the CPU cap."""
        cmd = self.plan.device_command(list(argv))
        if capped and self.cpu is not None:
            cmd = self.cpu.wrap(cmd)
        return cmd

    def edge_argv(self, index: int, argv: Sequence[str]) -> list[str]:
        return self.plan.edge_command(index, list(argv))

    def device_popen(
        self, argv: Sequence[str], capped: bool = True, **kw: Any
    ) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.device_argv(argv, capped), **kw)

    def edge_popen(self, index: int, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.edge_argv(index, argv), **kw)

    def restart_replay(self) -> float:
        """Start the traces again from their first step (every run of a comparison on
        the same stretch of trace: ``bench e2e`` runs each policy from step 0); the new
        replay start (``time.monotonic()``), taken once every traced direction is back
        at its trace's first rate (a few ``tc`` calls, about 5 ms each): the previous
        replay's last rate once stayed until the second sample, so a burst sent at the
        start crossed at it."""
        if self._replay is not None:
            self._stop.set()
            self._replay.join(COMMAND_TIMEOUT_S)
            self._stop = threading.Event()
        self.applied = []
        if self._started:
            for cmd in self.plan.first_rate_commands():
                _run(cmd)
        self.replay_start = time.monotonic()
        if self._started and any(
            s.trace is not None for link in self.plan.links for s in (link.spec.up, link.spec.down)
        ):
            self._replay = threading.Thread(
                target=self._replay_loop, name="trace-replay", daemon=True
            )
            self._replay.start()
        return self.replay_start

    def replay_elapsed_s(self) -> float:
        return 0.0 if self.replay_start is None else time.monotonic() - self.replay_start
