"""The random streams of one run, kept apart so that no policy can move the tasks.

``sim compare`` runs the same scenario and seed under several policies and promises the
same world and the same tasks (common random numbers, the usual variance reduction of
simulation studies: a difference between two policies is then their choices, not their
luck). One generator for everything breaks that: a policy that offloads draws link
losses from it, a task graph draws its later stages when they start, and every task
drawn after that gets other sizes (``always_local`` saw other tasks than the others).

So each kind of draw has its own stream, all spawned from the run's seed
(:class:`numpy.random.SeedSequence`):

- the world (devices, nodes, arrival phases, failures): the seed's own generator, drawn
  once before anything runs;
- arrivals: one stream per arrival source (device group x workload entry);
- task attributes: one stream per arrival source; a task graph's later stages are drawn
  with its first stage (:meth:`.apps.AppModel.draw`), not when they start;
- link losses: one stream (they depend on which transfers a policy makes, by nature).

Arrivals and attributes are drawn once per view interval and refresh phase, at times
fixed by the scenario, so their draws are the same whatever the policy decides.
"""

from __future__ import annotations

import numpy as np


class Streams:
    """The streams of a run with ``seed`` and ``sources`` arrival sources."""

    __slots__ = ("arrivals", "attributes", "losses")

    def __init__(self, seed: int, sources: int) -> None:
        arrivals, attributes, losses = np.random.SeedSequence(seed).spawn(3)
        self.arrivals = [np.random.default_rng(s) for s in arrivals.spawn(sources)]
        self.attributes = [np.random.default_rng(s) for s in attributes.spawn(sources)]
        self.losses = np.random.default_rng(losses)
