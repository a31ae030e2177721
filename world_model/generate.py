"""Rollouts that think, then act: KV-cached interleaved generation (DESIGN.md, "Rollout").

Legend: B batch, L segment length, K context chunks, F frames per chunk, N tokens per frame,
n = F * N tokens per chunk, P token dim, V vocab.

From a context (an ``Episode`` prefix of frames and text, or one frame) the generator writes
the sequence on: after every ``EOF`` the language head samples text (bytes, temperature and
top-p) until it writes ``BOF``; the chunk is then integrated from noise with the shared flow
ODE (``flow.integrate``: Euler, Heun or midpoint; optional classifier-free guidance on the
text) and appended as a clean chunk plus ``EOF``. An *intervention* at frame t replaces the
model's own next text segment: the generator feeds the user's text and ``BOF`` instead of
sampling (the text of a chunk covers its F frames, so t takes effect at the chunk holding t).

Two interchangeable backends run the network: the KV cache (``MoT.extend``; each new token
or chunk costs only its own tokens) and an uncached reference that re-runs the whole sequence
through ``MoT.forward`` with ``sequence.build_attention_mask`` at every call. They agree up to
float rounding (tested). Guidance (``cfg_scale != 1``) keeps a second stream with all text
dropped (as trained with ``p_uncond``): a second cache, and twice the network calls per ODE step.

Context window: by default the model sees at most the context it was trained on
(``sequence.window_frames`` less one chunk); when the window is full its newest half is
re-encoded from ``BOS`` with positions from 0, as in a training window. This bounds the cost
per chunk (so long rollouts and play keep their frame rate) and keeps the model in
distribution. ``SamplingConfig.context_chunks=0`` keeps the whole history instead.

Randomness is per batch element (a generator seeded by ``(seed, b)``), so element b of a batch
equals the same element rolled out alone. Ragged text in a batch is padded with invalid keys.

Example:
    >>> gen = Generator.from_run("runs/pong-tiny")                                  # doctest: +SKIP
    >>> out = gen.generate(episode, 32, parse_script("8: move paddle up"), seed=0)  # doctest: +SKIP
    >>> out.frames.shape                                                            # doctest: +SKIP
    (1, 32, 64, 64, 3)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch

from tv2tv.recorders.store import DatasetMeta
from tv2tv.types import Episode, TextEvent
from tv2tv.world_model.codec import make_codec
from tv2tv.world_model.config import SequenceConfig, TrainConfig
from tv2tv.world_model.flow import METHODS, integrate
from tv2tv.world_model.interventions import TranscriptEntry
from tv2tv.world_model.mot import MoT, MoTOutput
from tv2tv.world_model.sequence import TEXT, VIDEO, build_attention_mask, build_sequence
from tv2tv.world_model.tokenizer import BOF, BOS, EOF, NUM_BYTES, PAD, ByteTokenizer

CHUNK = -1  # marks a video chunk in ``Rollout.tokens``


@dataclass
class SamplingConfig:
    """How a rollout samples text and frames.

    Args:
        temperature: text sampling temperature (0: greedy).
        top_p: nucleus sampling mass in (0, 1].
        max_text_tokens: bytes the model may write before one chunk; then ``BOF`` is forced
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
            raise ValueError(f"context_chunks must be -1 (training window), 0 (all) or >= 1, got {self.context_chunks}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")


@dataclass
class Rollout:
    """A batch of rollouts.

    Args:
        frames: generated frames ``uint8 (B, T, H, W, C)``; frame 0 follows the context.
        transcripts: per element, every text segment (context, model, user) in order.
        tokens: per element, the text ids fed to the model in order, ``CHUNK`` for each chunk.
        context_frames: the context actually used ``uint8 (Tc, H, W, C)`` (see ``Generator``).
    """

    frames: np.ndarray
    transcripts: list[list[TranscriptEntry]]
    tokens: list[list[int]]
    context_frames: np.ndarray


