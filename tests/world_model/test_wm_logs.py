"""Logs a user can read (issue 16): no Lightning adverts, device lines or stray warnings on the
console of a training, warnings that matter still shown, and ``--logger tensorboard``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import tv2tv.world_model.logs as logs
from tv2tv.cli import main
from tv2tv.world_model.logs import quiet_lightning
from tv2tv.world_model.train import LaunchConfig, train

# A 2-step run; log_every_steps=10 > 2 batches makes Lightning warn (a warning that must stay).
SMALL = ["model.dim=32", "model.depth=1", "model.heads=2", "sequence.patch=8", "sequence.window_frames=4",
         "data.batch_size=2", "log_every_steps=10", "precision=auto"]
NOISE = ["Tip:", "litlogger", "LeafSpec", "GPU available", "TPU available",
         "not supported by the model summary", "Epoch 0/-2", "v_num"]


def test_train_console_shows_no_lightning_noise(synthetic_store: Path, tmp_path: Path) -> None:
    """The user's view: a real ``tv2tv train`` process with its progress bar and model summary
    (precision=auto is bf16-mixed on CPUs with fast bfloat16, which made the summary warn)."""
    cmd = [sys.executable, "-m", "tv2tv.cli", "train", "--data", str(synthetic_store), "--out",
           str(tmp_path / "run"), "--accelerator", "cpu", "--max-steps", "2", *SMALL]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert [n for n in NOISE if n in out] == [], out
    assert "Training" in out                                    # the progress bar, labelled by step
    assert "`Trainer.fit` stopped" in out                       # Lightning's other info lines stay
    assert "smaller than the logging interval" in out           # and its other warnings


def test_quiet_lightning_drops_only_the_named_lines_and_warnings() -> None:
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    seen: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())    # type: ignore[method-assign]
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    leaf = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with quiet_lightning():
                for line in ("💡 Tip: try litlogger", "GPU available: False, used: False",
                             "Restoring states"):
                    log.info(line)
                warnings.warn_explicit(leaf, FutureWarning, "_pytree.py", 21,
                                       module="lightning.pytorch.utilities._pytree")
                # not Lightning's
                warnings.warn_explicit(leaf, FutureWarning, "mine.py", 1, module="tv2tv.mine")
                for precision in ("bf16-mixed", "transformer-engine"):      # mixed: weights are float32
                    warnings.warn_explicit(f"Precision {precision} is not supported by the model summary.",
                                           UserWarning, "model_summary.py", 242)
            log.info("💡 Tip: after the block")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert seen == ["Restoring states", "💡 Tip: after the block"]
    assert [(str(w.message)[:30], w.filename) for w in caught] == [
        (leaf[:30], "mine.py"), ("Precision transformer-engine i", "model_summary.py")]
    assert logs._keep_line not in log.filters


def test_tensorboard_logger_missing_is_one_clear_line(make_cfg, synthetic_store: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(logs, "tensorboard_available", lambda: False)
    run = tmp_path / "tb"
    argv = ["train", "--data", str(synthetic_store), "--out", str(run), "--logger", "tensorboard", *SMALL]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pip install tensorboard" in err, err
    assert not run.exists()                                     # checked before anything is written
    with pytest.raises(ValueError, match="logger must be one of csv, tensorboard; got 'wandb'"):
        train(make_cfg(synthetic_store), run, LaunchConfig(logger="wandb"))


@pytest.mark.skipif(not logs.tensorboard_available(), reason="needs tensorboard or tensorboardX")
def test_tensorboard_logger_writes_event_files(make_cfg, synthetic_store: Path, tmp_path: Path) -> None:
    cfg = make_cfg(synthetic_store, "max_steps=2", "sequence.window_frames=4", "data.batch_size=2")
    run = train(cfg, tmp_path / "run", LaunchConfig(accelerator="cpu", progress=False, logger="tensorboard"))
    events = list((run / "logs").glob("version_0/events.out.tfevents.*"))
    assert len(events) == 1 and b"train/loss" in events[0].read_bytes()
    assert not list((run / "logs").glob("*/metrics.csv"))
