"""KV-cached interleaved generation: cached == uncached, interventions, batching, context."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.data import EpisodeDataModule, WindowEncoder, resolve_config, with_words
from tv2tv.world_model.generate import CHUNK, Generator
from tv2tv.world_model.interventions import TranscriptEntry, parse_script
from tv2tv.world_model.rollout_model import SamplingConfig, sample_token, sample_tokens
from tv2tv.world_model.synthetic import random_model
from tv2tv.world_model.tokenizer import BOF, EOF, ByteTokenizer


@pytest.fixture
def parts(tiny_cfg, synthetic_store):
    store = EpisodeStore.open(synthetic_store)
    cfg = resolve_config(tiny_cfg, store.meta)
    return random_model(cfg.model, zero_init_std=0.05), cfg, store.meta, store.load(0)


def make_gen(parts, **sampling) -> Generator:
    model, cfg, meta, _ = parts
    s = SamplingConfig(**{"max_text_tokens": 4, "ode_steps": 2, **sampling})
    return Generator(model, cfg, meta.frame_shape, s, meta)


@pytest.mark.parametrize("cfg_scale,method,window",
                         [(1.0, "heun", -1), (2.5, "euler", -1), (1.0, "midpoint", 0)])
def test_cached_equals_uncached(parts, cfg_scale, method, window) -> None:
    ep = parts[3]
    context = replace(ep, frames=ep.frames[:3], actions=ep.actions[:2], rewards=ep.rewards[:2],
                      text_events=tuple(e for e in ep.text_events if e.frame < 3))
    b = 2 if method == "heun" else 1            # ragged text of a batch: once is enough
    outs = [make_gen(parts, use_cache=c, cfg_scale=cfg_scale, method=method, context_chunks=window)
            .generate(context, 6, parse_script("2: move up"), seed=3, batch=b) for c in (True, False)]
    cached, full = outs
    assert cached.frames.shape == (b, 6, 32, 32, 3)
    assert cached.tokens == full.tokens
    assert cached.transcripts == full.transcripts
    assert np.abs(cached.frames.astype(int) - full.frames.astype(int)).max() <= 1
    assert any(e.source == "model" for e in cached.transcripts[0])   # the model wrote text of its own


def test_intervention_in_transcript_and_tokens(parts) -> None:
    gen = make_gen(parts)
    out = gen.generate(parts[3].frames[0], 8, parse_script("4: move down; 6: wait"), seed=0)
    tr = out.transcripts[0]
    assert TranscriptEntry(4, "move down", "user") in tr
    assert TranscriptEntry(6, "wait", "user") in tr
    assert not any(e.source == "model" and e.frame in (4, 6) for e in tr)   # replaced, not added to
    toks = out.tokens[0]
    marks = [i for i, t in enumerate(toks) if t == CHUNK]
    k = len(marks) - 4                                # context chunks (a single frame: one chunk)
    assert k == 1
    user = ByteTokenizer().encode("move down")
    chunk2 = marks[k + 2]                             # generated chunk 2 holds frames 4 and 5
    assert toks[chunk2 - len(user) - 2:chunk2] == [EOF, *user, BOF]


def test_a_model_with_words_places_them_as_in_training(tiny_cfg, synthetic_store) -> None:
    """``sequence.text_words``: the words are learned from the training texts, saved in the config,
    and a rollout's context, its interventions and its cached and uncached passes use them."""
    cfg = replace(tiny_cfg, sequence=replace(tiny_cfg.sequence, text_words=8))
    dm = EpisodeDataModule(cfg)
    dm.setup("fit")
    assert set(dm.words) == {"move", " up", " down", "wait"} and dm.cfg.model.words == dm.words
    cfg = resolve_config(with_words(cfg, dm.words), dm.meta)
    assert cfg.model.vocab_size == 260 + 4
    model = random_model(cfg.model, zero_init_std=0.05)
    ep = EpisodeStore.open(synthetic_store).load(0)
    parts = (model, cfg, dm.meta, ep)
    gen = make_gen(parts)
    assert gen.tokenizer.words == dm.words
    _, texts, _, _ = gen.context(ep)
    enc = dm.train_set.encoder
    start = ep.frames.shape[0] % cfg.sequence.frames_per_chunk
    assert texts == [enc.chunk_text(ep, start, k) for k in range(len(texts))]
    assert any(i >= 260 for t in texts for i in t)                       # words, not only bytes
    outs = [make_gen(parts, use_cache=c).generate(ep.frames[:3], 6, parse_script("2: move up"), seed=3)
            for c in (True, False)]
    assert outs[0].tokens == outs[1].tokens and outs[0].transcripts == outs[1].transcripts
    move_up = gen.tokenizer.encode("move up")
    assert len(move_up) == 2
    toks = outs[0].tokens[0]
    assert any(toks[i:i + 4] == [EOF, *move_up, BOF] for i in range(len(toks)))
    assert TranscriptEntry(2, "move up", "user") in outs[0].transcripts[0]
    # what training saw is counted in ids: "move up" is 7 bytes but 2 ids, "move sideways" 10 ids
    short = make_gen((model, replace(cfg, sequence=replace(cfg.sequence, max_text_bytes=4)), dm.meta, ep))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short.generate(ep.frames[:3], 2, parse_script("0: move up"), seed=0)
    with pytest.warns(UserWarning, match="is 10 ids long"):
        short.generate(ep.frames[:3], 2, parse_script("0: move sideways"), seed=0)


