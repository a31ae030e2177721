"""``EnvFamily``: what a game family registers so that ``make_env`` can build its games.

Each family module (``atari.py``, ``crafter.py``, ``minerl.py``) registers itself here when it is
imported; ``registry.py`` imports the family modules (lazily) and looks names up here. The family
modules import only this module, so no two modules of ``tv2tv.envs`` import each other.

Example:
    >>> register_family(EnvFamily("cartpole", lambda: ["CartPole-v1"], make_cartpole))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

MIN_FRAME_SIZE = 8
# Frames are stored and modelled whole; 1024x1024x3 is already 3 MB a frame (the games render
# at most 600 pixels a side), and a larger side is a typo that would exhaust memory.
MAX_FRAME_SIZE = 1024


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
    # Optional state snapshots for branch benchmarks: ``clone_state(env) -> state`` and
    # ``restore_state(env, state)``; ``None`` where the game cannot be cloned.
    clone_state: Callable[[gym.Env], Any] | None = None
    restore_state: Callable[[gym.Env, Any], None] | None = None


_FAMILIES: dict[str, EnvFamily] = {}


def register_family(family: EnvFamily) -> None:
    """Add (or replace) a game family."""
    _FAMILIES[family.family] = family


def registered_families() -> list[EnvFamily]:
    """The families registered so far (``registry.families`` imports the optional ones first)."""
    return list(_FAMILIES.values())


def check_frame_size(frame_size: Any) -> int:
    """``frame_size`` if it is an int in ``MIN_FRAME_SIZE..MAX_FRAME_SIZE``, else ``ValueError`` naming it."""
    if isinstance(frame_size, bool) or not isinstance(frame_size, int) or \
            not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
        raise ValueError(f"frame_size must be an int in {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE}, "
                         f"got {frame_size!r}")
    return frame_size
