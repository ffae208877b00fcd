"""Train an offloading policy by reinforcement in the simulator's Gymnasium environment.

    .venv/bin/python examples/sim_train_rl.py [--iterations 10] [--population 16]

The world is the environment's default one made busy (each of the 6 devices sends
``--rate`` frames per second, 4 by default: more than the two edge nodes can serve
alone), so where a task goes matters: the home node when its queue is short, the other
node or the cloud when it is not. (At the default scenario's 2 frames/s the nodes are
never full, and always-edge is already close to the best any policy can do there.)

The agent is a linear scorer (one weight vector per action over the observation)
trained by the cross-entropy method: sample weight sets around a mean, keep the best
episodes, move the mean to them. It is compared with fixed choices and with a
least-queue rule on unseen episodes (other seeds than the training ones, the same seeds
for every policy); the last line says whether it beat always-edge and how it stands
against the best fixed choice. Said plainly: in this world the cloud's 16 cores make
always-cloud the best fixed choice, and what the linear policy learns (with the default
settings) is to send every task there; it beats always-edge by matching that, not by a
cleverer mix (a home-node-while-its-queue-is-short rule was tried and is worse than
always-cloud here). It is a wiring example for Gymnasium agents, with an honest score.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from edgeoffload.sim.env import DEVICE_DIM, NODE_DIM, TASK_DIM, OffloadEnv, default_spec
from edgeoffload.sim.scenario import from_dict

Chooser = Callable[[np.ndarray], int]
TRAIN_SEEDS = [1, 2, 3]
TEST_SEEDS = [100, 101, 102, 103]


def busy_env(rate_hz: float) -> OffloadEnv:
    """The default training world with every device sending ``rate_hz`` frames per second."""
    spec = default_spec()
    for group in spec["devices"]:
        for flow in group["workload"]:
            flow["arrivals"]["rate_hz"] = rate_hz
    spec["name"] = "rl_busy"
    return OffloadEnv(from_dict(spec))


def episode_return(env: gym.Env[np.ndarray, np.int64], choose: Chooser, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, done, _, _ = env.step(np.int64(choose(obs)))
        total += float(reward)
    return total


def evaluate(env: gym.Env[np.ndarray, np.int64], choose: Chooser, seeds: list[int]) -> float:
    return float(np.mean([episode_return(env, choose, s) for s in seeds]))


def linear(weights: np.ndarray, actions: int) -> Chooser:
    w = weights.reshape(actions, -1)
    return lambda obs: int(np.argmax(w[:, :-1] @ obs + w[:, -1]))


def least_queue(candidates: int) -> Chooser:
    """The usable candidate node with the shortest queue (feature 3 of each node block)."""

    def choose(obs: np.ndarray) -> int:
        best, shortest = 1, np.inf
        for i in range(candidates):
            base = TASK_DIM + DEVICE_DIM + NODE_DIM * i
            if obs[base] > 0.5 and obs[base + 3] < shortest:
                best, shortest = i + 1, obs[base + 3]
        return best

    return choose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--rate", type=float, default=4.0, help="frames per second per device")
    args = parser.parse_args()
    env = busy_env(args.rate)
    actions = 1 + env.k  # the device, then each candidate node (the cloud last)
    size = actions * (TASK_DIM + DEVICE_DIM + NODE_DIM * env.k + 1)
    rng = np.random.default_rng(0)
    mean, std = np.zeros(size), np.ones(size)
    for i in range(args.iterations):
        samples = mean + std * rng.standard_normal((args.population, size))
        scores = [evaluate(env, linear(w, actions), TRAIN_SEEDS) for w in samples]
        elite = samples[np.argsort(scores)[-max(2, args.population // 4) :]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + 0.05
        print(f"iteration {i + 1}: best training return {max(scores):.1f}")
    baselines: dict[str, Chooser] = {
        "always local": lambda obs: 0,
        "always edge (home node)": lambda obs: 1,
        "always cloud": lambda obs: actions - 1,
        "least-queue node": least_queue(actions - 2),
        "random": lambda obs: int(rng.integers(actions)),
        "trained linear policy": linear(mean, actions),
    }
    returns = {name: evaluate(env, choose, TEST_SEEDS) for name, choose in baselines.items()}
    for name, value in returns.items():
        print(f"{name:>24}: mean return on unseen episodes {value:.1f}")
    trained, edge = returns["trained linear policy"], returns["always edge (home node)"]
    verdict = "beat" if trained > edge else "did not beat"
    print(
        f"the trained policy {verdict} always-edge on unseen episodes ({trained:.1f} vs {edge:.1f})"
    )


if __name__ == "__main__":
    main()
