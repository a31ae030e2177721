"""The Crafter texter: action phrases, event captions and plan captions from Crafter's state.

Action phrases (source ``"action"``) name the 17 Crafter actions in words (``"move left"``,
``"interact"``, ``"place table"``, ``"make wood pickaxe"``); every action has its own phrase, so
``parse(action_text(a)) == a``. They are emitted like Atari's: on the first step, whenever the
action changes and every ``text_every`` steps while it stays the same.

Captions (source ``"caption"``) come from the ``info`` dict that :class:`tv2tv.envs.crafter.CrafterEnv`
returns (Crafter's own ``inventory``/``achievements`` plus ``facing``, ``daylight``, ``sleeping``):

- the first unlock of an achievement in an episode: ``"unlocked collect wood"``;
- inventory changes of items: ``"got 1 wood"``, ``"used 2 wood"``;
- vitals: ``"took damage"``, ``"ate food"``, ``"drank water"``, ``"hungry"``/``"thirsty"``/``"tired"``
  when food/drink/energy fall to ``LOW_VITAL``;
- what the player faces, when it changes to something other than open ground: ``"facing a tree"``;
- ``"night falls"`` / ``"day breaks"`` when daylight crosses ``NIGHT_DAYLIGHT``; ``"falls asleep"`` /
  ``"wakes up"``; ``"died"``.

Plan captions (source ``"plan"``): when ``info["plan"]`` (set by a policy through
``CrafterEnv.set_plan``) changes to a new non-empty text, it is emitted as is, e.g.
``"goal: make wood pickaxe; next: collect wood, place table"``. Without a policy there are none.

Example:
    >>> texter = CrafterTexter()
    >>> texter.action_text(5), texter.parse("place table")
    ('interact', 8)
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.texter import HeldText
from tv2tv.types import Phrase

# Crafter's action order (crafter/data.yaml ``actions``); fixed by the game, so kept here to keep
# this module importable without crafter.
CRAFTER_ACTIONS: tuple[str, ...] = (
    "noop", "move_left", "move_right", "move_up", "move_down", "do", "sleep", "place_stone",
    "place_table", "place_furnace", "place_plant", "make_wood_pickaxe", "make_stone_pickaxe",
    "make_iron_pickaxe", "make_wood_sword", "make_stone_sword", "make_iron_sword",
)
_SPECIAL = {"noop": "do nothing", "do": "interact"}
VITALS = ("health", "food", "drink", "energy")
LOW_VITAL = 3
NIGHT_DAYLIGHT = 0.35
# Faced things that are not worth a caption: open ground you walk on.
_GROUND = {"grass", "sand", "path", None}
_LOW_WORDS = {"food": "hungry", "drink": "thirsty", "energy": "tired"}


def action_phrase(name: str) -> str:
    """``"make_wood_pickaxe"`` -> ``"make wood pickaxe"``; ``"do"`` -> ``"interact"``."""
    return _SPECIAL.get(name, name.replace("_", " "))


def _normalize(text: str) -> str:
    return " ".join(str(text).lower().split()).rstrip(".")


def _article(thing: str) -> str:
    if thing in ("water", "lava", "grass", "sand", "stone", "coal", "iron", "diamond", "path"):
        return thing
    return ("an " if thing[0] in "aeiou" else "a ") + thing


class CrafterTexter:
    """Texter for Crafter (see the module docstring for phrases, captions and plans).

    Args:
        text_every: repeat an unchanged action phrase every this many steps.
        captions: emit event captions (source ``"caption"``).
        plans: emit ``info["plan"]`` changes (source ``"plan"``).
    """

    name = "crafter"
    version = "1"

    def __init__(self, text_every: int = 8, captions: bool = True, plans: bool = True) -> None:
        check_int("text_every", text_every, 1)
        self.text_every = int(text_every)
        self.captions = bool(captions)
        self.plans = bool(plans)
        self._phrases = [action_phrase(a) for a in CRAFTER_ACTIONS]
        self._by_phrase = {p: i for i, p in enumerate(self._phrases)}
        self._held = HeldText(self.text_every)
        self._prev: dict[str, Any] = {}

    # -- stateless ---------------------------------------------------------------------------

    def _index(self, action: Any) -> int:
        a = np.asarray(action)
        if a.ndim != 0 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"action must be an integer index, got {action!r}")
        if not 0 <= int(a) < len(self._phrases):
            raise ValueError(f"action {int(a)} out of range for {len(self._phrases)} Crafter actions")
        return int(a)

    def action_text(self, action: Any) -> str:
        """The phrase for Crafter action index ``action``."""
        return self._phrases[self._index(action)]

    def parse(self, text: str) -> int:
        """The action index for a phrase (case and whitespace are ignored)."""
        key = _normalize(text)
        if key in self._by_phrase:
            return self._by_phrase[key]
        close = difflib.get_close_matches(key, list(self._by_phrase), n=3, cutoff=0.5)
        raise ValueError(f"{text!r} is not a Crafter action phrase; "
                         + (f"closest: {close}" if close else f"valid phrases: {self._phrases}"))

    def action_phrases(self) -> list[str]:
        """Every action phrase, by action index."""
        return list(self._phrases)

    # -- per episode -------------------------------------------------------------------------

    def reset(self, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Start an episode; frame 0 gets what the player faces (and the plan, if set)."""
        self._held.reset()
        self._prev = self._snapshot(info or {})
        self._prev["plan"] = None
        out = []
        if self.captions and self._prev.get("facing") not in _GROUND:
            out.append(Phrase(f"facing {_article(self._prev['facing'])}", "caption"))
        return out + self._plan(info or {})

    def describe(self, prev_obs: Any, action: Any, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Phrases for one step: the action when due, then captions, then a changed plan."""
        a = self._index(action)
        info = info or {}
        out = [Phrase(self._phrases[a], "action")] if self._held.due(self._phrases[a]) else []
        now = self._snapshot(info)
        if self.captions:
            out += [Phrase(t, "caption") for t in self._captions(self._prev, now)]
        plan = self._plan(info)
        now["plan"] = self._prev.get("plan") if not plan else plan[0].text
        self._prev = now
        return out + plan

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _snapshot(info: dict[str, Any]) -> dict[str, Any]:
        return {
            "inventory": dict(info.get("inventory", {})),
            "achievements": dict(info.get("achievements", {})),
            "facing": info.get("facing"),
            "daylight": info.get("daylight"),
            "sleeping": info.get("sleeping"),
            "plan": None,
        }

    def _plan(self, info: dict[str, Any]) -> list[Phrase]:
        plan = info.get("plan")
        if not self.plans or not plan or plan == self._prev.get("plan"):
            return []
        return [Phrase(str(plan), "plan")]

    @staticmethod
    def _captions(prev: dict[str, Any], now: dict[str, Any]) -> list[str]:
        out = []
        ach0, ach1 = prev["achievements"], now["achievements"]
        out += [f"unlocked {k.replace('_', ' ')}" for k, v in ach1.items() if v > 0 and ach0.get(k, 0) == 0]
        inv0, inv1 = prev["inventory"], now["inventory"]
        for k, v in inv1.items():
            d = int(v) - int(inv0.get(k, v))
            if d == 0:
                continue
            if k not in VITALS:
                out.append(f"got {d} {k.replace('_', ' ')}" if d > 0 else f"used {-d} {k.replace('_', ' ')}")
            elif k == "health" and d < 0:
                out.append("took damage")
            elif k == "food" and d > 0:
                out.append("ate food")
            elif k == "drink" and d > 0:
                out.append("drank water")
            elif k in _LOW_WORDS and d < 0 and v == LOW_VITAL:
                out.append(_LOW_WORDS[k])
        if now["facing"] != prev["facing"] and now["facing"] not in _GROUND:
            out.append(f"facing {_article(now['facing'])}")
        d0, d1 = prev["daylight"], now["daylight"]
        if d0 is not None and d1 is not None:
            if d0 >= NIGHT_DAYLIGHT > d1:
                out.append("night falls")
            elif d0 < NIGHT_DAYLIGHT <= d1:
                out.append("day breaks")
        if now["sleeping"] and not prev["sleeping"]:
            out.append("falls asleep")
        elif prev["sleeping"] and not now["sleeping"]:
            out.append("wakes up")
        if int(inv1.get("health", 1)) <= 0 < int(inv0.get("health", 1)):
            out.append("died")
        return out

    # -- for clone/restore of whole env states ----------------------------------------------

    def get_state(self) -> tuple[Any, ...]:
        """The per-episode state (last action phrase, steps since: ``HeldText``; last seen game state)."""
        return self._held.last, self._held.since, {k: (dict(v) if isinstance(v, dict) else v)
                                                     for k, v in self._prev.items()}

    def set_state(self, state: tuple[Any, ...]) -> None:
        """Restore a state from :meth:`get_state`."""
        self._held.last, self._held.since, prev = state
        self._prev = {k: (dict(v) if isinstance(v, dict) else v) for k, v in prev.items()}
