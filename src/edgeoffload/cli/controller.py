"""``edgeoffload controller``: membership, health, node table and REST API (prints ``READY http://...``)."""

from __future__ import annotations

import argparse

from ..config import ControllerConfig
from .options import add_config_options, overrides, serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, ControllerConfig)


def run(args: argparse.Namespace) -> int:
    from ..config import load
    from ..controller.runner import ControllerServer, serve_until_signalled

    config = load(
        ControllerConfig, toml_path=args.config, overrides=overrides(args, ControllerConfig)
    )
    def ready(server: ControllerServer) -> None:
        print(f"READY {server.url}", flush=True)

    return serve("controller", config, serve_until_signalled(config, ready))
