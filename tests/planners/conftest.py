"""A tiny random-weight world-model run on synthetic data, for env and play tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tv2tv.config import build_config
from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.checkpoint import export_world_model
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.data import resolve_config
from tv2tv.world_model.mot import MoT
from tv2tv.world_model.synthetic import write_synthetic_store


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run/`` with a random dim-32 model (16x16 frames, 2-frame chunks) whose data.path is a
    synthetic store of 3 episodes."""
    root = tmp_path_factory.mktemp("wm")
    store = write_synthetic_store(root / "data", n=3, steps=10, size=16, seed=0)
    cfg = build_config(TrainConfig, None, ["model.dim=32", "model.depth=2", "model.heads=2",
                                           "sequence.frames_per_chunk=2", "sequence.patch=8",
                                           f"data.path={store}"])
    meta = EpisodeStore.open(store).meta
    cfg = resolve_config(cfg, meta)
    torch.manual_seed(0)
    export_world_model(MoT(cfg.model), cfg, root / "run", meta)
    return root / "run"
