"""The CS:GO texter: Counter-Strike deathmatch controller states as phrases, with an exact inverse.

The data is Pearce & Zhu's "Counter-Strike Deathmatch with Large-Scale Behavioural Cloning" (2021;
TeaPearce/Counter-Strike_Behavioural_Cloning, ``config.py``; DIAMOND trains its CS:GO model on
it). Each frame's ``frame_i_y`` is a 51-value action: 11 keys one-hot ``w a s d space ctrl shift
1 2 3 r`` (in that order, as ``actions_to_onehot`` writes them), left click, right click, a
one-hot over 23 mouse-x bins and one over 15 mouse-y bins (:data:`MOUSE_X_BINS`,
:data:`MOUSE_Y_BINS`, mouse counts per frame).

An action here is the compact ``float32 (15,)`` vector of :data:`FIELDS` that the episode store
holds: the 13 buttons as 0/1, then ``mouse_x`` and ``mouse_y`` as the bin values themselves
(:func:`from_onehot` and :func:`to_onehot` convert). Positive ``mouse_x`` turns right and positive
``mouse_y`` looks down (``dm_infer_actions.py``: ``mouse_y = -(change of the vertical view
angle)``; DIAMOND's arrow keys map up to ``-50``).

The phrase joins the active parts with ``", "`` in a fixed order, as the TV2TV paper writes
controller states: ``"move forward and left, fire, turn right 11 degrees"``; an action with
nothing active is ``"do nothing"``. Mouse bins read as degrees at CS:GO's default 90-degree field
of view: ``dm_infer_actions.py`` derives the counts as ``view angle change / 0.00096 rad`` (scaled
by ``90 / fov`` when scoped), so one count is :data:`DEGREES_PER_COUNT` (0.055) degrees and the
bins read 0.11 ... 55 degrees (two significant digits). ``parse`` snaps a number of degrees to the
nearest bin (clipping beyond the last, as the authors' ``mouse_preprocess`` does), so
``parse(action_text(a)) == quantize(a)`` and ``parse("turn right 10 degrees")`` is the 11-degree
bin.

Emission (``describe``): the action phrase on the first step, whenever it changes and every
``text_every`` steps while it stays the same (source ``"action"``); ``info["kill"]`` and
``info["death"]`` (the file's ``frame_i_helperarr``) add the captions ``"got a kill"`` and
``"died"``.

Example:
    >>> t = CSGOTexter()
    >>> a = t.noop(); a[[FIELDS.index("forward"), FIELDS.index("left"), FIELDS.index("fire")]] = 1
    >>> a[FIELDS.index("mouse_x")] = 200
    >>> t.action_text(a)
    'move forward and left, fire, turn right 11 degrees'
    >>> t.parse("crouch, look up 2.8 degrees")[FIELDS.index("mouse_y")]
    np.float32(-50.0)
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.texter import HeldText
from tv2tv.types import Phrase

# Pearce & Zhu's config.py: mouse_x_possibles / mouse_y_possibles (mouse counts per frame).
MOUSE_X_BINS: tuple[float, ...] = (-1000, -500, -300, -200, -100, -60, -30, -20, -10, -4, -2, 0,
                                   2, 4, 10, 20, 30, 60, 100, 200, 300, 500, 1000)
MOUSE_Y_BINS: tuple[float, ...] = (-200, -100, -50, -20, -10, -4, -2, 0, 2, 4, 10, 20, 50, 100, 200)
# dm_infer_actions.py: const_1 = 0.00096 radians of view per mouse count at fov 90.
DEGREES_PER_COUNT = math.degrees(0.00096)
N_KEYS, N_CLICKS = 11, 2
ONEHOT_SIZE = N_KEYS + N_CLICKS + len(MOUSE_X_BINS) + len(MOUSE_Y_BINS)  # 51

# Store fields: keys in the one-hot's order (w a s d space ctrl shift 1 2 3 r), clicks, mouse.
BUTTONS: tuple[str, ...] = ("forward", "left", "back", "right", "jump", "crouch", "walk",
                            "weapon1", "weapon2", "weapon3", "reload", "fire", "scope")
FIELDS: tuple[str, ...] = (*BUTTONS, "mouse_x", "mouse_y")
MOUSE_X, MOUSE_Y = FIELDS.index("mouse_x"), FIELDS.index("mouse_y")
MOVES: tuple[str, ...] = ("forward", "back", "left", "right")          # phrase order of "move ..."
BUTTON_PHRASES: dict[str, str] = {
    "jump": "jump", "crouch": "crouch", "walk": "walk", "weapon1": "switch to primary weapon",
    "weapon2": "switch to pistol", "weapon3": "switch to knife", "reload": "reload", "fire": "fire",
    "scope": "scope",
}
NOOP_TEXT = "do nothing"
CAPTIONS = {"kill": "got a kill", "death": "died"}
_MOVE_RE = re.compile(r"^move ((?:forward|back|left|right)(?: and (?:forward|back|left|right))*)$")
_MOUSE_RE = re.compile(r"^(turn right|turn left|look down|look up) (\d+(?:\.\d+)?) degrees?$")


def degrees_text(counts: float) -> str:
    """``abs(counts)`` mouse counts as degrees, two significant digits (``200 -> "11"``)."""
    return f"{abs(counts) * DEGREES_PER_COUNT:.2g}"


def snap(value: float, bins: tuple[float, ...]) -> float:
    """The bin nearest to ``value`` after clipping to the bins' range (``mouse_preprocess``)."""
    if not math.isfinite(value):
        raise ValueError(f"mouse value must be finite, got {value!r}")
    v = min(max(value, bins[0]), bins[-1])
    return float(min(bins, key=lambda b: abs(b - v)))


