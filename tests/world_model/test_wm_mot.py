"""The MoT network: shapes, modality routing, and KV-cached == full-sequence evaluation."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch

from tv2tv.world_model.config import ModelConfig
from tv2tv.world_model.mot import MoT
from tv2tv.world_model.sampling import sample_chunk
from tv2tv.world_model.sequence import ModelInput, SequenceBatch, build_sequence, collate_sequences

TPF, FPC, P = 2, 2, 6


def _net(mot: bool = True, std: float = 0.1, seed: int = 0) -> MoT:
    torch.manual_seed(seed)
    net = MoT(ModelConfig(dim=32, depth=2, heads=2, vocab_size=260, token_dim=P, tokens_per_frame=TPF,
                          frames_per_chunk=FPC, mot=mot))
    for p in net.parameters():      # leave the zero-initialised gates: test a generic network
        torch.nn.init.normal_(p, std=std)
    return net


def _batch(texts: list[list[int]], b: int = 2, last_clean: bool = False) -> SequenceBatch:
    g = torch.Generator().manual_seed(1)
    seqs = [build_sequence(texts, torch.randn(len(texts), TPF * FPC, P, generator=g), TPF,
                           with_last_clean=last_clean) for _ in range(b)]
    return collate_sequences(seqs)


def _inputs(batch: SequenceBatch, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t_chunk = torch.rand(batch.tokens.shape[0], batch.num_chunks(), generator=g)
    flow_t = torch.gather(t_chunk, 1, batch.chunk_id.clamp_min(0)) * batch.is_noisy
    video = torch.where(batch.is_noisy[..., None], torch.randn(batch.video.shape, generator=g), batch.video)
    return video, flow_t


def _full(net: MoT, batch: SequenceBatch, video: torch.Tensor, flow_t: torch.Tensor):
    return net(batch.model_input(video, flow_t))


def _part(x: ModelInput, sl: slice) -> ModelInput:
    """Tokens ``sl`` of every row of ``x``."""
    return ModelInput(**{f.name: None if getattr(x, f.name) is None else getattr(x, f.name)[:, sl]
                         for f in fields(ModelInput)})


def _text(tokens: torch.Tensor, valid: bool = True) -> ModelInput:
    """Text ids ``(1, L)`` as a network input (``valid=False``: padding)."""
    z = torch.zeros_like(tokens)
    return ModelInput(tokens=tokens, modality=z, chunk_id=z - 1, is_noisy=z.bool(),
                      position=torch.arange(tokens.shape[1])[None], frame_index=z, patch_index=z,
                      video=torch.zeros(*tokens.shape, P), anchor=torch.zeros(*tokens.shape, P),
                      valid=torch.full(tokens.shape, valid), flow_t=z.float())


def _segments(batch: SequenceBatch) -> list[slice]:
    """Runs of one modality / chunk copy (same layout in every row of the batch)."""
    key = torch.stack([batch.modality[0], batch.is_noisy[0].long(), batch.chunk_id[0]], 1).tolist()
    out, start = [], 0
    for i in range(1, len(key) + 1):
        if i == len(key) or key[i] != key[start]:
            out.append(slice(start, i))
            start = i
    return out


@pytest.mark.parametrize("mot", [True, False])
def test_forward_shapes(mot: bool) -> None:
    batch = _batch([[1, 2], [3]])
    out = _full(_net(mot), batch, *_inputs(batch))
    assert out.logits.shape == (*batch.tokens.shape, 260) and out.velocity.shape == (*batch.tokens.shape, P)
    is_video = batch.modality == 1
    assert (out.logits[is_video] == 0).all() and (out.velocity[~is_video] == 0).all()
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.velocity).all()


@pytest.mark.parametrize("mot,capacity", [(True, 0), (False, 0), (True, 5)])
def test_kv_cache_equals_full_sequence(mot: bool, capacity: int) -> None:
    """Appending text and clean chunks to a cache and evaluating noisy chunks against it
    (without appending) gives the full-sequence logits and velocities (fp32, 1e-5), whether
    the cache's buffers grow (capacity 0 or 5) or not."""
    net = _net(mot).eval()
    batch = _batch([[104, 105], [], [1, 2, 3], [7]], last_clean=True)
    video, flow_t = _inputs(batch)
    full = _full(net, batch, video, flow_t)
    x = batch.model_input(video, flow_t)
    cache = net.new_cache(batch.tokens.shape[0], capacity=capacity)
    appended = 0
    with torch.no_grad():
        for sl in _segments(batch):
            noisy = bool(batch.is_noisy[0, sl.start])
            out = net.extend(cache, _part(x, sl), append=not noisy)
            torch.testing.assert_close(out.logits, full.logits[:, sl], atol=1e-5, rtol=0)
            torch.testing.assert_close(out.velocity, full.velocity[:, sl], atol=1e-5, rtol=1e-6)
            appended += 0 if noisy else sl.stop - sl.start
            assert cache.length == appended
    assert full.velocity.abs().max() > 0.1 and full.logits.abs().max() > 0.1   # not a trivial comparison
    assert cache.valid.all() and cache.keys[0].shape[2] == cache.valid.shape[1] == appended


