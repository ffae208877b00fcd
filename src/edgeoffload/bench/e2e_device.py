"""The device side of ``bench e2e``: one policy's run of an application's workload.

Started by :mod:`.e2e` inside the emulated device (its network namespace, under the CPU
quota, in the CPU-accounting group) as ``python -m edgeoffload.bench.e2e_device SPEC``
(``SPEC``: JSON, below; the client's token, if any, comes in ``EDGEOFFLOAD_CLIENT__TOKEN``,
never on argv). It imports the application, builds its requests, connects, prints
``READY`` and waits for a line on stdin: the parent restarts the trace replay then, so
that every policy's requests meet the same stretch of trace. It then sends each request
at its ``at_s`` and prints one JSON line with a record per request (send and end time on
the shared monotonic clock, where it ran, attempts, error, payload sizes) and the
device's CPU seconds over the timed part (read from its accounting group). Answers are
checked with the application's ``check`` after the timed part, so checking costs no
latency.

Spec keys: ``app`` (package: ``examples.aoi``), ``n``, ``seed``, ``repeat``, ``urls``,
``policy``, ``device_cpu_hz``, ``cpu_usage_file`` (or null), ``check`` (how many answers
to check, from the start), ``deadlines`` (default true: each request carries its
deadline to the client, as an application's would: the policies decide with it, and the
client gives a task up at it, ``DeadlineExceeded``), ``warmup`` (default true).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

#: How long to wait for every node's hello before starting.
CONNECT_TIMEOUT_S = 20.0


def _usage_s(path: str | None) -> float | None:
    if not path:
        return None
    text = Path(path).read_text()
    if path.endswith("cpu.stat"):  # cgroup v2
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return None
    return int(text) / 1e9  # v1 cpuacct.usage: nanoseconds


def payload_bytes(args: tuple[Any, ...]) -> int:
    """About what the arguments weigh on the wire (numpy arrays as their raw bytes)."""
    return len(pickle.dumps(args, protocol=5))


async def warm_up(client: Any, requests: list[Any], nodes: int) -> None:
    """One request of each task here and a few on the nodes before the timed part: a
    task's first call loads its model or compiles (every policy would otherwise pay it
    once, the first one more, since the nodes stay up between policies)."""
    seen: dict[str, Any] = {}
    for r in requests:
        seen.setdefault(r.task, r)
    for r in seen.values():
        await client.submit(r.task, *r.args, where="local")
        # a warm-up that fails on the link (a 1-MB frame on a 4-Mbit/s trace starves
        # the heartbeats: the node is declared dead, the task placed again until it
        # gives up) is no result of the benchmark: the timed part meets the same link
        await asyncio.gather(
            *(client.submit(r.task, *r.args, where="edge") for _ in range(nodes)),
            return_exceptions=True,
        )
    # One decision by the run's policy, and the learned policy's compiled kernel loaded:
    # its first decision starts loading it (numba, ~1.5 s of CPU, 6 s at 0.25 CPU) on a
    # thread, which otherwise ran inside the timed part, took the quota from the tasks
    # and held the event loop (auto's ultrasound frames sent up to 0.6 s late).
    first = requests[0]
    with contextlib.suppress(Exception):
        await client.submit(first.task, *first.args)
    scorer = getattr(getattr(getattr(client, "_auto", None), "policy", None), "scorer", None)
    load = getattr(scorer, "kernel", None)
    if callable(load):
        await asyncio.to_thread(load, True)


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    from edgeoffload.client.client import Client

    app = spec["app"]
    importlib.import_module(f"{app}.tasks")
    wl = importlib.import_module(f"{app}.workload")
    requests = wl.workload(spec["n"], spec["seed"], repeat=spec["repeat"])
    sizes = [payload_bytes(tuple(r.args)) for r in requests]
    from edgeoffload.tasks import spec_of

    cycles = []
    for r in requests:
        registered = spec_of(r.task)
        hints = registered.hints(list(r.args)) if registered is not None else None
        cycles.append(float(hints.cpu_cycles) if hints is not None else None)
    options: dict[str, Any] = {"policy": spec["policy"]}
    if spec.get("device_cpu_hz"):
        options["device_cpu_hz"] = spec["device_cpu_hz"]
    records: list[dict[str, Any]] = [{} for _ in requests]
    values: list[Any] = [None] * len(requests)
    delivered = [0] * len(requests)
    async with Client(spec["urls"], **options) as client:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while client.statistics().nodes_connected < len(spec["urls"]):
            if time.monotonic() > deadline:
                raise SystemExit(f"only {client.statistics().nodes_connected} nodes connected")
            await asyncio.sleep(0.05)
        if spec.get("warmup", True):
            await warm_up(client, requests, len(spec["urls"]))
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        before = client.statistics()  # the warm-up's sends are not the run's
        t0 = time.monotonic()
        cpu0 = _usage_s(spec.get("cpu_usage_file"))
        finished = asyncio.Event()
        left = len(requests)
        handles: list[Any] = [None] * len(requests)

        def done(i: int) -> Any:
            def on_done(value: Any, exc: BaseException | None) -> None:
                nonlocal left
                delivered[i] += 1
                if delivered[i] > 1:
                    return  # a duplicate: counted, never a second record
                h = handles[i]
                rec = records[i]
                rec["end"] = time.monotonic()
                rec["node"] = h.node if h is not None else None
                rec["attempts"] = h.attempts if h is not None else None
                # whether the node's result cache answered (the owner's record says;
                # the handle has no public view of it yet)
                rec["cached"] = bool(getattr(getattr(h, "_record", None), "cached", False))
                rec["error"] = None if exc is None else f"{type(exc).__name__}: {exc}"
                values[i] = value
                left -= 1
                if left == 0:
                    finished.set()

            return on_done

        for i, req in enumerate(requests):
            wait = t0 + req.at_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            records[i].update(
                sent=time.monotonic(), task=req.task, group=req.group, deadline_s=req.deadline_s
            )
            records[i]["in_bytes"] = sizes[i]
            records[i]["cycles_hint"] = cycles[i]
            given = req.deadline_s if spec.get("deadlines", True) else None
            handles[i] = client.submit_nowait(
                req.task, list(req.args), done(i), deadline=given, where="auto"
            )
        if requests:
            await finished.wait()
        t_end = time.monotonic()
        cpu1 = _usage_s(spec.get("cpu_usage_file"))
        stats = client.statistics()
    for i, value in enumerate(values):
        records[i]["out_bytes"] = payload_bytes((value,)) if value is not None else 0
    checked = wrong = 0
    for i in range(min(spec.get("check", 0), len(requests))):
        if records[i].get("error") is None:
            checked += 1
            wrong += not wl.check(requests[i], values[i])
    return {
        "t0": t0,
        "t_end": t_end,
        "cpu_s": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        "records": records,
        "delivered": delivered,
        "checked": checked,
        "wrong": wrong,
        "client": {
            "completed_local": stats.completed_local,
            "completed_edge": stats.completed_edge,
            "failed": stats.failed,
            "resubmitted": stats.resubmitted,
            "duplicates_dropped": stats.duplicates_dropped,
            "inputs_hashed": stats.inputs_hashed - before.inputs_hashed,
            "inputs_held": stats.inputs_held - before.inputs_held,
        },
    }


def main() -> int:
    spec = json.loads(sys.argv[1])
    out = asyncio.run(run(spec))
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
