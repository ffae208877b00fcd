"""``edgeoffload config show [node|controller|client]``: the effective configuration (JSON)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show"])
    parser.add_argument(
        "component", choices=["node", "controller", "client"], nargs="?", default="node"
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file to read")


def run(args: argparse.Namespace) -> int:
    from ..config import ClientConfig, ControllerConfig, NodeConfig, load, to_dict

    config: NodeConfig | ControllerConfig | ClientConfig
    if args.component == "node":
        config = load(NodeConfig, toml_path=args.config)
    elif args.component == "controller":
        config = load(ControllerConfig, toml_path=args.config)
    else:
        config = load(ClientConfig, toml_path=args.config)
    print(json.dumps({args.component: to_dict(config)}, indent=2))
    return 0