def test_batch_element_equals_single_rollout(parts) -> None:
    gen = make_gen(parts)
    frame = parts[3].frames[3]
    one = gen.generate(frame, 4, seed=7, batch=1)
    many = gen.generate(frame, 4, seed=7, batch=3)
    assert many.tokens[0] == one.tokens[0] and many.transcripts[0] == one.transcripts[0]
    assert np.abs(many.frames[0].astype(int) - one.frames[0].astype(int)).max() <= 1
    assert not np.array_equal(many.frames[0], many.frames[1])          # other seeds differ


def test_seed_determinism_and_cut_to_n_frames(parts) -> None:
    gen = make_gen(parts, temperature=0.0)
    a = gen.generate(parts[3].frames[:3], 5, seed=1)
    b = gen.generate(parts[3].frames[:3], 5, seed=1)
    assert a.frames.shape[1] == 5 and np.array_equal(a.frames, b.frames) and a.tokens == b.tokens
    assert a.context_frames.shape[0] == 2              # 3 frames -> one whole chunk of 2


def test_context_text_is_placed_as_in_training(parts) -> None:
    """A context's chunk texts are the ids a training window of the same frames puts before its chunks."""
    model, cfg, meta, ep = parts
    from tv2tv.world_model.codec import make_codec
    enc = WindowEncoder(cfg, make_codec(cfg.sequence.patch, meta.frame_shape), ByteTokenizer())
    f = cfg.sequence.frames_per_chunk
    gen = make_gen(parts)
    _, texts, frames, entries = gen.context(ep)
    start = ep.frames.shape[0] % f
    assert texts == [enc.chunk_text(ep, start, k) for k in range(len(texts))] and any(texts)
    assert frames.shape[0] == ep.frames.shape[0] - ep.frames.shape[0] % f
    assert entries[-1].frame == -f and entries[-1].source == "context"


def test_stepwise_continue_text_lets_the_model_go_on(parts) -> None:
    gen = make_gen(parts, max_text_tokens=3)
    session = gen.start(parts[3].frames[0], seed=0)
    frames, entries = session.step(["move up"], continue_text=True)
    assert frames.shape == (1, 2, 32, 32, 3)
    assert entries[0][0] == TranscriptEntry(0, "move up", "user")
    written = session.tokens[0][session.tokens[0].index(CHUNK) + 2:]
    assert written[:7] == ByteTokenizer().encode("move up") and BOF in written


def test_errors(parts) -> None:
    gen = make_gen(parts)
    with pytest.raises(ValueError, match="frame 9"):
        gen.generate(parts[3].frames[0], 4, parse_script("9: fire"))
    model, cfg, meta, _ = parts
    with pytest.raises(ValueError, match="action-id"):
        Generator(model, replace(cfg, variant="action-id"), meta.frame_shape)
    with pytest.raises(ValueError, match="top_p"):
        Generator(model, cfg, meta.frame_shape, SamplingConfig(top_p=0))
    with pytest.raises(ValueError, match="tokens"):
        Generator(model, cfg, (64, 64, 3))


