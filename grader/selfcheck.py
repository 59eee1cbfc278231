"""The student's self-check: run one part's visible checks against the live kernel and print a preview."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

from grader import probe_runtime
from grader.discover import load_assignments
from grader.exceptions import UnknownPart
from grader.judge import judge
from grader.probe import generate_inputs, record_from
from grader.results import CheckResult, Status, SubmissionResult, Visibility
from grader.spec import Check, Context

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


def run_selfcheck(part: str, *, namespace: dict[str, Any], fastai_home: Path | None = None) -> SubmissionResult:
    """The visible checks of `part` judged against `namespace`, as a SubmissionResult (nothing printed)."""
    assignments = load_assignments()
    if part not in assignments:
        raise UnknownPart(f"no assignment part {part!r}; parts: {', '.join(sorted(assignments))}")
    home = Path(fastai_home or os.environ.get("FASTAI_HOME") or Path.home() / ".fastai").expanduser()
    checks = [_run_one(check, part, namespace, home / "data") for check in assignments[part].checks
              if check.visibility == Visibility.VISIBLE]
    return SubmissionResult(path="(this notebook)", student="you", assignment=part, checks=checks)


def _run_one(check: Check, part: str, namespace: dict[str, Any], data_dir: Path) -> CheckResult:
    """One check, probed in this process on fresh inputs."""
    if check.fetch.kernel_code() is None:
        return CheckResult(name=check.name, part=part, score=0.0, max_score=check.points, status=Status.NOT_RUN,
                           message="checked only when the notebook is graded")
    inputs = generate_inputs(check, seed=secrets.randbits(32))
    config = {"needs": list(check.fetch.needs()), "code": check.fetch.kernel_code()}
    record, tensors = probe_runtime.probe(namespace, config, inputs)
    ctx = Context(inputs=inputs, data_dir=data_dir)
    result = judge(check, part, record_from(record, lambda: tensors), ctx, cells=[], problem_at=lambda index: None)
    if record.get("missing") and record["missing"][0] not in record.get("borrowed", {}):
        result.message = f"`{record['missing'][0]}` is not defined yet: run the cell that defines it. {check.hint}".strip()
    return result


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
