"""``edgeoffload token``: print an HS256 access token for nodes started with --auth-secret."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secret", required=True, help="the nodes' auth secret")
    parser.add_argument("--subject", default="device", help="who the token is for")
    parser.add_argument("--ttl", type=float, default=3600.0, help="validity in seconds")


def run(args: argparse.Namespace) -> int:
    from ..auth import make_token

    print(make_token(args.secret, args.subject, args.ttl))
    return 0
