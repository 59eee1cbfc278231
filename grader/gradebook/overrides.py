"""Overrides in the gradebook: imported from an override file, applied to each student's latest results."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.exceptions import OverrideError
from grader.gradebook.store import Gradebook
from grader.overrides import read_overrides
from grader.results import SubmissionResult


def names(check_key: str, part: str, name: str) -> bool:
    """Whether an override's check (a name, or part/name) designates the check `name` of `part`."""
    return check_key in (name, f"{part}/{name}")


def applied(result: SubmissionResult, rows: list[Any]) -> SubmissionResult:
    """`result` with the student's recorded overrides (oldest first, so the latest wins) on the checks they name."""
    checks = list(result.checks)
    for row in rows:
        for index, check in enumerate(checks):
            if names(row.check_key, check.part, check.name) and 0 <= row.points <= check.max_score:
                checks[index] = check.overridden(row.points, row.comment)
    return replace(result, checks=checks) if rows else result


def import_overrides(book: Gradebook, path: Path, latest: list[SubmissionResult]) -> int:
    """Record every override of the file at `path` (CSV or TOML, as `grader check --overrides` reads), each checked
    against the students' latest results; how many were recorded."""
    entries = read_overrides(path)
    for entry in entries:
        theirs = [result for result in latest if result.student == entry.student]
        if not theirs:
            raise OverrideError(f"{entry.where}: the gradebook has no submission from student {entry.student!r}")
        matches = [check for result in theirs for check in result.checks if names(entry.check, check.part, check.name)]
        if len(matches) != 1:
            raise OverrideError(f"{entry.where}: {entry.student} has " + (
                f"several checks named {entry.check!r}; write it as part/name" if matches
                else f"no check {entry.check!r} in their latest results"))
        if entry.points > matches[0].max_score:
            raise OverrideError(f"{entry.where}: {entry.points:g} points is more than {entry.check} is worth "
                                f"({matches[0].max_score:g})")
    book.add_overrides([dict(student=e.student, check_key=e.check, points=e.points, comment=e.comment)
                        for e in entries], source=str(path))
    return len(entries)
