"""resize_frame / resize_frames / ResizeFrame: shapes, values, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tv2tv.envs.frames import ResizeFrame, resize_frame, resize_frames


@settings(max_examples=40, deadline=None)
@given(
    frame=arrays(np.uint8, st.tuples(st.integers(1, 50), st.integers(1, 50), st.just(3))),
    size=st.integers(1, 40),
)
def test_resize_frame_shape_and_range(frame: np.ndarray, size: int) -> None:
    out = resize_frame(frame, size)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    if size <= min(frame.shape[:2]):  # shrinking averages areas: values stay within the input's range
        for c in range(3):
            assert frame[..., c].min() <= out[..., c].min() and out[..., c].max() <= frame[..., c].max()


def test_resize_frame_area_average() -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:2, :2] = 200  # top-left quadrant bright
    out = resize_frame(frame, 2)
    assert out[0, 0].tolist() == [200, 200, 200] and out[1, 1].tolist() == [0, 0, 0]
    frame[0, 0] = 0  # one of four pixels dark: 3/4 of 200
    assert resize_frame(frame, 2)[0, 0, 0] == 150


def test_resize_frame_same_size_is_a_copy() -> None:
    frame = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    out = resize_frame(frame, 4)
    assert np.array_equal(out, frame) and out is not frame


def test_resize_frames_matches_single() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 21, 16, 3), dtype=np.uint8)
    out = resize_frames(frames, 8)
    assert out.shape == (3, 8, 8, 3)
    for f, o in zip(frames, out):
        assert np.array_equal(resize_frame(f, 8), o)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                                 np.zeros((4, 4, 4), np.uint8)])
def test_resize_frame_rejects_bad_frames(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        resize_frame(bad, 4)


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_resize_frame_rejects_bad_size(size: object) -> None:
    with pytest.raises(ValueError, match="size must be an int"):
        resize_frame(np.zeros((4, 4, 3), np.uint8), size)  # type: ignore[arg-type]


class _Screen(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (21, 16, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full((21, 16, 3), 9, np.uint8), {}

    def step(self, action):
        return np.full((21, 16, 3), 9, np.uint8), 0.0, False, False, {}


def test_resize_wrapper_space_and_obs() -> None:
    env = ResizeFrame(_Screen(), 8)
    assert env.observation_space == gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (8, 8, 3) and (obs == 9).all() and env.observation_space.contains(obs)


def test_resize_wrapper_rejects_non_rgb_space() -> None:
    env = _Screen()
    env.observation_space = gym.spaces.Box(0, 1, (4,), np.float32)
    with pytest.raises(ValueError, match="observation space"):
        ResizeFrame(env, 8)
