"""Frame codecs: frames <-> continuous tokens (docs/design.md, "Tokens").

Legend: B batch, T frames, H/W/C frame height/width/channels, N tokens per frame, D token dim,
p patch size, h = H/p, w = W/p.

A ``FrameCodec`` turns ``uint8 (B, T, H, W, C)`` frames into ``float (B, T, N, D)`` tokens in
``[-1, 1]`` and back. ``PatchCodec`` cuts ``p x p`` pixel patches; a learned autoencoder can
replace it behind the same protocol (its ``encode`` would return latents instead).

Example:
    >>> import numpy as np
    >>> codec = PatchCodec(patch=8, frame_shape=(64, 64, 3))
    >>> x = codec.encode(np.zeros((1, 2, 64, 64, 3), np.uint8))
    >>> x.shape, codec.tokens_per_frame, codec.token_dim
    (torch.Size([1, 2, 64, 192]), 64, 192)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class FrameCodec(Protocol):
    """Frames <-> tokens. ``grid`` is the (h, w) layout of a frame's N tokens."""

    frame_shape: tuple[int, int, int]

    @property
    def tokens_per_frame(self) -> int: ...

    @property
    def token_dim(self) -> int: ...

    @property
    def grid(self) -> tuple[int, int]: ...

    def encode(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor: ...

    def decode(self, tokens: torch.Tensor) -> torch.Tensor: ...


class PatchCodec:
    """Non-overlapping ``patch x patch`` pixel patches scaled to ``[-1, 1]``.

    Args:
        patch: patch size p in pixels.
        frame_shape: (H, W, C); H and W must be multiples of ``patch``.

    Raises:
        ValueError: the frame is smaller than one patch or not a whole number of patches.
    """

    def __init__(self, patch: int, frame_shape: tuple[int, int, int]) -> None:
        h, w, c = (int(x) for x in frame_shape)
        if patch < 1:
            raise ValueError(f"patch must be >= 1, got {patch}")
        if h < patch or w < patch:
            raise ValueError(f"frames of {h}x{w} pixels are smaller than one {patch}x{patch} patch; "
                             f"use a smaller sequence.patch or larger frames")
        if h % patch or w % patch:
            raise ValueError(f"frame size {h}x{w} is not divisible by the patch size {patch}; "
                             f"choose a sequence.patch that divides both")
        self.patch = int(patch)
        self.frame_shape = (h, w, c)

    @property
    def grid(self) -> tuple[int, int]:
        h, w, _ = self.frame_shape
        return h // self.patch, w // self.patch

    @property
    def tokens_per_frame(self) -> int:
        gh, gw = self.grid
        return gh * gw

    @property
    def token_dim(self) -> int:
        return self.patch * self.patch * self.frame_shape[2]

    def encode(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``uint8 (..., H, W, C)`` -> ``float32 (..., N, D)`` in [-1, 1], row-major patches."""
        x = torch.as_tensor(np.asarray(frames) if isinstance(frames, np.ndarray) else frames)
        if x.dtype != torch.uint8:
            raise TypeError(f"frames must be uint8, got {x.dtype}")
        if tuple(x.shape[-3:]) != self.frame_shape:
            raise ValueError(f"frames of shape {tuple(x.shape[-3:])} "
                             f"do not match the codec's {self.frame_shape}")
        lead = x.shape[:-3]
        p, (gh, gw), c = self.patch, self.grid, self.frame_shape[2]
        x = x.reshape(-1, gh, p, gw, p, c).permute(0, 1, 3, 2, 4, 5)    # (M, h, w, p, p, C)
        x = x.reshape(*lead, gh * gw, p * p * c)                         # (..., N, D)
        return x.float() / 127.5 - 1.0

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """``float (..., N, D)`` -> ``uint8 (..., H, W, C)`` (values clamped to [-1, 1])."""
        n, d = tokens.shape[-2:]
        if (n, d) != (self.tokens_per_frame, self.token_dim):
            raise ValueError(f"tokens of shape {(n, d)} do not match the codec's "
                             f"{(self.tokens_per_frame, self.token_dim)}")
        lead = tokens.shape[:-2]
        p, (gh, gw), c = self.patch, self.grid, self.frame_shape[2]
        x = ((tokens.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
        x = x.reshape(-1, gh, gw, p, p, c).permute(0, 1, 3, 2, 4, 5)    # (M, h, p, w, p, C)
        return x.reshape(*lead, *self.frame_shape)


def make_codec(patch: int, frame_shape: tuple[int, int, int]) -> FrameCodec:
    """The codec for a config (today always ``PatchCodec``)."""
    return PatchCodec(patch, frame_shape)
