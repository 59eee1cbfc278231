"""Time the judge step per submission: every check's `expected(ctx)`, per part, over a few submissions in one process.

Usage: FASTAI_HOME=... python benchmarks/judge_time.py [--submissions N] [--full] [--no-cache] [PART ...]
(default: every part; --no-cache: every reference value computed afresh, as before grader.expected_cache)
Without --full only `expected(ctx)` is timed, with fresh inputs per submission, as `judge_checks` builds its context.
With --full each part's solution notebook runs once (no sandbox), then `judge_checks` is timed on it N times.
Run it twice: the first process fills the disk cache, the second shows what a new run of the grader pays.
"""
from __future__ import annotations

import argparse
import secrets
import tempfile
import time
import zlib
from pathlib import Path

from grader.comparison import Context
from grader.course import load_course
from grader.discover import SubmissionFile
from grader import expected_cache
from grader.expected_cache import expected_value
from grader.pipeline import STEPS, Job, Options, judge_checks
from grader.probe import generate_inputs

REPO = Path(__file__).resolve().parents[1]


def expected_seconds(course, part: str) -> dict[str, float]:
    """Seconds of `expected(ctx)` per check of one part, for one submission (fresh inputs)."""
    seed, timings = secrets.randbits(32), {}
    for check in course.assignments[part].checks:
        key = f"{part}/{check.name}"
        ctx = Context(inputs=generate_inputs(check, seed=seed ^ zlib.crc32(key.encode())), data_dir=course.data_dir,
                      reference_key=expected_cache.course_key(course))
        started = time.perf_counter()
        expected_value(check, part, ctx)
        timings[check.name] = time.perf_counter() - started
    return timings


def executed_job(course, part: str, workdir: Path) -> Job:
    """A job whose solution notebook has run (no sandbox), ready for `judge_checks`."""
    path = REPO / "reference" / "solutions" / f"{part}.ipynb"
    options = Options(course=course, sandbox=False)
    job = Job(SubmissionFile(path=path, student=part), options, course.assignments, workdir)
    for step in STEPS[:STEPS.index(judge_checks)]:
        step(job)
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*")
    parser.add_argument("--submissions", type=int, default=3)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    if args.no_cache:
        expected_cache.course_key = lambda course: None
    course = load_course(REPO)
    for part in args.parts or sorted(course.assignments):
        runs = []
        with tempfile.TemporaryDirectory(prefix="judge-time-") as workdir:
            job = executed_job(course, part, Path(workdir)) if args.full else None
            for _ in range(args.submissions):
                if job is None:
                    runs.append(expected_seconds(course, part))
                    continue
                started = time.perf_counter()
                judge_checks(job)
                runs.append({"judge_checks": time.perf_counter() - started})
        slowest = sorted(runs[0].items(), key=lambda item: -item[1])[:3]
        totals = "  ".join(f"{sum(run.values()):7.3f}" for run in runs)
        print(f"{part:14} per submission (s): {totals}   slowest in the first: "
              + ", ".join(f"{name} {seconds:.3f}" for name, seconds in slowest), flush=True)


if __name__ == "__main__":
    main()
