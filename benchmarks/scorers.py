"""Scores of generated futures against the real game's (docs/design.md, "Controllability").

Conventions (documented in the README's ``results.json`` schema):

* **PSNR** per frame with ``data_range=255`` on uint8 RGB (``frame_psnr``: the world model's
  ``psnr``, via ``torchmetrics``). Identical frames
  have infinite PSNR; JSON cannot hold ``inf``, so every frame's PSNR is capped at
  ``PSNR_CAP = 100`` dB (a perfect prediction scores exactly 100).
* **SSIM** per frame (``torchmetrics``, Gaussian window 11, or the largest odd window that fits
  a smaller frame), ``data_range=255``.
* **Counterfactual accuracy**: at one branch point with K alternatives, generated future ``k``
  is a hit when its mean squared error over the horizon to ground truth ``k`` is smaller than to
  every other ground truth ``j != k``. Ties are shared: when ``m`` ground truths (its own among
  them) are equally near, the hit counts ``1 / m``, so a model that cannot tell them apart
  scores chance, not 0 or 1. The score is the mean over branches and alternatives; chance is
  ``1 / K``. "By step" curves use the first ``h`` future steps for each ``h``.
* **Probe follow rate**: the share of (branch, alternative) pairs with a probe direction whose
  paddle moved as instructed, from the branch frame to the last future frame
  (:func:`tv2tv.benchmarks.probes.followed`).
* **Intervals and paired tests** (:mod:`tv2tv.benchmarks.stats`): every rate keeps its item scores
  per (branch, alternative) in ``per_branch`` and gets a 95% interval ``<metric>_ci95``
  bootstrapped over branch points; :func:`compare_models` tests every pair of models on them.

Example:
    >>> import numpy as np
    >>> truth = np.random.default_rng(0).integers(0, 255, (3, 4, 16, 16, 3), dtype=np.uint8)
    >>> counterfactual_hits(truth, truth).tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from tv2tv.benchmarks.models import Branch
from tv2tv.benchmarks.probes import followed
from tv2tv.benchmarks.stats import interval95, paired_test
from tv2tv.world_model.sampling import psnr

PSNR_CAP = 100.0
DATA_RANGE = 255.0
ITEM_METRICS = ("counterfactual_accuracy", "probe_follow_rate", "idm_accuracy")  # per-item, tested in pairs


def _nchw(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 255]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()


def frame_psnr(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB, capped at ``PSNR_CAP``; inputs ``uint8 (N, H, W, C)``, output ``(N,)``.

    Example:
        >>> f = np.zeros((1, 8, 8, 3), np.uint8)
        >>> frame_psnr(f, f).tolist()
        [100.0]
    """
    _check_pair(pred, truth)
    val = psnr(_nchw(pred), _nchw(truth), data_range=(0.0, DATA_RANGE))
    return np.minimum(val.numpy().astype(np.float64), PSNR_CAP)


