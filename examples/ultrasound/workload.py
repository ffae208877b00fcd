"""The ultrasound workload: seeded synthetic B-mode frames from one probe.

A frame is tissue of echogenicity 1 with two to four planted structures (ellipses):
anechoic cysts (0.05), hypoechoic lesions (0.35) and hyperechoic nodules (2.8), each
pixel's amplitude that echogenicity times Rayleigh speckle (fully developed speckle:
the envelope of a circular Gaussian), attenuated with depth (``exp(-1.2 depth/FRAME)``,
about 0.5 dB/cm/MHz at 5 MHz over the 5 cm field, as a rough figure). The probe sends
:data:`FRAME_HZ` frames a second, each to be analysed within :data:`DEADLINE_S` (the
seed's 120 ms).

``repeat=True`` is a probe held still over moving tissue: the background (its
structures and its speckle) stays put, bit for bit, and one small bright structure (a
valve leaflet, a needle tip) moves; only the tiles it covers, or covered in the frame
before, change bytes; and every fourth frame the motion pauses (the frame repeats the
one before exactly). Otherwise every frame is fresh: new structures, new speckle.

:func:`truth` gives the structures planted in a frame (for the tests). Pure and
seeded: no I/O, no clock; the same ``(n, seed, repeat)`` gives the same list.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .tasks import FRAME_PX, GRID, TILE_PX, analyse, split

#: The seed's strict latency for a frame's diagnosis, seconds.
DEADLINE_S = 0.12
#: Frames per second one probe sends.
FRAME_HZ = 5.0
#: Echogenicity of each kind of structure (tissue = 1).
ECHO = {"cyst": 0.05, "hypo": 0.35, "bright": 2.8}
#: Depth attenuation over the frame (amplitude factor exp(-ATTENUATION) at the bottom).
ATTENUATION = 1.2


class Request(NamedTuple):
    """One task to send (the contract in docs/examples; fields in that order)."""

    at_s: float
    task: str
    args: tuple[Any, ...]
    deadline_s: float | None
    group: str


class Structure(NamedTuple):
    """A planted ellipse: centre (row, col), semi-axes and rotation, its kind."""

    row: float
    col: float
    a: float
    b: float
    angle: float
    kind: str

    def box(self) -> tuple[slice, slice]:
        """The frame's rows and columns that hold the ellipse."""
        r = max(self.a, self.b) + 1
        rows = slice(max(0, int(self.row - r)), min(FRAME_PX, int(self.row + r) + 1))
        cols = slice(max(0, int(self.col - r)), min(FRAME_PX, int(self.col + r) + 1))
        return rows, cols

    def paint(self, image: np.ndarray, value: float) -> None:
        """Set the ellipse's pixels of ``image`` to ``value``."""
        rows, cols = self.box()
        yy, xx = np.mgrid[rows, cols]
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = (yy - self.row) * c + (xx - self.col) * s
        v = -(yy - self.row) * s + (xx - self.col) * c
        image[rows, cols][(u / self.a) ** 2 + (v / self.b) ** 2 <= 1.0] = value

    def mask(self) -> np.ndarray:
        m = np.zeros((FRAME_PX, FRAME_PX), dtype=bool)
        self.paint(m, True)
        return m

    @property
    def area_px(self) -> float:
        return float(np.pi * self.a * self.b)

    @property
    def dark(self) -> bool:
        return ECHO[self.kind] < 1.0


def _structures(rng: np.random.Generator, count: int) -> list[Structure]:
    """``count`` non-overlapping ellipses, clear of the frame's edges."""
    placed: list[Structure] = []
    kinds = list(ECHO)
    while len(placed) < count:
        a, b = rng.uniform(18, 55), rng.uniform(15, 40)
        row, col = rng.uniform(70, FRAME_PX - 70), rng.uniform(70, FRAME_PX - 70)
        if any(np.hypot(row - p.row, col - p.col) < a + max(p.a, p.b) + 20 for p in placed):
            continue
        placed.append(Structure(row, col, a, b, rng.uniform(0, np.pi), kinds[len(placed) % 3]))
    return placed


def _echo(structures: list[Structure]) -> np.ndarray:
    echo = np.ones((FRAME_PX, FRAME_PX), dtype=np.float32)
    for s in structures:
        s.paint(echo, ECHO[s.kind])
    return echo


def _gain() -> np.ndarray:
    depth = np.arange(FRAME_PX, dtype=np.float32)[:, None] / FRAME_PX
    return np.exp(-ATTENUATION * depth).astype(np.float32)


