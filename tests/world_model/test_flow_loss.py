"""The flow loss options: velocity vs x0 error, and the weight on values that change."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tv2tv.world_model.data import EpisodeDataModule, resolve_config, sample_batch
from tv2tv.world_model.module import WorldModelModule, step_generator
from tv2tv.world_model.synthetic import random_model


def _setup(make_cfg, store: Path, *overrides: str):  # noqa: ANN001, ANN202
    cfg = make_cfg(store, *overrides)
    dm = EpisodeDataModule(cfg)
    batch = sample_batch(dm, 3)
    cfg = resolve_config(cfg, dm.meta)
    module = WorldModelModule(cfg)
    module.model = random_model(cfg.model, zero_init_std=0.05)   # a non-trivial x0 head
    return module, batch


def test_x0_and_velocity_losses_weigh_the_same_error_differently(make_cfg, synthetic_store: Path) -> None:
    # x0_min_t below every drawn t: the velocity is then exactly (x_t - x0) / t
    vel, batch = _setup(make_cfg, synthetic_store, "model.x0_min_t=0.0001")
    x0, _ = _setup(make_cfg, synthetic_store, "flow.loss=x0", "model.x0_min_t=0.0001")
    x0.model.load_state_dict(vel.model.state_dict())
    gen = step_generator(0, 0, 0, "cpu")
    video, flow_t, target, _ = vel.prepare_inputs(batch, gen)
    out = vel.model(batch.model_input(video, flow_t))
    fm = batch.flow_loss_mask
    err = (out.x0[fm] - batch.video[fm]).pow(2)                                  # (M, P)
    t = flow_t[fm][:, None]
    assert float(t.min()) > 0.0001
    # The velocity error of an x0 head is the x0 error over t: its loss weighs it by 1/t².
    assert torch.allclose(vel.flow_loss(out, target, batch), (err / t**2).mean(), rtol=1e-4)
    assert torch.allclose(x0.flow_loss(out, target, batch), err.mean(), rtol=1e-5)


def test_change_weight_counts_only_values_that_moved(make_cfg, synthetic_store: Path) -> None:
    plain, batch = _setup(make_cfg, synthetic_store, "flow.loss=x0")
    weighted, _ = _setup(make_cfg, synthetic_store, "flow.loss=x0", "flow.change_weight=20")
    video, flow_t, target, _ = plain.prepare_inputs(batch, step_generator(0, 0, 0, "cpu"))
    out = plain.model(batch.model_input(video, flow_t))
    fm = batch.flow_loss_mask
    moved = (batch.video[fm] - batch.anchor[fm]).abs() > 0.05
    assert 0 < float(moved.float().mean()) < 1                  # the squares move, the rest does not
    err = (out.x0[fm] - batch.video[fm]).pow(2)
    assert torch.allclose(weighted.flow_loss(out, target, batch), (err * (1 + 20 * moved)).mean(), rtol=1e-5)


def test_bad_flow_loss_settings_are_named(make_cfg, synthetic_store: Path) -> None:
    with pytest.raises(ValueError, match="flow.loss"):
        make_cfg(synthetic_store, "flow.loss=l1").validate()
    with pytest.raises(ValueError, match="change_weight"):
        make_cfg(synthetic_store, "flow.change_weight=-1").validate()
    with pytest.raises(ValueError, match="model.prediction"):
        make_cfg(synthetic_store, "flow.loss=x0", "model.prediction=velocity",
                 "model.residual=false").validate()


def test_noised_context_reaches_the_anchor_with_the_same_noise(make_cfg, synthetic_store: Path) -> None:
    from tv2tv.world_model.sequence import VIDEO, chunk_anchor

    clean, batch = _setup(make_cfg, synthetic_store, "flow.loss=x0")
    video, flow_t, _, anchor = clean.prepare_inputs(batch, step_generator(0, 0, 0, "cpu"))
    context = (batch.modality == VIDEO) & ~batch.is_noisy
    assert float(flow_t[context].abs().max()) == 0.0 and torch.equal(anchor, batch.anchor)

    noised, _ = _setup(make_cfg, synthetic_store, "flow.loss=x0", "sequence.p_noisy_context=1",
                       "sequence.noisy_context_max_t=0.5")
    video, flow_t, _, anchor = noised.prepare_inputs(batch, step_generator(0, 0, 0, "cpu"))
    assert float(flow_t[context].min()) >= 0.0 and float(flow_t[context].max()) > 0.05
    assert float(flow_t[context].max()) < 0.5
    n = int(batch.patch_index.max()) + 1
    for b in range(batch.tokens.shape[0]):
        for k in range(1, int(batch.chunk_id[b].max()) + 1):
            noisy_k = (batch.chunk_id[b] == k) & batch.is_noisy[b]
            if not bool(noisy_k.any()):
                continue
            prev = (batch.chunk_id[b] == k - 1) & context[b]
            # what the model reads of the previous chunk, noised, is what its anchor holds
            expected = chunk_anchor(video[b][prev], n)
            assert torch.equal(anchor[b][noisy_k], expected)
            assert not torch.equal(anchor[b][noisy_k], batch.anchor[b][noisy_k])
    assert torch.equal(anchor[~batch.is_noisy], batch.anchor[~batch.is_noisy])
