"""Planners acting in real Pong: the receding-horizon loop, baselines, videos, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from tv2tv.benchmarks.planning import random_world_model
from tv2tv.cli import main
from tv2tv.envs.registry import get_texter, make_env
from tv2tv.planners.act import game_counts, plan_actions, run_planner
from tv2tv.planners.base import ImaginedRollout, PlanContext
from tv2tv.planners.objectives import reward_captions
from tv2tv.planners.scripted import ScriptedPlanner
from tv2tv.planners.search import SearchPlanner
from tv2tv.types import TextEvent

TINY = ["model.dim=32", "model.depth=2", "model.heads=2", "sequence.frames_per_chunk=2", "sequence.patch=8"]


class PaddleImagine:
    """A fake world model: 'scored a point' for plans that move the paddle up."""

    max_horizon, frames_per_chunk = 16, 2

    def __init__(self) -> None:
        self.contexts: list[PlanContext] = []

    def __call__(self, context, plans, horizon):
        self.contexts.append(context)
        f = np.repeat(context.frames[-1:], horizon, axis=0)
        return [ImaginedRollout(list(p), 255 - f,
                                [(0, "scored a point")] if p[0].text == "move paddle up" else [])
                for p in plans]


def test_run_planner_on_real_pong(tmp_path: Path) -> None:
    imagine = PaddleImagine()
    planner = SearchPlanner(imagine, 6, reward_captions(), horizon=4, replan_every=4)
    res = run_planner("ALE/Pong-v5", planner, episodes=1, max_steps=30, seed=3, out=tmp_path,
                      frame_size=32, context_frames=3, name="search")
    assert set(res["runs"]) == {"planner", "random", "scripted"}
    ep = res["runs"]["planner"][0]
    assert ep["steps"] == 30 and ep["decisions"] == 8                         # ceil(30 / 4)
    assert {"points_won", "points_lost", "return"} <= set(ep)
    assert all(r[0]["steps"] == 30 for r in res["runs"].values())
    assert res["decision_latency_s"]["decisions"] == 8
    # the planner saw real context: 3 frames, growing frame index, the real texter
    assert [c.frame_index for c in imagine.contexts] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert imagine.contexts[-1].frames.shape == (3, 32, 32, 3)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"]["planner"]["steps_mean"] == 30
    assert "search (planner)" in (tmp_path / "report.md").read_text()
    video = tmp_path / res["videos"][0]
    assert video.is_file() and video.stat().st_size > 1000


def test_plan_is_executed_in_the_real_game() -> None:
    """Every executed action is the parse of the plan in force (up only), checked step by step."""
    env = make_env("ALE/Pong-v5", frame_size=32, seed=0)
    texter = get_texter(env)
    actions: list[int] = []
    real_step = env.step

    def spy(action):
        actions.append(int(action))
        return real_step(action)

    env.step = spy  # type: ignore[method-assign]
    from tv2tv.planners.act import play_planner

    planner = SearchPlanner(PaddleImagine(), 6, reward_captions(), horizon=4, replan_every=2)
    run = play_planner(env, planner, seed=0, max_steps=10, context_frames=2)
    assert actions == [texter.parse("move paddle up")] * 10
    assert len(run.frames) == 11 and any(e.source == "plan" for e in run.events)


def test_plan_actions_holds_and_validates() -> None:
    env = make_env("ALE/Pong-v5", frame_size=32, seed=0)
    texter = get_texter(env)
    up, down = texter.parse("move paddle up"), texter.parse("move paddle down")
    plan = [TextEvent(1, "move paddle up", "plan"), TextEvent(3, "move paddle down", "plan")]
    assert plan_actions(plan, texter, env.action_space, 5, current=0) == [0, up, up, down, down]
    with pytest.raises(ValueError, match="'jump'"):
        plan_actions([TextEvent(0, "jump", "plan")], texter, env.action_space, 2, current=0)
    with pytest.raises(ValueError, match="outside"):
        plan_actions([TextEvent(0, "fire", "plan")], texter, gym.spaces.Discrete(1), 2, current=0)


def test_scripted_planner_shifts_and_loops() -> None:
    texter = get_texter(make_env("ALE/Pong-v5", frame_size=32))
    planner = ScriptedPlanner("0: move paddle up; 5: move paddle down", period=10)
    ctx = lambda t: PlanContext(np.zeros((1, 8, 8, 3), np.uint8), (), t, texter)  # noqa: E731
    assert [(e.frame, e.text) for e in planner.plan(ctx(7))] == [
        (0, "move paddle down"), (3, "move paddle up"), (8, "move paddle down")]
    assert planner.plan(ctx(0))[0] == TextEvent(0, "move paddle up", "plan")
    with pytest.raises(ValueError, match="frame 3 is not an action phrase"):
        ScriptedPlanner("3: jump").plan(ctx(0))
    with pytest.raises(ValueError, match="period 4"):
        ScriptedPlanner("0: fire; 6: fire", period=4)


def test_game_counts() -> None:
    assert game_counts("breakout", [1, 0, 4, 7], 2) == {
        "return": 12.0, "steps": 4, "positive_rewards": 3, "negative_rewards": 0, "lives_lost": 2,
        "bricks": 3}
    pong = game_counts("pong", [1, -1, -1, 0], 0)
    assert (pong["points_won"], pong["points_lost"]) == (1, 2)


def test_cli_errors_name_the_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--env", "ALE/Pong-v5", "--planner", "greedy", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown planner 'greedy'" in err and "scripted, model, search" in err
    assert main(["plan", "--env", "ALE/Pong-v5", "--planner", "search", "--out", str(tmp_path)]) == 2
    assert "--ckpt" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:horizon 2 has no room")
def test_cli_scripted_and_search(tmp_path: Path) -> None:
    out = tmp_path / "scripted"
    assert main(["plan", "--env", "ALE/Pong-v5", "--planner", "scripted", "--script", "0: move paddle up",
                 "--episodes", "1", "--max-steps", "12", "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["runs"]["planner"][0]["steps"] == 12
    run = random_world_model("ALE/Pong-v5", tmp_path / "run", frame_size=16, preset=None, overrides=TINY)
    out = tmp_path / "search"
    assert main(["plan", "--ckpt", str(run), "--env", "ALE/Pong-v5", "--planner", "search",
                 "--candidates", "6", "--horizon", "2", "--replan-every", "2", "--episodes", "1",
                 "--max-steps", "4", "--baselines", "random", "--ode-steps", "1", "--max-text-tokens", "2",
                 "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["runs"]["planner"][0]["decisions"] == 2 and set(res["runs"]) == {"planner", "random"}
    assert (out / res["videos"][0]).is_file()
    assert main(["plan", "--ckpt", str(run), "--env", "ALE/Pong-v5", "--planner", "search", "--horizon", "64",
                 "--out", str(out)]) == 2
