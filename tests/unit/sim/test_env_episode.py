"""The Gymnasium env's edges: the API misused, the reward's sign and weights, the last
observation, and actions outside the candidates (they run the task locally)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.sim.env import OffloadEnv

NOT_STARTED = "call reset() first (or the episode has ended)"


def episode(env: OffloadEnv, action: int, seed: int) -> tuple[list[float], np.ndarray]:
    env.reset(seed=seed)
    rewards, done = [], False
    obs = np.empty(0)
    while not done:
        obs, reward, done, truncated, info = env.step(action)
        assert truncated is False
        assert isinstance(reward, float)
        assert env.sim is not None and info == {"tasks": env.sim.tasks.size}
        rewards.append(reward)
    return rewards, obs


def test_step_before_reset_is_refused_with_the_reason() -> None:
    with pytest.raises(RuntimeError) as info:
        OffloadEnv().step(0)
    assert str(info.value) == NOT_STARTED


def test_step_after_the_episode_ended_is_refused() -> None:
    env = OffloadEnv()
    episode(env, 1, seed=2)
    with pytest.raises(RuntimeError) as info:
        env.step(1)
    assert str(info.value) == NOT_STARTED


def test_reset_gives_a_first_observation_of_the_declared_shape_and_no_info() -> None:
    env = OffloadEnv()
    obs, info = env.reset(seed=4)
    assert info == {}
    assert obs.shape == env.observation_space.shape == (env._size,)
    assert obs.dtype == np.float32
    assert env.action_space.n == 1 + env.k
    assert obs.any()  # a task is waiting: its features are not all zero


def test_every_reward_is_a_cost_and_the_last_observation_is_empty() -> None:
    env = OffloadEnv()
    rewards, last = episode(env, 0, seed=6)
    assert all(r <= 0.0 for r in rewards)
    assert sum(rewards) < 0.0
    assert not last.any()


def test_zero_weights_give_zero_reward() -> None:
    env = OffloadEnv(latency_weight=0.0, energy_weight=0.0, miss_penalty=0.0)
    rewards, _ = episode(env, 1, seed=6)
    assert set(rewards) == {0.0}


def test_the_reward_is_linear_in_its_weights() -> None:
    """Doubling every weight doubles the episode's cost (same seed, same decisions)."""
    one = sum(episode(OffloadEnv(), 1, seed=8)[0])
    two = sum(
        episode(OffloadEnv(latency_weight=2.0, energy_weight=1.0, miss_penalty=2.0), 1, seed=8)[0]
    )
    assert two == pytest.approx(2 * one, rel=1e-9)


def test_an_action_past_the_candidates_runs_locally_like_action_zero() -> None:
    env = OffloadEnv()
    local = episode(env, 0, seed=9)[0]
    assert env.sim is not None
    local_targets = env.sim.tasks.arrays()["target"].copy()
    beyond = episode(env, env.k + 5, seed=9)[0]
    assert beyond == local
    assert np.array_equal(env.sim.tasks.arrays()["target"], local_targets)


def test_reset_without_a_seed_replays_the_scenarios_own_seed() -> None:
    env = OffloadEnv()
    env.reset()
    first = episode_from_here(env)
    env.reset()
    assert episode_from_here(env) == first


def episode_from_here(env: OffloadEnv) -> list[float]:
    rewards, done = [], False
    while not done:
        _, reward, done, _, _ = env.step(1)
        rewards.append(reward)
    return rewards
