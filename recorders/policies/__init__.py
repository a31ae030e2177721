"""Collection policies. A policy is any callable ``policy(obs) -> action``.

``make_policy(name, env, seed)`` builds a named policy for one env. Game families add their
scripted players with ``register_policy``.

Example:
    >>> policy = make_policy("sticky", env, seed=0)     # doctest: +SKIP
    >>> action = policy(obs)                            # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym

Policy = Callable[[Any], Any]
PolicyFactory = Callable[..., Policy]

_POLICIES: dict[str, PolicyFactory] = {}


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Add a policy; ``factory(env, seed, **kwargs)`` returns a ``Policy`` for that env."""
    _POLICIES[name] = factory


def _load_policies() -> None:
    from tv2tv.recorders.policies import atari, basic  # noqa: F401

    try:
        # import_module, not `from ... import crafter`: a missing submodule must raise
        # ModuleNotFoundError (with .name set), which `from` turns into a bare ImportError.
        importlib.import_module("tv2tv.recorders.policies.crafter")
    except ModuleNotFoundError as exc:
        if exc.name != "tv2tv.recorders.policies.crafter":
            raise


def policy_names() -> list[str]:
    _load_policies()
    return sorted(_POLICIES)


def make_policy(name: str, env: gym.Env, seed: int | None = None, **kwargs: Any) -> Policy:
    """Build policy ``name`` for ``env``; unknown names fail with the closest matches."""
    _load_policies()
    if name not in _POLICIES:
        close = difflib.get_close_matches(name, list(_POLICIES), n=3, cutoff=0.4)
        raise ValueError(f"unknown policy {name!r}; known: {sorted(_POLICIES)}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    return _POLICIES[name](env, seed=seed, **kwargs)
