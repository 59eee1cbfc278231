"""Instructor overrides: a CSV or TOML file of (student, check, points, comment) applied on top of automatic scores.

CSV: a header `student,check,points,comment` (comment optional), one override per row.
TOML: one `[[override]]` table per override with the same keys.
`check` is a check's name (`q05`, `mean3`) or `part/name` when a student has two parts with that name.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

from grader.exceptions import OverrideError
from grader.results import BatchResult, CheckResult, SubmissionResult
from grader.spec import Assignment

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FIELDS = ("student", "check", "points", "comment")


@dataclass(frozen=True)
class OverrideEntry:
    """One line of an override file, with where it came from for error messages."""

    student: str
    check: str
    points: float
    comment: str
    where: str


def read_overrides(path: Path) -> list[OverrideEntry]:
    """Parse an override file (.csv or .toml)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise OverrideError(f"cannot read overrides file {path}: {error.strerror or error}") from None
    rows = _toml_rows(text, path) if path.suffix.lower() == ".toml" else _csv_rows(text, path)
    entries = [_entry(row, where) for where, row in rows]
    seen: dict[tuple[str, str], str] = {}
    for entry in entries:
        key = (entry.student, entry.check)
        if key in seen:
            raise OverrideError(f"{entry.where}: {entry.student} / {entry.check} is already overridden at {seen[key]}")
        seen[key] = entry.where
    return entries


def check_against_specs(entries: list[OverrideEntry], specs: dict[str, Assignment]) -> None:
    """Fail early on a check no spec declares, or points beyond every matching check's maximum."""
    for entry in entries:
        maxima = [c.points for a in specs.values() for c in a.checks if entry.check in (c.name, f"{a.name}/{c.name}")]
        if not maxima:
            raise OverrideError(f"{entry.where}: no assignment has a check named {entry.check!r}")
        if entry.points > max(maxima):
            raise OverrideError(f"{entry.where}: {entry.points:g} points is more than {entry.check} is worth "
                                f"({max(maxima):g})")


def apply_overrides(batch: BatchResult, entries: list[OverrideEntry]) -> BatchResult:
    """A copy of `batch` with each override replacing the automatic score of its check."""
    submissions = list(batch.submissions)
    for entry in entries:
        position, index = _locate(submissions, entry)
        submission = submissions[position]
        check = submission.checks[index]
        if not 0 <= entry.points <= check.max_score:
            raise OverrideError(f"{entry.where}: {entry.points:g} points is outside 0..{check.max_score:g} "
                                f"for {entry.student} / {check.part}/{check.name}")
        checks = list(submission.checks)
        checks[index] = check.overridden(entry.points, entry.comment)
        submissions[position] = replace(submission, checks=checks)
    return replace(batch, submissions=submissions)


def _locate(submissions: list[SubmissionResult], entry: OverrideEntry) -> tuple[int, int]:
    """(submission position, check index) of the check an override names."""
    theirs = [i for i, s in enumerate(submissions) if s.student == entry.student]
    if not theirs:
        students = sorted({s.student for s in submissions})
        raise OverrideError(f"{entry.where}: no submission from student {entry.student!r} "
                            f"(students: {', '.join(students[:20])}{', ...' if len(students) > 20 else ''})")
    matches = [(i, j) for i in theirs for j, check in enumerate(submissions[i].checks) if _names(check, entry.check)]
    if not matches:
        raise OverrideError(f"{entry.where}: {entry.student} has no check {entry.check!r}"
                            + (" (their submission could not be graded)" if all(submissions[i].error for i in theirs)
                               else ""))
    if len(matches) > 1:
        raise OverrideError(f"{entry.where}: {entry.student} has several checks named {entry.check!r}; "
                            f"write it as part/name")
    return matches[0]


def _names(check: CheckResult, name: str) -> bool:
    """Whether `name` (plain or part/name) designates `check`."""
    return name in (check.name, f"{check.part}/{check.name}")


def _csv_rows(text: str, path: Path) -> list[tuple[str, dict]]:
    """(where, row) for each data row of a CSV override file."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in FIELDS[:3] if name not in header]
    if missing:
        raise OverrideError(f"{path}: the first line must be the header {','.join(FIELDS)} (missing: "
                            f"{', '.join(missing)})")
    reader.fieldnames = header
    return [(f"{path} line {reader.line_num}", row) for row in reader if any((v or "").strip() for v in row.values())]


def _toml_rows(text: str, path: Path) -> list[tuple[str, dict]]:
    """(where, table) for each `[[override]]` table of a TOML override file."""
    try:
        tables = tomllib.loads(text).get("override", [])
    except tomllib.TOMLDecodeError as error:
        raise OverrideError(f"{path}: not valid TOML ({error})") from None
    if not isinstance(tables, list):
        raise OverrideError(f"{path}: overrides must be [[override]] tables")
    return [(f"{path} override #{number}", table) for number, table in enumerate(tables, 1)]


def _entry(row: dict, where: str) -> OverrideEntry:
    """Validate one row."""
    values = {name: str(row.get(name) if row.get(name) is not None else "").strip() for name in FIELDS}
    for name in FIELDS[:3]:
        if not values[name]:
            raise OverrideError(f"{where}: {name} is empty")
    try:
        points = float(values["points"])
    except ValueError:
        raise OverrideError(f"{where}: points {values['points']!r} is not a number") from None
    if not math.isfinite(points) or points < 0:
        raise OverrideError(f"{where}: points must be a number of at least 0, not {values['points']}")
    return OverrideEntry(values["student"], values["check"], points, values["comment"], where)
