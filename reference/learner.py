"""From hand-written SGD to fastai: BasicOptim, train_model, SGD, DataLoaders, Learner, simple_net.

API:
    BasicOptim(params, lr)                .step()  .zero_grad()
    train_epoch(model, dl, opt, *, loss_func=mnist_loss) -> float         (mean batch loss)
    train_model(model, epochs, *, dl, valid_dl, opt, loss_func=mnist_loss) -> list[float]  (accuracy per epoch)
    train_linear_module(xy, *, opt_name="basic"|"sgd", epochs=20, lr=1.0, batch_size=256, seed=0) -> list[float]
    sample_dataloaders(xy, *, batch_size=256) -> fastai DataLoaders      (the chapter's dl / valid_dl)
    linear_learner(dls, *, seed=0) -> Learner                             (nn.Linear(784, 1), SGD, mnist_loss)
    init_simple_net(*, generator=None, device=None, hidden=30) -> tuple[Tensor, Tensor, Tensor, Tensor]
    simple_net(xb, w1, b1, w2, b2) -> Tensor                              (hand-written linear → ReLU → linear)
    simple_net_module(*, hidden=30) -> nn.Sequential
    simple_net_learner(dls, *, seed=0) -> Learner
    LearnerRun (dataclass: train_losses, valid_losses, valid_accuracies)
    fit_quietly(learn, epochs, lr) -> LearnerRun                           (Learner.fit without bars or logs)
    train_simple_net(xy, *, epochs=40, lr=0.1, batch_size=256, seed=0) -> LearnerRun
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reference.device import seed_everything
from reference.linear import SampleXY, batch_accuracy, batches, init_params, mnist_loss, validate_epoch


class BasicOptim:
    """Plain SGD written by hand: `p -= grad * lr` for every parameter."""

    def __init__(self, params, lr: float):
        self.params, self.lr = list(params), lr

    def step(self, *args, **kwargs) -> None:
        """Move every parameter against its gradient."""
        for p in self.params:
            p.data -= p.grad.data * self.lr

    def zero_grad(self, *args, **kwargs) -> None:
        """Forget the gradients before the next batch."""
        for p in self.params:
            p.grad = None


def train_epoch(model, dl, opt, *, loss_func=mnist_loss) -> float:
    """One pass over `dl` with an optimiser; return the mean batch loss."""
    losses = []
    for xb, yb in dl:
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()


def train_model(model, epochs: int, *, dl, valid_dl, opt, loss_func=mnist_loss) -> list[float]:
    """Train for `epochs`, returning the validation accuracy after each."""
    accuracies = []
    for _ in range(epochs):
        train_epoch(model, dl, opt, loss_func=loss_func)
        accuracies.append(validate_epoch(model, valid_dl))
    return accuracies


def train_linear_module(xy: SampleXY, *, opt_name: str = "basic", epochs: int = 20, lr: float = 1.0,
                        batch_size: int = 256, seed: int = 0) -> list[float]:
    """`nn.Linear(784, 1)` trained by BasicOptim ("basic") or fastai's SGD ("sgd"); accuracy per epoch."""
    from fastai.optimizer import SGD

    seed_everything(seed)
    model = nn.Linear(28 * 28, 1).to(xy.train_x.device)
    opt = BasicOptim(model.parameters(), lr) if opt_name == "basic" else SGD(model.parameters(), lr)
    return train_model(model, epochs, dl=batches(xy.train_x, xy.train_y, batch_size),
                       valid_dl=batches(xy.valid_x, xy.valid_y, batch_size), opt=opt)


def sample_dataloaders(xy: SampleXY, *, batch_size: int = 256):
    """fastai `DataLoaders` over the chapter's `dset` / `valid_dset`, unshuffled as in the chapter."""
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader

    dl = DataLoader(list(zip(xy.train_x, xy.train_y)), batch_size=batch_size)
    valid_dl = DataLoader(list(zip(xy.valid_x, xy.valid_y)), batch_size=batch_size)
    return DataLoaders(dl, valid_dl, device=xy.train_x.device)


def _sgd_learner(dls, model: nn.Module):
    """A fastai Learner with the chapter's choices: SGD, `mnist_loss`, `batch_accuracy`."""
    import fastai.callback.progress  # noqa: F401  (gives Learner its progress bar and `no_bar`, as in the chapter)
    from fastai.learner import Learner
    from fastai.optimizer import SGD

    return Learner(dls, model, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)


def linear_learner(dls, *, seed: int = 0):
    """The chapter's `Learner(dls, nn.Linear(28*28,1), opt_func=SGD, ...)`, initialised from `seed`."""
    seed_everything(seed)
    return _sgd_learner(dls, nn.Linear(28 * 28, 1))


def init_simple_net(*, generator: torch.Generator | None = None, device=None,
                    hidden: int = 30) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The chapter's w1, b1, w2, b2 for a 784 → hidden → 1 net."""
    sizes = ((28 * 28, hidden), hidden, (hidden, 1), 1)
    return tuple(init_params(size, generator=generator, device=device) for size in sizes)


def simple_net(xb: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
               b2: torch.Tensor) -> torch.Tensor:
    """Linear layer, ReLU (max with 0), linear layer, written by hand."""
    res = xb @ w1 + b1
    res = res.max(torch.tensor(0.0, device=res.device))
    return res @ w2 + b2


def simple_net_module(*, hidden: int = 30) -> nn.Sequential:
    """The same net from PyTorch layers."""
    return nn.Sequential(nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def simple_net_learner(dls, *, seed: int = 0):
    """The chapter's Learner around `simple_net`, initialised from `seed`."""
    seed_everything(seed)
    return _sgd_learner(dls, simple_net_module())


@dataclass
class LearnerRun:
    """Per-epoch figures a fastai recorder kept: train loss, valid loss, valid accuracy."""

    train_losses: list[float]
    valid_losses: list[float]
    valid_accuracies: list[float]


def fit_quietly(learn, epochs: int, lr: float) -> LearnerRun:
    """`learn.fit(epochs, lr)` with no progress bar or printed table; return the recorder's values."""
    with learn.no_bar(), learn.no_logging():
        learn.fit(epochs, lr=lr)
    values = learn.recorder.values
    return LearnerRun(*([float(row[i]) for row in values] for i in range(3)))


def train_simple_net(xy: SampleXY, *, epochs: int = 40, lr: float = 0.1, batch_size: int = 256,
                     seed: int = 0) -> LearnerRun:
    """The chapter's simple_net Learner: `fit(40, 0.1)` from `seed`."""
    learn = simple_net_learner(sample_dataloaders(xy, batch_size=batch_size), seed=seed)
    seed_everything(seed)
    return fit_quietly(learn, epochs, lr)
