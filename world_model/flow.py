"""Rectified flow matching: time sampling, noising, velocity target, ODE integration.

Convention (docs/design.md, "Losses"): ``t = 0`` is data, ``t = 1`` is noise,
``x_t = (1 - t) x_0 + t eps`` and the network predicts the velocity ``v = eps - x_0``
(``dx_t/dt``). Sampling integrates from ``t = 1`` (pure noise) down to ``t = 0``. Time is
drawn from a logit-normal (Esser et al. 2024, "Scaling Rectified Flow Transformers"; TV2TV
uses sigma = 1.4). ``integrate`` is shared by validation and by rollouts.

Example:
    >>> import torch
    >>> x0, eps = torch.zeros(2, 3), torch.ones(2, 3)
    >>> out = integrate(lambda x, t: eps - x0, eps, steps=4, method="heun")   # straight path
    >>> bool(torch.allclose(out, x0, atol=1e-6))
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

METHODS = ("euler", "heun", "midpoint")
VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sample_time(shape: tuple[int, ...] | torch.Size, mu: float = 0.0, sigma: float = 1.4, *,
                generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Logit-normal flow times in (0, 1): ``sigmoid(mu + sigma * n)``, ``n ~ N(0, 1)``."""
    if sigma <= 0:
        raise ValueError(f"time sigma must be > 0, got {sigma}")
    n = torch.randn(shape, generator=generator, device=device)
    return torch.sigmoid(mu + sigma * n)


def add_noise(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``x_t = (1 - t) x0 + t eps``; ``t`` broadcasts against ``x0``."""
    return (1.0 - t) * x0 + t * eps


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The flow-matching regression target ``eps - x0``."""
    return eps - x0


def integrate(velocity_fn: VelocityFn, x1: torch.Tensor, steps: int = 8,
              method: str = "euler") -> torch.Tensor:
    """Integrate ``dx/dt = v(x, t)`` from ``t = 1`` (``x1``, noise) to ``t = 0`` (data).

    Args:
        velocity_fn: ``v(x, t)`` with ``x`` like ``x1`` and ``t`` a ``(B,)`` tensor of times
            (B = ``x1.shape[0]``); returns a velocity shaped like ``x``.
        x1: the starting noise ``(B, ...)``.
        steps: uniform time steps (each costs 1 call for Euler, 2 for Heun and midpoint;
            Heun's last step, to ``t = 0``, is an Euler step).
        method: ``euler``, ``heun`` (trapezoidal predictor-corrector) or ``midpoint``.

    Returns:
        the estimate of ``x0``, shaped like ``x1``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    ts = torch.linspace(1.0, 0.0, steps + 1, device=x1.device)
    x = x1
    b = x1.shape[0]
    for i in range(steps):
        t0, t1 = ts[i].expand(b), ts[i + 1].expand(b)
        dt = float(ts[i + 1] - ts[i])        # negative: time runs backwards
        v0 = velocity_fn(x, t0)
        if method == "euler":
            x = x + dt * v0
        elif method == "midpoint":
            xm = x + 0.5 * dt * v0
            x = x + dt * velocity_fn(xm, (t0 + t1) / 2)
        elif i == steps - 1:  # heun's last step to t = 0 is Euler, as in EDM (Karras et al. 2022)
            x = x + dt * v0
        else:  # heun: trapezoidal predictor-corrector
            xp = x + dt * v0
            x = x + 0.5 * dt * (v0 + velocity_fn(xp, t1))
    return x
