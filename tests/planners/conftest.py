"""A tiny random-weight world-model run on synthetic data, for env and play tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.synthetic import export_random_run, write_synthetic_store


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run/`` with a random dim-32 model (16x16 frames, 2-frame chunks) whose data.path is a
    synthetic store of 3 episodes."""
    root = tmp_path_factory.mktemp("wm")
    store = write_synthetic_store(root / "data", n=3, steps=10, size=16, seed=0)
    return export_random_run(EpisodeStore.open(store).meta, root / "run",
                             ["model.dim=32", "model.depth=2", "model.heads=2", "sequence.frames_per_chunk=2",
                              "sequence.patch=8", f"data.path={store}"])
