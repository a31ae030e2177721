"""The world model as a planner: imagination for search, and the model's own text as a plan.

``GeneratorImagination`` adapts a ``world_model.generate.Generator`` to the ``Imagine``
protocol: every plan is one element of ONE batched rollout (``Generator.start(batch=B)``); the
plan's phrases are fed as the text before their chunk, and the model may write on after them
(``continue_text``), so a caption such as "scored a point" can follow the planned action.

``ModelPlanner`` lets the model write its own next text segment(s) from the real context (TV2TV
decides when to think and what to do) and keeps the action phrases it wrote as the plan;
captions and other words are dropped (they are not actions), and a segment without an action
phrase adds nothing, so the previous action holds, as a texter's silence means in the data.

Example:
    >>> gen = Generator.from_run("runs/pong-tiny")                      # doctest: +SKIP
    >>> planner = ModelPlanner(gen, chunks=2, seed=0)                   # doctest: +SKIP
    >>> planner.plan(context)                                           # doctest: +SKIP
    [TextEvent(frame=0, text='move paddle up', source='plan')]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tv2tv.config import check_int
from tv2tv.planners.base import ImaginedRollout, PlanContext, segment_texts
from tv2tv.types import TextEvent
from tv2tv.world_model.generate import Generator


def action_phrases_in(text: str, texter: Any, separator: str = "; ") -> list[str]:
    """The pieces of ``text`` (split at ``separator``) that ``texter`` parses as actions, in order.

    Example:
        >>> from tv2tv.world_model.synthetic import SyntheticTexter
        >>> action_phrases_in("move up; scored a point; ??", SyntheticTexter())
        ['move up']
    """
    out = []
    for piece in text.split(separator.strip() or separator):
        piece = piece.strip()
        if not piece:
            continue
        try:
            texter.parse(piece)
        except (ValueError, TypeError):
            continue
        out.append(piece)
    return out


def _check_text_model(gen: Generator) -> None:
    if not gen.variant.reads_text:
        raise ValueError(f"planning needs a model that reads text; this one is a {gen.cfg.variant!r} model")


class GeneratorImagination:
    """``imagine(context, plans, horizon)`` with a world model (one batched rollout).

    Args:
        generator: the world model's ``Generator`` (its ``SamplingConfig`` applies).
        seed: base seed; call ``n`` uses ``seed + n`` (element b of a call: stream ``(seed + n, b)``).
        continue_text: let the model write on after a plan's words (captions become visible).
    """

    def __init__(self, generator: Generator, seed: int = 0, continue_text: bool = True) -> None:
        _check_text_model(generator)
        self.gen, self.seed, self.continue_text = generator, int(seed), continue_text
        self.calls = 0

    @property
    def max_horizon(self) -> int:
        """Frames in one training window: the longest future the model's context holds."""
        return int(self.gen.cfg.sequence.window_frames)

    @property
    def frames_per_chunk(self) -> int:
        return int(self.gen.frames_per_chunk)

    @torch.inference_mode()
    def __call__(self, context: PlanContext, plans: Sequence[list[TextEvent]], horizon: int
                 ) -> list[ImaginedRollout]:
        horizon = check_int("horizon", horizon, 1)
        if horizon > self.max_horizon:
            raise ValueError(f"horizon {horizon} is longer than the model's context window of "
                             f"{self.max_horizon} frames")
        if not plans:
            raise ValueError("no plans to imagine")
        gen, f = self.gen, self.frames_per_chunk
        sep = gen.cfg.sequence.text_separator
        session = gen.start(context.episode(), batch=len(plans), seed=self.seed + self.calls)
        self.calls += 1
        per_plan = [segment_texts(p, horizon, f, sep) for p in plans]
        chunks, texts = [], [[] for _ in plans]
        for j in range(len(per_plan[0])):
            frames, entries = session.step([s[j] for s in per_plan], continue_text=self.continue_text)
            chunks.append(frames)                                                   # (B, F, H, W, C)
            for b, new in enumerate(entries):
                texts[b] += [(j * f, e.text) for e in new if e.source == "model"]
        frames = np.concatenate(chunks, axis=1)[:, :horizon]                        # (B, horizon, H, W, C)
        return [ImaginedRollout(list(p), frames[b], texts[b], context.frames) for b, p in enumerate(plans)]


class ModelPlanner:
    """The model's own sampled text for the next ``chunks`` segments, as a plan.

    Args:
        generator: the world model.
        chunks: segments (of ``frames_per_chunk`` frames) the model writes and imagines per call.
        replan_every: real steps between calls (default: the frames planned, ``chunks * F``).
        seed: base seed; call ``n`` uses ``seed + n``.
    """

    def __init__(self, generator: Generator, chunks: int = 1, replan_every: int | None = None,
                 seed: int = 0) -> None:
        _check_text_model(generator)
        self.gen = generator
        self.chunks = check_int("chunks", chunks, 1)
        horizon = self.chunks * generator.frames_per_chunk
        window = generator.cfg.sequence.window_frames
        if horizon > window:
            raise ValueError(f"horizon {horizon} ({chunks} chunks) is longer than the model's context "
                             f"window of {window} frames")
        self.replan_every = check_int("replan_every", horizon if replan_every is None else replan_every, 1)
        self.seed, self.calls = int(seed), 0
        self.last_imagination: ImaginedRollout | None = None
        self.dropped_texts: list[str] = []

    @torch.inference_mode()
    def plan(self, context: PlanContext) -> list[TextEvent]:
        gen, f = self.gen, self.gen.frames_per_chunk
        sep = gen.cfg.sequence.text_separator
        session = gen.start(context.episode(), batch=1, seed=self.seed + self.calls)
        self.calls += 1
        plan: list[TextEvent] = []
        chunks, texts = [], []
        for j in range(self.chunks):
            frames, entries = session.step([None])
            chunks.append(frames[0])
            for e in entries[0]:
                if e.source != "model":
                    continue
                texts.append((j * f, e.text))
                phrases = action_phrases_in(e.text, context.texter, sep)
                if not phrases:
                    self.dropped_texts.append(e.text)
                plan += [TextEvent(j * f + min(i, f - 1), p, "plan") for i, p in enumerate(phrases)]
        self.last_imagination = ImaginedRollout(plan, np.concatenate(chunks), texts, context.frames)
        return plan
