"""Sequence layout and attention-mask properties on random layouts."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.world_model.sequence import (
    IGNORE,
    TEXT,
    VIDEO,
    SequenceBatch,
    build_attention_mask,
    build_sequence,
    collate_sequences,
)
from tv2tv.world_model.tokenizer import BOF, BOS, EOF, PAD


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[list[int]], int, int, bool]:
    k = draw(st.integers(1, 4))
    texts = [draw(st.lists(st.integers(0, 255), max_size=4)) for _ in range(k)]
    return texts, draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.booleans())


def _build(texts: list[list[int]], tpf: int, fpc: int, last_clean: bool) -> SequenceBatch:
    video = torch.randn(len(texts), tpf * fpc, 3)
    return build_sequence(texts, video, tpf, with_last_clean=last_clean, context_chunks=1)


@settings(max_examples=60, deadline=None)
@given(layouts(), layouts())
def test_mask_properties(a: tuple, b: tuple) -> None:
    batch = collate_sequences([_build(*a), _build(*b)])
    masks = build_attention_mask(batch.modality, batch.chunk_id, batch.is_noisy, batch.valid)
    for i in range(2):
        m = masks[i]
        valid, noisy, chunk = batch.valid[i], batch.is_noisy[i], batch.chunk_id[i]
        video = batch.modality[i] == VIDEO
        L = m.shape[0]
        idx = torch.arange(L)
        later = idx[None, :] > idx[:, None]
        same_copy = (video[:, None] & video[None, :] & (chunk[:, None] == chunk[None, :])
                     & (noisy[:, None] == noisy[None, :]))
        real = valid[:, None] & valid[None, :]
        # Text is causal: a text query sees exactly the earlier non-noisy tokens and itself.
        text_q = valid & ~video
        assert torch.equal(m[text_q], (~later & ~noisy[None, :] & valid[None, :]).expand(L, L)[text_q])
        # A chunk copy sees itself in both directions.
        assert m[same_copy & real].all()
        # Nobody but its own noisy copy attends to a noisy chunk.
        assert torch.equal(m[:, noisy][real[:, noisy]], same_copy[:, noisy][real[:, noisy]])
        # Nothing sees the future except inside its own chunk copy.
        assert not (m & later & ~same_copy & real).any()
        # A noisy chunk sees exactly everything before its clean twin (non-noisy) and itself.
        for c in chunk[noisy].unique().tolist():
            q = noisy & (chunk == c)
            start = int(q.nonzero()[0])
            expect = ((idx < start) & ~noisy & valid) | q
            assert torch.equal(m[q], expect.expand(int(q.sum()), L))
        # Padding keys are seen only by themselves.
        assert not (m[:, ~valid] & ~torch.eye(L, dtype=torch.bool)[:, ~valid]).any()


@settings(max_examples=60, deadline=None)
@given(layouts())
def test_layout_positions_and_targets(layout: tuple) -> None:
    texts, tpf, fpc, last_clean = layout
    s = _build(texts, tpf, fpc, last_clean)
    clean = ~s.is_noisy
    # Positions count the clean stream; each noisy copy shares its clean twin's positions.
    assert torch.equal(s.position[clean], torch.arange(int(clean.sum())))
    for c in s.chunk_id[s.is_noisy].unique().tolist():
        noisy_pos = s.position[s.is_noisy & (s.chunk_id == c)]
        clean_pos = s.position[clean & (s.chunk_id == c)]
        if len(clean_pos):
            assert torch.equal(noisy_pos, clean_pos)
        assert (torch.equal(s.video[s.is_noisy & (s.chunk_id == c)], s.video[clean & (s.chunk_id == c)])
                or not len(clean_pos))
    # The clean stream reads BOS, text_0, BOF, chunk_0, EOF, text_1, BOF, ...
    stream = s.tokens[clean].tolist()
    assert stream[0] == BOS and stream.count(BOF) == len(texts)
    assert stream.count(EOF) == len(texts) - (0 if last_clean else 1)
    # Targets: every text byte and every BOF, predicted by the previous clean token (never a video token).
    t = s.text_target
    expect_targets = sum(len(x) for x in texts) + len(texts)
    assert int((t != IGNORE).sum()) == expect_targets
    assert (s.modality[t != IGNORE] == TEXT).all()
    ci = clean.nonzero().squeeze(-1)
    for j in range(len(ci) - 1):
        if t[ci[j]] != IGNORE:
            assert t[ci[j]] == s.tokens[ci[j + 1]] and int(t[ci[j]]) != EOF
    # Flow loss on noisy copies of every chunk but the context chunk.
    assert torch.equal(s.flow_loss_mask, s.is_noisy & (s.chunk_id >= 1))
    assert (s.tokens[s.modality == VIDEO] == PAD).all()


def test_build_sequence_without_text_loss_and_noisy_copies() -> None:
    s = build_sequence([[1, 2], [3]], torch.zeros(2, 4, 3), 2, text_loss=False, with_noisy=False,
                       with_last_clean=True)
    assert (s.text_target == IGNORE).all() and not s.is_noisy.any()
    assert s.tokens.tolist() == [BOS, 1, 2, BOF, *[PAD] * 4, EOF, 3, BOF, *[PAD] * 4, EOF]


def test_collate_pads_and_marks_padding() -> None:
    a = build_sequence([[1, 2, 3]], torch.zeros(1, 2, 3), 1)
    b = build_sequence([[]], torch.zeros(1, 2, 3), 1)
    batch = collate_sequences([a, b])
    assert batch.tokens.shape == (2, a.length)
    assert batch.valid[1].sum() == b.length and not batch.valid[1, b.length:].any()
    assert (batch.tokens[1, b.length:] == PAD).all() and (batch.text_target[1, b.length:] == IGNORE).all()


def test_anchor_is_the_last_frame_before_each_noisy_chunk() -> None:
    """A noisy chunk's anchor is the previous chunk's last frame, repeated per frame; the first
    chunk, clean copies and text have none."""
    n_per_frame, frames, d = 3, 2, 4
    x = torch.randn(3, n_per_frame * frames, d)
    seq = build_sequence([[1], [], [2]], x, n_per_frame)
    for k in range(3):
        got = seq.anchor[seq.chunk_positions(k, noisy=True)]
        want = torch.zeros_like(x[0]) if k == 0 else x[k - 1, -n_per_frame:].repeat(frames, 1)
        torch.testing.assert_close(got, want)
    assert not seq.anchor[~seq.is_noisy].any()
