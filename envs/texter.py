"""The texter interface: turns actions and game state into natural-language phrases.

A texter is stateful over one episode (it remembers the last action it described so it can
emit text only when the action changes, and every ``text_every`` steps). ``reset`` starts an
episode; ``describe`` is called once per step. Frame placement is the recorder's job: phrases
returned by ``describe`` for step ``t`` land on frame ``t + 1`` (see ``tv2tv.types``).

Example:
    >>> texter = make_texter_for(env)          # doctest: +SKIP
    >>> texter.reset(obs, info)                # phrases at frame 0
    >>> texter.describe(obs, action, next_obs, info)
    [Phrase(text='move paddle up', source='action')]
    >>> texter.parse("move paddle up")
    2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tv2tv.types import Phrase


@dataclass
class HeldText:
    """When an action phrase is due: on the first step, when it changes, and every ``every``
    steps while it stays the same (the texters' ``text_every``).

    Example:
        >>> held = HeldText(every=2)
        >>> [held.due(t) for t in ("up", "up", "up", "down")]
        [True, False, True, True]
    """

    every: int
    last: str | None = None
    since: int = 0

    def reset(self) -> None:
        """A new episode: the next phrase is due."""
        self.last, self.since = None, 0

    def due(self, text: str) -> bool:
        """Whether ``text``, this step's phrase, is written (counts the step)."""
        out = self.last is None or text != self.last or self.since >= self.every
        if out:
            self.last, self.since = text, 0
        self.since += 1
        return out


@runtime_checkable
class Texter(Protocol):
    """What every texter provides. ``name`` and ``version`` are stored with every dataset."""

    name: str
    version: str

    def reset(self, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Start an episode; return phrases for frame 0 (often empty)."""
        ...

    def describe(self, prev_obs: Any, action: Any, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Phrases for one step (action taken on ``prev_obs`` that produced ``obs``)."""
        ...

    def action_text(self, action: Any) -> str:
        """The phrase for one action, stateless (``parse(action_text(a)) == a``)."""
        ...

    def parse(self, text: str) -> Any:
        """Invert an action phrase; raises ``ValueError`` naming the text when it is not one."""
        ...

    def action_phrases(self) -> list[str]:
        """Every action phrase this texter can parse (for planners and suites)."""
        ...
