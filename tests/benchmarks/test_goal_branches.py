"""Goal alternatives ("collect wood" vs "place stone"): suite validation, real-game branches played
by the explorer with a fixed goal, the plan text the model gets and the per-branch actions."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("crafter")

from tv2tv.benchmarks.branches import load_suite, make_branches, policy_goals  # noqa: E402
from tv2tv.benchmarks.models import WorldModelPredictor  # noqa: E402
from tv2tv.envs import make_env  # noqa: E402
from tv2tv.recorders.policies import make_policy  # noqa: E402
from tv2tv.recorders.policies.crafter import GOALS, ExplorerConfig  # noqa: E402
from tv2tv.types import TextEvent  # noqa: E402
from tv2tv.world_model.variants import variant_of  # noqa: E402

HEAD = "name: g\nenv: crafter\npolicy: crafter-explorer\nhorizon: 4\n"
TWO = "alternatives:\n  - {name: wood, goal: collect wood}\n  - {name: stone, goal: place stone}\n"


@pytest.fixture(scope="module")
def goal_branches():
    return make_branches("crafter", 3, 6, load_suite("crafter-goals"), seed=0, context_frames=4)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "suite.yaml"
    p.write_text(body)
    return p


def test_builtin_goal_suite_loads() -> None:
    suite = load_suite("crafter-goals")
    assert suite.env == "crafter" and suite.policy == "crafter-explorer"
    goals = [a.goal for a in suite.alternatives]
    assert {"collect wood", "place stone"} <= set(goals) and set(goals) <= set(GOALS)
    assert all(a.steps == () for a in suite.alternatives)
    assert suite.goal_args == {"epsilon": 0.0}
    with pytest.raises(ValueError, match="played per branch point"):
        suite.alternatives[0].script(None, 4)


def test_goal_suite_errors_name_the_entry(tmp_path: Path) -> None:
    both = HEAD + ("alternatives:\n  - {name: a, goal: collect wood, script: [{step: 0, text: noop}]}\n"
                   "  - {name: b, goal: eat}\n")
    with pytest.raises(ValueError, match=r"alternatives\[0\] \('a'\): give exactly one of 'script'"):
        load_suite(_write(tmp_path, both))
    neither = HEAD + "alternatives:\n  - {name: a}\n  - {name: b, goal: eat}\n"
    with pytest.raises(ValueError, match=r"\('a'\): give exactly one.*neither"):
        load_suite(_write(tmp_path, neither))
    with pytest.raises(ValueError, match=r"\('b'\): 'goal' must be a non-empty string"):
        load_suite(_write(tmp_path, HEAD + "alternatives:\n  - {name: a, goal: eat}\n"
                                           "  - {name: b, goal: 3}\n"))
    with pytest.raises(ValueError, match="'goal_args' must be a mapping"):
        load_suite(_write(tmp_path, HEAD + "goal_args: [1]\n" + TWO))
    with pytest.raises(ValueError, match="'goal_args' cannot set 'goal'"):
        load_suite(_write(tmp_path, HEAD + "goal_args: {goal: eat}\n" + TWO))
    with pytest.raises(ValueError, match=r"unknown keys \['goals'\]"):
        load_suite(_write(tmp_path, HEAD + "goals: x\n" + TWO))


def test_unknown_goal_and_goal_less_policy_are_refused(tmp_path: Path) -> None:
    bad = load_suite(_write(tmp_path, HEAD + TWO.replace("place stone", "build a castle")))
    with pytest.raises(ValueError,
                       match=r"alternative 'stone'.*no goal 'build a castle'; its goals: .*'collect wood'"):
        make_branches("crafter", 1, 4, bad)
    env = make_env("crafter", seed=0)
    with pytest.raises(ValueError, match="'build a castle'"):
        bad.check_goals(policy_goals("crafter-explorer", env))
    random = load_suite(_write(tmp_path, HEAD.replace("crafter-explorer", "random") + TWO))
    with pytest.raises(ValueError,
                       match=r"\['wood', 'stone'\] give goals, but policy 'random' cannot pursue goals"):
        make_branches("crafter", 1, 4, random)
    with pytest.raises(ValueError, match="unknown explorer goal 'fly'; known goals: .*'place stone'"):
        ExplorerConfig(goal="fly")


def test_same_seed_same_goal_branches(goal_branches) -> None:
    again = make_branches("crafter", 3, 6, load_suite("crafter-goals"), seed=0, context_frames=4)
    assert [b.frame for b in again] == [b.frame for b in goal_branches]
    for a, b in zip(again, goal_branches):
        assert np.array_equal(a.truth, b.truth)
        assert all(np.array_equal(x.actions, y.actions) and x.steps == y.steps
                   for x, y in zip(a.scripts, b.scripts))


def test_goal_futures_differ_and_actions_are_per_branch(goal_branches) -> None:
    names = [s.name for s in goal_branches[0].scripts]
    wood = names.index("wood")
    for b in goal_branches:
        assert b.truth.shape == (4, 6, 64, 64, 3)
        assert all(not np.array_equal(b.truth[wood], b.truth[k]) for k in range(4) if k != wood)
        assert all(s.actions.shape == (6,) for s in b.scripts)
    # Each branch point has its own explorer actions (no list shared by every branch).
    per_branch = {tuple(b.scripts[wood].actions.tolist()) for b in goal_branches}
    assert len(per_branch) > 1


def test_goal_script_replays_the_truth(goal_branches) -> None:
    """The stored actions are the ones that made the ground truth: replaying them from the
    branch state gives the same frames."""
    from tv2tv.envs.registry import clone_state, restore_state

    b = goal_branches[0]
    env = make_env("crafter", seed=b.episode_seed)
    obs, _ = env.reset(seed=b.episode_seed)
    player = make_policy("crafter-explorer", env, seed=0)
    for _ in range(b.frame):   # the collection policy's play up to the branch point
        obs, *_ = env.step(player(obs))
    assert np.array_equal(obs, b.last_frame)
    state = clone_state(env)
    for k, script in enumerate(b.scripts):
        restore_state(env, state)
        frames = [env.step(a)[0] for a in script.actions]
        assert np.array_equal(np.stack(frames), b.truth[k])


def test_fixed_goal_is_pursued() -> None:
    def play(goal: str, steps: int) -> tuple[set[str], int, set[str]]:
        env = make_env("crafter", seed=1)
        obs, _ = env.reset(seed=1)
        policy = make_policy("crafter-explorer", env, seed=1, goal=goal, epsilon=0.0)
        plans = set()
        for _ in range(steps):
            obs, _, _, _, info = env.step(policy(obs))
            plans.add(info["plan"])
        return {k for k, v in info["achievements"].items() if v}, info["inventory"]["wood"], plans

    wood, n_wood, plans = play("collect wood", 40)
    water, n_wood_water, water_plans = play("drink water", 40)
    assert "collect_wood" in wood and n_wood >= 3 and "collect_drink" not in wood
    assert "collect_drink" in water and n_wood_water == 0 and "collect_wood" not in water
    assert plans == {"goal: collect wood"} and water_plans == {"goal: drink water"}
    # "place stone" from scratch works through the chain before it (wood, table, pickaxe, stone).
    stone, _, stone_plans = play("place stone", 150)
    assert {"place_table", "make_wood_pickaxe", "collect_stone", "place_stone"} <= stone
    assert stone_plans == {"goal: place stone"}


def test_model_gets_the_explorers_plan_text(goal_branches) -> None:
    plans = {"wood": "goal: collect wood", "stone": "goal: place stone", "water": "goal: drink water",
             "eat": "goal: eat; next: hunt a cow"}                # as the explorer writes them
    for b in goal_branches:
        for s in b.scripts:
            want = plans[s.name]
            assert s.steps == ((0, want),)
            assert s.events(b.frame) == (TextEvent(b.frame + 1, want, "intervention"),)
    # The same wording is what the unfixed explorer writes into recordings.
    env = make_env("crafter", seed=0)
    obs, _ = env.reset(seed=0)
    obs, _, _, _, info = env.step(make_policy("crafter-explorer", env, seed=0)(obs))
    assert info["plan"] == "goal: collect wood"


class _FakeGenerator:
    """Records what ``WorldModelPredictor`` feeds a generator (texts per chunk, actions)."""

    def __init__(self, variant: str, shape: tuple[int, int, int]) -> None:
        self.cfg = SimpleNamespace(variant=variant, sequence=SimpleNamespace(text_separator=" | "))
        self.variant = variant_of(variant)
        self.frames_per_chunk, self.meta, self.shape = 2, None, shape
        self.texts: list[list[str | None]] = []
        self.actions: list[np.ndarray] = []

    def rollout_actions(self, actions: np.ndarray, n: int, batch: int) -> np.ndarray:
        assert actions.shape == (batch, n)
        return actions

    def start(self, context, batch: int, seed: int, plan=None):  # noqa: ANN001, ANN201
        assert plan is None                          # only interleaved variants are faked here
        def step(texts, actions=None):  # noqa: ANN001, ANN202
            self.texts.append(list(texts))
            if actions is not None:
                self.actions.append(actions)
            return np.zeros((batch, self.frames_per_chunk, *self.shape), np.uint8), None
        return SimpleNamespace(step=step)


@pytest.mark.parametrize("variant", ["text", "action-id"])
def test_predictor_gets_plan_text_or_per_branch_actions(goal_branches, variant: str) -> None:
    gen = _FakeGenerator(variant, goal_branches[0].frame_shape)
    pred = WorldModelPredictor(gen, variant)
    for b in goal_branches:   # as predict_all in controllability.py does
        pred.predict(b, list(b.scripts), 6, seed=b.index)
    chunks = 3                                          # horizon 6, 2 frames per chunk
    assert len(gen.texts) == chunks * len(goal_branches)
    for i, b in enumerate(goal_branches):
        first = gen.texts[i * chunks]
        if variant == "text":
            assert first == [s.steps[0][1] for s in b.scripts] and all(t.startswith("goal: ") for t in first)
        else:                                           # an action-id model takes no text
            assert all(t is None for t in first)
        assert all(t is None for later in gen.texts[i * chunks + 1:(i + 1) * chunks] for t in later)
        if variant == "action-id":
            got = np.concatenate(gen.actions[i * chunks:(i + 1) * chunks], axis=1)
            assert np.array_equal(got, np.stack([s.actions for s in b.scripts]))
    assert (variant == "action-id") == bool(gen.actions)

