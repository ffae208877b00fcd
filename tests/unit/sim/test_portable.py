"""The learned cases' digests hold whichever float32 kernel OpenBLAS picks for the CPU:
a simulation scores the learned policy by ``Mlp.portable`` (sim.simulation.reproducible),
not by BLAS float32 products. Two learned digests written on one CPU (AMD Zen) once
failed on another (AVX-512), whose kernel summed the products in another order.

Each run is a fresh interpreter told which kernel to use (``OPENBLAS_CORETYPE``; a
kernel the CPU cannot run is refused by OpenBLAS, which then falls back to its own
choice, so the test never passes by crashing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision.nn import Mlp

from . import golden

ROOT = Path(__file__).resolve().parents[3]
LEARNED = sorted(c.name for c in golden.cases() if "/learned/" in c.name)

PROBE = """
import json, sys
from tests.unit.sim import golden
case = {c.name: c for c in golden.cases()}[sys.argv[1]]
print(json.dumps(golden.compute(case)))
"""


@pytest.mark.parametrize("coretype", ["Haswell", "SkylakeX"])
def test_the_learned_digests_hold_under_another_blas_kernel(coretype: str) -> None:
    recorded = json.loads(golden.PATH.read_text())
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    for name in LEARNED:
        out = subprocess.run(
            [sys.executable, "-c", PROBE, name], capture_output=True, text=True, timeout=300,
            env=env, cwd=ROOT,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.splitlines()[-1]) == recorded[name], (coretype, name)


def test_portable_is_the_forward_pass_to_float32_rounding() -> None:
    rng = np.random.default_rng(0)
    w = (rng.normal(size=(20, 16)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32))
    b = (np.zeros(16, np.float32), np.zeros(3, np.float32))
    mlp = Mlp(w, b)
    x = rng.normal(size=(100, 20)).astype(np.float32)
    np.testing.assert_allclose(mlp.portable(x), mlp(x), rtol=1e-5, atol=1e-5)
