"""``WorldModelModule``: the LightningModule that owns losses, optimizer and logging.

Legend: B batch, L sequence, K chunks per window, P token dim.

``loss = ce_text + lambda * mse_flow`` (docs/design.md, "Losses"). One ``model_step`` serves
training and validation. All randomness of a step (flow times, noise, noised context) comes
from a generator seeded by ``(seed, global_step, rank)``, so runs are reproducible and a
resumed run continues the same loss curve without restoring RNG state. With
``optim.ema_decay`` the module also holds ``ema``, the average of the weights, and
``inference_model`` (what validation, snapshots and exports use) is it.

Example:
    >>> module = WorldModelModule(cfg)                       # a resolved TrainConfig  # doctest: +SKIP
    >>> loss, parts = module.model_step(batch, torch.Generator().manual_seed(0))       # doctest: +SKIP
    >>> sorted(parts)                                                                    # doctest: +SKIP
    ['flow', 'text']
"""

from __future__ import annotations

import copy
import math
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from tv2tv.config import from_dict, to_dict
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.flow import add_noise, sample_time, velocity_target
from tv2tv.world_model.mot import MoT, MoTOutput
from tv2tv.world_model.sampling import psnr, sample_chunk
from tv2tv.world_model.sequence import IGNORE, VIDEO, SequenceBatch


