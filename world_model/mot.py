"""The Mixture-of-Transformers network of TV2TV (DESIGN.md, "Mixture-of-Transformers").

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
the dense baseline: the same code with one shared tower for both modalities.

The network is a plain ``nn.Module``. ``forward`` takes a full training sequence and its
mask; ``extend`` runs a segment against a per-layer ``KVCache`` and either appends it (text,
clean chunks) or not (a noisy chunk at each ODE step), for KV-cached rollouts.

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
from tv2tv.world_model.sequence import VIDEO, build_attention_mask


@dataclass
class MoTOutput:
    """``logits (B, L, V)`` at text positions and ``velocity (B, L, P)`` at video positions
    (zeros at the other modality's positions)."""

    logits: torch.Tensor
    velocity: torch.Tensor


@dataclass
class KVCache:
    """Per-layer keys and values ``(B, H, S, E)`` of the tokens appended so far.

    ``valid (B, S)`` is False for keys no query may see (padding of ragged batches).
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    valid: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.valid.shape[1])

    def clone(self) -> KVCache:
        return KVCache([k.clone() for k in self.keys], [v.clone() for v in self.values], self.valid.clone())


class _Routing:
    """Indices that sort flattened tokens by tower and put them back (``inverse``)."""

    def __init__(self, modality: torch.Tensor, towers: int) -> None:
        flat = modality.reshape(-1)                                           # (B*L,)
        if towers == 1:
            self.index = [torch.arange(flat.numel(), device=flat.device)]
        else:
            self.index = [(flat != VIDEO).nonzero().squeeze(-1), (flat == VIDEO).nonzero().squeeze(-1)]
        self.sizes = [int(i.numel()) for i in self.index]
        self.single = towers == 1
        if not self.single:
            self.perm = torch.cat(self.index)
            self.inverse = torch.argsort(self.perm)

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B*L, ...)`` -> per-tower ``(M_i, ...)``."""
        if self.single:
            return [x]
        return list(torch.index_select(x, 0, self.perm).split(self.sizes))  # index_select: cheap backward

    def merge(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Inverse of ``split``."""
        if self.single:
            return parts[0]
        dtype = torch.promote_types(parts[0].dtype, parts[1].dtype)
        return torch.index_select(torch.cat([p.to(dtype) for p in parts]), 0, self.inverse)


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

    def modulation(self, temb: torch.Tensor | None) -> list[torch.Tensor | None]:
        """shift1, scale1, gate1, shift2, scale2, gate2 ``(M, D)`` (Nones without adaLN)."""
        if self.adaln is None:
            return [None] * 6
        assert temb is not None
        return list(self.adaln(F.silu(temb)).chunk(6, dim=-1))


def _modulate(x: torch.Tensor, shift: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
    return x if shift is None else x * (1 + scale) + shift


def _gate(x: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    return x if gate is None else x * gate


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, half-split convention. x ``(B, L, H, E)``, cos/sin ``(B, L, 1, E/2)``."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class Block(nn.Module):
    """One MoT layer: routed projections, one global attention, routed feed-forward."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        # tower 0: text (or the shared dense tower, which then also carries the adaLN); 1: video
        self.towers = nn.ModuleList([Tower(cfg, adaptive=not cfg.mot)]
                                    + ([Tower(cfg, adaptive=True)] if cfg.mot else []))

    def forward(self, x: torch.Tensor, route: _Routing, temb: list[torch.Tensor | None],
                rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x ``(B, L, D)``, mask ``(B, L, S)``; returns the new x and this segment's (k, v)."""
        b, L, d = x.shape
        h, e = self.heads, d // self.heads
        mods = [t.modulation(te) for t, te in zip(self.towers, temb)]
        qs, ks, vs = [], [], []
        for tower, xm, mod in zip(self.towers, route.split(x.reshape(b * L, d)), mods):
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
            k, v = torch.cat([cache[0].to(k.dtype), k], 2), torch.cat([cache[1].to(v.dtype), v], 2)  # (B, H, S, E)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None])  # (B, H, L, E)
        att = att.transpose(1, 2).reshape(b * L, d)
        outs = []
        for tower, am, xm, mod in zip(self.towers, route.split(att), route.split(x.reshape(b * L, d)), mods):
            xm = xm + _gate(tower.out(am), mod[2])
            hm = _modulate(tower.norm2(xm), mod[3], mod[4])
            outs.append(xm + _gate(tower.ffn(hm), mod[5]))
        return route.merge(outs).view(b, L, d), (k_new, v_new)


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
        self.apply(self._init)
        for block in self.blocks:
            for tower in block.towers:
                if tower.adaln is not None:
                    nn.init.zeros_(tower.adaln.weight)
                    nn.init.zeros_(tower.adaln.bias)
        for m in (self.video_final_ada, self.video_head):  # DiT: zero final layer
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

    def _embed(self, tokens: torch.Tensor, video: torch.Tensor, modality: torch.Tensor,
               frame_index: torch.Tensor, patch_index: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``(B*L, D)``: text ids, or video patches + patch + frame embeddings."""
        is_video = modality.reshape(-1) == VIDEO
        t_idx, v_idx = (~is_video).nonzero().squeeze(-1), is_video.nonzero().squeeze(-1)
        text = self.tok_emb(tokens.reshape(-1)[t_idx])                                       # (Mt, D)
        vid = (self.video_in(video.reshape(-1, video.shape[-1])[v_idx])
               + self.patch_emb(patch_index.reshape(-1)[v_idx]) + self.frame_emb(frame_index.reshape(-1)[v_idx]))
        x = torch.zeros(is_video.numel(), self.cfg.dim, device=tokens.device,
                        dtype=torch.promote_types(text.dtype, vid.dtype))
        return x.index_copy(0, t_idx, text.to(x.dtype)).index_copy(0, v_idx, vid.to(x.dtype))

    def _time_emb(self, t: torch.Tensor) -> torch.Tensor:
        """``(M,)`` flow times -> ``(M, D)`` embeddings."""
        return self.time_mlp(timestep_embedding(t, self.time_freq).to(self.video_in.weight.dtype))

    def _time(self, route: _Routing, flow_t: torch.Tensor) -> list[torch.Tensor | None]:
        """Per-tower flow-time embeddings ``(M, D)`` (None for the text tower)."""
        parts = route.split(flow_t.reshape(-1))
        embs: list[torch.Tensor | None] = [self._time_emb(t) for t in parts]
        if not route.single:
            embs[0] = None
        return embs

    def _heads(self, x: torch.Tensor, modality: torch.Tensor, flow_t: torch.Tensor) -> MoTOutput:
        b, L, d = x.shape
        xf, is_video = x.reshape(b * L, d), modality.reshape(-1) == VIDEO
        t_idx, v_idx = (~is_video).nonzero().squeeze(-1), is_video.nonzero().squeeze(-1)
        logits = self.text_head(self.text_norm(xf[t_idx]))                                  # (Mt, V)
        temb = self._time_emb(flow_t.reshape(-1)[v_idx])
        shift, scale = self.video_final_ada(F.silu(temb)).chunk(2, dim=-1)
        vel = self.video_head(_modulate(self.video_norm(xf[v_idx]), shift, scale))          # (Mv, P)
        out_l = logits.new_zeros(b * L, logits.shape[-1], dtype=torch.float32).index_copy(0, t_idx, logits.float())
        out_v = vel.new_zeros(b * L, vel.shape[-1], dtype=torch.float32).index_copy(0, v_idx, vel.float())
        return MoTOutput(out_l.view(b, L, -1), out_v.view(b, L, -1))

    def _run(self, tokens: torch.Tensor, video: torch.Tensor, modality: torch.Tensor, position: torch.Tensor,
             frame_index: torch.Tensor, patch_index: torch.Tensor, flow_t: torch.Tensor, mask: torch.Tensor,
             cache: KVCache | None) -> tuple[MoTOutput, list[tuple[torch.Tensor, torch.Tensor]]]:
        b, L = tokens.shape
        route = _Routing(modality, len(self.blocks[0].towers))
        x = self._embed(tokens, video, modality, frame_index, patch_index).view(b, L, -1)  # (B, L, D)
        temb, rope = self._time(route, flow_t), self._rope(position)
        kvs = []
        for i, block in enumerate(self.blocks):
            past = None if cache is None else (cache.keys[i], cache.values[i])
            x, kv = block(x, route, temb, rope, mask, past)
            kvs.append(kv)
        return self._heads(x, modality, flow_t), kvs

    # -- public API --------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, video: torch.Tensor, modality: torch.Tensor, position: torch.Tensor,
                frame_index: torch.Tensor, patch_index: torch.Tensor, flow_t: torch.Tensor,
                mask: torch.Tensor) -> MoTOutput:
        """A full sequence.

        Args:
            tokens: text ids ``(B, L)`` (ignored at video positions).
            video: video token values ``(B, L, P)`` (noised for noisy copies; ignored at text).
            modality: 0 text, 1 video ``(B, L)``. position: rotary position ids ``(B, L)``.
            frame_index, patch_index: a video token's frame in its chunk and patch in its frame.
            flow_t: flow time ``(B, L)`` of each video token (0 for clean copies).
            mask: boolean attention mask ``(B, L, L)`` (``sequence.build_attention_mask``).
        """
        out, _ = self._run(tokens, video, modality, position, frame_index, patch_index, flow_t, mask, None)
        return out

    def new_cache(self, batch_size: int, device: torch.device | str = "cpu") -> KVCache:
        """An empty KV cache for ``extend``."""
        h, e = self.cfg.heads, self.cfg.dim // self.cfg.heads
        empty = torch.zeros(batch_size, h, 0, e, device=device)
        return KVCache([empty] * len(self.blocks), [empty] * len(self.blocks),
                       torch.zeros(batch_size, 0, dtype=torch.bool, device=device))

    def extend(self, cache: KVCache, tokens: torch.Tensor, video: torch.Tensor, modality: torch.Tensor,
               position: torch.Tensor, frame_index: torch.Tensor, patch_index: torch.Tensor,
               flow_t: torch.Tensor, *, append: bool, chunk_id: torch.Tensor | None = None,
               valid: torch.Tensor | None = None) -> MoTOutput:
        """Run a segment of ``L`` new tokens against the cache; optionally append it.

        The segment sees every valid cached key. Inside the segment, text is causal and the
        video tokens of one chunk (``chunk_id``; default: all video tokens form one chunk)
        see each other both ways. Use ``append=True`` for text and clean chunks and
        ``append=False`` to evaluate a noisy chunk at each ODE step (it must not be cached).
        Arguments are as in ``forward``; ``valid (B, L)`` marks padding of ragged batches.

        Example:
            >>> cache = net.new_cache(1)                                    # doctest: +SKIP
            >>> out = net.extend(cache, bos_and_text..., append=True)       # doctest: +SKIP
        """
        b, L = tokens.shape
        if chunk_id is None:
            chunk_id = torch.where(modality == VIDEO, 0, -1)
        if valid is None:
            valid = torch.ones(b, L, dtype=torch.bool, device=tokens.device)
        inner = build_attention_mask(modality, chunk_id, torch.zeros_like(valid), valid)      # (B, L, L)
        mask = torch.cat([cache.valid[:, None, :].expand(b, L, cache.length), inner], dim=-1)  # (B, L, S)
        out, kvs = self._run(tokens, video, modality, position, frame_index, patch_index, flow_t, mask, cache)
        if append:
            for i, (k, v) in enumerate(kvs):
                cache.keys[i] = torch.cat([cache.keys[i].to(k.dtype), k], 2)
                cache.values[i] = torch.cat([cache.values[i].to(v.dtype), v], 2)
            cache.valid = torch.cat([cache.valid, valid], dim=1)
        return out
