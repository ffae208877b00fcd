"""``edgeoffload bench deploy``: cold start of the node container, from ``docker run`` to
the node answering a task, without a CPU limit and with ``--cpus 0.1``.

Each run starts ``edgeoffload:latest`` as a node on a user-defined bridge network at a
fixed address, and a probe in the engine's network namespace connects to it: a TCP
connect every 5 ms (50 ms timeout) until the port accepts, then the real WebSocket
handshake, the hello, and one ``echo`` task. Cold start is ``docker run`` to that
task's result. Two pitfalls of this engine are avoided so they do not skew the figure:
the node's address has a permanent ARP entry (the engine derives the MAC from the IP),
since probing an address whose veth does not exist yet leaves ARP incomplete and stalls
connects for about a second; and no port is published, since docker-proxy accepts
connections before the node listens.

``startup_cpu_ms`` is the CPU time of everything in the container (the node process,
its thread, the worker it starts) when its READY line is seen, read from the
container's cgroup; the median of the runs without a limit. ``image_bytes`` is the
image's size. A third limit is measured for the docs' table only (0.1 CPU granted
with a 1 s period instead of the default 100 ms): ``cold_start_ms`` holds the two the
issue names. Writes bench/results/deploy.json (exactly those keys) and the figures'
section of docs/deployment.md, with the floors under any node in this image (a
container that runs ``true``, a bare interpreter) and a breakdown of where the
start-up time goes.

The machine is shared (2 cores, other work running): at 0.1 CPU the figure depends
on the quota, not on the load, but the unlimited one moves with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeoffload.cli import Parser

from ..errors import ConfigError
from .common import checkout, update_doc_section, write_json

IMAGE = "edgeoffload:latest"


def _root() -> Path:
    """The source checkout: the image is built from its deploy/ folder."""
    root = checkout()
    if root is None:
        raise ConfigError("bench deploy builds the image from a source checkout's deploy/")
    return root


def _engine() -> str:
    return str(_root() / "deploy" / "docker-engine.sh")


NETNS = os.environ.get("DOCKER_ENGINE_NETNS", "edgeoffload-docker")
NETWORK, BRIDGE, SUBNET = "eobench", "br-eobench", "172.31.251.0/24"
ADDRESS = "172.31.251.10"
#: Docker 20.10 derives a container's MAC from its IP (02:42 + the four octets).
MAC = "02:42:" + ":".join(f"{int(o):02x}" for o in ADDRESS.split("."))
PORT = 8765
#: ``--cpus 0.1`` is a quota of 10 ms per 100 ms period (the kernel's and Kubernetes'
#: default period); the same 0.1 CPU with a 1 s period (Docker's longest) grants 100 ms
#: per second, so a start that needs less runs unthrottled.
LIMITS = {
    "unlimited": [],
    "cpus_0_1": ["--cpus", "0.1"],
    "cpus_0_1_period_1s": ["--cpu-period", "1000000", "--cpu-quota", "100000"],
}
#: The limits ``cold_start_ms`` holds in bench/results/deploy.json: the issue names
#: exactly these two (the 1 s period is in the docs' table only).
RESULT_LIMITS = ("unlimited", "cpus_0_1")
#: The seed's claim for a cold start at 0.1 CPU.
BAR_MS = 800.0


def docker(*args: str, timeout: float = 120) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


# -- inside the engine's network namespace -------------------------------------------------


def cgroup_cpu_ms(container_id: str) -> float:
    """CPU time of every process in the container so far (cgroup v1 cpuacct)."""
    path = Path("/sys/fs/cgroup/cpuacct/docker") / container_id / "cpuacct.usage"
    return int(path.read_text()) / 1e6


async def answer_first_task() -> None:
    """Connect as soon as the port accepts, then hello and one echo task, for real."""
    import socket

    from websockets.asyncio.client import connect

    from edgeoffload.protocol.codec import Codec
    from edgeoffload.protocol.messages import (
        PROTOCOL_VERSION,
        Hello,
        Result,
        ResultBatch,
        Submit,
        Welcome,
    )

    loop = asyncio.get_running_loop()
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (ADDRESS, PORT)), 0.05)
            break
        except (OSError, TimeoutError):
            sock.close()
            await asyncio.sleep(0.005)
    codec = Codec()
    # The handshake itself may wait for the node's CPU share (10 ms per 100 ms at 0.1).
    async with connect(
        f"ws://{ADDRESS}:{PORT}/offload", sock=sock, compression=None, open_timeout=30
    ) as ws:
        await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "bench-deploy")))
        assert isinstance(codec.decode(await ws.recv(decode=False)), Welcome)
        await ws.send(codec.encode(Submit(1, "echo", ["cold"])))
        answer = codec.decode(await ws.recv(decode=False))
        if isinstance(answer, ResultBatch):
            answer = answer.items[0]
        assert isinstance(answer, Result) and answer.value == "cold", answer


#: The node's command line in the container (after the image's entrypoint).
NODE = ["node", "--host", "0.0.0.0", "--port", str(PORT), "--workers", "1", "--node-id", "bench"]

VARIANTS = {"image": [IMAGE, *NODE]}

#: The floor under any asyncio server in this image, measured in the same run: the
#: first line printed by ``python -c`` after these imports (nothing of the node's).
FLOORS = {
    "python": "print(1)",
    "asyncio": "import asyncio; print(1)",
    "asyncio_websockets_msgspec": (
        "from edgeoffload.cli.startup import defer_unused_imports as d; d(); "
        "import asyncio, msgspec, websockets.asyncio.server; print(1)"
    ),
}


async def one_run(limit: list[str], workdir: Path, variant: str = "image") -> dict[str, float]:
    cidfile = workdir / "cid"
    with contextlib.suppress(FileNotFoundError):
        cidfile.unlink()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        "docker", "run", "--cidfile", str(cidfile), "--network", NETWORK, "--ip", ADDRESS,
        *limit, *VARIANTS[variant],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    probe = asyncio.create_task(answer_first_task())
    container_id = ""
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        t_ready = time.perf_counter()
        if not line.startswith(b"READY "):
            raise RuntimeError(f"node container did not start: {line!r}")
        container_id = cidfile.read_text().strip()
        cpu_ready = cgroup_cpu_ms(container_id)
        await asyncio.wait_for(probe, 60)
        t_answer = time.perf_counter()
        cpu_answer = cgroup_cpu_ms(container_id)
    finally:
        probe.cancel()
        if not container_id and cidfile.exists():
            container_id = cidfile.read_text().strip()
        if container_id:
            rm = await asyncio.create_subprocess_exec(
                "docker", "rm", "--force", container_id,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await rm.wait()
        await proc.wait()
    return {
        "answer_ms": (t_answer - t0) * 1000,
        "ready_ms": (t_ready - t0) * 1000,
        "cpu_ready_ms": cpu_ready,
        "cpu_answer_ms": cpu_answer,
    }


def exit_ms(*args: str) -> float:
    """Milliseconds from ``docker run`` to the container's exit (its removal after, not
    counted): the floor of any command in this image."""
    with tempfile.TemporaryDirectory(prefix="eo-bench-exit-") as tmp:
        cidfile = Path(tmp) / "cid"
        t0 = time.perf_counter()
        subprocess.run(
            ["docker", "run", "--cidfile", str(cidfile), "--network", NETWORK, "--ip", ADDRESS,
             *args],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        elapsed = (time.perf_counter() - t0) * 1000
        docker("rm", cidfile.read_text().strip())
    return elapsed


#: Commands whose ``docker run`` to exit is the floor under everything else:
#: the container alone, and the interpreter without even its ``site`` module.
EXIT_FLOORS = {
    "true": ["--entrypoint", "/bin/true", IMAGE],
    "python_S_pass": ["--entrypoint", "python", IMAGE, "-S", "-c", "pass"],
}


def first_output_ms(*args: str) -> float:
    """Milliseconds from ``docker run`` to the container's first line of output (its
    exit and removal are not counted)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["docker", "run", "--rm", "--network", NETWORK, "--ip", ADDRESS, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = (time.perf_counter() - t0) * 1000
    proc.wait(60)
    proc.stdout.close()
    if not line:
        raise RuntimeError(f"no output from docker run {' '.join(args)}")
    return elapsed


#: Run in the container: CPU milliseconds (of this process) after the interpreter's
#: start, then after each group of imports of the node's start path, in its order, then
#: after the node's start (configuration, task table, listening socket) up to READY.
BREAKDOWN = r"""
import time
t = [time.process_time()]
from edgeoffload.cli.startup import defer_unused_imports
defer_unused_imports()
import edgeoffload.cli, argparse, logging; t.append(time.process_time())
import asyncio; t.append(time.process_time())
import msgspec, edgeoffload.config; t.append(time.process_time())
import websockets.asyncio.server; t.append(time.process_time())
import edgeoffload.cli.node, edgeoffload.node.runner, edgeoffload.examples.tasks
t.append(time.process_time())
print(*(round(x * 1000, 2) for x in t))
"""


def runtime_init_ms() -> float:
    """CPU of the container runtime's own process before it becomes the entrypoint
    (runc init, a Go program, then exec): a process's CPU time survives exec, so
    ``cat /proc/self/schedstat`` as the entrypoint shows it (median of 5)."""
    values = [
        int(docker("run", "--rm", "--network", "none", "--entrypoint", "/bin/cat", IMAGE,
                   "/proc/self/schedstat").split()[0]) / 1e6
        for _ in range(5)
    ]  # fmt: skip
    return round(statistics.median(values), 1)


def breakdown(runtime_ms: float) -> dict[str, float]:
    """Where the node's start-up CPU goes (median of 5 runs, no limit); the process's
    CPU includes the runtime's part (``runtime_ms``), which is taken out."""
    rows = []
    for _ in range(5):
        out = docker("run", "--rm", "--network", "none", "--entrypoint", "python", IMAGE,
                     "-c", BREAKDOWN)  # fmt: skip
        rows.append([float(x) for x in out.split()])
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    return {
        "runtime_ms": runtime_ms,
        "interpreter_ms": round(med[0] - runtime_ms, 1),
        "cli_logging_ms": round(med[1] - med[0], 1),
        "asyncio_ms": round(med[2] - med[1], 1),
        "config_msgspec_ms": round(med[3] - med[2], 1),
        "websockets_ms": round(med[4] - med[3], 1),
        "node_modules_ms": round(med[5] - med[4], 1),
        "total_ms": round(med[5], 1),
    }


def inner(runs: int) -> dict[str, Any]:
    result: dict[str, Any] = {"runs": runs}
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="eo-bench-deploy-") as tmp:
        workdir = Path(tmp)
        for variant in VARIANTS:
            for name, limit in LIMITS.items():
                # One warm-up run: the file cache and the engine.
                asyncio.run(one_run(limit, workdir, variant))
                samples = [asyncio.run(one_run(limit, workdir, variant)) for _ in range(runs)]
                result.setdefault(variant, {})[name] = {
                    key: sorted(round(s[key], 1) for s in samples) for key in samples[0]
                }
    result["docker_run_echo_ms"] = statistics.median(
        first_output_ms("--entrypoint", "/bin/echo", IMAGE, "started") for _ in range(5)
    )
    result["floor_ms"] = {
        floor: {
            name: statistics.median(
                first_output_ms(*limit, "--entrypoint", "python", IMAGE, "-c", code)
                for _ in range(5)
            )
            for name, limit in LIMITS.items()
        }
        for floor, code in FLOORS.items()
    }
    result["exit_floor_ms"] = {
        floor: {
            name: statistics.median(exit_ms(*limit, *command) for _ in range(5))
            for name, limit in LIMITS.items()
        }
        for floor, command in EXIT_FLOORS.items()
    }
    result["breakdown_cpu_ms"] = breakdown(runtime_init_ms())
    result["loadavg"] = [load_at_start, os.getloadavg()[0]]
    return result


