"""Further Research 2: all ten digits, 60,000 training and 10,000 test images held as device tensors.

API:
    FullMnist (dataclass: train_x N×784 float, train_y N int64, test_x, test_y; all on one device)
    load_full_mnist(*, data_dir: Path | None = None, device="cpu") -> FullMnist
    class_means(x, y, *, n_classes=10) -> Tensor (n_classes×784: the ideal digit of each class)
    nearest_mean(x, means, *, chunk=1000) -> Tensor (predicted class: smallest mean absolute distance)
    accuracy(preds, targets) -> float
    confusion_matrix(preds, targets, *, n_classes=10) -> Tensor (int64; rows = true digit, cols = predicted)
    linear_model() -> nn.Linear(784, 10)         mlp(*, hidden=512) -> nn.Sequential
    shuffled_batches(x, y, *, batch_size, generator) -> list of (xb, yb)   (one epoch, on the data's device)
    ClassifierRun (dataclass: train_losses, test_accuracies, predictions, confusion; .accuracy)
    pixel_similarity(data) -> ClassifierRun
    train_classifier(model, data, *, epochs, lr, batch_size=128, momentum=0.9, seed=0) -> ClassifierRun
    train_full_linear(data, *, epochs=4, lr=0.1, seed=0) -> ClassifierRun
    train_full_mlp(data, *, epochs=8, lr=0.1, seed=0) -> ClassifierRun
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from reference.baseline import load_cached_split, to_float
from reference.device import make_generator, resolve_device, seed_everything


@dataclass(frozen=True)
class FullMnist:
    """Full MNIST as flat float tensors (pixels in [0, 1]) and int64 digit labels, on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_full_mnist(*, data_dir: Path | None = None, device="cpu") -> FullMnist:
    """Load `mnist_png` training and testing splits from the tensor cache onto `device`."""
    device = resolve_device(device)
    splits = [load_cached_split(data_dir, "mnist_png", split) for split in ("training", "testing")]
    tensors = [t for s in splits for t in (to_float(s.images).view(-1, 28 * 28), s.labels)]
    return FullMnist(*(t.to(device) for t in tensors))


def class_means(x: torch.Tensor, y: torch.Tensor, *, n_classes: int = 10) -> torch.Tensor:
    """The mean image of each class, one row per class."""
    return torch.stack([x[y == c].mean(0) for c in range(n_classes)])


def nearest_mean(x: torch.Tensor, means: torch.Tensor, *, chunk: int = 1000) -> torch.Tensor:
    """For each image, the class whose mean is closest in mean absolute pixel difference."""
    parts = [(x[i:i + chunk, None, :] - means[None]).abs().mean(-1).argmin(1) for i in range(0, len(x), chunk)]
    return torch.cat(parts)


def accuracy(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of predictions equal to their targets."""
    return (preds == targets).float().mean().item()


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, *, n_classes: int = 10) -> torch.Tensor:
    """Counts of (true digit, predicted digit) pairs as an n_classes×n_classes matrix on the CPU."""
    pairs = targets.cpu() * n_classes + preds.cpu()
    return torch.bincount(pairs, minlength=n_classes * n_classes).view(n_classes, n_classes)


def linear_model() -> nn.Module:
    """One linear layer from 784 pixels to 10 class scores."""
    return nn.Linear(28 * 28, 10)


def mlp(*, hidden: int = 512) -> nn.Module:
    """Linear → ReLU → linear, 784 → hidden → 10."""
    return nn.Sequential(nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def shuffled_batches(x: torch.Tensor, y: torch.Tensor, *, batch_size: int, generator: torch.Generator):
    """One epoch of mini-batches in a random order drawn from `generator`, sliced on the data's device."""
    order = torch.randperm(len(x), generator=generator).to(x.device)
    return [(x[idx], y[idx]) for idx in order.split(batch_size)]


@dataclass
class ClassifierRun:
    """Per-epoch train loss and test accuracy, final test predictions and their confusion matrix."""

    train_losses: list[float]
    test_accuracies: list[float]
    predictions: torch.Tensor
    confusion: torch.Tensor

    @property
    def accuracy(self) -> float:
        """Test accuracy at the end of the run."""
        return self.test_accuracies[-1]


def _finish(preds: torch.Tensor, data: FullMnist, run: ClassifierRun | None = None) -> ClassifierRun:
    """Attach the final test predictions and their confusion matrix to a run."""
    run = run or ClassifierRun([], [accuracy(preds, data.test_y)], preds, None)
    run.predictions, run.confusion = preds.cpu(), confusion_matrix(preds, data.test_y)
    return run


def pixel_similarity(data: FullMnist) -> ClassifierRun:
    """Ten ideal digits from the training set; each test image takes the label of the nearest one."""
    return _finish(nearest_mean(data.test_x, class_means(data.train_x, data.train_y)), data)


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class predictions of a model, without tracking gradients."""
    model.eval()
    with torch.no_grad():
        return model(x).argmax(1)


def train_classifier(model: nn.Module, data: FullMnist, *, epochs: int, lr: float, batch_size: int = 128,
                     momentum: float = 0.9, seed: int = 0) -> ClassifierRun:
    """Cross-entropy, SGD with momentum and a linearly decaying learning rate; test accuracy every epoch."""
    model, generator = model.to(data.train_x.device), make_generator(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    total_steps = epochs * -(-len(data.train_x) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / total_steps)
    run = ClassifierRun([], [], None, None)
    for _ in range(epochs):
        model.train()
        losses = [_step(model, opt, schedule, xb, yb) for xb, yb in
                  shuffled_batches(data.train_x, data.train_y, batch_size=batch_size, generator=generator)]
        run.train_losses.append(torch.stack(losses).mean().item())
        run.test_accuracies.append(accuracy(_predict(model, data.test_x), data.test_y))
    return _finish(_predict(model, data.test_x), data, run)


def _step(model: nn.Module, opt, schedule, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """One SGD step on a batch, then lower the learning rate along its schedule; return the loss."""
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    opt.zero_grad()
    schedule.step()
    return loss.detach()


def train_full_linear(data: FullMnist, *, epochs: int = 4, lr: float = 0.1, seed: int = 0) -> ClassifierRun:
    """A 10-class linear model (multinomial logistic regression) from `seed`."""
    seed_everything(seed)
    return train_classifier(linear_model(), data, epochs=epochs, lr=lr, seed=seed)


def train_full_mlp(data: FullMnist, *, epochs: int = 8, lr: float = 0.1, seed: int = 0) -> ClassifierRun:
    """A one-hidden-layer MLP from `seed`."""
    seed_everything(seed)
    return train_classifier(mlp(), data, epochs=epochs, lr=lr, seed=seed)
