"""Training runs: build the Lightning ``Trainer``, fit, checkpoint, resume and export.

A run directory holds::

    config.yaml                 # the merged, resolved TrainConfig (written at start)
    logs/version_<i>/metrics.csv  # CSVLogger, one version per invocation (resumes append one)
    checkpoints/step=<N>.ckpt   # every ckpt_every_steps
    checkpoints/last.ckpt       # the latest state (also written when training ends)
    model.safetensors, config.json  # exported weights (``checkpoint.load_world_model``)

Multi-GPU and multi-node training are Lightning's strategies (``devices``, ``num_nodes``,
``strategy="ddp"|"fsdp"``); each rank reads its own share of the window stream.

Example:
    >>> cfg = build_config(TrainConfig, "tiny", ["data.path=data/pong"])    # doctest: +SKIP
    >>> train(cfg, "runs/pong-tiny")                                         # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger

from tv2tv.config import load_config, save_config
from tv2tv.world_model.checkpoint import export_world_model, load_checkpoint, read_weights
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.data import EpisodeDataModule, resolve_config
from tv2tv.world_model.module import WorldModelModule

CONFIG_YAML = "config.yaml"
CKPT_DIR = "checkpoints"
LAST_CKPT = "last.ckpt"


@dataclass
class LaunchConfig:
    """Where and how to run (not part of the model's config): Lightning Trainer settings."""

    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None     # None: the config's ``precision``
    progress: bool = True


def _has_cuda(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def choose_precision(requested: str, accelerator: str) -> str:
    """``auto``: bf16-mixed where supported (CPU: AVX512-BF16/AMX; CUDA: Ampere+), else 32/16."""
    if requested != "auto":
        return requested
    if _has_cuda(accelerator):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bf16-mixed"
    warnings.warn("this CPU has no fast bfloat16: training in float32 (precision=32-true)", stacklevel=2)
    return "32-true"


def is_launcher_process() -> bool:
    """True in the process a user started (not a DDP child started by Lightning)."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


class _SaveFinalStep(Checkpoint):
    """Write ``last.ckpt`` after the final step (``max_steps`` or ``max_time``), as
    ``ModelCheckpoint`` would, so a resume restores the loop counters exactly. A ``Checkpoint``
    subclass runs after Lightning's ``Timer``, so it sees the stop that the timer requests."""

    def __init__(self, ckpt_dir: Path) -> None:
        self.ckpt_dir = ckpt_dir

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.should_stop or trainer.global_step >= trainer.max_steps:
            trainer.save_checkpoint(self.ckpt_dir / LAST_CKPT, weights_only=False)  # save all state (not a load)


def build_trainer(cfg: TrainConfig, run_dir: Path, launch: LaunchConfig, has_val: bool,
                  extra_callbacks: Sequence[Callback] = ()) -> L.Trainer:
    """The Lightning ``Trainer`` of a run (rich progress bar, CSV logs, checkpoints)."""
    ckpt_dir = run_dir / CKPT_DIR
    callbacks: list[Callback] = [*extra_callbacks,
        ModelCheckpoint(dirpath=ckpt_dir, filename="{step}", every_n_train_steps=cfg.ckpt_every_steps,
                        save_top_k=-1, save_last=True),
        _SaveFinalStep(ckpt_dir),
    ]
    if launch.progress:
        callbacks.append(RichProgressBar())
    precision = choose_precision(launch.precision or cfg.precision, launch.accelerator)
    return L.Trainer(
        accelerator=launch.accelerator, devices=launch.devices, num_nodes=launch.num_nodes,
        strategy=launch.strategy, precision=precision,  # type: ignore[arg-type]
        max_steps=cfg.max_steps, max_epochs=-1,
        max_time=datetime.timedelta(minutes=cfg.max_minutes) if cfg.max_minutes else None,
        reload_dataloaders_every_n_epochs=1, use_distributed_sampler=False,
        val_check_interval=cfg.val_every_steps if has_val else None, check_val_every_n_epoch=None,
        limit_val_batches=cfg.val_batches if has_val else 0, num_sanity_val_steps=0,
        gradient_clip_val=cfg.optim.grad_clip or None, log_every_n_steps=cfg.log_every_steps,
        logger=CSVLogger(save_dir=str(run_dir), name="logs"), callbacks=callbacks,
        enable_progress_bar=launch.progress, enable_model_summary=launch.progress,
    )


def prepare_run(cfg: TrainConfig, run_dir: str | os.PathLike[str], resume: bool) -> Path:
    """Check the run directory: a new run needs a fresh one; a resumed run needs ``last.ckpt``."""
    run = Path(run_dir)
    if resume:
        if not (run / CKPT_DIR / LAST_CKPT).is_file():
            raise FileNotFoundError(f"cannot resume {run}: it has no {CKPT_DIR}/{LAST_CKPT}")
    elif is_launcher_process() and ((run / CONFIG_YAML).exists() or (run / CKPT_DIR).exists()):
        raise FileExistsError(f"{run} already holds a training run; continue it with --resume {run} "
                              f"or choose another --out")
    run.mkdir(parents=True, exist_ok=True)
    return run


def load_run_config(run_dir: str | os.PathLike[str]) -> TrainConfig:
    """The config a run was started with (``RUN/config.yaml``)."""
    path = Path(run_dir) / CONFIG_YAML
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume {run_dir}: it has no {CONFIG_YAML} (not a tv2tv training run)")
    return load_config(TrainConfig, path)


def train(cfg: TrainConfig, run_dir: str | os.PathLike[str], launch: LaunchConfig | None = None,
          resume: bool = False, datamodule: EpisodeDataModule | None = None,
          callbacks: Sequence[Callback] = ()) -> Path:
    """Train (or resume) a run; returns the run directory, which then holds the exported model.

    Args:
        cfg: the merged config (``data.path`` set unless ``datamodule`` is given).
        run_dir: the run directory (see the module docstring).
        launch: devices, strategy, precision, progress bar.
        resume: continue from ``RUN/checkpoints/last.ckpt`` exactly (same data stream and noise).
        datamodule: use these data instead of ``EpisodeDataModule(cfg)`` (tests, benchmarks).
        callbacks: more Lightning callbacks (``benchmarks.learn`` snapshots the model with one).
    """
    launch = launch or LaunchConfig()
    run = prepare_run(cfg, run_dir, resume)
    dm = datamodule or EpisodeDataModule(cfg)
    dm.setup("fit")                      # fail on bad data before any process is started
    assert dm.meta is not None
    cfg = resolve_config(cfg, dm.meta)
    dm.cfg = cfg
    if is_launcher_process() and not resume:
        save_config(cfg, run / CONFIG_YAML)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = WorldModelModule(cfg)
    trainer = build_trainer(cfg, run, launch, has_val=dm.val_set is not None, extra_callbacks=callbacks)
    ckpt = run / CKPT_DIR / LAST_CKPT if resume else None
    if ckpt is not None:
        load_checkpoint(ckpt)            # a clear error for a foreign or corrupt file, before Lightning
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
    if trainer.is_global_zero:
        state, ckpt_cfg = read_weights(run / CKPT_DIR / LAST_CKPT)
        model = WorldModelModule(ckpt_cfg).model
        model.load_state_dict(state)
        export_world_model(model, ckpt_cfg, run, dm.meta)
    return run
