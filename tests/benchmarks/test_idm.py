"""The inverse-dynamics model learns action groups from real Atari frames and round-trips through
safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tv2tv.benchmarks.action_groups import groups_for_env
from tv2tv.benchmarks.idm import IDM, IDMConfig, collect_episodes, episode_windows, future_windows, train_idm

TINY = IDMConfig(channels=16, hidden=64, batch_size=32)


pytestmark = pytest.mark.slow


def _trained(env: str) -> tuple[IDM, list]:
    episodes = collect_episodes(env, "random", steps=1000, seed=0, frame_size=64, max_len=250)
    return train_idm(episodes, steps=250, seed=0, groups=groups_for_env(env), cfg=TINY), episodes


@pytest.fixture(scope="module")
def breakout_idm() -> tuple[IDM, list]:
    # Breakout's paddle answers left/right at once. (Measured: 0.85 held-out group accuracy.)
    return _trained("ALE/Breakout-v5")


def _majority(idm: IDM, episodes: list) -> float:
    labels = idm.groups.labels(np.concatenate([e.actions for e in episodes]))[:, 0]
    return np.bincount(labels).max() / len(labels)


def test_idm_beats_chance_on_held_out_breakout(breakout_idm) -> None:
    idm, episodes = breakout_idm
    assert idm.heldout is not None and 200 <= idm.heldout["n"] < 500   # whole last episodes, >= 20 % of steps
    assert idm.heldout_accuracy > max(1 / 3, _majority(idm, episodes)) + 0.15
    assert idm.heldout["macro"]["f1"] > 1 / 3 + 0.15


def test_idm_learns_pong() -> None:
    # Pong's paddle has inertia: the action shows as a change of velocity, which the third frame
    # reveals. Before windows of 3 frames, group targets and a feature grid the IDM stayed at
    # chance here. (Measured: 0.76 held-out accuracy and macro F1, every group F1 >= 0.7.)
    idm, episodes = _trained("ALE/Pong-v5")
    assert idm.groups.describe() == {"move": ["do nothing", "move paddle up", "move paddle down"]}
    assert idm.heldout_accuracy > max(1 / 3, _majority(idm, episodes)) + 0.3
    assert min(g["f1"] for g in idm.heldout["per_group"].values()) > 0.5


def test_idm_save_load_round_trip(breakout_idm, tmp_path: Path) -> None:
    idm, episodes = breakout_idm
    windows, actions = episode_windows(episodes[0], idm.n_frames)
    idm.save(tmp_path / "idm.safetensors")
    again = IDM.load(tmp_path / "idm.safetensors")
    assert np.array_equal(again.predict(windows), idm.predict(windows))
    assert again.heldout == idm.heldout and again.frame_shape == (64, 64, 3)
    assert again.groups == idm.groups and again.n_frames == 3


def test_idm_input_checks(breakout_idm) -> None:
    idm, _ = breakout_idm
    with pytest.raises(ValueError, match="windows must be"):
        idm.predict(np.zeros((2, 3, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="windows must be"):
        idm.predict(np.zeros((2, 2, 64, 64, 3), np.uint8))      # a pair, but the IDM sees 3 frames
    with pytest.raises(ValueError, match="pass groups"):
        train_idm([], steps=1)
    with pytest.raises(ValueError, match="actions must lie in"):
        idm.score(np.zeros((1, 3, 64, 64, 3), np.uint8), np.array([7]))


def test_future_windows_continue_from_the_context() -> None:
    ctx = np.stack([np.full((4, 4, 3), 10 + i, np.uint8) for i in range(3)])   # branch frame = 12
    fut = np.stack([np.full((4, 4, 3), i + 1, np.uint8) for i in range(3)])
    w = future_windows(ctx, fut, 3)
    assert w.shape == (3, 3, 4, 4, 3)
    assert w[:, :, 0, 0, 0].tolist() == [[11, 12, 1], [12, 1, 2], [1, 2, 3]]
    assert future_windows(ctx[-1:], fut, 3)[0, :, 0, 0, 0].tolist() == [12, 12, 1]   # padded
    assert future_windows(ctx, fut, 2)[0, :, 0, 0, 0].tolist() == [12, 1]
