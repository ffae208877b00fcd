"""The AOI example: generator, workload (determinism, sizes, deadline) and tasks on
small inputs, with the committed INT8 model (no torch)."""

from __future__ import annotations

import numpy as np
import pytest
from examples.aoi import tasks, workload

from edgeoffload.examples import parts
from edgeoffload.tasks import spec_of


def test_the_generator_is_seeded_per_image() -> None:
    a = parts.image(3, 7, 1)
    assert a.shape == (128, 128) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, parts.image(3, 7, 1))
    assert not np.array_equal(a, parts.image(3, 8, 1))
    x, y = parts.dataset(8, seed=5)
    np.testing.assert_array_equal(x[6], parts.image(5, 6, int(y[6])))
    assert np.bincount(y).tolist() == [2, 2, 2, 2]


def test_each_defect_changes_the_part_it_is_drawn_on() -> None:
    # Same seed and index: the part is the same, only the defect is added.
    ok = parts.image(0, 1, 0).astype(int)
    for label in (1, 2, 3):
        diff = np.abs(parts.image(0, 1, label).astype(int) - ok)
        assert diff.max() > 20, parts.CLASSES[label]
    # A missing bolt hole leaves bright face where a dark hole was.
    assert parts.image(0, 1, 3).mean() > parts.image(0, 1, 0).mean()
    with pytest.raises(ValueError, match="label"):
        parts.image(0, 0, 4)


def test_the_workload_is_deterministic_and_sized_like_the_line() -> None:
    w = workload.workload(12, seed=2)
    again = workload.workload(12, seed=2)
    assert len(w) == 12
    for r, s in zip(w, again, strict=True):
        assert r.at_s == s.at_s and r.task == s.task and r.group == "part"
        np.testing.assert_array_equal(r.args[0], s.args[0])
        assert r.deadline_s == workload.DEADLINE_S == 0.5
    assert [r.at_s for r in w] == [0.0] * 4 + [0.25] * 4 + [0.5] * 4
    assert {r.args[0].shape for r in w} == {(128, 128)}
    # Fresh input: every frame differs; a different seed gives other frames.
    assert len({r.args[0].tobytes() for r in w}) == 12
    other = workload.workload(12, seed=3)
    assert not np.array_equal(w[0].args[0], other[0].args[0])
    assert workload.workload(0) == []
    with pytest.raises(ValueError, match="at least 0"):
        workload.workload(-1)


def test_the_repeat_variant_sends_the_same_frames_again() -> None:
    n = 4 * workload.REPEATS * 2
    w = workload.workload(n, seed=0, repeat=True)
    frames = [r.args[0].tobytes() for r in w]
    assert len(set(frames)) == 2 * workload.CAMERAS
    assert frames[0] == frames[workload.CAMERAS] != frames[1]


def test_the_tasks_classify_frames_with_the_committed_model() -> None:
    x, y = parts.dataset(16, seed=1)  # frames of the held-out set
    one = tasks.inspect_part(x[0])
    assert workload.check(workload.workload(1)[0], one)
    batch = tasks.inspect_parts(x)
    assert len(batch) == 16 and batch[0] == one
    right = sum(v["label"] == parts.CLASSES[t] for v, t in zip(batch, y, strict=True))
    assert right >= 14  # the held-out accuracy is ~99 % (README.md)
    assert all(workload.check(workload.workload(1)[0], v) for v in batch)
    with pytest.raises(ValueError, match="128x128"):
        tasks.inspect_part(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="128x128"):
        tasks.inspect_parts(np.zeros((0, 128, 128), np.uint8))


def test_check_refuses_malformed_verdicts() -> None:
    r = workload.workload(1)[0]
    assert not workload.check(r, None)
    assert not workload.check(r, {"label": "ok", "defect": True, "score": 0.9})
    assert not workload.check(r, {"label": "dent", "defect": True, "score": 0.9})
    assert not workload.check(r, {"label": "spot", "defect": True, "score": 1.5})
    assert workload.check(r, {"label": "spot", "defect": True, "score": 0.5})


def test_the_hints_grow_with_the_batch() -> None:
    one, four = spec_of("inspect_part"), spec_of("inspect_parts")
    assert one is not None and four is not None
    frames = np.zeros((4, 128, 128), np.uint8)
    h1, h4 = one.hints((frames[0],)), four.hints((frames,))
    assert h1.input_bytes == 128 * 128 and h4.input_bytes == 4 * 128 * 128
    assert h4.cpu_cycles == pytest.approx(tasks.CYCLES_PER_CALL + 4 * tasks.CYCLES_PER_FRAME)
