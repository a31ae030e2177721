"""``RecordEpisodes``: a gymnasium wrapper that records episodes on the side.

It passes ``reset`` and ``step`` through untouched (the very objects the inner env returns) and
keeps, per episode, the frames, actions, rewards, end flags, the reset seed and the text the
env's texter writes (Farama Minari's ``DataCollector`` works the same way). Texter phrases of
``reset`` land on frame 0 and those of step ``t`` on frame ``t + 1`` (``tv2tv.envs.runner.EpisodeText``).

When an episode ends (``terminated`` or ``truncated``) it becomes an ``Episode`` that is written
atomically to an ``EpisodeStore`` and/or handed to ``on_episode``. An episode that has not
ended is *not* written when the env is closed or reset: a half episode would look like a
finished one to training code. Call ``truncate_episode()`` to end and write it on purpose
(the record loop does so when its step budget runs out).

With ``background=True`` the store write (deflate, fsync, rename) runs in a writer thread while
the env keeps stepping; ISA-L's deflate and fsync release the GIL, so it overlaps where a core is
free. At most one episode waits to be written; a write error is raised by the next episode end,
``flush()`` or ``close()``; a crash may then also lose the episode being written (never leaving a
partial file). Frame buffers are reused across episodes (two at most with background writes),
never while a write still reads one.

Example:
    >>> env = RecordEpisodes(make_env("ALE/Pong-v5"), store=store)     # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                                   # doctest: +SKIP
    >>> while True:                                                     # doctest: +SKIP
    ...     obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    ...     if terminated or truncated:
    ...         break
    >>> env.last_path                                                   # doctest: +SKIP
    PosixPath('data/pong/episodes/host123x1700000000xa1b2c3-000000.npz')
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from tv2tv.envs.registry import get_texter
from tv2tv.envs.runner import EpisodeText
from tv2tv.recorders.store import EpisodeStore
from tv2tv.types import Episode

_ARRAY_ACTION_SPACES = (gym.spaces.Discrete, gym.spaces.Box, gym.spaces.MultiDiscrete,
                        gym.spaces.MultiBinary)
# A frame buffer starts this big: the OS backs only the pages written, so a large start costs
# nothing, while growing (a fresh buffer, page faults, a copy) costs ~10 us a frame on some VMs.
_BUFFER_BYTES = 64 << 20
_MIN_CAPACITY = 16


class RecordEpisodes(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Record every finished episode of ``env`` into ``store`` and/or ``on_episode``.

    Args:
        env: an env with ``uint8 (H, W, C)`` observations and a texter (``make_env`` builds
            such envs); the action space must be Discrete, Box, MultiDiscrete or MultiBinary.
        store: where finished episodes are written (one atomic ``.npz`` each).
        on_episode: called with each finished ``Episode`` (after it is written, if ``store``).
        texter: the texter to call; by default the one attached to ``env`` (``get_texter``).
        background: write to ``store`` from a writer thread (see the module docstring).

    Attributes:
        extras: ``{name: value}`` stored in ``Episode.extras`` of every episode that starts
            after it is set (e.g. ``{"policy": "sticky"}``); values become numpy arrays.
        num_written: episodes finished so far; ``last_steps`` the steps of the latest one and
            ``last_path`` the file of the latest one written (with ``background``, once written).

    Example:
        >>> episodes = []
        >>> env = RecordEpisodes(make_env("ALE/Pong-v5"), on_episode=episodes.append)  # doctest: +SKIP
    """

    def __init__(self, env: gym.Env, store: EpisodeStore | None = None,
                 on_episode: Callable[[Episode], Any] | None = None, texter: Any = None,
                 background: bool = False) -> None:
        # Recorded so that ``env.spec.make()`` (used by ``check_env``) can rebuild the wrapper.
        gym.utils.RecordConstructorArgs.__init__(self, store=store, on_episode=on_episode,
                                                 texter=texter, background=background)
        gym.Wrapper.__init__(self, env)
        if store is None and on_episode is None:
            raise ValueError("RecordEpisodes needs a store or an on_episode callback, got neither")
        if not isinstance(env.action_space, _ARRAY_ACTION_SPACES):
            raise TypeError(
                f"RecordEpisodes records Discrete, Box, MultiDiscrete or MultiBinary actions, "
                f"got {env.action_space}")
        self.store = store
        self.on_episode = on_episode
        self.texter = texter if texter is not None else get_texter(env)
        self.extras: dict[str, Any] = {}
        self.num_written = 0
        self.last_path: Path | None = None
        self.last_steps = 0
        self._frames: np.ndarray | None = None  # (capacity, H, W, C), grows by doubling
        self._capacity = _MIN_CAPACITY  # the largest buffer so far (frames)
        # Frame buffers are reused (fresh ones cost page faults): the one the background write
        # reads, and a spare for the next episode once that write is done.
        self._writing: np.ndarray | None = None
        self._spare: np.ndarray | None = None
        self._writer = (ThreadPoolExecutor(1, thread_name_prefix="tv2tv-write")
                        if background and store is not None else None)
        self._pending: Future[Path] | None = None
        self._t = 0
        self._actions: list[Any] = []
        self._rewards: list[float] = []
        self._text: EpisodeText | None = None
        self._seed: int | None = None
        self._episode_extras: dict[str, np.ndarray] = {}
        self._recording = False

    # -- pass-through ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        """Reset the inner env (an unfinished episode is dropped) and start a new one."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._start(obs, info, seed)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the inner env and record the step; write the episode when it ends."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._recording:
            self._record_step(action, obs, reward, terminated, truncated, info)
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Finish pending writes and close the inner env; an unended episode is not written."""
        self._recording = False
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None
            self._frames = self._spare = None  # frees the buffers (a later reset makes new ones)
            super().close()

    def flush(self) -> None:
        """Wait for the background write of the last finished episode; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                self.last_path = pending.result()
            finally:  # done, well or not: the writer no longer reads its buffer
                if self._writing is not None:
                    self._spare, self._writing = self._writing, None

    # -- recording -------------------------------------------------------------------------
    @property
    def episode_steps(self) -> int:
        """Steps recorded in the current (unfinished) episode; 0 when none is running."""
        return self._t if self._recording else 0

    def truncate_episode(self) -> Path | Episode | None:
        """End the current episode now, marked ``truncated``, and write it.

        Returns the written path (or the episode when there is no store), or ``None`` when no
        episode is running or it has no step yet (a lone reset frame is not an episode).
        """
        if not self._recording or self._t == 0:
            self._recording = False
            return None
        result = self._finish(terminated=False, truncated=True)
        if self._writer is not None:
            self.flush()
            return self.last_path
        return result

    def _start(self, obs: Any, info: dict[str, Any], seed: int | None) -> None:
        frame = self._check_frame(obs)
        if self._frames is None or self._frames.shape[1:] != frame.shape:
            spare, self._spare = self._spare, None
            if spare is None or spare.shape[1:] != frame.shape:
                capacity = max(self._capacity, _BUFFER_BYTES // max(frame.nbytes, 1))
                spare = np.empty((capacity, *frame.shape), np.uint8)
            self._frames = spare
        self._frames[0] = frame
        self._t = 0
        self._actions = []
        self._rewards = []
        self._text = EpisodeText(self.texter, obs, info)
        self._seed = seed
        self._episode_extras = {k: np.asarray(v) for k, v in self.extras.items()}
        self._recording = True

    def _record_step(self, action: Any, obs: Any, reward: SupportsFloat, terminated: bool,
                     truncated: bool, info: dict[str, Any]) -> None:
        frames, text = self._frames, self._text
        assert frames is not None and text is not None
        t = self._t = self._t + 1
        if t == len(frames):
            frames = self._grow()
        frames[t] = obs  # copies: an env may reuse its observation buffer
        self._actions.append(action)
        self._rewards.append(float(reward))
        text.step(action, obs, info)
        if terminated or truncated:
            self._finish(bool(terminated), bool(truncated))

    def _finish(self, terminated: bool, truncated: bool) -> Path | Episode:
        assert self._frames is not None and self._text is not None
        self._recording = False
        space = self.env.action_space
        frames = self._frames[: self._t + 1]  # a view: the store writes it before reuse
        ep = Episode(
            frames=frames.copy() if self.on_episode is not None else frames,
            actions=np.asarray(self._actions, dtype=space.dtype).reshape(self._t, *space.shape),
            rewards=np.asarray(self._rewards, dtype=np.float32),
            terminated=terminated, truncated=truncated, text_events=tuple(self._text.events),
            seed=self._seed, env=self._env_name(), extras=self._episode_extras,
        )
        result: Path | Episode = ep
        if self._writer is not None:
            self.flush()  # one episode in flight at most: bounded memory, errors surface here
            self._pending = self._writer.submit(self.store.write, ep)  # type: ignore[union-attr]
            if self.on_episode is None:  # the write reads the buffer: the next episode takes another
                self._writing, self._frames = self._frames, None
        elif self.store is not None:
            result = self.last_path = self.store.write(ep)
        if self.on_episode is not None:
            self.on_episode(ep)
        self.num_written += 1
        self.last_steps = self._t
        return result

    def _grow(self) -> np.ndarray:
        old = self._frames
        assert old is not None
        self._frames = np.empty((2 * len(old), *old.shape[1:]), np.uint8)
        self._frames[: len(old)] = old
        self._capacity = len(self._frames)
        return self._frames

    def _env_name(self) -> str:
        if self.store is not None:
            return self.store.meta.env
        spec = self.env.spec
        return spec.id if spec is not None else ""

    @staticmethod
    def _check_frame(obs: Any) -> np.ndarray:
        if not isinstance(obs, np.ndarray) or obs.dtype != np.uint8 or obs.ndim != 3:
            raise TypeError(
                f"RecordEpisodes needs uint8 (H, W, C) frame observations, got "
                f"{getattr(obs, 'dtype', type(obs).__name__)} {getattr(obs, 'shape', '')}")
        return obs
