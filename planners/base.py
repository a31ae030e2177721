"""The planner interface: ``plan(context) -> list[TextEvent]``, and what planners imagine.

A *plan* is a list of ``TextEvent``s (source ``"plan"``) whose ``frame`` counts real env steps
from now: the event at frame ``k`` says what to do from the ``k``-th step on (0 = the step
about to be taken), the way a texter's action phrase holds until the next one. A step without
a new phrase keeps the last one (as in the training data, where the texter writes an action
phrase only when the action changes). ``tv2tv.planners.act`` turns plans into the real game's
actions through the texter's ``parse``.

An *imagination* function rolls the world model out under many plans at once (one batched
call) and returns one ``ImaginedRollout`` per plan; an *objective* scores one rollout (higher
is better). Planners that imagine keep their last imagination in ``last_imagination`` so the
act loop can show what was imagined beside what really happened.

Example:
    >>> ctx = PlanContext(np.zeros((2, 8, 8, 3), np.uint8), (), frame_index=1, texter=None)
    >>> plan = [TextEvent(0, "move paddle up", "plan")]
    >>> segment_texts(plan, horizon=4, frames_per_chunk=2)
    ['move paddle up', None]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tv2tv.types import Episode, TextEvent


@dataclass(frozen=True)
class PlanContext:
    """What a planner sees before it decides.

    Args:
        frames: the recent real frames ``uint8 (T, H, W, C)``; the last one is the current frame.
        events: the recent real text events; ``frame`` indexes into ``frames``.
        frame_index: the index of the current (last) frame in the real episode.
        texter: the real game's texter (``action_phrases``, ``parse``).
    """

    frames: np.ndarray
    events: tuple[TextEvent, ...]
    frame_index: int
    texter: Any

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 4 or len(f) == 0:
            raise ValueError(f"PlanContext.frames must be a non-empty uint8 (T, H, W, C) array, got "
                             f"{getattr(f, 'dtype', type(f))} {getattr(f, 'shape', '')}")
        for e in self.events:
            if not 0 <= e.frame < len(f):
                raise ValueError(f"context event {e} is outside the context frames 0..{len(f) - 1}")
        if self.frame_index < 0:
            raise ValueError(f"frame_index must be >= 0, got {self.frame_index}")

    def episode(self) -> Episode:
        """The context as an ``Episode`` (what ``Generator.start`` takes)."""
        t = len(self.frames) - 1
        return Episode(self.frames, np.zeros(t, np.int64), np.zeros(t, np.float32), False, False,
                       tuple(self.events))


@dataclass
class ImaginedRollout:
    """One plan imagined by the world model.

    Args:
        plan: the plan that was fed.
        frames: imagined frames ``uint8 (horizon, H, W, C)``; frame ``k`` is the result of step ``k``.
        texts: ``(frame, text)`` of every segment the *model* wrote during imagination (the
            plan's own words excluded), e.g. ``(2, "scored a point")``.
        observed: the real frames the imagination started from ``uint8 (T, H, W, C)``
            (``PlanContext.frames``; the last is the current frame), or ``None``.
    """

    plan: list[TextEvent]
    frames: np.ndarray
    texts: list[tuple[int, str]] = field(default_factory=list)
    observed: np.ndarray | None = None

    @property
    def model_text(self) -> str:
        """Everything the model wrote, joined with ``"; "``."""
        return "; ".join(t for _, t in self.texts)


Objective = Callable[[ImaginedRollout], float]
"""Scores one imagined rollout; higher is better."""


@runtime_checkable
class Imagine(Protocol):
    """Rolls the world model out under every plan in one batched call.

    ``max_horizon`` is the longest horizon (in frames) the model's context window holds;
    ``frames_per_chunk`` the model's chunk length (a plan's text changes where a chunk starts).
    """

    max_horizon: int
    frames_per_chunk: int

    def __call__(self, context: PlanContext, plans: Sequence[list[TextEvent]], horizon: int
                 ) -> list[ImaginedRollout]: ...


@runtime_checkable
class Planner(Protocol):
    """``plan(context)`` returns the text plan for the next steps; the act loop asks again
    after ``replan_every`` real steps (receding horizon)."""

    replan_every: int

    def plan(self, context: PlanContext) -> list[TextEvent]: ...


def check_objective(objective: Any) -> Objective:
    """``objective`` itself if callable; else ``TypeError`` naming it.

    Example:
        >>> check_objective("reward")
        Traceback (most recent call last):
        ...
        TypeError: objective must be a callable ImaginedRollout -> float, got str 'reward'
    """
    if not callable(objective):
        raise TypeError(f"objective must be a callable ImaginedRollout -> float, got "
                        f"{type(objective).__name__} {objective!r}")
    return objective


def segment_texts(plan: Sequence[TextEvent], horizon: int, frames_per_chunk: int,
                  separator: str = "; ") -> list[str | None]:
    """The text fed before each chunk of an imagination: the plan's events in that chunk's
    frames, joined with ``separator`` (``None`` where the plan says nothing new)."""
    n = -(-horizon // frames_per_chunk)
    out: list[list[str]] = [[] for _ in range(n)]
    for e in plan:
        if 0 <= e.frame < n * frames_per_chunk:
            out[e.frame // frames_per_chunk].append(e.text)
    return [separator.join(dict.fromkeys(t)) if t else None for t in out]


def shift_plan(plan: Sequence[TextEvent], by: int) -> list[TextEvent]:
    """The plan as seen ``by`` steps later: the phrase in force at step ``by`` moves to frame 0.

    Example:
        >>> [(e.frame, e.text) for e in shift_plan([TextEvent(0, "a", "plan"), TextEvent(3, "b", "plan")], 2)]
        [(0, 'a'), (1, 'b')]
    """
    past = [e for e in plan if e.frame <= by]
    head = [TextEvent(0, past[-1].text, "plan")] if past else []
    return head + [TextEvent(e.frame - by, e.text, "plan") for e in plan if e.frame > by]
