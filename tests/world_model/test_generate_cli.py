"""``tv2tv generate``: video + transcript from a random-weight exported run."""

from __future__ import annotations

import json

import imageio.v2 as iio
import pytest
import torch

from tv2tv.cli import main
from tv2tv.envs.runner import episode_prefix
from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.checkpoint import export_world_model
from tv2tv.world_model.data import resolve_config
from tv2tv.world_model.generate import parse_context_spec
from tv2tv.world_model.mot import MoT


@pytest.fixture
def run_dir(tmp_path, tiny_cfg, synthetic_store):
    meta = EpisodeStore.open(synthetic_store).meta
    cfg = resolve_config(tiny_cfg, meta)
    torch.manual_seed(0)
    export_world_model(MoT(cfg.model), cfg, tmp_path / "run", meta)
    return tmp_path / "run"


def test_generate_writes_video_and_transcript(run_dir, synthetic_store, tmp_path) -> None:
    out = tmp_path / "out" / "roll.mp4"
    code = main(["generate", "--ckpt", str(run_dir), "--context", f"{synthetic_store}:1:5", "--frames", "4",
                 "--interventions", "2: move up", "--seed", "1", "--out", str(out),
                 "--ode-steps", "1", "--max-text-tokens", "2", "--context-frames", "2"])
    assert code == 0
    frames = iio.mimread(out)
    assert len(frames) == 4
    doc = json.loads(out.with_suffix(".json").read_text())
    entries = doc["rollouts"][0]
    assert {"frame": 2, "text": "move up", "source": "user"} in entries
    assert any(e["source"] == "context" and e["frame"] < 0 for e in entries)
    assert doc["info"]["interventions"] == [{"frame": 2, "text": "move up"}]


def test_generate_errors_are_clean(run_dir, synthetic_store, tmp_path, capsys) -> None:
    args = ["generate", "--ckpt", str(run_dir), "--frames", "4", "--out", str(tmp_path / "x.mp4")]
    assert main([*args, "--context", f"{synthetic_store}:99"]) == 2
    assert "episode 99" in capsys.readouterr().err
    assert main([*args, "--context", str(synthetic_store), "--interventions", "x: up"]) == 2
    assert "entry 0" in capsys.readouterr().err


def test_context_spec_and_prefix(synthetic_store) -> None:
    assert parse_context_spec("a:b/c") == ("a:b/c", 0, None)
    assert parse_context_spec("d:2") == ("d", 2, None)
    ep = EpisodeStore.open(synthetic_store).load(0)
    pre = episode_prefix(ep, 6, 3)
    assert pre.frames.shape[0] == 3 and (pre.frames[0] == ep.frames[4]).all()
    assert [e.frame for e in pre.text_events] == [e.frame - 4 for e in ep.text_events if 4 <= e.frame <= 6]
    with pytest.raises(ValueError, match="outside"):
        episode_prefix(ep, 99, 3)
