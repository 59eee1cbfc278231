"""One `grader check` run as the gradebook sees it: each result recorded as it finishes, unchanged notebooks reused."""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from grader import __version__
from grader.course import Course, code_fingerprint
from grader.discover import SubmissionFile
from grader.emitters.per_submission import assignment_name
from grader.gradebook.store import Gradebook
from grader.gradebook.views import Grid, latest_grid
from grader.results import SubmissionResult


class Recorder:
    """Records a run's submissions in a gradebook, and finds the recorded result an unchanged notebook can reuse.

    A result is reused when the student, the notebook's file (its absolute path) and SHA-256, the course's code
    (its version), the engine's code and the options that decide results (`options`: seed, timeouts, sandbox,
    limits) are all the same as for a graded submission already recorded.
    """

    def __init__(self, book: Gradebook, *, course: Course, options: dict[str, Any]) -> None:
        self.book, self.lock = book, threading.Lock()
        self.course_version = code_fingerprint(course)
        engine = f"{__version__}+{engine_fingerprint()[:12]}"  # a checkout's version stays put while its code moves
        self.grading_key = hashlib.sha256(json.dumps({"course": self.course_version, "grader": engine,
                                                      "options": options}, sort_keys=True).encode()).hexdigest()
        self.digests: dict[str, str | None] = {}
        self.run_id = book.start_run(course_version=self.course_version, grader_version=engine, options=options)

    def digest(self, path: Path) -> str | None:
        """The notebook's SHA-256 (None when it cannot be read), read once per run."""
        key = str(path)
        if key not in self.digests:
            try:
                self.digests[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                self.digests[key] = None
        return self.digests[key]

    def reuse(self, file: SubmissionFile) -> SubmissionResult | None:
        """The recorded result of this unchanged notebook, marked reused; None when it must be graded."""
        digest = self.digest(file.path)
        if digest is None:
            return None
        with self.lock:
            found = self.book.reusable(student=file.student, path=file.path, sha256=digest,
                                       grading_key=self.grading_key)
        if found is None:
            return None
        result = SubmissionResult.from_dict(found)
        result.path, result.reused = str(file.path), True
        return result

    def record(self, _number: int, _total: int, result: SubmissionResult) -> None:
        """Write one finished submission (the `on_result` callback of grader.pipeline.grade)."""
        with self.lock:
            self.book.record(self.run_id, result, sha256=self.digest(Path(result.path)),
                             grading_key=self.grading_key, part=assignment_name(result),
                             reused=result.reused)

    def recording(self, then: Callable[[int, int, SubmissionResult], None]) -> Callable[[int, int, SubmissionResult], None]:
        """An `on_result` callback that records each result, then passes it to `then`."""
        def both(number: int, total: int, result: SubmissionResult) -> None:
            self.record(number, total, result)
            then(number, total, result)
        return both

    def whole_course(self) -> Grid:
        """Every student and part in the gradebook, with the latest result of each (this run's included)."""
        with self.lock:
            return latest_grid(self.book)

    def finish(self, status: str, *, overrides: Iterable[Any] = (), source: str = "") -> None:
        """Record how the run ended, and the overrides (grader.overrides entries) applied to its results."""
        with self.lock:
            self.book.add_overrides([dict(student=entry.student, check_key=entry.check, points=entry.points,
                                          comment=entry.comment) for entry in overrides], source=source)
            self.book.finish_run(self.run_id, status)


def engine_fingerprint() -> str:
    """SHA-256 over the engine's own files (the `grader` package: paths and bytes, caches left out)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f"{path.relative_to(root)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
