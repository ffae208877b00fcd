"""``edgeoffload status``: the site at a glance from a controller's REST API.

Nodes with their state, draining, queue depth, running tasks, throughput and CPU;
then the recent events. ``--watch`` refreshes a live table (rich), ``--json`` prints
one snapshot for scripts. The exit code says whether the site can serve: 0 when at
least one node is alive and not draining, 1 when none is, 2 on bad usage or when the
controller cannot be read (the message names the URL and the reason).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from .options import first_line, positive_seconds

#: Events shown under the table.
RECENT_EVENTS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--controller",
        metavar="URL",
        default="http://127.0.0.1:8700",
        help="the controller (http://, https://, ws:// or wss://; default http://127.0.0.1:8700)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON snapshot and exit")
    parser.add_argument(
        "--watch",
        nargs="?",
        const=2.0,
        type=positive_seconds,
        metavar="SECONDS",
        help="refresh every SECONDS (default 2) until Ctrl-C",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="token for a controller with a secret (default: $EDGEOFFLOAD_TOKEN)",
    )
    parser.add_argument("--tls-ca-file", metavar="FILE", help="CA bundle for an https controller")


class Unreadable(Exception):
    """The controller could not be read; the message names the URL and why."""


def run(args: argparse.Namespace) -> int:
    base = _http_base(args.controller)
    if base is None:
        sys.stderr.write(
            f"edgeoffload status: error: --controller {args.controller!r} is not an "
            "http://, https://, ws:// or wss:// URL\n"
        )
        return 2
    token = os.environ.get("EDGEOFFLOAD_TOKEN") or None
    if args.token_file is not None:
        token = first_line(args.token_file, "--token-file")
    try:
        context = ssl.create_default_context(cafile=args.tls_ca_file)
    except OSError as exc:
        # ssl's error carries no file name (exc.filename is None): name the flag's file.
        sys.stderr.write(
            f"edgeoffload status: error: cannot read {args.tls_ca_file}: {exc.strerror}\n"
        )
        return 2
    reader = _Reader(base, token, context)
    try:
        if args.json:
            snapshot = reader.snapshot()
            print(json.dumps(snapshot, indent=2))
            return 0 if snapshot["serving"] else 1
        if args.watch is not None:
            return _watch(reader, args.watch)
        snapshot = reader.snapshot()
    except Unreadable as exc:
        sys.stderr.write(f"edgeoffload status: error: {exc}\n")
        return 2
    from rich.console import Console

    Console().print(render(snapshot))
    return 0 if snapshot["serving"] else 1


def _http_base(url: str) -> str | None:
    for scheme, http in (("ws://", "http://"), ("wss://", "https://")):
        if url.startswith(scheme):
            url = http + url.removeprefix(scheme)
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        return None
    return url.rstrip("/")


class _Reader:
    """GETs against one controller, with its token and CA."""

    def __init__(self, base: str, token: str | None, context: ssl.SSLContext) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.context = context if base.startswith("https://") else None

    def get(self, path: str) -> Any:
        url = self.base + path
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("message", "")
            except ValueError:
                detail = ""
            raise Unreadable(f"{url}: HTTP {exc.code} {detail}".rstrip()) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreadable(f"cannot read {url}: {reason}") from None

    def snapshot(self) -> dict[str, Any]:
        """Nodes (with their latest completed-per-second), recent events, and whether
        any node can take work."""
        nodes = self.get("/api/nodes")
        for node in nodes:
            samples = self.get(
                f"/api/nodes/{node['node_id']}/metrics?limit=1&since={time.time() - 30}"
            )
            node["completed_per_s"] = samples[-1]["metrics"]["completed_per_s"] if samples else None
        events = self.get(f"/api/events?last={RECENT_EVENTS}")
        serving = any(n["state"] == "alive" and not n["draining"] for n in nodes)
        return {"controller": self.base, "nodes": nodes, "events": events, "serving": serving}


def render(snapshot: dict[str, Any]) -> Any:
    """The rich renderable of a snapshot: the node table, then the recent events."""
    from rich.console import Group
    from rich.table import Table

    colours = {"alive": "green", "suspect": "yellow", "dead": "red"}
    nodes = Table(title=f"nodes of {snapshot['controller']}", title_justify="left")
    numeric = {"queue", "running", "tasks/s", "cpu %", "cache hit %", "cache saved"}
    for column in (
        "node",
        "state",
        "queue",
        "running",
        "tasks/s",
        "cpu %",
        "cache hit %",
        "cache saved",
        "url",
    ):
        nodes.add_column(column, justify="right" if column in numeric else "left")
    for n in sorted(snapshot["nodes"], key=lambda n: n["node_id"]):
        state = n["state"] + (" (draining)" if n["draining"] else "")
        rate = n.get("completed_per_s")
        nodes.add_row(
            n["node_id"],
            f"[{colours.get(n['state'], 'white')}]{state}[/]",
            str(n["queue_length"]),
            str(n["running_tasks"]),
            "-" if rate is None else f"{rate:.1f}",
            f"{n['cpu_percent']:.0f}",
            "-" if "cache_hit_percent" not in n else f"{n['cache_hit_percent']:.0f}",
            "-" if "cache_bytes_saved" not in n else _bytes(n["cache_bytes_saved"]),
            n["url"],
        )
    events = Table(title="recent events", title_justify="left")
    for column in ("time", "event", "node", "detail"):
        events.add_column(column)
    for e in snapshot["events"]:
        events.add_row(
            time.strftime("%H:%M:%S", time.localtime(e["ts"])), e["kind"], e["node_id"], e["detail"]
        )
    verdict = "[green]serving[/]" if snapshot["serving"] else "[red]no node can take work[/]"
    return Group(nodes, events, verdict)


def _watch(reader: _Reader, every_s: float) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    serving = False
    with Live(Text("reading..."), console=Console(), refresh_per_second=4) as live:
        try:
            while True:
                try:
                    snapshot = reader.snapshot()
                    serving = snapshot["serving"]
                    live.update(render(snapshot))
                except Unreadable as exc:
                    serving = False
                    live.update(Text(f"{exc} (retrying)", style="red"))
                time.sleep(every_s)
        except KeyboardInterrupt:
            pass
    return 0 if serving else 1


def _bytes(n: float) -> str:
    """A byte count as people read it (1.5 MB)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns at GB
