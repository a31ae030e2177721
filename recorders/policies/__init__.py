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
from typing import Any

import gymnasium as gym

from tv2tv.recorders.policies.base import POLICIES, Policy, PolicyFactory, register_policy

__all__ = ["POLICIES", "Policy", "PolicyFactory", "make_policy", "policy_names", "register_policy"]

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
    return sorted(POLICIES)


def make_policy(name: str, env: gym.Env, seed: int | None = None, **kwargs: Any) -> Policy:
    """Build policy ``name`` for ``env``; unknown names fail with the closest matches."""
    _load_policies()
    if name not in POLICIES:
        close = difflib.get_close_matches(name, list(POLICIES), n=3, cutoff=0.4)
        raise ValueError(f"unknown policy {name!r}; known: {sorted(POLICIES)}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    return POLICIES[name](env, seed=seed, **kwargs)
