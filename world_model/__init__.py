"""tv2tv.world_model: tokenizer, frame codec, sequences, the MoT network, flow matching,
Lightning training, checkpoints and rollouts (docs/design.md, "The model").

Names are imported lazily, so ``import tv2tv.world_model.tokenizer`` stays light (no Lightning).

Example:
    >>> from tv2tv.world_model import ByteTokenizer
    >>> ByteTokenizer().encode("up")
    [117, 112]
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ByteTokenizer": "tokenizer",
    "FrameCodec": "codec", "PatchCodec": "codec", "make_codec": "codec",
    "SequenceBatch": "sequence", "build_sequence": "sequence", "build_attention_mask": "sequence",
    "collate_sequences": "sequence",
    "MoT": "mot", "KVCache": "kv_cache", "MoTOutput": "mot",
    "integrate": "flow", "sample_time": "flow",
    "TrainConfig": "config", "ModelConfig": "config", "SequenceConfig": "config",
    "EpisodeDataModule": "data", "resolve_config": "data",
    "WorldModelModule": "module",
    "load_world_model": "checkpoint", "export_world_model": "checkpoint",
    "sample_chunk": "sampling",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tv2tv.world_model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tv2tv.world_model.{_EXPORTS[name]}"), name)
