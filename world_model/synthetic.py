"""Synthetic episodes for tests and benchmarks: a square that moves as its text says.

Action ``0`` waits, ``1`` moves the square up, ``2`` moves it down (``Discrete(3)``); the text
of each action ("wait", "move up", "move down") is placed on the frame that shows its effect,
as the texters do. Nothing is downloaded.

Example:
    >>> eps = synthetic_episodes(2, steps=12, size=32, seed=0)
    >>> eps[0].frames.shape, eps[0].text_events[0].text in ACTION_TEXT
    ((13, 32, 32, 3), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tv2tv.types import Episode, Phrase, TextEvent

if TYPE_CHECKING:
    from tv2tv.recorders.store import DatasetMeta
    from tv2tv.world_model.config import ModelConfig
    from tv2tv.world_model.mot import MoT

ACTION_TEXT = ("wait", "move up", "move down")
SYNTHETIC_ENV = "synthetic"


def _draw(size: int, y: int, x: int, side: int, color: np.ndarray) -> np.ndarray:
    frame = np.full((size, size, 3), 16, np.uint8)
    frame[y:y + side, x:x + side] = color
    return frame


def synthetic_episode(steps: int, size: int, rng: np.random.Generator, seed: int | None = None,
                      speed: int = 2, side: int = 8) -> Episode:
    """One episode of ``steps`` sticky-random actions on ``size x size`` RGB frames."""
    if size < side:
        raise ValueError(f"size must be >= the square side {side}, got {size}")
    y, x = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
    color = rng.integers(96, 256, size=3).astype(np.uint8)
    frames, actions, events = [_draw(size, y, x, side, color)], [], []
    action = int(rng.integers(0, 3))
    for t in range(steps):
        if rng.random() < 0.3:
            action = int(rng.integers(0, 3))
        y = int(np.clip(y + (0, -speed, speed)[action], 0, size - side))
        frames.append(_draw(size, y, x, side, color))
        actions.append(action)
        events.append(TextEvent(t + 1, ACTION_TEXT[action], "action"))
    return Episode(frames=np.stack(frames), actions=np.asarray(actions, np.int64),
                   rewards=np.zeros(steps, np.float32), terminated=False, truncated=True,
                   text_events=tuple(events), seed=seed, env=SYNTHETIC_ENV)


def synthetic_episodes(n: int, steps: int = 24, size: int = 32, seed: int = 0) -> list[Episode]:
    """``n`` seeded synthetic episodes."""
    rng = np.random.default_rng(seed)
    return [synthetic_episode(steps, size, rng, seed=seed * 1000 + i) for i in range(n)]


def write_synthetic_store(root: str | Path, n: int, steps: int = 24, size: int = 32, seed: int = 0,
                          env: str = SYNTHETIC_ENV) -> Path:
    """Write ``n`` synthetic episodes into a new episode store at ``root``; returns ``root``.

    ``env`` names the game in ``dataset.json`` and the episodes (another name makes a store that
    a model trained on the default one must refuse, for tests).
    """
    from dataclasses import replace

    import gymnasium

    from tv2tv.recorders.store import DatasetMeta, EpisodeStore, describe_space

    meta = DatasetMeta(env=env, frame_shape=(size, size, 3),
                       action_space=describe_space(gymnasium.spaces.Discrete(3)),
                       texter="synthetic", texter_version="1")
    store = EpisodeStore.create(root, meta)
    for ep in synthetic_episodes(n, steps, size, seed):
        store.write(replace(ep, env=env))
    return Path(root)


def random_model(model_cfg: ModelConfig, seed: int = 0, zero_init_std: float = 0.0) -> MoT:
    """A random-weight ``MoT`` in eval mode, for tests and speed benchmarks.

    Args:
        model_cfg: a resolved ``ModelConfig``.
        seed: seeds ``torch`` before the weights are drawn.
        zero_init_std: when > 0, the layers that start at zero (adaLN-Zero gates, the video head)
            are drawn from ``N(0, std)`` too. Freshly initialised, those gates hide the context from
            the frames; tests that check that text, actions or context change a rollout need this.
    """
    import torch

    from tv2tv.world_model.mot import MoT

    torch.manual_seed(seed)
    model = MoT(model_cfg)
    if zero_init_std > 0:
        with torch.no_grad():
            for p in model.parameters():
                if bool((p == 0).all()):
                    p.normal_(0.0, zero_init_std)
    return model.eval()


def export_random_run(meta: DatasetMeta, out: str | Path, overrides: Sequence[str] = (), seed: int = 0,
                      zero_init_std: float = 0.0, preset: str | None = None) -> Path:
    """Export a random-weight model (``random_model``) for data described by ``meta`` to ``out``.

    The run loads like a trained one (``load_world_model``, ``Generator.from_run``); for tests
    and smoke runs of the benchmarks. ``overrides`` are config ``KEY=VALUE`` strings on top of
    ``preset`` (e.g. ``data.path=...`` so the run knows its store).

    Example:
        >>> meta = EpisodeStore.open("data/s").meta                                # doctest: +SKIP
        >>> export_random_run(meta, "runs/random", ["model.dim=32"])               # doctest: +SKIP
    """
    from tv2tv.config import build_config
    from tv2tv.world_model.checkpoint import export_world_model
    from tv2tv.world_model.config import TrainConfig
    from tv2tv.world_model.data import resolve_config

    cfg = resolve_config(build_config(TrainConfig, preset, list(overrides)), meta)
    export_world_model(random_model(cfg.model, seed, zero_init_std), cfg, out, meta)
    return Path(out)


class SyntheticTexter:
    """The texter of ``world_model.synthetic`` episodes: one phrase per step."""

    name, version = "synthetic", "1"

    def __init__(self) -> None:
        self._phrases = list(ACTION_TEXT)

    def reset(self, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        return []

    def describe(self, prev_obs: Any, action: Any, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        return [Phrase(self.action_text(action))]

    def action_text(self, action: Any) -> str:
        return self._phrases[int(action)]

    def parse(self, text: str) -> int:
        return self._phrases.index(" ".join(text.lower().split()))

    def action_phrases(self) -> list[str]:
        return list(self._phrases)
