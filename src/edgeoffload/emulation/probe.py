"""Probes that measure what an emulated link achieves (run inside its namespaces).

``python -m edgeoffload.emulation.probe KIND ...`` with KIND:

- ``sink PORT SECONDS BIN_S``: accept one TCP connection on PORT and count the bytes
  received in each ``BIN_S`` bin (receiver time, from the first byte); prints JSON
  ``{"bins_bytes": [...], "bin_s": ..., "start": <monotonic>}``. Prints ``ready``
  first, once listening.
- ``source HOST PORT SECONDS``: send as fast as TCP allows for SECONDS.
- ``echo PORT``: a UDP echo server (prints ``ready``).
- ``ping HOST PORT COUNT INTERVAL_S``: UDP probes, each carrying its sequence number;
  prints JSON ``{"sent": n, "rtts_ms": [...]}`` (a lost probe has no RTT). Probes wait
  1 s after the last for stragglers.
- ``spin N``: a CPU-bound loop of N additions; prints JSON ``{"wall_s", "cpu_s"}``.

Only the standard library, so a probe starts in about 20 ms even on a capped CPU.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time

CHUNK = 64 * 1024


def sink(port: int, seconds: float, bin_s: float) -> dict[str, object]:
    server = socket.create_server(("0.0.0.0", port))
    print("ready", flush=True)
    conn, _ = server.accept()
    bins = [0] * (int(seconds / bin_s) + 1)
    start = None
    with conn:
        while True:
            data = conn.recv(CHUNK)
            if not data:
                break
            now = time.monotonic()
            if start is None:
                start = now
            k = int((now - start) / bin_s)
            if k >= len(bins):
                break
            bins[k] += len(data)
    server.close()
    return {"bins_bytes": bins, "bin_s": bin_s, "start": start}


def source(host: str, port: int, seconds: float) -> None:
    payload = b"\0" * CHUNK
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.settimeout(None)  # a slow trace step may hold a send for seconds
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                conn.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                return


def echo(port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


def ping(host: str, port: int, count: int, interval_s: float) -> dict[str, object]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.setblocking(False)
    sent_at: dict[int, float] = {}
    rtts: dict[int, float] = {}
    start = time.monotonic()
    seq = 0
    while True:
        now = time.monotonic()
        if seq < count and now >= start + seq * interval_s:
            sent_at[seq] = now
            s.send(struct.pack("!I", seq) + b"\0" * 60)
            seq += 1
            continue
        last = start + (count - 1) * interval_s + 1.0
        if seq >= count and (now >= last or len(rtts) == count):
            break
        wake = start + seq * interval_s if seq < count else last
        readable, _, _ = select.select([s], [], [], max(0.0, wake - now))
        if readable:
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                got = struct.unpack("!I", data[:4])[0]
                if got in sent_at and got not in rtts:
                    rtts[got] = (time.monotonic() - sent_at[got]) * 1000.0
    return {"sent": count, "rtts_ms": [round(rtts[k], 4) for k in sorted(rtts)]}


def spin(n: int) -> dict[str, float]:
    wall, cpu = time.monotonic(), time.process_time()
    total = 0
    for i in range(n):
        total += i
    return {"wall_s": time.monotonic() - wall, "cpu_s": time.process_time() - cpu}


def main(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "sink":
        print(json.dumps(sink(int(rest[0]), float(rest[1]), float(rest[2]))), flush=True)
    elif kind == "source":
        source(rest[0], int(rest[1]), float(rest[2]))
    elif kind == "echo":
        echo(int(rest[0]))
    elif kind == "ping":
        print(json.dumps(ping(rest[0], int(rest[1]), int(rest[2]), float(rest[3]))), flush=True)
    elif kind == "spin":
        print(json.dumps(spin(int(rest[0]))), flush=True)
    else:
        sys.stderr.write(f"unknown probe {kind!r}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
