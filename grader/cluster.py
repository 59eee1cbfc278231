"""`grader check --scheduler`: grade on a Dask distributed cluster (docs/cluster.md).

The course travels once, as a tar archive held by one task's result; each notebook travels as its bytes
with its own task. On a worker, the archive is unpacked into a cache folder named by its SHA-256 and
loaded with that machine's data home; one `pipeline.Worker` per worker process grades, kept between
tasks. Every worker connected when a batch starts sets up first, and one that cannot (no data, no
sandbox) stops the batch with its reason. Results come back as results.json text, never as pickled
objects built from student output.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Callable

from grader.cache import cache_dir
from grader.course import COURSE_FILE, Course, load_course
from grader.discover import SubmissionFile, identify
from grader.exceptions import GraderError, UnknownAssignment
from grader.pipeline import Options, Worker, grade_file
from grader.results import SubmissionResult
from grader.sandbox import Limits, require_readable, require_sandbox
from grader.spec import Assignment

try:
    from distributed import WorkerPlugin
except ImportError:  # grading locally needs no Dask; grade_on_cluster says how to install it
    WorkerPlugin = object

CONNECT_TIMEOUT = 10  # seconds to reach the scheduler before giving up
SKIPPED = ("__pycache__", ".ipynb_checkpoints")
_LOCK = threading.Lock()  # one submission at a time per worker process, whatever its thread count
_current: tuple[tuple[str, str], Worker] | None = None  # this process's worker: (course digest, settings), Worker


class ClusterError(GraderError, ConnectionError):
    """The cluster cannot be used: `distributed` is missing, the scheduler is unreachable, or a worker is unfit."""


class WorkerUnfit(GraderError, RuntimeError):
    """A Dask worker cannot grade for this course (its data, sandbox or course set-up failed)."""


def grade_on_cluster(scheduler: str, files: list[SubmissionFile], *, options: Options,
                     assignments: dict[str, Assignment], on_start: Callable[[int, int, SubmissionFile], None] | None,
                     on_result: Callable[[int, int, SubmissionResult], None] | None) -> list[SubmissionResult]:
    """Grade `files` on the Dask cluster at `scheduler`; results in the order of `files`, failures as ungradable."""
    on_start, on_result = on_start or (lambda *_: None), on_result or (lambda *_: None)
    if WorkerPlugin is object:
        raise ClusterError("grading on a Dask cluster needs the `distributed` package: pip install 'grader[cluster]'")
    from distributed import as_completed

    archive, settings, total = pack_course(options.course), _settings(options), len(files)
    results: list[SubmissionResult | None] = [None] * total
    with _connect(scheduler) as client:
        client.register_plugin(CloseWorker(), name="grader-close-worker")
        _check_workers(client, archive, settings)
        course = client.submit(held, archive, key=f"grader-course-{hashlib.sha256(archive).hexdigest()}", pure=True)
        batch, numbers = secrets.token_hex(4), {}
        for number, file in enumerate(files, 1):
            on_start(number, total, file)
            try:
                notebook = file.path.read_bytes()
            except OSError:  # not there or unreadable: graded here as locally, no kernel is started
                results[number - 1] = grade_file(file, options=options, assignments=assignments)
                on_result(number, total, results[number - 1])
                continue
            future = client.submit(grade_remote, course, settings, file.path.name, file.student, notebook,
                                   key=f"grade-{batch}-{number}", pure=False)
            numbers[future] = number
        for future in as_completed(numbers, loop=client.loop):
            number = numbers[future]
            results[number - 1] = _received(future, files[number - 1], options, assignments)
            future.release()
            on_result(number, total, results[number - 1])
    return results


def _connect(scheduler: str) -> Any:
    """A client of the scheduler; ClusterError when it cannot be reached within CONNECT_TIMEOUT."""
    from distributed import Client

    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT} s "
                           f"({type(error).__name__}: {error}); is `dask scheduler` running there, and is the "
                           f"address right? (docs/cluster.md)") from None


def _check_workers(client: Any, archive: bytes, settings: dict[str, Any]) -> None:
    """ClusterError naming each connected worker that cannot grade (workers that join later say so per submission)."""
    answers = client.run(check_worker, archive, settings, on_error="return")
    unfit = [f"{address}: {answer}" for address, answer in answers.items() if isinstance(answer, Exception)]
    if unfit:
        raise ClusterError(f"{len(unfit)} of {len(answers)} Dask workers cannot grade for this course (mend or stop "
                           "them, then run again):\n" + "\n".join(unfit))


def _settings(options: Options) -> dict[str, Any]:
    """Every option but the course, as plain values (the worker rebuilds the course)."""
    plain = {field.name: getattr(options, field.name) for field in fields(options) if field.name != "course"}
    return {**plain, "limits": asdict(options.limits)}


def _received(future: Any, file: SubmissionFile, options: Options,
              assignments: dict[str, Assignment]) -> SubmissionResult:
    """The result a task sent back, or an ungradable one saying why the task failed."""
    from distributed import KilledWorker

    try:
        result = SubmissionResult.from_dict(json.loads(future.result()))
    except WorkerUnfit as error:
        return _failed(file, options, assignments, str(error))
    except KilledWorker as error:
        return _failed(file, options, assignments, f"the Dask worker grading it died: {error}")
    except Exception as error:  # whatever else a task or the network did: this submission only
        return _failed(file, options, assignments,
                       f"the Dask worker could not grade it: {type(error).__name__}: {error}")
    result.path = str(file.path)
    return result


def _failed(file: SubmissionFile, options: Options, assignments: dict[str, Assignment],
            error: str) -> SubmissionResult:
    """An ungradable result for `file`, with its part (from its metadata or name) so it shows 0 of its points."""
    try:
        named = json.loads(file.path.read_bytes())["metadata"]["grader"]["assignment"]
    except (OSError, ValueError, KeyError, TypeError):
        named = None
    try:
        assignment, parts = identify(named, file.path.stem, assignments)
    except UnknownAssignment:
        assignment, parts = "", []
    result = SubmissionResult.without_results(error, path=str(file.path), student=file.student,
                                              assignment=assignment,
                                              declared_max_score=sum(a.max_score for a in parts))
    result.sandboxed = options.sandbox
    return result


def pack_course(course: Course) -> bytes:
    """What a worker needs of the course, as a tar archive (the same bytes for the same files).

    That is course.toml, the assignments folder and the course's own packages and modules (the folder's
    `*.py` files and folders with an `__init__.py`, but not the engine), without caches or hidden files.
    """
    root, engine = course.root, Path(__file__).resolve().parent
    try:
        course.assignments_dir.resolve().relative_to(root)
    except ValueError:
        raise GraderError(f"the assignments folder {course.assignments_dir} is outside the course folder {root}: "
                          "a cluster is sent only the course folder") from None
    tops = [root / COURSE_FILE, course.assignments_dir, *sorted(root.glob("*.py")),
            *sorted(p for p in root.iterdir() if (p / "__init__.py").is_file() and p.resolve() != engine)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted({file for top in tops for file in _files(top)}):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size, info.mode = len(data), 0o755 if os.access(path, os.X_OK) else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _files(top: Path) -> list[Path]:
    """The file `top`, or every file under the folder `top`, skipping caches and hidden entries."""
    if top.is_file():
        return [top]
    return [path for path in top.rglob("*") if path.is_file()
            and not any(part in SKIPPED or part.startswith(".") for part in path.relative_to(top).parts)]


def unpack_course(archive: bytes) -> Path:
    """The course folder unpacked from `archive` into this machine's cache, once per content."""
    folder = cache_dir() / "cluster-courses" / hashlib.sha256(archive).hexdigest()
    if (folder / COURSE_FILE).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".unpacking-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(staging, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    try:
        staging.rename(folder)
    except OSError:  # another worker process on this machine unpacked it first
        shutil.rmtree(staging)
    return folder


