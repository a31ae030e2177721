"""``optim.ema_decay``: an average of the weights, updated after each optimizer step, never
optimized itself, and what validation, snapshots and the export use."""

from __future__ import annotations

from pathlib import Path

import torch

from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.checkpoint import read_weights
from tv2tv.world_model.data import resolve_config
from tv2tv.world_model.module import WorldModelModule
from tv2tv.world_model.train import LaunchConfig, train


def _module(make_cfg, store: Path, *overrides: str) -> WorldModelModule:  # noqa: ANN001
    return WorldModelModule(resolve_config(make_cfg(store, *overrides), EpisodeStore.open(store).meta))


def test_the_average_follows_its_warmed_up_decay_and_is_not_optimized(make_cfg,  # noqa: ANN001
                                                                      synthetic_store: Path) -> None:
    m = _module(make_cfg, synthetic_store, "optim.ema_decay=0.5")
    assert m.inference_model is m.ema and m.ema is not None
    assert all(not p.requires_grad for p in m.ema.parameters())
    opt = m.configure_optimizers()["optimizer"]
    optimized = {id(p) for g in opt.param_groups for p in g["params"]}
    assert optimized == {id(p) for p in m.model.parameters()}
    before = [p.detach().clone() for p in m.ema.parameters()]
    with torch.no_grad():
        for p in m.model.parameters():
            p.add_(1.0)
    m.update_ema()                     # step 0: decay min(0.5, 1 / 10) = 0.1
    for old, avg, new in zip(before, m.ema.parameters(), m.model.parameters()):
        torch.testing.assert_close(avg, 0.1 * old + 0.9 * new)
    assert _module(make_cfg, synthetic_store).ema is None


def test_the_export_holds_the_average(make_cfg, synthetic_store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    cfg = make_cfg(synthetic_store, "sequence.window_frames=4", "data.batch_size=2", "max_steps=3",
                   "val_every_steps=3", "optim.ema_decay=0.9")
    run = train(cfg, tmp_path / "run", LaunchConfig(accelerator="cpu", progress=False))
    exported, _ = read_weights(run)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.equal(v, ckpt[f"ema.{k}"]) for k, v in exported.items())
    assert any(not torch.equal(v, ckpt[f"model.{k}"]) for k, v in exported.items())
