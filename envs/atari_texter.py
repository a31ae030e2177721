"""The Atari texter: ALE joystick actions as short phrases, plus score and life captions.

Every ALE action has a *meaning* (``NOOP``, ``FIRE``, ``UP``, ..., ``DOWNLEFTFIRE``). The texter
turns each meaning into one phrase and inverts it with :meth:`AtariTexter.parse`:

* general games: ``NOOP`` -> "do nothing", ``FIRE`` -> "fire", ``UP`` -> "move up",
  ``UPRIGHT`` -> "move up-right", ``RIGHTFIRE`` -> "move right and fire";
* known games (``game=``) say what the joystick does on screen. In ALE Pong the paddle moves
  with the joystick's *horizontal* axis (``RIGHT`` moves it up, ``LEFT`` down) and ``UP``/``DOWN``
  do nothing; in Breakout ``RIGHT``/``LEFT`` move the paddle right/left. Both were checked against
  the paddle position in RAM (``tests/envs/test_atari_texter.py``).

The phrase of a meaning depends only on the game, never on the action set (minimal or full),
so datasets recorded with either agree. When two meanings of a game read the same (Pong's
``RIGHT`` and ``UPRIGHT`` both move the paddle up), the first in ALE's order keeps the plain phrase
and the others name the joystick input: "move paddle up (joystick up-right)". Hence phrases are
unique and ``parse(action_text(a)) == a`` for every action.

Emission (``describe``, docs/design.md "Data model"): the action phrase (source ``"action"``) on the
first step of an episode, whenever the action differs from the last one described, and again
every ``text_every`` steps while it repeats; then captions (source ``"caption"``): "scored a
point" / "scored N points" for positive reward, "lost a point" / "lost N points" for negative
reward, "lost a life" when ``info["lives"]`` drops. The ``Texter`` protocol passes no reward, so
it is read from ``info["reward"]``, which the envs built by ``tv2tv.envs.make_env`` add.

Example:
    >>> texter = AtariTexter(["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"], game="pong")
    >>> texter.action_text(2)
    'move paddle up'
    >>> texter.parse("  Move Paddle DOWN ")
    3
    >>> texter.reset(None, {"lives": 0})
    []
    >>> [p.text for p in texter.describe(None, 2, None, {"reward": 1.0, "lives": 0})]
    ['move paddle up', 'scored a point']
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.texter import HeldText
from tv2tv.types import Phrase

# The 18 joystick meanings ALE knows (ale_py.Action names), in ALE's own order; the order
# decides which of two meanings that read the same keeps the plain phrase.
ALE_MEANINGS: tuple[str, ...] = (
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
)
_DIRECTIONS = {
    "UP": "up", "DOWN": "down", "LEFT": "left", "RIGHT": "right", "UPRIGHT": "up-right",
    "UPLEFT": "up-left", "DOWNRIGHT": "down-right", "DOWNLEFT": "down-left",
}


@dataclass(frozen=True)
class GameWording:
    """What the joystick axes do on screen in one game (``None``: that input does nothing).

    Args:
        up, down, right, left: movement phrases for each joystick component.
    """

    up: str | None = None
    down: str | None = None
    right: str | None = None
    left: str | None = None

    def move(self, direction: str) -> str | None:
        """The movement phrase for ``"UPRIGHT"`` etc.; ``None`` when nothing moves."""
        vertical = self.up if "UP" in direction else self.down if "DOWN" in direction else None
        horizontal = self.right if "RIGHT" in direction else self.left if "LEFT" in direction else None
        parts = [p for p in (vertical, horizontal) if p is not None]
        return " and ".join(parts) if parts else None


# Keys are ROM ids (see game_key). Add a game here to give it on-screen wording.
GAME_WORDINGS: dict[str, GameWording] = {
    "pong": GameWording(right="move paddle up", left="move paddle down"),
    "breakout": GameWording(right="move paddle right", left="move paddle left"),
}


def split_meaning(meaning: str) -> tuple[str, bool]:
    """``"UPRIGHTFIRE"`` -> ``("UPRIGHT", True)``; ``"NOOP"`` -> ``("", False)``."""
    if meaning not in ALE_MEANINGS:
        raise ValueError(f"unknown ALE action meaning {meaning!r}; expected one of {list(ALE_MEANINGS)}")
    if meaning in ("NOOP", "FIRE"):
        return "", meaning == "FIRE"
    fire = meaning.endswith("FIRE")
    return (meaning[: -len("FIRE")] if fire else meaning), fire


def generic_phrase(meaning: str) -> str:
    """The game-independent phrase for one ALE meaning.

    Example:
        >>> generic_phrase("DOWNLEFTFIRE")
        'move down-left and fire'
    """
    direction, fire = split_meaning(meaning)
    if not direction:
        return "fire" if fire else "do nothing"
    return f"move {_DIRECTIONS[direction]}" + (" and fire" if fire else "")


def game_key(game: str | None) -> str | None:
    """Normalise a game given as ROM id or env name: ``"ALE/Pong-v5"`` -> ``"pong"``.

    Example:
        >>> game_key("ALE/SpaceInvaders-v5"), game_key("space_invaders")
        ('spaceinvaders', 'spaceinvaders')
    """
    if game is None:
        return None
    name = re.sub(r"^ALE/|-v\d+$", "", game.strip())
    return re.sub(r"[^a-z0-9]", "", name.lower())


def phrase_table(game: str | None = None) -> dict[str, str]:
    """Meaning -> phrase for all 18 ALE meanings of ``game`` (unique phrases, see module doc).

    Example:
        >>> phrase_table("pong")["UPRIGHT"]
        'move paddle up (joystick up-right)'
    """
    return dict(_phrase_table(game_key(game)))


@cache
def _phrase_table(game: str | None) -> dict[str, str]:
    wording = GAME_WORDINGS.get(game or "")
    table: dict[str, str] = {}
    for meaning in ALE_MEANINGS:
        phrase = generic_phrase(meaning)
        if wording is not None:
            direction, fire = split_meaning(meaning)
            move = wording.move(direction) if direction else None
            phrase = (move or ("fire" if fire else "do nothing")) + (" and fire" if move and fire else "")
            if phrase in table.values():  # reads like an earlier meaning: name the joystick input
                phrase = f"{phrase} (joystick {generic_phrase(meaning).removeprefix('move ')})"
        table[meaning] = phrase
    assert len(set(table.values())) == len(table), table
    return table


def _normalise(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


class AtariTexter:
    """Phrases for ALE actions and captions for score and lives (see module docstring).

    Args:
        action_meanings: ``env.unwrapped.get_action_meanings()``, one per action index.
        text_every: repeat the action phrase every this many steps while the action repeats.
        game: ROM id or env name ("pong", "ALE/Breakout-v5") for on-screen wording; ``None`` or
            a game without wording uses the general phrases.

    Example:
        >>> AtariTexter(["NOOP", "FIRE", "UPRIGHT"]).action_phrases()
        ['do nothing', 'fire', 'move up-right']
    """

    name = "atari"
    version = "1"

    def __init__(self, action_meanings: Sequence[str], text_every: int = 8, game: str | None = None) -> None:
        check_int("text_every", text_every, 1)
        meanings = [str(m) for m in action_meanings]
        if not meanings:
            raise ValueError("action_meanings is empty")
        if len(set(meanings)) != len(meanings):
            raise ValueError(f"action_meanings has duplicates: {meanings}")
        table = _phrase_table(game_key(game))
        self.action_meanings = meanings
        self.text_every = int(text_every)
        self.game = game_key(game)
        self._phrases = [table[m] if m in table else generic_phrase(m) for m in meanings]  # raises if unknown
        self._action_phrases = [Phrase(p, "action") for p in self._phrases]  # shared: immutable
        self._index = {_normalise(p): a for a, p in enumerate(self._phrases)}
        self._held = HeldText(self.text_every)
        self._lives: int | None = None

    # --- stateless mapping -------------------------------------------------------------------

    def _check_action(self, action: Any) -> int:
        if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
            a = int(action)  # the usual case, without building an array (it runs every step)
        else:
            arr = np.asarray(action)
            if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"an Atari action is one integer, got {action!r}")
            a = int(arr)
        if not 0 <= a < len(self._phrases):
            raise ValueError(f"action {a} is out of range 0..{len(self._phrases) - 1}")
        return a

    def action_text(self, action: Any) -> str:
        """The phrase for action index ``action``."""
        return self._phrases[self._check_action(action)]

    def parse(self, text: str) -> int:
        """The action index of a phrase (case, spacing and a final period are ignored).

        Raises:
            ValueError: naming ``text`` and the closest phrases when it is not an action phrase.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        key = _normalise(text)
        if key in self._index:
            return self._index[key]
        close = difflib.get_close_matches(key, list(self._index), n=3, cutoff=0.5)
        hint = f"closest: {close}" if close else f"valid phrases: {self._phrases}"
        raise ValueError(f"{text!r} is not an action phrase of the {self.game or 'Atari'} texter; {hint}")

    def action_phrases(self) -> list[str]:
        """All action phrases, in action-index order."""
        return list(self._phrases)

    # --- per-episode emission ----------------------------------------------------------------

    def reset(self, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Start an episode. No phrases at frame 0: no action has been taken yet."""
        self._held.reset()
        self._lives = _lives(info)
        return []

    def describe(self, prev_obs: Any, action: Any, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Phrases for one step: the action phrase when due, then score and life captions.

        ``info`` must hold ``"reward"`` (added by ``make_env``'s Atari envs) and ``"lives"``.
        """
        a = self._check_action(action)
        if "reward" not in info:
            raise ValueError("info has no 'reward'; build the env with tv2tv.envs.make_env, "
                             "which adds the step reward to info")
        phrases = [self._action_phrases[a]] if self._held.due(self._phrases[a]) else []
        phrases += _reward_captions(float(info["reward"]))
        lives = _lives(info)
        if self._lives is not None and lives < self._lives:
            phrases.append(Phrase("lost a life", "caption"))
        self._lives = lives
        return phrases

    # --- for branch benchmarks that clone and restore whole envs -----------------------------

    def get_state(self) -> tuple[str | None, int, int | None]:
        """The per-episode state: last action phrase written, steps since (``HeldText``), lives."""
        return self._held.last, self._held.since, self._lives

    def set_state(self, state: tuple[str | None, int, int | None]) -> None:
        """Restore a state from :meth:`get_state`."""
        self._held.last, self._held.since, self._lives = state


def _lives(info: dict[str, Any]) -> int:
    if "lives" not in info:
        raise ValueError(f"info has no 'lives' (ALE adds it to every info); got keys {sorted(info)}")
    return int(info["lives"])


def _reward_captions(reward: float) -> list[Phrase]:
    if reward == 0:
        return []
    n = abs(reward)
    amount = "a point" if n == 1 else f"{n:g} points"
    return [Phrase(f"{'scored' if reward > 0 else 'lost'} {amount}", "caption")]
