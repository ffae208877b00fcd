"""sim.table: the task table's columns, initial values, growth by doubling, numpy views
over the same memory and the copy taken at the end."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edgeoffload.sim.table import DTYPES, DYNAMIC, STATIC, Outcome, Reason, TaskTable


def static(n: int, start: float = 0.0) -> dict[str, Any]:
    cols: dict[str, Any] = {name: np.zeros(n, dtype=dtype) for name, dtype in STATIC.items()}
    cols["device"] = np.arange(n)
    cols["created_s"] = start + np.arange(n, dtype=float)
    return cols


def test_every_column_has_one_dtype_and_the_hot_ones_a_handle() -> None:
    assert set(DTYPES) == set(STATIC) | set(DYNAMIC)
    assert not set(STATIC) & set(DYNAMIC)
    table = TaskTable()
    for name, column in table.columns.items():
        assert column.typecode == ("q" if DTYPES[name] is np.int64 else "d"), name
        assert getattr(table, name) is column
    ints = {n for n, t in DTYPES.items() if t is np.int64}
    assert {"target", "outcome", "reason", "batch", "key", "device"} <= ints


def test_new_tasks_start_pending_undecided_and_unfinished() -> None:
    table = TaskTable()
    assert table.add(**static(3)) == 0
    assert table.size == 3
    assert list(table.target[:3]) == [-2, -2, -2]
    assert list(table.outcome[:3]) == [Outcome.PENDING] * 3
    assert list(table.reason[:3]) == [Reason.NONE] * 3
    assert all(math.isnan(v) for v in table.start_s[:3])
    assert list(table.compute_by_s[:3]) == [math.inf] * 3
    assert list(table.energy_j[:3]) == [0.0] * 3
    assert list(table.created_s[:3]) == [0.0, 1.0, 2.0]


def test_ids_are_positions_and_continue_across_adds() -> None:
    table = TaskTable()
    assert table.add(**static(2)) == 0
    assert table.add(**static(3, start=10.0)) == 2
    assert list(table.created_s[: table.size]) == [0.0, 1.0, 10.0, 11.0, 12.0]
    assert table.add(**static(0)) == 5 and table.size == 5


def test_the_table_grows_by_doubling_with_fresh_rows_at_their_initial_values() -> None:
    table = TaskTable()
    table.add(**static(1))
    assert table.capacity == 1024
    table.put(slice(0, 1), target=3, finish_s=1.5)
    table.add(**static(1100))
    assert table.capacity == 2048  # doubled, not grown by 1100
    assert table.add(**static(5000)) == 1101
    assert table.capacity == 2048 + 4053  # what is missing, when more than doubling
    assert all(len(c) == table.capacity for c in table.columns.values())
    assert table.target[0] == 3 and table.finish_s[0] == 1.5  # kept through growth
    assert table.target[table.capacity - 1] == -2
    assert math.isnan(table.finish_s[table.capacity - 1])


def test_a_view_shares_memory_with_the_column() -> None:
    table = TaskTable()
    table.add(**static(4))
    view = table.view("attempts")
    assert view.dtype == np.int64 and view.size == table.capacity
    view[1] = 7
    assert table.attempts[1] == 7
    table.energy_j[2] = 0.25
    assert table.view("energy_j")[2] == 0.25
    del view


def test_put_writes_slices_and_id_arrays() -> None:
    table = TaskTable()
    table.add(**static(5))
    table.put(np.array([4, 1]), outcome=int(Outcome.DONE), end_s=np.array([9.0, 8.0]))
    table.put(slice(2, 4), reason=int(Reason.LINK_LOST))
    out = table.arrays()
    assert out["outcome"].tolist() == [-1, 0, -1, -1, 0]
    assert out["end_s"][[1, 4]].tolist() == [8.0, 9.0]
    assert out["reason"].tolist() == [0, 0, 4, 4, 0]


def test_arrays_copies_only_the_filled_rows() -> None:
    table = TaskTable()
    table.add(**static(3))
    out = table.arrays()
    assert set(out) == set(DTYPES)
    assert all(a.shape == (3,) and a.dtype == DTYPES[n] for n, a in out.items())
    out["target"][0] = 99
    assert table.target[0] == -2  # a copy
    assert TaskTable().arrays()["target"].shape == (0,)


def test_add_needs_every_static_column() -> None:
    cols = static(2)
    del cols["key"]
    with pytest.raises(KeyError, match="key"):
        TaskTable().add(**cols)


def test_outcome_and_reason_codes_are_stable() -> None:
    # They are stored as integers in result files: renumbering breaks old outputs.
    assert [int(o) for o in Outcome] == [-1, 0, 1, 2]
    assert [r.name for r in Reason] == [
        "NONE", "DEADLINE_EXPIRED", "BATTERY_EMPTY", "MAX_ATTEMPTS", "LINK_LOST",
    ]  # fmt: skip
