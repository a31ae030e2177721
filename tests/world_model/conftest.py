"""Shared fixtures for world-model tests (reused by rollout and benchmark tests).

``synthetic_store`` is an episode store of moving squares whose direction the text names
("move up", "move down", "wait"); ``tiny_cfg`` is a matching small ``TrainConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tv2tv.config import build_config
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.synthetic import write_synthetic_store

TINY_OVERRIDES = [
    "model.dim=32", "model.depth=2", "model.heads=2",
    "sequence.frames_per_chunk=2", "sequence.window_frames=6", "sequence.patch=8",
    "data.batch_size=4", "data.val_fraction=0.25", "max_steps=20", "val_every_steps=10",
    "ckpt_every_steps=10", "log_every_steps=1", "val_batches=1", "precision=32-true",
    "optim.warmup_steps=5", "flow.sample_steps=2",
]


def make_cfg(store: Path | str, *overrides: str) -> TrainConfig:
    """A tiny config (dim 32, depth 2, 32x32 frames) on ``store``, plus ``overrides``."""
    return build_config(TrainConfig, None, [*TINY_OVERRIDES, f"data.path={store}", *overrides])


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 episodes of 16 steps, 32x32 RGB, Discrete(3) actions, one text per step."""
    return write_synthetic_store(tmp_path_factory.mktemp("store") / "synthetic", n=8, steps=16, size=32,
                                 seed=0)


@pytest.fixture(name="make_cfg")
def make_cfg_fixture() -> Callable[..., TrainConfig]:
    """``make_cfg(store, *overrides)`` (test modules cannot import conftest under importlib mode)."""
    return make_cfg


@pytest.fixture
def tiny_cfg(synthetic_store: Path) -> TrainConfig:
    return make_cfg(synthetic_store)
