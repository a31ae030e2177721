"""Inverse-dynamics model (IDM): which action turned frame ``t`` into frame ``t + 1``?

Where the game's state cannot be cloned (MineRL data) there is no real-game ground truth for a
generated future, so DESIGN.md ("Controllability") scores the *action* a generated clip shows: a
small CNN trained on real consecutive frames labels the generated ones, and its accuracy there
is reported beside its accuracy on real held-out frames (the ceiling; MineWorld reports IDM
scores the same way). The benchmark reports it for every game as a secondary scorer.

Legend: N pairs, H x W frames, C = 3 colours; the network sees ``(f_t, f_t+1, f_t+1 - f_t)``
stacked on channels, ``(N, 3C, H, W)``.

Example:
    >>> idm = train_idm(EpisodeStore.open("data/pong"), steps=300, seed=0)   # doctest: +SKIP
    >>> idm.heldout_accuracy, idm.accuracy(pairs, actions)                   # doctest: +SKIP
    (0.71, 0.64)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tv2tv.types import Episode


@dataclass(frozen=True)
class IDMConfig:
    """The IDM and its training.

    Args:
        channels: width of the first conv layer (doubled in later ones).
        hidden: width of the classifier's hidden layer.
        steps: optimiser steps; ``batch_size``, ``lr`` as usual.
        holdout: share of real pairs kept out of training to measure the IDM itself.
    """

    channels: int = 32
    hidden: int = 128
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    holdout: float = 0.2


class IDMNet(nn.Module):
    """Three strided convs, global pooling, an MLP head over ``n_actions``."""

    def __init__(self, n_actions: int, cfg: IDMConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.body = nn.Sequential(
            nn.Conv2d(9, c, 4, stride=2, padding=1), nn.GELU(),          # (N, c, H/2, W/2)
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.GELU(),      # (N, 2c, H/4, W/4)
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.GELU(),  # (N, 2c, H/8, W/8)
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),                       # (N, 32c)
        )
        self.head = nn.Sequential(nn.Linear(32 * c, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, n_actions))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, 2, H, W, C)`` -> logits ``(N, n_actions)``."""
        x = pairs.float().div(255.0).permute(0, 1, 4, 2, 3)             # (N, 2, C, H, W)
        a, b = x[:, 0], x[:, 1]                                          # (N, C, H, W)
        return self.head(self.body(torch.cat([a, b, b - a], dim=1)))


