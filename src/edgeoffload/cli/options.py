"""Command-line options derived from the config structs, so no field is listed twice.

Each field becomes ``--field-name``; its help is the ``#:`` comment above the field in
:mod:`edgeoffload.config` (the Sphinx convention), its type comes from the annotation.
Only flags the user gave become overrides; the rest come from file and environment.
"""

from __future__ import annotations

import argparse
import errno
import re
import sys
from collections.abc import Coroutine
from typing import Any

import msgspec

from ..config import SECRET_FIELDS, ClientConfig, ControllerConfig, NodeConfig, fields_of

Config = type[NodeConfig] | type[ClientConfig] | type[ControllerConfig]


def _comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines above each field in the class source (and in its bases'
    from the same module)."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    blocks = _class_blocks(sys.modules[cls.__module__].__file__ or "")
    lines = [
        line
        for base in reversed(cls.__mro__)
        if base.__module__ == cls.__module__
        for line in blocks.get(base.__name__, ())
    ]
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", stripped)
        if match and pending:
            comments[match.group(1)] = " ".join(pending)
        pending = []
    return comments


def _class_blocks(path: str) -> dict[str, list[str]]:
    """The lines of each top-level class of a source file, by class name: a class runs
    from its ``class`` line to the next line that starts at column 0.

    A line scan, not ``inspect.getsource``: that parses the whole module (``ast``) and
    tokenizes each class, 12 ms of every command's start (the help texts are made for
    every flag at start, to be shown only by ``--help``); a node's start-up CPU is its
    cold start at 0.1 CPU, ten times over (docs/deployment.md).
    """
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("class "):
                name = re.split(r"[(:\s]", line[6:], maxsplit=1)[0]
                current = blocks.setdefault(name, [])
            elif line.strip() and not line[0].isspace():
                current = None
            if current is not None:
                current.append(line.rstrip("\n"))
    return blocks


def add_config_options(parser: argparse.ArgumentParser, cls: Config) -> None:
    """Add ``--config FILE`` and one option per field of ``cls``."""
    parser.add_argument("--config", metavar="FILE", help="TOML file with a [node] / [client] table")
    helps = _comments(cls)
    for field in fields_of(cls):
        if field.name in SECRET_FIELDS:
            continue  # argv is visible to every user (`ps`): secrets come from env or files
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not msgspec.NODEFAULT else None
        if default is None and field.default_factory is not msgspec.NODEFAULT:
            default = field.default_factory()
        text = helps.get(field.name, "")
        text = f"{text} (default: {default})" if text else f"default: {default}"
        text = text.replace("%", "%%")
        if field.type is bool:
            parser.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text,
            )
        elif "dict" in str(field.type):
            parser.add_argument(
                flag,
                dest=field.name,
                nargs="+",
                default=None,
                metavar="KEY=VALUE",
                help=text,
                type=_key_value,
            )
        elif "list" in str(field.type):
            parser.add_argument(
                flag, dest=field.name, nargs="+", default=None, metavar=metavar(field), help=text
            )
        else:
            parser.add_argument(
                flag, dest=field.name, default=None, metavar=metavar(field), help=text
            )


#: A field's unit or kind, from its name's ending (the config names carry units:
#: STYLE.md section 6), shown in `--help` as what to type: `--chunk-budget-s SECONDS`.
_BY_SUFFIX = (
    ("_file", "FILE"),
    ("_s", "SECONDS"),
    ("_bytes", "BYTES"),
    ("_hz", "HZ"),
    ("_phi", "PHI"),
    ("_percent_max", "PERCENT"),
    ("_id", "ID"),
    ("url", "URL"),
    ("urls", "URL"),
)
#: Whole names whose kind the type does not say.
_BY_NAME = {
    "host": "HOST",
    "port": "PORT",
    "controller": "URL",
    "tasks": "MODULE",
    "store": "STORE",
    "token": "TOKEN",
    "policy": "NAME",
    "placement": "NAME",
}


def metavar(field: msgspec.structs.FieldInfo) -> str:
    """What a flag's value is, for `--help` (argparse would print the dest, or we VALUE):
    a unit from the name's ending, a kind from the whole name, else from the type."""
    name = field.name
    if name in _BY_NAME:
        return _BY_NAME[name]
    for suffix, shown in _BY_SUFFIX:
        if name.endswith(suffix):
            return shown
    kind = str(field.type)
    if "int" in kind:
        return "N"
    if "float" in kind:
        return "NUMBER"
    return "TEXT"


def overrides(args: argparse.Namespace, cls: Config) -> dict[str, Any]:
    """The fields the user set on the command line."""
    values = {}
    for f in fields_of(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = dict(value) if "dict" in str(f.type) else value
    return values


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


#: Errors of binding a listening socket, told to the user in one line (not a traceback).
BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def bind_error(command: str, host: str, port: int, exc: OSError) -> str:
    """``edgeoffload node: error: cannot listen on 127.0.0.1:8765: address already in use``."""
    reason = {errno.EADDRINUSE: "address already in use (another process listens there)"}.get(
        exc.errno or 0, (exc.strerror or str(exc)).lower()
    )
    return f"edgeoffload {command}: error: cannot listen on {host}:{port}: {reason}\n"


def first_line(path: str, flag: str) -> str:
    """The first line of the file a ``flag`` names (a token or a secret file), stripped.

    Raises:
        ConfigError: the file cannot be read (one line naming the flag, path and reason).
    """
    from ..errors import ConfigError

    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {flag} {path}: {exc.strerror}") from None


def seed_list(text: str) -> list[int]:
    """An argparse type: seeds as a comma-separated list and/or ranges, ``101,201`` or
    ``101-105`` (both ends included), each a non-negative integer, none twice."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            span = range(int(low), int(high) + 1) if dash else range(int(part), int(part) + 1)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected seeds like 101,201 or 101-105, got {text!r}"
            ) from None
        if not span or span.start < 0:
            raise argparse.ArgumentTypeError(f"seed range {part!r} is empty or negative")
        seeds.extend(span)
    if not seeds:
        raise argparse.ArgumentTypeError(f"expected at least one seed, got {text!r}")
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"a seed is given twice in {text!r}")
    return seeds


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds (an argparse type: submit's timeouts,
    status's refresh period)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def serve(command: str, config: Any, main: Coroutine[Any, Any, None]) -> int:
    """Run a long-lived server command (node, controller) to its end: warn loudly when it
    listens beyond loopback without a secret, and turn a failed bind into one line and
    exit code 2 instead of a traceback."""
    import asyncio
    import sys

    from ..config import unprotected_warning

    warning = unprotected_warning(config, command)
    if warning is not None:
        sys.stderr.write(warning + "\n")
    try:
        asyncio.run(main)
    except OSError as exc:
        if exc.errno not in BIND_ERRORS:
            raise
        sys.stderr.write(bind_error(command, config.host, config.port, exc))
        return 2
    return 0
