"""Agent in the loop: PPO trained inside a tiny random-weight Pong world model, played in real Pong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tv2tv.benchmarks.agent_in_the_loop import AgentLoopConfig, SmallObs, main, run_agent_loop, small_obs
from tv2tv.benchmarks.planning import random_world_model

pytest.importorskip("stable_baselines3")  # the `rl` extra (also in `dev`)

TINY = ["model.dim=32", "model.depth=2", "model.heads=2", "sequence.frames_per_chunk=2", "sequence.patch=8"]


@pytest.fixture(scope="module")
def pong_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_world_model("ALE/Pong-v5", tmp_path_factory.mktemp("agent") / "run", frame_size=16,
                              preset=None, overrides=TINY)


def test_ppo_trains_in_the_world_model_and_plays_the_real_game(pong_run: Path, tmp_path: Path) -> None:
    cfg = AgentLoopConfig(str(pong_run), context_episodes=1, context_steps=8, timesteps=8, n_steps=4,
                          batch_size=4, n_epochs=1, wm_episode_steps=3, eval_episodes=1, max_steps=20,
                          obs_size=8, ode_steps=1, max_text_tokens=2)
    res = run_agent_loop(cfg, tmp_path)
    assert res["env"] == "ALE/Pong-v5"
    assert len(res["world_model"]["returns"]) == 1
    for who in ("ppo", "random"):
        assert res["real"][who][0]["steps"] == 20 and "points_lost" in res["real"][who][0]
    assert (tmp_path / "policy.zip").is_file()
    summary = json.loads((tmp_path / "agent_loop.json").read_text())["summary"]
    assert summary["real_return_mean"].keys() == {"ppo", "random"}


def test_small_obs_and_bad_config(pong_run: Path) -> None:
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[:8] = 255
    obs = small_obs(frame, 4)
    assert obs.shape == (48,) and obs.dtype == np.float32 and obs.max() == 1.0 and obs.min() == 0.0
    from tv2tv.envs.registry import make_env

    wrapped, _ = SmallObs(make_env("ALE/Pong-v5", frame_size=16), 4).reset(seed=0)
    assert wrapped.shape == (48,) and wrapped.dtype == np.float32
    with pytest.raises(ValueError, match="timesteps must be >= 1, got 0"):
        run_agent_loop(AgentLoopConfig(str(pong_run), timesteps=0))
    assert main(["--ckpt", str(pong_run / "missing")]) == 2
