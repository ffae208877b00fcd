"""What every policy is and shares: the :class:`Policy` protocol, the
:class:`ContextPolicy` base class, and the two steps from option costs to
:class:`~.features.Decisions` (:func:`decisions`, :func:`margin_confidence`).

Policies (:mod:`.policies`, :mod:`.learned`, :mod:`.online`, :mod:`.history`) import
this module and :mod:`.costs`, never each other: a policy built on another one's figures
takes them from here, so the package has no import circle and a new policy needs to
read only these two modules.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .features import F64, I64, Context, Decisions, DeviceState, NodeFeatures, TaskBatch


class Policy(Protocol):
    """What every decision maker offers."""

    name: str

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions: ...


class ContextPolicy:
    """Base of the policies that compute on a :class:`~.features.Context`: ``decide``
    builds the Context and calls :meth:`decide_context` (offline evaluation calls
    ``decide_context`` on training records directly, so both run the same code)."""

    name: str = "policy"

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        return self.decide_context(Context.of(tasks, device, nodes))

    def decide_context(self, ctx: Context) -> Decisions:
        raise NotImplementedError


def decisions(choice: I64, confidence: F64, latency: F64, energy: F64) -> Decisions:
    """The :class:`~.features.Decisions` of chosen option columns: ``choice`` (n,) is a
    column of the (n, 1 + k) option arrays (0: the device, ``1 + i``: node ``i``), and
    ``latency`` / ``energy`` are those arrays; the targets are the columns minus one."""
    rows = np.arange(len(choice))
    return Decisions(
        (choice - 1).astype(np.int64), confidence, latency[rows, choice], energy[rows, choice]
    )


def margin_confidence(cost: F64, choice: I64) -> F64:
    """How much better the choice is than the runner-up, relatively (0: a tie)."""
    if cost.shape[1] < 2:
        return np.ones(cost.shape[0])
    best = cost[np.arange(len(choice)), choice]
    second = np.partition(cost, 1, axis=1)[:, 1]
    with np.errstate(invalid="ignore"):
        conf = (second - best) / np.maximum(second, 1e-12)
    return np.asarray(np.clip(np.nan_to_num(conf, nan=1.0), 0.0, 1.0), dtype=np.float64)
