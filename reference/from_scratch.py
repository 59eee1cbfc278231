"""Further Research 1: a `Learner` written from scratch, with a recorder and callback hooks.

API:
    Callback                         hooks: before_fit, before_epoch, before_batch, after_loss,
                                     after_batch, before_validate, after_epoch, after_fit
                                     (each receives the Learner; set `learn.stop = True` to end after this epoch)
    Recorder(Callback)               .values: per epoch [train_loss, valid_loss, *metrics]; .names
    Learner(dls, model, *, loss_func, opt_func=BasicOptim, metrics=(), cbs=())
        .fit(n_epochs: int, lr: float) -> None      .recorder  .opt  .epoch  .xb .yb .pred .loss .training
    snapshot(model) -> dict[str, Tensor]            (copies of the parameters, by name)
`dls` is anything with `.train` and `.valid` iterables of (xb, yb) batches (fastai's `DataLoaders`
works), or a (train, valid) pair. Batches are moved to the model's device. The recorded train loss is
the batch-size-weighted mean over the epoch (fastai records an exponentially smoothed loss instead).
"""
from __future__ import annotations

import torch

from reference.learner import BasicOptim

HOOKS = ("before_fit", "before_epoch", "before_batch", "after_loss", "after_batch", "before_validate",
         "after_epoch", "after_fit")


class Callback:
    """Base class: override any hook in HOOKS; each is called with the Learner."""

    def __getattr__(self, name):
        if name in HOOKS:
            return lambda learn: None
        raise AttributeError(name)


class Recorder(Callback):
    """Keeps per-epoch train loss, valid loss and metrics, weighting every batch by its size."""

    def before_fit(self, learn) -> None:
        self.names = ["train_loss", "valid_loss", *(_name(m) for m in learn.metrics)]
        self.values = []

    def before_epoch(self, learn) -> None:
        self.sums, self.counts = torch.zeros(len(self.names)), [0, 0]

    def after_batch(self, learn) -> None:
        size, phase = len(learn.yb), 0 if learn.training else 1
        self.counts[phase] += size
        self.sums[phase] += learn.loss.item() * size
        if not learn.training:
            for i, metric in enumerate(learn.metrics, start=2):
                self.sums[i] += float(metric(learn.pred, learn.yb)) * size

    def after_epoch(self, learn) -> None:
        totals = [self.counts[0], self.counts[1]] + [self.counts[1]] * len(learn.metrics)
        self.values.append([(s / max(n, 1)).item() for s, n in zip(self.sums, totals)])


def _name(metric) -> str:
    """A metric's display name."""
    return getattr(metric, "__name__", type(metric).__name__)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of a model's parameters, by name."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


class Learner:
    """Model + data + loss + optimiser, trained by `fit`, with hooks for callbacks."""

    def __init__(self, dls, model: torch.nn.Module, *, loss_func, opt_func=BasicOptim, metrics=(), cbs=()):
        self.train_dl, self.valid_dl = (dls.train, dls.valid) if hasattr(dls, "train") else dls
        self.model, self.loss_func, self.opt_func = model, loss_func, opt_func
        self.metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        self.recorder = Recorder()
        self.cbs = [self.recorder, *cbs]
        self.opt, self.stop, self.training = None, False, False

    def __call__(self, hook: str) -> None:
        """Run one hook on every callback, in order."""
        for cb in self.cbs:
            getattr(cb, hook)(self)

    def fit(self, n_epochs: int, lr: float) -> None:
        """Train for `n_epochs` with learning rate `lr`, validating after each epoch."""
        self.opt, self.stop = self.opt_func(self.model.parameters(), lr), False
        self("before_fit")
        for self.epoch in range(n_epochs):
            self("before_epoch")
            self._run_epoch()
            self("after_epoch")
            if self.stop:
                break
        self("after_fit")

    def _run_epoch(self) -> None:
        """A training pass, then a validation pass without gradients."""
        self.training = True
        self.model.train()
        self._all_batches(self.train_dl)
        self.training = False
        self.model.eval()
        self("before_validate")
        with torch.no_grad():
            self._all_batches(self.valid_dl)

    def _all_batches(self, dl) -> None:
        """Run `_one_batch` on every batch of `dl`, on the model's device."""
        device = next(self.model.parameters()).device
        for xb, yb in dl:
            self.xb, self.yb = xb.to(device), yb.to(device)
            self._one_batch()

    def _one_batch(self) -> None:
        """Predict and measure the loss; when training, backpropagate and step."""
        self("before_batch")
        self.pred = self.model(self.xb)
        self.loss = self.loss_func(self.pred, self.yb)
        self("after_loss")
        if self.training:
            self.loss.backward()
            self.opt.step()
            self.opt.zero_grad()
        self("after_batch")
