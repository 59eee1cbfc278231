"""GitHub Classroom: the base64 result blob the autograding reporter reads, plus a Markdown step summary."""
from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

from grader.emitters.per_submission import (check_title, late_lines, number, penalised_scores, problem_lines,
                                            student_message, submission_dirs, summary_line, ungradable_title)
from grader.results import BatchResult, Status, SubmissionResult

TEST_STATUS = {Status.PASSED: "pass", Status.PARTIAL: "fail", Status.FAILED: "fail", Status.NOT_RUN: "error"}
STEP = 4  # points are sent in quarters: the reporter adds them as floats, and sums of quarters stay exact


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
        return {"version": 1, "status": "error", "max_score": quarter_points(submission.max_score), "tests": tests}
    scores = reporter_scores(penalised_scores(submission), [c.max_score for c in submission.checks])
    tests = [_test(check_title(c), TEST_STATUS[c.status], score, student_message(c), submission, c.seconds)
             for c, score in zip(submission.checks, scores)]
    return {"version": 1, "status": overall_status(submission),
            "max_score": quarter_points(sum(c.max_score for c in submission.checks)), "tests": tests}


def quarter_points(value: float) -> int | float:
    """Points rounded half up to a quarter (3, 2.5, 0.75): exact as a float, and so is any sum of them."""
    return number(math.floor(float(value) * STEP + 0.5) / STEP)


def reporter_scores(scores: list[float], maxima: list[float]) -> list[int | float]:
    """Each check's points in quarters, adding up to the total rounded to a quarter (largest remainders first).

    The reporter sums test scores in floating point (0.1 + 0.2 is 0.30000000000000004); quarters add exactly, so
    the points it sends to GitHub Classroom read as the grader's total, rounded to a quarter point.
    """
    units = [float(score) * STEP for score in scores]
    floors = [int(math.floor(unit + 1e-9)) for unit in units]
    caps = [int(math.floor(float(m) * STEP + 0.5)) for m in maxima]
    spare = int(math.floor(sum(units) + 0.5)) - sum(floors)
    for i in sorted(range(len(units)), key=lambda i: floors[i] - units[i]):  # largest fraction first
        if spare <= 0:
            break
        if units[i] > floors[i] + 1e-9 and floors[i] < caps[i]:
            floors[i] += 1
            spare -= 1
    return [number(min(unit, cap) / STEP) for unit, cap in zip(floors, caps)]


def combined_blob(batch: BatchResult) -> dict[str, Any]:
    """One blob for a whole batch (tests prefixed with the student), for a step that graded several notebooks."""
    blobs = [(s, result_blob(s)) for s in batch.submissions]
    statuses = {blob["status"] for _, blob in blobs}
    status = "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
    tests = [{**test, "name": f"{s.student}: {test['name']}"} for s, blob in blobs for test in blob["tests"]]
    return {"version": 1, "status": status, "max_score": quarter_points(sum(blob["max_score"] for _, blob in blobs)),
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
    lines += [f"- {line}" for line in [*late_lines(submission), *problem_lines(submission)]]
    return "\n".join(lines) + "\n\n"


def _test(name: str, status: str, score: int | float, message: str, submission: SubmissionResult,
          seconds: float) -> dict[str, Any]:
    """One entry of `tests`, shaped as the classroom graders write it (duration in milliseconds)."""
    return {"name": name, "status": status, "score": score, "message": message,
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
