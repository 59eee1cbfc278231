"""GitHub Classroom: the base64 result blob the autograding reporter reads, plus a Markdown step summary."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from grader.emitters.per_submission import (check_title, number, problem_lines, student_message, submission_dirs,
                                            summary_line, ungradable_title)
from grader.results import BatchResult, Status, SubmissionResult

TEST_STATUS = {Status.PASSED: "pass", Status.PARTIAL: "fail", Status.FAILED: "fail", Status.NOT_RUN: "error"}


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `result.json`, `result.b64` and `summary.md` per submission; fill $GITHUB_OUTPUT / $GITHUB_STEP_SUMMARY."""
    written = []
    for submission, folder in submission_dirs(batch, out_dir=out_dir, format_name="github"):
        folder.mkdir(parents=True, exist_ok=True)
        result = result_blob(submission)
        files = {"result.json": json.dumps(result, indent=2) + "\n", "result.b64": encode(result) + "\n",
                 "summary.md": step_summary(submission)}
        for name, text in files.items():
            (folder / name).write_text(text)
            written.append(folder / name)
    _write_to_actions(batch)
    return written


def result_blob(submission: SubmissionResult) -> dict[str, Any]:
    """The reporter's runner result: version 1, overall status, max_score, one test per check."""
    if submission.error is not None:
        tests = [_test(ungradable_title(submission), "error", 0, submission.error, submission, 0)]
        return {"version": 1, "status": "error", "max_score": number(submission.max_score), "tests": tests}
    tests = [_test(check_title(c), TEST_STATUS[c.status], c.score, student_message(c), submission, c.seconds)
             for c in submission.checks]
    return {"version": 1, "status": overall_status(submission), "max_score": number(submission.max_score),
            "tests": tests}


def combined_blob(batch: BatchResult) -> dict[str, Any]:
    """One blob for a whole batch (tests prefixed with the student), for a step that graded several notebooks."""
    blobs = [(s, result_blob(s)) for s in batch.submissions]
    statuses = {blob["status"] for _, blob in blobs}
    status = "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
    tests = [{**test, "name": f"{s.student}: {test['name']}"} for s, blob in blobs for test in blob["tests"]]
    return {"version": 1, "status": status, "max_score": number(sum(blob["max_score"] for _, blob in blobs)),
            "tests": tests}


def overall_status(submission: SubmissionResult) -> str:
    """'pass' at full marks, 'error' when the notebook could not be graded, 'fail' otherwise."""
    if submission.error is not None:
        return "error"
    return "pass" if submission.checks and all(c.status == Status.PASSED for c in submission.checks) else "fail"


def encode(result: dict[str, Any]) -> str:
    """base64 of the compact JSON, as the reporter decodes it."""
    return base64.b64encode(json.dumps(result, separators=(",", ":")).encode()).decode()


def step_summary(submission: SubmissionResult) -> str:
    """A Markdown table of the checks for the Actions run page."""
    lines = [f"### {summary_line(submission)}", ""]
    if submission.error is None:
        lines += ["| check | points | status | message |", "|---|---:|---|---|"]
        lines += [f"| {_cell(check_title(c))} | {number(c.score)} / {number(c.max_score)} | {c.status.value} "
                  f"| {_cell(student_message(c))} |" for c in submission.checks]
    lines += [f"- {line}" for line in problem_lines(submission)]
    return "\n".join(lines) + "\n\n"


def _test(name: str, status: str, score: float, message: str, submission: SubmissionResult,
          seconds: float) -> dict[str, Any]:
    """One entry of `tests`, shaped as the classroom graders write it (duration in milliseconds)."""
    return {"name": name, "status": status, "score": number(score), "message": message,
            "test_code": f"grader check {submission.path}", "filename": submission.path, "line_no": 0,
            "duration": int(round(seconds * 1000))}


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", "<br>")


def _write_to_actions(batch: BatchResult) -> None:
    """Inside GitHub Actions: `result=BLOB` to $GITHUB_OUTPUT and the summary appended to $GITHUB_STEP_SUMMARY."""
    if not batch.submissions:
        return
    if os.environ.get("GITHUB_OUTPUT"):
        blob = result_blob(batch.submissions[0]) if len(batch.submissions) == 1 else combined_blob(batch)
        with open(os.environ["GITHUB_OUTPUT"], "a") as output:
            output.write(f"result={encode(blob)}\n")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as summary:
            summary.write("".join(step_summary(s) for s in batch.submissions))
