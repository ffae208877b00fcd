"""hostinfo: what it makes of psutil's answers (patched, so the machine does not matter)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import psutil
import pytest

from edgeoffload import hostinfo


@pytest.fixture(autouse=True)
def fresh_speed() -> Iterator[None]:
    """cpu_speed_hz is measured once per process; each test measures afresh."""
    hostinfo.cpu_speed_hz.cache_clear()
    yield
    hostinfo.cpu_speed_hz.cache_clear()


def test_speed_is_the_reported_maximum_frequency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "cpu_freq", lambda: SimpleNamespace(current=800.0, max=3000.0))
    assert hostinfo.cpu_speed_hz() == 3.0e9


def test_speed_is_measured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def freq() -> SimpleNamespace:
        calls.append(1)
        return SimpleNamespace(max=2000.0)

    monkeypatch.setattr(psutil, "cpu_freq", freq)
    assert hostinfo.cpu_speed_hz() == hostinfo.cpu_speed_hz() == 2.0e9
    assert calls == [1]


@pytest.mark.parametrize("reported", [None, SimpleNamespace(max=0.0)])
def test_without_a_maximum_the_speed_is_calibrated_against_the_reference_core(
    monkeypatch: pytest.MonkeyPatch, reported: SimpleNamespace | None
) -> None:
    # A fake clock: start 0, one pass of the inner loop (10,000 counts) by 0.01 s, the
    # 20 ms window closed at 0.03, rate read at 0.04 => 250,000 counts/s; the reference
    # does 3.2e7/s at 2.5 GHz, so this core is 2.5e9 * 250e3 / 3.2e7 Hz.
    ticks = iter([0.0, 0.01, 0.03, 0.04])
    monkeypatch.setattr(psutil, "cpu_freq", lambda: reported)
    monkeypatch.setattr(hostinfo, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    assert hostinfo.cpu_speed_hz() == pytest.approx(2.5e9 * 250_000 / 3.2e7)  # 19.53 MHz


def test_load_is_a_share_not_a_percentage(monkeypatch: pytest.MonkeyPatch) -> None:
    intervals: list[object] = []

    def percent(interval: object) -> float:
        intervals.append(interval)
        return 37.5

    monkeypatch.setattr(psutil, "cpu_percent", percent)
    assert hostinfo.cpu_load() == 0.375
    assert intervals == [None]  # since the previous call, never blocking


@pytest.mark.parametrize(
    ("battery", "level"),
    [
        (None, 1.0),  # no battery: a mains-powered machine
        (SimpleNamespace(percent=20.0, power_plugged=True), 1.0),
        (SimpleNamespace(percent=42.0, power_plugged=False), 0.42),
        (SimpleNamespace(percent=0.0, power_plugged=False), 0.0),
        (SimpleNamespace(percent=101.0, power_plugged=False), 1.0),  # clamped
        (SimpleNamespace(percent=-3.0, power_plugged=False), 0.0),
    ],
)
def test_battery_level(
    monkeypatch: pytest.MonkeyPatch, battery: SimpleNamespace | None, level: float
) -> None:
    monkeypatch.setattr(psutil, "sensors_battery", lambda: battery, raising=False)
    assert hostinfo.battery_level() == pytest.approx(level)


def test_a_platform_without_battery_sensors_reads_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(psutil, "sensors_battery", raising=False)
    assert hostinfo.battery_level() == 1.0


def test_the_real_machine_gives_plausible_numbers() -> None:
    assert 1e7 < hostinfo.cpu_speed_hz() < 1e11
    assert 0.0 <= hostinfo.cpu_load() <= 1.0
    assert 0.0 <= hostinfo.battery_level() <= 1.0
