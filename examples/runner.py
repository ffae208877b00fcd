"""The runner the examples' ``run.py`` share: send a workload at its times, report.

Each request of ``workload(n, seed, repeat=...)`` is submitted at its ``at_s`` (all the
requests due at one instant in the same event-loop turn, so the client puts them in one
frame: that is how many small tasks are batched) with ``where="auto"`` under the chosen
policy. A request's latency runs from its ``at_s`` (when its input arrived; a late send
counts against it) to its result; a deadline miss is a task that failed on its deadline
or answered after it. After the run each answer is checked with the workload's
``check`` (outside the timings).

Exit status: 0 when every task answered (in time or late) and every answer is right,
1 when a task failed for another reason or an answer is wrong, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeoffload import Client
from edgeoffload.errors import DeadlineExceeded, EdgeOffloadError


@dataclass
class Outcome:
    """What became of one request."""

    index: int
    group: str
    latency_s: float | None = None
    where: str | None = None
    value: Any = None
    error: BaseException | None = None
    late: bool = False

    @property
    def deadline_missed(self) -> bool:
        return isinstance(self.error, DeadlineExceeded)

    @property
    def timed(self) -> bool:
        """Counts in the latency figures: answered (in time or late), or given up on
        its deadline (with the time it was given up, a lower bound); not other
        failures."""
        return self.latency_s is not None and (self.error is None or self.deadline_missed)


@dataclass
class Report:
    """The figures one run prints."""

    example: str
    policy: str
    n: int
    seed: int
    repeat: bool
    latency_ms: dict[str, float]
    by_group: dict[str, dict[str, float]]
    deadline_misses: int
    deadline_miss_rate: float
    throughput_per_s: float
    offload_share: float
    failed: int
    wrong: int
    time_scale: float = 1.0
    loadavg: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lat = self.latency_ms
        out = [
            f"{self.example}: {self.n} tasks, policy {self.policy}, seed {self.seed}"
            + (", repeat" if self.repeat else "")
            + (f", time scale {self.time_scale:g}" if self.time_scale != 1.0 else ""),
            f"latency ms: p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  p99 {lat['p99']:.1f}",
        ]
        for group, g in self.by_group.items():
            out.append(
                f"  {group}: {int(g['count'])} tasks, p50 {g['p50']:.1f}  p95 {g['p95']:.1f}  "
                f"p99 {g['p99']:.1f} ms, {int(g['deadline_misses'])} deadline misses"
            )
        out += [
            f"deadline misses: {self.deadline_misses} ({100 * self.deadline_miss_rate:.1f} %)",
            f"throughput: {self.throughput_per_s:.1f} tasks/s",
            f"offload share: {100 * self.offload_share:.1f} %",
            f"failed: {self.failed}  wrong answers: {self.wrong}",
            f"loadavg: {' '.join(self.loadavg)}",
        ]
        return out


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    a = np.asarray(values) * 1000.0
    return {f"p{q}": float(np.percentile(a, q)) for q in (50, 95, 99)}


async def warm_up(client: Client, requests: Sequence[Any], copies: int) -> None:
    """Run each task kind ``copies`` times here and on the nodes, untimed: a worker's
    first run imports its libraries (scipy: a quarter of a second), which a serving
    deployment has long done."""
    first: dict[str, Any] = {}
    for r in requests:
        first.setdefault(r.task, r)
    wheres: list[Any] = ["local"] + (["edge"] if client.nodes else [])
    jobs = [
        client.submit(r.task, *r.args, where=where)
        for r in first.values()
        for where in wheres
        for _ in range(copies)
    ]
    await asyncio.gather(*jobs)


async def send(
    client: Client, requests: Sequence[Any], hard_deadlines: bool = False, time_scale: float = 1.0
) -> tuple[list[Outcome], float]:
    """Submit each request at its time; return the outcomes (in request order) and the
    wall time from the first send to the last answer.

    With ``hard_deadlines`` each task carries its deadline (the client and node give
    up on it then: it fails ``DeadlineExceeded``); otherwise it runs to the end and an
    answer after its deadline counts as a miss (its latency is then known).
    ``time_scale`` stretches the send times (0.1: ten times faster than real time)."""
    loop = asyncio.get_running_loop()
    outcomes = [Outcome(i, r.group) for i, r in enumerate(requests)]
    remaining = len(requests)
    all_done = loop.create_future()
    if not requests:
        return outcomes, 0.0
    t0 = loop.time()
    last = [t0]

    def finished(i: int, due: float, handle_box: list[Any], value: Any, exc: Any) -> None:
        nonlocal remaining
        try:
            record(i, due, handle_box, value, exc)
        finally:  # whatever happened, the run ends when the last task has
            remaining -= 1
            if remaining == 0 and not all_done.done():
                all_done.set_result(None)

    def record(i: int, due: float, handle_box: list[Any], value: Any, exc: Any) -> None:
        now = loop.time()
        o = outcomes[i]
        o.latency_s, o.value, o.error = now - due, value, exc
        deadline = requests[i].deadline_s
        if exc is None and deadline is not None and o.latency_s > deadline:
            o.error = DeadlineExceeded(None, f"answered {o.latency_s:.3f} s after its input")
            o.late = True
        if handle_box:
            o.where = handle_box[0].node
        last[0] = now

    i = 0
    while i < len(requests):
        at = requests[i].at_s * time_scale
        delay = t0 + at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # Everything due now goes in this turn: one frame for the lot.
        while i < len(requests) and requests[i].at_s * time_scale <= loop.time() - t0:
            r = requests[i]
            box: list[Any] = []
            due = t0 + r.at_s * time_scale
            callback = _bind(finished, i, due, box)
            box.append(
                client.submit_nowait(
                    r.task,
                    list(r.args),
                    callback,
                    deadline=r.deadline_s if hard_deadlines else None,
                )
            )
            i += 1
    await all_done
    return outcomes, last[0] - t0


def _bind(fn: Callable[..., None], *front: Any) -> Callable[[Any, Any], None]:
    return lambda value, exc: fn(*front, value, exc)


def summarise(
    example: str,
    policy: str,
    args: argparse.Namespace,
    requests: Sequence[Any],
    outcomes: list[Outcome],
    span_s: float,
    check: Callable[[Any, Any], bool],
) -> Report:
    """The report's figures (answers checked here, after the timed run)."""
    answered = [o for o in outcomes if o.latency_s is not None]
    misses = [o for o in outcomes if o.deadline_missed]
    failed = [o for o in outcomes if o.error is not None and not o.deadline_missed]
    wrong = sum(
        1 for o in outcomes if (o.error is None or o.late) and not check(requests[o.index], o.value)
    )
    on_node = sum(1 for o in answered if o.where not in (None, "local"))
    groups: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(o.group for o in outcomes):
        mine = [o for o in outcomes if o.group == name]
        lat = [o.latency_s for o in mine if o.timed and o.latency_s is not None]
        groups[name] = {
            "count": len(mine),
            **_percentiles(lat),
            "deadline_misses": sum(o.deadline_missed for o in mine),
        }
    ok = [o.latency_s for o in outcomes if o.timed and o.latency_s is not None]
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
    except OSError:
        load = []
    return Report(
        example=example,
        policy=policy,
        n=len(requests),
        seed=args.seed,
        repeat=args.repeat,
        latency_ms=_percentiles(ok),
        by_group=groups,
        deadline_misses=len(misses),
        deadline_miss_rate=len(misses) / max(1, len(outcomes)),
        throughput_per_s=len(answered) / span_s if span_s > 0 else 0.0,
        offload_share=on_node / max(1, len(answered)),
        failed=len(failed),
        wrong=wrong,
        time_scale=args.time_scale,
        loadavg=load,
    )


