"""The seed article's LSTM rebuilt (decision/train/seed_lstm.py): its 12 parameters,
history sequences that never mix devices, a device split, a seeded fit that learns a
rule and is the same bit for bit, and the 0.7 threshold."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.train import seed_lstm as sl

from ..synthetic import synthetic_labelled


def test_twelve_parameters_per_task() -> None:
    labelled = synthetic_labelled(40, 2)
    p = sl.parameters(labelled)
    assert p.shape == (40, 12) == (40, len(sl.SEED_PARAMETERS))
    assert np.isfinite(p).all()
    assert ((sl.offload_target(labelled) >= 1) & (sl.offload_target(labelled) <= 2)).all()


def test_sequences_hold_each_device_s_own_history_oldest_first() -> None:
    values = np.arange(6, dtype=float)[:, None] + 1  # row i holds i + 1
    run = np.zeros(6, dtype=np.int64)
    device = np.array([0, 1, 0, 1, 0, 0])
    created = np.array([0.0, 0.0, 1.0, 1.0, 2.0, 3.0])
    seqs = sl.sequences(values, run, device, created, steps=3)
    assert seqs[:, :, 0].tolist() == [
        [0, 0, 1],  # device 0's first task: padded
        [0, 0, 2],
        [0, 1, 3],
        [0, 2, 4],
        [1, 3, 5],
        [3, 5, 6],
    ]


def test_the_device_split_keeps_a_device_on_one_side() -> None:
    run = np.repeat(np.arange(2), 50)
    device = np.tile(np.arange(10), 10)
    test = sl.device_split(run, device, 0.2, seed=0)
    for r in range(2):
        for d in range(10):
            rows = test[(run == r) & (device == d)]
            assert rows.all() or not rows.any()
    assert 0 < test.mean() < 0.5


def test_the_fit_learns_a_rule_and_is_reproducible() -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    seqs = rng.normal(size=(600, sl.STEPS, 12))
    y = (seqs[:, -1, 0] > 0).astype(np.int64)  # offload when the uplink is above average
    cfg = sl.SeedConfig(hidden=8, epochs=8, batch_size=64)
    model = sl.fit(seqs, y, cfg)
    again = sl.fit(seqs, y, cfg)
    assert all(np.array_equal(model.state[k], again.state[k]) for k in model.state)
    p = sl.predict(model, seqs)
    everywhere = np.ones(600, dtype=np.int64)
    assert sl.binary_accuracy(sl.choices(p, everywhere, 0.5), y) > 0.8  # chance: 0.5
    # the 0.7 threshold offloads fewer tasks than 0.5; no node: never offload
    target = np.ones(600, dtype=np.int64)
    assert (sl.choices(p, target) > 0).sum() <= (sl.choices(p, target, 0.5) > 0).sum()
    assert (sl.choices(p, np.zeros(600, dtype=np.int64)) == 0).all()