@dataclass
class _Seg:
    """A segment of new tokens, every field ``(B, L)`` (``video`` ``(B, L, P)``)."""

    tokens: torch.Tensor
    video: torch.Tensor
    modality: torch.Tensor
    position: torch.Tensor
    frame_index: torch.Tensor
    patch_index: torch.Tensor
    flow_t: torch.Tensor
    chunk_id: torch.Tensor
    is_noisy: torch.Tensor
    valid: torch.Tensor

    @staticmethod
    def cat(a: _Seg, b: _Seg) -> _Seg:
        return _Seg(**{f.name: torch.cat([getattr(a, f.name), getattr(b, f.name)], 1) for f in fields(_Seg)})


class _CachedStream:
    """The KV-cached backend: ``MoT.extend``."""

    def __init__(self, model: MoT, batch: int, device: torch.device) -> None:
        self.model, self.cache = model, model.new_cache(batch, device)

    def run(self, s: _Seg, append: bool) -> MoTOutput:
        return self.model.extend(self.cache, s.tokens, s.video, s.modality, s.position, s.frame_index,
                                 s.patch_index, s.flow_t, append=append, chunk_id=s.chunk_id, valid=s.valid)


class _FullStream:
    """The uncached reference: the whole sequence through ``MoT.forward`` at every call."""

    def __init__(self, model: MoT, batch: int, device: torch.device) -> None:
        self.model, self.history = model, None

    def run(self, s: _Seg, append: bool) -> MoTOutput:
        full = s if self.history is None else _Seg.cat(self.history, s)
        mask = build_attention_mask(full.modality, full.chunk_id, full.is_noisy, full.valid)  # (B, S, S)
        out = self.model(full.tokens, full.video, full.modality, full.position, full.frame_index,
                         full.patch_index, full.flow_t, mask)
        if append:
            self.history = full
        L = s.tokens.shape[1]
        return MoTOutput(out.logits[:, -L:], out.velocity[:, -L:])


def sample_token(logits: torch.Tensor, temperature: float, top_p: float, u: float) -> int:
    """One id from ``logits (V,)`` by inverse CDF of the uniform draw ``u``.

    The CDF runs in id order (top-p only decides which ids are kept), so logits that differ
    by float rounding (cached vs uncached) give the same id unless ``u`` sits on a boundary.
    """
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.double() / temperature, -1)
    if top_p < 1:
        order = probs.argsort(descending=True)
        keep_sorted = probs[order].cumsum(0) - probs[order] < top_p      # always keeps the top id
        probs = probs * torch.zeros_like(probs).index_fill(0, order[keep_sorted], 1.0)
    cdf = probs.cumsum(0) / probs.sum()
    return int(torch.searchsorted(cdf, torch.tensor([u], dtype=cdf.dtype), right=True).clamp_max(len(cdf) - 1))


def _marked_tokens(tokens: list[int], modality: list[int]) -> list[int]:
    """Text ids of a sequence with one ``CHUNK`` marker per run of video tokens."""
    out: list[int] = []
    for x, m in zip(tokens, modality):
        if m != VIDEO:
            out.append(int(x))
        elif not out or out[-1] != CHUNK:
            out.append(CHUNK)
    return out


