"""Classroom 50: the `result.json` its runner reads (schema classroom50/result/v1, whole points)."""
from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.emitters.per_submission import (assignment_name, check_title, penalised_scores, slug, ungradable_title,
                                            write_per_submission, whole_points)
from grader.results import BatchResult, Status, SubmissionResult

SCHEMA = "classroom50/result/v1"


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `result.json` per submission under `out_dir/classroom50/`."""
    return write_per_submission(batch, out_dir=out_dir, format_name="classroom50", file_name="result.json",
                                render=lambda s: json.dumps(result_document(s), indent=2) + "\n")


def result_document(submission: SubmissionResult) -> dict[str, Any]:
    """The v1 document; identity fields come from the runner's environment when it is set."""
    checks = submission.checks
    points = whole_scores(penalised_scores(submission), [c.max_score for c in checks])
    tests = [{"test-name": check_title(c), "passed": c.status == Status.PASSED, "score": score,
              "max-score": whole_points(c.max_score)} for c, score in zip(checks, points)]
    if submission.error is not None:
        tests = [{"test-name": ungradable_title(submission), "passed": False, "score": 0,
                  "max-score": whole_points(submission.max_score)}]
    commit = os.environ.get("COMMIT_URL") or submission.path
    return {
        "schema": SCHEMA,
        "classroom": os.environ.get("CLASSROOM") or "local",
        "assignment": os.environ.get("ASSIGNMENT") or assignment_name(submission),
        "assignment_type": os.environ.get("ASSIGNMENT_TYPE") or "individual",
        "owner": os.environ.get("USERNAME") or submission.student or "local",
        "submission": os.environ.get("SUBMISSION_TAG") or f"submit/local-{slug(submission.student)}",
        "commit": commit,
        "release": os.environ.get("RELEASE_URL") or commit,
        "review": os.environ.get("REVIEW_URL") or commit,
        "datetime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "score": sum(t["score"] for t in tests),
        "max-score": sum(t["max-score"] for t in tests),
        "tests": tests,
    }


def whole_scores(scores: list[float], maxima: list[float]) -> list[int]:
    """Integer points per test that add up to the rounded total: floors, plus one point for the largest remainders."""
    floors = [int(math.floor(score)) for score in scores]
    spare = whole_points(sum(scores)) - sum(floors)
    by_remainder = sorted(range(len(scores)), key=lambda i: floors[i] - scores[i])  # largest fraction first
    for i in by_remainder[:max(spare, 0)]:
        if scores[i] > floors[i] and floors[i] < whole_points(maxima[i]):
            floors[i] += 1
    return floors
