"""Policies by name or by trained model folder: the one place every caller resolves one.

The client (``ClientConfig.policy``), the simulator (scenario files, ``sim run``,
``sim compare``, ``sim sweep``), ``demo --policy``, ``evaluate`` and ``sim list`` all ask
this module, so a name or a folder that works for one works for all, and ``sim list``
shows what the others accept. A policy is given as:

- a name of :data:`NAMED` (``sim list`` prints them with their summaries), or ``auto``,
  the client's default, which is ``learned``;
- a trained model folder (``edgeoffload train --out DIR``), of any policy kind: an MLP
  or trees (:class:`~.learned.LearnedPolicy`), an LSTM
  (:class:`~.history.HistoryPolicy`);
- ``package.module:Name``: any importable factory or class whose instances have
  ``decide(tasks, device, nodes)`` and a ``name``.

:func:`check` refuses a bad one without building it (a model folder's metadata is
read, its weights are not loaded), so a command can refuse before it starts nodes or
runs a simulation; :func:`resolve` builds a fresh instance (the shipped model's weights
are loaded once per process and shared).

This module sits above every policy module and imports them; none of them imports it.
"""

from __future__ import annotations

import difflib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import ContextPolicy, Policy
from .history import KIND as LSTM_KIND
from .history import HistoryPolicy, HistoryScorer
from .learned import KINDS as SCORER_KINDS
from .learned import LearnedPolicy, ThresholdPolicy, load_scorer
from .modelfile import ModelFiles
from .online import OnlineCostModel
from .policies import AlwaysEdge, AlwaysLocal, CostModel, RandomPolicy
from .risk import RiskAware, load_calibration


@dataclass(frozen=True, slots=True)
class Named:
    """A policy name: what it does, and how to build it (None: a kind of trained model
    with no shipped folder, resolved only from a folder of ``kind``)."""

    summary: str
    make: Callable[[], Policy] | None = None
    kind: str | None = None


def _learned() -> ContextPolicy:
    return LearnedPolicy(load_scorer())


def _threshold() -> ContextPolicy:
    return ThresholdPolicy(LearnedPolicy(load_scorer()))


def risk_aware(calibration: str | Path | None = None) -> ContextPolicy:
    """The shipped scorer's choice, checked against the risk of its upload (sent
    locally when its expected cost over the upload scenarios, fallback included,
    exceeds the device's), with a fallback budget (:mod:`.risk`)."""
    return RiskAware(
        load_calibration(calibration), base=LearnedPolicy(load_scorer()), override=True
    )


#: Every policy name, in the order ``sim list`` shows them.
NAMED: dict[str, Named] = {
    "always_local": Named("every task on the device", AlwaysLocal),
    "always_edge": Named("every task to the node of lowest expected latency", AlwaysEdge),
    "cost_model": Named("the analytic cost model's lowest weighted cost", CostModel),
    "random": Named("a uniformly random option per task", RandomPolicy),
    "learned": Named("the shipped MLP option scorer", _learned, "policy_mlp"),
    "threshold": Named("offload when P(offload is best) > 0.7, on the shipped scorer", _threshold),
    "risk_aware": Named(
        "the shipped scorer checked against upload-time quantiles, with a local fallback timer",
        risk_aware,
    ),
    "online": Named("the cost model corrected by what it observes", OnlineCostModel),
    "gbdt": Named(
        "gradient-boosted trees: a model folder (train --model gbdt)", kind="policy_gbdt"
    ),
    "learned_lstm": Named(
        "the scorer with an LSTM over recent calls: a model folder (train --model lstm)",
        kind=LSTM_KIND,
    ),
}
#: Other spellings of a name (``auto`` is the client's default policy).
ALIASES = {"auto": "learned"}
#: The name a policy built from a model folder has, by kind of model.
NAME_OF_KIND = {"policy_mlp": "learned", "policy_gbdt": "gbdt", LSTM_KIND: "learned_lstm"}
POLICY_KINDS = (*SCORER_KINDS, LSTM_KIND)
#: ``edgeoffload train --model`` of each kind.
TRAIN_AS = {"policy_mlp": "mlp", "policy_gbdt": "gbdt", LSTM_KIND: "lstm"}


def names() -> tuple[str, ...]:
    """Every name :func:`resolve` accepts without a folder or a module path, aliases
    last (``gbdt`` and ``learned_lstm`` included: they name the kind of folder)."""
    return (*NAMED, *ALIASES)


def check(spec: str | Path) -> None:
    """Raises ConfigError unless ``spec`` resolves (module docstring), without
    building the policy: so a caller can refuse a typo before any expensive work."""
    _parse(spec)


def resolve(spec: str | Path) -> Policy:
    """A fresh policy for a name, a model folder or ``module:Name``.

    Raises:
        ConfigError: unknown name (with the known ones and the closest), a folder that
            is not a policy model, an unimportable path, or not a policy.
    """
    how, value = _parse(spec)
    if how == "folder":
        return from_folder(value)
    if how == "name":
        make = NAMED[value].make
        assert make is not None  # _parse refused the folder-only names
        return make()
    module_name, _, attr = value.partition(":")
    try:
        factory: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"policy {value!r}: cannot import it ({exc})") from exc
    policy = factory() if callable(factory) else factory
    if not callable(getattr(policy, "decide", None)):
        raise ConfigError(f"policy {value!r}: {policy!r} has no decide(tasks, device, nodes)")
    if not hasattr(policy, "name"):
        raise ConfigError(f"policy {value!r}: {policy!r} has no name attribute")
    return policy  # type: ignore[no-any-return]


def from_folder(folder: str | Path) -> ContextPolicy:
    """The policy of a trained model folder, named after its kind (:data:`NAME_OF_KIND`).

    Raises:
        ConfigError: not a policy model folder, or a bad one.
    """
    kind = ModelFiles.load(folder, POLICY_KINDS).kind
    if kind == LSTM_KIND:
        return HistoryPolicy(HistoryScorer(folder))
    return LearnedPolicy(load_scorer(folder), name=NAME_OF_KIND[kind])


def _parse(spec: str | Path) -> tuple[str, str]:
    """("name", name), ("folder", path) or ("module", "module:Name"), or ConfigError."""
    text = str(spec)
    if isinstance(spec, Path) or Path(text).is_dir():
        return "folder", _check_folder(Path(text))
    name = ALIASES.get(text, text)
    named = NAMED.get(name)
    if named is not None:
        if named.make is None:
            raise ConfigError(
                f"policy {text!r} is a kind of trained model ({named.kind}) and none is "
                f"shipped: give its model folder (edgeoffload train --model "
                f"{TRAIN_AS[str(named.kind)]} --out DIR, then DIR)"
            )
        return "name", name
    if ":" in text:
        return "module", text
    if "/" in text or text.startswith("."):
        raise ConfigError(f"model folder not found: {text}")
    close = difflib.get_close_matches(text, names(), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(
        f"unknown policy {text!r}: {hint}known: {', '.join(names())}, "
        "a model folder, or module:Name"
    )


def _check_folder(folder: Path) -> str:
    """``folder`` if its metadata says it holds a policy model (weights not read)."""
    if not folder.is_dir():
        raise ConfigError(f"model folder not found: {folder}")
    try:
        kind = json.loads((folder / "meta.json").read_text()).get("kind")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"policy model {folder}: no readable meta.json ({exc})") from exc
    if kind not in POLICY_KINDS:
        raise ConfigError(
            f"policy model {folder}: a {kind!r} model, not a policy ({', '.join(POLICY_KINDS)})"
        )
    return str(folder)
