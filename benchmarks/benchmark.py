"""Print how much the tensor cache and device-resident tensors save, with ratios.

    python benchmarks/benchmark.py [--device auto|cpu|cuda] [--batches N] [--skip-reference]

(a) the sample's 12,396 training images: PIL one by one (the chapter's way) vs the tensor cache;
(b) one epoch of the full-MNIST MLP: a DataLoader that opens PNGs vs slicing device tensors
    (both timed over the first N batches and scaled to a whole epoch of 469 batches of 128);
(c) the wall time of `grader reference` (one seed, all steps but resnet18).
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the chapter course's own packages
from reference.baseline import load_cached_split, to_float  # noqa: E402
from reference.data import default_data_dir
from reference.device import make_generator, resolve_device, seed_everything
from reference.full_mnist import load_full_mnist, mlp, shuffled_batches
from reference.tensor_cache import load_split

BATCH = 128


def timed(action) -> tuple[float, object]:
    """Seconds one call takes, and what it returned."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def chapter_way(folder: Path) -> torch.Tensor:
    """The chapter's loading: list each digit's files, open every PNG, stack, scale."""
    stacks = [torch.stack([torch.from_numpy(np.array(Image.open(f))) for f in sorted((folder / d).iterdir())])
              for d in ("3", "7")]
    return torch.cat(stacks).float() / 255


class PngDataset(torch.utils.data.Dataset):
    """Full-MNIST training images read from their PNG files one at a time."""

    def __init__(self, folder: Path, names: list[str]):
        self.folder, self.names = folder, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        image = torch.from_numpy(np.array(Image.open(self.folder / self.names[i])))
        return to_float(image).view(-1), int(self.names[i].split("/")[0])


def train_batches(batches, device: torch.device, limit: int) -> float:
    """Seconds to train a fresh MLP on the first `limit` batches (moved to `device`)."""
    seed_everything(0)
    model = mlp().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    started = time.perf_counter()
    for count, (xb, yb) in enumerate(batches, start=1):
        loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
        loss.backward()
        opt.step()
        opt.zero_grad()
        if count == limit:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def loading(data_dir: Path) -> None:
    """(a) the chapter's PIL loop vs the tensor cache for MNIST_SAMPLE's training images."""
    pil_seconds, pil = timed(lambda: chapter_way(data_dir / "mnist_sample" / "train"))
    cache_seconds, cached = timed(lambda: to_float(load_split(data_dir, "mnist_sample", "train").images))
    assert torch.equal(pil, cached)
    print(f"(a) load 12,396 sample training images: PIL one by one {pil_seconds:.2f}s, "
          f"tensor cache {cache_seconds:.3f}s, ratio {pil_seconds / cache_seconds:.0f}x (same pixels)")


def epochs(data_dir: Path, device: torch.device, limit: int) -> None:
    """(b) seconds per MLP epoch: DataLoader over PNG files vs device-resident tensors."""
    names = load_cached_split(data_dir, "mnist_png", "training").names
    per_epoch = math.ceil(len(names) / BATCH) / limit
    loader = torch.utils.data.DataLoader(PngDataset(data_dir / "mnist_png" / "training", names), batch_size=BATCH,
                                         shuffle=True, generator=make_generator(0))
    png_seconds = train_batches(loader, device, limit) * per_epoch
    data = load_full_mnist(data_dir=data_dir, device=device)
    tensor_batches = shuffled_batches(data.train_x, data.train_y, batch_size=BATCH, generator=make_generator(0))
    tensor_seconds = train_batches(tensor_batches, device, limit) * per_epoch
    print(f"(b) full-MNIST MLP, seconds per epoch on {device} (from {limit} batches of {BATCH}): "
          f"DataLoader over PNGs {png_seconds:.1f}s, device tensors {tensor_seconds:.1f}s, "
          f"ratio {png_seconds / tensor_seconds:.1f}x")


def reference_run(device: torch.device) -> None:
    """(c) wall time of the whole `grader reference` command, one seed."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "grader", "reference", "--device", device.type, "--json",
                   str(Path(scratch) / "reference.json")]
        seconds, done = timed(lambda: subprocess.run(command, capture_output=True, text=True))
    status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip().splitlines()[-1:]}"
    print(f"(c) `grader reference --device {device.type}` (1 seed, no resnet18): {seconds:.1f}s wall, {status}")


def main() -> None:
    """Run the three measurements on each chosen device."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, default=100, help="batches timed per epoch measurement")
    parser.add_argument("--skip-reference", action="store_true")
    options = parser.parse_args()
    data_dir, device = default_data_dir(), resolve_device(options.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    loading(data_dir)
    epochs(data_dir, device, options.batches)
    if not options.skip_reference:
        reference_run(device)


if __name__ == "__main__":
    main()
