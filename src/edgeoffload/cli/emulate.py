"""``edgeoffload emulate [FLAGS] [-- CMD ...]``: a device and edge hosts on shaped links.

Builds the network of :mod:`edgeoffload.emulation` (one device namespace, ``--edges``
edge namespaces, one veth link each), shapes both directions of every link (a fixed
``--rate-mbit`` or a ``--trace`` replayed in real time, ``--rtt-ms`` and ``--jitter-ms``
through the delay relay, ``--loss`` per direction), caps the device's CPU
(``--device-cpu``), then runs CMD on the device (only its network namespace entered,
with ``EMULATED_EDGES`` and ``EMULATED_DEVICE`` holding the addresses and
``EMULATED_DEVICE_CPU`` the CPU share, for a client's device model) and exits with
its code, or, without CMD, stays up until Ctrl-C. Everything is torn down on exit, on
Ctrl-C and SIGTERM, and, after a SIGKILL, by the next run (``--cleanup`` does only
that). ``--edge-run`` starts a shell command in every edge namespace first (e.g. a
node), with ``EMULATED_ADDRESS`` set to that edge's address.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--edges", type=int, default=1, help="edge hosts (default 1)")
    parser.add_argument(
        "--trace",
        metavar="REF",
        help="bandwidth trace replayed on every link: DATASET:NAME (e.g. "
        "ghent_4g:report_bus_0001) or a two-column file (seconds, Mbit/s); both "
        "directions unless --down-trace/--down-rate-mbit",
    )
    parser.add_argument("--down-trace", metavar="REF", help="trace for edge -> device")
    parser.add_argument("--trace-scale", type=float, default=1.0, help="multiply trace rates")
    parser.add_argument("--rate-mbit", type=float, help="fixed rate, both directions")
    parser.add_argument("--down-rate-mbit", type=float, help="fixed rate, edge -> device")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="added round-trip time")
    parser.add_argument(
        "--jitter-ms", type=float, default=0.0, help="delay standard deviation per direction"
    )
    parser.add_argument("--loss", type=float, default=0.0, help="packet loss per direction")
    parser.add_argument("--loss-down", type=float, help="packet loss edge -> device")
    parser.add_argument(
        "--queue-ms", type=float, default=100.0, help="bottleneck buffer in time (default 100)"
    )
    parser.add_argument(
        "--device-cpu", type=float, help="CPU share of one core for CMD (e.g. 0.25)"
    )
    parser.add_argument(
        "--cpu-period-ms",
        type=float,
        default=100.0,
        help="CFS period of the CPU cap (default 100; shorter spreads the share more evenly)",
    )
    parser.add_argument("--edge-run", metavar="SHELL", help="command started on every edge")
    parser.add_argument(
        "--cleanup", action="store_true", help="remove what killed runs left behind, then exit"
    )
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ... run on the device")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from ..emulation import Emulation, available, remove_leftovers, symmetric_spec
    from ..emulation.traceref import load_trace_ref
    from ..errors import EmulationError

    reason = available()
    if reason:
        sys.stderr.write(f"edgeoffload emulate: error: {reason}\n")
        return 2
    if args.cleanup:
        for name in remove_leftovers():
            print(f"removed {name}")
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    trace = load_trace_ref(args.trace, args.trace_scale) if args.trace else None
    down = load_trace_ref(args.down_trace, args.trace_scale) if args.down_trace else None
    spec = symmetric_spec(
        edges=args.edges,
        rtt_ms=args.rtt_ms,
        jitter_ms=args.jitter_ms,
        loss=args.loss,
        loss_down=args.loss_down,
        rate_mbit=args.rate_mbit,
        trace=trace,
        down_trace=down,
        down_rate_mbit=args.down_rate_mbit,
        queue_ms=args.queue_ms,
        device_cpu=args.device_cpu,
        cpu_period_us=round(args.cpu_period_ms * 1000),
    )
    previous = signal.signal(signal.SIGTERM, _terminate)
    servers: list[subprocess.Popen[bytes]] = []
    emu = Emulation(spec)
    try:
        emu.start()
        env = dict(os.environ)
        env["EMULATED_EDGES"] = ",".join(emu.edge_addresses)
        env["EMULATED_DEVICE"] = emu.device_address
        if args.device_cpu is not None:
            env["EMULATED_DEVICE_CPU"] = f"{args.device_cpu:g}"
        if args.edge_run:
            for i, address in enumerate(emu.edge_addresses):
                servers.append(
                    emu.edge_popen(
                        i, ["sh", "-c", args.edge_run], env={**env, "EMULATED_ADDRESS": address}
                    )
                )
        if cmd:
            proc = emu.device_popen(cmd, env=env)
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait(5)
                raise
        sys.stderr.write(_describe(emu))
        while True:
            time.sleep(3600)
    except EmulationError as exc:
        sys.stderr.write(f"edgeoffload emulate: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
        emu.close()
        signal.signal(signal.SIGTERM, previous)


def _describe(emu: object) -> str:
    from ..emulation import Emulation

    assert isinstance(emu, Emulation)
    lines = [
        f"device: {emu.plan.device_ns} (run there: nsenter --net=/run/netns/{emu.plan.device_ns})"
    ]
    for link in emu.plan.links:
        lines.append(
            f"edge {link.index}: {link.edge_ns} at {link.edge_address} "
            f"(device side {link.device_address}); up {_shape(link.spec.up)}, "
            f"down {_shape(link.spec.down)}"
        )
    lines.append("up until Ctrl-C")
    return "\n".join(lines) + "\n"


def _shape(shape: object) -> str:
    from ..emulation import Shape

    assert isinstance(shape, Shape)
    rate = (
        f"trace {shape.trace.dataset}/{shape.trace.name}"
        if shape.trace is not None
        else (f"{shape.rate_mbit:g} Mbit/s" if shape.rate_mbit else "unshaped")
    )
    return f"{rate}, {shape.delay_ms:g} ms ±{shape.jitter_ms:g}, loss {shape.loss:g}"