# -- on the host --------------------------------------------------------------------------


def engine_env() -> tuple[dict[str, str], bool]:
    env = {**os.environ}
    env["DOCKER_HOST"] = (
        subprocess.run([_engine(), "env"], capture_output=True, text=True, check=True)
        .stdout.strip()
        .split("=", 1)[1]
    )
    if subprocess.run([_engine(), "status"], env=env).returncode == 0:
        return env, False
    subprocess.run([_engine(), "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    return env, True


def prepare_network() -> None:
    # Containers left on the network by an interrupted run would hold the address.
    stale = docker("ps", "--all", "--quiet", "--filter", f"network={NETWORK}").split()
    if stale:
        docker("rm", "--force", *stale)
    if NETWORK not in docker("network", "ls", "--format", "{{.Name}}").split():
        docker("network", "create", "--subnet", SUBNET,
               "-o", f"com.docker.network.bridge.name={BRIDGE}", NETWORK)  # fmt: skip
    subprocess.run(
        ["ip", "-n", NETNS, "neigh", "replace", ADDRESS, "lladdr", MAC, "dev", BRIDGE,
         "nud", "permanent"],
        check=True,
    )  # fmt: skip


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def report(m: dict[str, Any], image_bytes: int) -> dict[str, Any]:
    lim = m["image"]
    return {
        "cold_start_ms": {name: median(lim[name]["answer_ms"]) for name in RESULT_LIMITS},
        "image_bytes": image_bytes,
        "startup_cpu_ms": median(lim["unlimited"]["cpu_ready_ms"]),
    }


def markdown(m: dict[str, Any], result: dict[str, Any], runs: int) -> str:
    b = m["breakdown_cpu_ms"]
    floors = m["floor_ms"]
    load = m["loadavg"]

    def row(name: str, label: str) -> str:
        v = m["image"][name]
        a = v["answer_ms"]
        return (
            f"| {label} | **{median(a)}** ({a[0]}–{a[-1]}) | {median(v['ready_ms'])} | "
            f"{median(v['cpu_ready_ms'])} | {median(v['cpu_answer_ms'])} |"
        )

    def floor(name: str, label: str, table: dict[str, Any] = floors) -> str:
        f = table[name]
        return (
            f"| {label} | {f['unlimited']:.0f} | {f['cpus_0_1']:.0f} | "
            f"{f['cpus_0_1_period_1s']:.0f} |"
        )

    exits = m["exit_floor_ms"]

    at_bar = result["cold_start_ms"]["cpus_0_1"]
    verdict = "under" if at_bar < BAR_MS else "over"
    at_long = median(m["image"]["cpus_0_1_period_1s"]["answer_ms"])
    verdict_long = "under" if at_long < BAR_MS else "over"
    return f"""## Cold start: figures from one run

`edgeoffload bench deploy --runs {runs}` ({time.strftime("%Y-%m-%d")}; load average
{load[0]:.2f} at the start of the run and {load[1]:.2f} at its end, on the 2-core
machine shared with other work: load moves the unlimited figures, and inflates every
CPU figure, more than it moves the quota-bound ones): `docker run` of a node
(`--workers 1`) on a bridge network to its first task answered over a real WebSocket;
median of {runs} runs (min–max) after one warm-up run. READY is the node's line (it
listens); CPU is the whole container's (its cgroup), at READY and at the answer.

| node, limit | cold start, ms | READY, ms | CPU at READY, ms | CPU at answer, ms |
|---|---|---|---|---|
{row("unlimited", "image, none")}
{row("cpus_0_1", "image, `--cpus 0.1`")}
{row("cpus_0_1_period_1s", "image, 0.1 CPU with a 1 s period")}

`--cpus 0.1` is 10 ms of CPU per 100 ms period; "0.1 CPU with a 1 s period" is
`--cpu-period 1000000 --cpu-quota 100000`, the same share granted as 100 ms per second
(docs/deployment.md, "The CFS period", says what that costs).

The bar is the seed's **{BAR_MS:.0f} ms at 0.1 CPU**: with `--cpus 0.1` (100 ms
period) the image is **{verdict}** it ({at_bar} ms); with the same 0.1 CPU on a 1 s
period it is **{verdict_long}** it ({at_long} ms). `bench/results/deploy.json`:
`startup_cpu_ms` {result["startup_cpu_ms"]} (CPU at READY, no limit), `image_bytes`
{result["image_bytes"]} ({result["image_bytes"] / 1e6:.0f} MB).

The floors, in the same run (median of 5 each): `docker run` of the image to the exit
of a command that does nothing, and to the first line printed by a `python -c` that
only imports, nothing of the node. `docker run` of `/bin/echo` prints after
{m["docker_run_echo_ms"]:.0f} ms (namespaces, a veth on the bridge, cgroups, the
engine's bookkeeping).

| `docker run` to | none, ms | `--cpus 0.1`, ms | 0.1 CPU, 1 s period, ms |
|---|---|---|---|
{floor("true", "exit of `true`", exits)}
{floor("python_S_pass", "exit of `python -S -c pass`", exits)}
{floor("python", "`python -c print(1)` printed")}
{floor("asyncio", "`import asyncio` done")}
{floor("asyncio_websockets_msgspec", "`import asyncio, msgspec, websockets.asyncio.server` done")}

Where the node's CPU goes (CPU of the process, median of 5, no limit):

- **The container runtime's own process**: {b["runtime_ms"]} ms before the entrypoint
  starts (runc init, a Go program, then exec; measured as the CPU time of the process,
  which survives exec); the container's cgroup counts it.
- **The interpreter's start**: {b["interpreter_ms"]} ms.
- **Imports on the node's start path**, in its order: the command line and logging
  (argparse, re, logging) {b["cli_logging_ms"]} ms, asyncio (with the ssl,
  concurrent.futures and subprocess it imports) {b["asyncio_ms"]} ms, msgspec (with
  decimal, uuid, datetime, typing_extensions) and the configuration
  {b["config_msgspec_ms"]} ms, websockets' server {b["websockets_ms"]} ms, the node's
  own modules {b["node_modules_ms"]} ms: {b["total_ms"]} ms with the interpreter and
  the runtime's part.
- The rest of the CPU at READY is the node's set-up (configuration, task table, the
  listening socket). Its worker pool and the metrics' imports start only after its
  first answer (or its first `/readyz`, or `pool_start_delay_s`).
- **At 0.1 CPU** each 100 ms period grants 10 ms, so each millisecond of CPU before the
  answer costs up to 10 ms of wall time (a little less: the quota's first period is
  unspent while the engine sets the container up).
"""


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench deploy")
    parser.add_argument(
        "--runs",
        type=int,
        default=10,
        help="runs per limit and variant (default 10, the least for published figures)",
    )
    parser.add_argument("--no-build", action="store_true", help="use the image as it is")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        print(json.dumps(inner(args.runs)))
        return 0
    env, started = engine_env()
    os.environ["DOCKER_HOST"] = env["DOCKER_HOST"]
    try:
        if not args.no_build:
            subprocess.run([str(_root() / "deploy" / "image.sh"), IMAGE], check=True,
                           env={**env, "PYTHON": sys.executable})  # fmt: skip
        prepare_network()
        out = subprocess.run(
            ["nsenter", f"--net=/run/netns/{NETNS}", sys.executable, "-m", "edgeoffload",
             "bench", "deploy", "--inside", "--runs", str(args.runs)],
            capture_output=True, text=True, check=False, env=env, cwd=_root(),
        )  # fmt: skip
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            return 1
        m = json.loads(out.stdout)
        image_bytes = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE))
        docker("network", "rm", NETWORK)
    finally:
        if started:
            subprocess.run([_engine(), "stop"], env=env, check=False)
    result = report(m, image_bytes)
    write_json("deploy.json", result)
    update_doc_section("deployment.md", "deploy", markdown(m, result, args.runs))
    print(json.dumps({k: m[k] for k in VARIANTS}), file=sys.stderr)
    print(
        f"deploy: cold start {result['cold_start_ms']['unlimited']} ms unlimited, "
        f"{result['cold_start_ms']['cpus_0_1']} ms at 0.1 CPU; startup CPU "
        f"{result['startup_cpu_ms']} ms; image {result['image_bytes']} bytes"
    )
    return 0
