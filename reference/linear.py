"""The linear model of 3s vs 7s trained by hand-written SGD, as the chapter builds it.

API:
    SampleXY (dataclass: train_x N×784, train_y N×1 int64 (1 = three), valid_x, valid_y)
    sample_xy(sample: Sample) -> SampleXY
    batches(x, y, batch_size: int) -> list[tuple[Tensor, Tensor]]   (in order, like DataLoader(dset, bs))
    init_params(size, std=1.0, *, generator=None, device=None) -> Tensor (requires grad)
    linear1(xb, weights, bias) -> Tensor
    sigmoid(x) -> Tensor
    mnist_loss_probabilities(predictions, targets) -> Tensor   (the chapter's first mnist_loss, no sigmoid)
    mnist_loss(predictions, targets) -> Tensor                 (the final version: sigmoid first)
    batch_accuracy(xb, yb) -> Tensor
    calc_grad(xb, yb, model, *, loss_func=mnist_loss) -> Tensor   (accumulates grads; returns the loss)
    train_epoch(model, dl, lr, params) -> float                   (mean batch loss)
    validate_epoch(model, valid_dl) -> float                      (rounded to 4 places, as the chapter)
    LinearRun (dataclass: initial_accuracy, valid_accuracies, train_losses, weights, bias)
    train_linear(xy: SampleXY, *, epochs=20, lr=1.0, batch_size=256, seed=0) -> LinearRun
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from reference.baseline import Sample
from reference.device import make_generator


@dataclass(frozen=True)
class SampleXY:
    """Flattened images (N×784) and targets (N×1, 1 for a three) of both MNIST_SAMPLE splits."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor


def _xy(threes: torch.Tensor, sevens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Threes then sevens as rows of 784 pixels, with targets 1 then 0."""
    x = torch.cat([threes, sevens]).view(-1, 28 * 28)
    y = torch.tensor([1] * len(threes) + [0] * len(sevens), device=x.device).unsqueeze(1)
    return x, y


def sample_xy(sample: Sample) -> SampleXY:
    """The chapter's `train_x, train_y, valid_x, valid_y`, on the sample's device."""
    return SampleXY(*_xy(sample.threes, sample.sevens), *_xy(sample.valid_threes, sample.valid_sevens))


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive mini-batches in data order (what `DataLoader(dset, batch_size)` yields)."""
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]


def init_params(size, std: float = 1.0, *, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> torch.Tensor:
    """Normal random parameters scaled by `std`, drawn on the CPU, moved to `device`, tracking grads."""
    return (torch.randn(size, generator=generator) * std).to(device or "cpu").requires_grad_()


def linear1(xb: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A linear model: xb @ weights + bias."""
    return xb @ weights + bias


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + e^-x): squashes any number into (0, 1)."""
    return 1 / (1 + torch.exp(-x))


def mnist_loss_probabilities(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean distance from the target, for predictions already in [0, 1]."""
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def mnist_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sigmoid the raw predictions, then take the mean distance from the target."""
    return mnist_loss_probabilities(predictions.sigmoid(), targets)


def batch_accuracy(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Fraction of raw predictions whose sigmoid lands on the right side of 0.5."""
    correct = (xb.sigmoid() > 0.5) == yb
    return correct.float().mean()


def calc_grad(xb: torch.Tensor, yb: torch.Tensor, model, *, loss_func=mnist_loss) -> torch.Tensor:
    """Predict, compute the loss and backpropagate (gradients accumulate); return the loss."""
    loss = loss_func(model(xb), yb)
    loss.backward()
    return loss.detach()


def train_epoch(model, dl, lr: float, params) -> float:
    """One pass over `dl`: gradient, step `p -= grad * lr`, zero the gradient; return the mean loss."""
    losses = []
    for xb, yb in dl:
        losses.append(calc_grad(xb, yb, model))
        for p in params:
            p.data -= p.grad * lr
            p.grad.zero_()
    return torch.stack(losses).mean().item()


def validate_epoch(model, valid_dl) -> float:
    """Mean of the per-batch accuracies over `valid_dl`, rounded to 4 places."""
    with torch.no_grad():
        accs = [batch_accuracy(model(xb), yb) for xb, yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)


@dataclass
class LinearRun:
    """A finished linear run: accuracy before training, then per-epoch accuracy and train loss."""

    initial_accuracy: float
    valid_accuracies: list[float]
    train_losses: list[float]
    weights: torch.Tensor
    bias: torch.Tensor


def train_linear(xy: SampleXY, *, epochs: int = 20, lr: float = 1.0, batch_size: int = 256,
                 seed: int = 0) -> LinearRun:
    """The chapter's linear model: init from `seed`, then `epochs` of SGD in data order."""
    generator, device = make_generator(seed), xy.train_x.device
    weights = init_params((28 * 28, 1), generator=generator, device=device)
    bias = init_params(1, generator=generator, device=device)
    model = partial(linear1, weights=weights, bias=bias)
    dl, valid_dl = batches(xy.train_x, xy.train_y, batch_size), batches(xy.valid_x, xy.valid_y, batch_size)
    run = LinearRun(validate_epoch(model, valid_dl), [], [], weights, bias)
    for _ in range(epochs):
        run.train_losses.append(train_epoch(model, dl, lr, (weights, bias)))
        run.valid_accuracies.append(validate_epoch(model, valid_dl))
    return run
