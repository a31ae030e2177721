"""Game probes: read the player's paddle from pixels, and decide if it moved as instructed.

The controllability benchmark (docs/design.md, "Controllability") asks of a generated future not
only "is it close to the real one" but "did the paddle go where the text said". A probe reads
the paddle position straight from the frame, so it works on generated frames as well as real
ones, at any frame size (native ``210 x 160`` or the resized square model frames).

Method: every pixel gets a *paddle coverage* in ``[0, 1]``, its projection on the line from the
background colour to the paddle colour (area-averaged resizing blends the two linearly, see
``tv2tv.envs.frames``); pixels far off that line (ball, walls) get 0. Coverage is summed across
the paddle's thin band into a 1-D profile along the axis the paddle moves on; the heaviest
contiguous run of the profile is the paddle, and its centroid the position. A paddle half hidden
by the playfield border is completed from its visible edge and its known length.

Geometry (native pixels, measured on ALE v5 frames): Pong's player paddle is the green one on
the right, columns 140-143, moving over rows 34-193, 16 rows long; its RAM[51] is the paddle's
bottom row minus one. Breakout's paddle is red, rows 189-192, moving over columns 8-151, 16
columns wide (the half-width paddle of a late Breakout game is not modelled); its RAM[72] is
the paddle's left column plus 47.

Example:
    >>> import numpy as np
    >>> frame = np.zeros((210, 160, 3), np.uint8); frame[:] = (144, 72, 17)
    >>> frame[100:116, 140:144] = (92, 186, 92)
    >>> paddle_position(frame, "pong")
    107.5
    >>> followed(np.stack([frame, np.roll(frame, -30, axis=0)]), "up", "pong")
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NATIVE_SHAPE = (210, 160)
# A pixel whose colour is farther than this (RGB units) from the background-paddle line is
# not paddle (the Pong ball is white, the Breakout walls grey).
_RESIDUAL_TOL = 40.0
# Profile entries below this coverage do not start or continue a run (resizing noise).
_RUN_THRESHOLD = 0.2


@dataclass(frozen=True)
class PaddleSpec:
    """Where a game's player paddle lives, in native pixels.

    Args:
        color: paddle RGB; ``background``: RGB behind it.
        axis: 0 when the paddle moves along rows (Pong), 1 along columns (Breakout).
        band: ``[lo, hi)`` native span across the movement axis that the paddle always covers.
        extent: ``[lo, hi)`` native span the paddle can be seen in along the movement axis.
        length: the paddle's native length along the movement axis.
        directions: instruction -> sign of the expected movement (-1 towards index 0).
    """

    color: tuple[int, int, int]
    background: tuple[int, int, int]
    axis: int
    band: tuple[int, int]
    extent: tuple[int, int]
    length: int
    directions: dict[str, int]


PADDLES: dict[str, PaddleSpec] = {
    "pong": PaddleSpec((92, 186, 92), (144, 72, 17), axis=0, band=(140, 144), extent=(34, 194),
                       length=16, directions={"up": -1, "down": 1, "stay": 0}),
    "breakout": PaddleSpec((200, 72, 72), (0, 0, 0), axis=1, band=(189, 193), extent=(8, 152),
                           length=16, directions={"left": -1, "right": 1, "stay": 0}),
}


def probe_game(env_name: str) -> str | None:
    """The probe key for an env name (``"ALE/Pong-v5"`` -> ``"pong"``), ``None`` if no probe."""
    low = env_name.lower()
    for game in PADDLES:
        if f"/{game}-" in low or low == game:
            return game
    return None


def _spec(game: str) -> PaddleSpec:
    if game not in PADDLES:
        raise ValueError(f"no paddle probe for game {game!r}; known: {sorted(PADDLES)}")
    return PADDLES[game]


def _coverage(frame: np.ndarray, color: tuple[int, int, int], background: tuple[int, int, int],
              tol: float = _RESIDUAL_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel coverage of ``color`` over ``background`` in [0, 1] and the mask of pixels off
    that line (for a paddle: the ball, walls), both ``(H, W)``."""
    bg = np.asarray(background, np.float32)
    d = np.asarray(color, np.float32) - bg                        # (3,)
    x = frame.astype(np.float32) - bg                             # (H, W, 3)
    p = np.clip(x @ d / float(d @ d), 0.0, 1.0)                   # (H, W)
    residual = np.linalg.norm(x - p[..., None] * d, axis=-1)      # (H, W)
    return p, residual > tol


