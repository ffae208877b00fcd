"""What the link's unpredictability costs: a policy scored on the same decisions with
the truth about the link in place of its device's estimate.

A policy's avoidable regret (``decision.evaluation``) mixes two things: how well it
weighs the options given what a device can know, and what it would have needed that
nobody can know at the decision (a link that fades during the upload). To tell them
apart, the decisions are scored again with the features' bandwidth estimate replaced by
the truth, which no deployed policy has (a reference to measure against, not a policy
to ship):

- ``true_link``: the link's capacity at the decision (the trace itself, where the
  features have the device's estimate from its own past transfers): what a perfect
  estimator of the present would give. Its gap to the policy as it ran is what
  estimating the present link costs.
- ``true_transfers``: the upload's real start (its wait behind the device's earlier
  transfers) and duration, and each node option's real download duration, as the
  simulator recorded them (``OracleRecords.upload_s``, ``download_s``): what knowing
  the link's future over the task would give. Its gap to ``true_link`` is what the link
  changing during the task costs. What it leaves is not the link's: node queues, the
  node's DVFS, the cost model's own approximations, and what the policy makes of it all.

A node that fails after the decision is not revealed: its option's download is taken
at the link's capacity at the decision. Only the features (the
:class:`~.features.Context`) change; the realised costs, the oracle and the metrics
stay, so every reference is compared with the policy on the same tasks.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .evaluation import Labelled
from .features import DEVICE_FEATURES, NODE_FEATURES, TASK_FEATURES, Context

#: The truths a reference is told, from the least to the most (module docstring).
LINK_TRUTHS = ("true_link", "true_transfers")
#: The rate a link at zero capacity is given (bit/s): an outage in the trace.
FLOOR_BPS = 1.0

_UP, _DOWN = NODE_FEATURES.index("up_bps"), NODE_FEATURES.index("down_bps")
_UPLINK_QUEUE = DEVICE_FEATURES.index("uplink_queue_s")
_INPUT, _OUTPUT = TASK_FEATURES.index("input_bytes"), TASK_FEATURES.index("output_bytes")


def told(labelled: Labelled, truth: str) -> Labelled:
    """``labelled`` with its features' link estimate replaced by ``truth`` (one of
    :data:`LINK_TRUTHS`). A node's rate keeps its WAN part: ``1 / (1 / wireless +
    1 / wan)``, as the device's view combines them. A link at zero capacity counts as
    :data:`FLOOR_BPS`: a transfer of ages, never chosen over a live option (the cost
    model would divide by a rate of 0).

    Raises:
        ValueError: an unknown truth, or records that do not carry the truth (made by
            hand; ``edgeoffload.sim.oracle`` records it).
    """
    if truth not in LINK_TRUTHS:
        raise ValueError(f"unknown link truth {truth!r} (known: {', '.join(LINK_TRUTHS)})")
    link, wan = labelled.link_now_bps, labelled.inv_wan
    upload, download = labelled.upload_s, labelled.download_s
    if link is None or wan is None or upload is None or download is None:
        raise ValueError(
            "these records do not carry the true link (link_now_bps, inv_wan, upload_s, "
            "download_s): record them with edgeoffload.sim.oracle"
        )
    ctx = labelled.ctx
    nodes = np.array(ctx.nodes, dtype=np.float64)
    device = ctx.device
    floored = np.maximum(link, FLOOR_BPS)
    inv_up, inv_down = 1.0 / floored[:, :1], 1.0 / floored[:, 1:]
    if truth == "true_transfers":
        # The cost model's transfer is payload bits over the rate: these rates make it
        # the recorded duration (a task without payload transfers in no time either way).
        start, end = upload[:, :1], upload[:, 1:]
        inv_up = (end - start) / np.maximum(ctx.tasks[:, _INPUT, None] * 8.0, 1.0)
        device = np.array(device, dtype=np.float64)
        device[:, _UPLINK_QUEUE] = start[:, 0]
        per_option = download / np.maximum(ctx.tasks[:, _OUTPUT, None] * 8.0, 1.0)
        inv_down = np.where(np.isfinite(download), per_option, inv_down)
    nodes[:, :, _UP] = 1.0 / (inv_up + wan)
    nodes[:, :, _DOWN] = 1.0 / (inv_down + wan)
    return replace(labelled, ctx=Context(ctx.tasks, device, nodes))
