"""When a submission was handed in: `grader check --submitted-at mtime|git|FILE.csv`.

- `mtime` (default): the notebook file's modification time.
- `git`: the committer time of the last commit that touched the notebook in its git repository (GitHub
  Classroom grades a push, so this is when the student pushed the work); uncommitted edits are not dated.
- a CSV file `student,assignment,submitted_at` (ISO 8601 times with a UTC offset): an LMS export.

A submission whose time cannot be found (not in git, no row in the CSV) cannot be graded; the others are.
"""
from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from grader.exceptions import GraderError, SubmissionError
from grader.late import Deadline, DeadlineError, assess, parse_time
from grader.results import SubmissionResult

CSV_COLUMNS = ("student", "assignment", "submitted_at")


@dataclass(frozen=True)
class SubmissionTimes:
    """A source of submission times: `mtime`, `git`, or the rows of a CSV file by (student, assignment)."""

    kind: str = "mtime"
    rows: dict[tuple[str, str], datetime] = field(default_factory=dict)
    where: str = ""

    def when(self, result: SubmissionResult) -> datetime:
        """When `result`'s notebook was submitted; SubmissionError when this source cannot say."""
        path = Path(result.path)
        if self.kind == "csv":
            moment = self.rows.get((result.student, result.assignment))
            if moment is None:
                raise SubmissionError(f"no submission time for student {result.student!r}, assignment "
                                      f"{result.assignment!r} in {self.where}")
            return moment
        if self.kind == "git":
            return _commit_time(path)
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        except OSError as error:
            raise SubmissionError(f"cannot read the notebook's modification time: {error}") from None


def parse_source(text: str) -> SubmissionTimes:
    """The source `--submitted-at` names: `mtime`, `git`, or a CSV file (its rows read and checked now)."""
    if text in ("mtime", "git"):
        return SubmissionTimes(text)
    path = Path(text)
    if not path.is_file():
        raise GraderError(f"--submitted-at: {text!r} is neither mtime, git nor a CSV file "
                          f"({', '.join(CSV_COLUMNS)})")
    return SubmissionTimes("csv", read_times(path), str(path))


def read_times(path: Path) -> dict[tuple[str, str], datetime]:
    """The rows of a `student,assignment,submitted_at` CSV file; GraderError naming the line of any bad row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in CSV_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise GraderError(f"{path}: the header must name {', '.join(CSV_COLUMNS)}; missing {', '.join(missing)}")
            rows: dict[tuple[str, str], datetime] = {}
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                key = ((row["student"] or "").strip(), (row["assignment"] or "").strip())
                if not all(key):
                    raise GraderError(f"{where}: student and assignment must not be empty")
                if key in rows:
                    raise GraderError(f"{where}: a second time for student {key[0]!r}, assignment {key[1]!r}")
                try:
                    rows[key] = parse_time(row["submitted_at"] or "", where=where)
                except DeadlineError as error:
                    raise GraderError(str(error)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GraderError(f"cannot read {path}: {error}") from None
    return rows


def stamping(on_result: Callable[[int, int, SubmissionResult], None] | None, times: SubmissionTimes,
             deadlines: dict[str, Deadline]) -> Callable[[int, int, SubmissionResult], None]:
    """`on_result` preceded by dating each result and assessing its lateness.

    A graded submission whose time cannot be found becomes ungradable; one already ungradable keeps its own error.
    """
    def stamped(number: int, total: int, result: SubmissionResult) -> None:
        try:
            assess(result, times.when(result), deadlines)
        except SubmissionError as error:
            if result.error is None:
                result.error, result.checks, result.problems = f"cannot tell when it was submitted: {error}", [], []
        if on_result is not None:
            on_result(number, total, result)
    return stamped


def _commit_time(path: Path) -> datetime:
    """The committer time of the last commit touching `path`; SubmissionError when it is not in a git repository."""
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%cI", "--", path.name], cwd=path.parent,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SubmissionError(f"git could not date {path}: {error}") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise SubmissionError(f"{path} is not in a git repository ({reason}); date it with --submitted-at mtime "
                              "or a CSV file")
    if not done.stdout.strip():
        raise SubmissionError(f"{path} was never committed to its git repository; date it with --submitted-at mtime "
                              "or a CSV file")
    return datetime.fromisoformat(done.stdout.strip())
