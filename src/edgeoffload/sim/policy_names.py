"""Policies by name, for scenario files and the command line.

The simulator never reimplements a policy: a name resolves to the decision engine's
own class. Built in: ``always_local``, ``always_edge``, ``cost_model``. If
``edgeoffload.decision.policies`` exposes a ``POLICIES`` mapping (name -> factory),
its names work too; and ``package.module:Name`` names any importable factory or class
whose instances have ``decide(tasks, device, nodes)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..decision import policies
from ..decision.policies import AlwaysEdge, AlwaysLocal, CostModel, Policy
from ..errors import ConfigError

BUILTIN: dict[str, Callable[[], Policy]] = {
    "always_local": AlwaysLocal,
    "always_edge": AlwaysEdge,
    "cost_model": CostModel,
}


def known() -> dict[str, Callable[[], Any]]:
    """Every policy name that resolves without a module path."""
    extra = getattr(policies, "POLICIES", None)
    names: dict[str, Callable[[], Any]] = dict(BUILTIN)
    if isinstance(extra, dict):
        names.update({str(k): v for k, v in extra.items() if callable(v)})
    return names


def resolve(name: str) -> Policy:
    """A fresh policy instance for ``name``.

    Raises:
        ConfigError: unknown name, unimportable path, or not a policy.
    """
    table = known()
    if name in table:
        factory: Any = table[name]
    elif ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"policy {name!r}: cannot import it ({exc})") from exc
    else:
        raise ConfigError(
            f"unknown policy {name!r} (known: {', '.join(sorted(table))}, or module:Name)"
        )
    policy = factory() if callable(factory) else factory
    if not callable(getattr(policy, "decide", None)):
        raise ConfigError(f"policy {name!r}: {policy!r} has no decide(tasks, device, nodes)")
    if not hasattr(policy, "name"):
        raise ConfigError(f"policy {name!r}: {policy!r} has no name attribute")
    return policy  # type: ignore[no-any-return]
