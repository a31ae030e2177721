"""Collection policies: registry, determinism under a seed, pixel detectors vs RAM, play quality."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tv2tv.envs import make_env
from tv2tv.envs.atari import ram
from tv2tv.recorders.policies import make_policy, policy_names
from tv2tv.recorders.policies.atari import detect_breakout, detect_pong


def test_registered_names() -> None:
    assert {"random", "sticky", "pong", "breakout"} <= set(policy_names())
    with pytest.raises(ValueError, match="did you mean 'sticky'"):
        make_policy("stiky", make_env("ALE/Pong-v5"))


@pytest.mark.parametrize("name, game", [("random", "Pong"), ("sticky", "Pong"), ("pong", "Pong"),
                                        ("breakout", "Breakout")])
def test_deterministic_under_seed(name: str, game: str) -> None:
    def actions(seed: int) -> list[int]:
        env = make_env(f"ALE/{game}-v5", frame_size=64, seed=0)
        policy = make_policy(name, env, seed=seed)
        obs, _ = env.reset()
        out = []
        for _ in range(150):
            out.append(int(policy(obs)))
            obs, *_ = env.step(out[-1])
        return out

    first = actions(3)
    assert first == actions(3)
    assert first != actions(4)
    assert all(0 <= a < 18 for a in first)


def test_sticky_repeats_about_repeat_prob() -> None:
    env = gym.make("CartPole-v1")  # works on any action space, not only ALE
    for repeat_prob in (0.0, 0.9):
        policy = make_policy("sticky", env, seed=0, repeat_prob=repeat_prob)
        acts = np.array([policy(None) for _ in range(4000)])
        same = float((acts[1:] == acts[:-1]).mean())
        expected = repeat_prob + (1 - repeat_prob) / 2  # a fresh sample may repeat by chance
        assert abs(same - expected) < 0.03, (repeat_prob, same)
    with pytest.raises(ValueError, match="repeat_prob"):
        make_policy("sticky", env, repeat_prob=1.0)


def test_scripted_players_check_their_game_and_frames() -> None:
    with pytest.raises(ValueError, match="ALE/Pong-v5"):
        make_policy("pong", make_env("ALE/Breakout-v5"))
    with pytest.raises(ValueError, match="epsilon"):
        make_policy("breakout", make_env("ALE/Breakout-v5"), epsilon=2.0)
    with pytest.raises(ValueError, match="at least 32"):
        detect_pong(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        detect_breakout(np.zeros((64, 64, 3), np.float32))


def _pong_errors(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Detector minus RAM position (screen pixels) for our paddle and the ball, and the ball hit rate."""
    env = make_env("ALE/Pong-v5", frame_size=size, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    paddle, ball, seen, steps = [], [], 0, 0
    for _ in range(500):
        obs, *_ = env.step(int(rng.integers(6)))
        r = ram(env).astype(float)
        found = detect_pong(obs)
        top = r[51] - 13.5  # AtariARI byte 51 = paddle row; drawn 13-14 rows higher, 16 rows tall
        if 34 <= top and top + 16 <= 194 and found.paddle is not None:
            paddle.append(found.paddle - (top + 8))
        ball_y = r[54] - 14 + 2  # byte 54 = ball row (4 rows tall), byte 49 = ball column (2 wide)
        if 40 <= ball_y <= 188 and 10 <= r[49] - 49 <= 150:
            steps += 1
            if found.ball is not None:
                seen += 1
                ball.append((found.ball[0] - (r[49] - 49 + 1), found.ball[1] - ball_y))
    return np.abs(paddle), np.abs(ball), seen / max(steps, 1)


@pytest.mark.parametrize("size", [32, 64])
def test_pong_detector_tracks_ram(size: int) -> None:
    paddle, ball, rate = _pong_errors(size)
    assert len(paddle) > 100 and np.median(paddle) < 2 and np.percentile(paddle, 95) < 5
    assert rate > 0.9 and np.percentile(ball, 95, axis=0).max() < 4


@pytest.mark.parametrize("size", [32, 64])
def test_breakout_detector_tracks_ram(size: int) -> None:
    env = make_env("ALE/Breakout-v5", frame_size=size, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    prev, paddle, ball, in_play, seen = None, [], [], 0, 0
    for _ in range(800):
        obs, _, term, trunc, _ = env.step(1 if rng.random() < 0.1 else int(rng.integers(4)))
        if term or trunc:
            obs, _ = env.reset()
            prev = None
        found = detect_breakout(obs, prev)
        prev = obs
        r = ram(env).astype(float)
        if found.paddle is not None:
            paddle.append(found.paddle - (r[72] - 42))  # byte 72 = paddle x (drawn 40-44 px left)
        bx, by = r[99] - 48, r[101] + 10  # bytes 99/101 = ball x/y (AtariARI), to screen pixels
        if 100 <= by <= 175 and 10 <= bx <= 150:  # in play below the bricks, clear of the paddle
            in_play += 1
            if found.ball is not None:
                seen += 1
                ball.append((found.ball[0] - bx, found.ball[1] - by))
    paddle_err, ball_err = np.abs(paddle), np.abs(ball)
    assert np.median(paddle_err) < 3 and np.percentile(paddle_err, 90) < 6
    assert in_play > 100 and seen / in_play > 0.9
    assert np.percentile(ball_err, 95, axis=0).max() < 4


def _points(game: str, policy_name: str, steps: int) -> tuple[int, int]:
    env = make_env(f"ALE/{game}-v5", frame_size=64, seed=0)
    policy = make_policy(policy_name, env, seed=0)
    obs, _ = env.reset()
    won = lost = 0
    for _ in range(steps):
        obs, reward, term, trunc, _ = env.step(policy(obs))
        won, lost = won + (reward > 0) * int(reward), lost + (reward < 0)
        if term or trunc:
            obs, _ = env.reset()
    return won, lost


def test_pong_player_returns_the_ball() -> None:
    # Random play loses a point every ~40 steps; tracking the ball keeps rallies going.
    won, lost = _points("Pong", "pong", 1500)
    _, lost_random = _points("Pong", "random", 1500)
    assert lost * 4 < lost_random and won >= 1


def test_breakout_player_breaks_bricks() -> None:
    score, _ = _points("Breakout", "breakout", 1500)
    score_random, _ = _points("Breakout", "random", 1500)
    assert score > 4 * max(score_random, 1)
