"""Training runs: build the Lightning ``Trainer``, fit, checkpoint, resume and export.

A run directory holds::

    config.yaml                 # the merged, resolved TrainConfig (written at start)
    logs/version_<i>/metrics.csv  # one version per invocation (resumes add one); TensorBoard
                                  # event files instead with LaunchConfig(logger="tensorboard")
    checkpoints/step=<N>.ckpt   # every ckpt_every_steps
    checkpoints/last.ckpt       # the latest state (also written when training ends)
    model.safetensors, config.json  # exported weights (``checkpoint.load_world_model``)
    .lock                       # locked (flock) while a training writes here

Nothing runs, nothing is lost: every setting is checked and the data are read before anything
is written; a training locks its run directory (a second one into it is refused; the OS drops
the lock when a process dies); a start that fails before it wrote a checkpoint removes what it
created, leaving the directory as it was; every checkpoint is written to a temp file beside it,
fsynced and renamed (``AtomicCheckpointIO``); and a resume checks that ``last.ckpt``,
``config.yaml``, an exported ``config.json`` and the data agree (``check_resume``).

Multi-GPU and multi-node training are Lightning's strategies (``devices``, ``num_nodes``,
``strategy="ddp"|"fsdp"``); each rank reads its own share of the window stream.

Example:
    >>> cfg = build_config(TrainConfig, "tiny", ["data.path=data/pong"])    # doctest: +SKIP
    >>> train(cfg, "runs/pong-tiny")                                         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, Checkpoint, ModelCheckpoint, RichProgressBar

from tv2tv.config import load_config, save_config
from tv2tv.paths import check_output_path
from tv2tv.recorders.store import DatasetMeta, atomic_write, is_stale_temp
from tv2tv.world_model.checkpoint import (
    CKPT_DATASET_KEY,
    CONFIG_FILE,
    MODEL_DATA_FIELDS,
    checkpoint_config,
    config_mismatches,
    export_world_model,
    load_checkpoint,
    read_export_config,
    read_weights,
)
from tv2tv.world_model.config import TrainConfig, check_precision
from tv2tv.world_model.data import EpisodeDataModule, resolve_config, with_words
from tv2tv.world_model.logs import check_logger, make_logger, quiet_lightning
from tv2tv.world_model.module import WorldModelModule

CONFIG_YAML = "config.yaml"
CKPT_DIR = "checkpoints"
LAST_CKPT = "last.ckpt"
LOCK_FILE = ".lock"


class RunInUseError(ValueError):
    """Another training holds the run directory's lock (a ``ValueError``: the command line
    prints its message, naming the run and the holder's pid, without a traceback)."""


@dataclass
class LaunchConfig:
    """Where and how to run (not part of the model's config): Lightning Trainer settings."""

    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None     # None: the config's ``precision``
    progress: bool = True
    logger: str = "csv"              # or "tensorboard" (``logs.LOGGERS``)


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
            # weights_only=False: save all state (not a load)
            trainer.save_checkpoint(self.ckpt_dir / LAST_CKPT, weights_only=False)


class _DatasetInCheckpoint(Callback):
    """Stores the data's ``DatasetMeta`` in every checkpoint (``CKPT_DATASET_KEY``), so that a
    resume can check that it continues on the same game and frames (``check_resume``)."""

    def __init__(self, meta: DatasetMeta) -> None:
        self.meta = meta

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[CKPT_DATASET_KEY] = self.meta.to_json()


class _StepProgressBar(RichProgressBar):
    """Lightning's rich bar, labelled "Training" instead of "Epoch 0/-2" (a run is one epoch of
    ``max_steps`` batches with ``max_epochs=-1``) and without the logger version (``v_num``)."""

    def _get_train_description(self, current_epoch: int) -> str:
        return f"{'Training':{len(self.validation_description)}}"  # as wide as "Validation": no flicker

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes every checkpoint (``last.ckpt`` too) to a temp file in its own directory, fsyncs it
    and renames it into place (``recorders.store.atomic_write``), so a kill mid-save leaves the
    previous file whole. Lightning's own save stages the file in ``TMPDIR`` through fsspec and,
    when that is another filesystem, copies it into place: a kill mid-copy left a 0-byte file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike[str],
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save(checkpoint, f))


