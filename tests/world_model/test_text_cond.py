"""``model.text_cond``: a chunk's text summary reaches its frames directly. Training sequences
and rollouts compute the same summary; cached and uncached rollouts agree; a fresh model is
unchanged by it (zero-initialised), and the text changes the frames once it is trained."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.data import EpisodeDataModule, resolve_config, sample_batch
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.interventions import parse_script
from tv2tv.world_model.mot import MoT
from tv2tv.world_model.rollout_model import SamplingConfig
from tv2tv.world_model.synthetic import random_model
from tv2tv.world_model.tokenizer import PAD


@pytest.fixture
def cond_parts(make_cfg, synthetic_store):  # noqa: ANN001, ANN201
    store = EpisodeStore.open(synthetic_store)
    cfg = resolve_config(make_cfg(synthetic_store, "model.text_cond=true"), store.meta)
    return random_model(cfg.model, zero_init_std=0.05), cfg, store.meta, store.load(0)


def test_sequence_summary_equals_the_summary_of_each_chunks_ids(make_cfg, synthetic_store) -> None:  # noqa: ANN001
    cfg = make_cfg(synthetic_store, "model.text_cond=true")
    dm = EpisodeDataModule(cfg)
    batch = sample_batch(dm, 2)
    model = random_model(resolve_config(cfg, dm.meta).model, zero_init_std=0.05)
    cond = model.sequence_text_cond(batch)                                       # (B, L, D)
    assert cond.shape == (*batch.tokens.shape, cfg.model.dim)
    for b in range(2):
        assert bool((cond[b][batch.modality[b] == 0] == 0).all())               # text tokens get nothing
        for k in range(batch.num_chunks()):
            ids = batch.tokens[b][batch.text_chunk[b] == k]
            assert len(ids) > 0                                                  # one text per step
            want = model.chunk_text_embedding(ids[None], torch.ones(1, len(ids), dtype=torch.bool))[0]
            got = cond[b][(batch.chunk_id[b] == k) & (batch.modality[b] == 1)]
            assert torch.allclose(got, want.expand_as(got), atol=1e-6)


def test_no_text_means_no_summary_and_a_fresh_path_is_zero(cond_parts) -> None:  # noqa: ANN001
    model, cfg, _, _ = cond_parts
    ids = torch.tensor([[104, 105, PAD], [PAD, PAD, PAD]])
    out = model.chunk_text_embedding(ids, ids != PAD)
    assert bool(out[1].eq(0).all()) and not bool(out[0].eq(0).all())
    fresh = MoT(cfg.model)
    assert bool(fresh.chunk_text_embedding(ids, ids != PAD).eq(0).all())


@pytest.mark.parametrize("cfg_scale", [1.0, 2.0])
def test_cached_equals_uncached_with_text_cond(cond_parts, cfg_scale: float) -> None:  # noqa: ANN001
    model, cfg, meta, ep = cond_parts
    outs = [Generator(model, cfg, meta.frame_shape,
                      SamplingConfig(max_text_tokens=4, ode_steps=2, use_cache=c, cfg_scale=cfg_scale), meta)
            .generate(_prefix(ep), 6, parse_script("2: move up"), seed=0, batch=2)
            for c in (True, False)]
    cached, full = outs
    assert cached.tokens == full.tokens
    assert np.abs(cached.frames.astype(int) - full.frames.astype(int)).max() <= 1


def test_the_text_changes_the_frames_through_the_path(cond_parts) -> None:  # noqa: ANN001
    model, cfg, meta, ep = cond_parts
    gen = Generator(model, cfg, meta.frame_shape, SamplingConfig(max_text_tokens=0, ode_steps=2), meta)
    a = gen.start(_prefix(ep), batch=2, seed=0).step(["move up", "move down"])[0]
    b = gen.start(_prefix(ep), batch=2, seed=0).step(["move up", "move up"])[0]
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], b[1])


def _prefix(ep):  # noqa: ANN001, ANN202
    from tv2tv.envs.runner import episode_prefix

    return episode_prefix(ep, 4, 4)


def test_chunk_video_positions_do_not_depend_on_the_text() -> None:
    from tv2tv.world_model.sequence import VIDEO, build_sequence

    x = torch.randn(3, 4, 2)
    short = build_sequence([[1], [2], [3]], x, 2, context_chunks=1, video_positions="chunk")
    long = build_sequence([[1] * 9, [], [3] * 5], x, 2, context_chunks=1, video_positions="chunk")
    for s in (short, long):
        vid = s.modality == VIDEO
        assert s.position[vid].tolist() == [s.chunk_id[vid][j].item() * 4 + j % 4
                                            for j in range(int(vid.sum()))]
    assert torch.equal(short.position[short.modality == VIDEO], long.position[long.modality == VIDEO])
    stream = build_sequence([[1] * 9, [], [3] * 5], x, 2, context_chunks=1)
    assert not torch.equal(stream.position[stream.modality == VIDEO], long.position[long.modality == VIDEO])


def test_cached_equals_uncached_with_chunk_positions(make_cfg, synthetic_store) -> None:  # noqa: ANN001
    store = EpisodeStore.open(synthetic_store)
    cfg = resolve_config(make_cfg(synthetic_store, "model.text_cond=true", "sequence.video_positions=chunk"),
                         store.meta)
    model, ep = random_model(cfg.model, zero_init_std=0.05), store.load(0)
    outs = [Generator(model, cfg, store.meta.frame_shape,
                      SamplingConfig(max_text_tokens=4, ode_steps=2, use_cache=c, context_chunks=2),
                      store.meta)
            .generate(_prefix(ep), 8, parse_script("2: move up"), seed=0, batch=2) for c in (True, False)]
    assert outs[0].tokens == outs[1].tokens
    assert np.abs(outs[0].frames.astype(int) - outs[1].frames.astype(int)).max() <= 1
