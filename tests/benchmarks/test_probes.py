"""The paddle and ball probes against the console RAM on real frames, and the follow rule."""

from __future__ import annotations

import numpy as np
import pytest

from tv2tv.benchmarks.probes import ball_position, followed, paddle_position, probe_game
from tv2tv.envs.atari import ram
from tv2tv.envs.registry import make_env

# RAM address of the player's paddle: Pong RAM[51] (row), Breakout RAM[72] (column).
RAM_ADDR = {"pong": 51, "breakout": 72}
ENV = {"pong": "ALE/Pong-v5", "breakout": "ALE/Breakout-v5"}
SIZE = 64


def _recording(game: str, steps: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Real 64x64 frames and the paddle's RAM value under a seeded random joystick held 5 steps."""
    env = make_env(ENV[game], frame_size=SIZE, seed=3)
    obs, _ = env.reset()
    rng = np.random.default_rng(3)
    frames, values, action = [], [], 0
    for t in range(steps):
        if t % 5 == 0:
            action = int(rng.integers(env.action_space.n))
        obs, _, term, trunc, _ = env.step(action)
        frames.append(obs)
        values.append(float(ram(env)[RAM_ADDR[game]]))
        if term or trunc:
            obs, _ = env.reset()
    return np.stack(frames), np.asarray(values)


@pytest.mark.parametrize("game", ["pong", "breakout"])
def test_probe_within_one_pixel_of_ram(game: str) -> None:
    frames, values = _recording(game)
    pos = np.array([paddle_position(f, game) for f in frames], dtype=float)
    assert not np.isnan(pos).any()
    assert np.ptp(values) > 50  # the paddle really travelled
    # RAM units -> pixels of the 64x64 frame: a linear map fitted on even frames, tested on odd.
    a = np.stack([values, np.ones_like(values)], axis=1)
    coef, *_ = np.linalg.lstsq(a[::2], pos[::2], rcond=None)
    err = np.abs(a[1::2] @ coef - pos[1::2])
    assert err.max() <= 1.0, f"probe off RAM by {err.max():.2f} px at frame {1 + 2 * err.argmax()}"
    # One RAM unit is one native pixel, scaled by the resize (210 rows or 160 columns -> 64).
    assert coef[0] == pytest.approx(SIZE / (210 if game == "pong" else 160), rel=0.03)


def test_ball_probe_within_one_pixel_of_ram() -> None:
    """Pong's RAM[54] is the ball's row and RAM[49] its column (native pixels, fixed offsets)."""
    env = make_env(ENV["pong"], frame_size=SIZE, seed=5)
    env.reset()
    rng = np.random.default_rng(5)
    found, rows, cols, absent = [], [], [], 0
    for _ in range(400):
        obs, _, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        pos = ball_position(obs, "pong")
        r = ram(env)
        if pos is None:
            absent += 1
            continue
        found.append(pos)
        rows.append(float(r[54]))
        cols.append(float(r[49]))
        if term or trunc:
            env.reset()
    pos = np.asarray(found)
    assert len(pos) > 200 and absent > 0             # in play most of the time, and out between points
    for values, k, native in ((rows, 0, 210), (cols, 1, 160)):
        a = np.stack([values, np.ones(len(values))], axis=1)
        coef, *_ = np.linalg.lstsq(a[::2], pos[::2, k], rcond=None)
        err = np.abs(a[1::2] @ coef - pos[1::2, k])
        assert err.max() <= 1.0, f"ball probe off RAM by {err.max():.2f} px on axis {k}"
        assert coef[0] == pytest.approx(SIZE / native, rel=0.03)
    with pytest.raises(ValueError, match="no ball probe for game 'breakout'"):
        ball_position(obs, "breakout")


def _pong_frame(top: int) -> np.ndarray:
    f = np.zeros((210, 160, 3), np.uint8)
    f[:] = (144, 72, 17)
    f[max(34, top):min(194, top + 16), 140:144] = (92, 186, 92)
    return f


def test_probe_native_geometry_and_clipping() -> None:
    assert paddle_position(_pong_frame(100), "pong") == pytest.approx(107.5)
    # Half hidden by the top border: completed from the visible bottom edge.
    assert paddle_position(_pong_frame(26), "pong") == pytest.approx(33.5)
    blank = _pong_frame(0)
    blank[34:194, 140:144] = (144, 72, 17)
    assert paddle_position(blank, "pong") is None


def test_followed_directions() -> None:
    up = np.stack([_pong_frame(120), _pong_frame(80)])
    assert followed(up, "up", "pong")
    assert not followed(up, "down", "pong") and not followed(up, "stay", "pong")
    still = np.stack([_pong_frame(120), _pong_frame(121)])
    assert followed(still, "stay", "pong") and not followed(still, "up", "pong")
    with pytest.raises(ValueError, match="left"):
        followed(up, "left", "pong")


def test_probe_game_names() -> None:
    assert probe_game("ALE/Pong-v5") == "pong" and probe_game("ALE/Breakout-v5") == "breakout"
    assert probe_game("crafter") is None
    with pytest.raises(ValueError, match="tetris"):
        paddle_position(_pong_frame(100), "tetris")
