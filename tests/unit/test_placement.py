from __future__ import annotations

from edgeoffload.client.placement import Candidate, least_in_flight


def test_least_in_flight_then_rtt_then_name() -> None:
    assert least_in_flight([]) is None
    assert least_in_flight([Candidate("a", 3), Candidate("b", 1), Candidate("c", 2)]) == "b"
    assert least_in_flight([Candidate("a", 1, 0.002), Candidate("b", 1, 0.001)]) == "b"
    assert least_in_flight([Candidate("b", 0), Candidate("a", 0)]) == "a"
