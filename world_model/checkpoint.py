"""Exported weights: ``model.safetensors`` + ``config.json``, and the one loading function.

``config.json`` holds the format tag, the full resolved ``TrainConfig`` (so the network can be
rebuilt without the data) and the store's ``DatasetMeta`` (frame shape, env, texter), which
rollouts need to decode frames and place text. ``load_world_model`` also reads Lightning
``.ckpt`` files, and rejects a variant or config that does not match the weights with a
message that says what differs: a ``config.json`` whose variant is not the one written into
the weights' header, or weights of another shape than its config builds.

Example:
    >>> export_world_model(module.model, cfg, "runs/tiny", meta)             # doctest: +SKIP
    >>> model, cfg = load_world_model("runs/tiny", expect_variant="text")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tv2tv.config import from_dict, to_dict
from tv2tv.recorders.store import DatasetMeta, atomic_write
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.mot import MoT

FORMAT = "tv2tv-world-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# Where a training checkpoint keeps its store's DatasetMeta (added by ``train``), so that a
# resume can check it continues on the same game and frames.
CKPT_DATASET_KEY = "tv2tv_dataset"
# The fields of a store's DatasetMeta a model is tied to: the game it learned and its frames.
MODEL_DATA_FIELDS = ("env", "frame_shape")


def export_world_model(model: MoT, cfg: TrainConfig, out_dir: str | os.PathLike[str],
                       meta: DatasetMeta | None = None) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/config.json`` atomically; returns the
    weights path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "variant": cfg.variant}
    weights = out / WEIGHTS_FILE
    tmp = out / f".tmp-{WEIGHTS_FILE}"
    save_file(tensors, str(tmp), metadata=header)
    os.replace(tmp, weights)
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": to_dict(cfg),
           "dataset": meta.to_json() if meta is not None else None}
    atomic_write(out / CONFIG_FILE, lambda f: f.write(json.dumps(doc, indent=2).encode()))
    return weights


def read_export_config(path: str | os.PathLike[str]) -> tuple[TrainConfig, DatasetMeta | None]:
    """The ``TrainConfig`` and ``DatasetMeta`` of an exported model (a run dir or its ``config.json``)."""
    p = Path(path)
    p = p / CONFIG_FILE if p.is_dir() else p.with_name(CONFIG_FILE) if p.suffix == ".safetensors" else p
    if not p.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} at {p}: export the model with `tv2tv train` first")
    try:
        doc = json.loads(p.read_text())
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{p} is not a readable {CONFIG_FILE} ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{p} is not a {FORMAT} config (format is "
                         f"{doc.get('format') if isinstance(doc, dict) else type(doc).__name__!r})")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{p} has format version {doc.get('format_version')}; "
                         f"this tv2tv reads {FORMAT_VERSION}")
    if not isinstance(doc.get("config"), dict):
        raise ValueError(f"{p} holds no training config (its 'config' is {doc.get('config')!r:.60})")
    meta = DatasetMeta.from_json(doc["dataset"]) if doc.get("dataset") else None
    return from_dict(TrainConfig, doc["config"]), meta


def load_checkpoint(path: str | os.PathLike[str], mmap: bool = False) -> dict[str, Any]:
    """Read a Lightning ``.ckpt`` without running any code it may hold.

    ``torch.load(weights_only=True)`` unpickles only tensors and plain containers; a file that
    asks for anything else (``os.system``, a class) is refused before it can run. Every
    checkpoint read in tv2tv goes through here (Lightning's resume too, see ``train.py``).

    Raises:
        ValueError: the file is not a plain checkpoint (foreign objects, corrupt or truncated).
    """
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise ValueError(f"{path} is not a plain tv2tv checkpoint: it is empty (0 bytes), "
                         f"as a save cut short leaves it; use another checkpoint of the run")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, AttributeError, ImportError) as e:
        raise ValueError(f"{path} is not a plain tv2tv checkpoint and was not loaded (it holds objects "
                         f"other than tensors and plain data, or is corrupt): {_why(e)}") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path} is not a Lightning checkpoint "
                         f"(it holds a {type(ckpt).__name__}, not a dict)")
    return ckpt


def checkpoint_config(ckpt: dict[str, Any],
                      path: str | os.PathLike[str]) -> tuple[TrainConfig, DatasetMeta | None]:
    """The ``TrainConfig`` a Lightning checkpoint (``load_checkpoint``) was saved with, and the
    ``DatasetMeta`` of its data (``None`` in checkpoints written before tv2tv stored it)."""
    hp = ckpt.get("hyper_parameters")
    if (not isinstance(hp, dict) or not isinstance(hp.get("cfg"), dict)
            or not isinstance(ckpt.get("state_dict"), dict)):
        raise ValueError(f"{path} is not a tv2tv world-model checkpoint (no config in its hyper-parameters)")
    data = ckpt.get(CKPT_DATASET_KEY)
    return from_dict(TrainConfig, hp["cfg"]), DatasetMeta.from_json(data) if data is not None else None


def config_mismatches(want: TrainConfig, have: TrainConfig,
                      labels: tuple[str, str] = ("expected", "checkpoint has")) -> list[str]:
    """Where two configs would build different networks: the variant and each ``model.*`` field,
    as ``"field: <labels[0]> <want's>, <labels[1]> <have's>"``."""
    a, b = to_dict(want.model), to_dict(have.model)
    diffs = ([f"variant: {labels[0]} {want.variant!r}, {labels[1]} {have.variant!r}"]
             if want.variant != have.variant else [])
    return diffs + [f"model.{k}: {labels[0]} {a[k]!r}, {labels[1]} {b[k]!r}" for k in a if a[k] != b.get(k)]


def check_model_data(model: DatasetMeta | None, data: DatasetMeta, model_name: str, data_name: str) -> None:
    """Refuse data of another game or frame size than the model's (``MODEL_DATA_FIELDS``).

    Args:
        model: the ``DatasetMeta`` the model was trained on (``None``: unknown, nothing to check).
        data: the store's meta (a context, held-out frames, a resumed run's data).
        model_name, data_name: what to call them in the message (a run directory, a store path).

    Raises:
        ValueError: one line naming each differing field with both values.
    """
    diffs = [] if model is None else model.mismatches(data, MODEL_DATA_FIELDS,
                                                      ("the model was trained on", "the data is"))
    if diffs:
        raise ValueError(f"{data_name} does not fit the model {model_name}: {'; '.join(diffs)}")


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and header metadata of ``path``; ``ValueError`` for bytes that are not safetensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} is not a readable {WEIGHTS_FILE} (corrupt, truncated or not written by "
                         f"tv2tv): {first}") from None


def _why(e: Exception) -> str:
    """One line of what torch.load said; not its advice to retry with ``weights_only=False``."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if lines and lines[0].startswith("Weights only load failed"):
        detail = [ln for ln in lines[1:] if not ln.startswith(("Please file", "Check the documentation"))]
        lines = [f"WeightsUnpickler: {detail[0]}"] if detail else []
    return lines[0] if lines else type(e).__name__


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], TrainConfig]:
    """The network weights and config of a run dir, ``model.safetensors`` or ``.ckpt`` (from a
    checkpoint of a run with ``optim.ema_decay``, its averaged weights, as the export has).

    Raises:
        ValueError: a file that is not what it should be, or a ``config.json`` that says another
            variant than its weights were exported as (``export_world_model`` writes both).
    """
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}: expected a run directory, {WEIGHTS_FILE} or a .ckpt")
    if path.suffix == ".ckpt":
        ckpt = load_checkpoint(path)
        cfg, _ = checkpoint_config(ckpt, path)
        # the averaged weights where training kept them (optim.ema_decay)
        prefix = "ema." if any(k.startswith("ema.") for k in ckpt["state_dict"]) else "model."
        state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        return state, cfg
    cfg, _ = read_export_config(path)
    state, header = _read_safetensors(path)
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} weights file "
                         f"(its header's format is {header.get('format')!r})")
    if header.get("variant") != cfg.variant:
        raise ValueError(f"{path.parent}: variant differs: {CONFIG_FILE} says {cfg.variant!r}, "
                         f"{path.name} holds a {header.get('variant')!r} model; "
                         f"re-export the run (or restore its {CONFIG_FILE})")
    return state, cfg


