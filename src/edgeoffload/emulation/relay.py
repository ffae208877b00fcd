"""The delay relay: holds each packet for the link's one-way delay, then sends it on.

Why a TUN relay (and not an asyncio TCP proxy that holds each chunk): this kernel has
no netem, so delay must be added in user space, and a TUN relay delays *packets*, so
everything on the link sees it: ping and UDP as well as TCP, the TCP handshake, ACKs,
retransmissions and the sender's congestion window, which then grows against the real
bandwidth-delay product. A TCP proxy would terminate each connection, acknowledge data
at once and hide the RTT from the sender's congestion control; it would also carry only
TCP. mahimahi's mm-delay does the same as this relay (a TUN device and a queue of
timestamped packets), for the same reasons.

How. For link ``i`` the device namespace routes the edge's address through ``tun{i}``
and the edge namespace routes the device's address through ``tun``
(:meth:`~edgeoffload.emulation.plan.Plan.relay_route_commands`). This process opens
both TUN devices (entering each namespace with ``setns``), reads each IP packet, stamps
it with ``now + delay (+ jitter)`` and, when that time comes, writes it as an Ethernet
frame onto the sender's veth end with a packet socket addressed to the peer's MAC. The
frame then goes through the veth's tbf qdisc (the rate and the bottleneck queue) and
the receiver's loss rule exactly as an undelayed packet would; a full tbf queue refuses
it (``ENOBUFS``) and the packet is dropped, as at a real drop-tail bottleneck. Delay
followed by a FIFO queue gives the same departure times as the queue followed by the
delay, so the order does not matter.

Jitter is a normal variation (standard deviation ``jitter_ms``, truncated at zero)
drawn per packet, but packets leave in order (a packet is never sent before the one
read ahead of it): reordering every few packets would make TCP retransmit spuriously,
which real cellular links (in-order RLC delivery) do not do. Timing is ``select`` with
a timeout until the next due packet (microseconds; see docs/emulation.md for the error).

Runs as its own process (``python -m edgeoffload.emulation.relay SPEC``), so that the
GIL of the program under test never delays a packet; it dies with its parent
(``PR_SET_PDEATHSIG``), and its TUN devices, which are not persistent, vanish with it.
It prints ``ready`` once both TUN devices of every link exist.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import fcntl
import json
import os
import random
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .plan import ETH_P_IP, Plan

#: From <linux/if_tun.h> and <sched.h>.
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
#: Largest packet read from a TUN device (its MTU is 1500; this is the IP maximum).
MAX_PACKET = 65535
#: Packets read from one device before the others get a turn.
READ_BATCH = 64


def relay_spec(plan: Plan, seed: int = 0) -> dict[str, Any]:
    """What the relay process needs for the delayed links of ``plan`` (JSON-able)."""
    links = []
    for link in plan.links:
        if not link.spec.delayed:
            continue
        links.append(
            {
                "up": {
                    "tun_ns": link.device_ns,
                    "tun": link.device_tun,
                    "out_if": link.device_if,
                    "dst_mac": link.edge_mac,
                    "delay_ms": link.spec.up.delay_ms,
                    "jitter_ms": link.spec.up.jitter_ms,
                },
                "down": {
                    "tun_ns": link.edge_ns,
                    "tun": link.edge_tun,
                    "out_if": link.edge_if,
                    "dst_mac": link.device_mac,
                    "delay_ms": link.spec.down.delay_ms,
                    "jitter_ms": link.spec.down.jitter_ms,
                },
            }
        )
    return {"links": links, "seed": seed}


@dataclass
class _Direction:
    tun_fd: int
    out: socket.socket
    address: tuple[str, int, int, int, bytes]
    delay_s: float
    jitter_s: float
    queue: collections.deque[tuple[float, bytes]] = field(default_factory=collections.deque)
    last_due: float = 0.0
    sent: int = 0
    dropped: int = 0


def _enter(ns: str, libc: ctypes.CDLL) -> None:
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def _open(spec: dict[str, Any]) -> list[_Direction]:
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    directions = []
    try:
        for link in spec["links"]:
            for d in (link["up"], link["down"]):
                _enter(d["tun_ns"], libc)
                fd = _open_tun(d["tun"])
                # A packet socket sends frames through the veth's qdisc (tbf) unless
                # PACKET_QDISC_BYPASS is set, which it is not.
                out = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
                out.setblocking(False)
                mac = bytes.fromhex(d["dst_mac"].replace(":", ""))
                directions.append(
                    _Direction(
                        fd,
                        out,
                        (d["out_if"], ETH_P_IP, 0, 0, mac),
                        d["delay_ms"] / 1000.0,
                        d["jitter_ms"] / 1000.0,
                    )
                )
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
    return directions


def run(spec: dict[str, Any]) -> None:
    """Relay until killed (SIGTERM, or the parent's death)."""
    directions = _open(spec)
    rng = random.Random(spec.get("seed", 0))
    by_fd = {d.tun_fd: d for d in directions}
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    fds = list(by_fd)
    clock = time.monotonic
    while True:
        now = clock()
        due = [d.queue[0][0] for d in directions if d.queue]
        # NOTE: select, not epoll: epoll's timeout is in whole milliseconds (rounded up),
        # which added 0.5 ms per direction on average (1.2 ms to every RTT, measured);
        # select's is in microseconds.
        timeout = max(0.0, min(due) - now) if due else None
        readable, _, _ = select.select(fds, [], [], timeout)
        for fd in readable:
            d = by_fd[fd]
            for _ in range(READ_BATCH):
                try:
                    packet = os.read(fd, MAX_PACKET)
                except BlockingIOError:
                    break
                now = clock()
                hold = d.delay_s
                if d.jitter_s > 0:
                    hold = max(0.0, rng.gauss(d.delay_s, d.jitter_s))
                at = max(now + hold, d.last_due)  # in order: never before the previous
                d.last_due = at
                d.queue.append((at, packet))
        now = clock()
        for d in directions:
            q = d.queue
            while q and q[0][0] <= now:
                _, packet = q.popleft()
                try:
                    d.out.sendto(packet, d.address)
                    d.sent += 1
                except OSError:  # ENOBUFS: the tbf queue is full (tail drop)
                    d.dropped += 1


def main(argv: list[str]) -> int:
    from .._die_with_parent import die_with_parent

    spec = json.loads(argv[0])
    die_with_parent(int(argv[1]) if len(argv) > 1 else None)
    with contextlib.suppress(KeyboardInterrupt):
        run(spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
