"""The policy registry: ``register_policy`` and the table ``make_policy`` reads.

Its own module so the game families' policies (``atari``, ``basic``, ``crafter``) register
themselves without importing the package that loads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Policy = Callable[[Any], Any]
PolicyFactory = Callable[..., Policy]

POLICIES: dict[str, PolicyFactory] = {}
"""name -> factory, filled by ``register_policy``."""


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Add a policy; ``factory(env, seed, **kwargs)`` returns a ``Policy`` for that env."""
    POLICIES[name] = factory
