"""The interleaved sequence: an episode window -> tokens, ids, masks (docs/design.md, "Sequence").

Legend: B batch, L sequence length, K chunks per window, n tokens per chunk (F frames x N
tokens per frame), D token dim.

Layout of one window (``text_k`` are the texts whose frame falls in chunk k)::

    BOS, text_0, BOF, chunk_0, EOF, text_1, BOF, ~chunk_1, chunk_1, EOF, ...

``~chunk_k`` is the noisy copy (flow loss, own flow time) and ``chunk_k`` the clean copy that
later tokens attend to; both share position ids, so positions count the clean stream only
(``video_positions="chunk"``: video token i of chunk k sits at ``k * n + i`` instead). The
``context_chunks`` leading chunks (one by default, chunk_0 above) have no noisy copy: they
carry no loss and nothing attends to a noisy copy.
The noisy copy sits right before its clean twin. The last chunk's clean copy and EOF are
left out of training sequences (nothing in the window attends to them).

Text loss: every text byte and every BOF is a target, predicted by the previous clean-stream
token (BOS, a byte or EOF). After EOF the model thus learns "more text" vs "BOF".

The ``plan-first`` layout (the paper's Think2V baseline) writes every text of the window up
front, the non-empty ``text_k`` joined with the text separator in chunk order (``plan_ids``),
then the chunks with no text between them::

    BOS, text_0 ; text_1 ; ..., BOF, chunk_0, EOF, BOF, ~chunk_1, chunk_1, EOF, ...

Everything else is the same (copies, positions, anchors, flow loss); the text targets are the
plan bytes, its BOF, and BOF after every EOF.

Example:
    >>> import torch
    >>> seq = build_sequence([[104, 105], []], torch.zeros(2, 4, 3), tokens_per_frame=2)
    >>> seq.tokens.shape, int(seq.text_target.ne(IGNORE).sum())
    (torch.Size([18]), 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch

from tv2tv.world_model.tokenizer import ACTION_OFFSET, BOF, BOS, EOF, NUM_BYTES, PAD

IGNORE = -100
TEXT, VIDEO = 0, 1
Layout = Literal["interleaved", "plan-first"]
LAYOUTS: tuple[str, ...] = ("interleaved", "plan-first")


@dataclass
class TokenFields:
    """The per-token fields of a sequence or segment, each ``(..., L)`` (``video``, ``anchor``
    ``(..., L, D)``): what a training sequence (``SequenceBatch``) and the network's input
    (``ModelInput``) share.

    Fields: ``tokens`` text ids (PAD at video and padding positions); ``modality`` 0 text,
    1 video; ``chunk_id`` chunk index or -1; ``is_noisy`` noisy chunk copy; ``position``
    rotary position (clean stream index); ``frame_index``/``patch_index`` a video token's
    frame within its chunk and patch within its frame; ``video`` patch values at video
    positions (clean x0 in a ``SequenceBatch``, both copies), 0 elsewhere; ``anchor`` at a noisy
    chunk's positions, the clean tokens of the last frame before the chunk tiled over its frames
    (0 for the first chunk and elsewhere; see ``ModelConfig.residual``); ``valid`` False at
    batch padding.
    """

    tokens: torch.Tensor
    modality: torch.Tensor
    chunk_id: torch.Tensor
    is_noisy: torch.Tensor
    position: torch.Tensor
    frame_index: torch.Tensor
    patch_index: torch.Tensor
    video: torch.Tensor
    anchor: torch.Tensor
    valid: torch.Tensor


@dataclass
class ModelInput(TokenFields):
    """What ``MoT`` reads of a sequence ``(B, L)`` or of a rollout segment of ``L`` new tokens:
    the ``TokenFields`` (``video`` noised at noisy copies), plus ``flow_t (B, L)`` each video
    token's flow time (0 for clean copies) and ``text_cond (B, L, D)`` each video token's chunk
    text summary (``ModelConfig.text_cond``; ``None``: no text path).

    Example:
        >>> seq = collate_sequences([build_sequence([[104], []], torch.zeros(2, 4, 3), tokens_per_frame=2)])
        >>> x = seq.model_input(seq.video, torch.zeros(seq.tokens.shape))
        >>> ModelInput.cat(x, x).tokens.shape
        torch.Size([1, 34])
    """

    flow_t: torch.Tensor
    text_cond: torch.Tensor | None = None

    @staticmethod
    def cat(*parts: ModelInput) -> ModelInput:
        """Parts of one sequence joined along ``L`` (``text_cond`` is ``None`` in all or none)."""
        if len(parts) == 1:
            return parts[0]
        def join(name: str) -> torch.Tensor | None:
            first = getattr(parts[0], name)
            return None if first is None else torch.cat([getattr(p, name) for p in parts], 1)

        return ModelInput(**{f.name: join(f.name) for f in fields(ModelInput)})


@dataclass
class SequenceBatch(TokenFields):
    """One sequence (L,) or a padded batch (B, L). Every field is a tensor.

    Fields: the ``TokenFields`` (``video`` the clean x0), and ``text_target`` next-token target
    or ``IGNORE``; ``flow_loss_mask`` noisy tokens that carry the flow loss; ``text_chunk`` at
    the bytes (or action ids) of the text placed right before chunk k, k (-1 elsewhere, and in
    a plan-first plan; see ``ModelConfig.text_cond``).
    """

    text_target: torch.Tensor
    flow_loss_mask: torch.Tensor
    text_chunk: torch.Tensor

    def model_input(self, video: torch.Tensor, flow_t: torch.Tensor, anchor: torch.Tensor | None = None,
                    text_cond: torch.Tensor | None = None) -> ModelInput:
        """The network's input for this batch with ``video (B, L, D)`` (noised) at flow times
        ``flow_t (B, L)``; ``anchor`` replaces ``self.anchor`` (e.g. noised with its frame)."""
        shared = {f.name: getattr(self, f.name) for f in fields(TokenFields)}
        return ModelInput(**{**shared, "video": video, "anchor": self.anchor if anchor is None else anchor},
                          flow_t=flow_t, text_cond=text_cond)

    @property
    def length(self) -> int:
        return int(self.tokens.shape[-1])

    def to(self, device: torch.device | str) -> SequenceBatch:
        return SequenceBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def num_chunks(self) -> int:
        return int(self.chunk_id.max().item()) + 1

    def chunk_positions(self, chunk: int, noisy: bool) -> torch.Tensor:
        """Sequence indices ``(n,)`` of one copy of chunk ``chunk`` in an unbatched sequence."""
        assert self.tokens.dim() == 1, "chunk_positions is for one sequence"
        sel = (self.chunk_id == chunk) & (self.is_noisy == noisy)
        return sel.nonzero().squeeze(-1)


_PAD_VALUES = {"tokens": PAD, "modality": TEXT, "chunk_id": -1, "is_noisy": False, "position": 0,
               "frame_index": 0, "patch_index": 0, "text_target": IGNORE, "flow_loss_mask": False,
               "video": 0.0, "anchor": 0.0, "text_chunk": -1, "valid": False}


class _Builder:
    """Accumulates segments of the clean/noisy stream."""

    def __init__(self, token_dim: int, chunk_positions: bool = False) -> None:
        self.chunk_positions = chunk_positions
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in _PAD_VALUES
                                                  if k not in ("text_target", "valid")}
        self.token_dim = token_dim
        self.pos = 0

    def text(self, ids: Sequence[int], chunk: int = -1) -> None:
        """Text ids; ``chunk``: the chunk they are the text of (``text_chunk``), -1 for none."""
        m = len(ids)
        self._add(tokens=np.asarray(ids, np.int64), modality=np.full(m, TEXT), chunk_id=np.full(m, -1),
                  text_chunk=np.full(m, chunk),
                  is_noisy=np.zeros(m, bool), position=self.pos + np.arange(m), frame_index=np.zeros(m),
                  patch_index=np.zeros(m), flow_loss_mask=np.zeros(m, bool),
                  video=np.zeros((m, self.token_dim), np.float32),
                  anchor=np.zeros((m, self.token_dim), np.float32))
        self.pos += m

    def chunk(self, k: int, x0: np.ndarray, tokens_per_frame: int, noisy: bool, loss: bool,
              anchor: np.ndarray | None = None) -> None:
        n = x0.shape[0]
        idx = np.arange(n)
        self._add(tokens=np.full(n, PAD), modality=np.full(n, VIDEO), chunk_id=np.full(n, k),
                  is_noisy=np.full(n, noisy), position=(k * n if self.chunk_positions else self.pos) + idx,
                  frame_index=idx // tokens_per_frame,
                  patch_index=idx % tokens_per_frame, flow_loss_mask=np.full(n, noisy and loss),
                  text_chunk=np.full(n, -1),
                  video=x0, anchor=np.zeros_like(x0) if anchor is None else anchor)
        if not noisy:  # the clean copy advances the position; the noisy one shares it
            self.pos += n

    def _add(self, **cols: np.ndarray) -> None:
        for k, v in cols.items():
            self.cols[k].append(v)

    def finish(self, text_loss: bool) -> SequenceBatch:
        c = {k: np.concatenate(v) for k, v in self.cols.items()}
        c["valid"] = np.ones(len(c["tokens"]), bool)
        c["text_target"] = _text_targets(c["tokens"], c["modality"], c["is_noisy"], text_loss)
        dtypes = {"is_noisy": torch.bool, "flow_loss_mask": torch.bool, "valid": torch.bool,
                  "video": torch.float32, "anchor": torch.float32}
        return SequenceBatch(**{k: torch.as_tensor(c[k], dtype=dtypes.get(k, torch.long))
                                for k in _PAD_VALUES})


def _text_targets(tokens: np.ndarray, modality: np.ndarray, is_noisy: np.ndarray,
                  text_loss: bool) -> np.ndarray:
    """Next clean-stream token where it is a text byte, a word (ids from ``ACTION_OFFSET``: only
    action-id has other ids there, and it has no text loss) or BOF and follows a text token."""
    target = np.full(len(tokens), IGNORE, np.int64)
    if not text_loss:
        return target
    clean = np.flatnonzero(~is_noisy)
    cur, nxt = clean[:-1], clean[1:]
    nxt_tok = tokens[nxt]
    is_text = (nxt_tok < NUM_BYTES) | (nxt_tok == BOF) | (nxt_tok >= ACTION_OFFSET)
    keep = (modality[cur] == TEXT) & (modality[nxt] == TEXT) & is_text
    target[cur[keep]] = nxt_tok[keep]
    return target


def plan_ids(chunk_texts: Sequence[Sequence[int]], separator: Sequence[int]) -> list[int]:
    """The plan of a ``plan-first`` window: the non-empty texts joined by ``separator``, in order.

    Example:
        >>> plan_ids([[104], [], [105, 105]], separator=[59, 32])
        [104, 59, 32, 105, 105]
    """
    out: list[int] = []
    for ids in chunk_texts:
        if len(ids):
            out += [*separator, *ids] if out else list(ids)
    return out


def build_sequence(chunk_texts: Sequence[Sequence[int]], video: torch.Tensor | np.ndarray,
                   tokens_per_frame: int, *, text_loss: bool = True, context_chunks: int = 0,
                   with_noisy: bool = True, with_last_clean: bool = False,
                   layout: Layout = "interleaved", separator: Sequence[int] = (),
                   video_positions: str = "stream") -> SequenceBatch:
    """One window as a sequence (interleaved, or plan-first for the Think2V baseline).

    Args:
        chunk_texts: K lists of token ids, the text placed before each chunk (may be empty).
        video: clean chunk tokens x0 ``(K, n, D)``, n = frames_per_chunk * tokens_per_frame.
        tokens_per_frame: N, to split a chunk into frames for the frame embedding.
        text_loss: give text bytes and BOF a next-token target (False for the baselines).
        context_chunks: leading chunks without a noisy copy (pure context: no flow loss, and
            nothing attends to a noisy copy, so it would only cost attention).
        with_noisy: include the noisy copies (False gives a clean prompt, e.g. for rollouts).
        with_last_clean: keep the last chunk's clean copy and its EOF.
        layout: ``"interleaved"`` (each text before its chunk) or ``"plan-first"`` (all texts
            after BOS, joined by ``separator`` ids, then the chunks with only BOF before each).
        separator: token ids joining the texts of a plan-first window (the text separator).
        video_positions: ``"stream"`` or ``"chunk"`` (``SequenceConfig.video_positions``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    x = np.asarray(video, dtype=np.float32)
    if x.ndim != 3 or x.shape[0] != len(chunk_texts):
        raise ValueError(f"video must be (K, n, D) with K = {len(chunk_texts)} chunks, got {x.shape}")
    if x.shape[1] % tokens_per_frame:
        raise ValueError(f"chunk of {x.shape[1]} tokens is not a whole number "
                         f"of {tokens_per_frame}-token frames")
    b = _Builder(x.shape[2], chunk_positions=video_positions == "chunk")
    plan_first = layout == "plan-first"
    b.text([BOS, *(plan_ids(chunk_texts, separator) if plan_first else [])])
    last = len(chunk_texts) - 1
    for k, ids in enumerate(chunk_texts):
        if not plan_first:
            b.text(ids, chunk=k)
        b.text([BOF])
        if with_noisy and k >= context_chunks:   # a context chunk's noisy copy would carry no loss
            b.chunk(k, x[k], tokens_per_frame, noisy=True, loss=True,
                    anchor=chunk_anchor(x[k - 1], tokens_per_frame) if k else None)
        if k < last or with_last_clean:
            b.chunk(k, x[k], tokens_per_frame, noisy=False, loss=False)
            b.text([EOF])
    return b.finish(text_loss)


def chunk_anchor(previous: np.ndarray | torch.Tensor, tokens_per_frame: int) -> np.ndarray | torch.Tensor:
    """The anchor of the chunk after ``previous``: its last frame repeated over a chunk's frames.

    ``previous (..., n, D)`` is a clean chunk of F = n / N frames (N = ``tokens_per_frame``),
    numpy or torch, batched or not; the anchor has its shape (``ModelConfig.residual``).

    Example:
        >>> chunk_anchor(np.arange(4.0).reshape(4, 1), tokens_per_frame=2)[:, 0].tolist()
        [2.0, 3.0, 2.0, 3.0]
    """
    last = previous[..., -tokens_per_frame:, :]                                 # (..., N, D)
    frames = previous.shape[-2] // tokens_per_frame
    if isinstance(previous, torch.Tensor):
        return torch.cat([last] * frames, dim=-2)
    return np.concatenate([last] * frames, axis=-2)


def collate_sequences(items: Sequence[SequenceBatch]) -> SequenceBatch:
    """Stack sequences into a batch, right-padding to the longest (``valid`` marks real tokens)."""
    if not items:
        raise ValueError("cannot collate an empty list of sequences")
    length = max(s.length for s in items)
    out = {}
    for f in fields(SequenceBatch):
        rows = []
        for s in items:
            v = getattr(s, f.name)
            pad = length - v.shape[0]
            if pad:
                filler = torch.full((pad, *v.shape[1:]), _PAD_VALUES[f.name], dtype=v.dtype)
                v = torch.cat([v, filler])
            rows.append(v)
        out[f.name] = torch.stack(rows)
    return SequenceBatch(**out)


def build_attention_mask(modality: torch.Tensor, chunk_id: torch.Tensor, is_noisy: torch.Tensor,
                         valid: torch.Tensor | None = None) -> torch.Tensor:
    """The boolean attention mask ``(..., L, L)`` (True = query row may attend to key column).

    Rules (docs/design.md, "Attention mask"): text is causal; tokens of one chunk copy see each
    other in both directions; a noisy chunk sees everything before its clean twin and itself;
    no other token sees a noisy chunk. Padding keys are hidden from everyone but themselves.

    Args:
        modality, chunk_id, is_noisy: ``(..., L)`` as in ``SequenceBatch``.
        valid: ``(..., L)``, False at padding; ``None`` means no padding.
    """
    L = modality.shape[-1]
    idx = torch.arange(L, device=modality.device)
    causal = idx[:, None] >= idx[None, :]                                       # (L, L)
    q_chunk, k_chunk = chunk_id[..., :, None], chunk_id[..., None, :]
    q_noisy, k_noisy = is_noisy[..., :, None], is_noisy[..., None, :]
    both_video = (modality[..., :, None] == VIDEO) & (modality[..., None, :] == VIDEO)
    same_copy = both_video & (q_chunk == k_chunk) & (q_noisy == k_noisy)        # (..., L, L)
    # Keys before the noisy copy are before its clean twin too (the noisy copy comes first).
    mask = torch.where(k_noisy, same_copy, causal | same_copy)
    if valid is not None:
        mask = mask & (valid[..., None, :] | torch.eye(L, dtype=torch.bool, device=modality.device))
    return mask
