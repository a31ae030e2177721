"""Exported weights: ``model.safetensors`` + ``config.json``, and the one loading function.

``config.json`` holds the format tag, the full resolved ``TrainConfig`` (so the network can be
rebuilt without the data) and the store's ``DatasetMeta`` (frame shape, env, texter), which
rollouts need to decode frames and place text. ``load_world_model`` also reads Lightning
``.ckpt`` files, and rejects a variant or config that does not match the weights with a
message that says what differs.

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
from safetensors.torch import load_file, save_file

from tv2tv.config import from_dict, to_dict
from tv2tv.recorders.store import DatasetMeta, atomic_write
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.mot import MoT

FORMAT = "tv2tv-world-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def export_world_model(model: MoT, cfg: TrainConfig, out_dir: str | os.PathLike[str],
                       meta: DatasetMeta | None = None) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/config.json`` atomically; returns the weights path."""
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
    doc = json.loads(p.read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{p} is not a {FORMAT} config (format is {doc.get('format')!r})")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{p} has format version {doc.get('format_version')}; this tv2tv reads {FORMAT_VERSION}")
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
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, AttributeError, ImportError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} is not a plain tv2tv checkpoint and was not loaded (it holds objects "
                         f"other than tensors and plain data, or is corrupt): {first}") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path} is not a Lightning checkpoint (it holds a {type(ckpt).__name__}, not a dict)")
    return ckpt


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], TrainConfig]:
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}: expected a run directory, {WEIGHTS_FILE} or a .ckpt")
    if path.suffix == ".ckpt":
        ckpt = load_checkpoint(path)
        hp: dict[str, Any] = ckpt.get("hyper_parameters", {})
        if "cfg" not in hp:
            raise ValueError(f"{path} is not a tv2tv world-model checkpoint (no config in its hyper-parameters)")
        state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        return state, from_dict(TrainConfig, hp["cfg"])
    cfg, _ = read_export_config(path)
    return load_file(str(path)), cfg


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
        raise ValueError(f"{path} holds a {cfg.variant!r} model, but a {expect_variant!r} model was asked for")
    if expect_config is not None:
        want, have = to_dict(expect_config.model), to_dict(cfg.model)
        diffs = [f"model.{k}: expected {want[k]!r}, checkpoint has {have[k]!r}" for k in want if want[k] != have[k]]
        if expect_config.variant != cfg.variant:
            diffs.append(f"variant: expected {expect_config.variant!r}, checkpoint has {cfg.variant!r}")
        if diffs:
            raise ValueError(f"{path} does not match the requested config: {'; '.join(diffs)}")
    model = MoT(cfg.model)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            f"the weights in {path} do not fit its config (was config.json edited?): missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shape {[(k, tuple(state[k].shape), tuple(own[k].shape)) for k in wrong[:5]]}")
    model.load_state_dict(state)
    return model.to(device).eval(), cfg
