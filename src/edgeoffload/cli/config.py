"""``edgeoffload config show [node|client]``: print the effective configuration as TOML-ish JSON."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show"])
    parser.add_argument("component", choices=["node", "client"], nargs="?", default="node")
    parser.add_argument("--config", metavar="FILE", help="TOML file to read")


def run(args: argparse.Namespace) -> int:
    from ..config import ClientConfig, NodeConfig, load, to_dict

    config: NodeConfig | ClientConfig
    if args.component == "node":
        config = load(NodeConfig, toml_path=args.config)
    else:
        config = load(ClientConfig, toml_path=args.config)
    print(json.dumps({args.component: to_dict(config)}, indent=2))
    return 0
