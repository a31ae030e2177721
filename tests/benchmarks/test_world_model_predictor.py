"""A trained-run directory as a controllability model: shapes, interventions, compatibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tv2tv.benchmarks.controllability import run_controllability
from tv2tv.benchmarks.models import Branch, Script, WorldModelPredictor, load_predictor
from tv2tv.config import build_config
from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.data import resolve_config
from tv2tv.world_model.synthetic import random_model


def _branch(frames: int = 6, size: int = 16) -> Branch:
    rng = np.random.default_rng(0)
    scripts = (Script("up", ((0, "move paddle up"),), np.array([2, 2, 2])),
               Script("down", ((0, "move paddle down"),), np.array([3, 3, 3])))
    return Branch(env="ALE/Pong-v5", index=0, episode_seed=0, frame=frames - 1, context_start=0,
                  context_frames=rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8),
                  context_actions=np.zeros(frames - 1, np.int64), context_events=(), scripts=scripts,
                  truth=np.zeros((2, 3, size, size, 3), np.uint8))


def test_predict_shape_and_intervention_text_changes_the_future(pong_run: Path) -> None:
    pred = load_predictor(str(pong_run), "tv2tv")
    assert isinstance(pred, WorldModelPredictor)
    assert pred.env == "ALE/Pong-v5" and pred.frame_shape == (16, 16, 3)
    branch = _branch()
    out = pred.predict(branch, list(branch.scripts), horizon=3, seed=0)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 16, 16, 3)
    again = pred.predict(branch, list(branch.scripts), horizon=3, seed=0)
    np.testing.assert_array_equal(out, again)
    # Batch element b draws its noise from stream (seed, b): with "up" in both slots, slot 0 is
    # unchanged and slot 1 differs from the "down" future only through the intervention text.
    same_text = pred.predict(branch, [branch.scripts[0], branch.scripts[0]], horizon=3, seed=0)
    np.testing.assert_array_equal(same_text[0], out[0])
    assert not np.array_equal(same_text[1], out[1])


def test_benchmark_runs_a_run_directory_and_refuses_another_frame_size(pong_run: Path,
                                                                      tmp_path: Path) -> None:
    pred = load_predictor(str(pong_run), "tv2tv")
    res = run_controllability([pred], "ALE/Pong-v5", n_branches=1, horizon=2, suite="pong", seed=3,
                              out=tmp_path / "b", context_frames=4, frame_size=16, idm_steps=0, n_videos=1,
                              policy="random")
    assert set(res["models"]) == {"tv2tv", "copy-last"}
    assert len(res["models"]["tv2tv"]["psnr"]) == 2
    assert json.loads((tmp_path / "b" / "results.json").read_text())["models"]["tv2tv"]["n_branches"] == 1
    with pytest.raises(ValueError, match="frames"):
        run_controllability([pred], "ALE/Pong-v5", n_branches=1, horizon=2, suite="pong", seed=3,
                            out=tmp_path / "c", context_frames=4, frame_size=32, idm_steps=0, policy="random")


def test_action_id_run_is_rolled_out_with_the_script_actions(tmp_path: Path) -> None:
    """An action-id run gets each script's env actions (not its text): the same text with other
    actions gives another future, the same actions the same future."""
    from dataclasses import replace

    from tv2tv.world_model.generate import Generator
    from tv2tv.world_model.rollout_model import SamplingConfig
    from tv2tv.world_model.synthetic import write_synthetic_store

    store = EpisodeStore.open(write_synthetic_store(tmp_path / "data", n=1, steps=8, size=16))
    cfg = build_config(TrainConfig, None, ["model.dim=32", "model.depth=2", "model.heads=2",
                                           "sequence.frames_per_chunk=2", "sequence.patch=8",
                                           "variant=action-id"])
    cfg = resolve_config(cfg, store.meta)
    model = random_model(cfg.model, zero_init_std=0.05)   # zero-init gates would hide the actions
    gen = Generator(model, cfg, store.meta.frame_shape, SamplingConfig(ode_steps=2), store.meta)
    pred = WorldModelPredictor(gen, "action-id")
    branch = replace(_branch(size=16), env="synthetic")
    # Pong's up/down actions are 2/3; the synthetic game has actions 0..2, so map them into range.
    up, down = (replace(s, actions=np.array([a] * 3)) for s, a in zip(branch.scripts, (2, 1)))
    stay = Script("stay", up.steps, np.array([0, 0, 0]))       # "up"'s text, other actions
    a = pred.predict(branch, [up, up], horizon=3, seed=0)
    assert a.shape == (2, 3, 16, 16, 3) and a.dtype == np.uint8
    b = pred.predict(branch, [up, stay], horizon=3, seed=0)
    c = pred.predict(branch, [up, down], horizon=3, seed=0)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], b[1]) and not np.array_equal(b[1], c[1])
