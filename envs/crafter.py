"""Crafter (Hafner 2021) as a tv2tv env: ``make_env("crafter", frame_size, seed=...)``.

:class:`CrafterEnv` is a gymnasium env around ``crafter.Env`` (which uses the old gym API):
``Discrete(17)`` actions, ``uint8 (frame_size, frame_size, 3)`` frames, ``terminated`` when the
player dies and ``truncated`` after ``max_episode_steps`` (Crafter's ``length``). ``info`` holds
Crafter's own keys (``inventory``, ``achievements``, ``discount``, ``semantic``, ``player_pos``,
``reward``) plus ``facing`` (material or creature in front of the player), ``daylight``,
``sleeping`` and ``plan`` (the text a policy set with :meth:`CrafterEnv.set_plan`), which the
:class:`~tv2tv.envs.crafter_texter.CrafterTexter` turns into captions.

Seeding: ``reset(seed=s)`` regenerates the world from ``s`` (Crafter seeds episode ``k`` of seed
``s`` with ``hash((s, k))``, which is stable for ints); ``reset()`` continues with the next world.

Frames: rendered by Crafter at ``frame_size`` when it is at least 36 (4 px per tile); smaller frames
are rendered at 64 and shrunk with :func:`tv2tv.envs.frames.resize_frame`. Crafter has no frames
to skip, so ``frameskip`` is ignored and the env reports ``frameskip = 1``.

Cloning (:func:`clone_state` / :func:`restore_state`, and ``copy.deepcopy(env)``): Crafter keeps
its creatures per world chunk in Python ``set`` s, which iterate in ``id()`` order, and chunk
balancing draws random indices into that order. A deep copy has other ids, so its future
diverged from the original after a few dozen steps (and two envs with one seed differed too).
:class:`_StableWorld` keeps chunk members in insertion order instead, which makes every copy and
every run with the same seed and actions replay exactly.

Example:
    >>> env = make_crafter("crafter", frame_size=64, seed=0)
    >>> obs, info = env.reset()
    >>> obs.shape, info["inventory"]["wood"]
    ((64, 64, 3), 0)
"""

from __future__ import annotations

import collections
import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from tv2tv.envs.crafter_texter import CRAFTER_ACTIONS, CrafterTexter
from tv2tv.envs.family import EnvFamily, check_frame_size, register_family
from tv2tv.envs.frames import resize_frame

NATIVE_MIN_SIZE = 36
FALLBACK_RENDER_SIZE = 64
INSTALL_HINT = "Crafter is not installed: run `pip install -e .[crafter]` (or `pip install crafter`)"


def _crafter() -> Any:
    try:
        import crafter
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(INSTALL_HINT, name=exc.name) from exc
    return crafter


class _OrderedSet:
    """A set that iterates in insertion order (a dict without values)."""

    def __init__(self) -> None:
        self._d: dict[Any, None] = {}

    def add(self, x: Any) -> None:
        self._d[x] = None

    def remove(self, x: Any) -> None:
        del self._d[x]

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._d))

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, x: Any) -> bool:
        return x in self._d


@functools.cache
def _stable_world_class() -> type:
    engine = _crafter().engine

    class _StableWorld(engine.World):
        """``crafter.engine.World`` whose chunks iterate in insertion order (see module doc)."""

        def reset(self, seed: int | None = None) -> None:
            super().reset(seed)
            self._chunks = collections.defaultdict(_OrderedSet)

    return _StableWorld


@dataclass(frozen=True)
class CrafterConfig:
    """Settings of one Crafter env.

    Args:
        frame_size: side of the square RGB observation.
        area: world size in tiles.
        view: the player's view in tiles (Crafter's default 9x9, of which 9x7 show the world).
        max_episode_steps: truncate after this many steps (Crafter's ``length``; 10000 default).
        text_every: the texter repeats an unchanged action phrase every this many steps.
        reward: return Crafter's reward (``False``: always 0; ``info["reward"]`` keeps it).
    """

    frame_size: int = 64
    area: tuple[int, int] = (64, 64)
    view: tuple[int, int] = (9, 9)
    max_episode_steps: int = 10000
    text_every: int = 8
    reward: bool = True

    def __post_init__(self) -> None:
        check_frame_size(self.frame_size)
        if not isinstance(self.max_episode_steps, int) or self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be an int >= 1, got {self.max_episode_steps!r}")
        if len(self.area) != 2 or min(self.area) < 16:
            raise ValueError(f"area must be two ints >= 16, got {self.area!r}")

    @property
    def render_size(self) -> int:
        return self.frame_size if self.frame_size >= NATIVE_MIN_SIZE else FALLBACK_RENDER_SIZE


