"""``edgeoffload node``: serve tasks until SIGTERM (prints ``READY ws://...`` when listening)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from ..config import NodeConfig
from .options import BIND_ERRORS, add_config_options, bind_error, overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, NodeConfig)


def run(args: argparse.Namespace) -> int:
    import msgspec

    from ..config import load, unprotected_warning
    from ..node.runner import print_ready, serve_until_signalled
    from ..tasks import module_names

    config = load(NodeConfig, toml_path=args.config, overrides=overrides(args, NodeConfig))
    config = msgspec.structs.replace(config, tasks=module_names(config.tasks, os.getcwd()))
    warning = unprotected_warning(config, "node")
    if warning is not None:
        sys.stderr.write(warning + "\n")
    try:
        asyncio.run(serve_until_signalled(config, print_ready))
    except OSError as exc:
        if exc.errno not in BIND_ERRORS:
            raise
        sys.stderr.write(bind_error("node", config.host, config.port, exc))
        return 2
    return 0
