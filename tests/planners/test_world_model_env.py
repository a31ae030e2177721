"""``WorldModelEnv``: gymnasium's checker, both action modes, rewards from captions."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tv2tv  # noqa: F401  (registers tv2tv/WorldModel-v0)
from tv2tv.planners.world_model_env import WorldModelEnv, text_reward
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.rollout_model import SamplingConfig

FAST = {"ode_steps": 1, "max_text_tokens": 2}


@pytest.mark.parametrize("mode", ["action", "text"])
def test_check_env(tiny_run, mode) -> None:
    env = gymnasium.make("tv2tv/WorldModel-v0", checkpoint=str(tiny_run), action_mode=mode, sampling=FAST,
                         max_steps=3, render_mode="rgb_array").unwrapped
    assert isinstance(env, WorldModelEnv)
    check_env(env, skip_render_check=False)
    assert env.observation_space.shape == (16, 16, 3)


def test_gymnasium_make_and_action_text(tiny_run) -> None:
    env = gymnasium.make("tv2tv/WorldModel-v0", checkpoint=str(tiny_run), sampling=FAST, max_steps=2)
    obs, info = env.reset(seed=0)
    assert obs.shape == (16, 16, 3) and obs.dtype == np.uint8 and "episode" in info["context"]
    obs, reward, terminated, truncated, info = env.step(1)
    assert info["agent_text"] == "move up"                    # the synthetic texter's phrase
    assert info["text"][0].text == "move up" and info["text"][0].source == "user"
    assert info["frames"].shape == (2, 16, 16, 3) and (info["frames"][-1] == obs).all()
    assert not truncated
    assert env.step(0)[3]                                      # max_steps=2
    with pytest.raises(ValueError, match="outside"):
        env.unwrapped.step(7)
    env.close()


def test_fixed_context_and_generator(tiny_run) -> None:
    gen = Generator.from_run(tiny_run, SamplingConfig(**FAST))
    data = gen.cfg.data.path
    env = WorldModelEnv(generator=gen, contexts=f"{data}:1:5", action_mode="text", context_frames=3)
    obs, info = env.reset(seed=1)
    from tv2tv.recorders.store import EpisodeStore
    assert (obs == EpisodeStore.open(data).load(1).frames[5]).all() and info["context"] == {}
    with pytest.raises(ValueError, match="exactly one"):
        WorldModelEnv(tiny_run, generator=gen)


def test_text_reward() -> None:
    assert text_reward("scored a point; lost 2 points") == -1.0
    assert text_reward("Scored 3 points") == 3.0
    assert text_reward("move paddle up") == 0.0
