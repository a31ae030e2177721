"""Atari games (ALE) as tv2tv envs: ``make_env("ALE/<Game>-v5", frame_size, frameskip, seed)``.

The env is gymnasium's ``ALE/<Game>-v5`` with RGB observations resized to
``frame_size x frame_size`` (:func:`tv2tv.envs.frames.resize_frame`), the step reward copied
into ``info["reward"]`` (the texter captions it), and an :class:`AtariTexter` that
``tv2tv.envs.get_texter(env)`` finds.

``repeat_action_probability`` defaults to 0.0, not v5's 0.25: with sticky actions ALE repeats
the *previous* action a quarter of the time, so the action text we record ("move paddle up")
would often not be what the emulator did, and a world model would learn that text means little.
Exploration noise belongs in the collection policy instead.

State cloning for branch benchmarks: :func:`clone_state` / :func:`restore_state` (ALE state
with its RNG, plus the sticky-action memory ALE leaves out, so the same actions replay the same
frames) and :func:`ram` for probes. The family registers itself (``family.py``) on import, and
``tv2tv.envs.registry.clone_state`` dispatches here.

Example:
    >>> from tv2tv.envs import make_env, get_texter
    >>> env = make_env("ALE/Pong-v5", frame_size=64, frameskip=4, seed=0)
    >>> obs, info = env.reset()
    >>> obs.shape, get_texter(env).action_text(2)
    ((64, 64, 3), 'move paddle up')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from ale_py import roms
from ale_py.registration import rom_id_to_name

from tv2tv.config import check_int
from tv2tv.envs.atari_texter import AtariTexter
from tv2tv.envs.family import EnvFamily, check_frame_size, register_family
from tv2tv.envs.frames import ResizeFrame

gym.register_envs(ale_py)


@lru_cache(maxsize=1)
def atari_env_names() -> list[str]:
    """``ALE/<Game>-v5`` for every ROM ale-py ships that gymnasium registers as v5.

    ale-py skips ROMs without a single-player mode (combat, joust, maze_craze, warlords).

    Example:
        >>> "ALE/Pong-v5" in atari_env_names()
        True
    """
    names = (f"ALE/{rom_id_to_name(rom)}-v5" for rom in roms.get_all_rom_ids())
    return sorted(n for n in names if n in gym.registry)


def rom_id(name: str) -> str:
    """The ROM id behind an env name: ``"ALE/SpaceInvaders-v5"`` -> ``"space_invaders"``."""
    if name not in atari_env_names():
        raise ValueError(f"unknown Atari env {name!r}")
    return str(gym.registry[name].kwargs["game"])


class AtariText(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Outermost tv2tv wrapper: holds the texter, adds ``info["reward"]``, seeds the first reset.

    ``step`` and ``reset`` return what the inner env returns, except that ``info`` gains a
    ``"reward"`` key (a copy of the step reward; 0.0 after reset).

    Args:
        env: an ALE env (possibly wrapped).
        text_every: passed to :class:`AtariTexter`.
        game: ROM id for the texter's game-aware wording.
        seed: used by the first ``reset`` that passes no seed, and seeds ``action_space``.
    """

    def __init__(self, env: gym.Env, text_every: int = 8, game: str | None = None,
                 seed: int | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, text_every=text_every, game=game, seed=seed)
        gym.Wrapper.__init__(self, env)
        meanings = env.unwrapped.get_action_meanings()
        # In __dict__ of the outermost wrapper, where tv2tv.envs.get_texter looks.
        self.texter = AtariTexter(meanings, text_every=text_every, game=game)
        self._first_seed = seed
        if seed is not None:
            self.action_space.seed(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and self._first_seed is not None:
            seed = self._first_seed
        self._first_seed = None
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "reward": 0.0}

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "reward": float(reward)}


def make_atari(name: str, frame_size: int = 64, frameskip: int = 4, seed: int | None = None,
               text_every: int = 8, repeat_action_probability: float = 0.0,
               full_action_space: bool = False, max_episode_steps: int | None = None) -> gym.Env:
    """Build ``ALE/<Game>-v5`` with square RGB frames and an Atari texter.

    Args:
        name: an entry of :func:`atari_env_names`.
        frame_size: side of the square observation (8..1024, ``registry.check_frame_size``).
        frameskip: emulator frames per step (ALE repeats the action that many times).
        seed: seed for the first ``reset`` that passes none (and for ``action_space``).
        text_every: the texter repeats an unchanged action phrase every this many steps.
        repeat_action_probability: ALE sticky actions; 0.0 keeps the action text truthful.
        full_action_space: use all 18 joystick actions instead of the game's minimal set.
        max_episode_steps: truncate episodes after this many steps (``None``: ALE's own limit of
            108,000 emulator frames).

    Example:
        >>> env = make_atari("ALE/Breakout-v5", frame_size=32, seed=1)
        >>> env.observation_space.shape
        (32, 32, 3)
    """
    if name not in atari_env_names():
        raise ValueError(f"unknown Atari env {name!r}")
    check_frame_size(frame_size)
    check_int("frameskip", frameskip, 1)
    if not 0.0 <= float(repeat_action_probability) <= 1.0:
        raise ValueError(f"repeat_action_probability must be in [0, 1], got {repeat_action_probability!r}")
    if max_episode_steps is not None and (not isinstance(max_episode_steps, int) or max_episode_steps < 1):
        raise ValueError(f"max_episode_steps must be None or an int >= 1, got {max_episode_steps!r}")
    env = gym.make(name, frameskip=frameskip, repeat_action_probability=float(repeat_action_probability),
                   full_action_space=bool(full_action_space), max_episode_steps=max_episode_steps)
    return AtariText(ResizeFrame(env, frame_size), text_every=text_every, game=rom_id(name), seed=seed)