def _speckle(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.rayleigh(1.0, size=shape).astype(np.float32)


def frame(structures: list[Structure], rng: np.random.Generator) -> np.ndarray:
    """One fresh frame with these structures (float32, FRAME_PX square)."""
    return _echo(structures) * _speckle(rng, (FRAME_PX, FRAME_PX)) * _gain()


def _fresh(n: int, seed: int) -> tuple[list[np.ndarray], list[list[Structure]]]:
    rng = np.random.default_rng(seed)
    frames, truths = [], []
    for _ in range(n):
        planted = _structures(rng, int(rng.integers(2, 5)))
        frames.append(frame(planted, rng))
        truths.append(planted)
    return frames, truths


def _tiles_touched(s: Structure) -> set[tuple[int, int]]:
    reach = max(s.a, s.b) + 4  # the despeckler's reach past the edge is the task's
    rows = range(
        int(max(0, s.row - reach)) // TILE_PX, int(min(FRAME_PX - 1, s.row + reach)) // TILE_PX + 1
    )
    cols = range(
        int(max(0, s.col - reach)) // TILE_PX, int(min(FRAME_PX - 1, s.col + reach)) // TILE_PX + 1
    )
    return {(r, c) for r in rows for c in cols}


def _moving(n: int, seed: int) -> tuple[list[np.ndarray], list[list[Structure]]]:
    """The repetitive variant (module docstring)."""
    rng = np.random.default_rng(seed)
    background = [s for s in _structures(rng, 3) if s.kind != "bright"]
    base_echo = _echo(background)
    base_speckle = _speckle(rng, (FRAME_PX, FRAME_PX))
    gain = _gain()
    still = base_echo * base_speckle * gain
    # The mover sweeps a band clear of the background structures' centres.
    row0 = float(rng.uniform(90, FRAME_PX - 90))
    frames: list[np.ndarray] = []
    truths: list[list[Structure]] = []
    step = 0
    for k in range(n):
        if k % 4 == 3 and frames:  # the motion pauses: the same frame again
            frames.append(frames[-1])
            truths.append(truths[-1])
            continue
        col = 60.0 + (step * 23.0) % (FRAME_PX - 120)
        step += 1
        mover = Structure(row0, col, 14.0, 10.0, 0.3 * step, "bright")
        img = still.copy()
        echo = base_echo.copy()
        mover.paint(echo, ECHO["bright"])
        for r, c in _tiles_touched(mover):
            sl = (slice(r * TILE_PX, (r + 1) * TILE_PX), slice(c * TILE_PX, (c + 1) * TILE_PX))
            img[sl] = echo[sl] * _speckle(rng, (TILE_PX, TILE_PX)) * gain[sl[0]]
        frames.append(img)
        truths.append([*background, mover])
    return frames, truths


def _frames(n: int, seed: int, repeat: bool) -> tuple[list[np.ndarray], list[list[Structure]]]:
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    return _moving(n, seed) if repeat else _fresh(n, seed)


def workload(n: int, seed: int = 0, *, repeat: bool = False) -> list[Request]:
    """``n`` frames, one every 1 / FRAME_HZ seconds, as tiles.

    Raises:
        ValueError: ``n`` is negative.
    """
    frames, _ = _frames(n, seed, repeat)
    out: list[Request] = []
    cache: dict[int, tuple[np.ndarray, ...]] = {}
    for k, img in enumerate(frames):
        tiles = cache.get(id(img)) or split(img)
        cache[id(img)] = tiles
        out.append(Request(k / FRAME_HZ, "ultrasound_analyse", tiles, DEADLINE_S, "frame"))
    return out


def truth(n: int, seed: int = 0, *, repeat: bool = False) -> list[list[Structure]]:
    """The structures planted in each frame of ``workload(n, seed, repeat=repeat)``."""
    return _frames(n, seed, repeat)[1]


def check(request: Request, result: Any) -> bool:
    """Is ``result`` the right answer to ``request``? The analysis is deterministic:
    recomputed here and compared (structures exactly, the mask bit for bit)."""
    if not isinstance(result, dict):
        return False
    want = analyse(*request.args)
    try:
        return result["structures"] == want["structures"] and bool(
            np.array_equal(np.asarray(result["mask"]), want["mask"])
        )
    except (KeyError, TypeError):
        return False


__all__ = ["DEADLINE_S", "FRAME_HZ", "GRID", "Request", "Structure", "check", "truth", "workload"]
