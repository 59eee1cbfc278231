"""Helpers shared by the formats that describe one submission: file layout, numbers, student-facing text."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

from grader.late import describe, policy_text
from grader.results import BatchResult, CheckResult, Status, SubmissionResult, Visibility

HIDDEN_MESSAGE = "Hidden check: its details are shown when grades are published."


def submission_dirs(batch: BatchResult, *, out_dir: Path, format_name: str) -> list[tuple[SubmissionResult, Path]]:
    """Where each submission's files go: `out_dir/FORMAT/` for one, `out_dir/FORMAT/STUDENT/ASSIGNMENT/` for several."""
    root = Path(out_dir) / format_name
    if len(batch.submissions) == 1:
        return [(batch.submissions[0], root)]
    taken: set[Path] = set()
    placed = []
    for submission in batch.submissions:
        folder = root / slug(submission.student) / slug(assignment_name(submission))
        candidate, n = folder, 1
        while candidate in taken:
            n += 1
            candidate = folder.with_name(f"{folder.name}-{n}")
        taken.add(candidate)
        placed.append((submission, candidate))
    return placed


def write_per_submission(batch: BatchResult, *, out_dir: Path, format_name: str, file_name: str,
                         render: Callable[[SubmissionResult], str]) -> list[Path]:
    """Write `render(submission)` to `file_name` in each submission's folder of this format; the paths written."""
    written = []
    for submission, folder in submission_dirs(batch, out_dir=out_dir, format_name=format_name):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name
        path.write_text(render(submission))
        written.append(path)
    return written


def assignment_name(submission: SubmissionResult) -> str:
    """The submission's assignment, else (when it could not even be read) its file name without extension."""
    return submission.assignment or Path(submission.path).stem or "unknown"


def slug(text: str) -> str:
    """A file-name-safe version of a student or assignment name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


def number(value: float) -> int | float:
    """Points as JSON likes them: 3 rather than 3.0, fractions kept to 4 decimals."""
    value = round(float(value), 4)
    return int(value) if value.is_integer() else value


def whole_points(value: float) -> int:
    """Points rounded half up to an integer, for formats that only take integers."""
    return math.floor(float(value) + 0.5)


def check_title(check: CheckResult) -> str:
    """The name a check is shown under outside the grader: `part: name`."""
    return f"{check.part}: {check.name}" if check.part else check.name


def student_message(check: CheckResult) -> str:
    """What a student may read about a check (hidden checks say only that they are hidden)."""
    if check.visibility == Visibility.HIDDEN:
        return HIDDEN_MESSAGE
    return full_message(check)


def full_message(check: CheckResult) -> str:
    """The check's message with its override comment and a note when it never ran."""
    lines = [check.message] if check.message else []
    if check.status == Status.NOT_RUN and not check.message:
        lines.append("Not run: the code it depends on did not run.")
    if check.override is not None:
        lines.append(f"Instructor: {check.override.comment} (automatic score {number(check.override.automatic_score)})")
    return "\n".join(lines)


def summary_line(submission: SubmissionResult) -> str:
    """One line: who, what, and the score (with the raw score and late penalty when one was deducted), or why it
    could not be graded."""
    if submission.error is not None:
        return f"{submission.student} / {assignment_name(submission)}: could not be graded: {submission.error}"
    late = (f" ({number(submission.raw_score)} earned, less {number(submission.penalty_points)} for late work)"
            if submission.penalty_points else "")
    return (f"{submission.student} / {submission.assignment}: {number(submission.score)} of "
            f"{number(submission.max_score)} points{late}")


def late_lines(submission: SubmissionResult) -> list[str]:
    """One line per part submitted after its deadline: how late, the policy, and the points deducted."""
    return [f"{late.part}: deadline {late.deadline}, submitted {late.submitted_at}: {describe(late)}; "
            f"{_points(submission.part_penalty(late.part))} deducted (late policy: {policy_text(late)})"
            for late in submission.late if late.seconds_late]


def _points(value: float) -> str:
    """`1 point`, `0.8 points`."""
    return f"{number(value)} point{'s' * (value != 1)}"


def penalised_scores(submission: SubmissionResult) -> list[float]:
    """Each check's points less its part's late penalty, so that they add up to the final score."""
    return [check.score * (1 - submission.late_fraction(check.part)) for check in submission.checks]


def problem_lines(submission: SubmissionResult) -> list[str]:
    """One line per cause of execution problems (error, timeout, dead kernel), naming its cells (from 1) and
    how many later cells failed because of it; causes that others followed from first, then independent errors."""
    return [f"{group.problem.kind.replace('_', ' ')} in {group.summary}" for group in submission.problem_groups]


def ungradable_title(submission: SubmissionResult) -> str:
    """The name of the stand-in test a format shows for a submission that could not be graded."""
    return f"{assignment_name(submission)}: could not be graded"