class IDM:
    """A trained inverse-dynamics model.

    Attributes:
        n_actions: size of the Discrete action space; ``frame_shape`` ``(H, W, C)`` it was
            trained on; ``heldout_accuracy`` its accuracy on real held-out pairs.
    """

    def __init__(self, net: IDMNet, cfg: IDMConfig, n_actions: int, frame_shape: tuple[int, int, int],
                 heldout_accuracy: float | None = None) -> None:
        self.net, self.cfg, self.n_actions = net.eval(), cfg, n_actions
        self.frame_shape = tuple(frame_shape)
        self.heldout_accuracy = heldout_accuracy

    @torch.no_grad()
    def predict(self, pairs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Actions for ``uint8 (N, 2, H, W, C)`` frame pairs, ``int64 (N,)``."""
        if pairs.ndim != 5 or pairs.shape[1] != 2 or tuple(pairs.shape[2:]) != self.frame_shape:
            raise ValueError(f"pairs must be (N, 2, {', '.join(map(str, self.frame_shape))}), got {pairs.shape}")
        out = [self.net(torch.from_numpy(pairs[i:i + batch_size])).argmax(1).numpy()
               for i in range(0, len(pairs), batch_size)]
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def accuracy(self, pairs: np.ndarray, actions: np.ndarray) -> float:
        """Share of pairs whose predicted action is ``actions`` (``(N,)`` ints)."""
        if len(pairs) != len(actions) or len(pairs) == 0:
            raise ValueError(f"need as many actions as pairs (> 0), got {len(actions)} and {len(pairs)}")
        return float((self.predict(pairs) == np.asarray(actions).astype(np.int64)).mean())

    def save(self, path: str | Path) -> None:
        """Weights and settings in one safetensors file (settings in its metadata)."""
        meta = {"config": asdict(self.cfg), "n_actions": self.n_actions,
                "frame_shape": list(self.frame_shape), "heldout_accuracy": self.heldout_accuracy}
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(path),
                  metadata={"tv2tv_idm": json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> IDM:
        """Inverse of :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("tv2tv_idm")
        if raw is None:
            raise ValueError(f"{path} is not a tv2tv IDM file (no 'tv2tv_idm' metadata)")
        meta = json.loads(raw)
        cfg = IDMConfig(**meta["config"])
        net = IDMNet(meta["n_actions"], cfg)
        net.load_state_dict(load_file(str(path)))
        return cls(net, cfg, meta["n_actions"], tuple(meta["frame_shape"]), meta["heldout_accuracy"])


def episode_pairs(ep: Episode) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive frame pairs and the action between them: ``(T, 2, H, W, C)``, ``(T,)``."""
    if ep.actions.ndim != 1:
        raise ValueError(f"the IDM needs one integer action per step, got actions of shape {ep.actions.shape}")
    pairs = np.stack([ep.frames[:-1], ep.frames[1:]], axis=1)             # (T, 2, H, W, C)
    return pairs, ep.actions.astype(np.int64)


def _split(episodes: Sequence[Episode], holdout: float) -> tuple[list[Episode], list[Episode], bool]:
    """Hold out whole episodes when there are several, else the end of the only one."""
    if len(episodes) >= 2:
        n_out = min(len(episodes) - 1, max(1, round(holdout * len(episodes))))
        return list(episodes[:-n_out]), list(episodes[-n_out:]), True
    return list(episodes), [], False


def _stack(episodes: Iterable[Episode]) -> tuple[np.ndarray, np.ndarray]:
    parts = [episode_pairs(e) for e in episodes if e.num_steps > 0]
    if not parts:
        raise ValueError("no steps to train the inverse-dynamics model on")
    return np.concatenate([p for p, _ in parts]), np.concatenate([a for _, a in parts])


def train_idm(episodes: Iterable[Episode], steps: int | None = None, seed: int = 0,
              n_actions: int | None = None, cfg: IDMConfig = IDMConfig()) -> IDM:
    """Train an IDM on real episodes (e.g. an ``EpisodeStore``), keeping some out to score it.

    Args:
        episodes: real episodes with integer actions, all of one frame shape.
        steps: optimiser steps (overrides ``cfg.steps``); ``seed`` seeds init and batches.
        n_actions: size of the Discrete action space; by default read from the store's
            ``dataset.json`` (``episodes`` is an ``EpisodeStore``).

    Returns:
        The trained :class:`IDM` with ``heldout_accuracy`` measured on held-out real pairs.

    Example:
        >>> idm = train_idm(EpisodeStore.open("data/pong"), steps=200, seed=0)   # doctest: +SKIP
    """
    n_actions = _n_actions(episodes) if n_actions is None else n_actions
    eps = list(episodes)
    if not 0.0 < cfg.holdout < 1.0:
        raise ValueError(f"holdout must be in (0, 1), got {cfg.holdout}")
    train_eps, test_eps, by_episode = _split(eps, cfg.holdout)
    pairs, actions = _stack(train_eps)
    if by_episode:
        test_pairs, test_actions = _stack(test_eps)
    else:  # one episode: its last steps are the held-out part
        cut = max(1, int(len(pairs) * (1 - cfg.holdout)))
        pairs, test_pairs, actions, test_actions = pairs[:cut], pairs[cut:], actions[:cut], actions[cut:]
    if actions.min() < 0 or actions.max() >= n_actions:
        raise ValueError(f"actions must lie in 0..{n_actions - 1}, got {actions.min()}..{actions.max()}")
    torch.manual_seed(seed)
    net = IDMNet(n_actions, cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(seed)
    x, y = torch.from_numpy(pairs), torch.from_numpy(actions)
    for _ in range(cfg.steps if steps is None else steps):
        idx = torch.from_numpy(rng.integers(0, len(x), min(cfg.batch_size, len(x))))
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    idm = IDM(net, cfg, n_actions, pairs.shape[2:])
    idm.heldout_accuracy = idm.accuracy(test_pairs, test_actions) if len(test_pairs) else None
    return idm


def _n_actions(episodes: object) -> int:
    space = getattr(getattr(episodes, "meta", None), "action_space", None)
    if not isinstance(space, dict):
        raise ValueError("pass n_actions: the episodes are not an EpisodeStore with an action space")
    if space.get("type") != "Discrete":
        raise ValueError(f"the IDM needs a Discrete action space, the store has {space}")
    return int(space["n"])


def future_pairs(context_last: np.ndarray, future: np.ndarray) -> np.ndarray:
    """Pairs along one future starting from the branch frame: ``(horizon, 2, H, W, C)``."""
    frames = np.concatenate([context_last[None], future])                 # (1 + horizon, H, W, C)
    return np.stack([frames[:-1], frames[1:]], axis=1)


def collect_episodes(env_name: str, policy: str = "random", steps: int = 2000, seed: int = 0,
                     frame_size: int = 64, frameskip: int = 4, max_len: int = 500) -> list[Episode]:
    """Play ``steps`` real steps with a collection policy, as episodes of at most ``max_len`` steps.

    For training an IDM when no recorded store is at hand. Text is not recorded (the IDM needs
    frames and actions only).

    Example:
        >>> eps = collect_episodes("ALE/Pong-v5", "random", steps=100, seed=0)   # doctest: +SKIP
    """
    from tv2tv.envs.registry import make_env
    from tv2tv.recorders.policies import make_policy

    env = make_env(env_name, frame_size=frame_size, frameskip=frameskip, seed=seed)
    player = make_policy(policy, env, seed=seed)
    episodes: list[Episode] = []
    frames, actions, ended = [env.reset(seed=seed)[0]], [], False
    for t in range(steps):
        actions.append(player(frames[-1]))
        obs, _, terminated, truncated, _ = env.step(actions[-1])
        frames.append(obs)
        ended = terminated or truncated
        if ended or len(actions) == max_len or t == steps - 1:
            episodes.append(Episode(np.stack(frames).astype(np.uint8), np.asarray(actions),
                                    np.zeros(len(actions), np.float32), bool(terminated), not terminated,
                                    env=env_name, seed=seed))
            frames, actions = [env.reset(seed=seed + len(episodes))[0] if ended else obs], []
    env.close()
    return episodes
