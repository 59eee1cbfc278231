"""PrairieLearn: the external grader `results.json` (score 0–1, tests, figures as PNG data URIs), kept under 1 MB."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.emitters.per_submission import (check_title, late_lines, number, problem_lines, student_message,
                                            summary_line, write_per_submission)
from grader.figures import draw
from grader.results import BatchResult, CheckResult, SubmissionResult, Visibility

SIZE_LIMIT = 1_000_000  # bytes; PrairieLearn asks for results.json under 1 MB
TEXT_KEEP = (20_000, 2_000, 200)  # characters kept of each message or output, round by round, when text is too long


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `results.json` per submission under `out_dir/prairielearn/`."""
    return write_per_submission(batch, out_dir=out_dir, format_name="prairielearn", file_name="results.json",
                                render=lambda s: encoded(results_document(s)))


def results_document(submission: SubmissionResult, *, size_limit: int = SIZE_LIMIT) -> dict[str, Any]:
    """The results object, with as many figures as fit under `size_limit` bytes."""
    output = "\n".join([*late_lines(submission), *problem_lines(submission)])
    if submission.error is not None:
        return {"succeeded": True, "gradable": False, "message": summary_line(submission),
                "format_errors": [submission.error], "output": output, "tests": []}
    document = {"succeeded": True, "gradable": True, "score": min(max(submission.fraction, 0.0), 1.0),
                "message": summary_line(submission), "output": output, "images": [],
                "tests": [_test(check) for check in submission.checks]}
    if len(encoded(document).encode()) > size_limit:
        _shorten_text(document, size_limit=size_limit)
    _add_figures(document, submission.checks, size_limit=size_limit)
    return document


def encoded(document: dict[str, Any]) -> str:
    """The JSON text exactly as written."""
    return json.dumps(document, indent=1) + "\n"


def _test(check: CheckResult) -> dict[str, Any]:
    """One check as a test of `pl-external-grader-results`."""
    return {"name": check_title(check), "description": check.part, "points": number(check.score),
            "max_points": number(check.max_score), "message": student_message(check), "output": "",
            "images": []}


def _shorten_text(document: dict[str, Any], *, size_limit: int) -> None:
    """Cut long messages and outputs, harder each round, until the text alone fits under the limit."""
    for keep in TEXT_KEEP:
        for holder in [document, *document["tests"]]:
            for key in ("message", "output"):
                if len(holder.get(key, "")) > keep:
                    holder[key] = holder[key][:keep] + "\n[... cut to keep results.json under 1 MB]"
        if len(encoded(document).encode()) <= size_limit:
            return


def _add_figures(document: dict[str, Any], checks: list[CheckResult], *, size_limit: int) -> None:
    """Attach each visible check's pictures (drawn by grader.figures) as PNG data URIs while under the limit."""
    skipped = 0
    for test, check in zip(document["tests"], checks):
        if check.visibility == Visibility.HIDDEN:
            continue
        for figure, picture in [(f, p) for f in check.figures for p in draw(f).pictures]:
            label = figure.title if picture.caption == figure.title else f"{figure.title}: {picture.caption}"
            test["images"].append({"label": label, "url": picture.src})
            if len(encoded(document).encode()) > size_limit - 200:  # room for the note below
                test["images"].pop()
                skipped += 1
    if skipped:
        note = f"{skipped} figure(s) left out to keep results.json under {size_limit // 1000} kB."
        document["output"] = f"{document['output']}\n{note}".lstrip()
