"""Seeded procedural images of machined parts for the visual-inspection (AOI) example.

Pure numpy, no download: the AOI classifier (:mod:`edgeoffload.compress.zoo`,
``aoi_cnn``) is trained on these images and ``examples/aoi`` sends them as camera
frames. One image is a 128 x 128 grey ``uint8`` frame of a flange seen from above: a
bright disc with a central bore and four bolt holes on a ring, lit unevenly, with sensor
noise; position, size, rotation, brightness and lighting vary per part.

Classes (:data:`CLASSES`): ``ok``; ``scratch`` (a thin dark or bright line across the
face); ``spot`` (a small dark or bright blob: a dent, a stain); ``missing_hole`` (one of
the four bolt holes was not drilled). The defects are small (a 1-2 px line, a blob of
sigma 2.5-4.5 px; 40 to 70 grey levels against noise of sigma 5 and a face that varies
by 40 levels): a threshold does not find them, a small CNN does. (At 20-40 levels and
0.6-1.4 px, four epochs of ``aoi_cnn`` told ok, scratch and spot apart no better than
chance.)

Each image is drawn from its own generator seeded by ``(seed, index)``, so image ``i`` of
a set is the same whatever the set's size or the order of the calls.
"""

from __future__ import annotations

import numpy as np

#: Side of the square frames, in pixels.
SIZE = 128
#: Class names, by label.
CLASSES = ("ok", "scratch", "spot", "missing_hole")
#: Bolt holes on the flange.
HOLES = 4

_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)


def part_image(rng: np.random.Generator, label: int) -> np.ndarray:
    """One frame of class ``label`` (an index of :data:`CLASSES`), drawn from ``rng``."""
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"label must be in 0..{len(CLASSES) - 1}, got {label}")
    cy, cx = SIZE / 2 + rng.uniform(-6, 6, 2)
    radius = rng.uniform(40, 50)
    face = rng.uniform(150, 190)
    r = np.hypot(_YY - cy, _XX - cx)
    # Background, lit from a random side; the part's face has a rim shading.
    angle = rng.uniform(0, 2 * np.pi)
    light = (np.cos(angle) * (_XX - SIZE / 2) + np.sin(angle) * (_YY - SIZE / 2)) / SIZE
    img = 40 + 25 * light
    disc = np.clip(radius - r + 0.5, 0, 1)  # anti-aliased edge
    img = img + disc * (face - 40 + 20 * light - 15 * (r / radius) ** 4)
    dark = rng.uniform(30, 60)
    holes = _circle(r, radius * 0.22)  # the central bore
    ring, hole_r = radius * rng.uniform(0.58, 0.66), radius * rng.uniform(0.09, 0.12)
    turn = rng.uniform(0, 2 * np.pi / HOLES)
    missing = int(rng.integers(HOLES)) if CLASSES[label] == "missing_hole" else -1
    for k in range(HOLES):
        if k == missing:
            continue
        a = turn + 2 * np.pi * k / HOLES
        hy, hx = cy + ring * np.sin(a), cx + ring * np.cos(a)
        holes = np.maximum(holes, _circle(np.hypot(_YY - hy, _XX - hx), hole_r))
    img = img * (1 - holes) + dark * holes
    if CLASSES[label] == "scratch":
        img = img + _scratch(rng, cy, cx, radius) * disc * (1 - holes)
    elif CLASSES[label] == "spot":
        img = img + _spot(rng, cy, cx, radius) * disc * (1 - holes)
    img = img + rng.normal(0, 5, img.shape)
    frame: np.ndarray = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frame


def _circle(r: np.ndarray, radius: float) -> np.ndarray:
    """1 inside, 0 outside, a one-pixel anti-aliased edge."""
    return np.clip(radius - r + 0.5, 0, 1)


def _scratch(rng: np.random.Generator, cy: float, cx: float, radius: float) -> np.ndarray:
    """A thin line segment on the face, darker or brighter (its contrast map)."""
    length = rng.uniform(0.4, 1.0) * radius
    a = rng.uniform(0, np.pi)
    my, mx = cy + rng.uniform(-0.5, 0.5, 2) * radius
    dy, dx = np.sin(a), np.cos(a)
    t = np.clip((_YY - my) * dy + (_XX - mx) * dx, -length / 2, length / 2)
    dist = np.hypot(_YY - (my + t * dy), _XX - (mx + t * dx))
    width = rng.uniform(1.0, 2.0)
    sign = rng.choice((-1.0, 1.0))
    contrast: np.ndarray = sign * rng.uniform(40, 70) * np.clip(width - dist + 0.5, 0, 1)
    return contrast


def _spot(rng: np.random.Generator, cy: float, cx: float, radius: float) -> np.ndarray:
    """A small soft blob on the face (its contrast map)."""
    a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.9) * radius
    sy, sx = cy + d * np.sin(a), cx + d * np.cos(a)
    sigma = rng.uniform(2.5, 4.5)
    sign = rng.choice((-1.0, 1.0))
    blob = np.exp(-((_YY - sy) ** 2 + (_XX - sx) ** 2) / (2 * sigma**2))
    spot: np.ndarray = sign * rng.uniform(45, 70) * blob
    return spot


def labels(n: int, seed: int = 0) -> np.ndarray:
    """The classes of images ``0..n-1`` of set ``seed``: balanced, in a seeded order."""
    base = np.arange(n) % len(CLASSES)
    order: np.ndarray = np.random.default_rng([seed, 2**31 - 1]).permutation(base)
    return order.astype(np.int64)


def image(seed: int, index: int, label: int) -> np.ndarray:
    """Image ``index`` of set ``seed`` (the same for every call with these arguments)."""
    return part_image(np.random.default_rng([seed, index]), label)


def dataset(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames ``(n, 128, 128)`` uint8 and their labels (balanced classes)."""
    ys = labels(n, seed)
    xs = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    for i, y in enumerate(ys):
        xs[i] = image(seed, i, int(y))
    return xs, ys
