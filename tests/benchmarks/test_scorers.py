"""Scorers: PSNR cap, SSIM, counterfactual accuracy with shared ties, oracle and copy-last."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.benchmarks.models import Branch, CopyLast, Script
from tv2tv.benchmarks.scorers import (
    PSNR_CAP,
    compare_models,
    counterfactual_hits,
    frame_psnr,
    hits_from_distances,
    score_model,
    ssim,
)


def _branch(truth: np.ndarray, last: np.ndarray, index: int = 0) -> Branch:
    k, h = truth.shape[:2]
    scripts = tuple(Script(f"alt{j}", ((0, "x"),), np.zeros(h, np.int64)) for j in range(k))
    return Branch("fake", index, 0, 10, 9, np.stack([last, last]), np.zeros(1, np.int64), (), scripts, truth)


def _random_truth(seed: int, k: int = 3, h: int = 4, side: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (k, h, side, side, 3), dtype=np.uint8)


def test_psnr_is_capped_and_ordered() -> None:
    f = _random_truth(0)[0]
    assert frame_psnr(f, f).tolist() == [PSNR_CAP] * len(f)
    noisy = np.clip(f.astype(int) + 3, 0, 255).astype(np.uint8)
    noisier = np.clip(f.astype(int) + 30, 0, 255).astype(np.uint8)
    assert (frame_psnr(noisy, f) > frame_psnr(noisier, f)).all()
    assert np.allclose(ssim(f, f), 1.0, atol=1e-5)
    assert (ssim(noisier, f) < 0.99).all()


def test_ties_are_shared() -> None:
    d = np.array([[0.0, 0.0, 5.0], [1.0, 0.5, 2.0], [3.0, 1.0, 2.0]])
    assert hits_from_distances(d).tolist() == [0.5, 1.0, 0.0]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_oracle_hits_everything(seed: int, k: int) -> None:
    truth = _random_truth(seed, k=k, h=2, side=8)
    assert counterfactual_hits(truth, truth).tolist() == [1.0] * k


def test_score_model_oracle_and_copy_last() -> None:
    # Three futures that differ only in how far they drift from the branch frame.
    last = np.full((16, 16, 3), 100, np.uint8)
    truth = np.stack([np.stack([last + d * (s + 1) for s in range(4)]) for d in (0, 5, 20)]).astype(np.uint8)
    branches = [_branch(truth, last, i) for i in range(3)]
    oracle = score_model(branches, [b.truth for b in branches])
    assert oracle["counterfactual_accuracy"] == 1.0
    assert oracle["psnr"] == [PSNR_CAP] * 4
    assert oracle["chance"] == pytest.approx(1 / 3)
    assert oracle["probe_follow_rate"] is None and oracle["n_branches"] == 3
    copy = score_model(branches, [CopyLast().predict(b, list(b.scripts), 4, 0) for b in branches])
    # Copy-last is nearest to the future that does not move, for every alternative.
    assert copy["counterfactual_accuracy"] == pytest.approx(1 / 3)
    assert copy["per_alternative"]["alt0"]["counterfactual_accuracy"] == 1.0
    assert copy["per_alternative"]["alt2"]["counterfactual_accuracy"] == 0.0
    assert copy["psnr"][0] < PSNR_CAP
    # Item scores per (branch, alternative) and 95% intervals over branch points.
    assert oracle["per_branch"]["counterfactual_accuracy"] == [[1.0] * 3] * 3
    assert oracle["counterfactual_accuracy_ci95"] == [1.0, 1.0] and oracle["probe_follow_rate_ci95"] is None
    assert copy["per_branch"]["counterfactual_accuracy"] == [[1.0, 0.0, 0.0]] * 3
    assert copy["per_branch"]["probe_follow_rate"] == [[None] * 3] * 3
    (t,) = compare_models({"oracle": oracle, "copy-last": copy})      # no probe: one rate to compare
    assert (t["metric"], t["a"], t["b"]) == ("counterfactual_accuracy", "oracle", "copy-last")
    assert t["difference"] == pytest.approx(2 / 3) and t["ci95"] == pytest.approx([2 / 3, 2 / 3])
    assert t["p_value"] == pytest.approx(2 / 8)   # 3 branch points: every sign flip enumerated
    assert t["n_branches"] == 3 and t["n_items"] == 9


def test_score_model_checks_lengths() -> None:
    with pytest.raises(ValueError, match="one prediction per branch"):
        score_model([], [])
