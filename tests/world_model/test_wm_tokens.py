"""Tokenizer and frame codec: round trips and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.world_model.codec import FrameCodec, PatchCodec
from tv2tv.world_model.tokenizer import ACTION_OFFSET, BOF, BOS, EOF, PAD, ByteTokenizer, learn_words


@given(st.text(max_size=40))
def test_tokenizer_round_trip(text: str) -> None:
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert all(0 <= i < 256 for i in ids)
    assert tok.decode([BOS, *ids, BOF, EOF, PAD]) == text


WORDS = ByteTokenizer(words=("move", " paddle", " up", " down", "up", ";;"))


@settings(deadline=None)
@given(st.text(max_size=40)
       | st.lists(st.sampled_from(["move", " paddle", " up", "up", "; ", ";;;", "é", " x"])).map("".join))
def test_words_round_trip_and_any_text_still_encodes(text: str) -> None:
    ids = WORDS.encode(text)
    assert all(0 <= i < WORDS.vocab_size and i not in (BOS, BOF, EOF, PAD) for i in ids)
    assert WORDS.decode([BOS, *ids, BOF]) == text
    assert len(ids) <= len(text.encode("utf-8"))


def test_a_known_phrase_is_one_id_per_word_and_the_rest_bytes() -> None:
    tok = ByteTokenizer(words=learn_words(["move paddle up", "move paddle down", "move paddle up"], 16))
    assert tok.words == (" paddle", "move", " up")      # most used first, ties by string; " down": once
    assert tok.encode("move paddle up") == [ACTION_OFFSET + 1, ACTION_OFFSET, ACTION_OFFSET + 2]
    assert tok.encode("move paddle down") == [ACTION_OFFSET + 1, ACTION_OFFSET, *b" down"]
    assert tok.encode("moveup") == list(b"moveup")                # a word only where the piece is whole
    assert tok.vocab_size == ACTION_OFFSET + 3
    words = {ACTION_OFFSET, ACTION_OFFSET + 1, ACTION_OFFSET + 2}
    assert set(tok.writable) == set(range(1, 256)) | words | {BOF}
    assert learn_words(["a b a b a"], 1, min_count=1) == (" a",) and learn_words(["x"], 0) == ()


@pytest.mark.parametrize("kwargs, match", [({"words": ("up", "up")}, "distinct"),
                                           ({"words": ("u",)}, "longer than one byte"),
                                           ({"words": ("\x00\x00",)}, "without NUL"),
                                           ({"words": ("move up",)}, "one piece"),
                                           ({"words": ("up",), "num_actions": 3}, "not both")])
def test_bad_words_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ByteTokenizer(**kwargs)
    with pytest.raises(ValueError, match="min_count"):
        learn_words([], 4, min_count=0)


def test_tokenizer_specials_and_actions() -> None:
    tok = ByteTokenizer(num_actions=3)
    assert len({BOS, BOF, EOF, PAD}) == 4 and min(BOS, BOF, EOF, PAD) >= 256
    assert tok.vocab_size == ACTION_OFFSET + 4
    assert [tok.action(a) for a in (0, 2, -1)] == [ACTION_OFFSET, ACTION_OFFSET + 2, tok.no_action]
    assert tok.decode([BOS, 104, BOF, tok.action(1)], specials=True) == "<bos>h<bof><act1>"
    with pytest.raises(ValueError, match="outside"):
        tok.action(3)
    with pytest.raises(ValueError, match="no action ids"):
        ByteTokenizer().action(0)
    assert ByteTokenizer().vocab_size == ACTION_OFFSET


@settings(max_examples=25, deadline=None)
@given(patch=st.sampled_from([2, 4, 8]), gh=st.integers(1, 4), gw=st.integers(1, 4),
       c=st.sampled_from([1, 3]), seed=st.integers(0, 1000))
def test_patch_codec_round_trip_is_exact(patch: int, gh: int, gw: int, c: int, seed: int) -> None:
    codec = PatchCodec(patch, (gh * patch, gw * patch, c))
    assert isinstance(codec, FrameCodec)
    frames = np.random.default_rng(seed).integers(0, 256, (2, 3, gh * patch, gw * patch, c), dtype=np.uint8)
    x = codec.encode(frames)
    assert x.shape == (2, 3, gh * gw, patch * patch * c) == (2, 3, codec.tokens_per_frame, codec.token_dim)
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    assert torch.equal(codec.decode(x), torch.from_numpy(frames))


def test_patch_codec_token_is_a_patch() -> None:
    frames = np.zeros((1, 8, 8, 3), np.uint8)
    frames[0, 4:8, 0:4] = 255            # bottom-left patch of a 2x2 grid
    x = PatchCodec(4, (8, 8, 3)).encode(frames)[0]
    assert x[2].eq(1).all() and x[[0, 1, 3]].eq(-1).all()


@pytest.mark.parametrize("shape, patch, match", [((4, 4, 3), 8, "smaller than one"),
                                                 ((12, 16, 3), 8, "not divisible")])
def test_patch_codec_rejects_bad_frames(shape: tuple[int, int, int], patch: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PatchCodec(patch, shape)


def test_patch_codec_rejects_wrong_input() -> None:
    codec = PatchCodec(4, (8, 8, 3))
    with pytest.raises(TypeError, match="uint8"):
        codec.encode(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="do not match"):
        codec.encode(np.zeros((16, 8, 3), np.uint8))
