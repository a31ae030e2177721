"""The Mixture-of-Transformers network of TV2TV (docs/design.md, "Mixture-of-Transformers").

Legend: B batch, L query length, S key length (KV cache + new tokens), D model dim, H heads,
E head dim (D / H), V vocab, P video token dim, M tokens routed to one tower, F ffn width.

Every layer runs ONE global self-attention over the whole sequence (one
``F.scaled_dot_product_attention`` with an explicit boolean mask), but each modality has its
own QKV and output projections, RMSNorms (QK-norm too) and SwiGLU feed-forward network: tokens
are routed to their tower by the modality ids and merged back in sequence order (Liang et
al. 2024, "Mixture-of-Transformers"; facebookresearch/Mixture-of-Transformers). The video
tower is conditioned on the flow time t by adaptive norms with zero-initialised gates
(adaLN-Zero, Peebles & Xie 2023, DiT). Positions: rotary over the sequence position ids, plus
learned spatial (patch) and in-chunk frame embeddings on video tokens. ``mot=False`` gives
the dense baseline: the same code with one shared tower for both modalities. The video head
predicts the clean chunk x0 by default (``ModelConfig.prediction``), returned as the velocity
``(x_t - x0) / t`` that the flow loss and the ODE use: 8x8x3 pixel patches are wider than a
small model, which then cannot carry the noise through to predict a velocity itself. With
``ModelConfig.residual`` the x0 is the *anchor* (the last frame before the chunk, an input)
plus the head's output, so the zero-initialised head starts as copy-last. With
``ModelConfig.anchor_input`` each noisy token also reads its anchor patch as an input (a linear
projection added to its embedding), so what was at its place a frame ago needs no attention.
With ``ModelConfig.text_loss_trains_video=False`` text queries read the video keys and values as
constants in training (``_attend_isolated``: the same output, no gradient from a text token into
the video side).

The network is a plain ``nn.Module`` whose input is a ``sequence.ModelInput``. ``forward`` runs
a full sequence under its attention mask; ``extend`` runs a segment against a per-layer
``KVCache`` and either appends it (text, clean chunks) or not (a noisy chunk at each ODE step),
for KV-cached rollouts.

Inference fast paths (same results up to float rounding; tested against ``forward``): the
cache is a preallocated, doubling buffer (no ``torch.cat`` per call); a segment of one
modality skips the routing index work; the adaLN projections run once per distinct flow time
(a chunk has one), not per token; attention runs without a mask when every key is visible.

Example:
    >>> cfg = ModelConfig(dim=32, depth=2, heads=2, vocab_size=260, token_dim=12,
    ...                   tokens_per_frame=4, frames_per_chunk=2)
    >>> net = MoT(cfg)
    >>> sum(p.numel() for p in net.parameters()) > 0
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tv2tv.world_model.config import ModelConfig
from tv2tv.world_model.kv_cache import KVCache
from tv2tv.world_model.sequence import VIDEO, ModelInput, SequenceBatch, build_attention_mask


@dataclass
class MoTOutput:
    """``logits (B, L, V)`` at text positions and ``velocity (B, L, P)`` at video positions
    (zeros at the other modality's positions); ``x0 (B, L, P)``, the clean chunk the velocity was
    derived from, with ``ModelConfig.prediction="x0"`` (else ``None``)."""

    logits: torch.Tensor
    velocity: torch.Tensor
    x0: torch.Tensor | None = None


class _Routing:
    """Which towers a segment's tokens go to, and indices that sort flattened tokens by tower
    and put them back. ``towers`` lists the towers that get tokens (a segment of one modality
    goes to its tower whole, without any index work)."""

    def __init__(self, modality: torch.Tensor, towers: int) -> None:
        flat = modality.reshape(-1)                                           # (B*L,)
        self.towers, self.index = [0], None
        if towers == 1:
            return
        is_video = flat == VIDEO
        self.is_video = is_video
        self._groups: tuple[torch.Tensor, torch.Tensor] | None = None
        nv = int(is_video.sum())
        if nv in (0, flat.numel()):
            self.towers = [1 if nv else 0]
            return
        self.towers = [0, 1]
        self.index = [(~is_video).nonzero().squeeze(-1), is_video.nonzero().squeeze(-1)]
        self.sizes = [int(i.numel()) for i in self.index]
        self.perm = torch.cat(self.index)
        self.inverse = torch.argsort(self.perm)

    def query_groups(self, b: int, L: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sequence of a ``(b, L)`` batch, the positions of its text tokens then its video
        tokens, cut to the most text ``(b, Lt)`` and the most video ``(b, Lv)`` of any sequence
        (``_attend_isolated``); computed once per forward pass, not once per layer."""
        if self._groups is None:
            is_video = self.is_video.view(b, L)
            order = torch.argsort(is_video.to(torch.int8), dim=1, stable=True)   # (B, L): text, then video
            n_text, n_video = int((~is_video).sum(1).max()), int(is_video.sum(1).max())
            self._groups = order[:, :n_text], order[:, L - n_video:]
        return self._groups

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B*L, ...)`` -> per active tower ``(M_i, ...)``."""
        if self.index is None:
            return [x]
        return list(torch.index_select(x, 0, self.perm).split(self.sizes))  # index_select: cheap backward

    def merge(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Inverse of ``split``."""
        if self.index is None:
            return parts[0]
        dtype = torch.promote_types(parts[0].dtype, parts[1].dtype)
        return torch.index_select(torch.cat([p.to(dtype) for p in parts]), 0, self.inverse)


