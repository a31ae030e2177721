"""SearchPlanner with fake world models whose outcomes are known, and with a tiny real one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.envs.registry import get_texter, make_env
from tv2tv.planners.act import plan_actions
from tv2tv.planners.base import ImaginedRollout, PlanContext, segment_texts
from tv2tv.planners.model_planner import GeneratorImagination, ModelPlanner
from tv2tv.planners.objectives import reward_captions
from tv2tv.planners.search import ModelCandidates, PhraseCandidates, SearchPlanner
from tv2tv.types import TextEvent
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.rollout_model import SamplingConfig

PONG = make_env("ALE/Pong-v5", frame_size=32, seed=0)
TEXTER = get_texter(PONG)
CTX = PlanContext(np.zeros((3, 32, 32, 3), np.uint8), (TextEvent(1, "fire"),), frame_index=10, texter=TEXTER)


def _key(plan: Sequence[TextEvent]) -> tuple[tuple[int, str], ...]:
    return tuple((e.frame, e.text) for e in plan)


class FakeImagine:
    """Imagines a plan as the caption 'scored a point' written ``outcome[plan]`` times."""

    def __init__(self, outcome: dict, max_horizon: int = 16, frames_per_chunk: int = 2) -> None:
        self.outcome, self.max_horizon, self.frames_per_chunk = outcome, max_horizon, frames_per_chunk
        self.calls: list[int] = []

    def __call__(self, context, plans, horizon):
        self.calls.append(len(plans))
        frames = np.zeros((horizon, 32, 32, 3), np.uint8)
        return [ImaginedRollout(list(p), frames,
                                [(0, "; ".join(["scored a point"] * self.outcome.get(_key(p), 0)))])
                for p in plans]


def _const(text: str) -> list[TextEvent]:
    return [TextEvent(0, text, "plan")]


def test_picks_the_best_plan_in_one_batched_call() -> None:
    outcome = {_key(_const("move paddle up")): 1, _key(_const("move paddle down")): 3,
               _key(_const("fire")): 2}
    fake = FakeImagine(outcome)
    planner = SearchPlanner(fake, PhraseCandidates(), reward_captions(), horizon=8, replan_every=4)
    assert planner.plan(CTX) == _const("move paddle down")
    assert fake.calls == [len(TEXTER.action_phrases())]           # every candidate, one call
    assert planner.last_scores[planner.last_plans.index(_const("move paddle down"))] == 3.0


def test_ties_go_to_the_first_candidate_in_enumeration_order() -> None:
    outcome = {_key(_const("move paddle down")): 2, _key(_const("fire")): 2}
    planner = SearchPlanner(FakeImagine(outcome), PhraseCandidates(), reward_captions(), horizon=8)
    phrases = TEXTER.action_phrases()
    first = min(phrases.index("move paddle down"), phrases.index("fire"))
    for _ in range(3):  # deterministic: the same answer every time
        assert planner.plan(CTX) == _const(phrases[first])
    # a fixed candidate list: order decides
    fixed = [_const("move paddle down"), _const("fire")]
    assert SearchPlanner(FakeImagine(outcome), fixed, reward_captions(), 8).plan(CTX) == fixed[0]
    assert SearchPlanner(FakeImagine(outcome), fixed[::-1], reward_captions(), 8).plan(CTX) == fixed[1]


def test_two_segment_candidates_and_cap() -> None:
    phrases = TEXTER.action_phrases()
    all_plans = PhraseCandidates(segments=2, frames_per_chunk=2)(CTX, 8, np.random.default_rng(0))
    assert len(all_plans) == len(phrases) + len(phrases) * (len(phrases) - 1)
    assert all_plans[:len(phrases)] == [_const(p) for p in phrases]
    assert all(p[1].frame == 4 for p in all_plans[len(phrases):])
    capped = PhraseCandidates(segments=2, max_candidates=10, frames_per_chunk=2)
    a = capped(CTX, 8, np.random.default_rng(1))
    assert len(a) == 10 and a[:len(phrases)] == [_const(p) for p in phrases]
    assert a == capped(CTX, 8, np.random.default_rng(1))
    with pytest.raises(ValueError, match="max_candidates 3"):
        PhraseCandidates(max_candidates=3)(CTX, 8, np.random.default_rng(0))
    with pytest.warns(UserWarning, match="no room"):
        plans = PhraseCandidates(segments=2, frames_per_chunk=2)(CTX, 2, np.random.default_rng(0))
        assert len(plans) == len(phrases)


def test_pairs_can_win() -> None:
    pair = [TextEvent(0, "move paddle up", "plan"), TextEvent(4, "move paddle down", "plan")]
    planner = SearchPlanner(FakeImagine({_key(pair): 5}), 40, reward_captions(), horizon=8)
    assert planner.plan(CTX) == pair


@settings(max_examples=30, deadline=None)
@given(scores=st.lists(st.integers(-3, 3), min_size=36, max_size=36), cap=st.integers(6, 36),
       seed=st.integers(0, 100))
def test_planned_text_always_parses_to_valid_actions(scores: list[int], cap: int, seed: int) -> None:
    candidates = PhraseCandidates(segments=2, max_candidates=cap, frames_per_chunk=2)
    plans = candidates(CTX, 8, np.random.default_rng(seed))
    outcome = {_key(p): s for p, s in zip(plans, scores)}
    planner = SearchPlanner(FakeImagine(outcome), candidates, lambda r: outcome.get(_key(r.plan), 0),
                            horizon=8, seed=seed)
    plan = planner.plan(CTX)
    best = max(outcome.get(_key(p), 0) for p in planner.last_plans)
    assert outcome.get(_key(plan), 0) == best
    assert planner.last_plans.index(plan) == int(np.argmax(planner.last_scores))
    actions = plan_actions(plan, TEXTER, PONG.action_space, 8, current=0)
    assert len(actions) == 8 and all(PONG.action_space.contains(np.int64(a)) for a in actions)
    assert actions[0] == TEXTER.parse(plan[0].text)


def test_bad_input_is_named() -> None:
    fake = FakeImagine({}, max_horizon=8)
    with pytest.raises(ValueError, match="horizon 12 .* 8 frames"):
        SearchPlanner(fake, 6, reward_captions(), horizon=12)
    with pytest.raises(TypeError, match="str 'reward'"):
        SearchPlanner(fake, 6, "reward", horizon=4)
    with pytest.raises(ValueError, match="replan_every 6 .* horizon 4"):
        SearchPlanner(fake, 6, reward_captions(), horizon=4, replan_every=6)
    with pytest.raises(ValueError, match="NaN"):
        SearchPlanner(fake, 6, lambda r: float("nan"), horizon=4).plan(CTX)
    with pytest.raises(ValueError, match="not an action phrase"):
        PhraseCandidates(phrases=["jump"])(CTX, 4, np.random.default_rng(0))


def test_segment_texts_places_plan_text_before_its_chunk() -> None:
    plan = [TextEvent(0, "a", "plan"), TextEvent(1, "b", "plan"), TextEvent(4, "c", "plan"),
            TextEvent(9, "z", "plan")]
    assert segment_texts(plan, horizon=6, frames_per_chunk=2) == ["a; b", None, "c"]


# -- with a tiny random-weight world model (synthetic data; fixture in conftest.py) ---------------
@pytest.fixture(scope="module")
def gen(tiny_run: Path) -> Generator:
    return Generator.from_run(tiny_run, SamplingConfig(ode_steps=1, max_text_tokens=4))


def _synthetic_ctx(gen: Generator) -> PlanContext:
    from tv2tv.world_model.synthetic import SyntheticTexter

    frames = np.full((4, 16, 16, 3), 16, np.uint8)
    return PlanContext(frames, (TextEvent(1, "move up"), TextEvent(3, "wait")), 3, SyntheticTexter())


def test_generator_imagination_batches_plans(gen: Generator) -> None:
    imagine = GeneratorImagination(gen, seed=0)
    ctx = _synthetic_ctx(gen)
    plans = [[TextEvent(0, "move up", "plan")],
             [TextEvent(0, "move down", "plan"), TextEvent(2, "wait", "plan")]]
    out = imagine(ctx, plans, horizon=3)
    assert [r.plan for r in out] == plans
    assert all(r.frames.shape == (3, 16, 16, 3) and r.frames.dtype == np.uint8 for r in out)
    assert imagine.max_horizon == gen.cfg.sequence.window_frames
    with pytest.raises(ValueError, match=f"horizon 99 .* {imagine.max_horizon} frames"):
        imagine(ctx, plans, horizon=99)
    with pytest.raises(ValueError, match="horizon 99"):
        SearchPlanner(imagine, 6, reward_captions(), horizon=99)
    with pytest.raises(ValueError, match="context window"):
        ModelPlanner(gen, chunks=50)


def test_model_planner_and_model_candidates_only_plan_real_actions(gen: Generator) -> None:
    ctx = _synthetic_ctx(gen)
    planner = ModelPlanner(gen, chunks=2, seed=0)
    plan = planner.plan(ctx)
    assert planner.last_imagination is not None and planner.last_imagination.frames.shape[0] == 4
    for e in plan:
        assert e.text in ctx.texter.action_phrases() and 0 <= e.frame < 4
    plans = ModelCandidates(GeneratorImagination(gen), n=3)(ctx, 4, np.random.default_rng(0))
    assert plans and all(e.text in ctx.texter.action_phrases() for p in plans for e in p)
