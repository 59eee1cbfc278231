"""Turn what a probe reported into a CheckResult: compare with the reference, or say why it could not run."""
from __future__ import annotations

import re
import time
from typing import Any, Callable

from grader.causes import NOTHING_RAN, binds, could_supply_any_name
from grader.exceptions import ReferenceFailed
from grader.execute import ProbeFailure
from grader.expected_cache import expected_value
from grader.probe import ProbeRecord
from grader.results import CheckResult, ExecutionProblem, Status
from grader.comparison import Context, Outcome
from grader.spec import Check

ProblemAt = Callable[[int], ExecutionProblem | None]


def judge(check: Check, part: str, record: ProbeRecord | None, ctx: Context, *, cells: list,
          problem_at: ProblemAt, probe_failure: ProbeFailure | None = None) -> CheckResult:
    """The CheckResult of one check from its probe record (None: the probe never reported)."""
    started = time.monotonic()
    result = _judge(check, part, record, ctx, cells=cells, problem_at=problem_at, probe_failure=probe_failure)
    result.seconds = round(time.monotonic() - started, 4)
    return result


def _judge(check: Check, part: str, record: ProbeRecord | None, ctx: Context, *, cells: list,
           problem_at: ProblemAt, probe_failure: ProbeFailure | None) -> CheckResult:
    """See `judge`."""
    if check.fetch.kernel_code() is None:
        return _compared(check, part, check.fetch.from_notebook(ctx.notebook), ctx)
    if probe_failure is not None:
        return _result(check, part, probe_failure.status, probe_failure.message)
    if record is None:
        return _result(check, part, Status.NOT_RUN, "could not be checked: the probe left no result")
    if record.missing:
        return _missing(check, part, record.missing, record.borrowed, cells=cells, problem_at=problem_at)
    for name in check.fetch.needs():
        stale = _stale_definition(name, cells, problem_at)
        if stale is not None:
            return _result(check, part, Status.NOT_RUN, _not_run_message(name, *stale))
    if record.error:
        name = _undefined_name(record.error)
        blocked = _blocking_problem(name, cells, problem_at) if name else None
        if blocked is not None:
            return _result(check, part, Status.NOT_RUN, _not_run_message(name, *blocked))
        star = _failed_star_import(cells, problem_at) if name and not _bound_anywhere(name, cells) else None
        if star is not None:
            return _result(check, part, Status.NOT_RUN, _not_run_message(name, *star, via="comes from the `import *` in"))
        failed = _failed_last_definition(check.fetch.needs(), cells, problem_at)
        if failed is not None:
            return _result(check, part, Status.NOT_RUN, _not_run_message(*failed, via="is last defined in"))
        if record.error["ename"] == "NeverRan":  # the probe found the student's work in a cell that never ran
            return _result(check, part, Status.NOT_RUN, f"not run: {record.error['evalue']}")
        return _result(check, part, Status.FAILED, f"raised {record.error['ename']}: {record.error['evalue']}",
                       diagnostics={"traceback": record.error.get("traceback", "")})
    return _compared(check, part, record.value, ctx)


def _compared(check: Check, part: str, student: Any, ctx: Context) -> CheckResult:
    """Compute the reference in this process (or reuse it, see grader.expected_cache) and compare."""
    try:
        expected = expected_value(check, part, ctx)
    except Exception as error:
        raise ReferenceFailed(f"the reference for check {part}/{check.name} failed: "
                              f"{type(error).__name__}: {error}") from error
    outcome = check.compare.judge(student, expected, ctx)
    if check.figures is not None:
        try:
            outcome.figures = outcome.figures + check.figures(student, expected, ctx)
        except Exception:  # a student value a picture cannot be drawn from costs no points
            pass
    return _from_outcome(check, part, outcome)


def _from_outcome(check: Check, part: str, outcome: Outcome) -> CheckResult:
    """A CheckResult carrying an Outcome's score, message and extras."""
    fraction = min(1.0, max(0.0, float(outcome.fraction)))
    status = Status.PASSED if fraction >= 1 else Status.PARTIAL if fraction > 0 else Status.FAILED
    message = outcome.message if status == Status.PASSED or not check.hint else f"{outcome.message}. {check.hint}"
    return CheckResult(name=check.name, part=part, score=round(check.points * fraction, 4), max_score=check.points,
                       status=status, message=message, visibility=check.visibility,
                       diagnostics=outcome.diagnostics, figures=outcome.figures, answer=outcome.answer,
                       needs_review=outcome.needs_review)


