"""Gradescope: the autograder `results.json` (hidden checks shown only after grades are published)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.emitters.per_submission import (check_title, full_message, late_lines, number, problem_lines,
                                            summary_line, ungradable_title, write_per_submission)
from grader.results import BatchResult, CheckResult, Status, SubmissionResult, Visibility


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `results.json` per submission under `out_dir/gradescope/`."""
    return write_per_submission(batch, out_dir=out_dir, format_name="gradescope", file_name="results.json",
                                render=lambda s: json.dumps(results_document(s), indent=2) + "\n")


TEXT = "text"  # Gradescope's plain-text output format: shown as written (the default, simple_format, is sanitized HTML)


def results_document(submission: SubmissionResult) -> dict[str, Any]:
    """Top-level score and output, one test per check; every text field declared plain text."""
    if submission.error is not None:
        tests = [{"name": ungradable_title(submission), "score": 0, "max_score": number(submission.max_score),
                  "status": "failed", "output": submission.error, "output_format": TEXT, "name_format": TEXT,
                  "visibility": "visible"}]
    else:
        tests = [_test(check) for check in submission.checks]
    return {"score": number(submission.score), "execution_time": int(round(submission.seconds)),
            "output": "\n".join([summary_line(submission), *late_lines(submission), *problem_lines(submission)]),
            "output_format": TEXT, "test_output_format": TEXT, "test_name_format": TEXT,
            "stdout_visibility": "hidden", "tests": tests}


def _test(check: CheckResult) -> dict[str, Any]:
    """One check as a Gradescope test case."""
    hidden = check.visibility == Visibility.HIDDEN
    return {"name": check_title(check), "score": number(check.score), "max_score": number(check.max_score),
            "status": "passed" if check.status == Status.PASSED else "failed", "output": full_message(check),
            "output_format": TEXT, "name_format": TEXT, "tags": [check.part] if check.part else [],
            "visibility": "after_published" if hidden else "visible"}
