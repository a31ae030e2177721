"""Intervals and paired tests over branch points: they hold the estimate, shrink with more branch
points, cover the truth about 95% of the time, and the paired test tells identical models from
clearly different ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tv2tv.benchmarks.stats import interval95, paired_test

FAST = 999   # resamples in the property tests (the default 9999 is for reports)
CREDITS = st.sampled_from([0.0, 1 / 3, 0.5, 1.0])   # counterfactual credit with shared ties


def _scores(min_branches: int = 2) -> st.SearchStrategy[np.ndarray]:
    shape = st.tuples(st.integers(min_branches, 24), st.integers(1, 4))
    return shape.flatmap(lambda s: arrays(np.float64, s, elements=CREDITS))


@settings(max_examples=40, deadline=None)
@given(_scores(), st.integers(0, 100))
def test_interval_holds_the_estimate(values: np.ndarray, seed: int) -> None:
    low, high = interval95(values, seed=seed, n_resamples=FAST)
    assert 0.0 <= low <= values.mean() + 1e-12 and values.mean() - 1e-12 <= high <= 1.0


@settings(max_examples=25, deadline=None)
@given(_scores())
def test_interval_shrinks_with_more_branch_points(values: np.ndarray) -> None:
    low, high = interval95(values, n_resamples=FAST)
    low4, high4 = interval95(np.tile(values, (4, 1)), n_resamples=FAST)   # the same, 4x the branch points
    assert high4 - low4 <= high - low + 1e-12


def test_interval_covers_the_truth_about_95_percent() -> None:
    # Clustered items: each branch point has its own hit probability (Beta around 0.4), K = 3.
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        p = rng.beta(2, 3, size=(30, 1))                              # true mean 0.4
        low, high = interval95((rng.random((30, 3)) < p).astype(float), seed=1, n_resamples=FAST)
        covered += low <= 0.4 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_interval_missing_items_and_too_few_branch_points() -> None:
    vals = [[1.0, None], [0.0, None], [1.0, 1.0], [None, None]]
    low, high = interval95(vals, n_resamples=FAST)
    assert low <= 0.75 <= high                                        # 3 of 4 present items
    assert interval95([[1.0, 0.0, 1.0]]) is None                      # one branch point: no interval
    assert interval95([[1.0], [None]]) is None                        # one that holds an item
    assert interval95(np.ones((5, 3)), n_resamples=FAST) == (1.0, 1.0)
    assert interval95(vals, seed=3) == interval95(vals, seed=3)       # seeded


@settings(max_examples=30, deadline=None)
@given(_scores())
def test_identical_models_are_not_different(values: np.ndarray) -> None:
    t = paired_test(values, values.copy(), n_resamples=FAST)
    assert t.difference == 0.0 and t.ci95 == (0.0, 0.0) and t.p_value == 1.0
    assert t.n_branches == len(values) and t.n_items == values.size


@settings(max_examples=30, deadline=None)
@given(_scores(), _scores())
def test_swapping_the_models_flips_the_difference(a: np.ndarray, b: np.ndarray) -> None:
    b = np.resize(b, a.shape)
    ab, ba = paired_test(a, b, n_resamples=FAST), paired_test(b, a, n_resamples=FAST)
    assert ab.difference == pytest.approx(-ba.difference) and ab.p_value == pytest.approx(ba.p_value)
    assert ab.difference == pytest.approx(a.mean() - b.mean())


def test_a_clear_difference_is_significant() -> None:
    rng = np.random.default_rng(1)
    good = (rng.random((40, 3)) < 0.9).astype(float)
    bad = (rng.random((40, 3)) < 0.3).astype(float)
    t = paired_test(good, bad)
    assert t.p_value < 0.001 and 0 < t.ci95[0] < t.difference < t.ci95[1]
    # Up to 13 branch points every sign flip is enumerated: 5 branch points all ahead gives 2 / 2**5.
    assert paired_test(np.ones((5, 3)), np.zeros((5, 3))).p_value == pytest.approx(2 / 32)


def test_a_single_branch_point_has_no_test() -> None:
    t = paired_test([[1.0, 1.0]], [[0.0, 1.0]])
    assert t.difference == 0.5 and t.ci95 is None and t.p_value is None and t.n_branches == 1


@pytest.mark.parametrize("a,b,match", [
    ([1.0, 0.0], [1.0, 0.0], r"a must be \(branch points, alternatives\), got shape \(2,\)"),
    ([[1.0, 0.0]], [[1.0], [0.0]], r"same items, got shapes \(1, 2\) and \(2, 1\)"),
    ([[1.0, None]], [[1.0, 0.0]], "with 1 and 0 missing"),
    ([[None]], [[None]], "no item"),
])
def test_bad_inputs_are_named(a: list, b: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        paired_test(a, b)
