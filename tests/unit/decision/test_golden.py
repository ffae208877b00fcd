"""Every named policy's decisions on fixed inputs, as digests: a change that moves code
around (as splitting the cost model, the policy base and the registry out of
``policies.py`` and ``learned.py`` did) must not change one decision.

The digests were computed on the code before that split and hold after it. They cover
the batch path (``decide_context``, 200 decisions, 3 nodes: the learned model in
onnxruntime) and the one-task fast paths (``decide``, 20 decisions). Confidences are
compared to 5 decimals (the learned model runs in float32), expected latency and energy
to 10 significant digits, targets exactly.

The two learned digests changed once since, on purpose: the shipped model was retrained
(100,000 records, seed 1) after the simulator took the client's rule that only transfers
of at least 32 KiB are bandwidth samples, which changed its training records (the
records-digest test caught it).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgeoffload.decision.features import Decisions, DeviceState, NodeFeatures, TaskBatch
from edgeoffload.decision.registry import resolve

from .synthetic import random_context

GOLDEN = {
    "always_local": ("1f1a5eef295f7809", "b3c49e57c78d22a3"),
    "always_edge": ("20f1631d7ebed306", "d9f6183d82a756b5"),
    "cost_model": ("7f468a6b067a7939", "e4a8cdfc14db091b"),
    "random": ("80e801298bab2e0f", "77a8230b48a24d30"),
    "learned": ("5a2d064b14fc8f5e", "739fa6498b780f40"),
    "threshold": ("7b00d8b2d832e649", "ac2a9af050fb68ca"),
    "online": ("9ef2e43de1fff7ed", "e4a8cdfc14db091b"),
}


def digest(d: Decisions) -> str:
    h = hashlib.sha256()
    h.update(np.asarray(d.target, dtype=np.int64).tobytes())
    h.update(np.round(d.confidence, 5).tobytes())
    for v in (d.expected_latency_s, d.expected_energy_j):
        h.update(" ".join(f"{x:.9e}" for x in v).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", GOLDEN)
def test_decisions_are_unchanged(name: str) -> None:
    ctx = random_context(200, 3, seed=5)
    policy = resolve(name)
    batch = digest(policy.decide_context(ctx))
    ones = []
    for i in range(20):
        t, d, nd = ctx.tasks[i], ctx.device[i], ctx.nodes[i]
        tasks = TaskBatch(*(np.array([v]) for v in t))
        nodes = NodeFeatures(("a", "b", "c"), *(nd[:, c].copy() for c in range(7)))
        ones.append(policy.decide(tasks, DeviceState(d[0], d[1], d[2]), nodes))
    fields = ("target", "confidence", "expected_latency_s", "expected_energy_j")
    one = digest(Decisions(*(np.concatenate([getattr(o, f) for o in ones]) for f in fields)))
    assert (batch, one) == GOLDEN[name]
