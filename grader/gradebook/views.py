"""The gradebook read back: each student's latest result per part (overrides applied), and one student's history."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grader.gradebook.overrides import applied
from grader.gradebook.store import Gradebook
from grader.results import SubmissionResult


@dataclass
class Entry:
    """One student's latest recorded result for one part."""

    student: str
    part: str
    run_id: int
    reused: bool
    result: SubmissionResult  # as recorded, with the gradebook's overrides applied

    @property
    def late(self) -> bool:
        """Handed in after the part's deadline (a late record with seconds late)."""
        return any(record.seconds_late > 0 for record in self.result.late)

    @property
    def penalty(self) -> float:
        """Points lost for lateness."""
        return self.result.penalty_points


@dataclass
class Grid:
    """Every student × every part the gradebook holds, with the latest result of each."""

    students: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)

    def part_max(self, part: str) -> float:
        """The points a part is worth (the most any of its results offers)."""
        return max((e.result.max_score for (_, p), e in self.entries.items() if p == part), default=0.0)

    def total(self, student: str) -> float:
        """A student's points over every part."""
        return round(sum(e.result.score for (s, _), e in self.entries.items() if s == student), 4)

    @property
    def max_total(self) -> float:
        """Points available over every part."""
        return round(sum(self.part_max(part) for part in self.parts), 4)

    @property
    def pending_reviews(self) -> int:
        """Answers flagged for an instructor's reading and not yet overridden, over every latest result."""
        return sum(entry.result.answers_to_review for entry in self.entries.values())


def latest_grid(book: Gradebook) -> Grid:
    """The latest result of each student and part, with every recorded override applied."""
    by_student: dict[str, list[Any]] = {}
    for row in book.overrides():
        by_student.setdefault(row.student, []).append(row)
    grid = Grid()
    for row in book.latest():
        result = applied(SubmissionResult.from_dict(json.loads(row.result)), by_student.get(row.student, []))
        grid.entries[(row.student, row.part)] = Entry(row.student, row.part, row.run_id, row.reused, result)
    grid.students = sorted({student for student, _ in grid.entries})
    grid.parts = sorted({part for _, part in grid.entries})
    return grid


def history(book: Gradebook, student: str) -> list[Any]:
    """Every submission recorded for `student`, oldest first, with the run that recorded it."""
    started = {run.id: run.started_at for run in book.runs()}
    return [(row, started[row.run_id]) for row in book.submissions(student=student)]
