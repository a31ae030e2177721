"""MineRL (0.4, old gym API) as tv2tv envs: ``make_env("MineRLTreechop-v0", frame_size=64)``.

:class:`MineRLAdapter` wraps any env with the old gym API (``reset() -> obs``,
``step(a) -> (obs, reward, done, info)``) whose spaces are MineRL's (``Dict`` of ``Box``,
``Discrete`` and ``Enum``) as a gymnasium env:

- spaces are converted by :func:`convert_space`: ``Box``/``Discrete``/``Dict`` become their
  gymnasium twins; a MineRL ``Enum`` (item names such as ``"none"``, ``"dirt"``) becomes a
  ``Discrete(n)`` with an ``item_names`` attribute, and actions use the index (the adapter turns it
  back into the name for MineRL);
- the ``pov`` frame is resized to ``frame_size`` (:func:`tv2tv.envs.frames.resize_frame`); the
  observation stays a dict, with the other keys converted to numpy;
- ``done`` becomes ``terminated``, or ``truncated`` when gym's ``TimeLimit`` set
  ``info["TimeLimit.truncated"]``;
- a :class:`~tv2tv.envs.minerl_texter.MineRLTexter` built from the action space is attached.

The live game needs MineRL's Minecraft build (Java 8 JDK plus network to download Gradle and
Minecraft when ``pip`` builds MineRL), so it cannot start on machines without internet; see the
README section "MineRL" for the install recipe, and use ``tv2tv data import-minerl`` to turn the
MineRL or VPT datasets into tv2tv stores offline. :func:`make_minerl` checks for the build first
and says so instead of failing deep inside Malmo.

Example:
    >>> env = MineRLAdapter(old_gym_env, frame_size=64)          # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                             # doctest: +SKIP
    >>> obs["pov"].shape                                          # doctest: +SKIP
    (64, 64, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from tv2tv.envs.family import EnvFamily, register_family
from tv2tv.envs.frames import resize_frame
from tv2tv.envs.minerl_texter import MineRLTexter

# The MineRL 0.4 envs with human data (the ones a tv2tv user asks for by name).
MINERL_ENV_NAMES: tuple[str, ...] = (
    "MineRLTreechop-v0", "MineRLNavigate-v0", "MineRLNavigateDense-v0", "MineRLNavigateExtreme-v0",
    "MineRLNavigateExtremeDense-v0", "MineRLObtainIronPickaxe-v0", "MineRLObtainIronPickaxeDense-v0",
    "MineRLObtainDiamond-v0", "MineRLObtainDiamondDense-v0",
)
INSTALL_RECIPE = (
    "MineRL 0.4.4 pins gym 0.19 and builds Minecraft with Gradle when installed. In a separate "
    "Python 3.10 venv: `pip install 'setuptools<66' 'wheel==0.38.4' 'packaging<22'` then "
    "`pip install --no-build-isolation minerl==0.4.4` (needs a Java 8 JDK and internet, since Gradle "
    "downloads Minecraft; it cannot be built on machines without network) and `pip install -e .[minerl]`. "
    "With READTHEDOCS=1 set, pip skips the Minecraft build: the env specs import but no game starts. "
    "Offline, use `tv2tv data import-minerl SRC DST` to turn MineRL v0.4 or VPT recordings into a store."
)


class MineRLUnavailableError(ValueError):
    """minerl, gym or MineRL's Minecraft build is missing; the message gives the recipe."""


def convert_space(space: Any) -> gym.spaces.Space:
    """A gym / MineRL space as a gymnasium space (``Enum`` -> ``Discrete`` with ``item_names``).

    Spaces are recognised by class name and attributes, so any old-gym-like space works.

    Example:
        >>> convert_space(gym.spaces.Discrete(3))
        Discrete(3)
    """
    kind = type(space).__name__
    if kind == "Dict" or hasattr(space, "spaces") and isinstance(space.spaces, Mapping):
        return gym.spaces.Dict({k: convert_space(s) for k, s in space.spaces.items()})
    if kind == "Enum" or hasattr(space, "values"):
        names = [str(v) for v in np.asarray(space.values).tolist()]
        out = gym.spaces.Discrete(len(names))
        out.item_names = tuple(names)  # type: ignore[attr-defined]
        return out
    if kind == "Discrete":
        return gym.spaces.Discrete(int(space.n))
    if kind == "Box":
        dtype = np.dtype(space.dtype)
        return gym.spaces.Box(np.asarray(space.low, dtype), np.asarray(space.high, dtype),
                              tuple(space.shape), dtype)
    raise TypeError(f"cannot convert MineRL space of type {kind}: {space!r}")


