"""The per-layer key/value cache of KV-cached rollouts (``MoT.extend``; docs/design.md, "KV cache").

Legend: B batch, H heads, S cached keys, L segment length, E head dim.

Example:
    >>> import torch
    >>> empty = torch.zeros(1, 2, 0, 4)
    >>> cache = KVCache([empty], [empty.clone()], torch.zeros(1, 0, dtype=torch.bool))
    >>> k, v = cache.attend(0, torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4))
    >>> cache.append(torch.ones(1, 3, dtype=torch.bool)); cache.length, k.shape
    (3, torch.Size([1, 2, 3, 4]))
"""

from __future__ import annotations

import torch


class KVCache:
    """Per-layer keys and values ``(B, H, S, E)`` of the tokens appended so far.

    ``valid (B, S)`` is False for keys no query may see (padding of ragged batches). The keys
    live in preallocated buffers ``(B, H, capacity, E)`` that double when full, so appending a
    segment copies only that segment; ``keys``/``values``/``valid`` are views of the first
    ``length`` entries. A segment that is run but not appended (a noisy chunk) is written to
    the spare room after ``length`` and overwritten by the next segment.

    Args:
        keys, values: per layer ``(B, H, S, E)`` (the buffers start as these tensors).
        valid: ``(B, S)``.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], valid: torch.Tensor) -> None:
        self._k, self._v, self._valid = list(keys), list(values), valid
        self._n = int(valid.shape[1])
        self.all_valid = bool(valid.all())

    @property
    def length(self) -> int:
        return self._n

    @property
    def keys(self) -> list[torch.Tensor]:
        return [k[:, :, :self._n] for k in self._k]

    @property
    def values(self) -> list[torch.Tensor]:
        return [v[:, :, :self._n] for v in self._v]

    @property
    def valid(self) -> torch.Tensor:
        return self._valid[:, :self._n]

    def _empty(self) -> KVCache:
        """Treat the buffers as spare room: length 0."""
        self._n, self.all_valid = 0, True
        return self

    def clone(self) -> KVCache:
        out = KVCache([k.clone() for k in self._k], [v.clone() for v in self._v], self._valid.clone())
        out._n, out.all_valid = self._n, self.all_valid
        return out

    @staticmethod
    def _room(buf: torch.Tensor, need: int, like: torch.Tensor, dim: int) -> torch.Tensor:
        """``buf`` with at least ``need`` entries along ``dim`` (doubling), in ``like``'s dtype."""
        cap = buf.shape[dim]
        if cap >= need and buf.dtype == like.dtype:
            return buf
        shape = list(buf.shape)
        shape[dim] = max(need, 2 * cap, 64) if cap < need else cap
        out = torch.empty(shape, dtype=like.dtype, device=buf.device)
        out.narrow(dim, 0, cap).copy_(buf)
        return out

    def attend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write a segment's ``k, v (B, H, L, E)`` after the cached keys (not yet appended) and
        return the keys and values ``(B, H, length + L, E)`` it attends to."""
        n, L = self._n, k.shape[2]
        self._k[layer] = kb = self._room(self._k[layer], n + L, k, 2)
        self._v[layer] = vb = self._room(self._v[layer], n + L, v, 2)
        kb[:, :, n:n + L] = k
        vb[:, :, n:n + L] = v
        return kb[:, :, :n + L], vb[:, :, :n + L]

    def append(self, valid: torch.Tensor) -> None:
        """Keep the segment last passed to ``attend`` (every layer): ``valid (B, L)``."""
        n, L = self._n, valid.shape[1]
        self._valid = vb = self._room(self._valid, n + L, valid, 1)
        vb[:, n:n + L] = valid
        self._n = n + L
        self.all_valid = self.all_valid and bool(valid.all())
