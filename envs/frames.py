"""Frame resizing shared by every env, importer and benchmark.

One function decides how a game frame becomes a square model frame: ``cv2.INTER_AREA``
(pixel-area averaging), which is the interpolation OpenCV recommends for shrinking and keeps
small sprites such as the Pong ball visible instead of aliasing them away.

Example:
    >>> import numpy as np
    >>> frame = np.zeros((210, 160, 3), np.uint8)
    >>> resize_frame(frame, 64).shape
    (64, 64, 3)
"""

from __future__ import annotations

from typing import Any

import cv2
import gymnasium as gym
import numpy as np

from tv2tv.config import check_int

MIN_RESIZE = 1


def _check_size(size: int) -> None:
    check_int("size", size, MIN_RESIZE)


def _check_frame(frame: Any, ndim: int, what: str) -> None:
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{what} must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != ndim or frame.shape[-1] != 3:
        dims = "(N, H, W, 3)" if ndim == 4 else "(H, W, 3)"
        raise ValueError(f"{what} must be a uint8 {dims} array, got {frame.dtype} {frame.shape}")


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize one RGB frame to ``size x size`` with ``cv2.INTER_AREA``.

    Args:
        frame: ``uint8 (H, W, 3)``.
        size: side of the square output.

    Returns:
        ``uint8 (size, size, 3)``; a copy even when the frame already has that size.

    Example:
        >>> resize_frame(np.full((210, 160, 3), 7, np.uint8), 32)[0, 0].tolist()
        [7, 7, 7]
    """
    _check_size(size)
    _check_frame(frame, 3, "frame")
    if frame.shape[0] == size and frame.shape[1] == size:
        return frame.copy()
    # INTER_AREA is only area averaging when shrinking; when growing OpenCV uses bilinear-like
    # weights, which is fine for the rare upscaled frame.
    out = cv2.resize(np.ascontiguousarray(frame), (size, size), interpolation=cv2.INTER_AREA)
    return out.reshape(size, size, 3)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch of RGB frames, ``uint8 (N, H, W, 3) -> (N, size, size, 3)``.

    Example:
        >>> resize_frames(np.zeros((5, 210, 160, 3), np.uint8), 16).shape
        (5, 16, 16, 3)
    """
    _check_size(size)
    _check_frame(frames, 4, "frames")
    out = np.empty((frames.shape[0], size, size, 3), np.uint8)
    for i, frame in enumerate(frames):
        out[i] = resize_frame(frame, size)
    return out


class ResizeFrame(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Resize RGB observations to ``size x size x 3`` with :func:`resize_frame`.

    Args:
        env: an env whose observation space is a ``uint8 (H, W, 3)`` Box.
        size: side of the square output frame.

    Example:
        >>> import ale_py, gymnasium as gym                      # doctest: +SKIP
        >>> gym.register_envs(ale_py)                            # doctest: +SKIP
        >>> env = ResizeFrame(gym.make("ALE/Pong-v5"), 64)       # doctest: +SKIP
        >>> env.observation_space.shape                          # doctest: +SKIP
        (64, 64, 3)
    """

    def __init__(self, env: gym.Env, size: int) -> None:
        _check_size(size)
        gym.utils.RecordConstructorArgs.__init__(self, size=size)
        space = env.observation_space
        if (not isinstance(space, gym.spaces.Box) or space.dtype != np.uint8
                or len(space.shape) != 3 or space.shape[-1] != 3):
            raise ValueError(f"ResizeFrame needs a uint8 (H, W, 3) Box observation space, got {space}")
        gym.ObservationWrapper.__init__(self, env)
        self.size = int(size)
        self.observation_space = gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return resize_frame(observation, self.size)
