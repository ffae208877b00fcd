"""A network namespace joined to the host by a veth pair: a second host on one machine.

Processes started with :meth:`Netns.command` run inside it and are reachable at
:attr:`Netns.address`; :meth:`cut` sets the host's end of the link down, which drops
every packet in both directions without closing any socket (a network partition), and
:meth:`heal` brings it back. Needs root and a kernel with network namespaces (both
here and in CI); :func:`available` says whether they work, for skipping with a reason.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

_counter = itertools.count(1)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def available() -> str | None:
    """None if namespaces work here, else the reason they do not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"eo-probe-{os.getpid()}"
    try:
        _ip("netns", "add", name)
        _ip("netns", "del", name)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot create a network namespace: {exc}"
    return None


class Netns:
    def __init__(self, index: int) -> None:
        self.name = f"eo{os.getpid() % 10000}x{index}"
        subnet = 100 + (os.getpid() + index) % 100
        self.host_if = f"{self.name}h"
        self.ns_if = f"{self.name}n"
        self.host_address = f"10.213.{subnet}.1"
        self.address = f"10.213.{subnet}.2"

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("link", "add", "name", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _ip("link", "set", self.ns_if, "netns", self.name)
        _ip("addr", "add", f"{self.host_address}/24", "dev", self.host_if)
        _ip("-n", self.name, "addr", "add", f"{self.address}/24", "dev", self.ns_if)
        _ip("link", "set", self.host_if, "up")
        _ip("-n", self.name, "link", "set", self.ns_if, "up")
        _ip("-n", self.name, "link", "set", "lo", "up")

    def destroy(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=10)

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def cut(self) -> None:
        _ip("link", "set", self.host_if, "down")

    def heal(self) -> None:
        _ip("link", "set", self.host_if, "up")


@contextmanager
def netns() -> Iterator[Netns]:
    ns = Netns(next(_counter))
    ns.create()
    try:
        yield ns
    finally:
        ns.destroy()
