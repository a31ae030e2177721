"""Game-independent collection policies: ``"random"`` and ``"sticky"`` (sticky random).

Both sample from the env's ``action_space`` with their own ``np.random.default_rng(seed)``
stream (``space.sample`` is seeded from it), so the same seed gives the same actions.

``sticky`` keeps its previous action with probability ``repeat_prob`` (default 0.9): runs of
one action last about ``1 / (1 - repeat_prob)`` steps, which moves a paddle or a player far enough
to show on screen and gives action text that holds for a while, unlike uniform noise.

Example:
    >>> import gymnasium as gym
    >>> env = gym.make("CartPole-v1")
    >>> a, b = make_sticky(env, seed=0), make_sticky(env, seed=0)
    >>> [int(a(None)) for _ in range(20)] == [int(b(None)) for _ in range(20)]
    True
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np

from tv2tv.recorders.policies.base import Policy, register_policy


def _seeded_space(env: gym.Env, rng: np.random.Generator) -> gym.Space:
    # A private copy of the space, seeded from our generator: sampling never touches (or is
    # touched by) the env's own action_space RNG.
    space = copy.deepcopy(env.action_space)
    space.seed(int(rng.integers(2**63 - 1)))
    return space


class RandomPolicy:
    """Uniformly random actions from ``env.action_space``.

    Args:
        env: the env whose action space to sample.
        seed: seed of the policy's own generator (``None``: fresh entropy).
    """

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.space = _seeded_space(env, self.rng)

    def __call__(self, obs: Any) -> Any:
        return self.space.sample()


class StickyPolicy(RandomPolicy):
    """Random actions that repeat the previous one with probability ``repeat_prob``.

    Args:
        env: the env whose action space to sample.
        seed: seed of the policy's own generator.
        repeat_prob: probability of keeping the previous action, in ``[0, 1)``.
    """

    def __init__(self, env: gym.Env, seed: int | None = None, repeat_prob: float = 0.9) -> None:
        if not 0.0 <= float(repeat_prob) < 1.0:
            raise ValueError(f"repeat_prob must be in [0, 1), got {repeat_prob!r}")
        super().__init__(env, seed)
        self.repeat_prob = float(repeat_prob)
        self._last: Any = None

    def __call__(self, obs: Any) -> Any:
        if self._last is None or self.rng.random() >= self.repeat_prob:
            self._last = self.space.sample()
        return self._last


def make_random(env: gym.Env, seed: int | None = None) -> Policy:
    """Factory for ``"random"``: uniform over ``env.action_space``."""
    return RandomPolicy(env, seed)


def make_sticky(env: gym.Env, seed: int | None = None, repeat_prob: float = 0.9) -> Policy:
    """Factory for ``"sticky"``: random actions kept with probability ``repeat_prob``."""
    return StickyPolicy(env, seed, repeat_prob)


register_policy("random", make_random)
register_policy("sticky", make_sticky)
