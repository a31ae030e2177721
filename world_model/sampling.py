"""Uncached sampling of one chunk over a full training sequence (validation, tests).

Legend: B batch, L sequence, n tokens per chunk, P token dim.

The noisy copy of chunk ``k`` sees only the text and clean chunks before it and itself, so
integrating the flow ODE on that copy with the full-sequence forward gives the model's
prediction of chunk ``k`` from its true context. Rollouts use the KV-cached ``MoT.extend``
instead; both use ``flow.integrate``.

Example:
    >>> x0_hat = sample_chunk(net, batch, chunk=3, steps=8)     # (B, n, P)   # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from tv2tv.world_model.flow import integrate
from tv2tv.world_model.mot import MoT
from tv2tv.world_model.sequence import SequenceBatch


@torch.no_grad()
def sample_chunk(model: MoT, batch: SequenceBatch, chunk: int, steps: int = 8, method: str = "euler",
                 generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Sample chunk ``chunk`` of every sequence in ``batch`` from noise.

    Args:
        model: the network. batch: a collated ``SequenceBatch`` ``(B, L)`` with noisy copies.
        chunk: which chunk to generate (its clean copy and anything after it are not seen).
        steps, method: the ODE integrator (``flow.integrate``).
        generator: for the starting noise; or pass ``noise (B, n, P)`` directly.

    Returns:
        the sampled clean tokens ``(B, n, P)`` (not clamped).
    """
    sel = (batch.chunk_id == chunk) & batch.is_noisy                            # (B, L)
    b = batch.tokens.shape[0]
    counts = sel.sum(1)
    if int(counts.min()) == 0 or int(counts.max()) != int(counts.min()):
        raise ValueError(f"chunk {chunk} has no noisy copy in every sequence of the batch")
    n, p = int(counts[0]), batch.video.shape[-1]
    if noise is None:
        noise = torch.randn(b, n, p, generator=generator, device=batch.video.device)
    text_cond = model.sequence_text_cond(batch)                                 # (B, L, D) or None

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        video = batch.video.clone()
        video[sel] = x.reshape(b * n, p).to(video.dtype)
        flow_t = torch.zeros(batch.tokens.shape, device=x.device)
        flow_t[sel] = t[:, None].expand(b, n).reshape(-1).to(flow_t.dtype)
        out = model(batch.model_input(video, flow_t, text_cond=text_cond))
        return out.velocity[sel].reshape(b, n, p).float()

    return integrate(velocity, noise.float(), steps=steps, method=method)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """PSNR in dB per leading item, ``(B, ...) -> (B,)``, of values clamped to ``data_range``
    (``torchmetrics``): tokens are in ``[-1, 1]`` (the default), uint8 frames in ``(0, 255)``.
    Equal items score ``inf``."""
    dims = tuple(range(1, a.dim()))
    return peak_signal_noise_ratio(a.float(), b.float(), data_range=data_range, reduction="none", dim=dims)
