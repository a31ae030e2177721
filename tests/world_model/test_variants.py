"""The variant objects: what each puts before a chunk (the one placement training windows and
rollout contexts share), what its rollouts take, and the lookup by name."""

from __future__ import annotations

import numpy as np
import pytest

from tv2tv.recorders.store import DatasetMeta
from tv2tv.types import Episode, TextEvent
from tv2tv.world_model.config import VARIANTS, ModelConfig, SequenceConfig, TrainConfig
from tv2tv.world_model.tokenizer import ACTION_OFFSET, ByteTokenizer
from tv2tv.world_model.variants import variant_of

SEQ = SequenceConfig(frames_per_chunk=2, window_frames=6, max_text_bytes=6)
META = DatasetMeta("ALE/Pong-v5", (4, 4, 3), {"type": "Discrete", "n": 3, "start": 1}, "atari", "1")


def _episode() -> Episode:
    events = (TextEvent(1, "up", "action"), TextEvent(2, "hit", "caption"), TextEvent(2, "down", "action"))
    return Episode(np.zeros((5, 4, 4, 3), np.uint8), np.array([3, 1, 2, 2]), np.zeros(4, np.float32),
                   False, False, events)


def test_text_goes_before_its_chunk_joined_and_cut() -> None:
    ep, tok = _episode(), ByteTokenizer()
    for name in ("text", "plan-first"):
        v = variant_of(name)
        assert tok.decode(v.chunk_ids(ep, 0, 2, tok, SEQ)) == "up"             # frames 0-1
        with pytest.warns(UserWarning, match="max_text_bytes=6"):
            assert tok.decode(v.chunk_ids(ep, 2, 2, tok, SEQ)) == "hit; d"           # "hit; down", cut
        assert v.chunk_ids(ep, 4, 2, tok, SEQ) == []
    assert tok.decode(variant_of("text").chunk_ids(ep, 1, 1, tok, SEQ)) == "up"     # one frame


def test_no_text_places_nothing_and_action_id_the_actions_that_led_to_each_frame() -> None:
    ep = _episode()
    assert variant_of("no-text").chunk_ids(ep, 0, 2, ByteTokenizer(), SEQ) == []
    v = variant_of("action-id")
    tok = v.tokenizer(META)
    start = v.action_start(META)
    assert (tok.num_actions, start) == (3, 1)
    assert v.rollout_tokenizer(ModelConfig(vocab_size=tok.vocab_size)) == tok
    # frame 0 has no action before it; frame i follows ep.actions[i - 1] (env ids from start=1)
    assert v.chunk_ids(ep, 0, 2, tok, SEQ, start) == [tok.no_action, ACTION_OFFSET + 2]
    assert v.chunk_ids(ep, 2, 2, tok, SEQ, start) == [ACTION_OFFSET + 0, ACTION_OFFSET + 1]


def test_what_each_variant_takes() -> None:
    got = {name: (v.reads_text, v.takes_actions, v.plan_first, v.layout)
           for name in VARIANTS for v in [variant_of(name)]}
    assert got == {"text": (True, False, False, "interleaved"),
                   "no-text": (False, False, False, "interleaved"),
                   "action-id": (False, True, False, "interleaved"),
                   "plan-first": (True, False, True, "plan-first")}
    assert variant_of(TrainConfig(variant="plan-first")) is variant_of("plan-first")


def test_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="'think-first'"):
        variant_of("think-first")
    with pytest.raises(ValueError, match="Discrete"):
        variant_of("action-id").tokenizer(DatasetMeta("x", (4, 4, 3), {"type": "Box"}, "t", "1"))
    with pytest.raises(ValueError, match="vocab_size 260"):
        variant_of("action-id").rollout_tokenizer(ModelConfig(vocab_size=260))
    with pytest.raises(ValueError, match="not words"):
        variant_of("action-id").tokenizer(META, ("move",))
    with pytest.raises(ValueError, match="vocab_size 260 does not fit a text tokenizer with 1 words"):
        variant_of("text").rollout_tokenizer(ModelConfig(vocab_size=260, words=("move",)))
