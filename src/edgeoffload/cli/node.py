"""``edgeoffload node``: serve tasks until SIGTERM (prints ``READY ws://...`` when listening)."""

from __future__ import annotations

import argparse
import gc
import os
from typing import TYPE_CHECKING

from ..config import NodeConfig
from .options import add_config_options, overrides, serve

if TYPE_CHECKING:
    from ..node.server import EdgeNode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, NodeConfig)


def run(args: argparse.Namespace) -> int:
    # The cyclic garbage collector is off until the node listens: what the start
    # allocates (modules, classes, functions: some 100,000 objects) lives as long as the
    # process, and each collection walked it again, about 3 % of the start's CPU. Once
    # the node listens, those objects are frozen (never walked again, by any later
    # collection either) and the collector is on.
    gc.disable()
    try:
        import msgspec

        from ..config import load
        from ..node.runner import print_ready, serve_until_signalled
        from ..tasks import module_names

        def ready(node: EdgeNode) -> None:
            gc.freeze()
            gc.enable()
            print_ready(node)

        config = load(NodeConfig, toml_path=args.config, overrides=overrides(args, NodeConfig))
        config = msgspec.structs.replace(config, tasks=module_names(config.tasks, os.getcwd()))
        return serve("node", config, serve_until_signalled(config, ready))
    finally:
        gc.enable()  # a start that failed (or a caller that goes on in this process)
