"""Shared small types: text events and episodes (docs/design.md, "Data model").

Frame indexing: ``frames[0]`` is the observation after ``reset``; step ``t`` (0-based) takes
``actions[t]`` on ``frames[t]`` and yields ``frames[t + 1]`` and ``rewards[t]``. A text event at
frame ``f`` describes what happens from frame ``f`` on and comes *before* frame ``f`` in every
sequence, so the text for ``actions[t]`` (and the captions for what step ``t`` caused) sits at
frame ``t + 1``, the first frame that shows its effect.

Example:
    >>> import numpy as np
    >>> ep = Episode(
    ...     frames=np.zeros((3, 8, 8, 3), np.uint8), actions=np.array([0, 1]),
    ...     rewards=np.zeros(2, np.float32), terminated=True, truncated=False,
    ...     text_events=(TextEvent(1, "noop", "action"),), seed=0, env="ALE/Pong-v5")
    >>> ep.num_steps
    2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import numpy as np

TextSource = Literal["action", "caption", "plan", "intervention"]
TEXT_SOURCES: tuple[str, ...] = get_args(TextSource)


class Phrase(NamedTuple):
    """A phrase a texter emits for one step, before it is placed on a frame."""

    text: str
    source: TextSource = "action"


@dataclass(frozen=True)
class TextEvent:
    """A text that describes what happens from frame ``frame`` on.

    Args:
        frame: index into ``Episode.frames`` (0 ≤ frame ≤ T).
        text: a short natural-language phrase ("move paddle up").
        source: who wrote it: the action texter, a caption, a planner or a user intervention.
    """

    frame: int
    text: str
    source: TextSource = "action"

    def __post_init__(self) -> None:
        if int(self.frame) < 0:
            raise ValueError(f"TextEvent.frame must be >= 0, got {self.frame}")
        if self.source not in TEXT_SOURCES:
            raise ValueError(f"TextEvent.source must be one of {TEXT_SOURCES}, got {self.source!r}")
        if not isinstance(self.text, str):
            raise TypeError(f"TextEvent.text must be str, got {type(self.text).__name__}")
        if "\x00" in self.text:  # numpy's str arrays (the store) drop trailing NULs: not lossless
            raise ValueError(f"TextEvent.text must not contain NUL characters, got {self.text!r}")


@dataclass(frozen=True)
class Episode:
    """One recorded episode. All fields are numpy arrays or plain Python values.

    Shapes: frames ``uint8 (T+1, H, W, C)``, actions ``(T, ...)``, rewards ``float32 (T,)``.
    Text events are sorted by frame (stable, so phrases of one frame keep their order).
    """

    frames: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool
    text_events: tuple[TextEvent, ...] = ()
    seed: int | None = None
    env: str = ""
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f, a, r = self.frames, self.actions, self.rewards
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 4:
            raise ValueError(
                f"frames must be a uint8 array (T+1, H, W, C), got "
                f"{getattr(f, 'dtype', type(f))} {getattr(f, 'shape', '')}"
            )
        if f.shape[0] < 1:
            raise ValueError("an episode needs at least one frame (the reset observation)")
        if len(a) != f.shape[0] - 1 or len(r) != f.shape[0] - 1:
            raise ValueError(
                f"expected T+1 frames for T actions and rewards, got {f.shape[0]} frames, "
                f"{len(a)} actions, {len(r)} rewards"
            )
        events = tuple(sorted(self.text_events, key=lambda e: e.frame))
        for e in events:
            if e.frame > f.shape[0] - 1:
                raise ValueError(f"text event {e} is past the last frame {f.shape[0] - 1}")
        object.__setattr__(self, "text_events", events)

    @property
    def num_steps(self) -> int:
        """T, the number of environment steps (frames minus one)."""
        return int(self.frames.shape[0] - 1)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every frame."""
        h, w, c = self.frames.shape[1:]
        return int(h), int(w), int(c)

    def events_at(self, frame: int) -> list[TextEvent]:
        """The text events placed at ``frame``, in order."""
        return [e for e in self.text_events if e.frame == frame]