def _overlap(n_px: int, native: int, lo: float, hi: float) -> np.ndarray:
    """Fraction of each of ``n_px`` frame pixels (spanning ``native`` units) inside [lo, hi)."""
    edges = np.arange(n_px + 1) * (native / n_px)
    inside = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None)
    return inside / (native / n_px)


def _profile(frame: np.ndarray, spec: PaddleSpec) -> tuple[np.ndarray, float]:
    """Coverage along the movement axis (1-D) and the pixel scale (frame px per native px)."""
    cov, occluded = _coverage(frame, spec.color, spec.background)
    if spec.axis == 1:
        cov, occluded = cov.T, occluded.T                         # (along, across)
    n_along, n_across = cov.shape
    native_along, native_across = NATIVE_SHAPE[spec.axis], NATIVE_SHAPE[1 - spec.axis]
    across = _overlap(n_across, native_across, *spec.band)
    full = across >= 0.99
    cols = np.nonzero(full)[0] if full.any() else np.array([int(np.argmax(across))])
    seen = ~occluded[:, cols]                                     # (along, n_cols)
    n_seen = seen.sum(axis=1)
    prof = (cov[:, cols] * seen).sum(axis=1) / np.maximum(n_seen, 1) / across[cols].mean()
    prof = np.clip(prof, 0.0, 1.0)                                # (along,)
    prof = _fill_occluded(prof, n_seen == 0)
    # Keep only pixels that lie wholly inside the playfield: border pixels blend with walls.
    prof[_overlap(n_along, native_along, *spec.extent) < 0.99] = 0.0
    return prof, n_along / native_along


