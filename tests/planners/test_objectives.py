"""Objectives: reward captions, goal-frame distance, user callables and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tv2tv.planners.base import ImaginedRollout, check_objective
from tv2tv.planners.objectives import (
    ball_path,
    goal_frame_distance,
    make_objective,
    reward_captions,
    track_ball,
)


def _rollout(texts=(), frames=None) -> ImaginedRollout:
    frames = np.zeros((2, 4, 4, 3), np.uint8) if frames is None else frames
    return ImaginedRollout([], frames, [(i, t) for i, t in enumerate(texts)])


def test_reward_captions_sums_default_weights() -> None:
    obj = reward_captions()
    assert obj(_rollout(["scored a point"])) == 1.0
    assert obj(_rollout(["Scored a point; lost a life", "lost a point"])) == -1.0
    assert obj(_rollout(["scored 3 points", "lost 2 points"])) == 1.0
    assert obj(_rollout(["move paddle up"])) == 0.0
    # whole words only: "lost a pointer" is not a caption
    assert obj(_rollout(["lost a pointer"])) == 0.0


def test_reward_captions_custom_weights_and_bad_weights() -> None:
    obj = reward_captions({"collect wood": 0.5, "lost a life": -10})
    assert obj(_rollout(["collect wood", "collect wood; lost a life"])) == pytest.approx(-9.0)
    with pytest.raises(ValueError, match="'collect wood'"):
        reward_captions({"collect wood": float("nan")})
    with pytest.raises(ValueError, match="caption"):
        reward_captions({"": 1.0})


def test_goal_frame_distance_ranks_closer_frames_higher() -> None:
    goal = np.full((4, 4, 3), 200, np.uint8)
    obj = goal_frame_distance(goal)
    exact = obj(_rollout(frames=np.stack([np.zeros_like(goal), goal])))
    near = obj(_rollout(frames=np.full((2, 4, 4, 3), 180, np.uint8)))
    far = obj(_rollout(frames=np.zeros((2, 4, 4, 3), np.uint8)))
    assert exact == 0.0 and exact > near > far
    with pytest.raises(ValueError, match="shape"):
        obj(_rollout(frames=np.zeros((1, 8, 8, 3), np.uint8)))
    with pytest.raises(ValueError, match="goal"):
        goal_frame_distance(np.zeros((4, 4), np.uint8))


def _pong(paddle_top: int | None, ball_row: int | None) -> np.ndarray:
    f = np.zeros((210, 160, 3), np.uint8)
    f[:] = (144, 72, 17)
    if paddle_top is not None:
        f[paddle_top:paddle_top + 16, 140:144] = (92, 186, 92)
    if ball_row is not None:
        f[ball_row:ball_row + 4, 80:82] = (236, 236, 236)
    return f


def test_track_ball_prefers_the_paddle_level_with_where_the_ball_will_be() -> None:
    obj = make_objective("track", game="pong")
    # observed: the ball 4 rows lower each step, at row 100 now; it will be at 104, then 108
    seen = np.stack([_pong(60, 96), _pong(60, 100)])
    level = obj(ImaginedRollout([], np.stack([_pong(96, None), _pong(100, None)]), observed=seen))
    behind = obj(ImaginedRollout([], np.stack([_pong(92, None), _pong(92, None)]), observed=seen))
    apart = obj(ImaginedRollout([], np.stack([_pong(40, None), _pong(170, None)]), observed=seen))
    lost = obj(ImaginedRollout([], np.stack([_pong(None, None), _pong(None, None)]), observed=seen))
    assert lost == -1.0 < apart < behind < level == pytest.approx(0.0, abs=0.01)
    # the imagined ball is not read: a ball drawn elsewhere changes nothing
    assert obj(ImaginedRollout([], np.stack([_pong(96, 30), _pong(100, 180)]), observed=seen)) == level
    # the ball bounces off the top of the field (row 34) instead of leaving it
    path = ball_path(np.stack([_pong(60, 48), _pong(60, 40)]), 3, "pong") * 210
    assert path == pytest.approx([34.5, 42.5, 50.5], abs=0.01)
    no_ball = np.stack([_pong(60, 100), _pong(60, None)])
    assert obj(ImaginedRollout([], _pong(100, None)[None], observed=no_ball)) == 0.0    # not in play
    with pytest.raises(ValueError, match="observed frames"):
        obj(ImaginedRollout([], _pong(100, None)[None]))
    with pytest.raises(ValueError, match="only \\['pong'\\] has a probe for; got 'breakout'"):
        track_ball("breakout")
    with pytest.raises(ValueError, match="got ''"):
        make_objective("track")


def test_make_objective_names_callables_and_errors() -> None:
    assert make_objective("reward")(_rollout(["scored a point"])) == 1.0
    goal = np.zeros((4, 4, 3), np.uint8)
    assert make_objective("goal", goal=goal)(_rollout()) == 0.0
    mine = lambda r: 42.0  # noqa: E731
    assert make_objective(mine) is mine
    with pytest.raises(ValueError, match="needs a goal frame"):
        make_objective("goal")
    with pytest.raises(ValueError, match="unknown objective 'score'.*reward"):
        make_objective("score")
    with pytest.raises(TypeError, match="int 42"):
        make_objective(42)
    with pytest.raises(TypeError, match="objective must be a callable"):
        check_objective(None)
