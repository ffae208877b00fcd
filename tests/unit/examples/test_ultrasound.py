"""The ultrasound example: its workload (seeded frames, sized as documented, tiles
unchanged where the repetitive variant says) and its analysis (it finds the planted
structures, and nothing else)."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from examples.ultrasound import tasks as us
from examples.ultrasound import workload as wl

from edgeoffload.protocol.codec import Codec
from edgeoffload.tasks import spec_of


def digests(request: wl.Request) -> list[str]:
    return [hashlib.blake2b(t.tobytes()).hexdigest() for t in request.args]


def test_the_workload_is_seeded_and_sized() -> None:
    a, b = wl.workload(3, seed=7), wl.workload(3, seed=7)
    assert [digests(r) for r in a] == [digests(r) for r in b]
    assert digests(wl.workload(1, seed=8)[0]) != digests(a[0])
    assert [r.at_s for r in a] == [0.0, 1 / wl.FRAME_HZ, 2 / wl.FRAME_HZ]
    r = a[0]
    assert (r.task, r.deadline_s, r.group) == ("ultrasound_analyse", wl.DEADLINE_S, "frame")
    assert len(r.args) == us.GRID**2
    assert all(t.shape == (us.TILE_PX, us.TILE_PX) and t.dtype == np.float32 for t in r.args)
    size = len(Codec().encode_value(list(r.args)))
    assert us.FRAME_PX**2 * 4 <= size < us.FRAME_PX**2 * 4 + 1024  # 1 MiB a frame
    assert wl.workload(0) == []
    with pytest.raises(ValueError, match="n must be at least 0"):
        wl.workload(-2)


def test_tiles_split_and_assemble_back() -> None:
    frame = np.arange(us.FRAME_PX**2, dtype=np.float32).reshape(us.FRAME_PX, us.FRAME_PX)
    np.testing.assert_array_equal(us.assemble(us.split(frame)), frame)
    with pytest.raises(ValueError, match="a frame is 16 tiles, got 3"):
        us.analyse(*us.split(frame)[:3])
    tiles = list(us.split(frame))
    tiles[5] = tiles[5].astype(np.int32)
    with pytest.raises(ValueError, match="tile 5 must be a"):
        us.analyse(*tiles)


def matches(planted: list[wl.Structure], found: list[dict[str, object]]) -> None:
    """Each planted structure found once, of its kind, in its place and size; no other."""
    assert len(found) == len(planted), (planted, found)
    for s in planted:
        near = [
            f
            for f in found
            if np.hypot(f["centroid"][0] - s.row, f["centroid"][1] - s.col) < 3.0  # type: ignore[index]
        ]
        assert len(near) == 1, (s, found)
        f = near[0]
        assert f["kind"] == ("dark" if s.dark else "bright")
        assert abs(float(f["area_px"]) - s.area_px) < 0.15 * s.area_px, (s, f)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_segmentation_finds_the_planted_structures(seed: int) -> None:
    requests = wl.workload(2, seed=seed)
    for request, planted in zip(requests, wl.truth(2, seed=seed), strict=True):
        result = us.analyse(*request.args)
        matches(planted, result["structures"])
        mask = np.unpackbits(result["mask"]).reshape(us.FRAME_PX, us.FRAME_PX)
        assert mask.sum() == sum(s["area_px"] for s in result["structures"])


def test_the_repetitive_variant_changes_few_tiles() -> None:
    requests = wl.workload(8, seed=3, repeat=True)
    truths = wl.truth(8, seed=3, repeat=True)
    changed = [
        sum(x != y for x, y in zip(digests(a), digests(b), strict=True))
        for a, b in itertools.pairwise(requests)
    ]
    assert all(c <= 6 for c in changed), changed  # of 16
    assert changed[2] == 0 and changed[6] == 0  # frames 3 and 7: the motion paused
    assert sum(changed) > 0
    # The moving structure is found where it is.
    matches(truths[4], us.analyse(*requests[4].args)["structures"])


def test_check_accepts_the_right_answer_only() -> None:
    (request,) = wl.workload(1, seed=2)
    right = us.analyse(*request.args)
    assert wl.check(request, right)
    wrong_area = [dict(s) for s in right["structures"]]
    wrong_area[0]["area_px"] += 1
    assert not wl.check(request, {**right, "structures": wrong_area})
    assert not wl.check(request, {**right, "mask": np.zeros_like(right["mask"])})
    assert not wl.check(request, None)


def test_the_hints_are_the_measured_figures() -> None:
    (request,) = wl.workload(1)
    spec = spec_of("ultrasound_analyse")
    assert spec is not None and spec.cacheable and spec.idempotent
    h = spec.hints(request.args)
    assert h.cpu_cycles == us.ANALYSE_CYCLES
    assert h.input_bytes == us.FRAME_PX**2 * 4 + 20 * us.GRID**2
    assert h.output_bytes == us.FRAME_PX**2 / 8 + 320


def test_holes_are_filled_as_scipy_fills_them() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(0)
    for density in (0.3, 0.5, 0.7, 1.0):
        mask = rng.random((us.FRAME_PX, us.FRAME_PX)) < density
        np.testing.assert_array_equal(us._fill_holes(mask), ndimage.binary_fill_holes(mask))
