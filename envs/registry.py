"""``make_env(name)``: every game tv2tv supports, by name.

Each game family registers a factory for the names it handles (ALE ``ALE/<Game>-v5``,
``crafter``, ``MineRL*``) in ``family.py`` when its module is imported; this module imports the
family modules on first use. An unknown name fails with the closest known names.

Example:
    >>> env = make_env("ALE/Pong-v5", frame_size=64, frameskip=4, seed=0)   # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                                         # doctest: +SKIP
    >>> obs.shape                                                             # doctest: +SKIP
    (64, 64, 3)
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym

from tv2tv.envs.family import EnvFamily, check_frame_size, registered_families


def _load_families() -> None:
    # Each family registers itself (``family.register_family``) when imported. Imported lazily so
    # that `import tv2tv.envs` stays cheap and optional games (crafter, minerl) only fail when
    # asked for.
    from tv2tv.envs import atari  # noqa: F401

    for optional in ("crafter", "minerl"):
        try:
            __import__(f"tv2tv.envs.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tv2tv.envs.{optional}":
                raise


def families() -> list[EnvFamily]:
    """Every game family that can be built here (optional ones only when installed)."""
    _load_families()
    return registered_families()


def known_env_names() -> list[str]:
    """Every env name ``make_env`` accepts."""
    return sorted(n for fam in families() for n in fam.names())


def family_of(name: str) -> EnvFamily:
    """The family that handles ``name``; ``ValueError`` with the closest names if none."""
    for fam in families():
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
        frame_size: side of the resized square frame, ``MIN_FRAME_SIZE..MAX_FRAME_SIZE`` (``family.py``).
        frameskip: emulator frames per step (where the game has a notion of it).
        seed: seed for the env's first ``reset``.
        **kwargs: family-specific options (e.g. ``text_every`` for the texter).
    """
    check_frame_size(frame_size)
    if not isinstance(frameskip, int) or frameskip < 1:
        raise ValueError(f"frameskip must be an int >= 1, got {frameskip!r}")
    return family_of(name).make(name, frame_size=frame_size, frameskip=frameskip, seed=seed, **kwargs)


def _cloning_family(env: gym.Env) -> EnvFamily:
    # The game name: ``tv2tv_env_name`` on any wrapper (families that do not build with
    # gym.make set it), else the gymnasium spec id (ALE).
    name, e = None, env
    while e is not None and name is None:
        name = getattr(e, "__dict__", {}).get("tv2tv_env_name")
        e = getattr(e, "env", None)
    if name is None and getattr(env, "spec", None) is not None:
        name = env.spec.id
    if name is None:
        raise ValueError(f"cannot tell which game {env} is; build it with tv2tv.envs.make_env")
    fam = family_of(name)
    if fam.clone_state is None or fam.restore_state is None:
        raise ValueError(f"env {name!r} (family {fam.family!r}) does not support state cloning")
    return fam


def clone_state(env: gym.Env) -> Any:
    """Snapshot ``env`` (built by ``make_env``) so ``restore_state`` replays the same future.

    Raises ``ValueError`` for families without cloning (e.g. MineRL).

    Example:
        >>> env = make_env("crafter", seed=0); _ = env.reset()          # doctest: +SKIP
        >>> s = clone_state(env); restore_state(env, s)                 # doctest: +SKIP
    """
    return _cloning_family(env).clone_state(env)  # type: ignore[misc]


def restore_state(env: gym.Env, state: Any) -> None:
    """Put ``env`` back to a snapshot from :func:`clone_state`."""
    _cloning_family(env).restore_state(env, state)  # type: ignore[misc]


def get_texter(env: gym.Env) -> Any:
    """The texter attached to an env built by ``make_env`` (searches the wrapper chain)."""
    e: Any = env
    while e is not None:
        t = getattr(e, "texter", None) if "texter" in getattr(e, "__dict__", {}) else None
        if t is not None:
            return t
        e = getattr(e, "env", None)
    raise ValueError(f"env {env} has no texter; build it with tv2tv.envs.make_env")