def _result(check: Check, part: str, status: Status, message: str, diagnostics: dict | None = None) -> CheckResult:
    """A zero-score CheckResult with a message (and the check's hint when it failed)."""
    if status == Status.FAILED and check.hint:
        message = f"{message}. {check.hint}"
    return CheckResult(name=check.name, part=part, score=0.0, max_score=check.points, status=status,
                       message=message, visibility=check.visibility, diagnostics=diagnostics or {})


def _missing(check: Check, part: str, names: tuple[str, ...], borrowed: dict[str, str], *, cells: list,
             problem_at: ProblemAt) -> CheckResult:
    """Not run when the cell meant to define a name failed or never ran; failed when nothing (of the student's) defines it."""
    for name in names:
        blocked = _blocking_problem(name, cells, problem_at)
        if blocked is not None:
            return _result(check, part, Status.NOT_RUN, _not_run_message(name, *blocked))
    if names[0] in borrowed:
        return _result(check, part, Status.FAILED, f"`{names[0]}` is not defined in your notebook (the one in scope "
                                                    f"comes from {borrowed[names[0]]} via an import): write your own")
    if not _bound_anywhere(names[0], cells):
        return _result(check, part, Status.FAILED, f"not in this notebook: no cell defines `{names[0]}`")
    return _result(check, part, Status.FAILED, f"`{names[0]}` is not defined")


def _binding(name: str, cells: list) -> list[int]:
    """The indexes of the code cells that define `name`, in order."""
    return [index for index, cell in enumerate(cells) if cell.cell_type == "code" and binds(cell.source, name)]


def _blocking_problem(name: str, cells: list, problem_at: ProblemAt) -> tuple[int, ExecutionProblem] | None:
    """The first cell that defines `name` but failed, timed out or never ran."""
    for index in _binding(name, cells):
        problem = problem_at(index)
        if problem is not None:
            return index, problem
    return None


def _bound_anywhere(name: str, cells: list) -> bool:
    """Whether any code cell defines `name`."""
    return bool(_binding(name, cells))


def _failed_star_import(cells: list, problem_at: ProblemAt) -> tuple[int, ExecutionProblem] | None:
    """The first failed cell whose `from ... import *` may not have run: where an undefined library name came from."""
    for index, cell in enumerate(cells):
        problem = problem_at(index) if cell.cell_type == "code" else None
        if problem is not None and could_supply_any_name(problem):
            return index, problem
    return None


def _failed_last_definition(names: tuple[str, ...], cells: list,
                            problem_at: ProblemAt) -> tuple[str, int, ExecutionProblem] | None:
    """A needed name whose last defining cell failed: the probe then met an older value or none."""
    for name in names:
        binding = _binding(name, cells)
        problem = problem_at(binding[-1]) if binding else None
        if problem is not None and problem.kind == "error":
            return name, binding[-1], problem
    return None


def _stale_definition(name: str, cells: list, problem_at: ProblemAt) -> tuple[int, ExecutionProblem] | None:
    """The last cell defining `name`, when none of it ran (syntax error, timeout, dead kernel): an older value is stale."""
    binding = _binding(name, cells)
    problem = problem_at(binding[-1]) if binding else None
    never_ran = problem is not None and (problem.kind in ("kernel_died", "notebook_timeout")
                                         or (problem.kind == "error" and problem.ename in NOTHING_RAN))
    if not never_ran:
        return None
    return binding[-1], problem


def _not_run_message(name: str, index: int, problem: ExecutionProblem, *, via: str = "is defined in") -> str:
    """Why the work behind `name` never ran, pointing at the cell."""
    why = {"error": f"raised {problem.ename}: {problem.evalue}", "timeout": "timed out",
           "kernel_died": "never ran: the kernel died" if index != problem.cell_index else "killed the kernel",
           "notebook_timeout": "never ran: the notebook's time limit ran out"}.get(problem.kind, problem.kind)
    root = f" (it follows from cell {problem.caused_by + 1}, which failed first)" if problem.caused_by is not None else ""
    return f"not run: `{name}` {via} cell {index + 1}, which {why}{root}"


def _undefined_name(error: dict[str, str]) -> str | None:
    """The name in a NameError message, if that is what the error was."""
    match = re.match(r"name '(\w+)' is not defined", error.get("evalue", "")) if error.get("ename") == "NameError" else None
    return match.group(1) if match else None
