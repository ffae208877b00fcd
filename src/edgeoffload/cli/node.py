"""``edgeoffload node``: serve tasks until SIGTERM (prints ``READY ws://...`` when listening)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..config import NodeConfig
from .options import add_config_options, overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, NodeConfig)


def run(args: argparse.Namespace) -> int:
    from ..config import load, unprotected_warning
    from ..node.runner import print_ready, serve_until_signalled

    config = load(NodeConfig, toml_path=args.config, overrides=overrides(args, NodeConfig))
    warning = unprotected_warning(config, "node")
    if warning is not None:
        sys.stderr.write(warning + "\n")
    asyncio.run(serve_until_signalled(config, print_ready))
    return 0
