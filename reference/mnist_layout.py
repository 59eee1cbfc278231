"""The folder layouts fastai's MNIST archives use, and the file counts they must have."""
from __future__ import annotations

from pathlib import Path

SAMPLE = "mnist_sample"
FULL = "mnist_png"

SAMPLE_DIGITS = ("3", "7")
SAMPLE_COUNTS = {("train", "3"): 6131, ("train", "7"): 6265, ("valid", "3"): 1010, ("valid", "7"): 1028}
FULL_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
FULL_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FULL_COUNTS = {**{("training", str(d)): n for d, n in enumerate(FULL_TRAIN)},
               **{("testing", str(d)): n for d, n in enumerate(FULL_TEST)}}

EXPECTED_COUNTS = {SAMPLE: SAMPLE_COUNTS, FULL: FULL_COUNTS}


def splits_of(dataset: str) -> list[str]:
    """The split folders of a dataset, in a stable order."""
    return sorted({split for split, _ in EXPECTED_COUNTS[dataset]})


def digits_of(dataset: str, split: str) -> list[str]:
    """The digit folders of one split, in numeric order."""
    return sorted((d for s, d in EXPECTED_COUNTS[dataset] if s == split), key=int)


def png_names(folder: Path) -> list[str]:
    """PNG file names in a folder, sorted as fastai's `ls().sorted()` sorts them."""
    return sorted(entry.name for entry in Path(folder).iterdir() if entry.name.endswith(".png"))


def count_problems(root: Path, dataset: str) -> list[str]:
    """Differences between the PNG counts on disk and the expected counts (empty when complete)."""
    problems = []
    for (split, digit), expected in EXPECTED_COUNTS[dataset].items():
        folder = root / dataset / split / digit
        found = len(png_names(folder)) if folder.is_dir() else 0
        if found != expected:
            problems.append(f"{dataset}/{split}/{digit}: {found} images, expected {expected}")
    return problems
