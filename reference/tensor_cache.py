"""Stacked uint8 tensors of each MNIST split, cached beside the PNGs for near-instant reloads."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reference.mnist_layout import digits_of, png_names

CACHE_FOLDER = "tensor-cache"
CACHE_VERSION = 1


@dataclass(frozen=True)
class SplitTensors:
    """One split: images N×28×28 uint8, digit labels, and each image's `digit/name.png`."""

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]

    def of_digit(self, digit: int | str) -> torch.Tensor:
        """The images of one digit, in sorted file-name order."""
        return self.images[self.labels == int(digit)]


def cache_path(data_dir: Path, dataset: str, split: str) -> Path:
    """Where a split's cache lives: a sibling of the dataset folder, so `path.ls()` is unchanged."""
    return Path(data_dir) / CACHE_FOLDER / dataset / f"{split}.pt"


def _listing(split_dir: Path, digits: list[str]) -> list[str]:
    """`digit/name.png` for every image of the split, digits in order, names sorted."""
    return [f"{digit}/{name}" for digit in digits for name in png_names(split_dir / digit)]


def read_pngs(split_dir: Path, names: list[str]) -> SplitTensors:
    """Read a split's PNGs one by one (the slow path the cache replaces)."""
    images = np.stack([np.asarray(Image.open(split_dir / name)) for name in names])
    labels = torch.tensor([int(name.split("/")[0]) for name in names], dtype=torch.int64)
    return SplitTensors(torch.from_numpy(images), labels, names)


def save_cache(split: SplitTensors, path: Path) -> None:
    """Write a split's tensors atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        torch.save({"version": CACHE_VERSION, "images": split.images.contiguous(),
                    "labels": split.labels, "names": split.names}, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _read_cache(path: Path, names: list[str]) -> SplitTensors | None:
    """The cached split if it exists, loads safely and lists exactly these files; else None."""
    try:
        stored = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("version") != CACHE_VERSION or stored.get("names") != names:
        return None
    return SplitTensors(stored["images"], stored["labels"], names)


def load_split(data_dir: Path, dataset: str, split: str) -> SplitTensors:
    """A split as stacked uint8 tensors: from the cache when it matches the files, else from PNGs."""
    split_dir = Path(data_dir) / dataset / split
    names = _listing(split_dir, digits_of(dataset, split))
    path = cache_path(data_dir, dataset, split)
    cached = _read_cache(path, names)
    if cached is not None:
        return cached
    fresh = read_pngs(split_dir, names)
    save_cache(fresh, path)
    return fresh
