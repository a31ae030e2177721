"""Agent in the loop: train a policy entirely inside the world model, test it in the real game.

The agent is Stable-Baselines3's PPO (``pip install 'tv2tv[rl]'``; it installs with the pinned
torch). It never sees the real game while it learns: ``WorldModelEnv`` (``action`` mode, so the
agent picks the game's discrete actions, turned into the texter's phrases) starts every episode
from a window of real context and rewards the captions the model writes ("scored a point" +1,
"lost a point" -1), as DIAMOND and IRIS train agents in imagination. Observations are the frame
downsampled to ``obs_size`` and flattened (``SmallObs``), so a small MLP policy suffices. The
trained policy is then played in the real game (``tv2tv.envs.make_env``, same frames and
frameskip as the model) and compared with a random policy on the same seeds; its return inside
the world model is reported too, so the gap between imagination and reality is visible.

Contexts are real episodes: a store (``--contexts DATA``, e.g. the model's training data), or,
by default, a few episodes of the real game played at random.

Example:
    $ python -m tv2tv.benchmarks.agent_in_the_loop --ckpt runs/pong-tiny --timesteps 4096 \\
          --eval-episodes 3 --out runs/agent-pong
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table


@dataclass
class AgentLoopConfig:
    """One agent-in-the-loop run.

    Args:
        ckpt: the world-model run. env: the real game (default: the model's training env).
        contexts: a store of real episodes for ``WorldModelEnv.reset`` (default: ``context_episodes``
            random-play episodes of ``context_steps`` steps).
        timesteps: PPO steps inside the world model. n_steps, batch_size, n_epochs, learning_rate: PPO.
        wm_episode_steps: world-model steps per training episode. context_frames: real frames per reset.
        eval_episodes: real-game (and world-model) evaluation episodes. max_steps: real steps per episode.
        obs_size: side of the downsampled observation. seed: everything is seeded from it.
        ode_steps, max_text_tokens: the world model's sampling (speed vs quality).
    """

    ckpt: str
    env: str | None = None
    contexts: str | None = None
    context_episodes: int = 2
    context_steps: int = 64
    timesteps: int = 2048
    n_steps: int = 128
    batch_size: int = 64
    n_epochs: int = 4
    learning_rate: float = 3e-4
    wm_episode_steps: int = 64
    context_frames: int = 4
    eval_episodes: int = 3
    max_steps: int = 500
    obs_size: int = 16
    seed: int = 0
    ode_steps: int = 4
    max_text_tokens: int = 24
    device: str = "cpu"

    def validate(self) -> None:
        for name in ("context_episodes", "context_steps", "timesteps", "n_steps", "batch_size", "n_epochs",
                     "wm_episode_steps", "context_frames", "eval_episodes", "max_steps", "obs_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_steps < 2:
            raise ValueError(f"n_steps must be >= 2 (PPO normalizes advantages over a rollout), "
                             f"got {self.n_steps}")


class SmallObs(gym.ObservationWrapper):
    """Frames ``uint8 (H, W, 3)`` -> ``float32 (size * size * 3,)`` in [0, 1] (area resize)."""

    def __init__(self, env: gym.Env, size: int = 16) -> None:
        super().__init__(env)
        self.size = size
        self.observation_space = gym.spaces.Box(0.0, 1.0, (size * size * 3,), np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return small_obs(observation, self.size)


def small_obs(frame: np.ndarray, size: int) -> np.ndarray:
    """The ``SmallObs`` transform of one frame."""
    return (cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0).ravel()


def _require_sb3() -> Any:
    try:
        import stable_baselines3
    except ModuleNotFoundError as exc:
        if exc.name != "stable_baselines3":
            raise
        raise ValueError("the agent-in-the-loop example needs Stable-Baselines3: "
                         "pip install 'tv2tv[rl]'") from None
    return stable_baselines3


def random_contexts(env_name: str, meta: Any, episodes: int, steps: int, seed: int) -> list[Any]:
    """``episodes`` real episodes of ``steps`` random steps (frames and texter text), as contexts;
    ``env_name`` is built as the store ``meta`` recorded its game (``recorders.record.env_for``)."""
    from tv2tv.planners.act import play_policy
    from tv2tv.recorders.policies import make_policy
    from tv2tv.recorders.record import env_for

    env = env_for(meta, seed=seed, name=env_name)
    try:
        return [play_policy(env, make_policy("random", env, seed=seed + k), seed + k, steps).episode(env_name)
                for k in range(episodes)]
    finally:
        env.close()


def _wm_return(model: Any, env: gym.Env, episodes: int, seed: int) -> list[float]:
    out = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(model.predict(obs, deterministic=True)[0]))
            total += float(reward)
            done = terminated or truncated
        out.append(total)
    return out


def run_agent_loop(cfg: AgentLoopConfig, out: str | Path | None = None) -> dict[str, Any]:
    """Train PPO in ``WorldModelEnv``, evaluate it (and a random policy) in the real game.

    Returns:
        ``{"config", "world_model": {"returns"}, "real": {"ppo": [...], "random": [...]}, "summary"}``,
        real entries as ``planners.act.game_counts``. With ``out``: ``agent_loop.json`` and ``policy.zip``.
    """
    sb3 = _require_sb3()
    from tv2tv.envs.atari_texter import game_key
    from tv2tv.planners.act import game_counts, play_policy
    from tv2tv.planners.world_model_env import WorldModelEnv
    from tv2tv.recorders.policies import make_policy
    from tv2tv.recorders.record import env_for
    from tv2tv.world_model.generate import Generator
    from tv2tv.world_model.rollout_model import SamplingConfig

    cfg.validate()
    gen = Generator.from_run(cfg.ckpt,
                             SamplingConfig(ode_steps=cfg.ode_steps, max_text_tokens=cfg.max_text_tokens),
                             device=cfg.device)
    meta = gen.meta
    env_name = cfg.env or meta.env
    contexts = cfg.contexts or random_contexts(env_name, meta, cfg.context_episodes, cfg.context_steps,
                                               cfg.seed)
    real = env_for(meta, seed=cfg.seed, name=env_name)
    wm = WorldModelEnv(generator=gen, contexts=contexts, action_mode="action",
                       context_frames=cfg.context_frames, max_steps=cfg.wm_episode_steps)
    if wm.action_space != real.action_space:
        raise ValueError(f"the world model's actions {wm.action_space} "
                         f"differ from {env_name}'s {real.action_space}")
    train_env = SmallObs(wm, cfg.obs_size)
    model = sb3.PPO("MlpPolicy", train_env, n_steps=cfg.n_steps, batch_size=min(cfg.batch_size, cfg.n_steps),
                    n_epochs=cfg.n_epochs, learning_rate=cfg.learning_rate, seed=cfg.seed, device="cpu",
                    verbose=0, policy_kwargs={"net_arch": [64, 64]})
    # SB3's default logger makes an empty SB3-<date> folder in the temp dir per run; log nowhere.
    from stable_baselines3.common.logger import Logger
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.learn(total_timesteps=cfg.timesteps)
    game = game_key(env_name) if env_name.startswith("ALE/") else None
    results: dict[str, Any] = {
        "config": asdict(cfg) | {"contexts": cfg.contexts or "random play"}, "env": env_name,
        "world_model": {"returns": _wm_return(model, train_env, cfg.eval_episodes, cfg.seed)},
        "real": {"ppo": [], "random": []}}
    try:
        for k in range(cfg.eval_episodes):
            seed = cfg.seed + 1000 + k
            agent = play_policy(
                real, lambda f: int(model.predict(small_obs(f, cfg.obs_size), deterministic=True)[0]),
                seed, cfg.max_steps)
            rand = play_policy(real, make_policy("random", real, seed=seed), seed, cfg.max_steps)
            results["real"]["ppo"].append(game_counts(game, agent.rewards, agent.lives_lost))
            results["real"]["random"].append(game_counts(game, rand.rewards, rand.lives_lost))
    finally:
        real.close()
    results["summary"] = {
        "wm_return_mean": float(np.mean(results["world_model"]["returns"])),
        "real_return_mean": {who: float(np.mean([e["return"] for e in eps]))
                             for who, eps in results["real"].items()}}
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "agent_loop.json").write_text(json.dumps(results, indent=2))
        model.save(Path(out) / "policy.zip")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tv2tv.benchmarks.agent_in_the_loop",
                                description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, metavar="RUN")
    p.add_argument("--env", help="the real game (default: the model's)")
    p.add_argument("--contexts", metavar="DATA", help="episode store of real contexts (default: random play)")
    p.add_argument("--timesteps", type=int, default=2048, help="PPO steps inside the world model")
    p.add_argument("--n-steps", type=int, default=128)
    p.add_argument("--wm-episode-steps", type=int, default=64)
    p.add_argument("--eval-episodes", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=500, help="real steps per evaluation episode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ode-steps", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", metavar="DIR")
    args = p.parse_args(argv)
    cfg = AgentLoopConfig(args.ckpt, env=args.env, contexts=args.contexts, timesteps=args.timesteps,
                          n_steps=args.n_steps, wm_episode_steps=args.wm_episode_steps,
                          eval_episodes=args.eval_episodes, max_steps=args.max_steps, seed=args.seed,
                          ode_steps=args.ode_steps, device=args.device)
    console = Console()
    try:
        res = run_agent_loop(cfg, args.out)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {exc}")
        return 2
    table = Table(title=f"PPO trained {cfg.timesteps} steps inside the world model, played in {res['env']}")
    for c in ("player", "return in world model", "real return (mean)"):
        table.add_column(c)
    table.add_row("ppo", f"{res['summary']['wm_return_mean']:.2f}",
                  f"{res['summary']['real_return_mean']['ppo']:.2f}")
    table.add_row("random", "-", f"{res['summary']['real_return_mean']['random']:.2f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
