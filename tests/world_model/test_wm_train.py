"""Training runs: seeded identity, exact resume, export round trip, CLI errors, DDP."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tv2tv.cli import main
from tv2tv.world_model.checkpoint import load_world_model, read_weights
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.train import LaunchConfig, train

# Small enough for seconds per run on a loaded 2-core machine.
RUN = ["sequence.window_frames=4", "data.batch_size=2", "ckpt_every_steps=3", "val_every_steps=3",
       "max_steps=6", "optim.warmup_steps=2"]


def _losses(run: Path) -> dict[int, float]:
    """train/loss per step over every logger version of a run (a resume adds a version)."""
    out: dict[int, float] = {}
    for path in sorted((run / "logs").glob("version_*/metrics.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("train/loss"):
                    out[int(row["step"])] = float(row["train/loss"])
    return out


def _train(make_cfg, store: Path, run: Path, *overrides: str, resume: bool = False) -> Path:
    cfg = make_cfg(store, *RUN, *overrides)
    return train(cfg, run, LaunchConfig(accelerator="cpu", progress=False), resume=resume)


def _state(run: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a run's last.ckpt (the trained weights, and the average with optim.ema_decay)."""
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("ema", [(), ("optim.ema_decay=0.9",)], ids=["plain", "ema"])
def test_seeded_runs_are_identical_and_resume_continues_the_curve(make_cfg, synthetic_store: Path,
                                                                  tmp_path: Path,
                                                                  ema: tuple[str, ...]) -> None:
    a = _train(make_cfg, synthetic_store, tmp_path / "a", *ema)
    b = _train(make_cfg, synthetic_store, tmp_path / "b", *ema)
    la, lb = _losses(a), _losses(b)
    assert sorted(la) == list(range(6)) and la == lb
    sa, sb = _state(a), _state(b)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # 3 steps, then resume to 6 on the same schedule: the same curve and the same weights.
    c = tmp_path / "c"
    _train(make_cfg, synthetic_store, c, *ema, "max_steps=3", "optim.schedule_steps=6")
    assert sorted(_losses(c)) == [0, 1, 2]
    _train(make_cfg, synthetic_store, c, *ema, "max_steps=6", "optim.schedule_steps=6", resume=True)
    assert _losses(c) == la
    sa, sc = _state(a), _state(c)
    assert sorted(sa) == sorted(sc) and all(torch.equal(sa[k], sc[k]) for k in sa)
    assert any(k.startswith("ema.") for k in sa) == bool(ema)


def test_export_round_trip_and_load_errors(make_cfg, synthetic_store: Path, tmp_path: Path) -> None:
    # precision=auto: bf16-mixed autocast on CPUs with bf16 (the default training path)
    run = _train(make_cfg, synthetic_store, tmp_path / "run", "max_steps=2", "variant=no-text",
                 "precision=auto")
    assert ({"config.yaml", "config.json", "model.safetensors", "checkpoints", "logs"}
            <= {p.name for p in run.iterdir()})
    assert {"step=0.ckpt", "last.ckpt"} <= {p.name for p in (run / "checkpoints").iterdir()} or \
        (run / "checkpoints" / "last.ckpt").is_file()
    model, cfg = load_world_model(run, expect_variant="no-text")
    state, ckpt_cfg = read_weights(run / "checkpoints" / "last.ckpt")
    assert cfg == ckpt_cfg and cfg.variant == "no-text" and cfg.model.vocab_size > 0
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    from_ckpt, _ = load_world_model(run / "checkpoints" / "last.ckpt")
    assert all(torch.equal(v, from_ckpt.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="holds a 'no-text' model, but a 'text' model was asked for"):
        load_world_model(run, expect_variant="text")
    other = make_cfg(synthetic_store, "variant=no-text", "model.depth=3")
    with pytest.raises(ValueError, match="model.depth: expected 3, checkpoint has 2"):
        load_world_model(run, expect_config=other)
    doc = json.loads((run / "config.json").read_text())
    doc["config"]["model"]["dim"] = 48
    (run / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="do not fit its config"):
        load_world_model(run)


def test_words_are_learned_once_saved_with_the_run_and_used_by_its_rollouts(make_cfg, synthetic_store: Path,
                                                                           tmp_path: Path) -> None:
    words = ("sequence.text_words=3", "optim.schedule_steps=3")
    run = _train(make_cfg, synthetic_store, tmp_path / "words", "max_steps=2", *words)
    _, cfg = load_world_model(run, expect_variant="text")
    assert len(cfg.model.words) == 3 and cfg.model.vocab_size == 260 + 3   # the 3 most used of 4
    assert set(cfg.model.words) <= {"move", " up", " down", "wait"}
    gen = Generator.from_run(run)
    assert gen.tokenizer.words == cfg.model.words
    # a resume learns the same words from the same episodes and continues
    _train(make_cfg, synthetic_store, run, "max_steps=3", *words, resume=True)
    assert load_world_model(run)[1].model.words == cfg.model.words


def test_cli_trains_and_rejects_bad_input(synthetic_store: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "cli"
    base = ["train", "--data", str(synthetic_store), "--preset", "tiny", "--out", str(run), "--no-progress",
            "--accelerator", "cpu", "--max-steps", "2", "model.dim=32", "model.depth=1", "model.heads=2",
            "sequence.patch=8", *RUN[:2], "val_every_steps=1", "log_every_steps=1", "precision=32-true"]
    assert main(base) == 0
    assert (run / "model.safetensors").is_file()
    cases = [
        (base, "already holds a training run"),
        (["train", "--resume", str(run), "model.depth=3"], "cannot change ['model.depth']"),
        (["train", "--resume", str(tmp_path / "nope")], "has no config.yaml"),
        (["train", "--data", str(synthetic_store), "--out", str(tmp_path / "x"), "model.depht=3"],
         "unknown config key(s) ['model.depht']"),
        (["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "y")], "does not exist"),
        (["train", "--data", str(synthetic_store), "--out", str(tmp_path / "z"), "sequence.patch=64"],
         "smaller than one 64x64 patch"),
        (["train", "--out", str(tmp_path / "w")], "--data DIR"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        assert message in " ".join(capsys.readouterr().err.split()), argv
    # resuming may extend the run
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--no-progress",
                 "--accelerator", "cpu"]) == 0
    assert max(_losses(run)) == 2


@pytest.mark.slow
def test_two_process_ddp_on_cpu(synthetic_store: Path, tmp_path: Path) -> None:
    """Lightning's ddp strategy relaunches the CLI as a second process (gloo on CPU)."""
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "tv2tv.cli", "train", "--data", str(synthetic_store), "--out", str(run),
           "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu", "--no-progress", "--max-steps", "3",
           "model.dim=32", "model.depth=1", "model.heads=2", *RUN[:2], "precision=32-true",
           "val_every_steps=2", "ckpt_every_steps=2", "log_every_steps=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(_losses(run)) == [0, 1, 2]
    model, cfg = load_world_model(run)
    assert cfg.model.depth == 1 and all(torch.isfinite(p).all() for p in model.parameters())
