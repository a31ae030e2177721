"""Crafter env: gymnasium checks, seeding, frames and exact state cloning."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("crafter")

from tv2tv.envs import get_texter, make_env  # noqa: E402
from tv2tv.envs.crafter import CrafterEnv  # noqa: E402
from tv2tv.envs.registry import clone_state, restore_state  # noqa: E402


def _play(env, actions):
    return [env.step(int(a))[0] for a in actions]


def test_check_env_passes():
    env = make_env("crafter", seed=0, area=(32, 32))  # small world: check_env resets often
    assert isinstance(env, CrafterEnv)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=1)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert {"inventory", "achievements", "facing", "daylight", "plan"} <= set(info)
    assert get_texter(env).name == "crafter"


@pytest.mark.parametrize("size", [16, 48])
def test_frame_size(size):
    env = make_env("crafter", frame_size=size, seed=0)
    obs, _ = env.reset()
    assert obs.shape == (size, size, 3)
    assert env.step(1)[0].shape == (size, size, 3)


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = (make_env("crafter", seed=s, area=(32, 32)) for s in (3, 3, 4))
    oa, ob, oc = a.reset()[0], b.reset()[0], c.reset()[0]
    assert np.array_equal(oa, ob) and not np.array_equal(oa, oc)
    acts = np.random.default_rng(0).integers(0, 17, 120)
    assert all(np.array_equal(x, y) for x, y in zip(_play(a, acts), _play(b, acts)))


def test_deepcopy_replays_the_same_50_steps():
    env = make_env("crafter", seed=5)
    env.reset()
    rng = np.random.default_rng(1)
    _play(env, rng.integers(0, 17, 150))  # creatures have moved, chunks balanced
    twin = copy.deepcopy(env)
    acts = rng.integers(0, 17, 50)
    frames, twin_frames = _play(env, acts), _play(twin, acts)
    assert all(np.array_equal(x, y) for x, y in zip(frames, twin_frames))
    assert env.game._player.inventory == twin.game._player.inventory


def test_clone_restore_through_registry_is_reusable():
    env = make_env("crafter", seed=2)
    env.reset()
    _play(env, np.random.default_rng(2).integers(0, 17, 100))
    state = clone_state(env)
    acts = np.random.default_rng(3).integers(0, 17, 60)
    first = _play(env, acts)
    for _ in range(2):
        restore_state(env, state)
        assert all(np.array_equal(x, y) for x, y in zip(first, _play(env, acts)))


def test_truncates_at_max_episode_steps():
    env = make_env("crafter", seed=0, max_episode_steps=5)
    env.reset()
    flags = [env.step(0)[2:4] for _ in range(5)]
    assert flags[-1] == (False, True) and all(f == (False, False) for f in flags[:-1])
