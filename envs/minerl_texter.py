"""The MineRL texter: MineRL dict actions as phrases, with an exact inverse.

An action is a dict as MineRL envs take it: binary keys (``forward``, ``back``, ``left``, ``right``,
``jump``, ``sneak``, ``sprint``, ``attack``; VPT data adds ``use``, ``drop``, ``inventory``, ``ESC``,
``swapHands``, ``pickItem`` and ``hotbar.1`` ... ``hotbar.9``), ``camera`` = ``[pitch, yaw]`` in
degrees (positive pitch looks down, positive yaw turns right) and item keys (``place``, ``equip``,
``craft``, ``nearbyCraft``, ``nearbySmelt``) whose value is an index into that key's item list
(or the item name; ``"none"`` does nothing).

The phrase joins the active parts with ``", "`` in a fixed order: keys, camera, items, e.g.
``"move forward, jump, attack, turn right 5 degrees, look down 2.5 degrees, craft planks"``;
an action with nothing active is ``"do nothing"``.

Quantization: camera angles are rounded to multiples of ``camera_step`` degrees (default 2.5) in
the text, so ``parse(action_text(a)) == quantize(a)`` (and ``== a`` when ``a`` is already
quantized). Smaller turns than half a step read as no turn.

Emission (``describe``): the action phrase on the first step, whenever it changes and every
``text_every`` steps while it stays the same (source ``"action"``); with ``info["inventory"]``
(a dict item -> count), inventory changes as captions ``"got 1 log"``, ``"used 2 planks"``.

Example:
    >>> t = MineRLTexter(keys=("forward", "jump", "attack"), items={"craft": ("none", "planks")})
    >>> a = {"forward": 1, "jump": 0, "attack": 1, "camera": [0.0, 5.0], "craft": 1}
    >>> t.action_text(a)
    'move forward, attack, turn right 5 degrees, craft planks'
    >>> t.parse("attack, look up 2.5 degrees")["camera"].tolist()
    [-2.5, 0.0]
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.texter import HeldText
from tv2tv.types import Phrase

KEY_PHRASES: dict[str, str] = {
    "forward": "move forward", "back": "move back", "left": "strafe left", "right": "strafe right",
    "jump": "jump", "sneak": "sneak", "sprint": "sprint", "attack": "attack", "use": "use",
    "drop": "drop item", "inventory": "open inventory", "ESC": "press escape", "swapHands": "swap hands",
    "pickItem": "pick block", **{f"hotbar.{i}": f"select hotbar slot {i}" for i in range(1, 10)},
}
ITEM_VERBS: dict[str, str] = {
    "place": "place", "equip": "equip", "craft": "craft", "nearbyCraft": "craft at table",
    "nearbySmelt": "smelt",
}
MINERL_KEYS: tuple[str, ...] = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack")
VPT_KEYS: tuple[str, ...] = MINERL_KEYS + (
    "use", "drop", "inventory", "ESC", "swapHands", "pickItem", *(f"hotbar.{i}" for i in range(1, 10)))
NOOP_TEXT = "do nothing"
_NUM = r"(\d+(?:\.\d+)?)"
_CAMERA_RE = re.compile(rf"^(turn right|turn left|look down|look up) {_NUM} degrees?$")


def _fmt(x: float) -> str:
    return f"{x:.6g}"


class MineRLTexter:
    """Texter for MineRL dict actions (see the module docstring).

    Args:
        keys: binary action keys in the action space, in phrase order.
        items: item action key -> its item names (index ``i`` of the action is ``items[key][i]``).
        camera: whether the action space has ``camera``.
        camera_step: camera quantization in degrees for the text.
        text_every: repeat an unchanged action phrase every this many steps.
    """

    name = "minerl"
    version = "1"

    def __init__(self, keys: Sequence[str] = MINERL_KEYS, items: Mapping[str, Sequence[str]] | None = None,
                 camera: bool = True, camera_step: float = 2.5, text_every: int = 8) -> None:
        unknown = [k for k in keys if k not in KEY_PHRASES]
        if unknown:
            raise ValueError(f"unknown MineRL action keys {unknown}; known: {sorted(KEY_PHRASES)}")
        items = dict(items or {})
        bad = [k for k in items if k not in ITEM_VERBS]
        if bad:
            raise ValueError(f"unknown MineRL item action keys {bad}; known: {sorted(ITEM_VERBS)}")
        for k, names in items.items():
            if "none" not in names:
                raise ValueError(f"item list of {k!r} must contain 'none', got {list(names)}")
        if not camera_step > 0:
            raise ValueError(f"camera_step must be > 0, got {camera_step!r}")
        check_int("text_every", text_every, 1)
        self.keys = tuple(keys)
        self.items = {k: tuple(str(n) for n in v) for k, v in items.items()}
        self.camera = bool(camera)
        self.camera_step = float(camera_step)
        self.text_every = int(text_every)
        self._key_by_phrase = {KEY_PHRASES[k]: k for k in self.keys}
        self._item_by_phrase = {
            f"{ITEM_VERBS[k]} {n.replace('_', ' ')}": (k, i)
            for k, names in self.items.items() for i, n in enumerate(names) if n != "none"}
        self._held = HeldText(self.text_every)
        self._inventory: dict[str, int] | None = None

    @classmethod
    def from_space(cls, space: Any, **kwargs: Any) -> MineRLTexter:
        """A texter for a gymnasium ``Dict`` action space as :class:`tv2tv.envs.minerl.MineRLAdapter`
        builds it (item keys are ``Discrete`` with an ``item_names`` attribute)."""
        spaces = dict(space.spaces)
        keys = tuple(k for k in KEY_PHRASES if k in spaces)
        items = {k: tuple(spaces[k].item_names) for k in ITEM_VERBS if k in spaces}
        other = set(spaces) - set(keys) - set(items) - {"camera"}
        if other:
            raise ValueError(f"action keys {sorted(other)} have no phrases in the MineRL texter")
        return cls(keys=keys, items=items, camera="camera" in spaces, **kwargs)

    # -- stateless ---------------------------------------------------------------------------

    def noop(self) -> dict[str, Any]:
        """The action that does nothing, in this texter's layout."""
        out: dict[str, Any] = {k: 0 for k in self.keys}
        if self.camera:
            out["camera"] = np.zeros(2, np.float32)
        out.update({k: names.index("none") for k, names in self.items.items()})
        return out

    def _item_index(self, key: str, value: Any) -> int:
        names = self.items[key]
        if isinstance(value, (str, np.str_, bytes)):
            v = value.decode() if isinstance(value, bytes) else str(value)
            if v not in names:
                raise ValueError(f"{key}={v!r} is not one of {list(names)}")
            return names.index(v)
        i = int(np.asarray(value))
        if not 0 <= i < len(names):
            raise ValueError(f"{key}={i} out of range for {len(names)} items")
        return i

    def quantize(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """``action`` in this texter's layout, camera rounded to ``camera_step`` (what parse returns)."""
        missing = [k for k in self.keys if k not in action]
        if missing:
            raise ValueError(f"action lacks keys {missing}")
        out: dict[str, Any] = {k: int(bool(np.asarray(action[k]))) for k in self.keys}
        if self.camera:
            cam = np.asarray(action.get("camera", (0.0, 0.0)), dtype=np.float64).reshape(2)
            out["camera"] = (np.round(cam / self.camera_step) * self.camera_step).astype(np.float32) + 0.0
        for k in self.items:
            out[k] = self._item_index(k, action.get(k, "none"))
        return out

    def action_text(self, action: Mapping[str, Any]) -> str:
        """The phrase for one dict action (camera quantized)."""
        q = self.quantize(action)
        parts = [KEY_PHRASES[k] for k in self.keys if q[k]]
        if self.camera:
            pitch, yaw = (float(x) for x in q["camera"])
            if yaw:
                parts.append(f"turn {'right' if yaw > 0 else 'left'} {_fmt(abs(yaw))} degrees")
            if pitch:
                parts.append(f"look {'down' if pitch > 0 else 'up'} {_fmt(abs(pitch))} degrees")
        for k, names in self.items.items():
            name = names[q[k]]
            if name != "none":
                parts.append(f"{ITEM_VERBS[k]} {name.replace('_', ' ')}")
        return ", ".join(parts) if parts else NOOP_TEXT

    def parse(self, text: str) -> dict[str, Any]:
        """Invert :meth:`action_text`; raises ``ValueError`` naming the part it cannot read."""
        out = self.noop()
        body = " ".join(str(text).lower().split()).rstrip(".")
        if body == NOOP_TEXT:
            return out
        lowered = {p.lower(): k for p, k in self._key_by_phrase.items()}
        for part in (p.strip() for p in body.split(",")):
            m = _CAMERA_RE.match(part)
            if part in lowered:
                out[lowered[part]] = 1
            elif m and self.camera:
                deg = float(m.group(2))
                idx, sign = ((1, 1.0) if m.group(1) == "turn right"
                             else (1, -1.0) if m.group(1) == "turn left"
                             else (0, 1.0) if m.group(1) == "look down" else (0, -1.0))
                out["camera"][idx] = np.float32(sign * deg)
            elif part in self._item_by_phrase:
                k, i = self._item_by_phrase[part]
                out[k] = i
            else:
                known = (list(lowered) + list(self._item_by_phrase)
                         + ["turn right N degrees", "look up N degrees"])
                close = difflib.get_close_matches(part, known, n=3, cutoff=0.5)
                raise ValueError(f"cannot parse {part!r} in MineRL action text {text!r}"
                                 + (f"; closest: {close}" if close else ""))
        return out

    def action_phrases(self) -> list[str]:
        """The single-part phrases (keys, one camera example per direction, item actions)."""
        cam = [f"{d} {_fmt(self.camera_step)} degrees"
               for d in ("turn right", "turn left", "look down", "look up")]
        return ([NOOP_TEXT] + list(self._key_by_phrase) + (cam if self.camera else [])
                + list(self._item_by_phrase))

    # -- flat vectors for the episode store ---------------------------------------------------

    def vector_fields(self) -> list[str]:
        """Names of the entries of :meth:`to_vector`: keys, ``camera_pitch``, ``camera_yaw``, items."""
        return list(self.keys) + (["camera_pitch", "camera_yaw"] if self.camera else []) + list(self.items)

    def to_vector(self, action: Mapping[str, Any]) -> np.ndarray:
        """``float32 (D,)``: keys 0/1, the exact (unquantized) camera, item indices."""
        vals = [float(bool(np.asarray(action[k]))) for k in self.keys]
        if self.camera:
            vals += [float(x) for x in np.asarray(action.get("camera", (0.0, 0.0)), np.float32).reshape(2)]
        vals += [float(self._item_index(k, action.get(k, "none"))) for k in self.items]
        return np.asarray(vals, np.float32)

    def from_vector(self, vec: Any) -> dict[str, Any]:
        """Inverse of :meth:`to_vector`."""
        v = np.asarray(vec, np.float32).reshape(-1)
        if v.size != len(self.vector_fields()):
            raise ValueError(f"action vector has {v.size} entries, expected {len(self.vector_fields())}")
        out: dict[str, Any] = {k: int(v[i]) for i, k in enumerate(self.keys)}
        i = len(self.keys)
        if self.camera:
            out["camera"] = v[i:i + 2].copy()
            i += 2
        out.update({k: int(v[i + j]) for j, k in enumerate(self.items)})
        return out

    # -- per episode -------------------------------------------------------------------------

    def reset(self, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """Start an episode (no phrases at frame 0)."""
        self._held.reset()
        inv = (info or {}).get("inventory")
        self._inventory = None if inv is None else {k: int(v) for k, v in inv.items()}
        return []

    def describe(self, prev_obs: Any, action: Any, obs: Any, info: dict[str, Any]) -> list[Phrase]:
        """The action phrase when due, then inventory-change captions."""
        text = self.action_text(action)
        out = [Phrase(text, "action")] if self._held.due(text) else []
        inv = (info or {}).get("inventory")
        if inv is not None:
            inv = {k: int(v) for k, v in inv.items()}
            if self._inventory is not None:
                for k, v in inv.items():
                    d = v - self._inventory.get(k, v)
                    if d:
                        name = k.replace("_", " ")
                        out.append(Phrase(f"got {d} {name}" if d > 0 else f"used {-d} {name}", "caption"))
            self._inventory = inv
        return out


def actions_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two dict actions hold the same keys and values (arrays compared exactly)."""
    return set(a) == set(b) and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
