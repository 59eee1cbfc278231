"""Pixel similarity (chapter 4, first part): the ideal 3 and 7, distances, `is_3`, accuracies.

API:
    Sample (dataclass: threes, sevens, valid_threes, valid_sevens; float tensors N×28×28 in [0, 1])
    to_float(images: Tensor) -> Tensor
    load_cached_split(data_dir: Path | None, dataset: str, split: str) -> SplitTensors
    load_sample(*, data_dir: Path | None = None, device="cpu") -> Sample
    ideal_digit(stacked: Tensor) -> Tensor
    l1_distance(a, b) -> Tensor          rmse_distance(a, b) -> Tensor
    mnist_distance(a, b) -> Tensor       is_3(x, mean3, mean7) -> Tensor (bool)
    accuracy_3s(valid_threes, mean3, mean7) -> Tensor
    accuracy_7s(valid_sevens, mean3, mean7) -> Tensor
    baseline_figures(sample: Sample) -> dict[str, float]
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from reference.errors import DataMissing
from reference.device import resolve_device
from reference.tensor_cache import SplitTensors, load_split


@dataclass(frozen=True)
class Sample:
    """MNIST_SAMPLE as stacked float tensors (N×28×28, values in [0, 1]), files in sorted order."""

    threes: torch.Tensor
    sevens: torch.Tensor
    valid_threes: torch.Tensor
    valid_sevens: torch.Tensor


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels → floats in [0, 1], as the chapter does (`.float()/255`)."""
    return images.float() / 255


def load_cached_split(data_dir: Path | None, dataset: str, split: str) -> SplitTensors:
    """One split from the tensor cache, or a clear error when `grader data` has not been run."""
    from reference.data import default_data_dir

    data_dir = Path(data_dir or default_data_dir())
    if not (data_dir / dataset / split).is_dir():
        raise DataMissing(f"{data_dir / dataset / split} does not exist; run `grader data` first "
                          "(or point FASTAI_HOME at a prepared folder)")
    return load_split(data_dir, dataset, split)


def load_sample(*, data_dir: Path | None = None, device: str | torch.device = "cpu") -> Sample:
    """Load MNIST_SAMPLE from the tensor cache onto `device` ("auto" picks cuda when present)."""
    device = resolve_device(device)
    train, valid = (load_cached_split(data_dir, "mnist_sample", split) for split in ("train", "valid"))
    return Sample(*(to_float(split.of_digit(d)).to(device) for split in (train, valid) for d in (3, 7)))


def ideal_digit(stacked: torch.Tensor) -> torch.Tensor:
    """The mean image over the first axis (the chapter's `mean3` / `mean7`)."""
    return stacked.mean(0)


def l1_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over all elements (L1 norm)."""
    return (a - b).abs().mean()


def rmse_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Root mean squared difference over all elements."""
    return ((a - b) ** 2).mean().sqrt()


def mnist_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over the last two axes, broadcasting over the rest."""
    return (a - b).abs().mean((-1, -2))


def is_3(x: torch.Tensor, mean3: torch.Tensor, mean7: torch.Tensor) -> torch.Tensor:
    """True where an image (or each image of a batch) is closer to the ideal 3 than the ideal 7."""
    return mnist_distance(x, mean3) < mnist_distance(x, mean7)


def accuracy_3s(valid_threes: torch.Tensor, mean3: torch.Tensor, mean7: torch.Tensor) -> torch.Tensor:
    """Fraction of validation 3s classified as 3."""
    return is_3(valid_threes, mean3, mean7).float().mean()


def accuracy_7s(valid_sevens: torch.Tensor, mean3: torch.Tensor, mean7: torch.Tensor) -> torch.Tensor:
    """Fraction of validation 7s classified as 7."""
    return (1 - is_3(valid_sevens, mean3, mean7).float()).mean()


def baseline_figures(sample: Sample) -> dict[str, float]:
    """Every figure the chapter prints for pixel similarity, as plain floats."""
    mean3, mean7, a_3 = ideal_digit(sample.threes), ideal_digit(sample.sevens), sample.threes[1]
    acc3 = accuracy_3s(sample.valid_threes, mean3, mean7).item()
    acc7 = accuracy_7s(sample.valid_sevens, mean3, mean7).item()
    return {"dist_3_abs": l1_distance(a_3, mean3).item(), "dist_3_sqr": rmse_distance(a_3, mean3).item(),
            "dist_7_abs": l1_distance(a_3, mean7).item(), "dist_7_sqr": rmse_distance(a_3, mean7).item(),
            "accuracy_3s": acc3, "accuracy_7s": acc7, "accuracy": (acc3 + acc7) / 2}
