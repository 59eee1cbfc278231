"""The student's self-check: run one part's visible checks against the live kernel and print a preview."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

from grader import probe_runtime
from grader.bundle import is_bundle, read_part
from grader.course import COURSE_ENV, COURSE_FILE, CourseError, load_course
from grader.exceptions import NoSuchAssignment
from grader.judge import judge
from grader.probe import generate_inputs, given_statements, record_from
from grader.release import BUNDLE_FOLDER
from grader.results import CheckResult, Status, SubmissionResult, Visibility
from grader.comparison import Context
from grader.spec import Check

BANNER = ("PREVIEW ONLY: this is not your grade. Your grade comes from `grader check`, which runs your whole "
          "notebook from the top in a fresh kernel and adds checks you cannot see here.")
MARKS = {Status.PASSED: "✓", Status.PARTIAL: "~", Status.FAILED: "✗", Status.NOT_RUN: "·"}


def check(part: str, *, namespace: dict[str, Any] | None = None) -> None:
    """Run `part`'s visible checks on the names defined so far in this notebook and print what to fix."""
    if os.environ.get("GRADER_SANDBOX"):
        print("(self-check skipped: `grader check` is grading this notebook)")
        return
    result = run_selfcheck(part, namespace=namespace if namespace is not None else _caller_namespace())
    print(render(result))


def run_selfcheck(part: str, *, namespace: dict[str, Any], start: Path | None = None) -> SubmissionResult:
    """The visible checks of `part` judged against `namespace`, as a SubmissionResult (nothing printed)."""
    checks, data_dir, withheld, notebook = visible_checks(part, start=Path(start or Path.cwd()))
    given = given_statements([notebook])
    results = [_run_one(check, part, namespace, data_dir, inputs, given) for check, inputs in checks]
    results += [CheckResult(name=w["name"], part=part, score=0.0, max_score=w["points"], status=Status.NOT_RUN,
                            message="checked only when the notebook is graded") for w in withheld]
    return SubmissionResult(path="(this notebook)", student="you", assignment=part, checks=results)


def visible_checks(part: str, *,
                   start: Path) -> tuple[list[tuple[Check, dict | None]], Path, list[dict], Path]:
    """(check, stored inputs or None) for each visible check, the data folder, checks kept for grading, and the
    part's assignment notebook (the code students are given).

    From the nearest self-check bundle (a student's release) or course.toml (an instructor's course
    folder) at or above `start`, or from $GRADER_COURSE.
    """
    if not os.environ.get(COURSE_ENV):
        for folder in (start.resolve(), *start.resolve().parents):
            if is_bundle(folder / BUNDLE_FOLDER):
                released, withheld = read_part(folder / BUNDLE_FOLDER, part)
                return [(r.check, r.inputs) for r in released], folder, withheld, folder / part / f"{part}.ipynb"
            if (folder / COURSE_FILE).is_file():
                break
    try:
        course = load_course()
    except CourseError:
        raise CourseError(f"no self-check bundle ({BUNDLE_FOLDER}/) and no course.toml in {start} or above it: "
                          "open the notebook from the folder your assignment came in") from None
    if part not in course.assignments:
        raise NoSuchAssignment(f"no assignment part {part!r}; parts: {', '.join(sorted(course.assignments))}")
    checks = [(check, None) for check in course.assignments[part].checks if check.visibility == Visibility.VISIBLE]
    return checks, course.data_dir, [], course.assignments_dir / part / f"{part}.ipynb"


def _run_one(check: Check, part: str, namespace: dict[str, Any], data_dir: Path, inputs: dict | None,
             given: tuple[str, ...]) -> CheckResult:
    """One check, probed in this process on its stored inputs, else on fresh ones."""
    if check.fetch.kernel_code() is None:
        return CheckResult(name=check.name, part=part, score=0.0, max_score=check.points, status=Status.NOT_RUN,
                           message="checked only when the notebook is graded")
    inputs = inputs if inputs is not None else generate_inputs(check, seed=secrets.randbits(32))
    config = {"needs": list(check.fetch.needs()), "code": check.fetch.kernel_code(), "cells": _history(namespace),
              "given": list(given)}
    record, tensors = probe_runtime.probe(namespace, config, inputs)
    ctx = Context(inputs=inputs, data_dir=data_dir)
    result = judge(check, part, record_from(record, lambda: tensors), ctx, cells=[], problem_at=lambda index: None)
    if record.get("missing") and record["missing"][0] not in record.get("borrowed", {}):
        result.message = f"`{record['missing'][0]}` is not defined yet: run the cell that defines it. {check.hint}".strip()
    return result


def _history(namespace: dict[str, Any]) -> list[str]:
    """The code cells run so far in this kernel (IPython's input history), for checks that replay them."""
    history = namespace.get("In")
    return [text for text in history if isinstance(text, str)] if isinstance(history, list) else []


def render(result: SubmissionResult) -> str:
    """The preview as plain text: banner, one line per check, the preview score."""
    lines = [f"Self-check of {result.assignment!r}. {BANNER}", ""]
    for c in result.checks:
        lines.append(f"  {MARKS[c.status]} {c.name} ({c.score:g}/{c.max_score:g}): {c.message}")
    lines += ["", f"Preview: {result.score:g}/{result.max_score:g} on the visible checks."]
    return "\n".join(lines)


def _caller_namespace() -> dict[str, Any]:
    """The notebook's namespace (IPython's user namespace), else the calling module's globals."""
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    if shell is not None:
        return shell.user_ns
    frame = sys._getframe(1)
    while frame.f_globals.get("__name__", "").split(".")[0] == "grader":
        frame = frame.f_back
    return frame.f_globals
