"""``edgeoffload node``: serve tasks until SIGTERM (prints ``READY ws://...`` when listening)."""

from __future__ import annotations

import argparse
import os

from ..config import NodeConfig
from .options import add_config_options, overrides, serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, NodeConfig)


def run(args: argparse.Namespace) -> int:
    import msgspec

    from ..config import load
    from ..node.runner import print_ready, serve_until_signalled
    from ..tasks import module_names

    config = load(NodeConfig, toml_path=args.config, overrides=overrides(args, NodeConfig))
    config = msgspec.structs.replace(config, tasks=module_names(config.tasks, os.getcwd()))
    return serve("node", config, serve_until_signalled(config, print_ready))
