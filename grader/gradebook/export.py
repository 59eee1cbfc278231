"""The gradebook as a learning management system imports it: plain CSV, Canvas's gradebook CSV, Moodle's grade CSV.

Canvas (its gradebook import; docs/gradebook.md cites the pages): the columns `Student, ID, SIS User ID,
SIS Login ID, Section`, then one column per assignment; the second row, `Points Possible`, gives each
assignment's points. Moodle (Grade import, CSV): a column identifying the user (mapped on import to the
user's username or email address), then one column per grade item.

A roster (CSV with a `student` column and any of `id`, `sis_user_id`, `sis_login_id`, `section`, `email`,
`username`) gives the LMS's identifiers for each student; without one the grader's student name stands in.
"""
from __future__ import annotations

import csv
from pathlib import Path

from grader.emitters.per_submission import number
from grader.gradebook.store import GradebookError
from grader.gradebook.views import Grid

FORMATS = ("csv", "canvas", "moodle")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas's own export writes it
ROSTER_FIELDS = ("id", "sis_user_id", "sis_login_id", "section", "email", "username")


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """LMS identifiers by student, from a roster CSV; GradebookError naming what is wrong."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if "student" not in (reader.fieldnames or []):
                raise GradebookError(f"{path}: the roster's header must name a student column "
                                     f"(and any of {', '.join(ROSTER_FIELDS)})")
            return {row["student"].strip(): {k: (row.get(k) or "").strip() for k in ROSTER_FIELDS} for row in reader}
    except OSError as error:
        raise GradebookError(f"cannot read the roster {path}: {error.strerror or error}") from None


def rows(grid: Grid, format_name: str, roster: dict[str, dict[str, str]]) -> list[list[str]]:
    """The export's rows, header first."""
    if format_name not in FORMATS:
        raise GradebookError(f"unknown export format {format_name!r}; choose from {', '.join(FORMATS)}")
    scores = {student: [_score(grid, student, part) for part in grid.parts] for student in grid.students}
    if format_name == "canvas":
        table = [[*CANVAS_COLUMNS, *grid.parts],
                 [CANVAS_POINTS_ROW, "", "", "", "", *(_cell(grid.part_max(part)) for part in grid.parts)]]
        for student in grid.students:
            known = roster.get(student, {})
            table.append([student, known.get("id", ""), known.get("sis_user_id", ""),
                          known.get("sis_login_id") or student, known.get("section", ""), *scores[student]])
        return table
    if format_name == "moodle":
        email = any(roster.get(student, {}).get("email") for student in grid.students)
        table = [[("Email address" if email else "Username"), *grid.parts]]
        for student in grid.students:
            known = roster.get(student, {})
            table.append([known.get("email", "") if email else known.get("username") or student, *scores[student]])
        return table
    table = [["student", *grid.parts, "total", "max_score"]]
    for student in grid.students:
        table.append([student, *scores[student], _cell(grid.total(student)), _cell(grid.max_total)])
    return table


def write_export(grid: Grid, *, format_name: str, out: Path, roster: dict[str, dict[str, str]] | None = None) -> Path:
    """Write the export to `out` (UTF-8 CSV); the path."""
    table = rows(grid, format_name, roster or {})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)
    return out


def _score(grid: Grid, student: str, part: str) -> str:
    """A student's latest score in a part ('' when nothing was submitted)."""
    entry = grid.entries.get((student, part))
    return "" if entry is None else _cell(entry.result.score)


def _cell(value: float) -> str:
    """A number as an LMS reads it (3, 2.5)."""
    return str(number(value))
