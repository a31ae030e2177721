"""``model.anchor_input``: a noisy chunk's tokens read the last frame before the chunk at their own
place. The predicted change then depends on the anchor (it does not without the option), clean
tokens are untouched, and cached and uncached rollouts agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tv2tv.envs.runner import episode_prefix
from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.data import EpisodeDataModule, resolve_config, sample_batch
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.interventions import parse_script
from tv2tv.world_model.rollout_model import SamplingConfig
from tv2tv.world_model.synthetic import random_model


def _change(model, batch, anchor: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    """The head's predicted change ``x0 - anchor (B, L, P)`` at clean inputs (flow time 0.5)."""
    flow_t = torch.where(batch.is_noisy, 0.5, 0.0)
    out = model(batch.model_input(batch.video, flow_t, anchor))
    return out.x0 - anchor


@pytest.mark.parametrize("on", [True, False])
def test_the_predicted_change_reads_the_anchor_only_with_the_option(make_cfg, synthetic_store,  # noqa: ANN001
                                                                    on: bool) -> None:
    cfg = make_cfg(synthetic_store, f"model.anchor_input={str(on).lower()}")
    dm = EpisodeDataModule(cfg)
    batch = sample_batch(dm, 2)
    model = random_model(resolve_config(cfg, dm.meta).model, zero_init_std=0.05)
    other = batch.anchor + torch.randn_like(batch.anchor) * batch.is_noisy[..., None]
    with torch.no_grad():
        a, b = _change(model, batch, batch.anchor), _change(model, batch, other)
    noisy = batch.is_noisy
    assert bool(noisy.any())
    assert (not torch.allclose(a[noisy], b[noisy], atol=1e-4)) == on
    # no token before the first noisy chunk sees a noisy token or an anchor: those are unchanged
    first = int(noisy[0].nonzero()[0])
    assert torch.allclose(a[0, :first], b[0, :first], atol=1e-6)


def test_cached_equals_uncached_with_anchor_input(make_cfg, synthetic_store) -> None:  # noqa: ANN001
    store = EpisodeStore.open(synthetic_store)
    cfg = resolve_config(make_cfg(synthetic_store, "model.anchor_input=true", "model.text_cond=true"),
                         store.meta)
    model, ep = random_model(cfg.model, zero_init_std=0.05), store.load(0)
    outs = [Generator(model, cfg, store.meta.frame_shape,
                      SamplingConfig(max_text_tokens=4, ode_steps=2, use_cache=c), store.meta)
            .generate(episode_prefix(ep, 4, 4), 6, parse_script("2: move up"), seed=0, batch=2)
            for c in (True, False)]
    assert outs[0].tokens == outs[1].tokens
    assert np.abs(outs[0].frames.astype(int) - outs[1].frames.astype(int)).max() <= 1
