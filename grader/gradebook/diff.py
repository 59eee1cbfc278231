"""What changed between two runs: per student and part, the score and the check results that moved."""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.gradebook.store import Gradebook, GradebookError


@dataclass(frozen=True)
class CheckChange:
    """One check whose points or status differ between the runs (None: not in that run)."""

    key: str
    before: float | None
    after: float | None
    status_before: str | None
    status_after: str | None


@dataclass
class ScoreChange:
    """One student's part whose score or check results differ between the runs (before None: not in the first)."""

    student: str
    part: str
    before: float | None
    after: float
    checks: list[CheckChange] = field(default_factory=list)

    @property
    def delta(self) -> float | None:
        """How many points the score moved (None when the first run lacks the part)."""
        return None if self.before is None else round(self.after - self.before, 4)


def last_two_runs(book: Gradebook) -> tuple[int, int]:
    """The ids of the two most recent runs."""
    ids = [run.id for run in book.runs()]
    if len(ids) < 2:
        raise GradebookError(f"the gradebook {book.where} holds {len(ids)} run(s); a diff needs two")
    return ids[-2], ids[-1]


def diff_runs(book: Gradebook, run_a: int, run_b: int) -> list[ScoreChange]:
    """Every student and part run `run_b` graded whose score or check results differ from run `run_a` (or that
    run `run_a` lacks); parts `run_b` did not grade are not changes."""
    known = {run.id for run in book.runs()}
    for run in (run_a, run_b):
        if run not in known:
            raise GradebookError(f"the gradebook {book.where} has no run {run} (runs: "
                                 f"{', '.join(map(str, sorted(known))) or 'none'})")
    before = {(row.student, row.part): row for row in book.submissions(run_id=run_a)}
    after = {(row.student, row.part): row for row in book.submissions(run_id=run_b)}
    checks = book.checks([row.id for row in (*before.values(), *after.values())])
    changes = []
    for key in sorted(after):
        old, new = before.get(key), after[key]
        old_checks = checks[old.id] if old is not None else {}
        new_checks = checks[new.id]
        moved = [CheckChange(name, _points(old_checks.get(name)), _points(new_checks.get(name)),
                             _status(old_checks.get(name)), _status(new_checks.get(name)))
                 for name in sorted(set(old_checks) | set(new_checks), key=lambda n: _order(n, old_checks, new_checks))]
        moved = [change for change in moved
                 if old is not None and (change.before, change.status_before) != (change.after, change.status_after)]
        score_before = old.score if old is not None else None
        if moved or score_before != new.score:
            changes.append(ScoreChange(key[0], key[1], score_before, new.score, moved))
    return changes


def _points(row) -> float | None:
    """A check result's points (None when absent)."""
    return None if row is None else row.points


def _status(row) -> str | None:
    """A check result's status (None when absent)."""
    return None if row is None else row.status


def _order(name: str, *by_key: dict) -> int:
    """Checks in the order they were recorded (their row ids)."""
    return min((checks[name].id for checks in by_key if name in checks), default=0)