def parser(example: str, default_n: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m examples.{example}.run",
        description=f"Run the {example} example's workload against edge nodes.",
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument("--url", action="append", default=[], help="a node's ws:// URL")
    target.add_argument("--controller", help="a controller's http:// URL (nodes from it)")
    p.add_argument("--policy", default="auto", help="decision policy (default: auto)")
    p.add_argument("--n", type=int, default=default_n, help="tasks to send")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", action="store_true", help="the repetitive (cacheable) variant")
    p.add_argument("--token-file", help="a file whose first line is the client token")
    p.add_argument(
        "--local-workers", type=int, default=1, help="processes for tasks run here (default 1)"
    )
    p.add_argument(
        "--hard-deadlines",
        action="store_true",
        help="give each task its deadline (dropped when missed) instead of counting late answers",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply the send times (0.1: ten times faster than real time; default 1)",
    )
    p.add_argument(
        "--warmup", type=int, default=2, help="untimed runs of each task here and on nodes first"
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    return p


def main(
    example: str,
    workload: Callable[..., list[Any]],
    check: Callable[[Any, Any], bool],
    tasks_module: str,
    default_n: int,
    argv: list[str] | None = None,
) -> int:
    """Parse ``argv``, run, print; the exit status (module docstring)."""
    import importlib

    from edgeoffload.decision import registry

    p = parser(example, default_n)
    args = p.parse_args(argv)
    if args.n < 0:
        p.error(f"--n must be at least 0, got {args.n}")
    if not 0 < args.time_scale < float("inf"):
        p.error(f"--time-scale must be a positive number, got {args.time_scale}")
    if args.warmup < 0:
        p.error(f"--warmup must be at least 0, got {args.warmup}")
    if args.local_workers < 0:
        p.error(f"--local-workers must be at least 0, got {args.local_workers}")
    try:
        registry.check(args.policy)
    except EdgeOffloadError as exc:
        p.error(str(exc))
    token = None
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as f:
                token = f.readline().strip()
        except OSError as exc:
            p.error(f"cannot read --token-file {args.token_file}: {exc.strerror}")
    importlib.import_module(tasks_module)  # the tasks must be known here to run locally
    requests = workload(args.n, args.seed, repeat=args.repeat)
    settings: dict[str, Any] = {"local_workers": args.local_workers}
    if token is not None:
        settings["token"] = token
    if args.controller:
        settings["controller"] = args.controller

    async def go() -> tuple[list[Outcome], float]:
        async with Client(args.url or None, policy=args.policy, **settings) as client:
            if args.warmup > 0 and requests:
                await warm_up(client, requests, args.warmup)
            return await send(client, requests, args.hard_deadlines, args.time_scale)

    outcomes, span = asyncio.run(go())
    report = summarise(example, args.policy, args, requests, outcomes, span, check)
    if args.json:
        print(json.dumps(report.__dict__))
    else:
        print("\n".join(report.lines()))
    for o in outcomes:
        if o.error is not None and not o.deadline_missed:
            print(f"task {o.index} failed: {type(o.error).__name__}: {o.error}", file=sys.stderr)
            break
    return 1 if report.failed or report.wrong else 0


__all__ = ["Outcome", "Report", "main", "send", "summarise", "warm_up"]
