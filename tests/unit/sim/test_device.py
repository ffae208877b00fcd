"""The device CPU (sim/device.py): FIFO local runs at the lowest DVFS level that makes
the deadline, kappa f^2 energy, and the numpy version equal to the scalar one."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.sim.device import DeviceCpu
from edgeoffload.sim.table import Outcome

from .conftest import Recorder, add_tasks, small, state_of


def test_runs_queue_fifo_at_the_lowest_level_that_makes_the_deadline() -> None:
    st = state_of(small())  # 1.5 GHz, 10 % background load, levels 0.5/0.75/1.0
    rec = Recorder()
    cpu = DeviceCpu(st, rec.close, rec.local_done_hook)
    a, b = add_tasks(st, 2, cpu_cycles=2e8, deadline_s=0.5)
    speed = 1.5e9 * 0.9
    cpu.run(a, 0, 0.0)
    cpu.run(b, 0, 0.0)  # ready at once, waits for a
    t = st.tasks
    run_a = 2e8 / (speed * 0.5)  # 0.296 s <= 0.5 s: the lowest level will do
    assert (t.start_s[a], t.finish_s[a], t.level[a]) == (0.0, run_a, 0.5)
    # b has 0.5 - 0.296 s left when it starts: 0.5 is too slow, 0.75 makes it.
    assert t.start_s[b] == run_a
    assert t.level[b] == 0.75
    assert t.finish_s[b] == run_a + 2e8 / (speed * 0.75)
    assert st.dev.cpu_free[0] == t.finish_s[b]
    kappa = st.dev.power[0].kappa
    f = [1.5e9 * lv for lv in (0.5, 0.75)]
    energy = [kappa * x * x * 2e8 for x in f]  # kappa f^2 per cycle
    assert [t.energy_j[a], t.energy_j[b]] == energy
    assert t.energy_max_freq_j[a] == kappa * 1.5e9 * 1.5e9 * 2e8
    assert st.dev.battery_j[0] == pytest.approx(5000.0 - sum(energy), abs=1e-12)
    assert rec.closed == [
        (a, t.finish_s[a], int(Outcome.DONE), 0),
        (b, t.finish_s[b], int(Outcome.DONE), 0),
    ]


def test_a_hopeless_deadline_runs_at_full_speed() -> None:
    st = state_of(small())
    rec = Recorder()
    (tid,) = add_tasks(st, 1, cpu_cycles=5e9, deadline_s=0.1)
    DeviceCpu(st, rec.close, rec.local_done_hook).run(tid, 0, 0.0)
    assert st.tasks.level[tid] == 1.0


def test_a_graph_stage_goes_to_local_done_not_close() -> None:
    st = state_of(small())
    rec = Recorder()
    (tid,) = add_tasks(st, 1, stage=1)
    DeviceCpu(st, rec.close, rec.local_done_hook).run(tid, 3, 1.0)
    assert rec.closed == []
    assert rec.local_done == [(tid, st.tasks.finish_s[tid])]


def test_run_rows_equals_run_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    scenario = small()
    scalar, vector = state_of(scenario), state_of(scenario)
    n = 8  # every device once
    devs = rng.permutation(n)
    cycles = rng.lognormal(19.0, 1.0, n)
    created = rng.random(n)
    deadline = rng.choice([0.05, 0.3, 2.0, np.inf], n)
    for st in (scalar, vector):  # some earlier local work on some devices
        st.cpu_free_v[:4] = 0.4
    ids = add_tasks(
        scalar, n, device=devs, cpu_cycles=cycles, created_s=created, deadline_s=deadline
    )
    rec = Recorder()
    cpu = DeviceCpu(scalar, rec.close, rec.local_done_hook)
    for tid in ids:
        cpu.run(tid, int(devs[tid]), float(created[tid]))
    free = vector.cpu_free_v[devs].copy()
    start, end, level, run, energy, at_max = DeviceCpu(
        vector, rec.close, rec.local_done_hook
    ).run_rows(devs, cycles, created, deadline, free)
    t = scalar.tasks
    assert start.tolist() == [t.start_s[i] for i in ids]
    assert end.tolist() == [t.finish_s[i] for i in ids]
    assert level.tolist() == [t.level[i] for i in ids]
    assert run.tolist() == [t.service_s[i] for i in ids]
    assert energy.tolist() == [t.energy_j[i] for i in ids]
    assert at_max.tolist() == [t.energy_max_freq_j[i] for i in ids]
    for name in ("cpu_free_v", "busy_v", "battery_v"):
        assert getattr(vector, name).tolist() == getattr(scalar, name).tolist(), name


def test_a_quota_runs_at_full_speed_then_waits_whole_periods() -> None:
    from edgeoffload.sim.device import quota_end

    # 25 % of 100 ms: 25 ms of CPU per period. 10 ms of work at 0 fits.
    assert quota_end(0.0, 0.010, 0.25, 0.1, 0.0, 0.0) == (0.010, 0.0, 0.010)
    # 30 ms more at 10 ms: 15 ms left in period 0, the other 15 ms at the top of period 1
    end, at, used = quota_end(0.010, 0.030, 0.25, 0.1, 0.0, 0.010)
    assert (end, at) == (pytest.approx(0.115), 1.0) and used == pytest.approx(0.015)
    # a new period forgets what the last one used
    assert quota_end(0.25, 0.005, 0.25, 0.1, 1.0, 0.025) == (0.255, 2.0, 0.005)
    # 60 ms of work: this period's 25, the next one's 25, then 10 of the third
    end, at, used = quota_end(0.0, 0.060, 0.25, 0.1, 0.0, 0.0)
    assert (end, at) == (pytest.approx(0.21), 2.0) and used == pytest.approx(0.010)


def test_quota_rows_equal_the_scalar_rule_bit_for_bit() -> None:
    from edgeoffload.sim.device import quota_end, quota_end_rows

    rng = np.random.default_rng(3)
    n = 500
    start = rng.uniform(0, 2, n)
    work = rng.exponential(0.05, n)
    share = rng.choice([0.1, 0.25, 0.5], n)
    period = rng.choice([0.1, 1.0], n)
    at = np.floor(start / period) - rng.integers(0, 2, n)
    used = rng.uniform(0, 1, n) * share * period
    rows = quota_end_rows(start, work, share, period, at, used)
    for i in range(n):
        one = quota_end(start[i], work[i], share[i], period[i], at[i], used[i])
        assert one == (rows[0][i], rows[1][i], rows[2][i])