def _ale(env: gym.Env) -> ale_py.ALEInterface:
    inner = env.unwrapped
    if not isinstance(inner, ale_py.env.AtariEnv):
        raise TypeError(f"expected an ALE env (built by make_env('ALE/...')), got {type(inner).__name__}")
    return inner.ale


@dataclass(frozen=True)
class AtariSnapshot:
    """An emulator snapshot from :func:`clone_state`.

    ``ale`` is ALE's own state with its RNG. ALE's state leaves out the sticky-action memory
    (the action applied on the previous frame, which a sticky frame repeats; ALE issue #165), so
    with ``repeat_action_probability > 0`` the snapshot also holds ``sticky_action``.
    """

    ale: ale_py.ALEState
    sticky_action: ale_py.Action | None = None


_PROBE_FRAMES = 32    # frames over which candidate sticky memories are compared
_FORCE_FRAMES = 256   # acts that set the memory: it stays unset with probability p ** 256


def _force_sticky_memory(ale: ale_py.ALEInterface, action: ale_py.Action) -> None:
    # Each act applies ``action`` (and stores it) unless the frame is sticky; acting often
    # enough stores it. The caller restores the emulator and RNG afterwards.
    for _ in range(_FORCE_FRAMES):
        ale.act(action)


def _probe(ale: ale_py.ALEInterface, state: ale_py.ALEState) -> list[bytes]:
    ale.restoreState(state)
    out = []
    for _ in range(_PROBE_FRAMES):
        ale.act(ale_py.Action.NOOP)
        out.append(ale.cloneState(include_rng=True).serialize())
    return out


def _sticky_memory(ale: ale_py.ALEInterface, state: ale_py.ALEState) -> ale_py.Action:
    """Find an action that, as sticky memory, gives the same emulator states as the live one.

    Sticky frames apply the memory whatever the agent does, and the RNG decides which frames
    are sticky independently of the action, so a candidate that matches the live memory on
    every probe frame gives the same future for any actions (unless a sticky run outlasts the
    probe, probability ``p ** 32``).
    """
    live = _probe(ale, state)  # uses the live memory (restoreState does not touch it)
    for action in ale_py.Action.__members__.values():
        ale.restoreState(state)
        _force_sticky_memory(ale, action)
        if _probe(ale, state) == live:
            return action
    raise AssertionError("no action reproduces the live sticky-action memory")


def clone_state(env: gym.Env) -> AtariSnapshot:
    """Snapshot the emulator, RNG and sticky-action memory, so the same actions replay exactly.

    Wrapper state is not part of it: a ``TimeLimit`` keeps counting steps and the texter keeps
    its last action, so reset the texter (or ignore its first phrase) after restoring. With
    sticky actions (``repeat_action_probability > 0``) cloning probes the emulator for a few
    hundred frames (milliseconds) to recover the memory ALE does not save.

    Example:
        >>> env = make_atari("ALE/Pong-v5", seed=0); _ = env.reset()
        >>> state = clone_state(env)
        >>> a = env.step(2)[0]; restore_state(env, state)
        >>> bool((env.step(2)[0] == a).all())
        True
    """
    ale = _ale(env)
    state = ale.cloneState(include_rng=True)
    if ale.getFloat("repeat_action_probability") == 0.0:
        return AtariSnapshot(state)
    memory = _sticky_memory(ale, state)
    snapshot = AtariSnapshot(state, memory)
    restore_state(env, snapshot)  # probing moved the emulator: put the live env back
    return snapshot


def restore_state(env: gym.Env, state: AtariSnapshot) -> None:
    """Put the emulator back to a snapshot from :func:`clone_state` (of an env of the same game)."""
    if not isinstance(state, AtariSnapshot):
        raise TypeError(f"state must come from clone_state, got {type(state).__name__}")
    ale = _ale(env)
    if state.sticky_action is not None:
        ale.restoreState(state.ale)
        _force_sticky_memory(ale, state.sticky_action)
    ale.restoreState(state.ale)


def ram(env: gym.Env) -> np.ndarray:
    """The console's 128 bytes of RAM, ``uint8 (128,)``, for probes and tests."""
    return np.asarray(_ale(env).getRAM(), dtype=np.uint8).copy()


register_family(EnvFamily("atari", atari_env_names, make_atari,
                          clone_state=clone_state, restore_state=restore_state))
