"""The Gymnasium environment passes Gymnasium's checker and behaves like the simulator."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

from edgeoffload.sim.env import ENV_ID, GYM_MAKE_ID, OffloadEnv


def play(env: OffloadEnv, action: int, seed: int) -> tuple[float, int, list[np.ndarray]]:
    obs, _ = env.reset(seed=seed)
    total, steps, seen, done = 0.0, 0, [obs], False
    while not done:
        obs, reward, done, truncated, _ = env.step(np.int64(action))
        assert not truncated
        total += reward
        steps += 1
        seen.append(obs)
    return total, steps, seen


def test_passes_the_gymnasium_checker() -> None:
    check_env(gym.make(ENV_ID).unwrapped)


def test_an_episode_is_one_run_and_every_task_is_one_step() -> None:
    env = OffloadEnv()
    total, steps, seen = play(env, 1, seed=3)
    assert env.sim is not None
    assert steps == env.sim.tasks.size
    assert total < 0
    space = env.observation_space
    assert all(space.contains(o) for o in seen)


def test_same_seed_same_episode_and_actions_matter() -> None:
    env = OffloadEnv()
    a = play(env, 0, seed=5)
    b = play(env, 0, seed=5)
    assert a[0] == b[0] and a[1] == b[1]
    local, edge = play(env, 0, seed=5)[0], play(env, 1, seed=5)[0]
    # Devices of 1-2.5 GHz cannot run these frames within 0.5 s; the home node can.
    assert edge > local


def test_action_to_a_node_is_carried_out() -> None:
    env = OffloadEnv()
    play(env, 2, seed=1)
    assert env.sim is not None
    targets = env.sim.tasks.arrays()["target"]
    candidates = env.sim.dev.candidates
    devices = env.sim.tasks.arrays()["device"]
    second = np.array([candidates[d][1] for d in devices])
    # Every task ran on its device's second candidate (unless that node was down).
    assert (targets == second).mean() > 0.99


def test_gymnasium_make_works_without_importing_the_module_first() -> None:
    """Gymnasium 1.x dropped its entry-point plugins; its ``module:id`` form imports the
    registering module itself, in a fresh interpreter that never imported edgeoffload.sim."""
    code = (
        "import sys, gymnasium as gym\n"
        "assert 'edgeoffload.sim.env' not in sys.modules\n"
        f"env = gym.make({GYM_MAKE_ID!r})\n"
        "obs, _ = env.reset(seed=1)\n"
        "print(env.action_space.n, obs.shape[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4", "38"]
