"""A network set up for rollouts: ``RolloutModel`` (what a ``RolloutSession`` reads) and how it
samples (``SamplingConfig``, ``sample_tokens``); docs/design.md, "Rollout".

Legend: B batch, F frames per chunk, N tokens per frame, n = F * N tokens per chunk, P token
dim, V vocab.

``generate.Generator`` is a ``RolloutModel`` that also prepares contexts and drives sessions;
``session.RolloutSession`` takes any ``RolloutModel``, so neither module imports the other.

Example:
    >>> SamplingConfig(top_p=0.5).validate()
    >>> sample_token(torch.tensor([0.0, 9.0]), 0.0, 1.0, 0.5)
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from tv2tv.recorders.store import DatasetMeta
from tv2tv.world_model.codec import make_codec
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.flow import METHODS
from tv2tv.world_model.mot import MoT
from tv2tv.world_model.variants import variant_of


@dataclass
class SamplingConfig:
    """How a rollout samples text and frames.

    Args:
        temperature: text sampling temperature (0: greedy).
        top_p: nucleus sampling mass in (0, 1].
        max_text_tokens: ids (bytes or words) the model may write before one chunk; then ``BOF`` is forced
            (0: the model writes no text of its own, only interventions are fed).
        ode_steps: flow ODE steps per chunk. method: ``euler``, ``heun`` or ``midpoint``.
        cfg_scale: classifier-free guidance on the text (1: off, one stream).
        use_cache: KV cache (True) or the uncached reference (False, for tests and benchmarks).
        context_chunks: most chunks of context the model sees before a new chunk. -1: what it
            was trained on (``sequence.chunks_per_window - 1``); 0: everything so far. When
            the window is full, its newest half is re-encoded from ``BOS`` (positions from 0).
    """

    temperature: float = 1.0
    top_p: float = 0.9
    max_text_tokens: int = 48
    ode_steps: int = 8
    method: Literal["euler", "heun", "midpoint"] = "euler"
    cfg_scale: float = 1.0
    use_cache: bool = True
    context_chunks: int = -1

    def validate(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_text_tokens < 0:
            raise ValueError(f"max_text_tokens must be >= 0, got {self.max_text_tokens}")
        if self.ode_steps < 1:
            raise ValueError(f"ode_steps must be >= 1, got {self.ode_steps}")
        if self.context_chunks < -1:
            raise ValueError(f"context_chunks must be -1 (training window), 0 (all) or >= 1, "
                             f"got {self.context_chunks}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")


class RolloutModel:
    """A trained (or random) ``MoT`` set up for rollouts.

    Args:
        model: the network (put in eval mode here).
        cfg: its ``TrainConfig`` (sequence layout, text separator, variant).
        frame_shape: ``(H, W, C)`` of the frames it was trained on.
        sampling: a ``SamplingConfig`` (default: its defaults).
        meta: the training store's ``DatasetMeta`` (env, texter, action space), kept for envs
            and tools; an ``action-id`` model reads its action space's ``start`` from it.

    Attributes: ``model``, ``cfg``, ``variant`` (``variants.Variant``), ``meta``, ``sampling``,
    ``codec``, ``tokenizer`` (with action ids for ``action-id``), ``action_start``, ``device``,
    ``frames_per_chunk`` (F), ``n_per_frame`` (N), ``n_per_chunk`` (n), ``token_dim`` (P),
    ``context_chunks`` (the most chunks a session keeps; 0: all), ``name`` (how messages name it).

    Example:
        >>> rm = RolloutModel(model, cfg, (64, 64, 3), SamplingConfig(ode_steps=4))   # doctest: +SKIP
        >>> rm.n_per_chunk                                                           # doctest: +SKIP
        128
    """

    def __init__(self, model: MoT, cfg: TrainConfig, frame_shape: tuple[int, int, int],
                 sampling: SamplingConfig | None = None, meta: DatasetMeta | None = None) -> None:
        self.sampling = sampling or SamplingConfig()
        self.sampling.validate()
        self.variant = variant_of(cfg)
        if not self.variant.reads_text and self.sampling.cfg_scale != 1.0:
            raise ValueError(f"cfg_scale={self.sampling.cfg_scale} needs text; this is a {cfg.variant} model")
        self.model, self.cfg, self.meta = model.eval(), cfg, meta
        self.codec = make_codec(cfg.sequence.patch, tuple(frame_shape))
        mc = model.cfg
        if (self.codec.tokens_per_frame, self.codec.token_dim) != (mc.tokens_per_frame, mc.token_dim):
            raise ValueError(f"frames {tuple(frame_shape)} with patch {cfg.sequence.patch} give "
                             f"{self.codec.tokens_per_frame}x{self.codec.token_dim} tokens, the model "
                             f"expects {mc.tokens_per_frame}x{mc.token_dim}")
        self.tokenizer = self.variant.rollout_tokenizer(mc)
        self.action_start = self.variant.action_start(meta)
        self.frames_per_chunk, self.n_per_frame = mc.frames_per_chunk, mc.tokens_per_frame
        self.n_per_chunk, self.token_dim = mc.frames_per_chunk * mc.tokens_per_frame, mc.token_dim
        self.device = next(model.parameters()).device
        cc = self.sampling.context_chunks
        self.context_chunks = max(1, cfg.sequence.chunks_per_window - 1) if cc == -1 else cc
        self.name = "model"   # how messages name it (``Generator.from_run``: the run directory)

    @property
    def num_actions(self) -> int:
        """Discrete actions of an ``action-id`` model (0 for the other variants)."""
        return self.tokenizer.num_actions

    def action_ids(self, actions: np.ndarray | Sequence, batch: int) -> list[list[int]]:
        """Token ids of env ``actions`` ``(B, F)`` (or ``(F,)`` for every element): one chunk's."""
        a = np.asarray(actions)
        f = self.frames_per_chunk
        if a.ndim == 1:
            a = np.broadcast_to(a, (batch, a.shape[0]))
        if a.shape != (batch, f) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions must be integers of shape ({batch}, {f}) or ({f},) (the actions "
                             f"leading to each frame of the chunk, per element), got {a.dtype} "
                             f"{np.shape(actions)}")
        n, lo = self.num_actions, self.action_start
        bad = a[(a < lo) | (a >= lo + n)]
        if bad.size:
            raise ValueError(f"action {int(bad[0])} is outside the model's actions {lo}..{lo + n - 1}")
        return [[self.tokenizer.action(int(x) - lo) for x in row] for row in a]


