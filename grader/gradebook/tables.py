"""The gradebook's terminal tables: the class grid, one student's history, a diff between two runs."""
from __future__ import annotations

from typing import Any

from rich.table import Table

from grader.gradebook.diff import ScoreChange
from grader.gradebook.views import Grid


def grid_table(grid: Grid, where: str) -> Table:
    """Students × parts: the latest score of each (late and reused marked), total, answers awaiting review."""
    table = Table(title=f"gradebook {where}: {len(grid.students)} students, {len(grid.parts)} parts")
    table.add_column("student")
    for part in grid.parts:
        table.add_column(part, justify="right")
    for column in ("total", "to review"):
        table.add_column(column, justify="right")
    for student in grid.students:
        cells, reviews = [], 0
        for part in grid.parts:
            entry = grid.entries.get((student, part))
            if entry is None:
                cells.append("[dim]-[/]")
                continue
            result, reviews = entry.result, reviews + entry.result.answers_to_review
            cell = "[red]error[/]" if result.error else f"{result.score:g}/{result.max_score:g}"
            cell += f" [yellow]late -{entry.penalty:g}[/]" if entry.late else ""
            cells.append(cell)
        table.add_row(student, *cells, f"{grid.total(student):g}/{grid.max_total:g}", str(reviews or ""))
    return table


def history_table(student: str, rows: list[tuple[Any, str]]) -> Table:
    """Every submission recorded for one student, oldest first."""
    table = Table(title=f"{student}: {len(rows)} recorded submission(s)")
    for column in ("run", "started", "part", "score", "status", "notebook", "sha256"):
        table.add_column(column, justify="right" if column in ("run", "score") else "left")
    for row, started in rows:
        status = row.status + (" (reused)" if row.reused else "") + (" (late)" if row.late else "")
        table.add_row(str(row.run_id), started, row.part, f"{row.score:g}/{row.max_score:g}", status,
                      row.notebook_path, (row.notebook_sha256 or "-")[:12])
    return table


def diff_table(run_a: int, run_b: int, changes: list[ScoreChange]) -> Table:
    """Each student and part whose score moved between two runs, by how much, and the checks that moved."""
    table = Table(title=f"run {run_a} → run {run_b}: {len(changes)} change(s)")
    for column in ("student", "part", "before", "after", "change", "checks that changed"):
        table.add_column(column, justify="right" if column in ("before", "after", "change") else "left")
    for change in changes:
        checks = "; ".join(f"{c.key} {_points(c.before)} → {_points(c.after)}"
                           + (f" ({c.status_before} → {c.status_after})" if c.status_before != c.status_after else "")
                           for c in change.checks)
        delta = "new" if change.delta is None else f"{change.delta:+g}"
        table.add_row(change.student, change.part, _points(change.before), _points(change.after), delta, checks)
    return table


def _points(value: float | None) -> str:
    """Points, or '-' when absent."""
    return "-" if value is None else f"{value:g}"