def test_kv_cache_clone_and_views() -> None:
    """``keys``/``values``/``valid`` are the appended entries only; a clone is independent."""
    net = _net().eval()
    batch = _batch([[5, 6], [7]], b=1, last_clean=True)
    x = batch.model_input(*_inputs(batch))
    cache = net.new_cache(1, capacity=2)
    with torch.no_grad():
        net.extend(cache, x, append=True)
        copy = cache.clone()
        keys = [k.clone() for k in cache.keys]
        net.extend(cache, x, append=False)     # scratch writes only
        assert cache.length == copy.length == batch.tokens.shape[1]
        for k, k0 in zip(cache.keys, keys):
            torch.testing.assert_close(k, k0, atol=0, rtol=0)
        net.extend(cache, x, append=True)
    assert cache.length == 2 * copy.length and copy.keys[0].shape[2] == copy.length
    torch.testing.assert_close(copy.keys[1], keys[1], atol=0, rtol=0)


def test_kv_cache_hides_invalid_keys() -> None:
    """A padded (invalid) segment in the cache changes nothing for later tokens."""
    net = _net().eval()
    batch = _batch([[5, 6]], b=1, last_clean=True)
    x = batch.model_input(*_inputs(batch))
    plain = net.extend(net.new_cache(1), x, append=True)
    cache = net.new_cache(1)
    net.extend(cache, _text(torch.tensor([[9, 9, 9]]), valid=False), append=True)
    padded = net.extend(cache, x, append=True)
    torch.testing.assert_close(padded.logits, plain.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(padded.velocity, plain.velocity, atol=1e-5, rtol=0)


def _tower_grads(net: MoT, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    net.zero_grad()
    loss.backward()
    return {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in net.named_parameters()}


def test_routing_separates_the_towers() -> None:
    """Text-only loss: zero gradient for video-only weights; flow-only loss: zero for text-only weights.

    Text tokens read video tokens through attention (keys/values), so the weights that can only
    act on the other modality are: its head and final norm, and, in the last layer, its query,
    output projection, feed-forward and norms (nothing of the other modality reads them).
    """
    net = _net()
    batch = _batch([[1, 2], [3, 4]], last_clean=True)
    video, flow_t = _inputs(batch)
    last = f"blocks.{len(net.blocks) - 1}.towers."
    only = {0: ["text_head", "text_norm", last + "0.out", last + "0.ffn", last + "0.norm2"],
            1: ["video_head", "video_final_ada", last + "1.out", last + "1.ffn"]}
    text_loss = _full(net, batch, video, flow_t).logits[batch.modality == 0].square().mean()
    flow_loss = _full(net, batch, video, flow_t).velocity[batch.is_noisy].square().mean()
    for loss, own, other in ((text_loss, 0, 1), (flow_loss, 1, 0)):
        grads = _tower_grads(net, loss)
        for name, g in grads.items():
            if any(name.startswith(p) for p in only[other]):
                assert g.abs().max() == 0, f"{name} got a gradient from the other modality's loss"
            if any(name.startswith(p) for p in only[own]):
                assert g.abs().max() > 0, f"{name} got no gradient from its own loss"
    # A text-only sequence gives no gradient at all to any video-tower weight.
    text_only = _net()
    out = text_only(_text(torch.tensor([[256, 1, 2, 3]])))
    grads = _tower_grads(text_only, out.logits.square().mean())
    video_tower = [n for n in grads
                   if ".towers.1." in n or n.startswith(("video_", "patch_emb", "frame_emb"))]
    assert video_tower and all(grads[n].abs().max() == 0 for n in video_tower)


def test_sample_chunk_integrates_the_model_velocity() -> None:
    net = _net().eval()
    batch = _batch([[1], [2], [3]])
    noise = torch.randn(2, TPF * FPC, P, generator=torch.Generator().manual_seed(3))
    x0 = sample_chunk(net, batch, chunk=2, steps=1, noise=noise)
    # one Euler step from t = 1: x0 = x1 - v(x1, 1)
    sel = (batch.chunk_id == 2) & batch.is_noisy
    video, flow_t = batch.video.clone(), torch.zeros(batch.tokens.shape)
    video[sel], flow_t[sel] = noise.reshape(-1, P), 1.0
    v = _full(net, batch, video, flow_t).velocity[sel].reshape(2, -1, P)
    torch.testing.assert_close(x0, noise - v)
    with pytest.raises(ValueError, match="no noisy copy"):
        sample_chunk(net, batch, chunk=5)


@pytest.mark.parametrize("residual", [True, False])
def test_fresh_residual_model_starts_as_copy_last(residual: bool) -> None:
    """The zero-initialised head predicts no change: with ``residual`` a one-step sample is
    the anchor (the last frame before the chunk, tiled), i.e. exactly copy-last; without it,
    the sample is zeros."""
    torch.manual_seed(0)
    net = MoT(ModelConfig(dim=32, depth=2, heads=2, vocab_size=260, token_dim=P, tokens_per_frame=TPF,
                          frames_per_chunk=FPC, residual=residual)).eval()
    batch = _batch([[1], [2], [3]])
    noise = torch.randn(2, TPF * FPC, P, generator=torch.Generator().manual_seed(3))
    x0 = sample_chunk(net, batch, chunk=2, steps=4, noise=noise)
    clean1 = batch.video[(batch.chunk_id == 1) & ~batch.is_noisy].reshape(2, TPF * FPC, P)
    last_frame = clean1[:, -TPF:]                                             # (B, N, P)
    want = torch.cat([last_frame] * FPC, 1) if residual else torch.zeros_like(x0)
    torch.testing.assert_close(x0, want, atol=1e-5, rtol=0)
    assert last_frame.abs().max() > 0.1
