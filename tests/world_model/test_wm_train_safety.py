"""Nothing runs, nothing is lost (issue 13): a resume checks that checkpoint, config, export and
data agree; a run directory is locked while a training writes to it; a failed start leaves the
directory as it was; checkpoints are replaced atomically, whatever ``TMPDIR`` is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from tv2tv.cli import main
from tv2tv.config import build_config
from tv2tv.world_model.checkpoint import CKPT_DATASET_KEY, load_checkpoint, load_world_model
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.synthetic import write_synthetic_store
from tv2tv.world_model.train import (
    CKPT_DIR,
    LAST_CKPT,
    LOCK_FILE,
    AtomicCheckpointIO,
    LaunchConfig,
    RunInUseError,
    build_trainer,
    run_lock,
    train,
)

OVERRIDES = ["model.dim=32", "model.depth=1", "model.heads=2", "sequence.patch=8", "sequence.window_frames=4",
             "data.batch_size=2", "data.val_fraction=0.25", "max_steps=2", "val_every_steps=1",
             "ckpt_every_steps=1", "log_every_steps=1", "val_batches=1", "precision=32-true",
             "optim.warmup_steps=1", "flow.sample_steps=1"]
CPU = LaunchConfig(accelerator="cpu", progress=False)


def _cfg(store: Path, *extra: str) -> TrainConfig:
    return build_config(TrainConfig, None, [*OVERRIDES, f"data.path={store}", *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Two-step ``text`` and ``no-text`` runs on a 16x16 store, a 32x32 store and another game's."""
    root = tmp_path_factory.mktemp("safety")
    store = write_synthetic_store(root / "store", n=4, steps=10, size=16, seed=0)
    text = train(_cfg(store), root / "text", CPU)
    no_text = train(_cfg(store, "variant=no-text"), root / "no-text", CPU)
    return SimpleNamespace(store=store, text=text, no_text=no_text,
                           big=write_synthetic_store(root / "big", n=4, steps=10, size=32, seed=0),
                           other=write_synthetic_store(root / "other", n=4, steps=10, size=16, seed=0,
                                                       env="other"))


def _snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {}
    for folder, dirs, names in os.walk(root):
        out.update({os.path.relpath(os.path.join(folder, d), root): None for d in dirs})
        for n in names:
            st = os.stat(os.path.join(folder, n))
            out[os.path.relpath(os.path.join(folder, n), root)] = (st.st_size, st.st_mtime_ns)
    return out


def _resume_fails(run: Path, message: str, capsys: pytest.CaptureFixture[str], *extra: str) -> None:
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--no-progress", "--accelerator", "cpu",
                 *extra]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err, err
    assert _snapshot(run) == before


# -- A: agreement on resume and load ---------------------------------------------------------------
def test_checkpoints_carry_their_data(trained: SimpleNamespace) -> None:
    ckpt = load_checkpoint(trained.text / CKPT_DIR / LAST_CKPT)
    assert ckpt[CKPT_DATASET_KEY]["env"] == "synthetic"
    assert ckpt[CKPT_DATASET_KEY]["frame_shape"] == [16, 16, 3]


def test_resume_refuses_a_checkpoint_of_another_variant(trained: SimpleNamespace, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(trained.text, tmp_path / "run"))
    shutil.copy(trained.no_text / CKPT_DIR / LAST_CKPT, run / CKPT_DIR / LAST_CKPT)
    _resume_fails(run, "cannot resume", capsys)
    _resume_fails(run, "variant: config.yaml says 'text', checkpoints/last.ckpt holds 'no-text'", capsys)


def test_resume_refuses_data_of_another_game_or_frame_size(trained: SimpleNamespace, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(trained.text, tmp_path / "run"))
    _resume_fails(run, "env: checkpoints/last.ckpt was trained on 'synthetic', the data is 'other'", capsys,
                  "--data", str(trained.other))
    _resume_fails(run, "frame_shape: checkpoints/last.ckpt was trained on [16, 16, 3], "
                       "the data is [32, 32, 3]",
                  capsys, "--data", str(trained.big))


def test_resume_refuses_an_export_of_another_variant(trained: SimpleNamespace, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(trained.text, tmp_path / "run"))
    for name in ("config.json", "model.safetensors"):
        shutil.copy(trained.no_text / name, run / name)
    _resume_fails(run, "variant: config.yaml says 'text', the exported config.json holds 'no-text'", capsys)


def test_a_config_json_of_another_variant_is_refused(trained: SimpleNamespace, tmp_path: Path) -> None:
    run = Path(shutil.copytree(trained.text, tmp_path / "run"))
    shutil.copy(trained.no_text / "config.json", run / "config.json")
    with pytest.raises(ValueError, match="variant differs: config.json says 'no-text', "
                                         "model.safetensors holds a 'text' model"):
        load_world_model(run)


