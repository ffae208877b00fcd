"""The DROO agent's bookkeeping: replay memory, adaptive K, blocks and the numpy copy."""

from __future__ import annotations

import numpy as np

from edgeoffload.decision.droo.learner import DrooAgent, DrooConfig, order_preserving

SMALL = DrooConfig(hidden=(8,), training_interval=4, batch_size=8, memory_size=6, max_k=3)


def gains(frames: int, n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1e-7, 1e-5, (frames, n))


def test_the_numpy_network_is_the_torch_one_and_proposes_from_it() -> None:
    agent = DrooAgent(3, SMALL)
    h = gains(5)
    p = agent.mlp(h * SMALL.input_scale)
    assert p.shape == (5, 3) and ((p > 0) & (p < 1)).all()  # sigmoid outputs
    np.testing.assert_array_equal(agent.propose(h), order_preserving(p, 3))
    assert agent.propose(h, k=1).shape == (5, 1, 3)


def test_a_training_step_refreshes_the_numpy_copy() -> None:
    agent = DrooAgent(3, SMALL)
    h = gains(6)
    before = agent.mlp(h * SMALL.input_scale)
    agent.remember(h, np.ones((6, 3), dtype=bool))
    loss = agent.learn()
    assert loss > 0
    after = agent.mlp(h * SMALL.input_scale)
    # Trained towards "offload everything": every probability moves up.
    assert (after > before).all()


def test_run_decides_in_blocks_and_learns_once_per_block() -> None:
    agent = DrooAgent(3, SMALL)
    run = agent.run(gains(10), learn=True)
    assert run.modes.shape == (10, 3) and run.rates.shape == (10,)
    assert len(run.losses) == 3  # blocks of 4, 4 and 2 frames
    assert run.k_used.tolist() == [3] * 10  # fixed K by default
    assert (run.rates > 0).all()
    frozen = agent.run(gains(10), learn=False)
    assert frozen.losses == [] and frozen.train_s == 0.0


def test_each_decision_is_the_best_of_its_candidates() -> None:
    agent = DrooAgent(3, SMALL)
    h = gains(4, seed=2)
    run = agent.run(h, learn=False)
    rates = agent.solver.rates(h, agent.propose(h))
    np.testing.assert_allclose(run.rates, rates.max(axis=1))


def test_adaptive_k_is_one_past_the_latest_winners_capped() -> None:
    agent = DrooAgent(3, DrooConfig(hidden=(4,), adaptive_k=True, max_k=5))
    agent.adapt_k(np.array([0, 1, 0]))
    assert agent.k == 3
    agent.adapt_k(np.array([4]))
    assert agent.k == 5  # capped at max_k
    agent.adapt_k(np.zeros(32, dtype=np.int64))  # the old winners leave the window
    assert agent.k == 2
    fixed = DrooAgent(3, DrooConfig(hidden=(4,), max_k=5))
    fixed.adapt_k(np.array([0]))
    assert fixed.k == 5


def test_the_replay_memory_overwrites_its_oldest_frames() -> None:
    h = np.array([[1e-6, 2e-6], [3e-6, 4e-6], [5e-6, 6e-6]])
    modes = np.array([[False, False], [True, True], [True, True]])

    def first_frame_after_training(memory_size: int) -> float:
        config = DrooConfig(hidden=(4,), memory_size=memory_size, batch_size=64)
        agent = DrooAgent(2, config)
        agent.remember(h, modes)
        for _ in range(100):
            agent.learn()
        return float(agent.mlp(h[:1] * config.input_scale).mean())

    # With room for two frames, the first ("all local") is overwritten by the third:
    # only "offload everything" is learnt (measured 0.90 against 0.56 with room for all).
    assert first_frame_after_training(2) > 0.8
    assert first_frame_after_training(3) < 0.7
