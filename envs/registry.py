"""``make_env(name)``: every game tv2tv supports, by name.

Each game family registers a factory for the names it handles (ALE ``ALE/<Game>-v5``,
``crafter``, ``MineRL*``). An unknown name fails with the closest known names.

Example:
    >>> env = make_env("ALE/Pong-v5", frame_size=64, frameskip=4, seed=0)   # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                                         # doctest: +SKIP
    >>> obs.shape                                                             # doctest: +SKIP
    (64, 64, 3)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

MIN_FRAME_SIZE = 8


@dataclass(frozen=True)
class EnvFamily:
    """A family of games: which names it handles and how to build one env.

    ``make(name, frame_size, frameskip, seed, **kwargs)`` returns a gymnasium env whose
    observations are ``uint8 (frame_size, frame_size, 3)`` frames and whose ``unwrapped``
    (or the env itself) has a ``texter`` attribute.
    """

    family: str
    names: Callable[[], list[str]]
    make: Callable[..., gym.Env]


_FAMILIES: dict[str, EnvFamily] = {}


def register_family(family: EnvFamily) -> None:
    """Add (or replace) a game family."""
    _FAMILIES[family.family] = family


def _load_families() -> None:
    # Imported lazily so that `import tv2tv.envs` stays cheap and optional games
    # (crafter, minerl) only fail when asked for.
    from tv2tv.envs import atari  # noqa: F401

    for optional in ("crafter", "minerl"):
        try:
            __import__(f"tv2tv.envs.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tv2tv.envs.{optional}":
                raise


def known_env_names() -> list[str]:
    """Every env name ``make_env`` accepts."""
    _load_families()
    return sorted(n for fam in _FAMILIES.values() for n in fam.names())


def family_of(name: str) -> EnvFamily:
    """The family that handles ``name``; ``ValueError`` with the closest names if none."""
    _load_families()
    for fam in _FAMILIES.values():
        if name in fam.names():
            return fam
    close = difflib.get_close_matches(name, known_env_names(), n=5, cutoff=0.5)
    hint = f"; closest matches: {', '.join(close)}" if close else "; run `tv2tv envs` to list them"
    raise ValueError(f"unknown env {name!r}{hint}")


def make_env(name: str, frame_size: int = 64, frameskip: int = 4, seed: int | None = None,
             **kwargs: Any) -> gym.Env:
    """Build the gymnasium env ``name`` with square ``frame_size`` RGB frames.

    Args:
        name: e.g. ``"ALE/Pong-v5"`` or ``"crafter"``.
        frame_size: side of the resized square frame, at least 8.
        frameskip: emulator frames per step (where the game has a notion of it).
        seed: seed for the env's first ``reset``.
        **kwargs: family-specific options (e.g. ``text_every`` for the texter).
    """
    if not isinstance(frame_size, int) or frame_size < MIN_FRAME_SIZE:
        raise ValueError(f"frame_size must be an int >= {MIN_FRAME_SIZE}, got {frame_size!r}")
    if not isinstance(frameskip, int) or frameskip < 1:
        raise ValueError(f"frameskip must be an int >= 1, got {frameskip!r}")
    return family_of(name).make(name, frame_size=frame_size, frameskip=frameskip, seed=seed, **kwargs)


def get_texter(env: gym.Env) -> Any:
    """The texter attached to an env built by ``make_env`` (searches the wrapper chain)."""
    e: Any = env
    while e is not None:
        t = getattr(e, "texter", None) if "texter" in getattr(e, "__dict__", {}) else None
        if t is not None:
            return t
        e = getattr(e, "env", None)
    raise ValueError(f"env {env} has no texter; build it with tv2tv.envs.make_env")