# A tower's flow-time conditioning: embeddings of the distinct times ``(U, D)`` and, per token,
# the index of its time ``(M,)`` (None: one time for all tokens, broadcast). None: no adaLN.
Cond = tuple[torch.Tensor, torch.Tensor | None] | None


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` whose weight follows the input dtype, so bf16 autocast keeps the fused kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = None if self.weight is None else self.weight.to(x.dtype)
        return F.rms_norm(x, self.normalized_shape, w, self.eps)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w_gate = nn.Linear(dim, hidden, bias=False)
        self.w_up = nn.Linear(dim, hidden, bias=False)
        self.w_down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:                      # (M, D)
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))


class Tower(nn.Module):
    """One modality's weights in one layer. ``adaptive``: adaLN-Zero on the flow time."""

    def __init__(self, cfg: ModelConfig, adaptive: bool) -> None:
        super().__init__()
        d, e = cfg.dim, cfg.dim // cfg.heads
        hidden = 8 * int(cfg.ffn_mult * d * 2 / 3 / 8 + 0.5)   # SwiGLU 2/3 width, multiple of 8
        self.norm1 = RMSNorm(d, eps=cfg.norm_eps, elementwise_affine=not adaptive)
        self.norm2 = RMSNorm(d, eps=cfg.norm_eps, elementwise_affine=not adaptive)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.q_norm = RMSNorm(e, eps=cfg.norm_eps)
        self.k_norm = RMSNorm(e, eps=cfg.norm_eps)
        self.out = nn.Linear(d, d, bias=False)
        self.ffn = SwiGLU(d, hidden)
        self.adaln = nn.Linear(d, 6 * d) if adaptive else None
        if self.adaln is not None:
            nn.init.zeros_(self.adaln.weight)
            nn.init.zeros_(self.adaln.bias)

    def modulation(self, cond: Cond) -> list[torch.Tensor | None]:
        """shift1, scale1, gate1, shift2, scale2, gate2, each ``(M, D)`` or ``(1, D)`` (Nones
        without adaLN). The projection runs once per distinct flow time, not per token."""
        if self.adaln is None:
            return [None] * 6
        assert cond is not None
        emb, inverse = cond
        mods = self.adaln(F.silu(emb))                                        # (U, 6D)
        if inverse is not None:
            mods = mods.index_select(0, inverse)                              # (M, 6D)
        return list(mods.chunk(6, dim=-1))


def _modulate(x: torch.Tensor, shift: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
    """``x * (1 + scale) + shift`` (one fused op)."""
    return x if shift is None else torch.addcmul(shift, x, 1 + scale)


def _residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    """``x + gate * y`` (one fused op), or ``x + y`` without a gate."""
    return x + y if gate is None else torch.addcmul(x, y, gate)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, half-split convention. x ``(B, L, H, E)``, cos/sin ``(B, L, 1, E/2)``."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class Block(nn.Module):
    """One MoT layer: routed projections, one global attention, routed feed-forward."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.isolate_text = not cfg.text_loss_trains_video
        # tower 0: text (or the shared dense tower, which then also carries the adaLN); 1: video
        self.towers = nn.ModuleList([Tower(cfg, adaptive=not cfg.mot)]
                                    + ([Tower(cfg, adaptive=True)] if cfg.mot else []))

    def forward(self, x: torch.Tensor, route: _Routing, cond: list[Cond],
                rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None,
                cache: tuple[KVCache, int] | None = None,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x ``(B, L, D)``, mask ``(B, L, S)`` (None: every key visible), cond per active tower
        of ``route``, cache ``(KVCache, layer)``; returns the new x and this segment's (k, v)."""
        b, L, d = x.shape
        h, e = self.heads, d // self.heads
        towers = [self.towers[i] for i in route.towers]
        mods = [t.modulation(c) for t, c in zip(towers, cond)]
        xs = route.split(x.reshape(b * L, d))
        qs, ks, vs = [], [], []
        for tower, xm, mod in zip(towers, xs, mods):
            hm = _modulate(tower.norm1(xm), mod[0], mod[1])
            q, k, v = tower.qkv(hm).view(-1, 3, h, e).unbind(1)               # (M, H, E) each
            qs.append(tower.q_norm(q))
            ks.append(tower.k_norm(k))
            vs.append(v)
        q, k, v = (route.merge(p).view(b, L, h, e) for p in (qs, ks, vs))     # (B, L, H, E)
        q, k = _rotate(q, *rope), _rotate(k, *rope)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))                      # (B, H, L, E)
        k_new, v_new = k, v
        if cache is not None:
            k, v = cache[0].attend(cache[1], k, v)                            # (B, H, S, E)
            k, v = k.to(q.dtype), v.to(q.dtype)
        if self.isolate_text and cache is None and route.index is not None and torch.is_grad_enabled():
            att = _attend_isolated(q, k, v, mask, route.is_video.view(b, L), route.query_groups(b, L))
        else:
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None])
        att = att.transpose(1, 2).reshape(b * L, d)                           # (B*L, D)
        outs = []
        for tower, am, xm, mod in zip(towers, route.split(att), xs, mods):
            xm = _residual(xm, tower.out(am), mod[2])
            hm = _modulate(tower.norm2(xm), mod[3], mod[4])
            outs.append(_residual(xm, tower.ffn(hm), mod[5]))
        return route.merge(outs).view(b, L, d), (k_new, v_new)


def _attend_isolated(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                     is_video: torch.Tensor, groups: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Attention in which text queries read the video keys and values as constants
    (``ModelConfig.text_loss_trains_video=False``): the same output as one attention, but the
    text loss sends no gradient into the video side. q, k, v ``(B, H, L, E)``, mask ``(B, L, L)``,
    is_video ``(B, L)``, groups the text and video query rows (``_Routing.query_groups``);
    returns ``(B, H, L, E)``.

    Text and video queries run as two attentions over ``Lt`` and ``Lv`` query rows (the most of
    either in one sequence), so the cost stays about one attention over ``L`` rows."""
    b, h, L, e = q.shape
    keys = is_video[:, None, :, None]                                          # (B, 1, L, 1)
    kd, vd = torch.where(keys, k.detach(), k), torch.where(keys, v.detach(), v)
    out = []
    for rows, kk, vv in ((groups[0], kd, vd), (groups[1], k, v)):
        idx = rows[:, None, :, None].expand(b, h, rows.shape[1], e)             # (B, H, Lq, E)
        m = (None if mask is None
             else torch.gather(mask, 1, rows[..., None].expand(b, rows.shape[1], L))[:, None])
        att = F.scaled_dot_product_attention(torch.gather(q, 2, idx), kk, vv, attn_mask=m)
        out.append(att.new_zeros(b, h, L, e).scatter(2, idx, att))
    # a row of the other kind in a group (padding to Lt or Lv) is computed twice: keep the right one
    return torch.where(is_video[:, None, :, None], out[1], out[0])


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``(M, dim)`` of flow times ``t (M,)`` in [0, 1] (scaled by 1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class MoT(nn.Module):
    """The TV2TV network. See the module docstring for the legend and the API."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.dim
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.video_in = nn.Linear(cfg.token_dim, d)
        # ModelConfig.anchor_input: a noisy token also reads the last frame's patch at its place
        self.anchor_in = nn.Linear(cfg.token_dim, d, bias=False) if cfg.anchor_input else None
        self.patch_emb = nn.Embedding(cfg.tokens_per_frame, d)
        self.frame_emb = nn.Embedding(cfg.frames_per_chunk, d)
        self.time_freq = 256
        self.time_mlp = nn.Sequential(nn.Linear(self.time_freq, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.text_norm = RMSNorm(d, eps=cfg.norm_eps)
        self.video_norm = RMSNorm(d, eps=cfg.norm_eps, elementwise_affine=False)
        self.video_final_ada = nn.Linear(d, 2 * d)
        self.text_head = nn.Linear(d, cfg.vocab_size, bias=False)
        self.video_head = nn.Linear(d, cfg.token_dim)
        # ModelConfig.text_cond: the chunk's text summary, added to its video tokens
        self.text_cond = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d)) if cfg.text_cond else None
        if cfg.text_cond:
            self.text_cond_emb = nn.Embedding(cfg.vocab_size, d)
            self.text_cond_norm = RMSNorm(d, eps=cfg.norm_eps)
        self.apply(self._init)
        for block in self.blocks:
            for tower in block.towers:
                if tower.adaln is not None:
                    nn.init.zeros_(tower.adaln.weight)
                    nn.init.zeros_(tower.adaln.bias)
        zero = [self.video_final_ada, self.video_head] + ([self.text_cond[-1]] if self.text_cond else [])
        for m in zero:  # DiT: zero final layer (and a fresh text path changes nothing)
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    # -- pieces ------------------------------------------------------------------------------
    def _rope(self, position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin ``(B, L, 1, E/2)`` for position ids ``(B, L)``."""
        e = self.cfg.dim // self.cfg.heads
        inv = self.cfg.rope_theta ** (-torch.arange(0, e, 2, device=position.device, dtype=torch.float32) / e)
        ang = position.float()[..., None] * inv                                # (B, L, E/2)
        return ang.cos()[:, :, None], ang.sin()[:, :, None]

    def _embed(self, x: ModelInput, route: _Routing) -> torch.Tensor:
        """Token embeddings ``(B*L, D)``: text ids, or video patches + patch + frame embeddings
        (+ the anchor patch's projection with ``ModelConfig.anchor_input``)."""
        tokens, video, anchor = x.tokens, x.video, x.anchor

        def text(sel: torch.Tensor | None) -> torch.Tensor:                                  # (Mt, D)
            ids = tokens.reshape(-1)
            return self.tok_emb(ids if sel is None else ids[sel])

        def vid(sel: torch.Tensor | None) -> torch.Tensor:                                   # (Mv, D)
            v, p, f = video.reshape(-1, video.shape[-1]), x.patch_index.reshape(-1), x.frame_index.reshape(-1)
            if sel is not None:
                v, p, f = v[sel], p[sel], f[sel]
            out = self.video_in(v.to(self.video_in.weight.dtype)) + self.patch_emb(p) + self.frame_emb(f)
            if self.anchor_in is not None:
                a = anchor.reshape(-1, anchor.shape[-1])
                out = out + self.anchor_in((a if sel is None else a[sel]).to(self.anchor_in.weight.dtype))
            return out

        if route.index is None and len(self.blocks[0].towers) == 2:   # one modality: no index work
            return vid(None) if route.towers == [1] else text(None)
        is_video = x.modality.reshape(-1) == VIDEO
        t_idx, v_idx = (~is_video).nonzero().squeeze(-1), is_video.nonzero().squeeze(-1)
        te, ve = text(t_idx), vid(v_idx)
        out = torch.zeros(is_video.numel(), self.cfg.dim, device=tokens.device,
                          dtype=torch.promote_types(te.dtype, ve.dtype))
        return out.index_copy(0, t_idx, te.to(out.dtype)).index_copy(0, v_idx, ve.to(out.dtype))

    def chunk_text_embedding(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``ModelConfig.text_cond``: the summary ``(B, D)`` of each element's chunk text ``ids
        (B, T)`` (``valid (B, T)`` marks real ids); zero for an element without text.

        The ids' own embeddings are max-pooled (a set of bytes: "up" and "down" differ in a few
        of some 30 bytes, which a mean would dilute ~10x), normalised and passed through an
        MLP whose last layer starts at zero."""
        assert self.text_cond is not None, "model.text_cond is off"
        return self._text_summary(self.text_cond_emb(ids), valid)

    def _text_summary(self, emb: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Max-pool ``emb (B, T, D)`` over the ``valid (B, T)`` ids, then norm and MLP: ``(B, D)``."""
        assert self.text_cond is not None
        has = valid.any(1, keepdim=True)                                              # (B, 1)
        pooled = torch.where(has, emb.masked_fill(~valid[..., None], float("-inf")).amax(1), 0.0)
        return self.text_cond(self.text_cond_norm(pooled)) * has

    def sequence_text_cond(self, batch: SequenceBatch) -> torch.Tensor | None:
        """``(B, L, D)``: each video token's chunk text summary (``chunk_text_embedding`` of the
        ids whose ``SequenceBatch.text_chunk`` is its chunk), zeros at text tokens; ``None``
        without ``ModelConfig.text_cond``."""
        if self.text_cond is None:
            return None
        b, L = batch.tokens.shape
        k = int(max(int(batch.chunk_id.max()), int(batch.text_chunk.max()))) + 1
        emb = self.text_cond_emb(batch.tokens)                                        # (B, L, D), once
        cond = torch.stack([self._text_summary(emb, batch.text_chunk == c) for c in range(k)],
                           dim=1)                                                     # (B, K, D)
        out = torch.gather(cond, 1, batch.chunk_id.clamp_min(0)[..., None].expand(b, L, cond.shape[-1]))
        return out * (batch.modality == VIDEO)[..., None]

    def _time_emb(self, t: torch.Tensor) -> torch.Tensor:
        """``(M,)`` flow times -> ``(M, D)`` embeddings."""
        return self.time_mlp(timestep_embedding(t, self.time_freq).to(self.video_in.weight.dtype))

    def _cond(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flow times ``(M,)`` -> embeddings of the distinct times ``(U, D)`` and each token's index."""
        uniq, inverse = torch.unique(t, return_inverse=True)
        return self._time_emb(uniq), (None if uniq.numel() == 1 else inverse)

    def _time(self, route: _Routing, flow_t: torch.Tensor) -> list[Cond]:
        """Per active tower, its flow-time conditioning (None for the text tower)."""
        parts = route.split(flow_t.reshape(-1))
        adaptive = [self.blocks[0].towers[i].adaln is not None for i in route.towers]
        return [self._cond(t) if a and t.numel() else None for t, a in zip(parts, adaptive)]

    def _heads(self, x: torch.Tensor, modality: torch.Tensor, flow_t: torch.Tensor,
               route: _Routing) -> MoTOutput:
        b, L, d = x.shape
        xf = x.reshape(b * L, d)
        if route.index is None and len(self.blocks[0].towers) == 2:   # one modality
            t_idx = v_idx = None
            has_text, has_video = route.towers == [0], route.towers == [1]
        else:
            is_video = modality.reshape(-1) == VIDEO
            t_idx, v_idx = (~is_video).nonzero().squeeze(-1), is_video.nonzero().squeeze(-1)
            has_text = has_video = True
        v_out, p_out = self.text_head.out_features, self.video_head.out_features
        if has_text:
            logits = self.text_head(self.text_norm(xf if t_idx is None else xf[t_idx])).float()    # (Mt, V)
            if t_idx is not None:
                logits = logits.new_zeros(b * L, v_out).index_copy(0, t_idx, logits)
        else:
            logits = xf.new_zeros(b * L, v_out, dtype=torch.float32)
        if has_video:
            ft = flow_t.reshape(-1)
            emb, inverse = self._cond(ft if v_idx is None else ft[v_idx])
            mod = self.video_final_ada(F.silu(emb))                                                # (U, 2D)
            if inverse is not None:
                mod = mod.index_select(0, inverse)
            shift, scale = mod.chunk(2, dim=-1)
            vel = self.video_head(_modulate(self.video_norm(xf if v_idx is None else xf[v_idx]),
                                            shift, scale)).float()                                 # (Mv, P)
            if v_idx is not None:
                vel = vel.new_zeros(b * L, p_out).index_copy(0, v_idx, vel)
        else:
            vel = xf.new_zeros(b * L, p_out, dtype=torch.float32)
        return MoTOutput(logits.view(b, L, -1), vel.view(b, L, -1))

    def _run(self, x: ModelInput, mask: torch.Tensor | None, cache: KVCache | None
             ) -> tuple[MoTOutput, list[tuple[torch.Tensor, torch.Tensor]]]:
        b, L = x.tokens.shape
        route = _Routing(x.modality, len(self.blocks[0].towers))
        h = self._embed(x, route).view(b, L, -1)                                       # (B, L, D)
        if x.text_cond is not None and self.text_cond is not None:
            h = h + x.text_cond.to(h.dtype)
        cond, rope = self._time(route, x.flow_t), self._rope(x.position)
        kvs = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, route, cond, rope, mask, None if cache is None else (cache, i))
            kvs.append(kv)
        out = self._heads(h, x.modality, x.flow_t, route)
        if self.cfg.prediction == "x0":  # the head predicts x0; v = (x_t - x0) / t (flow.py)
            x0 = out.velocity
            if self.cfg.residual:   # x0 = last frame + predicted change
                x0 = x0 + x.anchor.float()                                              # (B, L, P)
            is_video = (x.modality == VIDEO)[..., None]                                 # (B, L, 1)
            t = x.flow_t.float().clamp_min(self.cfg.x0_min_t)[..., None]                # (B, L, 1)
            out.velocity = torch.where(is_video, (x.video.float() - x0) / t, out.velocity)
            out.x0 = x0
        return out, kvs

    # -- public API --------------------------------------------------------------------------
    def forward(self, x: ModelInput) -> MoTOutput:
        """A full sequence ``x`` (``SequenceBatch.model_input``), under its attention mask
        (``sequence.build_attention_mask`` of its modality, chunk ids, noisy copies and padding).

        ``x.video`` holds the noised values at noisy copies; ``x.anchor`` (``ModelConfig.residual``)
        is added to the x0 prediction and, with ``ModelConfig.anchor_input``, read as an input;
        ``x.text_cond`` (``sequence_text_cond(batch)``; rollouts: ``chunk_text_embedding``) is
        added to each video token's input embedding.
        """
        mask = build_attention_mask(x.modality, x.chunk_id, x.is_noisy, x.valid)        # (B, L, L)
        out, _ = self._run(x, mask, None)
        return out

    def new_cache(self, batch_size: int, device: torch.device | str = "cpu", capacity: int = 0) -> KVCache:
        """An empty KV cache for ``extend`` (``capacity``: tokens to preallocate; it grows anyway)."""
        h, e = self.cfg.heads, self.cfg.dim // self.cfg.heads
        layers = len(self.blocks)
        return KVCache([torch.empty(batch_size, h, capacity, e, device=device) for _ in range(layers)],
                       [torch.empty(batch_size, h, capacity, e, device=device) for _ in range(layers)],
                       torch.zeros(batch_size, capacity, dtype=torch.bool, device=device))._empty()

    def extend(self, cache: KVCache, x: ModelInput, *, append: bool) -> MoTOutput:
        """Run a segment ``x`` of ``L`` new tokens against the cache; optionally append it.

        The segment sees every valid cached key. Inside the segment, text is causal and the
        video tokens of one chunk (``x.chunk_id``) see each other both ways (``x.is_noisy`` is
        not read: a segment holds one copy of a chunk). Use ``append=True`` for text and clean
        chunks and ``append=False`` to evaluate a noisy chunk at each ODE step (it must not be
        cached). ``x.valid`` marks padding of ragged batches. When every key is visible to every
        query (a chunk, or one token, over an all-valid cache) attention runs without a mask.

        Example:
            >>> cache = net.new_cache(1)                                    # doctest: +SKIP
            >>> out = net.extend(cache, bos_and_text, append=True)          # doctest: +SKIP
        """
        b, L = x.tokens.shape
        mask: torch.Tensor | None = None
        one_chunk = L == 1 or (bool((x.modality == VIDEO).all())
                               and bool((x.chunk_id == x.chunk_id[:, :1]).all()))
        if not (cache.all_valid and bool(x.valid.all()) and one_chunk):
            inner = build_attention_mask(x.modality, x.chunk_id, torch.zeros_like(x.valid),
                                         x.valid)                                  # (B, L, L)
            mask = torch.cat([cache.valid[:, None, :].expand(b, L, cache.length), inner], -1)  # (B, L, S)
        out, _ = self._run(x, mask, cache)
        if append:
            cache.append(x.valid)
        return out