def held(archive: bytes) -> bytes:
    """The course archive as a task's result: workers fetch it once, and it is made again if its holder dies."""
    return archive


def grade_remote(archive: bytes, settings: dict[str, Any], name: str, student: str, notebook: bytes) -> str:
    """On a worker: grade one notebook's bytes (file `name`) for the course in `archive`; its results.json text."""
    with _LOCK, tempfile.TemporaryDirectory(prefix="grader-cluster-") as folder:
        worker = _worker(archive, settings)
        path = Path(folder) / name
        path.write_bytes(notebook)
        return json.dumps(worker.grade(SubmissionFile(path, student)).to_dict())


async def check_worker(archive: bytes, settings: dict[str, Any]) -> None:
    """On a worker before a batch: set up its grading worker, off the event loop (WorkerUnfit if it cannot)."""
    await asyncio.get_running_loop().run_in_executor(None, _set_up, archive, settings)


def _set_up(archive: bytes, settings: dict[str, Any]) -> None:
    """Set up (or keep) this process's grading worker, waiting for a submission being graded."""
    with _LOCK:
        _worker(archive, settings)


def _worker(archive: bytes, settings: dict[str, Any]) -> Worker:
    """This process's grading worker for the course in `archive` with these settings, set up and checked once."""
    global _current
    key = (hashlib.sha256(archive).hexdigest(), json.dumps(settings, sort_keys=True))
    if _current is not None and _current[0] == key:
        return _current[1]
    close_worker()
    try:
        course = load_course(unpack_course(archive))
        sys.path.insert(0, str(course.root))  # the course sent is the one imported, whatever else is on the path
        options = Options(course=course, **{**settings, "limits": Limits(**settings["limits"])})
        if options.sandbox:
            require_sandbox()
        home = course.data_home
        if home is not None and not home.is_dir():
            raise GraderError(f"its data home {home} does not exist: run `grader data` there")
        if options.sandbox and home is not None:
            require_readable([home])
        course.verify_data()
        worker = Worker(options, course.assignments)
    except Exception as error:
        reason = str(error) if isinstance(error, GraderError) else f"{type(error).__name__}: {error}"
        raise WorkerUnfit(f"the Dask worker on {socket.gethostname()} cannot grade: {reason}") from None
    _current = (key, worker)
    return worker


def close_worker() -> None:
    """Close this process's grading worker and forget its course's modules (a new course may replace them)."""
    global _current
    if _current is None:
        return
    (_, worker), _current = _current, None
    worker.close()
    root = str(worker.options.course.root)
    if root in sys.path:
        sys.path.remove(root)
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(root + os.sep):
            del sys.modules[name]


class CloseWorker(WorkerPlugin):
    """Closes the grading worker (its kernels) when a Dask worker shuts down."""

    idempotent = True  # registered by every batch, set up once: a new batch keeps the warm worker

    def teardown(self, worker: Any) -> None:
        """Close this process's grading worker (not waiting for the lock: a task still running is lost anyway)."""
        close_worker()
