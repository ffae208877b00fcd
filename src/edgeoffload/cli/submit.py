"""``edgeoffload submit TASK [ARGS...]``: run one task on a node, print the result as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

from .options import first_line, positive_seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", help="registered task name")
    parser.add_argument("args", nargs="*", help="positional arguments, each a JSON value")
    parser.add_argument(
        "--url",
        action="append",
        default=None,
        help="node URL (repeatable; default ws://127.0.0.1:8765/offload)",
    )
    parser.add_argument("--priority", type=int, default=0)
    parser.add_argument(
        "--deadline", type=positive_seconds, default=None, metavar="SECONDS", help="time to finish"
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        default=None,
        help="file holding an access token (default: $EDGEOFFLOAD_TOKEN; see "
        "`edgeoffload token create`)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for a node (default 10)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the value, and where and how the task ran (its info())",
    )


def run(args: argparse.Namespace) -> int:
    for url in args.url or []:
        if not url.startswith(("ws://", "wss://")) or len(url) <= len("wss://"):
            sys.stderr.write(
                f"edgeoffload submit: error: --url {url!r} is not a node URL "
                "(ws://HOST:PORT/offload or wss://...)\n"
            )
            return 2
    values: list[Any] = []
    for i, raw in enumerate(args.args):
        try:
            values.append(json.loads(raw))
        except json.JSONDecodeError as exc:
            sys.stderr.write(
                f"edgeoffload submit: error: argument {i + 1} is not JSON ({exc}): {raw!r}\n"
            )
            return 2
    token = os.environ.get("EDGEOFFLOAD_TOKEN") or None
    if args.token_file is not None:
        token = first_line(args.token_file, "--token-file")
    import asyncio

    from ..client.client import Client
    from ..config import ClientConfig, load
    from ..errors import EdgeOffloadError

    # The client's settings as `config show client` prints them (file-less: defaults <
    # EDGEOFFLOAD_CLIENT__* < these flags), so what is shown is what runs.
    config = load(
        ClientConfig,
        overrides={
            "urls": args.url or ["ws://127.0.0.1:8765/offload"],
            "token": token,
            "wait_for_node_s": args.timeout,
        },
    )

    async def go() -> Any:
        async with Client(config=config) as client:
            fut = client.submit(
                args.task, *values, priority=args.priority, deadline=args.deadline, where="edge"
            )
            value = await fut
            if not args.json:
                return value
            info = dataclasses.asdict(fut.info())
            return {"value": value, **info, "state": info["state"].value}

    try:
        result = asyncio.run(go())
    except EdgeOffloadError as exc:
        sys.stderr.write(f"edgeoffload submit: {type(exc).__name__}: {exc}\n")
        return 1
    print(json.dumps(result, default=_jsonable))
    return 0


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON")
