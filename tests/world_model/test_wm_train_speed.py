"""``tv2tv bench train``: measures both models and prints a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from tv2tv.benchmarks.train_speed import measure
from tv2tv.cli import main
from tv2tv.config import build_config
from tv2tv.world_model.config import TrainConfig

SMALL = ["model.dim=32", "model.depth=1", "model.heads=2", "data.batch_size=2", "sequence.window_frames=4",
         "sequence.patch=8"]


def test_measure_reports_mot_and_dense() -> None:
    res = measure(build_config(TrainConfig, "tiny", SMALL), steps=1, warmup=0, frame_size=32,
                  accelerator="cpu", precision="32-true")
    assert res["frames_per_step"] == 2 * 4 and res["tokens_per_step"] > 2 * 4 * 16
    assert res["mot"]["params"] > res["dense"]["params"]      # two towers per layer
    for name in ("mot", "dense"):
        r = res[name]
        assert r["step_s"] > 0 and r["tokens_per_s"] == pytest.approx(res["tokens_per_step"] / r["step_s"])
    assert res["mot_over_dense"] == pytest.approx(res["mot"]["step_s"] / res["dense"]["step_s"])


def test_bench_train_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.json"
    assert main(["bench", "train", "--steps", "1", "--warmup", "0", "--frame-size", "32",
                 "--accelerator", "cpu", "--precision", "32-true", "--json", str(out), *SMALL]) == 0
    assert "MoT / dense step time" in capsys.readouterr().out and out.is_file()
    assert main(["bench", "train", "--steps", "0", *SMALL]) == 2