def sample_tokens(logits: torch.Tensor, temperature: float, top_p: float, u: torch.Tensor) -> torch.Tensor:
    """One id per row of ``logits (B, V)`` by inverse CDF of the uniform draws ``u (B,)``.

    The CDF runs in id order (top-p only decides which ids are kept), so logits that differ
    by float rounding (cached vs uncached) give the same id unless ``u`` sits on a boundary.
    Rows are independent: a row gives the same id alone or in a batch.

    Example:
        >>> sample_tokens(torch.tensor([[0.0, 9.0], [9.0, 0.0]]), 1.0, 0.9, torch.tensor([0.5, 0.5])).tolist()
        [1, 0]
    """
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.double() / temperature, -1)                  # (B, V)
    if top_p < 1:
        sorted_p, order = probs.sort(-1, descending=True)
        keep_sorted = sorted_p.cumsum(-1) - sorted_p < top_p                  # always keeps the top id
        probs = probs * torch.zeros_like(probs).scatter(-1, order, keep_sorted.to(probs.dtype))
    cdf = probs.cumsum(-1) / probs.sum(-1, keepdim=True)
    idx = torch.searchsorted(cdf, u.to(cdf.dtype)[:, None].contiguous(), right=True)[:, 0]
    return idx.clamp_max(logits.shape[-1] - 1)


def sample_token(logits: torch.Tensor, temperature: float, top_p: float, u: float) -> int:
    """One id from ``logits (V,)`` (``sample_tokens`` for one row)."""
    return int(sample_tokens(logits[None], temperature, top_p, torch.tensor([u]))[0])
