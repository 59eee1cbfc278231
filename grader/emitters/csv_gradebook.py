"""CSV gradebook: one row per student, one column per assignment part, then the total.

Scores are final (less any late penalty); when a submission of the batch has a deadline, three more columns
follow: `raw_total` (what the checks earned), `late_penalty` (points deducted) and `late` (days charged per part).
"""
from __future__ import annotations

import csv
from pathlib import Path

from grader.emitters.per_submission import assignment_name, number
from grader.results import BatchResult, SubmissionResult

FIXED_COLUMNS = ("total", "max_score", "not_graded")
LATE_COLUMNS = ("raw_total", "late_penalty", "late")


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `out_dir/gradebook.csv`."""
    path = Path(out_dir) / "gradebook.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = part_columns(batch)
    dated = any(s.late for s in batch.submissions)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *parts, *FIXED_COLUMNS, *LATE_COLUMNS * dated])
        writer.writerows(row if dated else row[:-len(LATE_COLUMNS)] for row in gradebook_rows(batch, parts))
    return [path]


def part_columns(batch: BatchResult) -> list[str]:
    """Every assignment in the batch, alphabetically: the same order on every run."""
    return sorted({assignment_name(s) for s in batch.submissions})


def gradebook_rows(batch: BatchResult, parts: list[str]) -> list[list[str]]:
    """Rows sorted by student, LATE_COLUMNS last; a part submitted twice counts the later submission; a missing part
    is empty."""
    latest: dict[str, dict[str, SubmissionResult]] = {}
    for submission in batch.submissions:
        latest.setdefault(submission.student, {})[assignment_name(submission)] = submission
    part_max = {part: max((s.max_score for by_part in latest.values() for p, s in by_part.items() if p == part),
                          default=0.0) for part in parts}
    rows = []
    for student in sorted(latest):
        by_part = latest[student]
        scores = [_cell(by_part[p].score) if p in by_part else "" for p in parts]
        total = sum(s.score for s in by_part.values())
        not_graded = "; ".join(p for p in parts if p in by_part and by_part[p].error is not None)
        late = "; ".join(f"{late.part}: {late.days_charged} day{'s' * (late.days_charged != 1)}"
                         for s in by_part.values() for late in s.late if late.days_charged)
        rows.append([student, *scores, _cell(total), _cell(sum(part_max.values())), not_graded,
                     _cell(sum(s.raw_score for s in by_part.values())),
                     _cell(sum(s.penalty_points for s in by_part.values())), late])
    return rows


def _cell(value: float) -> str:
    """A number as the gradebook shows it (3, 2.5)."""
    return str(number(value))