def test_sample_token_top_p_and_greedy() -> None:
    logits = torch.tensor([0.0, 5.0, 4.0, -3.0])
    assert sample_token(logits, 0.0, 1.0, 0.5) == 1
    ids = {sample_token(logits, 1.0, 0.5, u) for u in np.linspace(0, 0.999, 50)}
    assert ids == {1}                                   # top id alone holds > 50 %
    ids = {sample_token(logits, 1.0, 0.99, u) for u in np.linspace(0, 0.999, 200)}
    assert ids == {1, 2}


def test_no_text_model_writes_no_text(parts) -> None:
    model, cfg, meta, ep = parts
    gen = Generator(model, replace(cfg, variant="no-text"), meta.frame_shape, SamplingConfig(ode_steps=1))
    out = gen.generate(ep, 4, seed=0)
    assert out.transcripts[0] == []                        # no context text, no model text
    assert [t for t in out.tokens[0] if t not in (CHUNK, EOF, BOF)] == [256]   # only BOS
    with pytest.raises(ValueError, match="no-text"):
        gen.generate(ep, 4, parse_script("0: move up"))


def test_sample_tokens_rows_equal_single_rows() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 40, generator=g) * 3
    u = torch.rand(16, generator=g)
    for temperature, top_p in ((1.0, 0.9), (0.7, 1.0), (0.0, 0.5)):
        ids = sample_tokens(logits, temperature, top_p, u).tolist()
        assert ids == [sample_token(logits[i], temperature, top_p, float(u[i])) for i in range(16)]
    assert len(set(sample_tokens(logits, 1.0, 0.9, u).tolist())) > 3       # really sampled


def _count_calls(gen: Generator) -> list[int]:
    calls = [0]
    extend = gen.model.extend

    def counting(*args, **kwargs):
        calls[0] += 1
        return extend(*args, **kwargs)

    gen.model.extend = counting  # type: ignore[method-assign]
    return calls


def test_batch_text_is_one_call_then_one_call_per_token(parts) -> None:
    """Ragged forced texts of a batch go in as ONE padded segment; free text costs one call
    per token for the whole batch; both give what each element gives alone."""
    texts = ["up", "move down a lot", None]
    gen = make_gen(parts, max_text_tokens=0)
    calls = _count_calls(gen)
    session = gen.start(parts[3].frames[0], batch=3, seed=0)
    calls[0] = 0
    session.step(texts)
    assert calls[0] == 1 + 1 + 2          # text segment, 2 ODE steps, the clean chunk
    gen = make_gen(parts, max_text_tokens=5, temperature=1.0)
    calls = _count_calls(gen)
    batch = gen.start(parts[3].frames[0], batch=3, seed=4)
    calls[0] = 0
    frames, entries = batch.step(texts, continue_text=True)
    assert calls[0] <= 1 + 5 + 3          # forced texts, <= 5 sampled tokens (the last with BOF), ODE, chunk
    for i, t in enumerate(texts):
        one = make_gen(parts, max_text_tokens=5, temperature=1.0).start(parts[3].frames[0], batch=3, seed=4)
        alone = [t if j == i else "x" * (3 + j) for j in range(3)]    # other elements: other texts
        f1, e1 = one.step(alone, continue_text=True)
        assert e1[i] == entries[i] and one.tokens[i] == batch.tokens[i]
        assert np.abs(f1[i].astype(int) - frames[i].astype(int)).max() <= 1


def test_model_never_writes_nul(parts) -> None:
    """NUL is not text (``TextEvent`` refuses it), so sampling skips it however likely it is."""
    session = make_gen(parts).start(parts[3].frames[0], batch=2, seed=0)
    logits = torch.zeros_like(session.logits)
    logits[:, 0] = 50.0                               # the model all but insists on byte 0
    logits[:, ord("a")] = 45.0
    session.logits = logits
    assert session._sample([0, 1]) == [ord("a"), ord("a")]
