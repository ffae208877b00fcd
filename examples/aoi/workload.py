"""The AOI workload: camera frames of parts on a production line, a deadline per part.

Pure and seeded (no I/O). As in ``src/edgeoffload/sim/scenarios/manufacturing.yaml``,
each part is photographed by :data:`CAMERAS` cameras triggered together (the scenario's
burst of 4) and must be judged within :data:`DEADLINE_S` (its travel time to the reject
gate); :data:`STATIONS` stations each see one part per second (the scenario's 1 Hz),
staggered, so a part arrives every ``1 / STATIONS`` s. One request is one camera frame
(``inspect_part``, group ``part``); the client puts the frames due at one instant in one
message. README.md says where the sizes differ from the scenario's.

Parts are drawn from :mod:`edgeoffload.examples.parts` with seeds the classifier was
never trained or scored on; :data:`DEFECT_SHARE` of the parts are defective.

``repeat=True``: the line stops while a station works, so each part stays under its
cameras for :data:`REPEATS` triggers and the same frames are sent again, byte for byte
(the input and result cache's case).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from edgeoffload.examples import parts

DEADLINE_S = 0.5
CAMERAS = 4
STATIONS = 4
#: Seconds between two parts (all stations together).
PART_PERIOD_S = 1.0 / STATIONS
DEFECT_SHARE = 0.3
REPEATS = 4
#: Offset of the workload's image seeds (training uses 0, the held-out set 1).
SEED_BASE = 1000


class Request(NamedTuple):
    at_s: float
    task: str
    args: tuple[Any, ...]
    deadline_s: float | None
    group: str


def _label(rng: np.random.Generator) -> int:
    if rng.random() >= DEFECT_SHARE:
        return 0
    return int(rng.integers(1, len(parts.CLASSES)))


def workload(n: int, seed: int = 0, *, repeat: bool = False) -> list[Request]:
    """``n`` frames: part ``j`` is frames ``CAMERAS*j .. CAMERAS*j+3``, sent at
    ``j * PART_PERIOD_S``. A part's cameras see the same class of defect (each view is its
    own image); with ``repeat``, parts ``j`` and ``j+1 .. j+REPEATS-1`` of a run are the
    same part."""
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    rng = np.random.default_rng([seed, 13])
    out: list[Request] = []
    label = 0
    for i in range(n):
        j, cam = divmod(i, CAMERAS)
        part = j // REPEATS if repeat else j
        if cam == 0 and (not repeat or j % REPEATS == 0):
            label = _label(rng)
        frame = parts.image(SEED_BASE + seed, part * CAMERAS + cam, label)
        out.append(Request(j * PART_PERIOD_S, "inspect_part", (frame,), DEADLINE_S, "part"))
    return out


def check(request: Request, result: Any) -> bool:
    """A well-formed verdict: a known class, ``defect`` true for all but ``ok``, a
    probability. Whether the class is the right one is the model's accuracy, reported by
    ``edgeoffload bench compress`` on the held-out set (a classifier at 99 % gets one
    frame in a hundred wrong, which is not a fault of the run)."""
    if not isinstance(result, dict) or set(result) != {"label", "defect", "score"}:
        return False
    label, defect, score = result["label"], result["defect"], result["score"]
    return (
        label in parts.CLASSES
        and defect is (label != "ok")
        and isinstance(score, float)
        and 0.0 <= score <= 1.0
    )
