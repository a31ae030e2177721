"""Rollouts that think, then act: KV-cached interleaved generation (docs/design.md, "Rollout").

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

The ``action-id`` baseline is rolled out like the others, with the env actions in place of text:
before each chunk the F action ids that led to its frames, then ``BOF`` (``actions=``).

The ``plan-first`` baseline (Think2V) writes all text of a window before its frames: the
session starts each window with ``BOS``, the texts of its chunks (the context chunks' texts,
then the interventions of the chunks it will generate, joined by the text separator), lets the
model write on until it samples ``BOF`` (at most ``max_text_tokens`` bytes; 0: none), and then
generates every chunk with ``BOF`` forced (no text between chunks). Interventions therefore go
in up front: ``generate(interventions=)`` or ``start(plan=)``, never ``step(texts=)``.

``Generator`` is a ``rollout_model.RolloutModel`` (the network with its variant, codec,
tokenizer and ``SamplingConfig``: what a session reads) that also prepares contexts and drives
sessions. ``RolloutSession`` (one chunk per ``step``) and the network backends live in
``world_model.session`` (``RolloutSession`` is re-exported here); ``SamplingConfig`` and the
samplers live in ``world_model.rollout_model``.

Example:
    >>> gen = Generator.from_run("runs/pong-tiny")                                  # doctest: +SKIP
    >>> out = gen.generate(episode, 32, parse_script("8: move paddle up"), seed=0)  # doctest: +SKIP
    >>> out.frames.shape                                                            # doctest: +SKIP
    (1, 32, 64, 64, 3)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tv2tv.envs.runner import episode_prefix
from tv2tv.recorders.store import DatasetMeta
from tv2tv.types import Episode, TextEvent
from tv2tv.world_model.interventions import TranscriptEntry
from tv2tv.world_model.rollout_model import RolloutModel, SamplingConfig
from tv2tv.world_model.session import CHUNK, PlanTexts, RolloutSession

# The longest user text before one chunk, in bytes (UTF-8). Every byte is a token the model
# attends over; a pasted book would exhaust memory, and training cuts text at
# ``sequence.max_text_bytes`` (96 in the presets) anyway.
MAX_USER_TEXT_BYTES = 1024

__all__ = ["CHUNK", "MAX_USER_TEXT_BYTES", "Generator", "PlanTexts", "Rollout", "RolloutSession",
           "load_context", "parse_context_spec"]


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


class Generator(RolloutModel):
    """Generates frames and text from a context with a trained (or random) ``MoT``.

    Args: as ``RolloutModel`` (model, cfg, frame_shape, sampling, meta), whose attributes it has.

    Context alignment: a context of T frames is used as whole chunks of F frames; the first
    ``T mod F`` frames are dropped, and a context shorter than one chunk repeats its first frame.
    ``action-id`` models (learned action tokens instead of text) are rolled out with the env
    actions of every generated frame (``generate(..., actions=)``, ``RolloutSession.step``),
    placed as in training: before each chunk, the F actions that led to its frames, then BOF.
    The first frame of a context has no action before it (the "no action" id, as at an
    episode start), so a context of several bare frames needs an ``Episode`` with its actions.

    Example:
        >>> gen = Generator(model, cfg, (64, 64, 3), SamplingConfig(ode_steps=4))   # doctest: +SKIP
        >>> gen.generate(frame, 16, seed=1).frames.shape                             # doctest: +SKIP
        (1, 16, 64, 64, 3)
    """

    @classmethod
    def from_run(cls, run: str | os.PathLike[str], sampling: SamplingConfig | None = None,
                 device: torch.device | str = "cpu") -> Generator:
        """Load an exported run (``model.safetensors`` + ``config.json``)."""
        from tv2tv.world_model.checkpoint import load_world_model, read_export_config

        model, cfg = load_world_model(run, device=device)
        _, meta = read_export_config(run)
        if meta is None:
            raise ValueError(f"{run} has no dataset description in config.json; re-export it with its data")
        gen = cls(model, cfg, meta.frame_shape, sampling, meta)
        gen.name = str(run)
        return gen

    def check_data(self, meta: DatasetMeta, data_name: str) -> None:
        """Refuse data (a context or held-out store) of another game or frame size than the model's.

        Raises:
            ValueError: one line naming each differing field (``env``, ``frame_shape``) and both values.
        """
        from tv2tv.world_model.checkpoint import check_model_data

        check_model_data(self.meta, meta, self.name, data_name)

    def context(self, context: Episode | np.ndarray) -> tuple[torch.Tensor, list[list[int]], np.ndarray,
                                                              list[TranscriptEntry]]:
        """Chunks ``(K, n, P)``, their texts (action ids for ``action-id``), the frames used and
        context transcript entries."""
        if self.variant.takes_actions and not isinstance(context, Episode) and np.ndim(context) == 4 \
                and np.shape(context)[0] > 1:
            raise ValueError("an action-id model needs the actions between context frames: pass an Episode "
                             "(or one frame)")
        ep = _as_episode(context)
        f, t = self.frames_per_chunk, ep.frames.shape[0]
        if t < f:
            pad = np.repeat(ep.frames[:1], f - t, axis=0)
            ep = Episode(np.concatenate([pad, ep.frames]),
                         np.concatenate([np.full(f - t, self.action_start), ep.actions]),
                         np.zeros(f - 1, np.float32), False, False,
                         tuple(TextEvent(e.frame + f - t, e.text, e.source) for e in ep.text_events))
            t = f
        start, k = t % f, t // f
        frames = ep.frames[start:]
        x0 = self.codec.encode(frames[None])[0].reshape(k, self.n_per_chunk, -1)          # (K, n, P)
        texts = [self.variant.chunk_ids(ep, start + c * f, f, self.tokenizer, self.cfg.sequence,
                                        self.action_start) for c in range(k)]            # as in training
        entries = [TranscriptEntry((c - k) * f, self.tokenizer.decode(ids), "context")
                   for c, ids in enumerate(texts) if ids and self.variant.reads_text]
        return x0, texts, frames, entries

    def start(self, context: Episode | np.ndarray, batch: int = 1, seed: int = 0,
              plan: PlanTexts | None = None) -> RolloutSession:
        """A stepwise rollout from ``context`` (``RolloutSession.step`` generates one chunk).

        ``plan`` (``plan-first`` models only): the user text of each chunk to generate, ``plan[j]``
        a string for every element, ``B`` strings (or ``None``), or ``None``; see ``RolloutSession``.
        """
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        x0, texts, _, _ = self.context(context)
        return RolloutSession(self, x0.to(self.device), texts, batch, seed, plan=plan)

    def rollout_actions(self, actions: np.ndarray | Sequence | None, n_frames: int,
                        batch: int) -> np.ndarray | None:
        """The env actions of ``n_frames`` generated frames, ``(n_frames,)`` or ``(B, n_frames)``, as
        ``(B, chunks * F)`` (the last chunk padded with its last action); ``None`` for models
        without actions (which must get none)."""
        if not self.variant.takes_actions:
            if actions is not None:
                raise ValueError(f"a {self.cfg.variant!r} model takes no actions; drop actions=")
            return None
        if actions is None:
            raise ValueError(f"an 'action-id' model needs actions: the env action leading to each of the "
                             f"{n_frames} generated frames "
                             f"(actions=, shape ({n_frames},) or ({batch}, {n_frames}))")
        a = np.asarray(actions)
        if a.ndim == 1:
            a = np.broadcast_to(a, (batch, a.shape[0]))
        if a.ndim != 2 or a.shape[0] != batch or a.shape[1] < n_frames:
            raise ValueError(f"actions must have shape ({n_frames},) or ({batch}, {n_frames}) "
                             f"(one per generated frame), got {np.shape(actions)}")
        total = -(-n_frames // self.frames_per_chunk) * self.frames_per_chunk
        a = a[:, :n_frames]
        return np.concatenate([a, np.repeat(a[:, -1:], total - n_frames, axis=1)], axis=1)

    @torch.inference_mode()
    def generate(self, context: Episode | np.ndarray, n_frames: int, interventions: Sequence[TextEvent] = (),
                 seed: int = 0, batch: int = 1, progress: Callable[[int], None] | None = None,
                 actions: np.ndarray | Sequence | None = None) -> Rollout:
        """Roll out ``n_frames`` frames after ``context``.

        Args:
            context: an ``Episode`` (all its frames and text are context) or one frame ``(H, W, C)``.
            n_frames: frames to generate (whole chunks are generated, then cut).
            interventions: text events at generated frames (0 = the first generated frame); the
                events of one chunk are joined with the config's text separator. A
                ``plan-first`` model gets them in the plan of the window holding their chunk.
            seed: base seed; element b uses the stream seeded by ``(seed, b)``.
            batch: rollouts in parallel. progress: called with the frames done after each chunk.
            actions: ``action-id`` models only (required there): the env action leading to each
                generated frame, ``(n_frames,)`` or ``(batch, n_frames)``; ``actions[j]`` is taken
                at the frame before generated frame j (the last context frame for j = 0).
        """
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        f = self.frames_per_chunk
        by_chunk: dict[int, list[str]] = {}
        for e in interventions:
            if not 0 <= e.frame < n_frames:
                raise ValueError(f"intervention {e.text!r} at frame {e.frame} is outside the {n_frames} "
                                 f"generated frames (0..{n_frames - 1})")
            if not self.variant.reads_text:
                raise ValueError(f"a {self.cfg.variant!r} model takes no text; drop the interventions")
            by_chunk.setdefault(e.frame // f, []).append(e.text)
        acts = self.rollout_actions(actions, n_frames, batch)
        x0, texts, ctx_frames, ctx_entries = self.context(context)
        n_chunks = -(-n_frames // f)
        sep = self.cfg.sequence.text_separator
        user = [sep.join(by_chunk[j]) if j in by_chunk else None for j in range(n_chunks)]
        for j, text in enumerate(user):
            self._check_user_text(text, j)
        session = RolloutSession(self, x0.to(self.device), texts, batch, seed,
                                 plan=user if self.variant.plan_first else None)
        transcripts = [list(ctx_entries) for _ in range(batch)]
        chunks = []
        for j in range(n_chunks):
            step_texts = None if self.variant.plan_first else [user[j]] * batch
            frames, entries = session.step(step_texts,
                                           actions=None if acts is None else acts[:, j * f:(j + 1) * f])
            chunks.append(frames)
            for tr, new in zip(transcripts, entries):
                tr += new
            if progress is not None:
                progress(min(n_frames, (j + 1) * f))
        frames = np.concatenate(chunks, axis=1)[:, :n_frames]
        return Rollout(frames, transcripts, session.tokens, ctx_frames)


    def _check_user_text(self, text: str | None, chunk: int) -> None:
        """Refuse user text longer than ``MAX_USER_TEXT_BYTES``; warn above what training saw."""
        n = len(text.encode()) if text else 0
        where = (f"the intervention text of frames {chunk * self.frames_per_chunk}.."
                 f"{(chunk + 1) * self.frames_per_chunk - 1}")
        if n > MAX_USER_TEXT_BYTES:
            raise ValueError(f"{where} is {n} bytes long; at most {MAX_USER_TEXT_BYTES} bytes go before one "
                             f"chunk (text too long)")
        ids = len(self.tokenizer.encode(text)) if text else 0
        if ids > self.cfg.sequence.max_text_bytes:
            warnings.warn(f"{where} is {ids} ids long; the model was trained on at most "
                          f"sequence.max_text_bytes={self.cfg.sequence.max_text_bytes} ids before a chunk",
                          stacklevel=3)


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


def load_context(spec: str, frames: int = 8, model: Generator | None = None) -> Episode:
    """The context a ``--context DATA[:EPISODE[:FRAME]]`` names: up to ``frames`` frames ending
    at FRAME (default: the first ``frames`` frames of the episode), from an episode store.
    With ``model``, a store of another game or frame size is refused (``Generator.check_data``)."""
    from tv2tv.recorders.store import EpisodeStore

    path, index, last = parse_context_spec(spec)
    store = EpisodeStore.open(path)
    if model is not None:
        model.check_data(store.meta, f"context store {path}")
    if not 0 <= index < len(store):
        raise ValueError(f"episode {index} is outside the store's {len(store)} episodes "
                         f"(0..{len(store) - 1})")
    ep = store.load(index)
    return episode_prefix(ep, min(frames - 1, ep.num_steps) if last is None else last, frames)
