"""Root causes of execution problems: which earlier failed cell a later NameError follows from.

A notebook that fails early (`from fastbook import *` raising ModuleNotFoundError, a cell defining
`dls` erroring) makes dozens of later cells fail with NameError. A NameError for a name that an
earlier failed cell binds (def, class, assignment, import, for, with), or that an earlier failed
star import (`from x import *`) could have supplied, follows from that cell, and from whatever that
cell itself followed from. (A name the student defines in the failing cell itself or in a later
failed one is used out of order: that error is its own cause.) `attribute_causes` records the
root's cell index in `ExecutionProblem.caused_by`; every other problem is a cause of its own, and
`SubmissionResult.problem_groups` reports each cause once with what followed from it.
The cell-source reading both this and the judge rely on (`binds`) lives here too.
"""
from __future__ import annotations

import ast
import re

from grader.probe_runtime import without_magics
from grader.results import ExecutionProblem

NOTHING_RAN = ("SyntaxError", "IndentationError", "TabError")  # errors raised before any line of the cell ran
IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError")
UNDEFINED_NAME = re.compile(r"name '(\w+)' is not defined")
STAR_IMPORT = re.compile(r"^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]*\*", re.MULTILINE)
# the student's cell frame in an IPython traceback: "Cell In[3], line 2" (IPython 8+), "in <cell line: 2>" (older)
FAILING_LINE = re.compile(r"^Cell In\[\d+\], line (\d+)[ \t]*$|in <cell line: (\d+)>", re.MULTILINE)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def attribute_causes(problems: list[ExecutionProblem]) -> list[ExecutionProblem]:
    """Set each problem's `caused_by`: its root cause's cell index, None for a cause of its own. Returns `problems`."""
    ordered = sorted((p for p in problems if p.cell_index is not None), key=lambda p: p.cell_index)
    for problem in problems:
        problem.caused_by = None
    for position, problem in enumerate(ordered):
        name = undefined_name(problem)
        if name is None:
            continue
        earlier = [p for p in ordered[:position] if p.cell_index < problem.cell_index]
        cause = _cause(name, earlier, rest=ordered[position:])
        if cause is not None:
            problem.caused_by = cause.cell_index if cause.caused_by is None else cause.caused_by
    return problems


def undefined_name(problem: ExecutionProblem) -> str | None:
    """The name a NameError says is not defined (None for any other problem)."""
    if problem.kind != "error" or problem.ename != "NameError":
        return None
    match = UNDEFINED_NAME.match(problem.evalue)
    return match.group(1) if match else None


def _cause(name: str, earlier: list[ExecutionProblem], *, rest: list[ExecutionProblem]) -> ExecutionProblem | None:
    """The failed cell `name` should have come from: the last earlier one binding it, else a failed star import."""
    binding = [p for p in earlier if binds(p.cell_source, name)]
    if binding:
        return binding[-1]
    if any(binds(p.cell_source, name) for p in rest):  # the student defines it in this or a later cell: out of order
        return None
    return next((p for p in earlier if could_supply_any_name(p)), None)


def could_supply_any_name(problem: ExecutionProblem) -> bool:
    """Whether a failed cell holds a star import that may not have run (at or after the failing line)."""
    lines = [problem.cell_source.count("\n", 0, m.start()) + 1 for m in STAR_IMPORT.finditer(problem.cell_source)]
    if not lines:
        return False
    if problem.kind != "error" or problem.ename in NOTHING_RAN:
        return True  # timed out somewhere, or none of the cell ran
    failing = failing_line(problem.traceback)
    if failing is None:
        return problem.ename in IMPORT_ERRORS
    return any(line >= failing for line in lines)


def failing_line(traceback: str) -> int | None:
    """The line of the student's cell that raised, from the cell's own frame in the traceback (None if not found)."""
    match = FAILING_LINE.search(ANSI_ESCAPE.sub("", traceback))
    return int(match.group(1) or match.group(2)) if match else None


def binds(source: str, name: str) -> bool:
    """Whether a cell's code (at any level) defines `name`: def, class, assignment, import, for, with."""
    try:
        tree = ast.parse(without_magics(source))
    except SyntaxError:
        return bool(re.search(rf"(^|\n)\s*(def|class)\s+{re.escape(name)}\b|\b{re.escape(name)}\s*(,[^=\n]*)?=[^=]",
                              source))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
            return True
    return False