def build_trainer(cfg: TrainConfig, run_dir: Path, launch: LaunchConfig, has_val: bool,
                  extra_callbacks: Sequence[Callback] = (), meta: DatasetMeta | None = None) -> L.Trainer:
    """The Lightning ``Trainer`` of a run (rich progress bar, CSV or TensorBoard logs, atomic
    checkpoints that carry ``meta``). A Lightning setting it refuses (``--devices``, ``--strategy``)
    is a ``ValueError``. Build it, and fit, inside ``logs.quiet_lightning()``."""
    ckpt_dir = run_dir / CKPT_DIR
    callbacks: list[Callback] = [*extra_callbacks,
        ModelCheckpoint(dirpath=ckpt_dir, filename="{step}", every_n_train_steps=cfg.ckpt_every_steps,
                        save_top_k=-1, save_last=True),
        _SaveFinalStep(ckpt_dir),
    ]
    if meta is not None:
        callbacks.append(_DatasetInCheckpoint(meta))
    if launch.progress:
        callbacks.append(_StepProgressBar())
    precision = choose_precision(check_precision(launch.precision or cfg.precision), launch.accelerator)
    try:
        return L.Trainer(
            accelerator=launch.accelerator, devices=launch.devices, num_nodes=launch.num_nodes,
            strategy=launch.strategy, precision=precision,  # type: ignore[arg-type]
            max_steps=cfg.max_steps, max_epochs=-1,
            max_time=datetime.timedelta(minutes=cfg.max_minutes) if cfg.max_minutes else None,
            reload_dataloaders_every_n_epochs=1, use_distributed_sampler=False,
            val_check_interval=cfg.val_every_steps if has_val else None, check_val_every_n_epoch=None,
            limit_val_batches=cfg.val_batches if has_val else 0, num_sanity_val_steps=0,
            gradient_clip_val=cfg.optim.grad_clip or None, log_every_n_steps=cfg.log_every_steps,
            logger=make_logger(launch.logger, run_dir), callbacks=callbacks,
            plugins=[AtomicCheckpointIO()],
            enable_progress_bar=launch.progress, enable_model_summary=launch.progress,
        )
    except MisconfigurationException as e:
        raise ValueError(f"Lightning refused the launch settings: {e}") from None


def check_run_dir(run: Path, resume: bool) -> None:
    """A new run needs a fresh directory; a resumed run needs ``last.ckpt``. Writes nothing."""
    check_output_path(run, "run directory")
    if run.exists() and not run.is_dir():
        raise FileExistsError(f"{run} is a file, not a run directory; choose another --out")
    if resume:
        if not (run / CKPT_DIR / LAST_CKPT).is_file():
            raise FileNotFoundError(f"cannot resume {run}: it has no {CKPT_DIR}/{LAST_CKPT}")
    elif is_launcher_process() and ((run / CONFIG_YAML).exists() or (run / CKPT_DIR).exists()):
        raise FileExistsError(f"{run} already holds a training run; continue it with --resume {run} "
                              f"or choose another --out")


def check_resume(run: Path, cfg: TrainConfig, meta: DatasetMeta) -> None:
    """Refuse to resume ``run`` unless its ``last.ckpt``, ``config.yaml`` (``cfg``, resolved on
    the data), its exported ``config.json`` (if any) and the data (``meta``) agree on the game,
    the frame shape, the variant and the network.

    Raises:
        ValueError: one line naming each field that differs, with both values; or a
            ``last.ckpt`` that is corrupt, empty or not a tv2tv checkpoint.
    """
    path = run / CKPT_DIR / LAST_CKPT
    ckpt_cfg, ckpt_meta = checkpoint_config(load_checkpoint(path), path)
    sources: list[tuple[str, TrainConfig, DatasetMeta | None]] = [
        (f"{CKPT_DIR}/{LAST_CKPT}", ckpt_cfg, ckpt_meta)]
    if (run / CONFIG_FILE).is_file():
        sources.append((f"the exported {CONFIG_FILE}", *read_export_config(run)))
    diffs: list[str] = []
    for name, have_cfg, have_meta in sources:
        if have_meta is not None:
            diffs += have_meta.mismatches(meta, MODEL_DATA_FIELDS, (f"{name} was trained on", "the data is"))
        diffs += config_mismatches(cfg, have_cfg, (f"{CONFIG_YAML} says", f"{name} holds"))
    if diffs:
        raise ValueError(f"cannot resume {run}: {'; '.join(diffs)}")


@contextlib.contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """Hold ``run/.lock`` (``fcntl.flock``, exclusive) while a training writes to ``run``.

    The OS drops the lock when its process dies, so a killed run never blocks the next one. The
    file is removed on release; a waiter that locked the removed file sees that and tries again.

    Raises:
        RunInUseError: another process holds the lock (its pid is named).
    """
    path = run / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunInUseError(f"{run} is in use by another training (pid {holder}); wait for it to end "
                                f"or choose another --out") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)                     # its holder removed it as we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _tree(root: Path) -> dict[Path, tuple[int, int]]:
    """Every file and folder under ``root`` (not following links) but the lock file, with its
    inode and modification time (a checkpoint replaced by ``atomic_write`` gets a new inode)."""
    out: dict[Path, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root):
        for n in [*dirs, *names]:
            with contextlib.suppress(FileNotFoundError):
                st = (Path(folder) / n).lstat()
                out[Path(folder) / n] = (st.st_ino, st.st_mtime_ns)
    out.pop(root / LOCK_FILE, None)
    return out


