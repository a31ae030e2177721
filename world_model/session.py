"""A rollout in progress: ``RolloutSession`` and the two network backends it runs on.

Legend: B batch, L segment length, n = F * N tokens per chunk (F frames of N tokens), P token
dim, V vocab.

A session holds one stream per guidance branch (the text-conditioned one, plus an all-text-
dropped one when ``cfg_scale != 1``). ``step`` writes one chunk: the text segment before it
(forced ids such as user text or action ids, then sampled bytes until ``BOF``), the chunk
integrated from noise by the flow ODE, and the chunk appended as clean context with ``EOF``.
Forced ids of a batch go in as ONE padded segment (padding keys are invalid), and free text
costs one network call per token for the whole batch (sampled row-wise, vectorised).

A ``plan-first`` session (the Think2V baseline) takes its user text up front (``plan=``, one
entry per chunk to generate) and starts every window with ``BOS``, the plan (the texts of the
window's chunks joined by the text separator: the context chunks' texts and the user text of
the chunks the window will generate; a slide keeps the user text of the kept chunks), then
lets the model write on until ``BOF`` (``max_text_tokens`` at most). Each ``step`` then only
generates its chunk and feeds ``EOF, BOF`` after it. The model's own plan text is not carried
over a slide: the new window's model writes its own. ``step(texts=)`` is refused.

Backends: ``_CachedStream`` (``MoT.extend`` on a preallocated KV cache) and ``_FullStream``
(the uncached reference: the whole sequence through ``MoT.forward`` at every call). They get
the same segments, so they agree up to float rounding (tested).

Example:
    >>> session = Generator.from_run("runs/pong-tiny").start(frame, batch=2)      # doctest: +SKIP
    >>> frames, entries = session.step(["move paddle up", None])                   # doctest: +SKIP
    >>> frames.shape                                                                # doctest: +SKIP
    (2, 2, 64, 64, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from tv2tv.world_model.flow import integrate
from tv2tv.world_model.interventions import TranscriptEntry
from tv2tv.world_model.mot import MoT, MoTOutput
from tv2tv.world_model.rollout_model import RolloutModel, sample_tokens
from tv2tv.world_model.sequence import TEXT, VIDEO, ModelInput, build_sequence, chunk_anchor, plan_ids
from tv2tv.world_model.tokenizer import BOF, BOS, EOF, PAD

CHUNK = -1  # marks a video chunk in ``Rollout.tokens``
# The user text of each chunk a plan-first session generates: per chunk, one text for every
# element, one per element, or None.
PlanTexts = Sequence[str | Sequence[str | None] | None]


class _CachedStream:
    """The KV-cached backend: ``MoT.extend``."""

    def __init__(self, model: MoT, batch: int, device: torch.device, capacity: int = 0) -> None:
        self.model, self.cache = model, model.new_cache(batch, device, capacity)

    def run(self, s: ModelInput, append: bool) -> MoTOutput:
        return self.model.extend(self.cache, s, append=append)


class _FullStream:
    """The uncached reference: the whole sequence through ``MoT.forward`` at every call."""

    def __init__(self, model: MoT, batch: int, device: torch.device, capacity: int = 0) -> None:
        self.model, self.history = model, None

    def run(self, s: ModelInput, append: bool) -> MoTOutput:
        full = s if self.history is None else ModelInput.cat(self.history, s)
        out = self.model(full)
        if append:
            self.history = full
        L = s.tokens.shape[1]
        return MoTOutput(out.logits[:, -L:], out.velocity[:, -L:])


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
        gen: the model to roll out (a ``RolloutModel``, e.g. a ``Generator``).
        context_x0: clean context chunks ``(K, n, P)``.
        context_texts: K lists of ids before each context chunk (text, or action ids for an
            ``action-id`` model). batch: B. seed: base seed.
        plan: ``plan-first`` models only: ``plan[j]`` is the user text of the j-th chunk this
            session generates (a string for every element, B strings or ``None``s, or ``None``).
            Chunks past the plan get no user text.

    ``tokens`` of a plan-first session record what is fed: each window's ``BOS``, plan, model
    text and ``BOF`` (the chunks a slide keeps are not repeated), each chunk as ``CHUNK, EOF, BOF``.
    """

    def __init__(self, gen: RolloutModel, context_x0: torch.Tensor, context_texts: list[list[int]],
                 batch: int, seed: int, plan: PlanTexts | None = None) -> None:
        self.gen, self.b = gen, batch
        self.plan_first = gen.variant.plan_first
        if plan is not None and not self.plan_first:
            raise ValueError(f"plan= is for plan-first models; a {gen.cfg.variant!r} model takes its text "
                             f"per chunk (step(texts=))")
        self._plan = [self._plan_row(j, p) for j, p in enumerate(plan or [])]
        self._pending: list[list[TranscriptEntry]] = [[] for _ in range(batch)]
        self._stale = False
        self.rngs = [
            torch.Generator().manual_seed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
            for i in range(batch)]
        self.guided = gen.sampling.cfg_scale != 1.0
        self.window = gen.context_chunks
        # Added to the logits of a sampled id: 0 where the model may write (ByteTokenizer.writable).
        self._writable = torch.full((gen.model.cfg.vocab_size,), float("-inf"), device=gen.device)
        self._writable[gen.tokenizer.writable] = 0.0
        x = context_x0.to(gen.device)
        # The logical stream: per chunk, each element's text ids and the clean chunk (B, n, P).
        self.units = [([list(t) for _ in range(batch)], x[k].expand(batch, *x[k].shape))
                      for k, t in enumerate(context_texts)]
        seq = build_sequence(context_texts, context_x0.cpu(), gen.n_per_frame, with_noisy=False,
                             with_last_clean=True, text_loss=False,
                             video_positions=gen.cfg.sequence.video_positions)
        ids = _marked_tokens(seq.tokens.tolist(), seq.modality.tolist())
        self.tokens: list[list[int]] = [[] if self.plan_first else list(ids) for _ in range(batch)]
        self.chunk, self.frame = len(self.units), 0
        self._first = self.chunk
        if self.window:
            self.units = self.units[-self.window:]
        # Per-chunk index tensors, shared by every chunk segment.
        dev, n, N = gen.device, gen.n_per_chunk, gen.n_per_frame
        idx = torch.arange(n, device=dev).expand(batch, n)
        self._idx, self._frame_idx, self._patch_idx = idx, idx // N, idx % N
        self._video_mod = torch.full((batch, n), VIDEO, dtype=torch.long, device=dev)
        self._pad = torch.full((batch, n), PAD, dtype=torch.long, device=dev)
        self._ones = torch.ones(batch, n, dtype=torch.bool, device=dev)
        self._prefill()

    def _capacity(self) -> int:
        """Tokens to preallocate per cache: a full window of chunks with room for text."""
        gen, s = self.gen, self.gen.sampling
        chunks = (self.window or len(self.units) + 8) + 1
        text = max(s.max_text_tokens, gen.cfg.sequence.max_text_bytes) + gen.frames_per_chunk + 2
        return chunks * (gen.n_per_chunk + text) + 1

    @torch.inference_mode()
    def _prefill(self) -> None:
        """Fresh streams holding ``BOS`` and the units (a training-like window, positions from 0)."""
        b, dev = self.b, self.gen.device
        stream = _CachedStream if self.gen.sampling.use_cache else _FullStream
        cap = self._capacity()
        self.streams = [stream(self.gen.model, b, dev, cap) for _ in range(2 if self.guided else 1)]
        if self.plan_first:
            self._prefill_plan()
            return
        self.pos = []
        for i, st in enumerate(self.streams):
            pos = torch.zeros(b, dtype=torch.long, device=dev)
            segs = [self._text_seg([[BOS]] * b, pos)]
            for k, (texts, x) in enumerate(self.units):
                pos = pos + segs[-1].valid.sum(1)
                segs.append(self._text_seg([(t if i == 0 else []) + [BOF] for t in texts], pos))
                pos = pos + segs[-1].valid.sum(1)
                segs.append(self._chunk_seg(x, pos, torch.zeros(b, device=dev), noisy=False, chunk_id=k,
                                            text=self._cond_text(i, texts)))
            if i == 1:  # the unconditional stream: no text, so BOF follows EOF at once
                pos = pos + segs[-1].valid.sum(1)
                segs.append(self._text_seg([[BOF]] * b, pos))
            out = st.run(ModelInput.cat(*segs), append=True)
            self.pos.append(pos + segs[-1].valid.sum(1))
            if i == 0:
                self.logits = out.logits[:, -1]                                            # (B, V)

    # -- plan-first ---------------------------------------------------------------------------
    def _plan_row(self, j: int, p: str | Sequence[str | None] | None) -> list[str | None]:
        if p is None or isinstance(p, str):
            return [p or None] * self.b
        row = list(p)
        if len(row) != self.b or not all(t is None or isinstance(t, str) for t in row):
            raise ValueError(f"plan[{j}] must be a string, None or {self.b} strings/None (one per element), "
                             f"got {p!r}")
        return [t or None for t in row]

    def _user_text(self, g: int) -> list[str | None]:
        """Per element, the user text of generated chunk ``g`` (0 = the session's first)."""
        return self._plan[g] if g < len(self._plan) else [None] * self.b

    def _prefill_plan(self) -> None:
        """Plan-first streams: ``BOS``, the window's plan, ``BOF``, then each unit as a clean
        chunk with ``EOF, BOF``. Stream 0's plan is the units' texts then the user text of the
        chunks to generate before the next slide (all of the plan without a window), and the
        model writes on until ``BOF``; the unconditional stream's plan is empty."""
        gen, b, dev = self.gen, self.b, self.gen.device
        g0 = self.chunk - self._first                                   # next chunk to generate
        ahead = self.window + 1 - len(self.units) if self.window else max(1, len(self._plan) - g0)
        user = [self._user_text(g) for g in range(g0, g0 + ahead)]      # (ahead, B)
        sep = gen.tokenizer.encode(gen.cfg.sequence.text_separator)
        forced = [plan_ids([t[i] for t, _ in self.units]
                           + [gen.tokenizer.encode(u[i] or "") for u in user], sep)
                  for i in range(b)]
        self.pos = [torch.zeros(b, dtype=torch.long, device=dev) for _ in self.streams]
        self._feed([[BOS, *x] for x in forced], [[] for _ in range(b)], [False] * b)
        wrote = self._write_text([None] * b, [True] * b)
        if self.guided:
            self._append(1, self._text_seg([[BOS, BOF]] * b, self.pos[1]))
        zero = torch.zeros(b, device=dev)
        for i in range(len(self.streams)):
            pos, segs = self.pos[i], []
            for k, (_, x) in enumerate(self.units):
                segs.append(self._chunk_seg(x, pos, zero, noisy=False, chunk_id=k))     # clean + EOF
                pos = pos + segs[-1].valid.sum(1)
                segs.append(self._text_seg([[BOF]] * b, pos))
                pos = pos + 1
            self._append(i, ModelInput.cat(*segs))
        initial = g0 == 0
        sep_text = gen.cfg.sequence.text_separator
        for i in range(b):
            if initial:
                self.tokens[i] += [CHUNK, EOF, BOF] * len(self.units)
            for j, u in enumerate(user):
                if u[i]:
                    self._pending[i].append(TranscriptEntry((g0 + j) * gen.frames_per_chunk, u[i], "user"))
            text = gen.tokenizer.decode(wrote[i])
            text = text[len(sep_text):] if forced[i] and text.startswith(sep_text) else text
            if text:
                self._pending[i].append(TranscriptEntry(self.frame, text, "model"))

    def _plan_step(self, texts: Sequence[str | None] | None, actions: np.ndarray | Sequence | None
                   ) -> tuple[list[list[int]], list[list[TranscriptEntry]]]:
        """A plan-first step's chunk texts (its user ids, kept for a slide) and new entries."""
        if texts is not None and any(texts):
            raise ValueError("a plan-first model reads all text of its window before the frames, not per "
                             "chunk: give the text up front with Generator.generate(interventions=) or "
                             "Generator.start(plan=) / RolloutSession(plan=), and call step() without texts")
        if actions is not None:
            raise ValueError(f"a {self.gen.cfg.variant!r} model takes no actions; drop actions=")
        if self._stale:  # the window slid after the last chunk: write the new window's plan now
            self._prefill()
            self._stale = False
        entries, self._pending = self._pending, [[] for _ in range(self.b)]
        ids = [self.gen.tokenizer.encode(t or "") for t in self._user_text(self.chunk - self._first)]
        return ids, entries

    # -- segments ---------------------------------------------------------------------------
    def _append(self, i: int, seg: ModelInput) -> MoTOutput:
        out = self.streams[i].run(seg, append=True)
        self.pos[i] = self.pos[i] + seg.valid.sum(1)
        return out

    def _text_seg(self, ids: list[list[int]], pos: torch.Tensor) -> ModelInput:
        """Text ids per element, right-padded with invalid PADs. ``pos (B,)`` the next positions."""
        L, dev, P = max(len(x) for x in ids), self.gen.device, self.gen.token_dim
        tok = torch.tensor([x + [PAD] * (L - len(x)) for x in ids], dtype=torch.long, device=dev)
        lens = torch.tensor([len(x) for x in ids], device=dev)
        valid = torch.arange(L, device=dev)[None] < lens[:, None]                            # (B, L)
        zeros = torch.zeros(self.b, L, dtype=torch.long, device=dev)
        no_video = torch.zeros(self.b, L, P, device=dev)
        cond = torch.zeros(self.b, L, self._cond_dim, device=dev) if self._cond_dim else None
        return ModelInput(tokens=tok, modality=zeros + TEXT, chunk_id=zeros - 1, is_noisy=valid & False,
                          position=pos[:, None] + valid.cumsum(1) - 1, frame_index=zeros, patch_index=zeros,
                          video=no_video, anchor=no_video, valid=valid,
                          flow_t=torch.zeros(self.b, L, device=dev), text_cond=cond)

    @property
    def _cond_dim(self) -> int:
        return self.gen.cfg.model.dim if self.gen.model.text_cond is not None else 0

    def _cond_text(self, stream: int, ids: list[list[int]]) -> list[list[int]] | None:
        """The chunk text ids a stream's chunk is conditioned on (``ModelConfig.text_cond``):
        the ids written before it; none for the unconditional stream and plan-first models."""
        return None if not self._cond_dim or stream == 1 or self.plan_first else ids

    def _text_cond(self, text: list[list[int]] | None, n: int) -> torch.Tensor | None:
        """``(B, n, D)``: the summary of each element's chunk text for its n chunk tokens (zeros
        without text); ``None`` without ``ModelConfig.text_cond``."""
        b, dev = self.b, self.gen.device
        if not self._cond_dim:
            return None
        if text is None:
            return torch.zeros(b, n, self._cond_dim, device=dev)
        T = max(1, max(len(x) for x in text))
        ids = torch.tensor([x + [PAD] * (T - len(x)) for x in text], dtype=torch.long, device=dev)
        valid = torch.arange(T, device=dev)[None] < torch.tensor([len(x) for x in text], device=dev)[:, None]
        return self.gen.model.chunk_text_embedding(ids, valid)[:, None].expand(b, n, -1)

    def _chunk_seg(self, x: torch.Tensor, pos: torch.Tensor, flow_t: torch.Tensor, noisy: bool,
                   chunk_id: int | None = None, text: list[list[int]] | None = None) -> ModelInput:
        """Chunk tokens ``x (B, n, P)`` at flow time ``flow_t (B,)``; clean ones are followed by EOF.
        A noisy chunk's anchor is the last frame of the newest clean chunk (``chunk_anchor``);
        ``text``: the chunk's text ids per element, for ``ModelConfig.text_cond``."""
        b, n, _ = x.shape
        cid = torch.full_like(self._pad, self.chunk if chunk_id is None else chunk_id)
        if self.gen.cfg.sequence.video_positions == "chunk":   # k * n + i, k counted in the window
            k = len(self.units) if chunk_id is None else chunk_id
            vpos = torch.full_like(pos, k * n)
        else:
            vpos = pos
        anchor = chunk_anchor(self.units[-1][1], self.gen.n_per_frame) if noisy else torch.zeros_like(x)
        seg = ModelInput(tokens=self._pad, modality=self._video_mod, chunk_id=cid,
                         is_noisy=self._ones if noisy else ~self._ones, position=vpos[:, None] + self._idx,
                         frame_index=self._frame_idx, patch_index=self._patch_idx, video=x, anchor=anchor,
                         valid=self._ones, flow_t=flow_t[:, None].expand(b, n).float(),
                         text_cond=self._text_cond(text, n))
        return seg if noisy else ModelInput.cat(seg, self._text_seg([[EOF]] * b, pos + n))

    # -- one step ---------------------------------------------------------------------------
    def _feed(self, ids: list[list[int]], wrote: list[list[int]], done: list[bool]) -> None:
        """Append one padded text segment (``[]``: nothing for that element) and keep each
        element's logits after its last id."""
        for i, x in enumerate(ids):
            wrote[i] += [t for t in x if t != BOF]
            self.tokens[i] += x
            done[i] = done[i] or (bool(x) and x[-1] == BOF)
        out = self._append(0, self._text_seg(ids, self.pos[0]))
        last = torch.tensor([max(len(x), 1) - 1 for x in ids], device=self.gen.device)
        self.logits = out.logits[torch.arange(self.b), last]                                # (B, V)

    def _write_text(self, forced: list[list[int] | None], free: list[bool]) -> list[list[int]]:
        """Feed forced ids (e.g. user text + BOF), then sample until BOF where ``free``; returns
        the ids each element wrote, BOF excluded.

        The first call holds every element's forced ids (or its first sampled id, or BOF) as
        one padded segment; then one call per sampled token for the whole batch.
        """
        s, b = self.gen.sampling, self.b
        wrote: list[list[int]] = [[] for _ in range(b)]
        done = [False] * b
        sampled = [0] * b
        first = True
        while not all(done):
            ids: list[list[int]] = [[] for _ in range(b)]
            draw = []
            for i in range(b):
                if done[i]:
                    continue
                if first and forced[i]:
                    ids[i] = list(forced[i])  # type: ignore[arg-type]
                elif not free[i] or sampled[i] >= s.max_text_tokens:
                    ids[i] = [BOF]
                else:
                    draw.append(i)
            if draw:
                for i, t in zip(draw, self._sample(draw)):
                    ids[i] = [t]
                    sampled[i] += 1
            for i in range(b):  # BOF is forced next: feed it in the same call
                if ids[i] and ids[i][-1] != BOF and (not free[i] or sampled[i] >= s.max_text_tokens):
                    ids[i].append(BOF)
            first = False
            self._feed(ids, wrote, done)
        return wrote

    def _sample(self, rows: list[int]) -> list[int]:
        """One sampled id (a byte other than NUL, a word, or BOF) for each element in ``rows``.

        NUL is never text (``TextEvent`` refuses it: the store could not keep it), so a model
        is not allowed to write it either.
        """
        s = self.gen.sampling
        logits = self.logits[rows].float()
        u = torch.stack([torch.rand((), generator=self.rngs[i]) for i in rows])
        return sample_tokens(logits + self._writable, s.temperature, s.top_p, u).tolist()

    def _velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        outs = [st.run(replace(tpl, video=x, flow_t=t[:, None].expand_as(tpl.flow_t).float()),
                       append=False).velocity
                for st, tpl in zip(self.streams, self._noisy)]                             # (B, n, P) each
        if not self.guided:
            return outs[0]
        return outs[1] + self.gen.sampling.cfg_scale * (outs[0] - outs[1])

    def _forced(self, texts: Sequence[str | None] | None, actions: np.ndarray | Sequence | None,
                continue_text: bool) -> tuple[list[list[int] | None], list[bool], list[list[int] | None]]:
        """Forced ids and ``free`` per element, and the user ids (for the transcript)."""
        gen, b = self.gen, self.b
        texts = list(texts) if texts is not None else [None] * b
        if len(texts) != b:
            raise ValueError(f"got {len(texts)} texts for a batch of {b}")
        if gen.variant.takes_actions:
            if any(t for t in texts):
                raise ValueError("an 'action-id' model takes actions, not text; pass actions=")
            if actions is None:
                raise ValueError(f"an 'action-id' model needs the {gen.frames_per_chunk} actions of the next "
                                 f"chunk per element: pass actions= (shape ({b}, {gen.frames_per_chunk}))")
            ids = gen.action_ids(actions, b)
            return [[*x, BOF] for x in ids], [False] * b, [None] * b
        if actions is not None:
            raise ValueError(f"a {gen.cfg.variant!r} model takes no actions; drop actions=")
        user = [gen.tokenizer.encode(t) if t else None for t in texts]
        forced = [None if u is None else (u if continue_text else [*u, BOF]) for u in user]
        free = [(u is None or continue_text) and gen.variant.reads_text for u in user]
        return forced, free, user

    def _interleaved_text(self, texts: Sequence[str | None] | None, continue_text: bool,
                          actions: np.ndarray | Sequence | None
                          ) -> tuple[list[list[int]], list[list[TranscriptEntry]]]:
        """Write the text segment before the next chunk; returns each element's ids and entries."""
        gen, b = self.gen, self.b
        forced, free, user = self._forced(texts, actions, continue_text)
        wrote = self._write_text(forced, free)
        entries: list[list[TranscriptEntry]] = [[] for _ in range(b)]
        sep = gen.cfg.sequence.text_separator
        for i in range(b):
            if not gen.variant.reads_text:
                continue
            u = user[i]
            model_ids = wrote[i][len(u):] if u is not None else wrote[i]
            if u is not None:
                entries[i].append(TranscriptEntry(self.frame, texts[i], "user"))  # type: ignore[index,arg-type]
            model_text = gen.tokenizer.decode(model_ids)
            model_text = model_text[len(sep):] if u is not None and model_text.startswith(sep) else model_text
            if model_text:
                entries[i].append(TranscriptEntry(self.frame, model_text, "model"))
        return wrote, entries

    @torch.inference_mode()
    def step(self, texts: Sequence[str | None] | None = None, continue_text: bool = False,
             actions: np.ndarray | Sequence | None = None) -> tuple[np.ndarray, list[list[TranscriptEntry]]]:
        """Generate one chunk.

        Args:
            texts: per element, user text that replaces the model's text segment (``None``: the
                model writes its own). ``continue_text``: let the model go on after the user's
                text (a prefix) instead of closing the segment with ``BOF``. A ``plan-first``
                model takes no text here (``ValueError``): its text is the session's ``plan``.
            actions: ``action-id`` models only (and required there): the env actions that lead
                to the chunk's F frames, ``(B, F)`` or ``(F,)`` for every element; action ``j``
                is the one taken at the frame before the chunk's frame ``j``, as in training.

        Returns:
            frames ``uint8 (B, F, H, W, C)`` and, per element, the new transcript entries (for
            ``plan-first``, those of a window's plan come with the window's first chunk).
        """
        gen, b = self.gen, self.b
        if self.plan_first:
            wrote, entries = self._plan_step(texts, actions)
        else:
            wrote, entries = self._interleaved_text(texts, continue_text, actions)
        noise = torch.stack([torch.randn(gen.n_per_chunk, gen.token_dim, generator=g) for g in self.rngs])
        zero = torch.zeros(b, device=gen.device)
        self._noisy = [self._chunk_seg(noise.to(gen.device), p, zero, noisy=True,
                                       text=self._cond_text(i, wrote))
                       for i, p in enumerate(self.pos)]
        x0 = integrate(self._velocity, noise.to(gen.device), gen.sampling.ode_steps, gen.sampling.method)
        frames = gen.codec.decode(x0.reshape(b, gen.frames_per_chunk, gen.n_per_frame, -1))  # (B,F,H,W,C)
        clean = gen.codec.encode(frames).reshape(b, gen.n_per_chunk, -1).to(gen.device)      # as real context
        for i in range(len(self.streams)):
            seg = self._chunk_seg(clean, self.pos[i], zero, noisy=False, text=self._cond_text(i, wrote))
            if i == 1 or self.plan_first:  # no text between chunks: BOF follows EOF at once
                seg = ModelInput.cat(seg, self._text_seg([[BOF]] * b, self.pos[i] + seg.tokens.shape[1]))
            out = self._append(i, seg)
            if i == 0:
                self.logits = out.logits[:, -1]
        for t in self.tokens:
            t += [CHUNK, EOF, BOF] if self.plan_first else [CHUNK, EOF]
        self.units.append((wrote, clean))
        if self.window and len(self.units) > self.window:
            # Slide: keep the newest half of the window and re-encode it from BOS, so the
            # model always sees contexts of the lengths and positions it was trained on.
            # A plan-first window is re-encoded when its first chunk is asked for (its plan
            # is sampled text, wasted if the rollout ends here).
            self.units = self.units[-max(1, (self.window + 1) // 2):]
            if self.plan_first:
                self._stale = True
            else:
                self._prefill()
        self.chunk += 1
        self.frame += gen.frames_per_chunk
        return frames.cpu().numpy(), entries
