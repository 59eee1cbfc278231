"""CSV gradebook: one row per student, one column per assignment part, then the total."""
from __future__ import annotations

import csv
from pathlib import Path

from grader.emitters.per_submission import assignment_name, number
from grader.results import BatchResult, SubmissionResult

FIXED_COLUMNS = ("total", "max_score", "not_graded")


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `out_dir/gradebook.csv`."""
    path = Path(out_dir) / "gradebook.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = part_columns(batch)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *parts, *FIXED_COLUMNS])
        writer.writerows(gradebook_rows(batch, parts))
    return [path]


def part_columns(batch: BatchResult) -> list[str]:
    """Every assignment in the batch, alphabetically: the same order on every run."""
    return sorted({assignment_name(s) for s in batch.submissions})


def gradebook_rows(batch: BatchResult, parts: list[str]) -> list[list[str]]:
    """Rows sorted by student; a part submitted twice counts the later submission; a missing part is empty."""
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
        rows.append([student, *scores, _cell(total), _cell(sum(part_max.values())), not_graded])
    return rows


def _cell(value: float) -> str:
    """A number as the gradebook shows it (3, 2.5)."""
    return str(number(value))
