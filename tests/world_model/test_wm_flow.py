"""Flow matching: time sampling, noising, and the ODE integrators."""

from __future__ import annotations

import pytest
import torch

from tv2tv.world_model.flow import add_noise, integrate, sample_time, velocity_target


def test_logit_normal_time() -> None:
    g = torch.Generator().manual_seed(0)
    t = sample_time((20000,), mu=0.3, sigma=1.4, generator=g)
    assert float(t.min()) > 0 and float(t.max()) < 1
    logit = torch.logit(t.double())
    assert abs(float(logit.mean()) - 0.3) < 0.05 and abs(float(logit.std()) - 1.4) < 0.05
    again = sample_time((20000,), mu=0.3, sigma=1.4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(t, again)
    with pytest.raises(ValueError, match="sigma"):
        sample_time((2,), sigma=0.0)


def test_noise_and_target_define_a_straight_path() -> None:
    x0, eps = torch.randn(4, 5), torch.randn(4, 5)
    assert torch.equal(add_noise(x0, eps, torch.tensor(0.0)), x0)
    assert torch.equal(add_noise(x0, eps, torch.tensor(1.0)), eps)
    t, dt = torch.tensor(0.4), 1e-3
    finite = (add_noise(x0, eps, t + dt) - add_noise(x0, eps, t)) / dt
    assert torch.allclose(finite, velocity_target(x0, eps), atol=1e-2)


@pytest.mark.parametrize("method", ["euler", "heun", "midpoint"])
def test_integrate_follows_the_true_velocity(method: str) -> None:
    # For data concentrated at one point c, the exact flow velocity is (x - c) / t.
    c, x1 = torch.full((3, 4), 0.25), torch.randn(3, 4)
    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.shape == (3,)
        return (x - c) / t[:, None].clamp_min(1e-3)
    out = integrate(v, x1, steps=10, method=method)
    assert torch.allclose(out, c, atol=1e-4)


def test_higher_order_methods_beat_euler_on_a_curved_field() -> None:
    # dx/dt = x: from x(1) = e integrate back to t = 0, where x(0) = 1.
    x1 = torch.full((1, 1), torch.e)
    err = {m: float((integrate(lambda x, t: x, x1, steps=4, method=m) - 1).abs())
           for m in ("euler", "heun", "midpoint")}
    assert err["heun"] < err["euler"] / 5 and err["midpoint"] < err["euler"] / 5


def test_integrate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="method"):
        integrate(lambda x, t: x, torch.zeros(1, 1), method="rk4")
    with pytest.raises(ValueError, match="steps"):
        integrate(lambda x, t: x, torch.zeros(1, 1), steps=0)
