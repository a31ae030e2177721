"""Objectives that score an imagined rollout (higher is better).

* ``reward_captions(weights)``: sums a weight for every caption the model wrote while it
  imagined the plan ("scored a point" +1, "lost a point" -1, "lost a life" -1, ...). The
  captions are the Atari texter's (``tv2tv.envs.atari_texter``), so a model trained on its
  text reports game events in the same words. "scored 3 points" counts 3 times.
* ``goal_frame_distance(goal)``: the negative mean squared error (pixels in [0, 1]) of the last
  imagined frame to a goal frame.
* ``track_ball(game)``: keep the imagined paddle level with where the ball will be (Pong): the
  paddle read from the imagined frames by the benchmark's probes, the ball's path carried on
  from the observed frames (``ball_path``). Pong pays its points tens of steps after the paddle
  moves, beyond a plan's horizon; where the ball will be is inside it.
* any user callable ``ImaginedRollout -> float``: ``make_objective`` passes it through and
  rejects anything else with a ``TypeError`` that names it.

Example:
    >>> from tv2tv.planners.base import ImaginedRollout
    >>> r = ImaginedRollout([], np.zeros((2, 4, 4, 3), np.uint8), [(0, "scored a point"), (1, "lost a life")])
    >>> reward_captions()(r)
    0.0
    >>> reward_captions({"scored a point": 2.0})(r)
    2.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from tv2tv.planners.base import ImaginedRollout, Objective, check_objective

DEFAULT_CAPTION_WEIGHTS: dict[str, float] = {
    "scored a point": 1.0,
    "lost a point": -1.0,
    "lost a life": -1.0,
    "game over": -1.0,
}
OBJECTIVES = ("reward", "goal", "track")
_N_POINTS = re.compile(r"\b(scored|lost) (\d+(?:\.\d+)?) points\b")


def _count(caption: str, text: str) -> float:
    """How often ``caption`` occurs in ``text`` (case-insensitive, whole words); "a point"
    captions also match "N points" with multiplicity N."""
    text = text.lower()
    n = float(len(re.findall(rf"\b{re.escape(caption.lower())}\b", text)))
    m = re.fullmatch(r"(scored|lost) a point", caption.lower())
    if m:
        n += sum(float(k) for verb, k in _N_POINTS.findall(text) if verb == m.group(1))
    return n


def reward_captions(weights: Mapping[str, float] | None = None) -> Objective:
    """An objective that sums ``weights[caption]`` over the captions the model wrote.

    Args:
        weights: caption -> weight (default ``DEFAULT_CAPTION_WEIGHTS``).

    Example:
        >>> obj = reward_captions({"collect wood": 1.0})
        >>> obj(ImaginedRollout([], np.zeros((1, 4, 4, 3), np.uint8), [(0, "Collect wood; collect wood")]))
        2.0
    """
    table = dict(DEFAULT_CAPTION_WEIGHTS if weights is None else weights)
    for caption, w in table.items():
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"caption weights need non-empty caption strings, got {caption!r}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w):
            raise ValueError(f"weight of caption {caption!r} must be a finite number, got {w!r}")

    def objective(rollout: ImaginedRollout) -> float:
        text = rollout.model_text
        return float(sum(w * _count(c, text) for c, w in table.items()))

    objective.__name__ = "reward_captions"
    return objective


def goal_frame_distance(goal: np.ndarray) -> Objective:
    """An objective: minus the mean squared error of the last imagined frame to ``goal``.

    Args:
        goal: ``uint8 (H, W, C)``, the frame the plan should reach.

    Example:
        >>> goal = np.zeros((4, 4, 3), np.uint8)
        >>> goal_frame_distance(goal)(ImaginedRollout([], np.full((1, 4, 4, 3), 255, np.uint8)))
        -1.0
    """
    g = np.asarray(goal)
    if g.dtype != np.uint8 or g.ndim != 3:
        raise ValueError(f"goal must be a uint8 (H, W, C) frame, got {g.dtype} {g.shape}")
    target = g.astype(np.float32) / 255.0

    def objective(rollout: ImaginedRollout) -> float:
        last = rollout.frames[-1]
        if last.shape != target.shape:
            raise ValueError(f"imagined frames {last.shape} and the goal {target.shape} differ in shape")
        return -float(np.mean((last.astype(np.float32) / 255.0 - target) ** 2))

    objective.__name__ = "goal_frame_distance"
    return objective


def track_ball(game: str) -> Objective:
    """An objective: minus the mean distance, along the paddle's axis and as a share of the
    frame, between the paddle in each imagined frame and where the ball will be then.

    The paddle is read from the imagined frames (what the plan's text makes the model do); the
    ball from the *observed* frames (``ImaginedRollout.observed``), carried on at the velocity
    of its last two observed positions and bounced off the field's edges (``ball_path``). The
    tiny world models do not yet predict the ball's flight (README, "Learning control"), so the
    planner asks them only what their text controls. A frame without the paddle scores -1 (the
    plan lost it); with no ball in play every frame scores 0 (nothing to track).

    Example:
        >>> f = np.zeros((1, 210, 160, 3), np.uint8); f[:] = (144, 72, 17)
        >>> f[0, 100:116, 140:144] = (92, 186, 92); f[0, 100:104, 60:62] = (236, 236, 236)
        >>> round(track_ball("pong")(ImaginedRollout([], f, observed=f)), 3)
        -0.029
    """
    from tv2tv.benchmarks.probes import BALLS, PADDLES, paddle_position

    if game not in BALLS:
        raise ValueError(f"objective 'track' reads the ball, which only {sorted(BALLS)} has a probe "
                         f"for; got {game!r}")
    axis = PADDLES[game].axis

    def objective(rollout: ImaginedRollout) -> float:
        if rollout.observed is None:
            raise ValueError("objective 'track' reads the ball from the observed frames, and this "
                             "imagined rollout has none (ImaginedRollout.observed is None)")
        ball = ball_path(rollout.observed, len(rollout.frames), game)
        scores = []
        for k, frame in enumerate(rollout.frames):
            paddle = paddle_position(frame, game)
            if paddle is None:
                scores.append(-1.0)
            else:
                scores.append(0.0 if ball is None else -abs(paddle / frame.shape[axis] - ball[k]))
        return float(np.mean(scores))

    objective.__name__ = "track_ball"
    return objective


def ball_path(observed: np.ndarray, steps: int, game: str) -> np.ndarray | None:
    """Where the ball will be along the paddle's axis in the next ``steps`` frames, as shares
    of the frame ``(steps,)``: constant velocity from its last two observed positions, mirrored
    at the edges of the field the paddle moves over. ``None`` when the last observed frame has
    no ball in play; a ball seen in that frame only is taken to stand still.

    Example:
        >>> f = np.zeros((2, 210, 160, 3), np.uint8); f[:] = (144, 72, 17)
        >>> f[0, 42:46, 60:62] = f[1, 38:42, 62:64] = (236, 236, 236)     # moving up 4 rows a step
        >>> [round(float(x) * 210, 1) for x in ball_path(f, 3, "pong")]   # bounces off row 34
        [35.5, 36.5, 40.5]
    """
    from tv2tv.benchmarks.probes import NATIVE_SHAPE, PADDLES, ball_position

    axis = PADDLES[game].axis
    frames = np.asarray(observed)
    seen = [ball_position(f, game) for f in frames[-2:]]
    if seen[-1] is None:
        return None
    size = frames.shape[1 + axis]
    last = seen[-1][axis] / size
    velocity = 0.0 if len(seen) < 2 or seen[0] is None else last - seen[0][axis] / size
    lo, hi = (e / NATIVE_SHAPE[axis] for e in PADDLES[game].extent)
    path = (last + velocity * np.arange(1, steps + 1) - lo) % (2 * (hi - lo))   # unfold the bounces
    return lo + np.where(path > hi - lo, 2 * (hi - lo) - path, path)


def make_objective(objective: Any, goal: np.ndarray | None = None,
                   weights: Mapping[str, float] | None = None, game: str | None = None) -> Objective:
    """An objective by name (``"reward"``, ``"goal"``, ``"track"``) or a user callable passed through.

    Args:
        goal: the goal frame of ``"goal"``; weights: the caption weights of ``"reward"``;
            game: the probe key of ``"track"`` (``benchmarks.probes.probe_game(env)``).

    Raises:
        ValueError: an unknown name, ``"goal"`` without a goal frame, ``"track"`` for a game
            without a ball probe.
        TypeError: neither a name nor callable.

    Example:
        >>> make_objective("reward").__name__
        'reward_captions'
    """
    if isinstance(objective, str):
        if objective == "reward":
            return reward_captions(weights)
        if objective == "goal":
            if goal is None:
                raise ValueError("objective 'goal' needs a goal frame")
            return goal_frame_distance(goal)
        if objective == "track":
            return track_ball(game or "")
        raise ValueError(f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)} "
                         "or pass a callable")
    return check_objective(objective)
