"""Playing a real game with its texter: the one home of placing text on frames and cutting contexts.

A texter's phrases are placed on frames here and nowhere else (docs/design.md, "Data model"): the
phrases of ``reset`` land on frame 0 and those of step ``t`` (``actions[t]`` taken on ``frames[t]``)
on frame ``t + 1``, the first frame that shows its effect.

- :class:`EpisodeText`: the text of one episode, fed step by step (``RecordEpisodes``, :class:`GameRun`).
- :func:`text_recording`: the text of an episode recorded elsewhere (the MineRL, CS:GO and Minari
  importers), its frames unseen by the texter.
- :class:`GameRun`: plays one episode of an env built by ``make_env`` and keeps its frames,
  actions, rewards and text; :meth:`GameRun.context` is what a planner or a branch sees,
  :meth:`GameRun.episode` the played episode.
- :func:`episode_prefix`: the last frames up to a frame with their text, re-indexed.

Legend: T steps played, H x W x C frames, n context frames.

Example:
    >>> env = make_env("ALE/Pong-v5", frame_size=16)                 # doctest: +SKIP
    >>> run = GameRun(env, seed=0)                                    # doctest: +SKIP
    >>> while not run.ended and run.steps < 10:                       # doctest: +SKIP
    ...     _ = run.step(2)
    >>> run.context(4).frames.shape, run.episode().text_events[0]     # doctest: +SKIP
    ((4, 16, 16, 3), TextEvent(frame=1, text='move paddle up', source='action'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from tv2tv.envs.registry import get_texter
from tv2tv.envs.texter import Texter
from tv2tv.types import Episode, TextEvent

_MIN_CAPACITY = 64  # frames of a run's first buffer; it doubles when full


class EpisodeText:
    """The text events of one episode as its texter writes them, step by step.

    Args:
        texter: the game's texter; ``reset(obs, info)`` is called here.
        obs, info: what the env's ``reset`` returned.

    Example:
        >>> text = EpisodeText(texter, obs, info)                 # doctest: +SKIP
        >>> text.step(action, next_obs, next_info)                # doctest: +SKIP
        >>> text.events                                           # doctest: +SKIP
        [TextEvent(frame=1, text='move paddle up', source='action')]
    """

    def __init__(self, texter: Texter, obs: Any, info: dict[str, Any]) -> None:
        self.texter = texter
        self.frame = 0  # the frame the last phrases landed on
        self.events = [TextEvent(0, p.text, p.source) for p in texter.reset(obs, info)]
        self._prev = obs

    def step(self, action: Any, obs: Any, info: dict[str, Any]) -> None:
        """Text one step: ``action`` on the previous observation gave ``obs`` and ``info``."""
        self.frame += 1
        for p in self.texter.describe(self._prev, action, obs, info):
            self.events.append(TextEvent(self.frame, p.text, p.source))
        self._prev = obs


def text_recording(texter: Texter, actions: Sequence[Any],
                   infos: Sequence[dict[str, Any]]) -> list[TextEvent]:
    """The text of a recorded episode: ``infos[0]`` is the reset's, ``infos[t + 1]`` step ``t``'s.

    The texter sees no frames (``None``): imported recordings are texted from actions and infos.

    Example:
        >>> infos = [{"lives": 3, "reward": 0.0}] * 2
        >>> text_recording(AtariTexter(["NOOP", "FIRE"]), [1], infos)            # doctest: +SKIP
        [TextEvent(frame=1, text='fire', source='action')]
    """
    if len(infos) != len(actions) + 1:
        raise ValueError(f"a recording of {len(actions)} steps needs {len(actions) + 1} infos, "
                         f"got {len(infos)}")
    text = EpisodeText(texter, None, infos[0])
    for action, info in zip(actions, infos[1:]):
        text.step(action, None, info)
    return text.events


def episode_prefix(ep: Episode, last: int, frames: int) -> Episode:
    """Frames ``last - frames + 1 .. last`` of ``ep`` (clipped at 0) with their text, re-indexed.

    Example:
        >>> episode_prefix(ep, last=6, frames=3).frames.shape[0]   # frames 4, 5, 6  # doctest: +SKIP
        3
    """
    if not 0 <= last <= ep.num_steps:
        raise ValueError(f"context frame {last} is outside the episode's frames 0..{ep.num_steps}")
    if frames < 1:
        raise ValueError(f"context frames must be >= 1, got {frames}")
    lo = max(0, last - frames + 1)
    events = tuple(TextEvent(e.frame - lo, e.text, e.source) for e in ep.text_events if lo <= e.frame <= last)
    return Episode(ep.frames[lo:last + 1], ep.actions[lo:last], ep.rewards[lo:last], False, False,
                   events, ep.seed, ep.env)


class GameRun:
    """One episode of a real game, played step by step, with its frames, actions, rewards and text.

    The constructor resets ``env`` with ``seed``; :meth:`step` takes one action. ``events`` may
    also hold events others place ahead of the play (a planner's plan): :meth:`episode` and
    :meth:`context` keep those on frames played so far.

    Args:
        env: an env built by ``make_env`` (``uint8 (H, W, C)`` frames, a texter).
        seed: the reset seed (also ``Episode.seed``).
        texter: the texter to call; by default the env's (``get_texter``).

    Attributes:
        texter: the texter that writes ``events``. actions, rewards: one per step played.
        events: the text (``TextEvent``s, frame order).
        info: the latest ``info``. terminated, truncated: how the last step ended.

    Example:
        >>> run = GameRun(make_env("crafter"), seed=0)          # doctest: +SKIP
        >>> run.step(3); run.steps                              # doctest: +SKIP
        1
    """

    def __init__(self, env: gym.Env, seed: int | None, texter: Texter | None = None) -> None:
        obs, info = env.reset(seed=seed)
        self.env, self.seed, self.info = env, seed, info
        self.actions: list[Any] = []
        self.rewards: list[float] = []
        self.terminated = self.truncated = False
        self.texter = texter if texter is not None else get_texter(env)
        self._text = EpisodeText(self.texter, obs, info)
        self.events = self._text.events
        frame = np.asarray(obs, np.uint8)
        self._frames = np.empty((_MIN_CAPACITY, *frame.shape), np.uint8)   # (capacity, H, W, C)
        self._frames[0] = frame

    @property
    def steps(self) -> int:
        """T, the steps played so far."""
        return len(self.actions)

    @property
    def ended(self) -> bool:
        """Whether the last step terminated or truncated the episode."""
        return self.terminated or self.truncated

    @property
    def frames(self) -> np.ndarray:
        """The frames so far, ``uint8 (T + 1, H, W, C)`` (a view: later steps leave it as it is)."""
        return self._frames[: self.steps + 1]

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Take ``action`` in the game and record the step; returns what ``env.step`` returned."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        t = self.steps + 1
        if t == len(self._frames):
            grown = np.empty((2 * t, *self._frames.shape[1:]), np.uint8)
            grown[:t] = self._frames
            self._frames = grown
        self._frames[t] = obs
        self.actions.append(action)
        self.rewards.append(float(reward))
        self._text.step(action, obs, info)
        self.info, self.terminated, self.truncated = info, bool(terminated), bool(truncated)
        return obs, reward, terminated, truncated, info

    def episode(self, env: str = "") -> Episode:
        """The run so far as an ``Episode`` (``truncated`` unless the game terminated it)."""
        space = self.env.action_space
        t = self.steps
        return Episode(self.frames, np.asarray(self.actions, space.dtype).reshape(t, *space.shape),
                       np.asarray(self.rewards, np.float32), self.terminated, not self.terminated,
                       tuple(e for e in self.events if e.frame <= t), self.seed, env)

    def context(self, frames: int) -> Episode:
        """The last ``frames`` frames (fewer early on) with their text, re-indexed to start at 0."""
        return episode_prefix(self.episode(), self.steps, frames)
