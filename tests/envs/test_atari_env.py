"""ALE envs built by make_env: API conformance, names, frames, seeding, state cloning, RAM."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tv2tv.envs import get_texter, known_env_names, make_env
from tv2tv.envs.atari import atari_env_names, clone_state, make_atari, ram, restore_state, rom_id
from tv2tv.envs.atari_texter import AtariTexter
from tv2tv.envs.registry import clone_state as registry_clone
from tv2tv.envs.registry import restore_state as registry_restore


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    # check_env opens the "human" render mode: keep SDL from opening windows or sound cards.
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


@pytest.mark.parametrize("name", ["ALE/Pong-v5", "ALE/Breakout-v5", "ALE/SpaceInvaders-v5"])
def test_check_env_passes(name: str) -> None:
    env = make_env(name, frame_size=64, frameskip=4, seed=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version.*")
        check_env(env)
    env.close()


def test_every_shipped_rom_is_known() -> None:
    names = atari_env_names()
    assert len(names) >= 100 and "ALE/Pong-v5" in names and "ALE/TicTacToe3D-v5" in names
    assert all(n in gym.registry for n in names)
    assert set(names) <= set(known_env_names())
    assert rom_id("ALE/SpaceInvaders-v5") == "space_invaders"


@pytest.mark.parametrize("bad", ["ALE/Pong-v4", "ALE/Pongg-v5"])
def test_unknown_env_suggests_closest(bad: str) -> None:
    with pytest.raises(ValueError, match=r"unknown env .*closest matches: ALE/Pong-v5"):
        make_env(bad)


@pytest.mark.parametrize("kwargs, match", [
    ({"frame_size": 4}, "frame_size"), ({"frameskip": 0}, "frameskip"),
    ({"repeat_action_probability": 1.5}, "repeat_action_probability"),
    ({"max_episode_steps": 0}, "max_episode_steps"), ({"text_every": 0}, "text_every"),
])
def test_bad_settings_fail(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_env("ALE/Pong-v5", **kwargs)
    with pytest.raises(ValueError, match=match):
        make_atari("ALE/Pong-v5", **kwargs)


@pytest.mark.parametrize("size", [32, 64])
def test_obs_shape_dtype_info_and_texter(size: int) -> None:
    env = make_env("ALE/Breakout-v5", frame_size=size, seed=0)
    obs, info = env.reset()
    assert obs.shape == (size, size, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs) and info["reward"] == 0.0
    total = 0.0
    for _ in range(200):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        assert obs.shape == (size, size, 3) and info["reward"] == reward and "lives" in info
        total += reward
        if term or trunc:
            break
    texter = get_texter(env)
    assert isinstance(texter, AtariTexter) and texter.game == "breakout"
    assert texter.action_phrases() == ["do nothing", "fire", "move paddle right", "move paddle left"]


def test_texter_options_reach_the_texter() -> None:
    env = make_env("ALE/Pong-v5", seed=0, text_every=3, full_action_space=True)
    texter = get_texter(env)
    assert texter.text_every == 3 and env.action_space.n == 18 and len(texter.action_phrases()) == 18


def test_max_episode_steps_truncates() -> None:
    env = make_env("ALE/Pong-v5", seed=0, max_episode_steps=5)
    env.reset()
    flags = [env.step(0)[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]


def _rollout(env: gym.Env, actions: list[int]) -> np.ndarray:
    return np.stack([env.step(a)[0] for a in actions])


def test_same_seed_same_trajectory() -> None:
    # Sticky actions make ALE's RNG matter, so this checks that the seed reaches it.
    actions = [int(a) for a in np.random.default_rng(1).integers(0, 6, 150)]
    runs = []
    for _ in range(2):
        env = make_env("ALE/Pong-v5", seed=7, repeat_action_probability=0.5)
        obs, _ = env.reset()
        runs.append(np.concatenate([obs[None], _rollout(env, actions)]))
    assert np.array_equal(runs[0], runs[1])
    other = make_env("ALE/Pong-v5", seed=8, repeat_action_probability=0.5)
    other.reset()
    assert not np.array_equal(runs[0][1:], _rollout(other, actions))


@pytest.mark.parametrize("sticky", [0.0, 0.5])
def test_clone_restore_replays_exactly(sticky: float) -> None:
    env = make_env("ALE/Breakout-v5", seed=0, repeat_action_probability=sticky)
    env.reset()
    rng = np.random.default_rng(0)
    _rollout(env, [1] + [int(a) for a in rng.integers(0, 4, 30)])
    state = clone_state(env)
    actions = [int(a) for a in rng.integers(0, 4, 60)]
    first, ram_first = _rollout(env, actions), ram(env)
    restore_state(env, state)
    second = _rollout(env, actions)
    assert np.array_equal(first, second) and np.array_equal(ram_first, ram(env))
    registry_restore(env, registry_clone(env))  # the registry dispatch reaches the same functions


def test_ram_and_cloning_reject_non_ale_envs() -> None:
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match="ALE env"):
        ram(env)
    with pytest.raises(TypeError, match="ALE env"):
        clone_state(env)
    with pytest.raises(TypeError, match="clone_state"):
        restore_state(make_env("ALE/Pong-v5"), "not a state")


def test_ram_is_the_console_ram() -> None:
    env = make_env("ALE/Pong-v5", seed=0)
    env.reset()
    r = ram(env)
    assert r.shape == (128,) and r.dtype == np.uint8
    # Pong keeps our paddle's row in RAM byte 51 (AtariARI); "move paddle up" lowers it.
    up = get_texter(env).parse("move paddle up")
    before = int(ram(env)[51])
    for _ in range(6):
        env.step(up)
    assert int(ram(env)[51]) < before