class RolloutSession:
    """A rollout in progress, one chunk per ``step`` (used by ``Generator.generate`` and envs).

    Args:
        gen: the generator. context_x0: clean context chunks ``(K, n, P)``.
        context_texts: K lists of text ids before each context chunk. batch: B. seed: base seed.
    """

    def __init__(self, gen: Generator, context_x0: torch.Tensor, context_texts: list[list[int]],
                 batch: int, seed: int) -> None:
        self.gen, self.b = gen, batch
        self.rngs = [torch.Generator().manual_seed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
                     for i in range(batch)]
        self.guided = gen.sampling.cfg_scale != 1.0
        self.window = gen.context_chunks
        x = context_x0.to(gen.device)
        # The logical stream: per chunk, each element's text ids and the clean chunk (B, n, P).
        self.units = [([list(t) for _ in range(batch)], x[k].expand(batch, *x[k].shape))
                      for k, t in enumerate(context_texts)]
        seq = build_sequence(context_texts, context_x0.cpu(), gen.n_per_frame, with_noisy=False,
                             with_last_clean=True, text_loss=False)
        ids = _marked_tokens(seq.tokens.tolist(), seq.modality.tolist())
        self.tokens: list[list[int]] = [list(ids) for _ in range(batch)]
        self.chunk, self.frame = len(self.units), 0
        if self.window:
            self.units = self.units[-self.window:]
        self._prefill()

    @torch.inference_mode()
    def _prefill(self) -> None:
        """Fresh streams holding ``BOS`` and the units (a training-like window, positions from 0)."""
        b, dev = self.b, self.gen.device
        stream = _CachedStream if self.gen.sampling.use_cache else _FullStream
        self.streams = [stream(self.gen.model, b, dev) for _ in range(2 if self.guided else 1)]
        self.pos = []
        for i, st in enumerate(self.streams):
            pos = torch.zeros(b, dtype=torch.long, device=dev)
            segs = [self._text_seg([[BOS]] * b, pos)]
            for k, (texts, x) in enumerate(self.units):
                pos = pos + segs[-1].valid.sum(1)
                segs.append(self._text_seg([(t if i == 0 else []) + [BOF] for t in texts], pos))
                pos = pos + segs[-1].valid.sum(1)
                segs.append(self._chunk_seg(x, pos, torch.zeros(b, device=dev), noisy=False, chunk_id=k))
            if i == 1:  # the unconditional stream: no text, so BOF follows EOF at once
                pos = pos + segs[-1].valid.sum(1)
                segs.append(self._text_seg([[BOF]] * b, pos))
            seg = segs[0]
            for nxt in segs[1:]:
                seg = _Seg.cat(seg, nxt)
            out = st.run(seg, append=True)
            self.pos.append(pos + segs[-1].valid.sum(1))
            if i == 0:
                self.logits = out.logits[:, -1]                                            # (B, V)

    # -- segments ---------------------------------------------------------------------------
    def _append(self, i: int, seg: _Seg) -> MoTOutput:
        out = self.streams[i].run(seg, append=True)
        self.pos[i] = self.pos[i] + seg.valid.sum(1)
        return out

    def _text_seg(self, ids: list[list[int]], pos: torch.Tensor) -> _Seg:
        """Text ids per element, right-padded with invalid PADs. ``pos (B,)`` the next positions."""
        L, dev, P = max(len(x) for x in ids), self.gen.device, self.gen.token_dim
        tok = torch.tensor([x + [PAD] * (L - len(x)) for x in ids], dtype=torch.long, device=dev)
        valid = torch.tensor([[j < len(x) for j in range(L)] for x in ids], device=dev)
        zeros = torch.zeros(self.b, L, dtype=torch.long, device=dev)
        return _Seg(tok, torch.zeros(self.b, L, P, device=dev), zeros + TEXT, pos[:, None] + valid.cumsum(1) - 1,
                    zeros, zeros, torch.zeros(self.b, L, device=dev), zeros - 1, valid & False, valid)

    def _chunk_seg(self, x: torch.Tensor, pos: torch.Tensor, flow_t: torch.Tensor, noisy: bool,
                   chunk_id: int | None = None) -> _Seg:
        """Chunk tokens ``x (B, n, P)`` at flow time ``flow_t (B,)``; clean ones are followed by EOF."""
        b, n, P = x.shape
        dev, N = x.device, self.gen.n_per_frame
        idx = torch.arange(n, device=dev).expand(b, n)
        tok = torch.full((b, n), PAD, device=dev)
        seg = _Seg(tok, x, torch.full_like(tok, VIDEO), pos[:, None] + idx, idx // N, idx % N,
                   flow_t[:, None].expand(b, n).float(), torch.full_like(tok, self.chunk if chunk_id is None else chunk_id),
                   torch.full((b, n), noisy, device=dev), torch.ones(b, n, dtype=torch.bool, device=dev))
        return seg if noisy else _Seg.cat(seg, self._text_seg([[EOF]] * b, pos + n))

    # -- one step ---------------------------------------------------------------------------
    def _write_text(self, forced: list[list[int] | None], free: list[bool]) -> list[list[int]]:
        """Feed forced ids (e.g. user text + BOF), then sample until BOF where ``free``; returns
        the ids each element wrote, BOF excluded."""
        s, b = self.gen.sampling, self.b
        queue = [list(f or []) for f in forced]
        wrote: list[list[int]] = [[] for _ in range(b)]
        done = [False] * b
        sampled = [0] * b
        while not all(done):
            live = [i for i in range(b) if not done[i]]
            if all(queue[i] for i in live) and len({len(queue[i]) for i in live}) == 1:
                ids = [queue[i] if not done[i] else [] for i in range(b)]     # one call for all of it
                queue = [[] for _ in range(b)]
            else:
                ids = [[] for _ in range(b)]
                for i in live:
                    if queue[i]:
                        ids[i] = [queue[i].pop(0)]
                    elif not free[i] or sampled[i] >= s.max_text_tokens:
                        ids[i] = [BOF]
                    else:
                        ids[i] = [self._sample(i)]
                        sampled[i] += 1
            for i in live:
                wrote[i] += [x for x in ids[i] if x != BOF]
                self.tokens[i] += ids[i]
                done[i] = bool(ids[i]) and ids[i][-1] == BOF
            out = self._append(0, self._text_seg(ids, self.pos[0]))
            last = torch.tensor([max(len(x), 1) - 1 for x in ids], device=self.gen.device)
            self.logits = out.logits[torch.arange(b), last]                                  # (B, V)
        return wrote

    def _sample(self, i: int) -> int:
        s = self.gen.sampling
        logits = self.logits[i].float().clone()
        allowed = torch.full_like(logits, float("-inf"))
        allowed[:NUM_BYTES] = 0.0
        allowed[BOF] = 0.0
        u = float(torch.rand((), generator=self.rngs[i]))
        return sample_token(logits + allowed, s.temperature, s.top_p, u)

    def _velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        outs = [st.run(self._chunk_seg(x, self.pos[i], t, noisy=True), append=False).velocity
                for i, st in enumerate(self.streams)]                                      # (B, n, P) each
        if not self.guided:
            return outs[0]
        return outs[1] + self.gen.sampling.cfg_scale * (outs[0] - outs[1])

    @torch.inference_mode()
    def step(self, texts: Sequence[str | None] | None = None, continue_text: bool = False,
             ) -> tuple[np.ndarray, list[list[TranscriptEntry]]]:
        """Generate one chunk.

        Args:
            texts: per element, user text that replaces the model's text segment (``None``: the
                model writes its own). ``continue_text``: let the model go on after the user's
                text (a prefix) instead of closing the segment with ``BOF``.

        Returns:
            frames ``uint8 (B, F, H, W, C)`` and, per element, the new transcript entries.
        """
        gen, b = self.gen, self.b
        texts = list(texts) if texts is not None else [None] * b
        if len(texts) != b:
            raise ValueError(f"got {len(texts)} texts for a batch of {b}")
        user = [gen.tokenizer.encode(t) if t else None for t in texts]
        forced = [None if u is None else (u if continue_text else [*u, BOF]) for u in user]
        free = [(u is None or continue_text) and gen.text_enabled for u in user]
        wrote = self._write_text(forced, free)
        entries: list[list[TranscriptEntry]] = [[] for _ in range(b)]
        sep = gen.cfg.sequence.text_separator
        for i in range(b):
            model_ids = wrote[i][len(user[i]):] if user[i] is not None else wrote[i]
            if user[i] is not None:
                entries[i].append(TranscriptEntry(self.frame, texts[i], "user"))  # type: ignore[arg-type]
            model_text = gen.tokenizer.decode(model_ids)
            model_text = model_text[len(sep):] if user[i] is not None and model_text.startswith(sep) else model_text
            if model_text:
                entries[i].append(TranscriptEntry(self.frame, model_text, "model"))
        noise = torch.stack([torch.randn(gen.n_per_chunk, gen.token_dim, generator=g) for g in self.rngs])
        x0 = integrate(self._velocity, noise.to(gen.device), gen.sampling.ode_steps, gen.sampling.method)
        frames = gen.codec.decode(x0.reshape(b, gen.frames_per_chunk, gen.n_per_frame, -1))   # (B, F, H, W, C)
        clean = gen.codec.encode(frames).reshape(b, gen.n_per_chunk, -1).to(gen.device)      # as real context
        zero = torch.zeros(b, device=gen.device)
        for i in range(len(self.streams)):
            seg = self._chunk_seg(clean, self.pos[i], zero, noisy=False)
            if i == 1:  # the unconditional stream never has text: BOF follows EOF at once
                seg = _Seg.cat(seg, self._text_seg([[BOF]] * b, self.pos[i] + seg.tokens.shape[1]))
            out = self._append(i, seg)
            if i == 0:
                self.logits = out.logits[:, -1]
        for t in self.tokens:
            t += [CHUNK, EOF]
        self.units.append((wrote, clean))
        if self.window and len(self.units) > self.window:
            # Slide: keep the newest half of the window and re-encode it from BOS, so the
            # model always sees contexts of the lengths and positions it was trained on.
            self.units = self.units[-max(1, (self.window + 1) // 2):]
            self._prefill()
        self.chunk += 1
        self.frame += gen.frames_per_chunk
        return frames.cpu().numpy(), entries


class Generator:
    """Generates frames and text from a context with a trained (or random) ``MoT``.

    Args:
        model: the network (put in eval mode here).
        cfg: its ``TrainConfig`` (sequence layout, text separator, variant).
        frame_shape: ``(H, W, C)`` of the frames it was trained on.
        sampling: a ``SamplingConfig`` (default: its defaults).
        meta: the training store's ``DatasetMeta`` (env, texter), kept for envs and tools.

    Context alignment: a context of T frames is used as whole chunks of F frames; the first
    ``T mod F`` frames are dropped, and a context shorter than one chunk repeats its first frame.
    Only the ``text`` and ``no-text`` variants can be rolled out (``action-id`` needs actions).

    Example:
        >>> gen = Generator(model, cfg, (64, 64, 3), SamplingConfig(ode_steps=4))   # doctest: +SKIP
        >>> gen.generate(frame, 16, seed=1).frames.shape                             # doctest: +SKIP
        (1, 16, 64, 64, 3)
    """

    def __init__(self, model: MoT, cfg: TrainConfig, frame_shape: tuple[int, int, int],
                 sampling: SamplingConfig | None = None, meta: DatasetMeta | None = None) -> None:
        self.sampling = sampling or SamplingConfig()
        self.sampling.validate()
        if cfg.variant not in ("text", "no-text"):
            raise ValueError(f"cannot roll out a {cfg.variant!r} model: it is conditioned on actions, not text")
        if cfg.variant == "no-text" and self.sampling.cfg_scale != 1.0:
            raise ValueError(f"cfg_scale={self.sampling.cfg_scale} needs text; this is a no-text model")
        self.model, self.cfg, self.meta = model.eval(), cfg, meta
        self.codec = make_codec(cfg.sequence.patch, tuple(frame_shape))
        mc = model.cfg
        if (self.codec.tokens_per_frame, self.codec.token_dim) != (mc.tokens_per_frame, mc.token_dim):
            raise ValueError(f"frames {tuple(frame_shape)} with patch {cfg.sequence.patch} give "
                             f"{self.codec.tokens_per_frame}x{self.codec.token_dim} tokens, the model expects "
                             f"{mc.tokens_per_frame}x{mc.token_dim}")
        self.tokenizer = ByteTokenizer()
        self.frames_per_chunk, self.n_per_frame = mc.frames_per_chunk, mc.tokens_per_frame
        self.n_per_chunk, self.token_dim = mc.frames_per_chunk * mc.tokens_per_frame, mc.token_dim
        self.device = next(model.parameters()).device
        cc = self.sampling.context_chunks
        self.context_chunks = max(1, cfg.sequence.chunks_per_window - 1) if cc == -1 else cc

    @classmethod
    def from_run(cls, run: str | os.PathLike[str], sampling: SamplingConfig | None = None,
                 device: torch.device | str = "cpu") -> Generator:
        """Load an exported run (``model.safetensors`` + ``config.json``)."""
        from tv2tv.world_model.checkpoint import load_world_model, read_export_config

        model, cfg = load_world_model(run, device=device)
        _, meta = read_export_config(run)
        if meta is None:
            raise ValueError(f"{run} has no dataset description in config.json; re-export it with its data")
        return cls(model, cfg, meta.frame_shape, sampling, meta)

    @property
    def text_enabled(self) -> bool:
        return self.cfg.variant == "text"

    def context(self, context: Episode | np.ndarray) -> tuple[torch.Tensor, list[list[int]], np.ndarray,
                                                              list[TranscriptEntry]]:
        """Chunks ``(K, n, P)``, their texts, the frames used and context transcript entries."""
        ep = _as_episode(context)
        f, t = self.frames_per_chunk, ep.frames.shape[0]
        if t < f:
            pad = np.repeat(ep.frames[:1], f - t, axis=0)
            ep = Episode(np.concatenate([pad, ep.frames]), np.zeros(f - 1, np.int64), np.zeros(f - 1, np.float32),
                         False, False, tuple(TextEvent(e.frame + f - t, e.text, e.source) for e in ep.text_events))
            t = f
        start, k = t % f, t // f
        frames = ep.frames[start:]
        x0 = self.codec.encode(frames[None])[0].reshape(k, self.n_per_chunk, -1)          # (K, n, P)
        texts = [chunk_text(ep, start + c * f, f, self.cfg.sequence) if self.text_enabled else [] for c in range(k)]
        entries = [TranscriptEntry((c - k) * f, self.tokenizer.decode(ids), "context")
                   for c, ids in enumerate(texts) if ids]
        return x0, texts, frames, entries

    def start(self, context: Episode | np.ndarray, batch: int = 1, seed: int = 0) -> RolloutSession:
        """A stepwise rollout from ``context`` (``RolloutSession.step`` generates one chunk)."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        x0, texts, _, _ = self.context(context)
        return RolloutSession(self, x0.to(self.device), texts, batch, seed)

    @torch.inference_mode()
    def generate(self, context: Episode | np.ndarray, n_frames: int, interventions: Sequence[TextEvent] = (),
                 seed: int = 0, batch: int = 1, progress: Callable[[int], None] | None = None) -> Rollout:
        """Roll out ``n_frames`` frames after ``context``.

        Args:
            context: an ``Episode`` (all its frames and text are context) or one frame ``(H, W, C)``.
            n_frames: frames to generate (whole chunks are generated, then cut).
            interventions: text events at generated frames (0 = the first generated frame); the
                events of one chunk are joined with the config's text separator.
            seed: base seed; element b uses the stream seeded by ``(seed, b)``.
            batch: rollouts in parallel. progress: called with the frames done after each chunk.
        """
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        f = self.frames_per_chunk
        by_chunk: dict[int, list[str]] = {}
        for e in interventions:
            if not 0 <= e.frame < n_frames:
                raise ValueError(f"intervention {e.text!r} at frame {e.frame} is outside the {n_frames} "
                                 f"generated frames (0..{n_frames - 1})")
            if not self.text_enabled:
                raise ValueError(f"a {self.cfg.variant!r} model takes no text; drop the interventions")
            by_chunk.setdefault(e.frame // f, []).append(e.text)
        x0, texts, ctx_frames, ctx_entries = self.context(context)
        session = RolloutSession(self, x0.to(self.device), texts, batch, seed)
        transcripts = [list(ctx_entries) for _ in range(batch)]
        chunks = []
        for j in range(-(-n_frames // f)):
            user = by_chunk.get(j)
            text = self.cfg.sequence.text_separator.join(user) if user else None
            frames, entries = session.step([text] * batch)
            chunks.append(frames)
            for tr, new in zip(transcripts, entries):
                tr += new
            if progress is not None:
                progress(min(n_frames, (j + 1) * f))
        frames = np.concatenate(chunks, axis=1)[:, :n_frames]
        return Rollout(frames, transcripts, session.tokens, ctx_frames)


def chunk_text(ep: Episode, lo: int, frames: int, seq: SequenceConfig) -> list[int]:
    """Byte ids of the texts placed before the chunk of frames ``lo .. lo + frames - 1``.

    The same placement as training (``data.WindowEncoder.chunk_text``, text variant; a test
    checks they agree), without importing the Lightning data module.
    """
    texts = [e.text for e in ep.text_events if lo <= e.frame < lo + frames]
    return ByteTokenizer().encode(seq.text_separator.join(texts))[:seq.max_text_bytes]


def _as_episode(context: Episode | np.ndarray) -> Episode:
    if isinstance(context, Episode):
        return context
    a = np.asarray(context)
    if a.dtype != np.uint8 or a.ndim not in (3, 4):
        raise ValueError(f"context must be an Episode or uint8 frame(s) (H, W, C) / (T, H, W, C), "
                         f"got {a.dtype} {a.shape}")
    frames = a[None] if a.ndim == 3 else a
    t = frames.shape[0]
    return Episode(frames, np.zeros(t - 1, np.int64), np.zeros(t - 1, np.float32), False, False)


def episode_prefix(ep: Episode, last: int, frames: int) -> Episode:
    """Frames ``last - frames + 1 .. last`` of ``ep`` (clipped at 0) with their text, re-indexed."""
    if not 0 <= last <= ep.num_steps:
        raise ValueError(f"context frame {last} is outside the episode's frames 0..{ep.num_steps}")
    if frames < 1:
        raise ValueError(f"context frames must be >= 1, got {frames}")
    lo = max(0, last - frames + 1)
    events = tuple(TextEvent(e.frame - lo, e.text, e.source) for e in ep.text_events if lo <= e.frame <= last)
    return Episode(ep.frames[lo:last + 1], ep.actions[lo:last], ep.rewards[lo:last], False, False,
                   events, ep.seed, ep.env)


def parse_context_spec(spec: str) -> tuple[str, int, int | None]:
    """``"DATA[:EPISODE[:FRAME]]"`` -> ``(DATA, EPISODE, FRAME or None)``.

    Example:
        >>> parse_context_spec("data/pong:3:40")
        ('data/pong', 3, 40)
    """
    parts = str(spec).split(":")
    nums: list[int] = []
    while len(parts) > 1 and len(nums) < 2 and parts[-1].strip().isdigit():
        nums.insert(0, int(parts.pop()))
    path = ":".join(parts)
    if not path:
        raise ValueError(f"context {spec!r} must look like DATA[:EPISODE[:FRAME]]")
    return path, (nums[0] if nums else 0), (nums[1] if len(nums) > 1 else None)


def load_context(spec: str, frames: int = 8) -> Episode:
    """The context a ``--context DATA[:EPISODE[:FRAME]]`` names: up to ``frames`` frames ending
    at FRAME (default: the first ``frames`` frames of the episode), from an episode store."""
    from tv2tv.recorders.store import EpisodeStore

    path, index, last = parse_context_spec(spec)
    store = EpisodeStore.open(path)
    if not 0 <= index < len(store):
        raise ValueError(f"episode {index} is outside the store's {len(store)} episodes (0..{len(store) - 1})")
    ep = store.load(index)
    return episode_prefix(ep, min(frames - 1, ep.num_steps) if last is None else last, frames)
