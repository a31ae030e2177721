"""Action groups for the inverse-dynamics scorer, and MineWorld's precision, recall and F1 over them.

A frame shows *that the paddle went up*, not whether fire was pressed with it, so the IDM
(``idm.py``) is trained and scored on groups of actions with one visible effect, the way MineWorld
scores its IDM (``metrics/IDM`` in microsoft/mineworld, after VPT): the action is split into
*tasks*, each an exclusive choice among *groups*. Per task, precision, recall and F1 are computed
per group, then micro- and macro-averaged over groups; each average is then averaged over tasks.

Group rules, read from the texter's action phrases so any game of a family gets them:

* Atari (one task, ``"move"``): the phrase without its fire part. ``" and fire"`` is dropped,
  a bare ``"fire"`` reads as ``"do nothing"``, and the ``" (joystick ...)"`` suffix that tells
  apart meanings that read the same is dropped. Pong: ``"do nothing"`` (NOOP, FIRE),
  ``"move paddle up"`` (RIGHT, RIGHTFIRE), ``"move paddle down"`` (LEFT, LEFTFIRE). A game whose
  fire button shows on screen (a shot in Space Invaders) loses that: the IDM scores movement.
* Crafter (one task, ``"action"``): each move, ``"do nothing"``, ``"interact"`` and ``"sleep"`` is
  its own group; ``"place X"`` and ``"make X"`` become ``"place"`` and ``"make"`` (which item is
  hard to see at 64 pixels, and each is rare in play).
* MineRL vector actions (fields from the texter or the store): MineWorld's tasks
  ``back/forward``, ``left/right``, ``sneak/sprint`` (three-way with ``"none"``; both keys at once
  read as ``"none"``, as MineWorld does), and ``use``, ``attack``, ``jump``, ``drop`` (``"none"``
  or the key); plus ``camera pitch`` (``"none"``, ``"look up"``, ``"look down"``) and ``camera yaw``
  (``"none"``, ``"turn left"``, ``"turn right"``) split at half the texter's camera step (its own
  rounding), where MineWorld reports a separate camera loss instead. Tasks whose keys the layout
  lacks are left out.
* CS:GO vector actions (``csgo_texter.FIELDS``): the same exclusive tasks ``back/forward`` and
  ``left/right``, ``weapon1/weapon2/weapon3``, binary ``jump``, ``crouch``, ``walk``, ``fire``,
  ``scope``, ``reload``, and ``camera pitch`` / ``camera yaw`` from the mouse bins, where any
  non-zero bin is a turn (the split the text makes: every bin has its own phrase).
* Any other Discrete texter: each phrase is its own group.

Metrics follow sklearn's ``precision_recall_fscore_support`` with ``zero_division=0``: a group
never predicted has precision 0, a group never true has recall 0, and F1 is 0 when both are. The
macro average runs over the groups that occur in the truth or the predictions (sklearn's default
labels); micro precision, recall and F1 all equal the accuracy (one label per step).

Example:
    >>> g = atari_groups(["do nothing", "fire", "move paddle up", "move paddle down",
    ...                   "move paddle up and fire", "move paddle down and fire"])
    >>> g.tasks[0].groups, g.labels(np.array([0, 1, 4, 5]))[:, 0].tolist()
    (('do nothing', 'move paddle up', 'move paddle down'), [0, 0, 1, 2])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("table", "keys", "sign")
# MineWorld's exclusive key tasks and binary tasks (define_exclusive_classification_task).
MINEWORLD_EXCLUSIVE = (("back", "forward"), ("left", "right"), ("sneak", "sprint"))
MINEWORLD_BINARY = ("use", "attack", "jump", "drop")
CSGO_EXCLUSIVE = (("back", "forward"), ("left", "right"), ("weapon1", "weapon2", "weapon3"))
CSGO_BINARY = ("jump", "crouch", "walk", "fire", "scope", "reload")
_JOYSTICK = re.compile(r"\s*\(joystick [^)]*\)$")


@dataclass(frozen=True)
class GroupTask:
    """One exclusive choice among groups of actions.

    Args:
        name: the task, e.g. ``"move"`` or ``"back/forward"``.
        groups: group names, one label each (label ``i`` is ``groups[i]``).
        kind: how an action's group is read:
            ``"table"``: Discrete actions, ``index[a]`` is the group of action ``a``;
            ``"keys"``: vector actions, group ``i + 1`` when column ``index[i]`` is the only one
            on (> 0.5), else group 0 (``"none"``);
            ``"sign"``: vector actions, column ``index[0]``: group 1 below ``-threshold``,
            group 2 above ``threshold``, else group 0.
        index, threshold: see ``kind``.
    """

    name: str
    groups: tuple[str, ...]
    kind: str
    index: tuple[int, ...]
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if len(self.groups) < 2 or len(set(self.groups)) != len(self.groups):
            raise ValueError(f"task {self.name!r} needs at least 2 distinct groups, got {self.groups}")
        if self.kind == "table" and not all(0 <= i < len(self.groups) for i in self.index):
            raise ValueError(f"task {self.name!r}: table entries must lie in 0..{len(self.groups) - 1}")
        if self.kind == "keys" and len(self.index) != len(self.groups) - 1:
            raise ValueError(f"task {self.name!r}: 'keys' needs one column per group but 'none'")
        if self.kind == "sign" and (len(self.index) != 1 or len(self.groups) != 3 or self.threshold < 0):
            raise ValueError(f"task {self.name!r}: 'sign' needs one column, 3 groups and threshold >= 0")

    def labels(self, actions: np.ndarray) -> np.ndarray:
        """Group labels ``int64 (N,)`` of actions ``(N,)`` (table) or ``(N, D)`` (keys, sign)."""
        a = np.asarray(actions)
        if self.kind == "table":
            if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"task {self.name!r} needs integer actions (N,), got {a.dtype} {a.shape}")
            if len(a) and (a.min() < 0 or a.max() >= len(self.index)):
                raise ValueError(f"actions must lie in 0..{len(self.index) - 1}, got {a.min()}..{a.max()}")
            return np.asarray(self.index, np.int64)[a]
        if a.ndim != 2 or a.shape[1] <= max(self.index):
            raise ValueError(f"task {self.name!r} needs action vectors (N, > {max(self.index)}), "
                             f"got {a.shape}")
        if self.kind == "keys":
            on = a[:, list(self.index)] > 0.5                                      # (N, K)
            return np.where(on.sum(1) == 1, on.argmax(1) + 1, 0).astype(np.int64)
        v = a[:, self.index[0]].astype(np.float64)
        return np.where(v < -self.threshold, 1, np.where(v > self.threshold, 2, 0)).astype(np.int64)


@dataclass(frozen=True)
class ActionGroups:
    """The tasks an IDM predicts: ``labels(actions)`` is ``int64 (N, n_tasks)``.

    Example:
        >>> ActionGroups.identity(3).labels(np.array([2, 0]))[:, 0].tolist()
        [2, 0]
    """

    tasks: tuple[GroupTask, ...]

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("ActionGroups needs at least one task")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")

    @classmethod
    def identity(cls, n_actions: int, names: Sequence[str] | None = None) -> ActionGroups:
        """Each of ``n_actions`` Discrete actions its own group (named by ``names`` or index)."""
        names = [str(i) for i in range(n_actions)] if names is None else list(names)
        if len(names) != n_actions:
            raise ValueError(f"need {n_actions} names, got {len(names)}")
        return cls((GroupTask("action", tuple(names), "table", tuple(range(n_actions))),))

    @property
    def sizes(self) -> list[int]:
        """Number of groups per task."""
        return [len(t.groups) for t in self.tasks]

    def labels(self, actions: np.ndarray) -> np.ndarray:
        """``int64 (N, n_tasks)`` group labels of ``N`` actions."""
        return np.stack([t.labels(actions) for t in self.tasks], axis=1)

    def to_json(self) -> list[dict[str, Any]]:
        """A JSON-able description (inverse: :meth:`from_json`)."""
        return [{"name": t.name, "groups": list(t.groups), "kind": t.kind, "index": list(t.index),
                 "threshold": t.threshold} for t in self.tasks]

    @classmethod
    def from_json(cls, raw: Sequence[dict[str, Any]]) -> ActionGroups:
        """Inverse of :meth:`to_json`."""
        return cls(tuple(GroupTask(d["name"], tuple(d["groups"]), d["kind"], tuple(d["index"]),
                                   float(d.get("threshold", 0.0))) for d in raw))

    def describe(self) -> dict[str, list[str]]:
        """Task -> group names (for ``results.json``)."""
        return {t.name: list(t.groups) for t in self.tasks}


def _table_task(name: str, phrases: Sequence[str], group_of: Any) -> ActionGroups:
    groups = list(dict.fromkeys(group_of(p) for p in phrases))        # first appearance order
    return ActionGroups((GroupTask(name, tuple(groups), "table",
                                   tuple(groups.index(group_of(p)) for p in phrases)),))


def atari_group(phrase: str) -> str:
    """The movement group of an Atari action phrase (see the module docstring).

    Example:
        >>> atari_group("move paddle up and fire (joystick up-right and fire)"), atari_group("fire")
        ('move paddle up', 'do nothing')
    """
    p = _JOYSTICK.sub("", phrase.strip()).removesuffix(" and fire")
    return "do nothing" if p == "fire" else p


def atari_groups(phrases: Sequence[str]) -> ActionGroups:
    """One task ``"move"`` over the Atari action phrases, by :func:`atari_group`."""
    return _table_task("move", phrases, atari_group)


def crafter_group(phrase: str) -> str:
    """``"place stone"`` -> ``"place"``, ``"make wood pickaxe"`` -> ``"make"``, else the phrase."""
    verb = phrase.split(" ", 1)[0]
    return verb if verb in ("place", "make") else phrase


def crafter_groups(phrases: Sequence[str]) -> ActionGroups:
    """One task ``"action"`` over the Crafter action phrases, by :func:`crafter_group`."""
    return _table_task("action", phrases, crafter_group)


def minerl_groups(fields: Sequence[str], camera_step: float = 2.5) -> ActionGroups:
    """MineWorld's tasks over MineRL action vectors whose columns are ``fields``.

    Args:
        fields: ``MineRLTexter.vector_fields()`` (a store's ``extra["action_fields"]``).
        camera_step: the texter's camera step; turns under half of it count as none.
    """
    col = {f: i for i, f in enumerate(fields)}
    tasks = [GroupTask("/".join(keys), ("none", *keys), "keys", tuple(col[k] for k in keys))
             for keys in MINEWORLD_EXCLUSIVE if all(k in col for k in keys)]
    tasks += [GroupTask(k, ("none", k), "keys", (col[k],)) for k in MINEWORLD_BINARY if k in col]
    # MineRL camera = [pitch, yaw]; positive pitch looks down, positive yaw turns right.
    for field, name, neg, pos in (("camera_pitch", "camera pitch", "look up", "look down"),
                                  ("camera_yaw", "camera yaw", "turn left", "turn right")):
        if field in col:
            tasks.append(GroupTask(name, ("none", neg, pos), "sign", (col[field],), camera_step / 2))
    if not tasks:
        raise ValueError(f"no MineWorld action task applies to action fields {list(fields)}")
    return ActionGroups(tuple(tasks))


def csgo_groups(fields: Sequence[str]) -> ActionGroups:
    """CS:GO tasks over action vectors whose columns are ``fields`` (``CSGOTexter.vector_fields()``,
    a store's ``extra["action_fields"]``): keys as MineWorld splits them, mouse by sign.

    Example:
        >>> from tv2tv.envs.csgo_texter import FIELDS
        >>> [t.name for t in csgo_groups(FIELDS).tasks][:3]
        ['back/forward', 'left/right', 'weapon1/weapon2/weapon3']
    """
    col = {f: i for i, f in enumerate(fields)}
    tasks = [GroupTask("/".join(keys), ("none", *keys), "keys", tuple(col[k] for k in keys))
             for keys in CSGO_EXCLUSIVE if all(k in col for k in keys)]
    tasks += [GroupTask(k, ("none", k), "keys", (col[k],)) for k in CSGO_BINARY if k in col]
    # Positive mouse_y looks down, positive mouse_x turns right; the smallest bin is 2 counts, so a
    # threshold of 1 makes every non-zero bin a turn.
    for field, name, neg, pos in (("mouse_y", "camera pitch", "look up", "look down"),
                                  ("mouse_x", "camera yaw", "turn left", "turn right")):
        if field in col:
            tasks.append(GroupTask(name, ("none", neg, pos), "sign", (col[field],), 1.0))
    if not tasks:
        raise ValueError(f"no CS:GO action task applies to action fields {list(fields)}")
    return ActionGroups(tuple(tasks))


def groups_for_texter(texter: Any) -> ActionGroups:
    """The groups of a texter's actions (rule chosen by ``texter.name``, module docstring)."""
    if texter.name == "minerl":
        return minerl_groups(texter.vector_fields(), texter.camera_step)
    if texter.name == "csgo":
        return csgo_groups(texter.vector_fields())
    phrases = texter.action_phrases()
    if texter.name == "atari":
        return atari_groups(phrases)
    if texter.name == "crafter":
        return crafter_groups(phrases)
    return ActionGroups.identity(len(phrases), phrases)


def groups_for_env(env_name: str) -> ActionGroups:
    """The groups of a game built by ``make_env`` (it is built to read its texter).

    Example:
        >>> groups_for_env("ALE/Breakout-v5").describe()          # doctest: +SKIP
        {'move': ['do nothing', 'move paddle right', 'move paddle left']}
    """
    from tv2tv.envs.registry import make_env

    return _groups_of_built(make_env(env_name))


def _groups_of_built(env: Any) -> ActionGroups:
    """The groups of a built env's texter; closes ``env``."""
    from tv2tv.envs.registry import get_texter

    try:
        return groups_for_texter(get_texter(env))
    finally:
        env.close()


def groups_for_store(store: Any) -> ActionGroups:
    """The groups of a recorded store: MineRL and CS:GO from their action fields, others from their env.

    The env is rebuilt as the store recorded it (``record.env_for``: its frame size and options).
    """
    meta = store.meta
    if meta.texter in ("minerl", "csgo"):
        if "action_fields" not in meta.extra:
            raise ValueError(f"{meta.texter} store {getattr(store, 'root', '')} "
                             f"has no extra['action_fields']")
        if meta.texter == "csgo":
            return csgo_groups(meta.extra["action_fields"])
        return minerl_groups(meta.extra["action_fields"], float(meta.extra.get("camera_step", 2.5)))
    from tv2tv.recorders.record import env_for

    return _groups_of_built(env_for(meta))


# -- metrics -----------------------------------------------------------------------------------

def _prf(tp: np.ndarray, n_pred: np.ndarray, n_true: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.divide(tp, n_pred, out=np.zeros(len(tp)), where=n_pred > 0)
    r = np.divide(tp, n_true, out=np.zeros(len(tp)), where=n_true > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros(len(tp)), where=(p + r) > 0)
    return p, r, f


def classification_scores(true: np.ndarray, pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Precision, recall, F1 per class and their micro and macro averages (sklearn, zero_division=0).

    Args:
        true, pred: ``int (N,)`` labels in ``0..n_classes - 1``, ``N > 0``.

    Returns:
        ``{"accuracy", "micro": {precision, recall, f1}, "macro": {...}, "per_class":
        [{precision, recall, f1, support}, ...]}``.

    Example:
        >>> s = classification_scores(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
        >>> s["accuracy"], round(s["macro"]["f1"], 4), s["per_class"][2]["precision"]
        (0.5, 0.3889, 0.0)
    """
    t, p = np.asarray(true, np.int64), np.asarray(pred, np.int64)
    if t.shape != p.shape or t.ndim != 1 or len(t) == 0:
        raise ValueError(f"true and pred must be equal-length non-empty (N,) labels, "
                         f"got {t.shape}, {p.shape}")
    if min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    cm = np.bincount(t * n_classes + p,
                     minlength=n_classes ** 2).reshape(n_classes, n_classes)        # (true, pred)
    tp, n_true, n_pred = np.diag(cm).astype(float), cm.sum(1).astype(float), cm.sum(0).astype(float)
    prec, rec, f1 = _prf(tp, n_pred, n_true)
    seen = (n_true + n_pred) > 0                  # sklearn averages over labels present in either
    acc = float(tp.sum() / len(t))
    return {"accuracy": acc,
            "micro": {"precision": acc, "recall": acc, "f1": acc},
            "macro": {"precision": float(prec[seen].mean()), "recall": float(rec[seen].mean()),
                      "f1": float(f1[seen].mean())},
            "per_class": [{"precision": float(prec[c]), "recall": float(rec[c]), "f1": float(f1[c]),
                           "support": int(n_true[c])} for c in range(n_classes)]}


def group_scores(groups: ActionGroups, true: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """MineWorld's IDM report: per task and group scores, micro/macro averaged over tasks.

    Args:
        true, pred: ``int (N, n_tasks)`` group labels (``groups.labels`` of the intended actions,
            and the IDM's predictions).

    Returns:
        ``{"accuracy", "micro", "macro", "per_group", "per_task", "n"}``: ``accuracy`` and the
        ``micro``/``macro`` ``{precision, recall, f1}`` are means over tasks; ``per_group`` maps
        each group (``"task: group"`` when there are several tasks) to ``{precision, recall, f1,
        support}``; ``per_task`` holds each task's ``accuracy``, ``micro`` and ``macro``.
    """
    t, p = np.asarray(true), np.asarray(pred)
    if t.shape != p.shape or t.ndim != 2 or t.shape[1] != len(groups.tasks):
        raise ValueError(f"true and pred must be (N, {len(groups.tasks)}), got {t.shape} and {p.shape}")
    per_task, per_group = {}, {}
    for j, task in enumerate(groups.tasks):
        s = classification_scores(t[:, j], p[:, j], len(task.groups))
        per_task[task.name] = {k: s[k] for k in ("accuracy", "micro", "macro")}
        for g, cls in zip(task.groups, s["per_class"]):
            per_group[g if len(groups.tasks) == 1 else f"{task.name}: {g}"] = cls
    mean = {avg: {m: float(np.mean([v[avg][m] for v in per_task.values()]))
                  for m in ("precision", "recall", "f1")}
            for avg in ("micro", "macro")}
    return {"accuracy": float(np.mean([v["accuracy"] for v in per_task.values()])), **mean,
            "per_group": per_group, "per_task": per_task, "n": int(len(t))}
