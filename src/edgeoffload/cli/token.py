"""``edgeoffload token create``: print an access token for nodes and the controller.

The secret is read from ``--secret-file`` or ``EDGEOFFLOAD_AUTH_SECRET``, never from
argv (which every user of the machine can read with ``ps``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from ..auth import Role
from .options import first_line

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["create"], help="create: print a new token")
    parser.add_argument(
        "--role",
        choices=[r.value for r in Role],
        required=True,
        help="client: submit tasks; node: join the controller as --subject; admin: drain/resume",
    )
    parser.add_argument(
        "--subject",
        required=True,
        metavar="NAME",
        help="who the token is for (for a node token: the node id it may register)",
    )
    parser.add_argument(
        "--ttl",
        type=duration,
        default=24 * 3600.0,
        metavar="DURATION",
        help="validity: seconds, or with a unit: 90s, 30m, 24h, 7d (default: 24h)",
    )
    parser.add_argument(
        "--secret-file",
        metavar="FILE",
        help="file holding the secret (first line); default: $EDGEOFFLOAD_AUTH_SECRET",
    )


def duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``24h`` or ``7d`` as seconds (positive)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration like 24h, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def run(args: argparse.Namespace) -> int:
    from ..auth import MIN_SECRET_CHARS, make_token

    if args.secret_file is not None:
        secret = first_line(args.secret_file, "--secret-file")
    else:
        secret = os.environ.get("EDGEOFFLOAD_AUTH_SECRET", "")
        if not secret:
            sys.stderr.write(
                "edgeoffload token: error: no secret: give --secret-file FILE or set "
                "EDGEOFFLOAD_AUTH_SECRET\n"
            )
            return 2
    if len(secret) < MIN_SECRET_CHARS:
        sys.stderr.write(
            f"edgeoffload token: error: the secret has {len(secret)} characters; at least "
            f"{MIN_SECRET_CHARS} are needed (RFC 7518 section 3.2)\n"
        )
        return 2
    print(make_token(secret, args.subject, args.role, args.ttl))
    return 0
