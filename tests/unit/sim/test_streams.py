"""sim.streams: one seed spawns independent, reproducible streams, and a stream does
not change when other sources are added (common random numbers across scenarios)."""

from __future__ import annotations

import numpy as np

from edgeoffload.sim.streams import Streams


def draws(rng: np.random.Generator) -> list[float]:
    return rng.random(3).tolist()


def test_the_same_seed_gives_the_same_streams() -> None:
    a, b = Streams(42, 2), Streams(42, 2)
    for x, y in [(a.losses, b.losses), *zip(a.arrivals, b.arrivals, strict=True)]:
        assert draws(x) == draws(y)
    assert [draws(r) for r in a.attributes] == [draws(r) for r in b.attributes]


def test_every_stream_is_its_own() -> None:
    s = Streams(42, 3)
    all_draws = [draws(r) for r in [*s.arrivals, *s.attributes, s.losses]]
    assert len(all_draws) == 7
    assert len({tuple(d) for d in all_draws}) == 7


def test_drawing_from_one_stream_leaves_the_others_alone() -> None:
    quiet, busy = Streams(1, 2), Streams(1, 2)
    busy.losses.random(1000)  # a policy that offloads a lot
    busy.arrivals[0].random(10)
    assert draws(quiet.attributes[0]) == draws(busy.attributes[0])
    assert draws(quiet.arrivals[1]) == draws(busy.arrivals[1])


def test_adding_sources_keeps_the_existing_ones() -> None:
    small, large = Streams(5, 2), Streams(5, 4)
    assert [draws(r) for r in small.arrivals] == [draws(r) for r in large.arrivals[:2]]
    assert [draws(r) for r in small.attributes] == [draws(r) for r in large.attributes[:2]]
    assert draws(small.losses) == draws(large.losses)


def test_other_seeds_differ_and_no_sources_is_allowed() -> None:
    assert draws(Streams(1, 1).arrivals[0]) != draws(Streams(2, 1).arrivals[0])
    empty = Streams(3, 0)
    assert empty.arrivals == [] and empty.attributes == []
    assert len(draws(empty.losses)) == 3
