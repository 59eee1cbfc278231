"""Source 1: fastai's own MNIST archives, checked against the size and MD5 fastai publishes."""
from __future__ import annotations

import hashlib
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from grader.checks import Progress
from reference.errors import ChecksumError, SourceUnavailable
from reference.mnist_layout import FULL, SAMPLE, splits_of
from reference.tensor_cache import load_split

# (url, size in bytes, md5) as recorded in fastai/data/download_checks.py; fastai publishes no SHA-256.
ARCHIVES = {
    SAMPLE: ("https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz", 3214948, "2dbc7ec6f9259b583af0072c55816a88"),
    FULL: ("https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz", 15683414, "03639f83c4e3d19e0a3a53a8a997c487"),
}
TIMEOUT_SECONDS = 15


def download(url: str, target: Path, progress: Progress, size: int) -> None:
    """Stream `url` to `target`, raising SourceUnavailable when the network refuses."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, open(target, "wb") as out:
            advance = progress(f"downloading {target.name}", total=size)
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                advance(len(chunk))
    except (urllib.error.URLError, OSError) as error:
        raise SourceUnavailable(f"cannot download {url}: {error}") from error


def verify_archive(path: Path, size: int, md5: str) -> None:
    """Raise ChecksumError unless the archive has fastai's recorded size and MD5."""
    actual = hashlib.md5(path.read_bytes()).hexdigest()
    if path.stat().st_size != size or actual != md5:
        raise ChecksumError(f"{path.name} does not match fastai's recorded size/MD5; refusing to use it")


def extract_archives(staging: Path, progress: Progress) -> None:
    """Download, verify and unpack both archives into `staging`, then build their tensor caches."""
    for dataset, (url, size, md5) in ARCHIVES.items():
        archive = staging / Path(url).name
        download(url, archive, progress, size)
        verify_archive(archive, size, md5)
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        archive.unlink()
        for split in splits_of(dataset):
            load_split(staging, dataset, split)