def ssim(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame SSIM; inputs ``uint8 (N, H, W, C)``, output ``(N,)``.

    Example:
        >>> f = np.full((2, 16, 16, 3), 9, np.uint8)
        >>> np.round(ssim(f, f), 4).tolist()
        [1.0, 1.0]
    """
    _check_pair(pred, truth)
    side = min(pred.shape[1], pred.shape[2])
    kernel = min(11, side if side % 2 else side - 1)
    val = structural_similarity_index_measure(_nchw(pred), _nchw(truth), data_range=DATA_RANGE,
                                              kernel_size=kernel, reduction="none")
    return val.numpy().astype(np.float64)  # type: ignore[union-attr]


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> None:
    if pred.shape != truth.shape or pred.ndim != 4:
        raise ValueError(f"pred and truth must both be (N, H, W, C), got {pred.shape} and {truth.shape}")


def step_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-step MSE of every generated future to every ground truth: ``(K, K, horizon)``.

    ``pred`` and ``truth`` are ``uint8 (K, horizon, H, W, C)``; entry ``[k, j, s]`` compares
    generated future ``k`` with ground truth ``j`` at step ``s``.
    """
    p = pred.astype(np.float32)[:, None]                          # (K, 1, h, H, W, C)
    t = truth.astype(np.float32)[None]                            # (1, K, h, H, W, C)
    return ((p - t) ** 2).mean(axis=(3, 4, 5))                    # (K, K, h)


def hits_from_distances(dist: np.ndarray) -> np.ndarray:
    """Counterfactual credit per alternative from a ``(K, K)`` distance matrix (ties shared)."""
    nearest = dist.min(axis=1, keepdims=True)                     # (K, 1)
    tied = np.isclose(dist, nearest, rtol=1e-9, atol=1e-12)       # (K, K)
    own = np.diag(tied)                                           # (K,)
    return np.where(own, 1.0 / tied.sum(axis=1), 0.0)


def counterfactual_hits(pred: np.ndarray, truth: np.ndarray, steps: int | None = None) -> np.ndarray:
    """Credit in [0, 1] per alternative of one branch, over the first ``steps`` (default all)."""
    err = step_errors(pred, truth)[:, :, :steps]
    return hits_from_distances(err.mean(axis=2))


def counterfactual_hits_by_step(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(horizon, K)``: credit using the first ``h + 1`` steps, for every ``h``."""
    err = step_errors(pred, truth)                                # (K, K, h)
    prefix = np.cumsum(err, axis=2) / np.arange(1, err.shape[2] + 1)
    return np.stack([hits_from_distances(prefix[:, :, h]) for h in range(err.shape[2])])


def probe_follows(pred: np.ndarray, branch: Branch, game: str) -> list[bool | None]:
    """Per alternative: did the paddle move as its script's ``probe`` says (``None``: no probe)."""
    out: list[bool | None] = []
    for k, script in enumerate(branch.scripts):
        if script.probe is None:
            out.append(None)
            continue
        frames = np.concatenate([branch.last_frame[None], pred[k]])   # (1 + horizon, H, W, C)
        out.append(bool(followed(frames, script.probe, game)))
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def score_model(branches: Sequence[Branch], predictions: Sequence[np.ndarray],
                game: str | None = None) -> dict[str, Any]:
    """Every metric of one model over all branches (see the module docstring).

    Args:
        branches: the branch points with their ground truth ``(K, horizon, H, W, C)``.
        predictions: the model's futures, one ``(K, horizon, H, W, C)`` array per branch.
        game: probe key (``"pong"``, ``"breakout"``) or ``None`` for no probe.

    Returns:
        ``counterfactual_accuracy``, ``counterfactual_accuracy_by_step``, ``chance``, ``psnr``
        and ``ssim`` (lists by horizon step), ``probe_follow_rate`` (``None`` without probe),
        ``counterfactual_accuracy_ci95`` and ``probe_follow_rate_ci95`` (``[low, high]`` or
        ``None``), ``n_branches``, ``per_alternative`` (the same by alternative name) and
        ``per_branch``: each rate's item scores, ``(branches, alternatives)`` lists, ``None`` where
        an alternative has no probe.
    """
    if len(branches) != len(predictions) or not branches:
        raise ValueError(f"need one prediction per branch, "
                         f"got {len(predictions)} for {len(branches)} branches")
    names = [s.name for s in branches[0].scripts]
    k, h = len(names), branches[0].horizon
    hits = np.zeros((len(branches), h, k))                        # (B, h, K)
    ps, ss = np.zeros((len(branches), k, h)), np.zeros((len(branches), k, h))
    follows: list[list[bool | None]] = []
    for i, (b, pred) in enumerate(zip(branches, predictions)):
        hits[i] = counterfactual_hits_by_step(pred, b.truth)
        flat_p, flat_t = pred.reshape(k * h, *pred.shape[2:]), b.truth.reshape(k * h, *pred.shape[2:])
        ps[i], ss[i] = frame_psnr(flat_p, flat_t).reshape(k, h), ssim(flat_p, flat_t).reshape(k, h)
        follows.append(probe_follows(pred, b, game) if game else [None] * k)
    per_alt = {
        name: {"counterfactual_accuracy": float(hits[:, -1, j].mean()),
               "psnr_mean": float(ps[:, j].mean()), "ssim_mean": float(ss[:, j].mean()),
               "probe_follow_rate": _mean([f[j] for f in follows])}
        for j, name in enumerate(names)
    }
    per_branch = {"counterfactual_accuracy": hits[:, -1].tolist(),
                  "probe_follow_rate": [[None if v is None else float(v) for v in f] for f in follows]}
    return {
        "counterfactual_accuracy": float(hits[:, -1].mean()),
        "counterfactual_accuracy_ci95": ci95(per_branch["counterfactual_accuracy"]),
        "counterfactual_accuracy_by_step": hits.mean(axis=(0, 2)).tolist(),
        "chance": 1.0 / k,
        "psnr": ps.mean(axis=(0, 1)).tolist(),
        "ssim": ss.mean(axis=(0, 1)).tolist(),
        "probe_follow_rate": _mean([v for f in follows for v in f]),
        "probe_follow_rate_ci95": ci95(per_branch["probe_follow_rate"]),
        "n_branches": len(branches),
        "per_alternative": per_alt,
        "per_branch": per_branch,
    }


def ci95(items: Sequence[Sequence[float | None]]) -> list[float] | None:
    """:func:`~tv2tv.benchmarks.stats.interval95` as JSON holds it: ``[low, high]`` or ``None``."""
    ci = interval95(items)
    return None if ci is None else list(ci)


def compare_models(models: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`~tv2tv.benchmarks.stats.paired_test` of every pair of models (``a`` listed before ``b``)
    on every rate of ``ITEM_METRICS`` both have.

    Returns:
        One dict per pair and metric: ``metric``, ``a``, ``b``, ``difference`` (a minus b), ``ci95``,
        ``p_value``, ``n_branches`` and ``n_items``.
    """
    names, out = list(models), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for metric in ITEM_METRICS:
                if models[a].get(metric) is None or models[b].get(metric) is None:
                    continue
                test = paired_test(models[a]["per_branch"][metric], models[b]["per_branch"][metric])
                ci = None if test.ci95 is None else list(test.ci95)
                out.append({"metric": metric, "a": a, "b": b, **asdict(test), "ci95": ci})
    return out