# -- B: one training per run directory; a failed start leaves it as it was -------------------------
def test_a_locked_run_directory_is_refused(trained: SimpleNamespace, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    new = ["train", "--data", str(trained.store), "--out", str(run), "--no-progress", "--accelerator", "cpu",
           "--preset", "tiny", *OVERRIDES]
    with run_lock(run):
        assert main(new) == 2
        assert (f"is in use by another training (pid {os.getpid()})"
                in " ".join(capsys.readouterr().err.split()))
        assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]
        resumed = Path(shutil.copytree(trained.text, tmp_path / "resumed"))
        with run_lock(resumed), pytest.raises(RunInUseError, match="in use by another training"):
            train(_cfg(trained.store, "max_steps=3"), resumed, CPU, resume=True)
    assert not (run / LOCK_FILE).exists()     # released and removed
    assert main(new) == 0                     # and the directory is free again


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / LOCK_FILE)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunInUseError), run_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(tmp_path):                 # the OS dropped the dead process's lock
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())


class _Boom(L.Callback):
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise RuntimeError("boom")


def test_a_failed_start_leaves_the_directory_as_it_was(trained: SimpleNamespace, tmp_path: Path) -> None:
    run = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="boom"):
        train(_cfg(trained.store), run, CPU, callbacks=[_Boom()])
    assert not (tmp_path / "new").exists()    # config.yaml, logs/ and the folders it made are gone
    train(_cfg(trained.store, "max_steps=1"), run, CPU)  # so the next attempt is not refused
    assert (run / CKPT_DIR / LAST_CKPT).is_file()
    resumed = Path(shutil.copytree(trained.text, tmp_path / "resumed"))
    before = _snapshot(resumed)
    with pytest.raises(RuntimeError, match="boom"):
        train(_cfg(trained.store, "max_steps=3"), resumed, CPU, resume=True, callbacks=[_Boom()])
    assert _snapshot(resumed) == before       # its new logs/version_1 is gone, last.ckpt untouched


# -- C: last.ckpt is replaced atomically ------------------------------------------------------------
def test_the_trainer_writes_checkpoints_atomically(trained: SimpleNamespace, tmp_path: Path) -> None:
    trainer = build_trainer(_cfg(trained.store), tmp_path, CPU, has_val=False)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_a_save_cut_short_keeps_the_previous_checkpoint(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / LAST_CKPT
    AtomicCheckpointIO().save_checkpoint({"global_step": 1, "w": torch.ones(4)}, path)
    real_save = torch.save

    def killed(obj: object, f) -> None:  # noqa: ANN001 - torch.save's signature
        real_save(obj, f)
        f.truncate(10)
        raise KeyboardInterrupt          # the process dies mid-write
    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"global_step": 2, "w": torch.zeros(4)}, path)
    assert load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [LAST_CKPT]   # no temp file left


def test_checkpoints_do_not_go_through_tmpdir(trained: SimpleNamespace, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning's own save stages the file in TMPDIR (fsspec) and copies it across filesystems;
    with TMPDIR unusable (a file) it cannot save at all, so a run that finishes did not use it."""
    (tmp_path / "tmpdir").write_text("not a directory")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmpdir"))
    run = train(_cfg(trained.store, "max_steps=1"), tmp_path / "run", CPU)
    assert load_checkpoint(run / CKPT_DIR / LAST_CKPT)["global_step"] == 1


def test_resume_of_an_empty_or_foreign_last_ckpt_is_one_line(trained: SimpleNamespace, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(trained.text, tmp_path / "run"))
    stale = run / CKPT_DIR / ".tmp-somehost-1-abc"
    (run / CKPT_DIR / LAST_CKPT).write_bytes(b"")         # what a kill mid-copy left before
    _resume_fails(run, "last.ckpt is not a plain tv2tv checkpoint: it is empty (0 bytes)", capsys)
    torch.save({"state_dict": {}, "epoch": 3}, run / CKPT_DIR / LAST_CKPT)
    _resume_fails(run, "last.ckpt is not a tv2tv world-model checkpoint", capsys)
    # a good last.ckpt again: the resume goes on and removes a save's stale temp file
    shutil.copy(trained.text / CKPT_DIR / LAST_CKPT, run / CKPT_DIR / LAST_CKPT)
    stale.write_bytes(b"half a checkpoint")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    train(_cfg(trained.store, "max_steps=3"), run, CPU, resume=True)
    assert load_checkpoint(run / CKPT_DIR / LAST_CKPT)["global_step"] == 3 and not stale.exists()
