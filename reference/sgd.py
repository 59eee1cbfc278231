"""Autograd on the quadratic, and the seven SGD steps on the roller-coaster speeds.

API:
    f(x) -> Tensor                                   (x**2)
    sum_of_squares(x) -> Tensor                      ((x**2).sum())
    gradient_at(fn, x: Tensor) -> Tensor             (d fn / dx by autograd)
    roller_coaster(*, seed: int) -> tuple[Tensor, Tensor]   (time 0..19, noisy speed)
    quadratic(t, params) -> Tensor                   (a*t**2 + b*t + c)
    mse(preds, targets) -> Tensor
    apply_step(params, time, speed, *, lr=1e-5) -> Tensor    (one predict-loss-gradient-step; returns loss)
    SgdRun (dataclass: initial_params, final_params, losses)
    seven_steps(*, seed: int, n_steps=10, lr=1e-5) -> SgdRun
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reference.device import make_generator


def f(x: torch.Tensor) -> torch.Tensor:
    """The quadratic x²."""
    return x ** 2


def sum_of_squares(x: torch.Tensor) -> torch.Tensor:
    """x² summed, so that a vector input gives a scalar to call `backward` on."""
    return (x ** 2).sum()


def gradient_at(fn, x: torch.Tensor) -> torch.Tensor:
    """The gradient of scalar-valued `fn` at `x`, computed by autograd."""
    xt = x.detach().clone().requires_grad_()
    fn(xt).backward()
    return xt.grad


def roller_coaster(*, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The chapter's 20 time steps and noisy quadratic speeds, drawn from `seed`."""
    time = torch.arange(0, 20).float()
    speed = torch.randn(20, generator=make_generator(seed)) * 3 + 0.75 * (time - 9.5) ** 2 + 1
    return time, speed


def quadratic(t: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """a·t² + b·t + c with params (a, b, c)."""
    a, b, c = params
    return a * (t ** 2) + (b * t) + c


def mse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    return ((preds - targets) ** 2).mean()


def apply_step(params: torch.Tensor, time: torch.Tensor, speed: torch.Tensor, *, lr: float = 1e-5) -> torch.Tensor:
    """Predict, measure the loss, take its gradient and step the params in place; return the loss."""
    loss = mse(quadratic(time, params), speed)
    loss.backward()
    params.data -= lr * params.grad.data
    params.grad = None
    return loss.detach()


@dataclass
class SgdRun:
    """What the seven-steps loop did: the params before and after, and the loss at each step."""

    initial_params: torch.Tensor
    final_params: torch.Tensor
    losses: list[float]


def seven_steps(*, seed: int, n_steps: int = 10, lr: float = 1e-5) -> SgdRun:
    """Initialise params from `seed`, then repeat predict → loss → gradient → step `n_steps` times."""
    time, speed = roller_coaster(seed=seed)
    params = torch.randn(3, generator=make_generator(seed + 1)).requires_grad_()
    initial = params.detach().clone()
    losses = [apply_step(params, time, speed, lr=lr).item() for _ in range(n_steps)]
    return SgdRun(initial, params.detach().clone(), losses)
