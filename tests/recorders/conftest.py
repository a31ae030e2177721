"""Fakes for recorder tests: a tiny deterministic game with a texter, registered as ``Fake-v0``.

The fake game draws a bar whose height follows the actions; an episode ends after a length
drawn from the reset seed (terminated) and rewards +1 when the bar hits the top. Tests reach
the helpers through the ``fakes`` fixture (``--import-mode=importlib`` cannot import conftest).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from tv2tv.envs import family
from tv2tv.recorders import policies
from tv2tv.recorders.store import DatasetMeta, describe_space
from tv2tv.types import Phrase

FAKE_ENV = "Fake-v0"
ACTION_TEXT = ("stay", "go up", "go down ↓")  # a non-ASCII phrase exercises unicode storage


class FakeTexter:
    """Emits the action phrase when the action changes, a caption on reward, "start" at reset."""

    name = "fake"
    version = "1"

    def __init__(self) -> None:
        self._last: int | None = None

    def reset(self, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        self._last = None
        return [Phrase("start", "caption")]

    def describe(self, prev_obs: Any, action: Any, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        out = []
        if int(action) != self._last:
            out.append(Phrase(ACTION_TEXT[int(action)], "action"))
            self._last = int(action)
        if info.get("hit"):
            out.append(Phrase("hit the top", "caption"))
        return out

    def action_text(self, action: Any) -> str:
        return ACTION_TEXT[int(action)]

    def parse(self, text: str) -> int:
        if text not in ACTION_TEXT:
            raise ValueError(f"not an action phrase: {text!r}")
        return ACTION_TEXT.index(text)

    def action_phrases(self) -> list[str]:
        return list(ACTION_TEXT)


class FakeGame(gym.Env):
    """Deterministic under ``reset(seed=...)``; observations ``uint8 (size, size, 3)``."""

    metadata = {"render_modes": [], "render_fps": 15}

    def __init__(self, size: int = 16, max_len: int = 40, seed: int | None = None) -> None:
        self.size = size
        self.max_len = max_len
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self.texter = FakeTexter()
        self._first_seed = seed

    def _obs(self) -> np.ndarray:
        obs = np.zeros((self.size, self.size, 3), np.uint8)
        obs[self.size - self.h:, :, 0] = 200
        obs[:, : self.t % self.size, 1] = self.noise
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and self._first_seed is not None:
            seed, self._first_seed = self._first_seed, None
        super().reset(seed=seed)
        self.t, self.h = 0, self.size // 2
        self.length = int(self.np_random.integers(self.max_len // 2, self.max_len + 1))
        self.noise = int(self.np_random.integers(1, 255))
        return self._obs(), {"t": 0}

    def step(self, action: Any):
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"bad action {action!r}")
        self.t += 1
        self.h = int(np.clip(self.h + (a == 1) - (a == 2), 0, self.size))
        hit = self.h == self.size
        terminated = self.t >= self.length
        return self._obs(), float(hit), terminated, False, {"t": self.t, "hit": hit}


def make_fake(name: str, frame_size: int = 16, frameskip: int = 1, seed: int | None = None,
              max_len: int = 40) -> gym.Env:
    return FakeGame(size=frame_size, max_len=max_len, seed=seed)


def fake_policy(env: gym.Env, seed: int | None = None):
    rng = np.random.default_rng(seed)
    return lambda obs: int(rng.integers(0, 3))


def fake_meta(frame_size: int = 16, **kw: Any) -> DatasetMeta:
    return DatasetMeta(env=FAKE_ENV, frame_shape=(frame_size, frame_size, 3),
                       action_space=describe_space(gym.spaces.Discrete(3)), texter="fake",
                       texter_version="1", **kw)


@pytest.fixture
def fake_family(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registers ``Fake-v0`` (and the ``fake-random`` policy) for this test; returns the name."""
    fam = family.EnvFamily("fake", lambda: [FAKE_ENV], make_fake)
    monkeypatch.setitem(family._FAMILIES, "fake", fam)
    monkeypatch.setitem(policies.POLICIES, "fake-random", fake_policy)
    return FAKE_ENV


@pytest.fixture
def fakes() -> SimpleNamespace:
    """The fake game, texter, policy and ``meta(frame_size)`` helper."""
    return SimpleNamespace(Game=FakeGame, Texter=FakeTexter, make=make_fake, policy=fake_policy,
                           meta=fake_meta, ENV=FAKE_ENV, ACTION_TEXT=ACTION_TEXT)
