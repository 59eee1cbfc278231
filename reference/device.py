"""Device choice and seeding shared by every reference step.

API:
    resolve_device(device: str | torch.device = "auto") -> torch.device
    seed_everything(seed: int) -> None
    make_generator(seed: int) -> torch.Generator   (a CPU generator, for reproducible draws on any device)
"""
from __future__ import annotations

import random

import numpy as np
import torch

from grader.checks import GraderError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` → cuda when available else cpu; `cuda` fails clearly when there is no GPU."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GraderError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise GraderError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed`: draws made with it are the same on every device."""
    return torch.Generator().manual_seed(seed)