class CrafterEnv(gym.Env):
    """Crafter with the gymnasium API, a texter and plan text (see the module docstring).

    Args:
        config: a :class:`CrafterConfig`.
        seed: seed for the first ``reset`` that passes none.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, config: CrafterConfig | None = None, seed: int | None = None) -> None:
        self.config = config or CrafterConfig()
        c = self.config
        size = c.render_size
        self._game = _crafter().Env(area=tuple(c.area), view=tuple(c.view), size=(size, size),
                                    reward=True, length=c.max_episode_steps, seed=0)
        self._game._world.__class__ = _stable_world_class()
        self.observation_space = gym.spaces.Box(0, 255, (c.frame_size, c.frame_size, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(len(CRAFTER_ACTIONS))
        self.render_mode = "rgb_array"
        self.frameskip = 1
        self.tv2tv_env_name = "crafter"
        self.texter = CrafterTexter(text_every=c.text_every)
        self._first_seed = seed
        self._plan: str | None = None
        self._obs: np.ndarray | None = None
        if seed is not None:
            self.action_space.seed(seed)

    # -- gymnasium API -----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and self._first_seed is not None:
            seed = self._first_seed
        first = self._obs is None
        self._first_seed = None
        super().reset(seed=seed)
        if seed is not None:
            self._game._seed, self._game._episode = int(seed), 0
        elif first:  # unseeded first reset: a world drawn from gymnasium's fresh np_random
            self._game._seed, self._game._episode = int(self.np_random.integers(2**31 - 1)), 0
        self._plan = None
        self._obs = self._frame(self._game.reset())
        return self._obs, self._info(reward=0.0)

    def step(self, action: Any):
        if self._obs is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, {self.action_space.n}), got {action!r}")
        frame, reward, done, info = self._game.step(int(action))
        self._obs = self._frame(frame)
        terminated = bool(info["discount"] == 0.0)
        truncated = bool(done and not terminated)
        out = self._info(reward=float(info["reward"]), base=info)
        return self._obs, float(reward) if self.config.reward else 0.0, terminated, truncated, out

    def render(self) -> np.ndarray:
        if self._obs is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        return self._obs.copy()

    # -- tv2tv extras -----------------------------------------------------------------------

    def set_plan(self, text: str | None) -> None:
        """Set the plan text that the next steps report in ``info["plan"]`` (``None`` clears it)."""
        if text is not None and not isinstance(text, str):
            raise TypeError(f"plan must be a str or None, got {type(text).__name__}")
        self._plan = text or None

    @property
    def game(self) -> Any:
        """The wrapped ``crafter.Env`` (world, player, inventory), e.g. for scripted policies."""
        return self._game

    def _frame(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame, dtype=np.uint8)
        return (frame if frame.shape[0] == self.config.frame_size
                else resize_frame(frame, self.config.frame_size))

    def _facing(self) -> str | None:
        p = self._game._player
        material, obj = self._game._world[(p.pos[0] + p.facing[0], p.pos[1] + p.facing[1])]
        return type(obj).__name__.lower() if obj is not None else material

    def _info(self, reward: float, base: dict[str, Any] | None = None) -> dict[str, Any]:
        g, p = self._game, self._game._player
        info = dict(base) if base is not None else {
            "inventory": p.inventory.copy(), "achievements": p.achievements.copy(), "discount": 1.0,
            "semantic": g._sem_view(), "player_pos": p.pos, "reward": reward}
        info["player_pos"] = np.array(info["player_pos"])  # Crafter hands out its live array
        info.update(reward=reward, facing=self._facing(), daylight=float(g._world.daylight),
                    sleeping=bool(p.sleeping), plan=self._plan)
        return info


# -- state cloning ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CrafterState:
    """A snapshot of a :class:`CrafterEnv`: the game, the plan, the texter and the last frame."""

    game: Any
    plan: str | None
    texter: Any
    obs: np.ndarray | None


def _copy_game(game: Any) -> Any:
    # Textures are read-only image caches: share them instead of copying megabytes per branch.
    memo = {id(game._textures): game._textures}
    return copy.deepcopy(game, memo)


def _crafter_env(env: gym.Env) -> CrafterEnv:
    inner = env.unwrapped
    if not isinstance(inner, CrafterEnv):
        raise TypeError(f"expected a Crafter env (built by make_env('crafter')), got {type(inner).__name__}")
    return inner


def clone_state(env: gym.Env) -> CrafterState:
    """Snapshot a Crafter env (world, creatures, RNG, texter) so the same actions replay exactly.

    Example:
        >>> env = make_crafter("crafter", seed=0); _ = env.reset()
        >>> s = clone_state(env); a = env.step(3)[0]; restore_state(env, s)
        >>> bool((env.step(3)[0] == a).all())
        True
    """
    e = _crafter_env(env)
    obs = None if e._obs is None else e._obs.copy()
    return CrafterState(_copy_game(e._game), e._plan, e.texter.get_state(), obs)


def restore_state(env: gym.Env, state: CrafterState) -> None:
    """Put a Crafter env back to a :func:`clone_state` snapshot (reusable any number of times)."""
    if not isinstance(state, CrafterState):
        raise TypeError(f"state must come from clone_state, got {type(state).__name__}")
    e = _crafter_env(env)
    e._game = _copy_game(state.game)
    e._plan = state.plan
    e.texter.set_state(state.texter)
    e._obs = None if state.obs is None else state.obs.copy()


def make_crafter(name: str = "crafter", frame_size: int = 64, frameskip: int = 1, seed: int | None = None,
                 max_episode_steps: int = 10000, text_every: int = 8, area: tuple[int, int] = (64, 64),
                 reward: bool = True) -> CrafterEnv:
    """Build a :class:`CrafterEnv` (``make_env("crafter", ...)`` calls this).

    Args:
        name: must be ``"crafter"``.
        frame_size: side of the square observation (8..1024, ``registry.check_frame_size``).
        frameskip: ignored; Crafter advances one tick per step (see the module docstring).
        seed: seed for the first ``reset`` that passes none.
        max_episode_steps: truncate episodes after this many steps.
        text_every: the texter repeats an unchanged action phrase every this many steps.
        area: world size in tiles.
        reward: return Crafter's reward.
    """
    if name != "crafter":
        raise ValueError(f"unknown Crafter env {name!r}; the only one is 'crafter'")
    del frameskip
    cfg = CrafterConfig(frame_size=frame_size, area=tuple(area), max_episode_steps=max_episode_steps,
                        text_every=text_every, reward=reward)
    return CrafterEnv(cfg, seed=seed)


register_family(EnvFamily("crafter", lambda: ["crafter"], make_crafter,
                          clone_state=clone_state, restore_state=restore_state))
