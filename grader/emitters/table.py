"""The terminal table: one row per submission, then each check of the submissions that lost points."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from grader.emitters.per_submission import problem_lines
from grader.results import BatchResult, Status, SubmissionResult, Visibility

STATUS_STYLE = {Status.PASSED: "green", Status.PARTIAL: "yellow", Status.FAILED: "red", Status.NOT_RUN: "magenta"}
DETAIL_LIMIT = 5  # submissions beyond this many get only their summary row


def emit(batch: BatchResult, *, out_dir: Path, console: Console | None = None) -> list[Path]:
    """Print the tables to the terminal (stdout); writes no file."""
    console = console or Console(width=160 if not Console().is_terminal else None)
    detailed = batch.submissions if len(batch.submissions) <= DETAIL_LIMIT else []
    for submission in detailed:
        if submission.checks:
            console.print(check_table(submission))
        if submission.problems:
            console.print(problems_text(submission))
    console.print(summary_table(batch))
    line = review_line(batch)
    if line:
        console.print(line)
    return []


def review_line(batch: BatchResult) -> str:
    """How many answers await an instructor's reading, and the points withheld meanwhile ('' when none)."""
    waiting = sum(submission.answers_to_review for submission in batch.graded)
    if not waiting:
        return ""
    pending = round(sum(submission.points_pending_review for submission in batch.graded), 4)
    students = sum(1 for submission in batch.graded if submission.answers_to_review)
    line = (f"{waiting} answer{'s' * (waiting != 1)} of {students} submission{'s' * (students != 1)} "
            f"{'await' if waiting != 1 else 'awaits'} review")
    line += f" ({pending:g} point{'s' * (pending != 1)} pending review, not in the scores above)" if pending else ""
    return escape(line + ": the class summary (index.html) lists them by question")


def problems_text(submission: SubmissionResult) -> Text:
    """Each cause of the notebook's execution problems once, with how many later cells failed because of it."""
    text = Text(f"Problems while running {submission.student}'s notebook ({submission.path}):", style="bold")
    for line in problem_lines(submission):
        text.append(f"\n  {line}", style="not bold")
    return text


def summary_table(batch: BatchResult) -> Table:
    """One row per submission: who, which assignment, score, problems; a `late` column when any was late."""
    table = Table(title=f"grader check: {len(batch.graded)} graded, {len(batch.failed_to_grade)} could not be graded")
    any_late = any(late.seconds_late for s in batch.submissions for late in s.late)
    for column in ("student", "assignment", "score", "%", *("late",) * any_late, "status", "notes"):
        table.add_column(column, justify="right" if column in ("score", "%") else "left")
    for s in batch.submissions:
        pending = f" (+{s.points_pending_review:g} pending review)" if s.points_pending_review else ""
        table.add_row(s.student, s.assignment or "?", f"{s.score:g}/{s.max_score:g}{pending}",
                      f"{100 * s.fraction:.0f}" if s.status == "graded" else "-", *(_late(s),) * any_late,
                      "[red]error[/]" if s.error else "graded", _notes(s))
    return table


def _late(submission: SubmissionResult) -> str:
    """Days charged and points deducted per late part (`2 days: -1.2 of 6 earned`), '' when on time."""
    return escape("; ".join(f"{late.days_charged} day{'s' * (late.days_charged != 1)}: "
                            f"-{submission.part_penalty(late.part):g} of {submission.raw_score:g} earned"
                            if late.days_charged else "within grace"
                            for late in submission.late if late.seconds_late))


def check_table(submission: SubmissionResult) -> Table:
    """One row per check of one submission."""
    table = Table(title=f"{submission.student}: {submission.path}", title_justify="left")
    for column in ("part", "check", "points", "status", "message"):
        table.add_column(column, justify="right" if column == "points" else "left", overflow="fold")
    for check in submission.checks:
        style = STATUS_STYLE.get(check.status, "")
        status, message = check.status.value, check.message
        if check.visibility == Visibility.HIDDEN:
            message = "hidden check: only its result is shown"
        if check.override is not None:
            status += " (overridden)"
            message = (f"instructor: {check.override.comment or 'score changed'} (automatic score "
                       f"{check.override.automatic_score:g}). {message}")
        table.add_row(check.part, check.name, f"{check.score:g}/{check.max_score:g}", f"[{style}]{status}[/]", message)
    return table


def _notes(submission: SubmissionResult) -> str:
    """The error, or a count of failed checks and execution problems."""
    if submission.error:
        return escape(submission.error)
    lost = sum(1 for c in submission.checks if c.status != Status.PASSED)
    notes = [f"{lost} check{'s' * (lost != 1)} lost points"] if lost else []
    notes += [f"reused: unchanged since graded {submission.graded_at}"] if submission.reused else []
    overridden = sum(1 for c in submission.checks if c.override is not None)
    notes += [f"{overridden} overridden by the instructor"] if overridden else []
    groups = submission.problem_groups
    notes += [f"{g.where}: {g.problem.ename or g.problem.kind}" + (f" (+{len(g.followers)} later)" * bool(g.followers))
              for g in groups[:3]]
    notes += [f"{len(groups) - 3} more problems"] if len(groups) > 3 else []
    return escape("; ".join(notes))
