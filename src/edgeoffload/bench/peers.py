"""The RPC benchmark's peers, each measured the same two ways as edgeoffload:
sequential round trips of a tiny task, and the throughput of N tiny tasks with a fixed
number in flight. Every function returns (latencies in s, throughput per s).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from typing import Any

import msgspec

from .common import python, start_process, stop_process


def echo(x: Any) -> Any:
    """The tiny task, for Ray and Dask (which ship functions by pickle)."""
    return x


# -- ceiling: bare websockets + msgpack ---------------------------------------------------


async def _ceiling(
    url: str, sequential: int, total: int, in_flight: int, per_frame: int
) -> tuple[list[float], float]:
    from websockets.asyncio.client import connect

    encode, decode = msgspec.msgpack.encode, msgspec.msgpack.decode
    async with connect(url, compression=None, max_size=None) as ws:
        latencies = []
        for i in range(sequential):
            t0 = time.perf_counter()
            await ws.send(encode([i, "echo", [i]]))
            decode(await ws.recv(decode=False))
            latencies.append(time.perf_counter() - t0)
        frames_in_flight = max(1, in_flight // per_frame)
        frames_total = total // per_frame
        batch = [[i, "echo", [i]] for i in range(per_frame)]
        payload = batch[0] if per_frame == 1 else batch
        t0 = time.perf_counter()
        sent = 0
        for _ in range(min(frames_in_flight, frames_total)):
            await ws.send(encode(payload))
            sent += 1
        for _ in range(frames_total):
            decode(await ws.recv(decode=False))
            if sent < frames_total:
                await ws.send(encode(payload))
                sent += 1
        rate = frames_total * per_frame / (time.perf_counter() - t0)
    return latencies, rate


def start_ceiling() -> tuple[subprocess.Popen[str], str]:
    return start_process([python(), "-m", "edgeoffload.bench.ceiling_server"])


def ceiling(
    url: str, sequential: int, total: int, in_flight: int, per_frame: int
) -> tuple[list[float], float, float]:
    """Returns (sequential latencies, unbatched rate, batched rate at ``per_frame``)."""
    latencies, unbatched = asyncio.run(_ceiling(url, sequential, total, in_flight, 1))
    _, batched = asyncio.run(_ceiling(url, 0, total, in_flight, per_frame))
    return latencies, unbatched, batched


# -- HTTP/1.1 keep-alive ----------------------------------------------------------------------


async def _http(url: str, sequential: int, total: int, in_flight: int) -> tuple[list[float], float]:
    import aiohttp

    encode, decode = msgspec.msgpack.encode, msgspec.msgpack.decode
    connector = aiohttp.TCPConnector(limit=in_flight, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(i: int) -> Any:
            async with session.post(url, data=encode([i, "echo", [i]])) as response:
                return decode(await response.read())

        latencies = []
        for i in range(sequential):
            t0 = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t0)
        counter = iter(range(total))

        async def worker() -> None:
            for i in counter:
                await call(i)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        rate = total / (time.perf_counter() - t0)
    return latencies, rate


def http(sequential: int, total: int, in_flight: int) -> tuple[list[float], float]:
    proc, url = start_process([python(), "-m", "edgeoffload.bench.http_server"])
    try:
        return asyncio.run(_http(url, sequential, total, in_flight))
    finally:
        stop_process(proc)


# -- Ray ------------------------------------------------------------------------------------


def ray(sequential: int, total: int, in_flight: int) -> tuple[list[float], float]:
    import ray as ray_

    ray_.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        remote_echo = ray_.remote(echo)
        ray_.get([remote_echo.remote(i) for i in range(50)])  # warm the workers
        latencies = []
        for i in range(sequential):
            t0 = time.perf_counter()
            ray_.get(remote_echo.remote(i))
            latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pending = [remote_echo.remote(i) for i in range(min(in_flight, total))]
        submitted = len(pending)
        done = 0
        while pending:
            ready, pending = ray_.wait(pending, num_returns=1)
            done += len(ray_.get(ready))
            while submitted < total and len(pending) < in_flight:
                pending.append(remote_echo.remote(submitted))
                submitted += 1
        rate = done / (time.perf_counter() - t0)
    finally:
        ray_.shutdown()
    return latencies, rate


# -- Dask distributed ------------------------------------------------------------------------


def dask(sequential: int, total: int, in_flight: int) -> tuple[list[float], float]:
    from distributed import Client, LocalCluster, as_completed

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather([client.submit(echo, i, pure=False) for i in range(50)])
        latencies = []
        for i in range(sequential):
            t0 = time.perf_counter()
            client.submit(echo, i, pure=False).result()
            latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        first = [client.submit(echo, i, pure=False) for i in range(min(in_flight, total))]
        submitted = len(first)
        done = 0
        queue = as_completed(first)
        for future in queue:
            future.result()
            done += 1
            if submitted < total:
                queue.add(client.submit(echo, submitted, pure=False))
                submitted += 1
        rate = done / (time.perf_counter() - t0)
    return latencies, rate