def load_world_model(path: str | os.PathLike[str], expect_variant: str | None = None,
                     expect_config: TrainConfig | None = None,
                     device: torch.device | str = "cpu") -> tuple[MoT, TrainConfig]:
    """Load a world model (in eval mode) from a run dir, ``model.safetensors`` or a Lightning ``.ckpt``.

    Args:
        path: the run directory (holding ``model.safetensors`` and ``config.json``) or a file.
        expect_variant: refuse a model of another variant (``text``, ``no-text``, ``action-id``).
        expect_config: refuse a model whose network config differs from this one's.
        device: where to put the weights.

    Raises:
        ValueError: variant or config mismatch, or weights that do not fit their config; the
            message names what differs.
    """
    state, cfg = read_weights(Path(path))
    if expect_variant is not None and cfg.variant != expect_variant:
        raise ValueError(f"{path} holds a {cfg.variant!r} model, "
                         f"but a {expect_variant!r} model was asked for")
    if expect_config is not None:
        diffs = config_mismatches(expect_config, cfg)
        if diffs:
            raise ValueError(f"{path} does not match the requested config: {'; '.join(diffs)}")
    model = MoT(cfg.model)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            f"the weights in {path} do not fit its config (was config.json edited?): "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shape {[(k, tuple(state[k].shape), tuple(own[k].shape)) for k in wrong[:5]]}")
    model.load_state_dict(state)
    return model.to(device).eval(), cfg