def step_generator(seed: int, step: int, rank: int, device: torch.device | str,
                   stream: int = 0) -> torch.Generator:
    """A generator seeded by ``(seed, stream, step, rank)``: independent per step, rank and
    stream (0 training, 1 validation)."""
    state = int(np.random.SeedSequence([seed, stream, step, rank]).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(state)


class WorldModelModule(L.LightningModule):
    """Trains the ``MoT`` on interleaved sequences.

    Args:
        cfg: a resolved ``TrainConfig`` (or its dict, as stored in a Lightning checkpoint).
    """

    def __init__(self, cfg: TrainConfig | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(cfg, dict):
            cfg = from_dict(TrainConfig, cfg)
        self.cfg = cfg
        self.save_hyperparameters({"cfg": to_dict(cfg)})
        self.model = MoT(cfg.model)
        self.ema: MoT | None = None
        if cfg.optim.ema_decay > 0:
            self.ema = copy.deepcopy(self.model).requires_grad_(False)

    @property
    def inference_model(self) -> MoT:
        """The weights to evaluate and export: the average with ``optim.ema_decay``, else the trained ones."""
        return self.model if self.ema is None else self.ema

    @torch.no_grad()
    def update_ema(self) -> None:
        """Move the average toward the weights after optimizer step ``global_step``."""
        if self.ema is None:
            return
        step = self.global_step
        decay = min(self.cfg.optim.ema_decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()), 1.0 - decay)
        for avg, buf in zip(self.ema.buffers(), self.model.buffers()):
            avg.copy_(buf)

    # -- the shared step -----------------------------------------------------------------------
    def prepare_inputs(self, batch: SequenceBatch, gen: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noise the chunks: returns video input ``(B, L, P)``, flow_t ``(B, L)``, velocity target
        and the anchor input ``(B, L, P)`` (``batch.anchor``, noised with its frame when
        ``sequence.p_noisy_context`` noised that frame: see ``noised_anchor``)."""
        b = batch.tokens.shape[0]
        k = batch.num_chunks()
        dev = batch.video.device
        fc, sc = self.cfg.flow, self.cfg.sequence
        t_chunk = sample_time((b, k), fc.time_mu, fc.time_sigma, generator=gen, device=dev)        # (B, K)
        cid = batch.chunk_id.clamp_min(0)
        is_video = batch.modality == VIDEO
        t_tok = torch.gather(t_chunk, 1, cid) * (is_video & batch.is_noisy)                        # (B, L)
        if sc.p_noisy_context > 0:  # exposure bias: lightly noise some clean context chunks
            hit = torch.rand(b, k, generator=gen, device=dev) < sc.p_noisy_context
            t_ctx = torch.rand(b, k, generator=gen, device=dev) * sc.noisy_context_max_t * hit
            t_tok = t_tok + torch.gather(t_ctx, 1, cid) * (is_video & ~batch.is_noisy)
        eps = torch.randn(batch.video.shape, generator=gen, device=dev)                            # (B, L, P)
        video = add_noise(batch.video, eps, t_tok[..., None])
        anchor = noised_anchor(batch, video, sc.frames_per_chunk) if sc.p_noisy_context > 0 else batch.anchor
        return video, t_tok, velocity_target(batch.video, eps), anchor

    def model_step(self, batch: SequenceBatch, gen: torch.Generator,
                   net: MoT | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its parts ``{"text": ce, "flow": mse}`` for one batch (of ``net``,
        default the trained weights)."""
        net = self.model if net is None else net
        video, flow_t, target, anchor = self.prepare_inputs(batch, gen)
        out = net(batch.model_input(video, flow_t, anchor, net.sequence_text_cond(batch)))
        has_text = batch.text_target != IGNORE
        if bool(has_text.any()):
            text = F.cross_entropy(out.logits[has_text], batch.text_target[has_text])
        else:  # baselines without text loss: keep the head in the graph (DDP needs every grad)
            text = out.logits.sum() * 0.0
        flow = self.flow_loss(out, target, batch)
        loss = text + self.cfg.flow.loss_weight * flow
        return loss, {"text": text.detach(), "flow": flow.detach()}

    def flow_loss(self, out: MoTOutput, target: torch.Tensor, batch: SequenceBatch) -> torch.Tensor:
        """The flow loss over the noisy tokens (``FlowConfig.loss``, ``change_weight``)."""
        fc = self.cfg.flow
        fm = batch.flow_loss_mask                                                     # (B, L)
        if fc.loss == "x0":
            assert out.x0 is not None
            err = (out.x0[fm] - batch.video[fm]).pow(2)                               # (M, P)
        else:
            err = (out.velocity[fm] - target[fm]).pow(2)
        if fc.change_weight > 0:  # weigh what moves: the anchor is the last frame before the chunk
            moved = (batch.video[fm] - batch.anchor[fm]).abs() > fc.change_threshold   # (M, P)
            err = err * (1.0 + fc.change_weight * moved)
        return err.mean()

    # -- Lightning hooks -------------------------------------------------------------------------
    def training_step(self, batch: SequenceBatch, batch_idx: int) -> torch.Tensor:
        gen = step_generator(self.cfg.seed, self.global_step, self.global_rank, self.device)
        loss, parts = self.model_step(batch, gen)
        b = batch.tokens.shape[0]
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=b)
        self.log("train/text_loss", parts["text"], prog_bar=True, batch_size=b)
        self.log("train/flow_loss", parts["flow"], prog_bar=True, batch_size=b)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=b)  # type: ignore[union-attr]
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        # The average moves with every optimizer step, before any callback (a checkpoint saved at
        # the end of this batch holds both, so a resumed run continues the same average).
        super().optimizer_step(*args, **kwargs)
        self.update_ema()

    def validation_step(self, batch: SequenceBatch, batch_idx: int) -> None:
        gen = step_generator(self.cfg.seed, batch_idx, 0, self.device, stream=1)   # same noise every check
        loss, parts = self.model_step(batch, gen, self.inference_model)
        b = batch.tokens.shape[0]
        self.log("val/loss", loss, batch_size=b, sync_dist=True, prog_bar=True)
        self.log("val/text_loss", parts["text"], batch_size=b, sync_dist=True)
        self.log("val/flow_loss", parts["flow"], batch_size=b, sync_dist=True)
        if self.cfg.sample_val and batch_idx == 0:
            self.log("val/psnr", self.one_step_psnr(batch, gen), batch_size=b, sync_dist=True)

    def one_step_psnr(self, batch: SequenceBatch, gen: torch.Generator) -> torch.Tensor:
        """Mean PSNR (dB) of the last chunk sampled from its true context (one-step prediction)."""
        k = batch.num_chunks() - 1
        x0 = batch.video[(batch.chunk_id == k) & batch.is_noisy].reshape(batch.tokens.shape[0], -1,
                                                                          batch.video.shape[-1])
        fc = self.cfg.flow
        x_hat = sample_chunk(self.inference_model, batch, k, fc.sample_steps, fc.sample_method, generator=gen)
        return psnr(x_hat, x0).mean()

    def configure_optimizers(self) -> dict[str, Any]:
        oc = self.cfg.optim
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": oc.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=oc.lr, betas=oc.betas,
                                foreach=True)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lr_lambda(oc.warmup_steps, oc.schedule_steps or self.cfg.max_steps, oc.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def noised_anchor(batch: SequenceBatch, video: torch.Tensor, frames_per_chunk: int) -> torch.Tensor:
    """The anchor as a rollout would give it: each noisy token's anchor patch taken from the
    model's input ``video (B, L, P)`` at the same patch of the last frame of the previous
    clean chunk, so a context frame noised for exposure bias is noised in the anchor too
    (the same noise). Where that frame is clean this equals ``batch.anchor``."""
    b, _ = batch.chunk_id.shape
    is_video = batch.modality == VIDEO
    source = is_video & ~batch.is_noisy & (batch.frame_index == frames_per_chunk - 1)     # (B, L)
    table = torch.zeros(b, batch.num_chunks(), int(batch.patch_index.max()) + 1, dtype=torch.long,
                        device=video.device)                                               # (B, K, N)
    bi, li = source.nonzero(as_tuple=True)
    table[bi, batch.chunk_id[bi, li], batch.patch_index[bi, li]] = li
    bi, li = (is_video & batch.is_noisy & (batch.chunk_id > 0)).nonzero(as_tuple=True)
    anchor = batch.anchor.clone()
    anchor[bi, li] = video[bi, table[bi, batch.chunk_id[bi, li] - 1, batch.patch_index[bi, li]]]
    return anchor


def lr_lambda(warmup: int, total: int, min_ratio: float):  # noqa: ANN201 - a closure
    """Linear warmup for ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f
