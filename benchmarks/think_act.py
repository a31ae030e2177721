"""Think-act consistency: do the frames a model generates follow the action text it wrote itself?

A counterfactual score asks whether a model follows *our* text. This asks whether it follows its
*own*: in a free rollout (no interventions) from a branch point's context, a text model writes the
text of every chunk and then generates the chunk. The game's texter parses the action phrases of
that text (``action_indices``, by ``planners.model_planner.action_phrases_in``; captions and
anything else are skipped); the IDM reads each
generated frame's action groups from the frames; a frame is consistent when they agree.

Which frames a phrase states (``stated_by_chunk``), as each layout writes its text:

* ``text`` (interleaved): the text before a chunk is its frames' text, so the last action phrase
  written before a chunk (in that chunk's text or, as the texter holds an action, an earlier
  one) states every frame of the chunk.
* ``plan-first``: a window's plan comes before its frames; its action phrases, in order, state the
  window's generated chunks, one phrase each (the last holds to the window's end), as a recording
  with about one action phrase per chunk writes them (the quickstart's stores: text every 2
  steps, 2 frames per chunk). A new window's plan replaces the old one.

Frames before the model's first action phrase are not scored (the context's text is not the
model's own). **Chance** is the score of the same frames against stated actions drawn
independently of them, from the model's own frequencies of stated groups: per frame,
``mean over tasks of p_task(group the IDM reads)``. A model whose frames ignore its text scores
chance whatever it writes; the paired test (``tv2tv.benchmarks.stats``, over branch points)
compares the two. The IDM's accuracy on real held-out play is the ceiling.

Example:
    >>> from tv2tv.world_model.interventions import TranscriptEntry as E
    >>> parse = {"up": [1], "down": [2], "scored": []}.__getitem__
    >>> steps = [[E(0, "up", "model")], [], [E(4, "down", "model")]]
    >>> stated_by_chunk(steps, parse, plan_first=False), stated_by_chunk(steps, parse, plan_first=True)
    ([1, 1, 2], [1, 1, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tv2tv.benchmarks.idm import IDM, future_windows
from tv2tv.benchmarks.models import FreeRollouts
from tv2tv.benchmarks.scorers import ci95
from tv2tv.benchmarks.stats import Paired, paired_test
from tv2tv.planners.model_planner import action_phrases_in
from tv2tv.world_model.interventions import TranscriptEntry

NOT_STATED = -1  # a frame before the model's first action phrase


def action_indices(text: str, texter: Any, separator: str) -> list[int]:
    """The actions of ``text``'s action phrases, in order (``action_phrases_in``: the pieces the
    texter parses; captions are skipped), each parsed by ``texter``.

    Raises:
        TypeError: the texter's actions are not single integers (think-act needs a Discrete texter).
    """
    out = []
    for phrase in action_phrases_in(text, texter, separator):
        action = texter.parse(phrase)
        if not isinstance(action, (int, np.integer)) or isinstance(action, bool):
            raise TypeError(f"think-act consistency needs one integer action per phrase (a Discrete "
                            f"texter); parse({phrase!r}) gave {action!r}")
        out.append(int(action))
    return out


def stated_by_chunk(steps: Sequence[Sequence[TranscriptEntry]], actions_of: Callable[[str], list[int]],
                    plan_first: bool) -> list[int | None]:
    """The action the model's own text states for each generated chunk (module docstring).

    Args:
        steps: per generated chunk, the transcript entries of one rollout (only ``"model"`` ones count).
        actions_of: text -> its actions in order (``action_indices`` with the texter's ``parse``).
        plan_first: the model's layout.

    Returns:
        One action per chunk, ``None`` before the model's first action phrase.
    """
    out: list[int | None] = []
    held: int | None = None
    queue: list[int] = []
    for entries in steps:
        new = [a for e in entries if e.source == "model" for a in actions_of(e.text)]
        if plan_first:
            if new:
                queue = new
            if queue:
                held = queue.pop(0)
        elif new:
            held = new[-1]
        out.append(held)
    return out


def stated_frames(rollouts: FreeRollouts, actions_of: Callable[[str], list[int]], plan_first: bool,
                  frames_per_chunk: int) -> np.ndarray:
    """``int (R, horizon)``: each generated frame's stated action, ``NOT_STATED`` where none is."""
    r, horizon = rollouts.frames.shape[:2]
    if any(len(step) != r for step in rollouts.entries):
        raise ValueError(f"entries must hold one list per rollout ({r}) at every chunk, got "
                         f"{[len(step) for step in rollouts.entries]}")
    out = np.full((r, horizon), NOT_STATED, dtype=np.int64)
    for i in range(r):
        chunks = stated_by_chunk([step[i] for step in rollouts.entries], actions_of, plan_first)
        for j, a in enumerate(chunks):
            if a is not None:
                out[i, j * frames_per_chunk:(j + 1) * frames_per_chunk] = a
    return out


def score_think_act(idm: IDM, branches: Sequence[Any], rollouts: Sequence[FreeRollouts],
                    stated: Sequence[np.ndarray]) -> dict[str, Any]:
    """Think-act consistency of one model over its free rollouts, against chance.

    Args:
        idm: reads each generated frame's action groups (windows start from the branch's context).
        branches: the branch points (their ``context_frames``).
        rollouts: the free rollouts, one entry per branch.
        stated: per branch, ``int (R, horizon)`` from :func:`stated_frames`.

    Returns:
        ``consistency`` and ``chance`` (means over (branch, rollout) items with a stated frame) with
        their ``*_ci95``; ``test``: the paired test of consistency against chance (difference, ci95,
        p_value, n_branches, n_items); ``stated_share`` (frames with a stated action);
        ``stated_groups`` and ``idm_groups`` (per task, each group's share of the stated frames, as
        the text states them and as the IDM reads them); ``n_rollouts``; ``per_branch`` (item scores,
        ``None`` for a rollout without a stated frame).
    """
    if not (len(branches) == len(rollouts) == len(stated)) or not branches:
        raise ValueError(f"need one rollout set and one stated array per branch, got {len(branches)} "
                         f"branches, {len(rollouts)} rollout sets, {len(stated)} stated arrays")
    windows, rows = [], []
    for b, ro, st in zip(branches, rollouts, stated):
        if st.shape != ro.frames.shape[:2]:
            raise ValueError(f"stated {st.shape} must match the rollouts' (R, horizon) {ro.frames.shape[:2]}")
        for k in range(ro.frames.shape[0]):
            windows.append(future_windows(b.context_frames, ro.frames[k], idm.n_frames))
            rows.append(st[k])
    flat = np.concatenate(rows)                                    # (N,) stated action per frame
    read = idm.predict(np.concatenate(windows))                    # (N, tasks) groups read from frames
    mask = flat != NOT_STATED
    sizes = idm.groups.sizes
    if mask.any():
        true = idm.groups.labels(flat[mask])                        # (M, tasks)
        freq = [np.bincount(true[:, t], minlength=n) / len(true) for t, n in enumerate(sizes)]
        hit = np.full(len(flat), np.nan)
        hit[mask] = (true == read[mask]).mean(axis=1)
        base = np.full(len(flat), np.nan)
        base[mask] = np.mean([freq[t][read[mask, t]] for t in range(len(sizes))], axis=0)
    else:
        true, freq = np.zeros((0, len(sizes)), np.int64), [np.zeros(n) for n in sizes]
        hit = base = np.full(len(flat), np.nan)
    r, horizon = stated[0].shape
    cons_items = _items(hit, len(branches), r, horizon)
    chance_items = _items(base, len(branches), r, horizon)
    test = paired_test(cons_items, chance_items) if mask.any() else Paired(float("nan"), None, None, 0, 0)
    names = idm.groups.describe()

    def shares(labels: np.ndarray) -> dict[str, dict[str, float]]:
        return {task: {g: float(np.mean(labels[:, t] == j)) if len(labels) else 0.0
                       for j, g in enumerate(groups)}
                for t, (task, groups) in enumerate(names.items())}

    return {
        "consistency": _mean(cons_items), "consistency_ci95": ci95(cons_items),
        "chance": _mean(chance_items), "chance_ci95": ci95(chance_items),
        "test": {"difference": None if np.isnan(test.difference) else test.difference,
                 "ci95": None if test.ci95 is None else list(test.ci95),
                 "p_value": test.p_value, "n_branches": test.n_branches, "n_items": test.n_items},
        "stated_share": float(mask.mean()),
        "stated_groups": shares(true), "idm_groups": shares(read[mask]),
        "n_rollouts": len(branches) * r,
        "per_branch": [[None if np.isnan(v) else float(v) for v in row] for row in cons_items],
    }


def think_act(predictor: Any, branches: Sequence[Any], horizon: int, seed: int, idm: IDM) -> dict[str, Any]:
    """:func:`score_think_act` of a ``WorldModelPredictor`` that writes text, over one set of free
    rollouts per branch point (as many as the branch has alternatives, so it costs one prediction),
    parsed by the texter that wrote its training text (``texter_for``); adds ``variant``.
    """
    from tv2tv.world_model.texters import texter_for

    gen = predictor.generator
    texter = texter_for(gen.meta)
    sep = gen.cfg.sequence.text_separator
    plan_first = gen.variant.plan_first

    def actions_of(text: str) -> list[int]:
        return action_indices(text, texter, sep)

    rollouts = [predictor.free_rollouts(b, len(b.scripts), horizon, seed + b.index) for b in branches]
    stated = [stated_frames(r, actions_of, plan_first, gen.frames_per_chunk) for r in rollouts]
    return {"variant": gen.cfg.variant, **score_think_act(idm, branches, rollouts, stated)}


def _items(per_frame: np.ndarray, n_branches: int, r: int, horizon: int) -> np.ndarray:
    """``(branches, rollouts)``: each rollout's mean over its stated frames (``nan`` without one)."""
    x = per_frame.reshape(n_branches, r, horizon)
    n = (~np.isnan(x)).sum(axis=2)
    total = np.nansum(x, axis=2)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _mean(items: np.ndarray) -> float | None:
    return None if np.isnan(items).all() else float(np.nanmean(items))
