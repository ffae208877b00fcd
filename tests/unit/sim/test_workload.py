"""sim.workload: arrival processes drawn an interval at a time. Poisson counts and
times, periodic frames from a per-device phase (every frame exactly once however the
run is cut into intervals), bursts, and traces replayed, looped and rescaled."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np
import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim import workload
from edgeoffload.sim.scenario import ArrivalSpec
from edgeoffload.sim.workload import ArrivalSource, _ranks


def source(seed: int = 0, devices: Any = (10, 11, 12), **spec: Any) -> ArrivalSource:
    return ArrivalSource(
        ArrivalSpec(**spec), 0, np.asarray(devices, dtype=np.int64), np.random.default_rng(seed)
    )


ALL = np.arange(3)


def test_no_positions_no_tasks() -> None:
    for process in ("poisson", "periodic"):
        ids, times, sizes = source(process=process).draw(
            np.random.default_rng(0), np.zeros(0, dtype=np.int64), 0.0, 10.0
        )
        assert ids.size == times.size == sizes.size == 0
        assert ids.dtype == np.int64


def test_poisson_counts_and_times_come_from_the_stream() -> None:
    src = source(process="poisson", rate_hz=4.0)
    ids, times, sizes = src.draw(np.random.default_rng(5), ALL, 2.0, 2.5)
    rng = np.random.default_rng(5)
    counts = rng.poisson(4.0 * 0.5, 3)
    expected_times = 2.0 + rng.random(int(counts.sum())) * 0.5
    assert ids.tolist() == np.repeat([10, 11, 12], counts).tolist()  # global ids
    np.testing.assert_array_equal(times, expected_times)
    assert sizes.tolist() == [1.0] * int(counts.sum())


def test_poisson_mean_rate() -> None:
    src = source(process="poisson", rate_hz=3.0, devices=range(100))
    ids, times, _ = src.draw(np.random.default_rng(1), np.arange(100), 0.0, 10.0)
    assert ids.size / (100 * 10.0) == pytest.approx(3.0, rel=0.05)
    assert times.min() >= 0.0 and times.max() < 10.0


def periodic_phases(seed: int, n: int, rate: float) -> Any:
    """The phases an ArrivalSource draws on construction."""
    return np.random.default_rng(seed).uniform(0.0, 1.0 / rate, n)


def test_periodic_frames_start_at_each_devices_phase() -> None:
    src = source(seed=3, process="periodic", rate_hz=2.0)
    phase = periodic_phases(3, 3, 2.0)
    ids, times, _ = src.draw(np.random.default_rng(0), ALL, 0.0, 2.0)
    assert ids.tolist() == [10] * 4 + [11] * 4 + [12] * 4  # 2 s at 2 Hz
    expected = np.concatenate([p + np.arange(4) / 2.0 for p in phase])
    np.testing.assert_allclose(times, expected)


def test_periodic_frames_are_each_drawn_once_however_the_run_is_cut() -> None:
    src = source(seed=9, process="periodic", rate_hz=7.0)
    rng = np.random.default_rng(0)
    whole = src.draw(rng, ALL, 0.0, 3.0)
    cuts = [0.0, 0.1, 0.1, 0.75, 1.3333, 2.0, 3.0]  # including an empty interval
    parts = [src.draw(rng, ALL, a, b) for a, b in itertools.pairwise(cuts)]
    pieces = sorted(
        zip(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            strict=True,
        )
    )
    assert pieces == sorted(zip(whole[0], whole[1], strict=True))
    assert all(
        a <= t < b for (a, b), p in zip(itertools.pairwise(cuts), parts, strict=True) for t in p[1]
    )
    assert whole[0].size == 3 * 21


def test_a_burst_repeats_each_event() -> None:
    src = source(seed=3, process="periodic", rate_hz=1.0, burst=3)
    ids, times, sizes = src.draw(np.random.default_rng(0), np.array([1]), 0.0, 2.0)
    assert ids.tolist() == [11] * 6
    assert times[0] == times[1] == times[2] and times[3] == times[4] == times[5]
    assert times[3] - times[0] == pytest.approx(1.0)
    assert sizes.size == 6


def test_select_finds_the_devices_of_a_phase_and_caches_them() -> None:
    src = source(devices=(0, 2, 3))
    phase_of = np.array([0, 1, 1, 0])
    assert src.select(phase_of, 1).tolist() == [1]  # device 2 sits at position 1
    assert src.select(phase_of, 0).tolist() == [0, 2]
    assert src.select(np.array([1, 1, 1, 1]), 0).tolist() == [0, 2]  # cached per phase


def test_ranks() -> None:
    assert _ranks(np.array([2, 0, 3])).tolist() == [0.0, 1.0, 0.0, 1.0, 2.0]
    assert _ranks(np.zeros(0, dtype=np.int64)).tolist() == []


class FakeArrivals:
    """A four-request trace at 1 Hz: requests at 0, 1, 2, 3 s, so one loop lasts 4 s."""

    arrival_s = np.array([0.0, 1.0, 2.0, 3.0])
    duration_s = 3.0
    columns: ClassVar[dict[str, Any]] = {"size": np.array([1.0, 2.0, 3.0, np.nan])}

    def __len__(self) -> int:
        return 4

    def mean_rate_hz(self) -> float:
        return 1.0


@pytest.fixture
def fake_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workload, "load_workload", lambda name: FakeArrivals())


@pytest.mark.usefixtures("fake_trace")
def test_a_trace_is_replayed_at_the_requested_rate_and_looped() -> None:
    # At 2 Hz the trace's clock runs twice as fast: requests every 0.5 s, a loop of 2 s,
    # so [0, 4) holds two loops: 8 requests per device, 0.5 s apart.
    src = source(process="trace", workload="azure_code", rate_hz=2.0, devices=(5, 6))
    ids, times, sizes = src.draw(np.random.default_rng(0), np.arange(2), 0.0, 4.0)
    for device in (5, 6):
        mine = np.sort(times[ids == device])
        assert mine.size == 8
        np.testing.assert_allclose(np.diff(mine), 0.5)
        assert mine.min() >= 0.0 and mine.max() < 4.0
    assert sizes.tolist() == [1.0] * 16


@pytest.mark.usefixtures("fake_trace")
def test_a_trace_size_column_scales_by_its_median() -> None:
    src = source(process="trace", workload="azure_code", size_column="size", devices=(0,))
    _, times, sizes = src.draw(np.random.default_rng(0), np.arange(1), 0.0, 4.0)
    # Median 2: sizes 0.5, 1, 1.5, and 1 for a missing value, in trace order.
    assert sorted(sizes.tolist()) == [0.5, 1.0, 1.0, 1.5]
    assert times.size == 4


@pytest.mark.usefixtures("fake_trace")
def test_an_unknown_size_column_is_named_with_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"'tokens' is not a column of azure_code \(known: size\)"
    ):
        source(process="trace", workload="azure_code", size_column="tokens")


@pytest.mark.parametrize("rate", [0.5, 5.0])
def test_a_real_trace_arrives_at_the_requested_rate(rate: float) -> None:
    # One loop of an n-request trace lasts n / rate simulated seconds: over exactly that
    # long, every device replays each request once (at most one moves across an end).
    n = len(workload.load_workload("azure_code"))
    src = source(process="trace", workload="azure_code", rate_hz=rate, devices=range(3))
    ids, times, _ = src.draw(np.random.default_rng(1), np.arange(3), 100.0, 100.0 + n / rate)
    counts = np.bincount(ids, minlength=3)
    assert np.all(np.abs(counts - n) <= 1), counts
    assert times.min() >= 100.0 and times.max() < 100.0 + n / rate
