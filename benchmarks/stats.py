"""95% intervals and paired tests over branch points (docs/design.md, "Controllability").

Every controllability score is a mean over *items*, one per (branch point, alternative):
counterfactual credit (0, 1, or ``1/m`` when ``m`` truths tie), a probe follow (1 or 0; missing
where the script has no probe), the IDM's share of steps labelled right. Scores are passed as
``(branch points, alternatives)`` arrays, ``nan`` (or ``None``) for a missing item.

The K alternatives of one branch point share its context and game state, so they are not K
independent trials, and counterfactual credit is fractional: an exact binomial interval over
``B * K`` items would be too narrow and does not apply. The unit resampled is therefore the branch
point (a cluster bootstrap; Field & Welsh 2007, "Bootstrapping clustered data"):

* :func:`interval95`: percentile bootstrap (``scipy.stats.bootstrap``, 9999 resamples, seeded) of
  ``sum of item scores / number of items`` over resampled branch points. Percentile rather than
  BCa, because BCa is undefined when every branch point scores the same (a model at 1.0 does).
* :func:`paired_test`: two models scored on the same items. Per branch point, the difference of
  their summed scores; the two-sided p-value comes from a sign-flip permutation test
  (``scipy.stats.permutation_test`` with ``permutation_type="samples"`` swaps the two models
  within a branch point), exact up to 13 branch points (``2**13 <= 9999`` arrangements) and Monte
  Carlo beyond; the difference's interval from the paired bootstrap.

With fewer than two branch points that hold an item there is no interval and no p-value (``None``).

Example:
    >>> interval95([[1.0, 0.0, 1.0], [1.0, 1.0, 0.5], [0.0, 1.0, 1.0]])
    (0.6666666666666666, 0.8333333333333334)
    >>> paired_test([[1.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]).p_value
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

N_RESAMPLES = 9999


@dataclass(frozen=True)
class Paired:
    """Model a minus model b over the same items.

    Attributes:
        difference: a's mean item score minus b's.
        ci95: the difference's 95% interval (paired bootstrap over branch points), or ``None``.
        p_value: two-sided sign-flip permutation p-value, or ``None`` (fewer than 2 branch points).
        n_branches, n_items: branch points and items the test used.
    """

    difference: float
    ci95: tuple[float, float] | None
    p_value: float | None
    n_branches: int
    n_items: int


def _items(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (branch points, alternatives), got shape {arr.shape}")
    return arr


def _sums(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per branch point that holds an item: summed score and item count, ``(B',)`` each."""
    seen = ~np.isnan(arr)                                          # (B, K)
    keep = seen.any(axis=1)
    return np.where(seen, arr, 0.0).sum(axis=1)[keep], seen.sum(axis=1)[keep].astype(np.float64)


def _ratio(s: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
    return s.sum(axis=axis) / c.sum(axis=axis)


def _bootstrap(s: np.ndarray, c: np.ndarray, seed: int, n_resamples: int) -> tuple[float, float] | None:
    if len(s) < 2:
        return None
    res = stats.bootstrap((s, c), _ratio, paired=True, vectorized=True, method="percentile",
                          n_resamples=n_resamples, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def interval95(values: ArrayLike, seed: int = 0,
               n_resamples: int = N_RESAMPLES) -> tuple[float, float] | None:
    """95% interval of the mean item score, bootstrapping branch points (see the module docstring).

    Args:
        values: ``(branch points, alternatives)`` item scores, ``nan``/``None`` where missing.
        seed: the bootstrap's seed (the same values and seed give the same interval).

    Returns:
        ``(low, high)``, or ``None`` when fewer than two branch points hold an item.
    """
    s, c = _sums(_items(values, "values"))
    return _bootstrap(s, c, seed, n_resamples)


def paired_test(a: ArrayLike, b: ArrayLike, seed: int = 0, n_resamples: int = N_RESAMPLES) -> Paired:
    """Does model a score differently from model b on the same items? (module docstring)

    Args:
        a, b: ``(branch points, alternatives)`` item scores of the two models, missing in the same
            places (``nan``/``None``).
        seed: seed of the bootstrap and of the Monte Carlo permutations.

    Example:
        >>> paired_test([[1.0, 1.0]] * 20, [[0.0, 0.0]] * 20).p_value < 0.001
        True
    """
    x, y = _items(a, "a"), _items(b, "b")
    if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
        raise ValueError(f"a and b must score the same items, got shapes {x.shape} and {y.shape} "
                         f"with {int(np.isnan(x).sum())} and {int(np.isnan(y).sum())} missing")
    sa, c = _sums(x)
    sb, _ = _sums(y)
    if not len(c):
        raise ValueError(f"a and b hold no item (all {x.size} missing)")
    total = c.sum()
    p_value = None
    if len(c) >= 2:
        test = stats.permutation_test((sa, sb), lambda u, v, axis=-1: (u.sum(axis) - v.sum(axis)) / total,
                                      permutation_type="samples", vectorized=True, n_resamples=n_resamples,
                                      rng=np.random.default_rng(seed))
        p_value = float(min(1.0, test.pvalue))
    return Paired(difference=float((sa.sum() - sb.sum()) / total),
                  ci95=_bootstrap(sa - sb, c, seed, n_resamples), p_value=p_value, n_branches=len(c),
                  n_items=int(total))
