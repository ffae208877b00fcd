"""The emulated network as data: names, addresses, the rate schedule and every command.

PURE: nothing here runs a command, reads a clock or touches the kernel; the I/O module
(:mod:`edgeoffload.emulation.network`) executes what this module returns, so every
command line is tested without root.

The topology. One *device* network namespace and ``N`` *edge* namespaces; link ``i``
is a veth pair whose device end is ``edge{i}`` (in the device namespace) and whose edge
end is ``eth0`` (in edge ``i``'s namespace), created directly inside the namespaces so
nothing appears in the host's own namespace. Link ``i`` has the subnet
``10.250.{i}.0/24``: the device is ``.1``, the edge ``.2``. There is no default route
and no host-side interface, so no packet can leave the namespaces we create.

Each direction of each link is shaped where a real bottleneck queues, at the sender's
egress:

- **rate**: a ``tbf`` root qdisc on the sending veth end (this kernel has no netem,
  fq or cake; tbf and htb are what it has). Its queue is given in time
  (``latency``), so the buffer stays ``queue_ms`` deep when a trace changes the rate.
  A trace replays by ``tc qdisc change`` at each sample's start (see
  :func:`rate_changes`), as mahimahi's mm-link replays its delivery schedule in real
  time, looping at the end of the file. The veths send one segment per packet (no
  GSO) and know their peer's MAC (no ARP): see :meth:`Plan.setup_commands` for why.
- **loss**: an nftables rule at the receiver's ``input`` hook, ``numgen random``
  against a per-million threshold (iptables ``statistic`` when nft is missing): each
  packet is dropped independently with the direction's probability.
- **delay and jitter**: in user space, because the kernel has no netem. The route to
  the peer's address goes through a TUN device (``tun{i}`` / ``tun``) whose packets a
  relay process holds for the one-way delay and then writes, as Ethernet frames, onto
  the veth itself (a packet socket; :mod:`edgeoffload.emulation.relay`). So delayed
  packets still cross the tbf and the loss rule, and a host has one address whether
  the link has a delay or not. With no delay and no jitter there is no relay at all
  and packets take the kernel's path (10 Gbit/s, 45 µs RTT on this machine).

Names carry a fixed prefix and the owner's pid (``eoemu-<pid>-dev``), so a new run
can find the namespaces and cgroups a SIGKILLed run left behind (their pid is dead)
without touching a concurrent run's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..traces import Trace

#: Every namespace and cgroup this package creates starts with this.
PREFIX = "eoemu"
#: Link ``i`` uses ``10.250.i.0/24`` (private, RFC 1918, and only inside namespaces).
SUBNET_BASE = "10.250"
#: The most edge hosts (one /24 each; also keeps interface names short).
MAX_EDGES = 32
#: tbf cannot be set to 0; a trace sample of 0 Mbit/s becomes this (10 kbit/s: a stall).
MIN_RATE_MBIT = 0.01
#: Default bottleneck buffer, in time at the current rate (tbf ``latency``). 100 ms is a
#: middle value for cellular uplinks, which buffer deeply.
DEFAULT_QUEUE_MS = 100.0
#: Probability resolution of the nftables loss rule (numgen ... mod this).
LOSS_SCALE = 1_000_000
#: tbf counts whole Ethernet frames (1514 bytes for a full TCP segment), but the bundled
#: traces are measured goodput (iperf, HTTP downloads): 1448 payload bytes per frame
#: with TCP timestamps. The qdisc rate is raised by this factor so that one TCP stream
#: gets the trace's rate (without it: 95.6 % of it, measured, which is 1448/1514).
FRAME_PER_GOODPUT = 1514 / 1448
#: Ethernet type of IPv4, for the relay's packet sockets.
ETH_P_IP = 0x0800


@dataclass(frozen=True, slots=True)
class Shape:
    """One direction of one link.

    Attributes:
        rate_mbit: fixed rate, or None for none (unless ``trace`` is given).
        trace: a bandwidth trace replayed in real time (overrides ``rate_mbit``).
        delay_ms: one-way propagation delay added by the relay.
        jitter_ms: standard deviation of a normal variation of the delay (truncated at
            0; packets keep their order, see the relay).
        loss: probability that each packet is dropped, 0 <= loss < 1.
    """

    rate_mbit: float | None = None
    trace: Trace | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if self.rate_mbit is not None and not self.rate_mbit > 0:
            raise ConfigError(f"rate must be > 0 Mbit/s, got {self.rate_mbit}")
        if not (self.delay_ms >= 0 and self.jitter_ms >= 0):
            raise ConfigError("delay and jitter must be >= 0 ms")
        if not 0 <= self.loss < 1:
            raise ConfigError(f"loss must be a probability in [0, 1), got {self.loss}")

    @property
    def shaped(self) -> bool:
        return self.trace is not None or self.rate_mbit is not None

    @property
    def delayed(self) -> bool:
        return self.delay_ms > 0 or self.jitter_ms > 0

    def initial_rate_mbit(self) -> float | None:
        if self.trace is not None:
            return max(float(self.trace.mbps[0]), MIN_RATE_MBIT)
        return self.rate_mbit


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """Both directions of the link between the device and one edge host."""

    up: Shape = field(default_factory=Shape)  # device -> edge
    down: Shape = field(default_factory=Shape)  # edge -> device

    @property
    def delayed(self) -> bool:
        return self.up.delayed or self.down.delayed


@dataclass(frozen=True, slots=True)
class EmulationSpec:
    """What to build: one link per edge host, the queue depth and the device's CPU share.

    Attributes:
        links: one :class:`LinkSpec` per edge host (at least one).
        queue_ms: bottleneck buffer in time at the current rate.
        device_cpu: share of one core for commands run on the device (None: no cap).
        cpu_period_us: the CFS period of that cap (100 ms, the kernel's default).
    """

    links: tuple[LinkSpec, ...] = (LinkSpec(),)
    queue_ms: float = DEFAULT_QUEUE_MS
    device_cpu: float | None = None
    cpu_period_us: int = 100_000

    def __post_init__(self) -> None:
        if not 1 <= len(self.links) <= MAX_EDGES:
            raise ConfigError(f"between 1 and {MAX_EDGES} edge hosts, got {len(self.links)}")
        if not self.queue_ms > 0:
            raise ConfigError(f"queue must be > 0 ms, got {self.queue_ms}")
        if self.device_cpu is not None and not 0 < self.device_cpu <= 64:
            raise ConfigError(f"device CPU share must be in (0, 64] cores, got {self.device_cpu}")
        if not 1000 <= self.cpu_period_us <= 1_000_000:
            raise ConfigError("cpu period must be 1 ms to 1 s (the kernel's bounds)")


def symmetric_spec(
    *,
    edges: int = 1,
    rtt_ms: float = 0.0,
    jitter_ms: float = 0.0,
    loss: float = 0.0,
    loss_down: float | None = None,
    rate_mbit: float | None = None,
    trace: Trace | None = None,
    down_trace: Trace | None = None,
    down_rate_mbit: float | None = None,
    queue_ms: float = DEFAULT_QUEUE_MS,
    device_cpu: float | None = None,
    cpu_period_us: int = 100_000,
) -> EmulationSpec:
    """The spec the command line describes: every edge link alike, the RTT split evenly
    between the two directions, the uplink's rate or trace used downlink too unless a
    downlink one is given. ``jitter_ms`` is per direction."""
    up = Shape(rate_mbit, trace, rtt_ms / 2, jitter_ms, loss)
    if down_trace is None and down_rate_mbit is None:
        down_trace, down_rate_mbit = trace, rate_mbit
    down = Shape(
        down_rate_mbit, down_trace, rtt_ms / 2, jitter_ms, loss if loss_down is None else loss_down
    )
    return EmulationSpec((LinkSpec(up, down),) * edges, queue_ms, device_cpu, cpu_period_us)


# -- names and addresses ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """Link ``index`` as built: its namespaces, interfaces and addresses."""

    index: int
    spec: LinkSpec
    device_ns: str
    edge_ns: str
    device_if: str  # veth end in the device namespace
    edge_if: str  # veth end in the edge namespace
    device_address: str
    edge_address: str
    device_mac: str
    edge_mac: str
    device_tun: str  # TUN device of the relay in the device namespace (delayed links)
    edge_tun: str


@dataclass(frozen=True, slots=True)
class RateChange:
    """At ``at_s`` (seconds from the start of the replay) set one direction's rate."""

    at_s: float
    link: int
    direction: str  # "up" or "down"
    rate_mbit: float


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything :class:`~edgeoffload.emulation.network.Emulation` builds, by name."""

    spec: EmulationSpec
    owner_pid: int
    device_ns: str
    links: tuple[Link, ...]

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.device_ns, *(link.edge_ns for link in self.links))

    @property
    def edge_addresses(self) -> tuple[str, ...]:
        """The address of each edge host, as the device reaches it."""
        return tuple(link.edge_address for link in self.links)

    @property
    def cgroup_name(self) -> str:
        return f"{PREFIX}-{self.owner_pid}-device"

    # -- commands --------------------------------------------------------------------

    def setup_commands(self) -> list[list[str]]:
        """Namespaces, veth pairs (created inside the namespaces), addresses, links up,
        then the initial rates and the loss rules."""
        cmds: list[list[str]] = [["ip", "netns", "add", ns] for ns in self.namespaces]
        for ns in self.namespaces:
            cmds.append(["ip", "-n", ns, "link", "set", "lo", "up"])
            # IPv6 off: its router and listener solicitations would share the shaped links.
            cmds.append(_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1"))
            # Replies to a relayed packet come back on the veth while the route to their
            # source is the TUN device: strict reverse-path filtering would drop them.
            cmds.append(_sysctl(ns, "net.ipv4.conf.all.rp_filter", "0"))
            cmds.append(_sysctl(ns, "net.ipv4.conf.default.rp_filter", "0"))
        for link in self.links:
            cmds.append(
                [
                    "ip",
                    "-n",
                    link.device_ns,
                    "link",
                    "add",
                    "name",
                    link.device_if,
                    "address",
                    link.device_mac,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    link.edge_if,
                    "address",
                    link.edge_mac,
                    "netns",
                    link.edge_ns,
                ]
            )
            for ns, dev, addr, peer, peer_mac in (
                (
                    link.device_ns,
                    link.device_if,
                    link.device_address,
                    link.edge_address,
                    link.edge_mac,
                ),
                (
                    link.edge_ns,
                    link.edge_if,
                    link.edge_address,
                    link.device_address,
                    link.device_mac,
                ),
            ):
                # One segment per packet (no GSO): tbf refuses to send a packet larger
                # than its bucket, and the bucket shrinks with the rate, so TCP's GSO
                # packets queued at 60 Mbit/s were stuck after a drop to 3 Mbit/s and
                # the link stalled for 1-7 s (4 runs of 4; none with this, measured).
                cmds.append(["ip", "-n", ns, "link", "set", "dev", dev, "gso_max_segs", "1"])
                cmds.append(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev])
                cmds.append(["ip", "-n", ns, "link", "set", dev, "up"])
                # A permanent neighbour entry: no ARP on the shaped link, where its
                # probes would wait in the full tbf queue behind the data (a cellular
                # link has no ARP either).
                neigh = ["neigh", "replace", peer, "lladdr", peer_mac, "dev", dev]
                cmds.append(["ip", "-n", ns, *neigh, "nud", "permanent"])
            for direction in ("up", "down"):
                shape = getattr(link.spec, direction)
                rate = shape.initial_rate_mbit()
                if rate is not None:
                    cmds.append(self.rate_command(link.index, direction, rate, verb="add"))
        for link in self.links:
            for direction in ("up", "down"):
                if getattr(link.spec, direction).loss > 0:
                    cmds.extend(self.loss_commands(link.index, direction))
        return cmds

    def sender(self, index: int, direction: str) -> tuple[str, str]:
        """(namespace, interface) whose egress carries ``direction`` of link ``index``."""
        link = self.links[index]
        if direction == "up":
            return link.device_ns, link.device_if
        return link.edge_ns, link.edge_if

    def receiver(self, index: int, direction: str) -> tuple[str, str]:
        link = self.links[index]
        if direction == "up":
            return link.edge_ns, link.edge_if
        return link.device_ns, link.device_if

    def rate_command(
        self, index: int, direction: str, rate_mbit: float, verb: str = "change"
    ) -> list[str]:
        """``tc qdisc add|change ... tbf`` for one direction at ``rate_mbit``."""
        ns, dev = self.sender(index, direction)
        return [
            "tc",
            "-n",
            ns,
            "qdisc",
            verb,
            "dev",
            dev,
            "root",
            *tbf_args(rate_mbit, self.spec.queue_ms),
        ]

    def first_rate_commands(self) -> list[list[str]]:
        """``tc qdisc change`` of every traced direction back to its trace's first sample:
        a replay started again begins there, not at the last rate the previous replay
        set (its schedule starts at the second sample, :func:`rate_changes`)."""
        cmds = []
        for link in self.links:
            for direction in ("up", "down"):
                shape = getattr(link.spec, direction)
                rate = shape.initial_rate_mbit()
                if shape.trace is not None and rate is not None:
                    cmds.append(self.rate_command(link.index, direction, rate))
        return cmds

    def loss_commands(self, index: int, direction: str, tool: str = "nft") -> list[list[str]]:
        """Drop each packet arriving over ``direction`` with its probability.

        ``tool`` is ``"nft"`` (numgen) or ``"iptables"`` (statistic), whichever exists.
        """
        ns, dev = self.receiver(index, direction)
        loss = getattr(self.links[index].spec, direction).loss
        exec_ = ["ip", "netns", "exec", ns]
        if tool == "iptables":
            return [
                [
                    *exec_,
                    "iptables",
                    "-A",
                    "INPUT",
                    "-i",
                    dev,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    f"{loss:.6f}",
                    "-j",
                    "DROP",
                ]
            ]
        threshold = round(loss * LOSS_SCALE)
        chain = f"loss_{dev}"
        return [
            [*exec_, "nft", "add", "table", "inet", PREFIX],
            [
                *exec_,
                "nft",
                "add",
                "chain",
                "inet",
                PREFIX,
                chain,
                "{ type filter hook input priority 0; policy accept; }",
            ],
            [
                *exec_,
                "nft",
                "add",
                "rule",
                "inet",
                PREFIX,
                chain,
                "iifname",
                dev,
                "numgen",
                "random",
                "mod",
                str(LOSS_SCALE),
                "<",
                str(threshold),
                "drop",
            ],
        ]

    def relay_route_commands(self, index: int) -> list[list[str]]:
        """After the relay has opened its TUN devices: up, and the peer's address via it."""
        link = self.links[index]
        return [
            ["ip", "-n", link.device_ns, "link", "set", link.device_tun, "up"],
            ["ip", "-n", link.edge_ns, "link", "set", link.edge_tun, "up"],
            [
                "ip",
                "-n",
                link.device_ns,
                "route",
                "add",
                f"{link.edge_address}/32",
                "dev",
                link.device_tun,
                "src",
                link.device_address,
            ],
            [
                "ip",
                "-n",
                link.edge_ns,
                "route",
                "add",
                f"{link.device_address}/32",
                "dev",
                link.edge_tun,
                "src",
                link.edge_address,
            ],
        ]

    def teardown_commands(self) -> list[list[str]]:
        """Deleting a namespace removes its veth ends, qdiscs, rules and routes."""
        return [["ip", "netns", "del", ns] for ns in self.namespaces]

    def device_command(self, argv: list[str]) -> list[str]:
        """``argv`` run on the device: only its network namespace is entered
        (``ip netns exec`` would remount /sys and hide the cgroups)."""
        return ["nsenter", f"--net=/run/netns/{self.device_ns}", "--", *argv]

    def edge_command(self, index: int, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.links[index].edge_ns}", "--", *argv]


def _sysctl(ns: str, key: str, value: str) -> list[str]:
    """Set a per-namespace sysctl by its /proc file (``sysctl`` itself, from procps, is
    not on every minimal image)."""
    path = "/proc/sys/" + key.replace(".", "/")
    # A kernel without the setting (no IPv6) has nothing to turn off.
    return ["ip", "netns", "exec", ns, "sh", "-c", f"[ ! -e {path} ] || echo {value} > {path}"]


def tbf_args(rate_mbit: float, queue_ms: float) -> list[str]:
    """tbf parameters for ``rate_mbit`` of TCP goodput with a ``queue_ms`` buffer.

    The qdisc's rate is ``rate_mbit * FRAME_PER_GOODPUT`` (see there). The bucket
    (``burst``) holds 2 ms at the rate and at least two full frames: small, because a
    larger one lets bursts pass above the trace's rate, and enough on a kernel with
    high-resolution timers (a 4 KB bucket reached 19.1 of 20 Mbit/s of frames).
    """
    rate = max(rate_mbit, MIN_RATE_MBIT) * FRAME_PER_GOODPUT
    rate_kbit = max(1, round(rate * 1000))
    burst = max(3028, math.ceil(rate * 1e6 / 8 * 0.002))
    return ["tbf", "rate", f"{rate_kbit}kbit", "burst", str(burst), "latency", f"{queue_ms:g}ms"]


def make_plan(spec: EmulationSpec, owner_pid: int) -> Plan:
    """Name every namespace, interface and address of ``spec`` for the run ``owner_pid``."""
    device_ns = f"{PREFIX}-{owner_pid}-dev"
    links = []
    for i, link_spec in enumerate(spec.links):
        links.append(
            Link(
                index=i,
                spec=link_spec,
                device_ns=device_ns,
                edge_ns=f"{PREFIX}-{owner_pid}-edge{i}",
                device_if=f"edge{i}",
                edge_if="eth0",
                device_address=f"{SUBNET_BASE}.{i}.1",
                edge_address=f"{SUBNET_BASE}.{i}.2",
                device_mac=f"02:e0:00:00:{i:02x}:01",
                edge_mac=f"02:e0:00:00:{i:02x}:02",
                device_tun=f"tun{i}",
                edge_tun="tun",
            )
        )
    return Plan(spec, owner_pid, device_ns, tuple(links))


def owner_of(name: str) -> int | None:
    """The pid in a name this package made (``eoemu-<pid>-...``), else None."""
    parts = name.split("-")
    if len(parts) >= 3 and parts[0] == PREFIX and parts[1].isdigit():
        return int(parts[1])
    return None


def leftovers(names: list[str], alive: set[int] | None = None, me: int | None = None) -> list[str]:
    """The names among ``names`` that a run no longer alive left behind.

    Args:
        names: namespace or cgroup names found on the machine.
        alive: pids known to be alive (their runs are left alone).
        me: this run's pid (its names are never leftovers).
    """
    alive = alive or set()
    out = []
    for name in names:
        pid = owner_of(name)
        if pid is not None and pid != me and pid not in alive:
            out.append(name)
    return out


# -- the rate schedule ---------------------------------------------------------------------


def rate_changes(plan: Plan, until_s: float | None = None) -> Iterator[RateChange]:
    """Every rate change of a trace replay, in time order, from 0 until ``until_s``
    (forever when None: traces loop, as mm-link's do).

    The first sample of each trace is the rate set at build time, so the schedule starts
    at its second sample (and at each later period's first). Consecutive equal rates are
    one change. Several traces (directions, links) are merged by time.
    """
    streams = []
    for link in plan.links:
        for direction in ("up", "down"):
            trace = getattr(link.spec, direction).trace
            if trace is not None:
                streams.append(_trace_changes(trace, link.index, direction))
    heads = [next(s, None) for s in streams]
    while True:
        live = [(h.at_s, k) for k, h in enumerate(heads) if h is not None]
        if not live:
            return
        _, k = min(live)
        head = heads[k]
        assert head is not None
        if until_s is not None and head.at_s >= until_s:
            return
        yield head
        heads[k] = next(streams[k], None)


def _trace_changes(trace: Trace, link: int, direction: str) -> Iterator[RateChange]:
    period = 0
    last = max(float(trace.mbps[0]), MIN_RATE_MBIT)
    while True:
        base = period * trace.duration_s
        for t, v in zip(trace.times_s, trace.mbps, strict=True):
            rate = max(float(v), MIN_RATE_MBIT)
            if rate != last:
                yield RateChange(base + float(t), link, direction, rate)
                last = rate
        period += 1
        if len(set(trace.mbps.tolist())) == 1:
            return  # a constant trace has no change after the first


def rate_at(trace: Trace, t_s: float) -> float:
    """The rate the replay has set at ``t_s`` (clamped like the schedule)."""
    return max(float(trace.capacity_at(t_s)), MIN_RATE_MBIT)


# -- the device's CPU cap ------------------------------------------------------------------


def cpu_limit_files(share: float, period_us: int, version: str) -> dict[str, str]:
    """The cgroup files that cap a group at ``share`` cores (CFS bandwidth control).

    ``version`` is ``"v1"`` (``cpu.cfs_period_us`` and ``cpu.cfs_quota_us``, this
    machine's hybrid layout) or ``"v2"`` (``cpu.max``: "quota period"). The period is
    written before the quota: v1 refuses a quota that does not fit the current period.
    """
    quota = max(1000, round(share * period_us))
    if version == "v2":
        return {"cpu.max": f"{quota} {period_us}"}
    return {"cpu.cfs_period_us": str(period_us), "cpu.cfs_quota_us": str(quota)}
