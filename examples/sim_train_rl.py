"""Train an offloading policy by reinforcement in the simulator's Gymnasium environment.

    .venv/bin/python examples/sim_train_rl.py [--iterations 8]

The agent is a linear scorer (one weight vector per action) trained by the
cross-entropy method: sample weight sets around a mean, keep the best episodes, move
the mean to them. It is compared with always-local, always-edge and random choices on
the same episodes (same seeds).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from edgeoffload.sim.env import ENV_ID

Chooser = Callable[[np.ndarray], int]


def episode_return(env: gym.Env[np.ndarray, np.int64], choose: Chooser, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, done, _, _ = env.step(np.int64(choose(obs)))
        total += reward
    return total


def evaluate(env: gym.Env[np.ndarray, np.int64], choose: Chooser, seeds: list[int]) -> float:
    return float(np.mean([episode_return(env, choose, s) for s in seeds]))


def linear(weights: np.ndarray, actions: int) -> Chooser:
    w = weights.reshape(actions, -1)
    return lambda obs: int(np.argmax(w[:, :-1] @ obs + w[:, -1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--population", type=int, default=12)
    args = parser.parse_args()
    env = gym.make(ENV_ID).unwrapped
    actions = int(env.action_space.n)
    size = actions * (env.observation_space.shape[0] + 1)
    rng = np.random.default_rng(0)
    train, test = [1, 2], [100, 101]
    mean, std = np.zeros(size), np.ones(size)
    for i in range(args.iterations):
        samples = mean + std * rng.standard_normal((args.population, size))
        scores = [evaluate(env, linear(w, actions), train) for w in samples]
        elite = samples[np.argsort(scores)[-max(2, args.population // 4) :]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + 0.05
        print(f"iteration {i + 1}: best training return {max(scores):.1f}")
    baselines: dict[str, Chooser] = {
        "always local": lambda obs: 0,
        "always edge (home node)": lambda obs: 1,
        "random": lambda obs: int(rng.integers(actions)),
        "trained linear policy": linear(mean, actions),
    }
    for name, choose in baselines.items():
        print(f"{name:>24}: mean return on unseen episodes {evaluate(env, choose, test):.1f}")


if __name__ == "__main__":
    main()
