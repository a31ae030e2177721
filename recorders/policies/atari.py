"""Scripted Atari players that play from pixels: ``"pong"`` and ``"breakout"``.

Each player finds its paddle and the ball by colour in the frame it is given (any square size
>= 32; 64x64 by default), predicts where the ball will cross the paddle's line (straight-line
motion from the last two sightings, bouncing off the walls), and moves the paddle there. With
probability ``epsilon`` (default 0.1) it takes a random action instead, so recordings show every
action and varied action text. Breakout's player presses FIRE to launch a ball when none is seen.

Detectors return positions in *screen pixels* of the 160x210 Atari screen, whatever the frame
size, so they can be checked against the console RAM (see ``tests/recorders/test_policies.py``)
and reused by probes. Geometry (screen pixels, measured on ALE v5 frames):

* Pong: play field rows 34-193; our (green) paddle in columns 140-143, 16 rows tall; the ball
  is 2x4, white; background (144, 72, 17).
* Breakout: walls at rows 17-31 and columns 0-7, 152-159; bricks rows 57-92; our paddle rows
  189-192, the ball is 2x4 and the same red (200, 72, 72); background black.

Example:
    >>> from tv2tv.envs import make_env                              # doctest: +SKIP
    >>> env = make_env("ALE/Pong-v5", frame_size=64, seed=0)         # doctest: +SKIP
    >>> player = make_pong(env, seed=0)                              # doctest: +SKIP
    >>> obs, _ = env.reset(); action = player(obs)                   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from tv2tv.recorders.policies.base import Policy, register_policy

SCREEN_H, SCREEN_W = 210, 160
MIN_PLAYER_FRAME = 32

# Pong, screen pixels.
PONG_BG = np.array([144, 72, 17], np.int16)
PONG_TOP, PONG_BOTTOM = 34, 194          # play field rows [top, bottom)
PONG_PADDLE_X = (140, 144)               # our paddle's columns [x0, x1)
PONG_BALL_AREA = 8.0                     # 2x4 screen pixels
# Breakout, screen pixels.
BREAKOUT_WALL_X = (8, 152)               # play field columns [x0, x1)
BREAKOUT_TOP = 32                        # below the top wall
BREAKOUT_BRICKS_BOTTOM = 93              # bricks occupy rows [57, 93)
BREAKOUT_PADDLE_Y = (189, 193)           # paddle rows [y0, y1)


@dataclass(frozen=True)
class Sighting:
    """What a detector found, in screen pixels; ``None`` where an object is not visible."""

    paddle: float | None
    ball: tuple[float, float] | None  # (x, y)


def _check_frame(frame: Any) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) frame, got {getattr(frame, 'dtype', type(frame))} "
                         f"{getattr(frame, 'shape', '')}")
    if min(frame.shape[:2]) < MIN_PLAYER_FRAME:
        raise ValueError(f"scripted players need frames of at least {MIN_PLAYER_FRAME} pixels, "
                         f"got {frame.shape}")
    return frame


def _rows(frame: np.ndarray, y0: float, y1: float, inner: bool = True) -> slice:
    """Frame rows inside (``inner``) or touching screen rows ``[y0, y1)``."""
    s = frame.shape[0] / SCREEN_H
    if inner:
        return slice(int(np.ceil(y0 * s)), int(np.floor(y1 * s)))
    return slice(int(np.floor(y0 * s)), int(np.ceil(y1 * s)))


def _cols(frame: np.ndarray, x0: float, x1: float, inner: bool = True) -> slice:
    """Frame columns inside (``inner``) or touching screen columns ``[x0, x1)``."""
    s = frame.shape[1] / SCREEN_W
    if inner:
        return slice(int(np.ceil(x0 * s)), int(np.floor(x1 * s)))
    return slice(int(np.floor(x0 * s)), int(np.ceil(x1 * s)))


def _centroid(weights: np.ndarray, rows: slice, cols: slice, frame_shape: tuple[int, ...],
              min_mass: float) -> tuple[float, float] | None:
    """Weighted centre ``(x, y)`` in screen pixels, or ``None`` when the mass is below ``min_mass``."""
    mass = float(weights.sum())
    if mass < min_mass:
        return None
    ys, xs = np.indices(weights.shape)
    y = (float((ys * weights).sum()) / mass + rows.start + 0.5) * SCREEN_H / frame_shape[0]
    x = (float((xs * weights).sum()) / mass + cols.start + 0.5) * SCREEN_W / frame_shape[1]
    return x, y


def _pixel_area(frame: np.ndarray) -> float:
    """Screen pixels per frame pixel."""
    return (SCREEN_H / frame.shape[0]) * (SCREEN_W / frame.shape[1])


def detect_pong(frame: np.ndarray) -> Sighting:
    """Find our (right, green) paddle's centre row and the ball in a Pong frame.

    The frame is compared with the background colour: the ball raises red and raises blue
    even more, the green paddle lowers red, the opponent's orange paddle raises red more than
    blue. Area resizing blends colours linearly, so these tests hold for partly covered pixels.
    """
    frame = _check_frame(frame)
    rows = _rows(frame, PONG_TOP, PONG_BOTTOM)
    d = frame[rows].astype(np.int16) - PONG_BG                      # (h, W, 3)
    d_r, d_b = d[..., 0].astype(np.float32), d[..., 2].astype(np.float32)
    ball_w = np.clip(np.minimum(d_r, d_b - d_r), 0, None) / 92.0    # 1.0 for a pixel of pure ball
    min_ball = 0.3 * PONG_BALL_AREA / _pixel_area(frame)
    ball = _centroid(ball_w, rows, slice(0, frame.shape[1]), frame.shape, min_ball)

    cols = _cols(frame, *PONG_PADDLE_X, inner=False)
    paddle_w = np.clip(-d_r[:, cols], 0, None) / 52.0               # 1.0 for pure green paddle
    found = _centroid(paddle_w, rows, cols, frame.shape, min_mass=0.5)
    return Sighting(paddle=None if found is None else found[1], ball=ball)


def detect_breakout(frame: np.ndarray, prev: np.ndarray | None = None) -> Sighting:
    """Find our paddle's centre column and the ball in a Breakout frame.

    Below the bricks anything lit is the ball. Among the bricks the ball has brick colours
    around it, so there only pixels that are lit now *and* changed since ``prev`` count (a
    brick that just broke is dark now, so it does not).
    """
    frame = _check_frame(frame)
    cols = _cols(frame, *BREAKOUT_WALL_X)
    lit = frame.astype(np.float32).sum(-1) / (200 + 72 + 72)        # (H, W), 1.0 for pure red
    rows = _rows(frame, BREAKOUT_TOP, BREAKOUT_PADDLE_Y[0])
    ball_w = lit[rows, cols].copy()
    # Frame rows that show any brick row, relative to ``rows``.
    in_bricks = slice(0, _rows(frame, BREAKOUT_TOP, BREAKOUT_BRICKS_BOTTOM, inner=False).stop - rows.start)
    if prev is not None and prev.shape == frame.shape:
        changed = np.abs(frame.astype(np.float32) - prev.astype(np.float32)).sum(-1) / (200 + 72 + 72)
        ball_w[in_bricks] = np.minimum(ball_w[in_bricks], changed[rows, cols][in_bricks])
    else:
        ball_w[in_bricks] = 0.0
    ball = _centroid(ball_w, rows, cols, frame.shape, min_mass=0.3 * 8.0 / _pixel_area(frame))

    prow = _rows(frame, *BREAKOUT_PADDLE_Y, inner=False)
    found = _centroid(lit[prow, cols], prow, cols, frame.shape, min_mass=0.5)
    return Sighting(paddle=None if found is None else found[0], ball=ball)


def _bounce(p: float, lo: float, hi: float) -> float:
    """Fold a straight-line position back into ``[lo, hi]`` (mirror at the walls)."""
    span = hi - lo
    q = (p - lo) % (2 * span)
    return lo + (q if q <= span else 2 * span - q)


class _Player:
    """Shared machinery: seeded epsilon exploration and ball velocity from two sightings."""

    game = ""

    def __init__(self, env: gym.Env, seed: int | None = None, epsilon: float = 0.1,
                 deadzone: float = 4.0) -> None:
        inner = env.unwrapped
        if getattr(inner, "_game", None) != self.game:
            raise ValueError(f"the {self.game!r} player needs ALE/{self.game.capitalize()}-v5, "
                             f"got {getattr(env.spec, 'id', type(inner).__name__)}")
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        meanings = list(inner.get_action_meanings())
        self.actions = {m: meanings.index(m) for m in ("NOOP", "FIRE", "RIGHT", "LEFT")}
        self.n_actions = len(meanings)
        self.rng = np.random.default_rng(seed)
        self.epsilon = float(epsilon)
        self.deadzone = float(deadzone)
        self._prev_ball: tuple[float, float] | None = None

    def _velocity(self, ball: tuple[float, float] | None) -> tuple[float, float] | None:
        prev, self._prev_ball = self._prev_ball, ball
        if ball is None or prev is None:
            return None
        return ball[0] - prev[0], ball[1] - prev[1]

    def _explore(self) -> int | None:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_actions))
        return None

    def _move(self, paddle: float, target: float, towards_lower: str, towards_higher: str) -> int:
        if target < paddle - self.deadzone:
            return self.actions[towards_lower]
        if target > paddle + self.deadzone:
            return self.actions[towards_higher]
        return self.actions["NOOP"]


class PongPlayer(_Player):
    """Moves our paddle to where the ball will cross its column (``RIGHT`` moves it up)."""

    game = "pong"

    def __call__(self, obs: np.ndarray) -> int:
        seen = detect_pong(obs)
        velocity = self._velocity(seen.ball)
        explore = self._explore()
        if explore is not None:
            return explore
        if seen.paddle is None or seen.ball is None:
            return self.actions["NOOP"]
        target = seen.ball[1]
        if velocity is not None and velocity[0] > 0.5:  # coming towards us: predict the crossing
            steps = (PONG_PADDLE_X[0] - seen.ball[0]) / velocity[0]
            target = _bounce(seen.ball[1] + velocity[1] * steps, PONG_TOP + 2, PONG_BOTTOM - 2)
        return self._move(seen.paddle, target, towards_lower="RIGHT", towards_higher="LEFT")


class BreakoutPlayer(_Player):
    """Moves our paddle under the ball's landing point; FIRE when no ball is in play."""

    game = "breakout"

    def __init__(self, env: gym.Env, seed: int | None = None, epsilon: float = 0.1,
                 deadzone: float = 4.0) -> None:
        super().__init__(env, seed, epsilon, deadzone)
        self._prev_frame: np.ndarray | None = None

    def __call__(self, obs: np.ndarray) -> int:
        seen = detect_breakout(obs, self._prev_frame)
        self._prev_frame = obs.copy()
        velocity = self._velocity(seen.ball)
        explore = self._explore()
        if explore is not None:
            return explore
        if seen.ball is None:
            return self.actions["FIRE"]
        if seen.paddle is None:
            return self.actions["NOOP"]
        target = seen.ball[0]
        if velocity is not None and velocity[1] > 0.5:  # falling: predict where it meets the paddle
            steps = (BREAKOUT_PADDLE_Y[0] - seen.ball[1]) / velocity[1]
            target = _bounce(seen.ball[0] + velocity[0] * steps,
                             BREAKOUT_WALL_X[0] + 1, BREAKOUT_WALL_X[1] - 1)
        return self._move(seen.paddle, target, towards_lower="LEFT", towards_higher="RIGHT")


def make_pong(env: gym.Env, seed: int | None = None, epsilon: float = 0.1, deadzone: float = 4.0) -> Policy:
    """Factory for ``"pong"``: a pixel-tracking Pong player (``ALE/Pong-v5`` only)."""
    return PongPlayer(env, seed, epsilon, deadzone)


def make_breakout(env: gym.Env, seed: int | None = None, epsilon: float = 0.1,
                  deadzone: float = 4.0) -> Policy:
    """Factory for ``"breakout"``: a pixel-tracking Breakout player (``ALE/Breakout-v5`` only)."""
    return BreakoutPlayer(env, seed, epsilon, deadzone)


register_policy("pong", make_pong)
register_policy("breakout", make_breakout)