def _mouse_blocks(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    start = N_KEYS + N_CLICKS
    return flat[:, start:start + len(MOUSE_X_BINS)], flat[:, start + len(MOUSE_X_BINS):]


def is_onehot(y: Any) -> np.ndarray:
    """``bool (N,)``: which rows of ``(N, 51)`` are valid actions (0/1 values, exactly one mouse-x
    and one mouse-y bin set)."""
    flat = np.asarray(y, np.float64).reshape(-1, ONEHOT_SIZE)
    mx, my = _mouse_blocks(flat)
    return np.isin(flat, (0.0, 1.0)).all(1) & (mx.sum(1) == 1) & (my.sum(1) == 1)


def from_onehot(y: Any) -> np.ndarray:
    """Pearce & Zhu's 51-value ``frame_i_y`` actions ``(..., 51)`` as store vectors ``(..., 15)``.

    Raises ``ValueError`` naming the first row that is not a valid one-hot (:func:`is_onehot`).
    """
    y = np.asarray(y)
    if y.shape[-1:] != (ONEHOT_SIZE,):
        raise ValueError(f"a CS:GO action one-hot has {ONEHOT_SIZE} values, got shape {y.shape}")
    flat = y.reshape(-1, ONEHOT_SIZE).astype(np.float64)
    bad = np.flatnonzero(~is_onehot(flat))
    if len(bad):
        raise ValueError(f"row {bad[0]} is not a CS:GO action one-hot (0/1 values, one mouse-x and one "
                         f"mouse-y bin): {flat[bad[0]].tolist()}")
    mx, my = _mouse_blocks(flat)
    out = np.concatenate([flat[:, :N_KEYS + N_CLICKS], np.asarray(MOUSE_X_BINS)[mx.argmax(1)][:, None],
                          np.asarray(MOUSE_Y_BINS)[my.argmax(1)][:, None]], axis=1)
    return out.astype(np.float32).reshape(*y.shape[:-1], len(FIELDS))


def to_onehot(action: Any) -> np.ndarray:
    """Inverse of :func:`from_onehot` for binned vectors ``(..., 15)`` -> ``float32 (..., 51)``."""
    a = np.asarray(action, np.float64)
    if a.shape[-1:] != (len(FIELDS),):
        raise ValueError(f"a CS:GO action vector has {len(FIELDS)} values, got shape {a.shape}")
    flat = a.reshape(-1, len(FIELDS))
    out = np.zeros((len(flat), ONEHOT_SIZE), np.float32)
    out[:, :N_KEYS + N_CLICKS] = flat[:, :N_KEYS + N_CLICKS]
    for row, (x, y) in enumerate(flat[:, [MOUSE_X, MOUSE_Y]]):
        if x not in MOUSE_X_BINS or y not in MOUSE_Y_BINS:
            raise ValueError(f"mouse ({x:g}, {y:g}) of action {row} is not a bin; quantize it first")
        out[row, N_KEYS + N_CLICKS + MOUSE_X_BINS.index(x)] = 1
        out[row, N_KEYS + N_CLICKS + len(MOUSE_X_BINS) + MOUSE_Y_BINS.index(y)] = 1
    return out.reshape(*a.shape[:-1], ONEHOT_SIZE)


class CSGOTexter:
    """Texter for CS:GO deathmatch actions (see the module docstring).

    Args:
        text_every: repeat an unchanged action phrase every this many steps.
    """

    name = "csgo"
    version = "1"

    def __init__(self, text_every: int = 8) -> None:
        check_int("text_every", text_every, 1)
        self.text_every = int(text_every)
        self._button_by_phrase = {p: b for b, p in BUTTON_PHRASES.items()}
        self._phrases = self._single_phrases()
        self._held = HeldText(self.text_every)

    @staticmethod
    def vector_fields() -> list[str]:
        """Names of the entries of an action vector (a store's ``extra["action_fields"]``)."""
        return list(FIELDS)

    @staticmethod
    def noop() -> np.ndarray:
        """The action that does nothing: ``float32 (15,)`` zeros."""
        return np.zeros(len(FIELDS), np.float32)

    # -- stateless ---------------------------------------------------------------------------

    def quantize(self, action: Any) -> np.ndarray:
        """``action`` as the binned vector :meth:`parse` returns: buttons checked to be 0/1, mouse
        snapped to the nearest bin. An int is an index into :meth:`action_phrases` (the discrete
        menu ``WorldModelEnv``'s action mode offers)."""
        if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
            if not 0 <= action < len(self._phrases):
                raise ValueError(f"CS:GO action index {action} out of range 0..{len(self._phrases) - 1}")
            return self.parse(self._phrases[int(action)])
        a = np.asarray(action, np.float64)
        if a.shape != (len(FIELDS),):
            raise ValueError(f"a CS:GO action is a vector of {len(FIELDS)} values ({', '.join(FIELDS)}), "
                             f"got shape {a.shape}")
        bad = [f"{BUTTONS[i]}={a[i]:g}" for i in range(len(BUTTONS)) if a[i] not in (0.0, 1.0)]
        if bad:
            raise ValueError(f"CS:GO buttons must be 0 or 1, got {', '.join(bad)}")
        out = a.astype(np.float32)
        out[MOUSE_X], out[MOUSE_Y] = snap(a[MOUSE_X], MOUSE_X_BINS), snap(a[MOUSE_Y], MOUSE_Y_BINS)
        return out + 0.0  # no negative zeros

    def action_text(self, action: Any) -> str:
        """The phrase for one action (mouse snapped to its bin)."""
        q = self.quantize(action)
        on = {f for f, v in zip(BUTTONS, q) if v}
        parts = ["move " + " and ".join(m for m in MOVES if m in on)] if on & set(MOVES) else []
        parts += [p for b, p in BUTTON_PHRASES.items() if b in on]
        if q[MOUSE_X]:
            parts.append(f"turn {'right' if q[MOUSE_X] > 0 else 'left'} {degrees_text(q[MOUSE_X])} degrees")
        if q[MOUSE_Y]:
            parts.append(f"look {'down' if q[MOUSE_Y] > 0 else 'up'} {degrees_text(q[MOUSE_Y])} degrees")
        return ", ".join(parts) if parts else NOOP_TEXT

    def parse(self, text: str) -> np.ndarray:
        """Invert :meth:`action_text`; raises ``ValueError`` naming the part it cannot read."""
        out = self.noop()
        body = " ".join(str(text).lower().split()).rstrip(".")
        if body == NOOP_TEXT:
            return out
        for part in (p.strip() for p in body.split(",")):
            move, mouse = _MOVE_RE.match(part), _MOUSE_RE.match(part)
            if move:
                for direction in move.group(1).split(" and "):
                    out[FIELDS.index(direction)] = 1
            elif part in self._button_by_phrase:
                out[FIELDS.index(self._button_by_phrase[part])] = 1
            elif mouse:
                counts = float(mouse.group(2)) / DEGREES_PER_COUNT
                verb = mouse.group(1)
                if verb.startswith("turn"):
                    out[MOUSE_X] = snap(counts if verb == "turn right" else -counts, MOUSE_X_BINS)
                else:
                    out[MOUSE_Y] = snap(counts if verb == "look down" else -counts, MOUSE_Y_BINS)
            else:
                close = difflib.get_close_matches(part, self._phrases, n=3, cutoff=0.5)
                raise ValueError(f"cannot parse {part!r} in CS:GO action text {text!r}"
                                 + (f"; closest: {close}" if close else ""))
        return out + 0.0

    def _single_phrases(self) -> list[str]:
        moves = [f"move {m}" for m in MOVES] + [f"move {a} and {b}" for a in MOVES[:2] for b in MOVES[2:]]
        turns = [f"turn {d} {degrees_text(b)} degrees"
                 for d in ("right", "left") for b in MOUSE_X_BINS if b > 0]
        looks = [f"look {d} {degrees_text(b)} degrees" for d in ("down", "up") for b in MOUSE_Y_BINS if b > 0]
        return [NOOP_TEXT, *moves, *BUTTON_PHRASES.values(), *turns, *looks]

    def action_phrases(self) -> list[str]:
        """One-part phrases: do nothing, the 8 moves, each button, each mouse bin per direction
        (every phrase this texter writes is a comma-separated combination of these)."""
        return list(self._phrases)

    # -- per episode -------------------------------------------------------------------------

    @staticmethod
    def _captions(info: dict[str, Any]) -> list[Phrase]:
        return [Phrase(text, "caption") for key, text in CAPTIONS.items() if bool((info or {}).get(key))]

    def reset(self, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Start an episode; kill and death captions of the first frame, if any."""
        self._held.reset()
        return self._captions(info)

    def describe(self, prev_obs: Any, action: Any, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """The action phrase when due, then ``"got a kill"`` / ``"died"`` from ``info``."""
        text = self.action_text(action)
        out = [Phrase(text, "action")] if self._held.due(text) else []
        return out + self._captions(info)
