"""The inverse-dynamics model learns actions from real frame pairs and round-trips through safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tv2tv.benchmarks.idm import IDM, IDMConfig, collect_episodes, episode_pairs, future_pairs, train_idm

TINY = IDMConfig(channels=16, hidden=64, batch_size=32, lr=2e-3)


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def breakout_idm() -> tuple[IDM, list]:
    # Breakout's paddle answers left/right at once, so a tiny recording is enough to learn from.
    # (Measured: 0.75 held-out accuracy against a majority-class rate of 0.375.)
    episodes = collect_episodes("ALE/Breakout-v5", "random", steps=1000, seed=0, frame_size=64, max_len=250)
    return train_idm(episodes, steps=250, seed=0, n_actions=4, cfg=TINY), episodes


def test_idm_beats_chance_on_held_out_real_pairs(breakout_idm) -> None:
    idm, episodes = breakout_idm
    held_out = np.concatenate([e.actions for e in episodes[-1:]])
    majority = np.bincount(held_out, minlength=4).max() / len(held_out)
    assert idm.heldout_accuracy is not None
    assert idm.heldout_accuracy > max(0.25, majority) + 0.15


def test_idm_save_load_round_trip(breakout_idm, tmp_path: Path) -> None:
    idm, episodes = breakout_idm
    pairs, actions = episode_pairs(episodes[0])
    idm.save(tmp_path / "idm.safetensors")
    again = IDM.load(tmp_path / "idm.safetensors")
    assert np.array_equal(again.predict(pairs), idm.predict(pairs))
    assert again.heldout_accuracy == idm.heldout_accuracy and again.frame_shape == (64, 64, 3)


def test_idm_input_checks(breakout_idm) -> None:
    idm, _ = breakout_idm
    with pytest.raises(ValueError, match="pairs must be"):
        idm.predict(np.zeros((2, 2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="pass n_actions"):
        train_idm([], steps=1)


def test_future_pairs_start_at_branch_frame() -> None:
    last = np.zeros((4, 4, 3), np.uint8)
    fut = np.stack([np.full((4, 4, 3), i + 1, np.uint8) for i in range(3)])
    pairs = future_pairs(last, fut)
    assert pairs.shape == (3, 2, 4, 4, 3)
    assert pairs[0, 0].max() == 0 and pairs[0, 1].max() == 1 and pairs[2, 0].max() == 2
