"""``tv2tv bench rollout`` runs end to end on a tiny random model (no timing asserts)."""

from __future__ import annotations

import json

from tv2tv.benchmarks.rollout_speed import pong_like_script, random_generator
from tv2tv.cli import main
from tv2tv.world_model.rollout_model import SamplingConfig

SMALL = ["model.dim=32", "model.depth=1", "model.heads=2"]


def test_random_generator_follows_the_preset() -> None:
    gen = random_generator("tiny", 16, SamplingConfig(ode_steps=1), SMALL)
    assert gen.cfg.model.dim == 32 and gen.codec.frame_shape == (16, 16, 3)
    assert gen.context_chunks == gen.cfg.sequence.chunks_per_window - 1


def test_pong_like_script() -> None:
    script = pong_like_script(20, 8)
    assert [(e.frame, e.text) for e in script] == [(0, "move paddle up"), (8, "move paddle down"),
                                                   (16, "move paddle up")]
    assert pong_like_script(20, 0) == []


def test_cli_reports_three_rollouts(tmp_path, monkeypatch) -> None:
    import tv2tv.benchmarks.rollout_speed as rs

    real = rs.random_generator
    monkeypatch.setattr(rs, "random_generator", lambda preset, size, s: real(preset, size, s, SMALL))
    out = tmp_path / "r.json"
    assert main(["bench", "rollout", "--frames", "4", "--frame-size", "16", "--ode-steps", "1",
                 "--threads", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r["rows"]) == {"cached, window", "cached, full", "uncached, full"}
    assert all(row["frames_per_s"] > 0 for row in r["rows"].values()) and r["speedup"] > 0
    assert r["frames"] == 4 and r["ode_steps"] == 1
