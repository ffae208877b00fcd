"""``edgeoffload controller``: membership, health, node table and REST API (prints ``READY http://...``)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..config import ControllerConfig
from .options import BIND_ERRORS, add_config_options, bind_error, overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, ControllerConfig)


def run(args: argparse.Namespace) -> int:
    from ..config import load, unprotected_warning
    from ..controller.runner import ControllerServer, serve_until_signalled

    config = load(
        ControllerConfig, toml_path=args.config, overrides=overrides(args, ControllerConfig)
    )
    warning = unprotected_warning(config, "controller")
    if warning is not None:
        sys.stderr.write(warning + "\n")

    def ready(server: ControllerServer) -> None:
        print(f"READY {server.url}", flush=True)

    try:
        asyncio.run(serve_until_signalled(config, ready))
    except OSError as exc:
        if exc.errno not in BIND_ERRORS:
            raise
        sys.stderr.write(bind_error("controller", config.host, config.port, exc))
        return 2
    return 0
