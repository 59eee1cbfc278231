"""Chapter pieces the check specs share: reference helpers as kernel-side source, data fingerprints, cached data."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from grader.checks import file_fingerprint
from reference.baseline import load_sample
from reference.linear import SampleXY, sample_xy
from reference.mnist_layout import splits_of
from reference.tensor_cache import cache_path

# Reference versions of the chapter's loss, gradient step, accuracy and optimiser, as source text that probe
# scripts define in the student's kernel, so that each check exercises one student function at a time.
KERNEL_HELPERS = """
def ref_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()

def ref_calc_grad(xb, yb, model):
    ref_loss(model(xb), yb).backward()

def ref_accuracy(xb, yb):
    return ((xb.sigmoid() > 0.5) == yb).float().mean()

class RefOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr
    def step(self, *args, **kwargs):
        for p in self.params:
            p.data -= p.grad.data * self.lr
    def zero_grad(self, *args, **kwargs):
        for p in self.params:
            p.grad = None
"""

# Starting weights, a linear model over them, and batches of 8, all from the check's generated inputs.
LINEAR_START = """
w = inputs['weights'].clone().requires_grad_()
b = inputs['bias'].clone().requires_grad_()
model = lambda xb: xb @ w + b
batches = list(zip(inputs['x'].split(8), inputs['y'].split(8)))
"""


def batch_inputs(gen: torch.Generator, n: int = 24) -> dict[str, torch.Tensor]:
    """Fresh flat 'images', 0/1 targets and starting weights for the LINEAR_START probe scripts."""
    return {"x": torch.rand(n, 28 * 28, generator=gen), "y": torch.randint(0, 2, (n, 1), generator=gen),
            "weights": torch.randn(28 * 28, 1, generator=gen) * 0.1, "bias": torch.randn(1, generator=gen)}


def epoch_inputs(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """batch_inputs for one training epoch in which gradients left unzeroed always show in both parameters.

    With random targets the bias gradients of the first batches can cancel, and saturated predictions
    barely move it, so about 1 seed in 90 let a loop that never zeroes its gradients get the bias right.
    Small starting weights keep every sigmoid away from 0 and 1, and a first batch of 3s gives the bias
    a gradient whose leftover no later batch can cancel.
    """
    inputs = batch_inputs(gen)
    inputs["weights"] *= 0.2
    inputs["bias"] *= 0.5
    inputs["y"][:8] = 1
    return inputs


def data_key(data_dir: Path, dataset: str = "mnist_sample") -> str:
    """Fingerprint of a dataset's tensor-cache files, which reference statistics depend on."""
    return file_fingerprint(*(cache_path(data_dir, dataset, split) for split in splits_of(dataset)))


@lru_cache(maxsize=2)
def cached_sample_xy(data_dir: Path) -> SampleXY:
    """The chapter's train_x/train_y/valid_x/valid_y from the tensor cache, loaded once per process."""
    return sample_xy(load_sample(data_dir=data_dir))