@contextlib.contextmanager
def _undo_failed_start(run: Path) -> Iterator[None]:
    """On an exception (or interrupt) before this start wrote a checkpoint, remove what it
    created in ``run`` (run under the lock: nothing else writes there meanwhile)."""
    before = _tree(run)
    try:
        yield
    except BaseException:
        after = _tree(run)
        if not any(p.suffix == ".ckpt" and before.get(p) != st for p, st in after.items()):
            # deepest first
            for p in sorted(set(after) - set(before), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    p.rmdir() if p.is_dir() and not p.is_symlink() else p.unlink()
        raise


@contextlib.contextmanager
def _start(run: Path) -> Iterator[None]:
    """Create and lock ``run``; if what follows fails before a checkpoint, leave ``run`` as it was."""
    new_dirs = [p for p in (run, *run.parents) if not p.exists()]      # deepest first
    run.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(run), _undo_failed_start(run):
            yield
    except BaseException:
        for d in new_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()                # only if empty: what another process put there stays
        raise


def _remove_stale_temps(ckpt_dir: Path) -> None:
    """Temp files of checkpoint saves whose process was killed (``AtomicCheckpointIO``)."""
    if ckpt_dir.is_dir():
        for p in ckpt_dir.glob(".tmp-*"):
            if is_stale_temp(p):
                p.unlink(missing_ok=True)


def load_run_config(run_dir: str | os.PathLike[str]) -> TrainConfig:
    """The config a run was started with (``RUN/config.yaml``)."""
    path = Path(run_dir) / CONFIG_YAML
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume {run_dir}: it has no {CONFIG_YAML} "
                                f"(not a tv2tv training run)")
    return load_config(TrainConfig, path)


def train(cfg: TrainConfig, run_dir: str | os.PathLike[str], launch: LaunchConfig | None = None,
          resume: bool = False, datamodule: EpisodeDataModule | None = None,
          callbacks: Sequence[Callback] = ()) -> Path:
    """Train (or resume) a run; returns the run directory, which then holds the exported model.

    Args:
        cfg: the merged config (``data.path`` set unless ``datamodule`` is given).
        run_dir: the run directory (see the module docstring).
        launch: devices, strategy, precision, progress bar, metrics logger.
        resume: continue from ``RUN/checkpoints/last.ckpt`` exactly (same data stream and noise).
        datamodule: use these data instead of ``EpisodeDataModule(cfg)`` (tests, benchmarks).
        callbacks: more Lightning callbacks (``benchmarks.learn`` snapshots the model with one).
    """
    launch = launch or LaunchConfig()
    run = Path(run_dir)
    check_logger(launch.logger)
    check_run_dir(run, resume)           # nothing is written until every check has passed
    dm = datamodule or EpisodeDataModule(cfg)
    dm.setup("fit")                      # fail on bad data before any process is started
    assert dm.meta is not None
    cfg = resolve_config(with_words(cfg, dm.words), dm.meta)
    dm.cfg = cfg
    check_precision(launch.precision or cfg.precision)
    if resume:
        check_resume(run, cfg, dm.meta)  # also a clear error for a foreign or corrupt last.ckpt
    if not is_launcher_process():        # a DDP child: its launcher holds the lock and writes the config
        _fit(cfg, run, launch, resume, dm, callbacks)
        return run
    with _start(run):
        check_run_dir(run, resume)       # again, now that no other training can start here
        _remove_stale_temps(run / CKPT_DIR)
        _fit(cfg, run, launch, resume, dm, callbacks)
    return run


def _fit(cfg: TrainConfig, run: Path, launch: LaunchConfig, resume: bool, dm: EpisodeDataModule,
         callbacks: Sequence[Callback]) -> None:
    """Fit (from ``last.ckpt`` when resuming) and export the model of ``last.ckpt``."""
    assert dm.meta is not None
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = WorldModelModule(cfg)
    with quiet_lightning():
        trainer = build_trainer(cfg, run, launch, has_val=dm.val_set is not None, extra_callbacks=callbacks,
                                meta=dm.meta)
        if is_launcher_process() and not resume:
            save_config(cfg, run / CONFIG_YAML)
        ckpt = run / CKPT_DIR / LAST_CKPT if resume else None
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
    if trainer.is_global_zero:
        state, ckpt_cfg = read_weights(run / CKPT_DIR / LAST_CKPT)
        model = WorldModelModule(ckpt_cfg).model
        model.load_state_dict(state)
        export_world_model(model, ckpt_cfg, run, dm.meta)
