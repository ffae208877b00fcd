"""A real node serving the digits model: real digits, real Client, real WebSocket."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import edgeoffload.examples.vision as vision
from edgeoffload import Client
from edgeoffload.compress.data import digits
from tests.conftest import NodeProcess, run


def test_a_node_classifies_held_out_digits(node_factory: Callable[..., NodeProcess]) -> None:
    node = node_factory("--tasks", "edgeoffload.examples.vision", "--workers", "1")
    test = digits(8)[1]
    images = test.x[:, 0]  # (359, 8, 8), raw pixel values 0..16

    async def main() -> None:
        async with Client([node.url]) as client:
            batch = await client.submit(vision.classify_digits, images, where="edge")
            singles = await client.map(
                "classify_digits", [img for img in images[:40]], window=40, where="edge"
            )
            local = await client.submit(vision.classify_digits, images, where="local")
            strip = np.concatenate(list(images[:6]), axis=1)  # six digits side by side
            number = await client.submit(vision.read_digits, strip, where="edge")
        assert isinstance(batch, np.ndarray) and batch.shape == (len(images),)
        assert (batch == test.y).mean() >= 0.95
        np.testing.assert_array_equal(batch, local)
        np.testing.assert_array_equal(np.concatenate(singles), batch[:40])
        assert number == "".join(str(d) for d in batch[:6])

    run(main())
