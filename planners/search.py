"""``SearchPlanner``: imagine candidate text plans, score them, act on the best (MPC).

Every decision: build candidate plans (enumerated from the texter's action phrases, or sampled
from the model), imagine ALL of them with one batched world-model call (``imagine(context,
plans, horizon)``), score each imagined rollout with the objective, and return the best plan.
The act loop executes its first ``replan_every`` steps and asks again: receding-horizon model
predictive control, as in MPC with learned models (e.g. PlaNet's CEM planner), with text plans
instead of action sequences.

Tie-breaking is deterministic: among equal best scores the candidate that comes FIRST in the
enumeration order wins (``numpy.argmax``). ``PhraseCandidates`` lists the constant plans first,
in the texter's action order, then two-segment plans, so a tie prefers the simpler plan.

Example:
    >>> imagine = GeneratorImagination(Generator.from_run("runs/pong-tiny"))          # doctest: +SKIP
    >>> planner = SearchPlanner(imagine, PhraseCandidates(), reward_captions(), horizon=8)  # doctest: +SKIP
    >>> planner.plan(context)                                                          # doctest: +SKIP
    [TextEvent(frame=0, text='move paddle up', source='plan')]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tv2tv.config import check_int
from tv2tv.planners.base import Imagine, ImaginedRollout, Objective, PlanContext, check_objective
from tv2tv.planners.model_planner import action_phrases_in
from tv2tv.types import TextEvent

Plan = list[TextEvent]
CandidateSource = Callable[[PlanContext, int, np.random.Generator], list[Plan]]
"""``candidates(context, horizon, rng) -> plans`` (plans' frames are steps from now)."""


def _frames_per_chunk(imagine: Any) -> int:
    """The imagination's chunk length: plans change text only where a chunk starts."""
    if not hasattr(imagine, "frames_per_chunk"):
        raise TypeError(f"imagine must have frames_per_chunk (the world model's chunk length), "
                        f"got {type(imagine).__name__} {imagine!r}")
    return check_int("imagine.frames_per_chunk", imagine.frames_per_chunk, 1)


@dataclass
class PhraseCandidates:
    """Plans enumerated from the texter's action phrases.

    First one constant plan per phrase (in the texter's order); with ``segments=2`` then every
    ordered pair of different phrases, the second from the chunk boundary nearest the middle of
    the horizon. Beyond ``max_candidates`` the constant plans are kept and the pairs are
    subsampled with the planner's seeded generator (in enumeration order).

    Args:
        segments: 1 (constant plans) or 2 (also pairs).
        max_candidates: the most plans per decision (``None``: all).
        phrases: the phrases to use (default: ``texter.action_phrases()``).
        frames_per_chunk: the world model's chunk length; segment changes fall on chunk starts.
    """

    segments: int = 1
    max_candidates: int | None = None
    phrases: Sequence[str] | None = None
    frames_per_chunk: int = 1

    def __post_init__(self) -> None:
        if self.segments not in (1, 2):
            raise ValueError(f"segments must be 1 or 2, got {self.segments!r}")
        if self.max_candidates is not None:
            check_int("max_candidates", self.max_candidates, 1)
        check_int("frames_per_chunk", self.frames_per_chunk, 1)
        self._warned = False

    def __call__(self, context: PlanContext, horizon: int, rng: np.random.Generator) -> list[Plan]:
        phrases = list(dict.fromkeys(self.phrases if self.phrases is not None
                                     else context.texter.action_phrases()))
        if not phrases:
            raise ValueError("no action phrases to plan with")
        for p in phrases:
            context.texter.parse(p)  # a phrase the real game cannot take fails here, naming it
        plans = [[TextEvent(0, p, "plan")] for p in phrases]
        f = self.frames_per_chunk
        split = max(f, (horizon // 2) // f * f)
        pairs: list[Plan] = []
        if self.segments == 2:
            if split >= horizon and not self._warned:
                self._warned = True
                warnings.warn(f"horizon {horizon} has no room for two segments of {f}-frame chunks; "
                              f"using constant plans only", stacklevel=2)
            elif split < horizon:
                pairs = [[TextEvent(0, a, "plan"), TextEvent(split, b, "plan")]
                         for a in phrases for b in phrases if a != b]
        cap = self.max_candidates
        if cap is not None and len(plans) + len(pairs) > cap:
            if cap < len(plans):
                raise ValueError(f"max_candidates {cap} is below the {len(plans)} constant plans; "
                                 f"use at least {len(plans)} or pass fewer phrases")
            keep = np.sort(rng.choice(len(pairs), cap - len(plans), replace=False))
            pairs = [pairs[i] for i in keep]
        return plans + pairs


class ModelCandidates:
    """Plans the model writes itself: ``n`` free rollouts (one batched call), whose action
    phrases become the plans (duplicates and plans without any action dropped, first kept).

    Args:
        imagine: a ``GeneratorImagination`` (its generator samples the text).
        n: rollouts sampled per decision.
    """

    def __init__(self, imagine: Any, n: int = 8) -> None:
        self.imagine, self.n = imagine, check_int("n", n, 1)

    def __call__(self, context: PlanContext, horizon: int, rng: np.random.Generator) -> list[Plan]:
        f = _frames_per_chunk(self.imagine)
        sep = self.imagine.gen.cfg.sequence.text_separator
        free = self.imagine(context, [[] for _ in range(self.n)], horizon)
        plans: dict[tuple[tuple[int, str], ...], Plan] = {}
        for r in free:
            plan = []
            for frame, text in r.texts:
                plan += [TextEvent(frame + min(i, f - 1), p, "plan")
                         for i, p in enumerate(action_phrases_in(text, context.texter, sep))]
            if plan:
                plans.setdefault(tuple((e.frame, e.text) for e in plan), plan)
        return list(plans.values()) or [[]]


class SearchPlanner:
    """Best-of-candidates planning with a world model, re-planned every ``replan_every`` steps.

    Args:
        imagine: ``imagine(context, plans, horizon) -> list[ImaginedRollout]``, one batched call.
            Its ``max_horizon`` (if it has one) bounds ``horizon``.
        candidates: a candidate source ``(context, horizon, rng) -> plans``; an int ``N`` for
            ``PhraseCandidates(segments=2, max_candidates=N)``; or a fixed list of plans.
        objective: ``ImaginedRollout -> float``, higher is better (``planners.objectives``).
        horizon: imagined frames per plan.
        replan_every: real steps between decisions (default: half the horizon, at least 1).
        seed: seeds the generator candidate sources draw from (pair subsampling).

    Raises:
        TypeError: ``objective`` is not callable.
        ValueError: ``horizon`` beyond the model's context window (both numbers named), or
            ``replan_every`` beyond the horizon.
    """

    def __init__(self, imagine: Imagine | Callable[..., list[ImaginedRollout]],
                 candidates: CandidateSource | int | Sequence[Plan], objective: Objective,
                 horizon: int = 8, replan_every: int | None = None, seed: int = 0) -> None:
        self.objective = check_objective(objective)
        self.horizon = check_int("horizon", horizon, 1)
        limit = getattr(imagine, "max_horizon", None)
        if limit is not None and self.horizon > limit:
            raise ValueError(f"horizon {self.horizon} is longer than the model's context window "
                             f"of {limit} frames")
        self.replan_every = check_int("replan_every", max(1, horizon // 2) if replan_every is None
                                      else replan_every, 1)
        if self.replan_every > self.horizon:
            raise ValueError(f"replan_every {self.replan_every} is longer than the horizon {self.horizon}: "
                             f"steps past the plan would have no plan")
        self.imagine = imagine
        self.candidates = self._source(candidates, imagine)
        self.rng = np.random.default_rng(seed)
        self.last_plans: list[Plan] = []
        self.last_scores: list[float] = []
        self.last_imagination: ImaginedRollout | None = None

    @staticmethod
    def _source(candidates: Any, imagine: Any) -> CandidateSource:
        if isinstance(candidates, bool):
            raise TypeError(f"candidates must be a source, an int or a list of plans, got {candidates!r}")
        if isinstance(candidates, (int, np.integer)):
            n = check_int("candidates", candidates, 1)
            return PhraseCandidates(2, n, None, _frames_per_chunk(imagine))
        if callable(candidates):
            return candidates
        if isinstance(candidates, Sequence) and candidates:
            fixed = [list(p) for p in candidates]
            for i, p in enumerate(fixed):
                if not all(isinstance(e, TextEvent) for e in p):
                    raise TypeError(f"candidate plan {i} must be a list of TextEvents, got {p!r}")
            return lambda context, horizon, rng: [list(p) for p in fixed]
        raise TypeError(f"candidates must be a source, an int or a non-empty list of plans, "
                        f"got {candidates!r}")

    def score(self, context: PlanContext, plans: list[Plan]) -> tuple[list[ImaginedRollout], list[float]]:
        """Imagine ``plans`` (one batched call) and score each."""
        rollouts = self.imagine(context, plans, self.horizon)
        if len(rollouts) != len(plans):
            raise ValueError(f"imagine returned {len(rollouts)} rollouts for {len(plans)} plans")
        scores = []
        for i, r in enumerate(rollouts):
            s = float(self.objective(r))
            if math.isnan(s):
                raise ValueError(f"the objective scored candidate {i} ({[e.text for e in plans[i]]}) as NaN")
            scores.append(s)
        return rollouts, scores

    def plan(self, context: PlanContext) -> Plan:
        """The best candidate plan (first in enumeration order among equal scores)."""
        plans = self.candidates(context, self.horizon, self.rng)
        if not plans:
            raise ValueError("the candidate source returned no plans")
        rollouts, scores = self.score(context, plans)
        best = int(np.argmax(scores))  # the first maximum: deterministic tie-breaking
        self.last_plans, self.last_scores, self.last_imagination = plans, scores, rollouts[best]
        return list(plans[best])