def _fill_occluded(prof: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Hidden entries (e.g. the ball over the paddle) count as paddle when paddle is on both sides."""
    out = prof.copy()
    out[hidden] = 0.0
    for i in np.flatnonzero(hidden):
        left = [j for j in range(i - 1, -1, -1) if not hidden[j]][:1]
        right = [j for j in range(i + 1, len(prof)) if not hidden[j]][:1]
        if left and right and min(prof[left[0]], prof[right[0]]) >= _RUN_THRESHOLD:
            out[i] = 1.0
    return out


def _heaviest_run(prof: np.ndarray) -> tuple[int, int] | None:
    """``[start, stop)`` of the contiguous above-threshold run with the most coverage."""
    on = np.concatenate([[False], prof >= _RUN_THRESHOLD, [False]])
    edges = np.flatnonzero(on[1:] != on[:-1])
    runs = list(zip(edges[::2], edges[1::2]))
    if not runs:
        return None
    start, stop = max(runs, key=lambda r: prof[r[0]:r[1]].sum())
    # Take in the partly covered pixel on each side (the paddle's blended edges).
    return max(0, start - 1), min(len(prof), stop + 1)


def paddle_position(frame: np.ndarray, game: str) -> float | None:
    """The player's paddle centre along its movement axis, in pixels of ``frame``.

    Rows for Pong, columns for Breakout; pixel ``i`` has centre ``i`` (so a paddle exactly on
    rows 100-115 of a native frame is at 107.5). ``None`` when no paddle is visible.

    Args:
        frame: ``uint8 (H, W, 3)`` RGB frame of the game at any size (the native aspect is
            assumed, i.e. resizing stretches the 210 x 160 screen onto ``H x W``).
        game: ``"pong"`` or ``"breakout"``.

    Example:
        >>> f = np.zeros((210, 160, 3), np.uint8); f[189:193, 50:66] = (200, 72, 72)
        >>> paddle_position(f, "breakout")
        57.5
    """
    spec = _spec(game)
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"frame must be a (H, W, 3) array, got {getattr(frame, 'shape', type(frame))}")
    prof, scale = _profile(frame, spec)
    run = _heaviest_run(prof)
    if run is None:
        return None
    seg = prof[run[0]:run[1]]
    mass = float(seg.sum())
    length = spec.length * scale
    if mass < 0.1 * length:
        return None
    centre = float((seg * (np.arange(run[0], run[1]) + 0.5)).sum()) / mass   # continuous coords
    lo, hi = (e * scale for e in spec.extent)
    start, stop = centre - mass / 2, centre + mass / 2
    if mass < 0.9 * length and start <= lo + 1.0:     # cut off by the near border
        centre = stop - length / 2
    elif mass < 0.9 * length and stop >= hi - 1.0:    # cut off by the far border
        centre = start + length / 2
    return centre - 0.5


# The Pong ball is white over the brown field (the field's top and bottom walls, outside the
# paddle extent, are the same white and are left out). Its tolerance is tighter than a paddle's:
# the opponent's orange paddle blended into the field lies 40 RGB units off the white line.
BALLS: dict[str, tuple[int, int, int]] = {"pong": (236, 236, 236)}
_BALL_TOL = 20.0


def ball_position(frame: np.ndarray, game: str) -> tuple[float, float] | None:
    """The ball's centre ``(row, column)`` in pixels of ``frame``; ``None`` when it is not in play.

    Pixels are weighed by their coverage on the line from the background to the ball colour
    (resizing blends a 2 x 4 native ball into the field around it), inside the rows the
    paddle moves over. Only Pong has a ball probe (Breakout's ball has its bricks' colour).

    Example:
        >>> f = np.zeros((210, 160, 3), np.uint8); f[:] = (144, 72, 17)
        >>> f[100:104, 60:62] = (236, 236, 236)
        >>> ball_position(f, "pong")
        (101.5, 60.5)
    """
    if game not in BALLS:
        raise ValueError(f"no ball probe for game {game!r}; known: {sorted(BALLS)}")
    spec = _spec(game)
    cov, off_line = _coverage(frame, BALLS[game], spec.background, _BALL_TOL)
    cov = np.where(off_line, 0.0, cov)
    rows = _overlap(frame.shape[0], NATIVE_SHAPE[0], *spec.extent) >= 0.99
    cov[~rows] = 0.0
    cov[cov < _RUN_THRESHOLD] = 0.0
    mass = float(cov.sum())
    if mass < 0.25:
        return None
    r, c = np.indices(cov.shape)
    return float((cov * r).sum() / mass), float((cov * c).sum() / mass)


def followed(frames: np.ndarray, direction: str, game: str, tol: float = 0.1) -> bool:
    """Whether the paddle moved as ``direction`` says between the first and the last frame.

    Args:
        frames: ``uint8 (T, H, W, 3)`` with ``T >= 2``; typically the last context frame
            followed by the future.
        direction: ``"up"``/``"down"``/``"stay"`` (Pong) or ``"left"``/``"right"``/``"stay"``
            (Breakout).
        game: ``"pong"`` or ``"breakout"``.
        tol: displacement, as a share of the frame's length along the axis: a move must
            exceed it, a stay must not. Both paddles have momentum and drift on after the
            joystick is released (up to 8% of the screen over 8 steps of 4 emulator frames,
            measured on real branches), so the default 0.1 is 6.4 pixels of a 64-pixel frame,
            while a held move covers 10-50 pixels.

    Returns:
        ``False`` also when the paddle is not found in the first or the last frame (a
        generated future that loses the paddle did not follow the instruction).

    Example:
        >>> f = np.zeros((2, 210, 160, 3), np.uint8); f[..., :] = (144, 72, 17)
        >>> f[:, 100:116, 140:144] = (92, 186, 92)
        >>> followed(f, "stay", "pong"), followed(f, "down", "pong")
        (True, False)
    """
    spec = _spec(game)
    if direction not in spec.directions:
        raise ValueError(f"direction {direction!r} is not one of {sorted(spec.directions)} for {game}")
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError(f"frames must be (T >= 2, H, W, 3), got {frames.shape}")
    first, last = paddle_position(frames[0], game), paddle_position(frames[-1], game)
    if first is None or last is None:
        return False
    delta = (last - first) / frames.shape[1 + spec.axis]
    sign = spec.directions[direction]
    if sign == 0:
        return abs(delta) <= tol
    return sign * delta > tol
