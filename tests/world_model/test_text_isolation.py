"""``model.text_loss_trains_video=False``: text queries read the video keys and values as constants.
The forward pass is unchanged; the text loss sends no gradient into the video side, and the flow
loss still trains both towers (frames read the text with gradient)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tv2tv.world_model.data import EpisodeDataModule, resolve_config, sample_batch
from tv2tv.world_model.module import WorldModelModule, step_generator
from tv2tv.world_model.sequence import IGNORE

VIDEO_SIDE = ("towers.1.", "video_in", "patch_emb", "frame_emb", "time_mlp", "video_final_ada", "video_head",
              "text_cond")


def _losses(module: WorldModelModule, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """(velocity output, text loss, flow loss) of one batch with fixed noise."""
    video, flow_t, target, _ = module.prepare_inputs(batch, step_generator(0, 0, 0, "cpu"))
    out = module.model(batch.model_input(video, flow_t, text_cond=module.model.sequence_text_cond(batch)))
    has = batch.text_target != IGNORE
    return (out.velocity, F.cross_entropy(out.logits[has], batch.text_target[has]),
            module.flow_loss(out, target, batch))


def _grads(module: WorldModelModule, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    module.zero_grad()
    loss.backward(retain_graph=True)
    return {n: p.grad.clone() for n, p in module.model.named_parameters() if p.grad is not None}


@pytest.fixture
def pair(make_cfg, synthetic_store):  # noqa: ANN001, ANN201
    """The same weights with and without the option, and a padded training batch."""
    cfg = make_cfg(synthetic_store, "model.text_cond=true", "model.anchor_input=true")
    dm = EpisodeDataModule(cfg)
    batch = sample_batch(dm, 3)
    cfg = resolve_config(cfg, dm.meta)
    torch.manual_seed(0)
    shared = WorldModelModule(cfg)
    for p in shared.parameters():   # no zero-initialised layer: every gradient path is open
        torch.nn.init.normal_(p, std=0.05)
    isolated = WorldModelModule(resolve_config(make_cfg(synthetic_store, "model.text_cond=true",
                                                        "model.anchor_input=true",
                                                        "model.text_loss_trains_video=false"), dm.meta))
    isolated.load_state_dict(shared.state_dict())
    return shared, isolated, batch


def test_forward_is_unchanged(pair) -> None:  # noqa: ANN001
    shared, isolated, batch = pair
    assert not bool(batch.valid.all())              # ragged: padding rows take part
    a, b = _losses(shared, batch), _losses(isolated, batch)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)


def test_text_loss_leaves_the_video_side_alone(pair) -> None:  # noqa: ANN001
    shared, isolated, batch = pair
    for module, isolated_run in ((shared, False), (isolated, True)):
        grads = _grads(module, _losses(module, batch)[1])
        video = [n for n in grads if n.startswith(VIDEO_SIDE) or ".towers.1." in n]
        text = [n for n in grads if ".towers.0." in n or n.startswith(("tok_emb", "text_head"))]
        assert text and all(grads[n].abs().sum() > 0 for n in text if "towers.0" in n)
        video_norm = sum(float(grads[n].abs().sum()) for n in video)
        assert (video_norm == 0) == isolated_run


def test_flow_loss_still_trains_both_sides(pair) -> None:  # noqa: ANN001
    _, isolated, batch = pair
    grads = _grads(isolated, _losses(isolated, batch)[2])
    for part in (".towers.0.", ".towers.1.", "video_in", "text_cond"):  # frames read the text with gradient
        assert sum(float(g.abs().sum()) for n, g in grads.items() if part in n) > 0, part
