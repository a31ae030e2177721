"""Fixtures of the benchmark tests: ``pong_run``, a random-weight world model of 16x16 Pong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tv2tv.benchmarks.planning import random_world_model


@pytest.fixture(scope="module")
def pong_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight dim-32 model for 16x16 Pong (no training needed here); its zero-initialised
    layers are random too, so the context and the text reach the frames."""
    return random_world_model("ALE/Pong-v5", tmp_path_factory.mktemp("pongwm") / "run", frame_size=16,
                              preset=None, zero_init_std=0.05,
                              overrides=["model.dim=32", "model.depth=2", "model.heads=2",
                                         "sequence.frames_per_chunk=2", "sequence.patch=8"])