class MineRLAdapter(gym.Env):
    """An old-gym MineRL env as a gymnasium env (see the module docstring).

    Args:
        env: the MineRL env (``gym.make("MineRLTreechop-v0")``) or any env with its API.
        frame_size: side of the square ``pov`` frame in observations.
        text_every: passed to the texter.
        name: env name, for ``tv2tv_env_name``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, env: Any, frame_size: int = 64, text_every: int = 8, name: str = "") -> None:
        self.env_old = env
        self.frame_size = int(frame_size)
        self.action_space = convert_space(env.action_space)
        space = convert_space(env.observation_space)
        if not isinstance(space, gym.spaces.Dict) or "pov" not in space.spaces:
            raise ValueError(f"MineRL observation space must be a Dict with 'pov', got {space}")
        spaces = dict(space.spaces)
        spaces["pov"] = gym.spaces.Box(0, 255, (self.frame_size, self.frame_size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.render_mode = "rgb_array"
        self.tv2tv_env_name = name
        self.texter = MineRLTexter.from_space(self.action_space, text_every=text_every)
        self._pov: np.ndarray | None = None

    def _to_minerl(self, action: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for k, space in self.action_space.spaces.items():
            if k not in action:
                raise ValueError(f"action lacks key {k!r}")
            v = action[k]
            names = getattr(space, "item_names", None)
            out[k] = names[int(v)] if names is not None else np.asarray(v)
        return out

    def _obs(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for k, space in self.observation_space.spaces.items():
            v = obs[k]
            if k == "pov":
                v = resize_frame(np.asarray(v, np.uint8), self.frame_size)
                self._pov = v
            elif isinstance(space, gym.spaces.Dict):
                v = {k2: _leaf(s2, v[k2]) for k2, s2 in space.spaces.items()}
            else:
                v = _leaf(space, v)
            out[k] = v
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None and hasattr(self.env_old, "seed"):
            self.env_old.seed(int(seed))
        return self._obs(self.env_old.reset()), {}

    def step(self, action: Mapping[str, Any]):
        obs, reward, done, info = self.env_old.step(self._to_minerl(action))
        truncated = bool(done and info.get("TimeLimit.truncated", False))
        return self._obs(obs), float(reward), bool(done) and not truncated, truncated, dict(info)

    def render(self) -> np.ndarray:
        if self._pov is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        return self._pov.copy()

    def close(self) -> None:
        if hasattr(self.env_old, "close"):
            self.env_old.close()


def _leaf(space: gym.spaces.Space, value: Any) -> Any:
    names = getattr(space, "item_names", None)
    if names is not None:  # MineRL reports enum observations by name
        return names.index(str(value)) if isinstance(value, (str, np.str_)) else int(value)
    if isinstance(space, gym.spaces.Box):
        return np.asarray(value, dtype=space.dtype).reshape(space.shape)
    return int(value)


def minecraft_build_dir() -> Path:
    """Where MineRL's Gradle build of Minecraft puts its jars (``Malmo/Minecraft/build/libs``)."""
    import minerl

    return Path(minerl.__file__).parent / "Malmo" / "Minecraft" / "build" / "libs"


def make_minerl(name: str, frame_size: int = 64, frameskip: int = 1, seed: int | None = None,
                text_every: int = 8) -> MineRLAdapter:
    """Build a live MineRL env (needs minerl and its Minecraft build; see the module docstring).

    Raises:
        MineRLUnavailableError: (a ``ValueError``) minerl or gym is not installed, or Minecraft was
            never built; the message gives the install recipe and the offline alternative.
    """
    try:
        import gym as old_gym
        import minerl  # noqa: F401  (registers the MineRL envs with gym)
    except ModuleNotFoundError as exc:
        raise MineRLUnavailableError(f"{name} needs the minerl package ({exc.name} is missing). "
                                     + INSTALL_RECIPE) from exc
    build = minecraft_build_dir()
    if not build.is_dir() or not any(build.glob("*.jar")):
        raise MineRLUnavailableError(f"{name}: MineRL is installed but Minecraft is not built "
                                     f"(no jar in {build}). " + INSTALL_RECIPE)
    del frameskip  # MineRL steps one game tick; there are no frames to skip
    env = MineRLAdapter(old_gym.make(name), frame_size=frame_size, text_every=text_every, name=name)
    if seed is not None:
        env.env_old.seed(int(seed))
    return env


register_family(EnvFamily("minerl", lambda: list(MINERL_ENV_NAMES), make_minerl))
