"""``WorldModelEnv``: the world model as a gymnasium env (docs/design.md, "Style": DIAMOND's WorldModelEnv).

``reset`` starts from real context (a random window of a recorded episode, or a fixed one);
``step(action)`` writes the agent's text before the next frame chunk and lets the model
generate it. The action is either text (``action_mode="text"``, a ``Text`` space) or the
game's discrete action (``action_mode="action"``), turned into the same phrases the game's
texter wrote into the training data (when the texter would write one); an ``action-id`` model
(learned action tokens) takes the discrete action itself, for every frame of the step. After the agent's
text the model may go on writing (``continue_text``), e.g. a caption: "scored a point" gives
reward +1, "lost a point" -1 (the Atari texter's captions), "game over" terminates.

One step is one chunk of ``frames_per_chunk`` frames (like a frameskip): the observation is
its last frame, ``info["frames"]`` holds all of them and ``info["text"]`` the step's
transcript entries. ``truncated`` is set after ``max_steps`` steps.

Example:
    >>> import gymnasium, tv2tv                                                    # doctest: +SKIP
    >>> env = gymnasium.make("tv2tv/WorldModel-v0", checkpoint="runs/pong-tiny")   # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                                               # doctest: +SKIP
    >>> obs, reward, terminated, truncated, info = env.step(2)                      # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from tv2tv.envs.runner import episode_prefix
from tv2tv.types import Episode
from tv2tv.world_model.generate import Generator, RolloutSession
from tv2tv.world_model.interventions import TranscriptEntry
from tv2tv.world_model.rollout_model import SamplingConfig
from tv2tv.world_model.texters import texter_for

_SCORED = re.compile(r"\bscored (a|\d+(?:\.\d+)?) points?\b")
_LOST = re.compile(r"\blost (a|\d+(?:\.\d+)?) points?\b")


def text_reward(text: str) -> float:
    """Reward named by caption text: "scored a point" +1, "lost 2 points" -2 (summed).

    Example:
        >>> text_reward("move paddle up; scored a point")
        1.0
    """
    def total(rx: re.Pattern[str]) -> float:
        return sum(1.0 if m == "a" else float(m) for m in rx.findall(text.lower()))
    return total(_SCORED) - total(_LOST)


class WorldModelEnv(gym.Env[np.ndarray, Any]):
    """A game played inside a world model.

    Args:
        checkpoint: a run directory (``tv2tv train`` output); or pass ``generator``.
        generator: a ready ``Generator`` (tests, or to share one model between envs).
        contexts: where ``reset`` takes its context: an episode store path (random windows),
            ``"DATA:EPISODE:FRAME"`` (always that context) or a list of ``Episode``s
            (default: the run's training store, ``data.path``).
        action_mode: ``"action"`` (``Discrete``, through the texter) or ``"text"`` (``Text``).
        context_frames: frames of real context before the first step.
        max_steps: steps until ``truncated``.
        max_text_length: longest text action (``Text`` space).
        continue_text: let the model write on after the agent's text (captions give rewards).
        sampling: a ``SamplingConfig`` (or its fields as a dict) when loading ``checkpoint``.
        texter: the texter for ``action`` mode (default: rebuilt from the run's dataset meta).
        render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, checkpoint: str | os.PathLike[str] | None = None, *,
                 generator: Generator | None = None, contexts: str | Sequence[Episode] | None = None,
                 action_mode: Literal["action", "text"] = "action",
                 context_frames: int = 4, max_steps: int = 200, max_text_length: int = 64,
                 continue_text: bool = True, sampling: SamplingConfig | dict[str, Any] | None = None,
                 texter: Any = None, render_mode: str | None = None, device: str = "cpu") -> None:
        if (checkpoint is None) == (generator is None):
            raise ValueError("pass exactly one of checkpoint (a run directory) and generator")
        if generator is None:
            s = SamplingConfig(**sampling) if isinstance(sampling, dict) else sampling
            generator = Generator.from_run(checkpoint, s, device=device)  # type: ignore[arg-type]
        if action_mode not in ("action", "text"):
            raise ValueError(f"action_mode must be 'action' or 'text', got {action_mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        for name, v in (("context_frames", context_frames), ("max_steps", max_steps),
                        ("max_text_length", max_text_length)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        self.gen, self.action_mode, self.render_mode = generator, action_mode, render_mode
        self.context_frames, self.max_steps, self.continue_text = context_frames, max_steps, continue_text
        self._fixed, self._episodes = self._contexts(contexts)
        shape = self._frame_shape()
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.direct = generator.variant.takes_actions
        if self.direct:  # learned action tokens: the discrete action goes in as it is
            if action_mode != "action":
                raise ValueError("an 'action-id' model takes the game's discrete actions: "
                                 "use action_mode='action'")
            self.texter = texter
            self.action_space: gym.Space[Any] = gym.spaces.Discrete(generator.num_actions,
                                                                     start=generator.action_start)
        elif action_mode == "text":
            self.action_space = gym.spaces.Text(max_text_length)
            self.texter = texter
        else:
            if texter is None and generator.meta is None:
                raise ValueError("action_mode='action' needs a texter or a generator with dataset meta")
            self.texter = texter if texter is not None else texter_for(generator.meta)  # type: ignore[arg-type]
            self.action_space = gym.spaces.Discrete(len(self.texter.action_phrases()))
        self.metadata = {**self.metadata, "render_fps": float(generator.meta.fps) if generator.meta else 15.0}
        self._session: RolloutSession | None = None
        self._frame: np.ndarray | None = None
        self._steps = 0

    def _contexts(self, contexts: str | Sequence[Episode] | None) -> tuple[Episode | None, list[Episode]]:
        if contexts is None:
            path = self.gen.cfg.data.path
            if not path:
                raise ValueError("no contexts given and the run records no data.path; pass contexts=DATA")
            contexts = path
        if isinstance(contexts, (str, os.PathLike)):
            from tv2tv.world_model.generate import load_context, parse_context_spec

            path, _, last = parse_context_spec(str(contexts))
            if last is not None:
                return load_context(str(contexts), self.context_frames, model=self.gen), []
            from tv2tv.recorders.store import EpisodeStore
            store = EpisodeStore.open(path)
            self.gen.check_data(store.meta, f"context store {path}")
            episodes = list(store)
        else:
            episodes = list(contexts)
        if not episodes:
            raise ValueError("the context store has no episodes")
        return None, episodes

    def _frame_shape(self) -> tuple[int, int, int]:
        ep = self._fixed if self._fixed is not None else self._episodes[0]
        shape = ep.frame_shape
        if self.gen.meta is not None and tuple(self.gen.meta.frame_shape) != shape:
            raise ValueError(f"context frames {shape} differ from the model's "
                             f"{tuple(self.gen.meta.frame_shape)}")
        return shape

    def _pick_context(self) -> tuple[Episode, dict[str, int]]:
        if self._fixed is not None:
            return self._fixed, {}
        i = int(self.np_random.integers(len(self._episodes)))
        ep = self._episodes[i]
        last = int(self.np_random.integers(min(self.context_frames - 1, ep.num_steps), ep.num_steps + 1))
        return episode_prefix(ep, last, self.context_frames), {"episode": i, "frame": last}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        context, where = self._pick_context()
        self._session = self.gen.start(context, batch=1, seed=int(self.np_random.integers(2**31)))
        if self.texter is not None and hasattr(self.texter, "reset"):
            # A neutral info: texters read ALE's lives and the step reward from it (none in imagination).
            self.texter.reset(None, {"lives": 0, "reward": 0.0})
        self._frame = context.frames[-1].copy()
        self._steps = 0
        return self._frame.copy(), {"context": where}

    def _agent_text(self, action: Any) -> str | None:
        if self.action_mode == "text":
            if not isinstance(action, str):
                raise TypeError(f"a text action must be str, got {type(action).__name__}")
            return action.strip() or None
        if not self.action_space.contains(np.int64(action)):
            raise ValueError(f"action {action!r} is outside {self.action_space}")
        phrases: list[str] = []
        for _ in range(self.gen.frames_per_chunk):   # one texter call per frame, as when recording
            phrases += [p.text
                        for p in self.texter.describe(None, int(action), None, {"lives": 0, "reward": 0.0})
                        if p.source == "action"]
        return self.gen.cfg.sequence.text_separator.join(dict.fromkeys(phrases)) or None

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._session is None:
            raise RuntimeError("call reset() before step()")
        if self.direct:
            if not self.action_space.contains(np.int64(action)):
                raise ValueError(f"action {action!r} is outside {self.action_space}")
            text = None
            frames, entries = self._session.step(actions=[int(action)] * self.gen.frames_per_chunk)
        else:
            text = self._agent_text(action)
            frames, entries = self._session.step([text], continue_text=self.continue_text)
        self._frame = frames[0, -1]
        mine: list[TranscriptEntry] = entries[0]
        model_text = " ".join(e.text for e in mine if e.source == "model")
        self._steps += 1
        terminated = "game over" in model_text.lower()
        truncated = self._steps >= self.max_steps
        info = {"frames": frames[0].copy(), "text": mine, "agent_text": text}
        return self._frame.copy(), text_reward(model_text), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            if self._frame is None:
                raise RuntimeError("call reset() before render()")
            return self._frame.copy()
        return None
