"""The programs that read the grader's CI formats, run or re-implemented rule for rule, for the consumer tests.

- GitHub Classroom: the reporter's own published `dist/main.js` (vendored in `classroom_reporter/`), run with Node
  on the outputs of a generated workflow's grading steps, each step run by bash as the runner runs a `run:` step.
- PrairieLearn: its grader host's reading of `/grade/results/results.json` and its processing of the result,
  re-implemented from the TypeScript sources named below (not runnable here: AWS, Docker, Postgres).
- Gradescope: the documented field rules of `results.json` (no code of Gradescope's is public).
- Classroom 50: the runner's check of an autograder's `result.json`, re-implemented from its `runner.py`.

See README.md in this folder for where each comes from.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPORTER = HERE / "classroom_reporter" / "main.js"


# --- GitHub Actions and the GitHub Classroom reporter -------------------------------------------------------------

def read_step_outputs(path: Path) -> dict[str, str]:
    """A `$GITHUB_OUTPUT` file as the runner reads it: `name=value` lines and `name<<DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        i += 1
    return outputs


@dataclass
class StepRun:
    """A `run:` step run by bash: its exit status, the outputs it set and what it added to the step summary."""

    returncode: int
    outputs: dict[str, str]
    summary: str
    log: str


def run_step(step: dict[str, Any], *, workspace: Path, env: dict[str, str], timeout: int = 900) -> StepRun:
    """Run one workflow `run:` step as GitHub's runner does (`bash --noprofile --norc -eo pipefail`), with fresh
    `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` files."""
    files = workspace / ".runner" / step["id"]
    if files.exists():
        shutil.rmtree(files)
    files.mkdir(parents=True)
    output, summary = files / "output", files / "summary"
    output.touch()
    summary.touch()
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=workspace,
                          env={**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)},
                          capture_output=True, text=True, timeout=timeout)
    return StepRun(done.returncode, read_step_outputs(output), summary.read_text(), done.stdout + done.stderr)


STEP_OUTPUT = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$")


@dataclass
class ReporterRun:
    """What the reporter did: exit status, the points it sent to GitHub Classroom, its failure message."""

    returncode: int
    points: str | None  # "Points X/Y" as the reporter wrote it, or None when it sent nothing
    total: float | None
    maximum: float | None
    failure: str | None
    stdout: str


def run_reporter(reporter_step: dict[str, Any], step_outputs: dict[str, dict[str, str]]) -> ReporterRun:
    """Run the vendored reporter with the inputs and environment the workflow gives it.

    `with:` values become `INPUT_<NAME>` variables; each `env:` value `${{ steps.ID.outputs.NAME }}` becomes that
    step's output, or "" when the step set none (as GitHub Actions evaluates a missing output).
    """
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "Node.js runs the reporter: apt-get install -y nodejs"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    for name, value in reporter_step.get("with", {}).items():
        env[f"INPUT_{name.replace(' ', '_').upper()}"] = str(value)
    for name, value in reporter_step.get("env", {}).items():
        match = STEP_OUTPUT.match(str(value))
        env[name] = step_outputs.get(match.group(1), {}).get(match.group(2), "") if match else str(value)
    done = subprocess.run([node, str(REPORTER)], env=env, capture_output=True, text=True, timeout=120)
    notice = re.search(r"^::notice title=Autograding complete::Points (\S+)/(\S+)$", done.stdout, re.M)
    failure = re.search(r"^::error::(.*)$", done.stdout, re.M)
    return ReporterRun(done.returncode, f"{notice.group(1)}/{notice.group(2)}" if notice else None,
                       float(notice.group(1)) if notice else None, float(notice.group(2)) if notice else None,
                       failure.group(1) if failure else None, done.stdout + done.stderr)


def encode_blob(blob: dict[str, Any]) -> str:
    """A result blob as a step writes it."""
    return base64.b64encode(json.dumps(blob).encode()).decode()


# --- PrairieLearn ----------------------------------------------------------------------------------------------------
# Re-implemented from PrairieLearn/PrairieLearn at 88fb8556a7a1768e2082736be9095241b11238d7:
#   apps/grader-host/src/index.ts (runJob: how the container's exit and results.json become the job's results),
#   apps/prairielearn/src/lib/externalGraderCommon.ts (makeGradingResult),
#   apps/prairielearn/src/lib/externalGrader.ts (processGradingResult: gradable, score range).

RESULTS_LIMIT = 1024 * 1024


def prairielearn_job(*, exit_code: int, timed_out: bool, results_file: Path, timeout: int = 600) -> dict[str, Any]:
    """grader-host: results.json is read only when the container exited 0 and did not time out (at most 1 MiB)."""
    job: dict[str, Any] = {"succeeded": not timed_out and exit_code == 0}
    if job["succeeded"]:
        try:
            data = results_file.read_bytes()
        except OSError:
            return {"succeeded": False, "message": "Could not read grading results."}
        if len(data) > RESULTS_LIMIT:
            return {"succeeded": False, "message": "The grading results were larger than 1MB. "
                                                   "If the problem persists, please contact course staff or a proctor."}
        try:
            job["results"] = json.loads(data.decode())
        except ValueError:
            return {"succeeded": False, "message": "Could not parse the grading results."}
    else:
        if timed_out:
            job["message"] = (f"Your grading job did not complete within the time limit of {timeout} seconds.\n"
                              "Please fix your code before submitting again.")
        job["results"] = None
    return job


def prairielearn_grading(job: dict[str, Any]) -> dict[str, Any]:
    """makeGradingResult then processGradingResult: {gradable, score, feedback, format_errors}."""
    job = json.loads(json.dumps(job).replace("\\u0000", "\ufffd"))
    if not isinstance(job.get("succeeded"), bool):
        grading = {"score": 0, "feedback": {"succeeded": False, "message": "results did not contain 'succeeded' field."},
                   "format_errors": {}}
    elif not job["succeeded"]:
        grading = {"score": 0, "feedback": job, "format_errors": {}}
    elif not job.get("results"):
        grading = {"score": 0, "feedback": {"succeeded": False,
                                            "message": "results did not contain 'results' object."},
                   "format_errors": {}}
    else:
        score = job["results"].get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            grading = {"score": 0, "feedback": {"succeeded": False, "message": f'score "{score}" was not a number.'},
                       "format_errors": {}}
        else:
            errors = job["results"].get("format_errors")
            errors = [errors] if isinstance(errors, str) else errors if isinstance(errors, list) else []
            grading = {"score": 0 if score is None else score, "feedback": job,
                       "format_errors": {"_external_grader": errors}}
    feedback = grading["feedback"] if isinstance(grading["feedback"], dict) else {}
    job_succeeded = bool(feedback.get("succeeded"))
    results = feedback.get("results") if isinstance(feedback.get("results"), dict) else {}
    if not results.get("succeeded", True):
        grading["score"] = 0
    gradable = job_succeeded and bool(results.get("gradable", True))
    if gradable and not (isinstance(grading["score"], (int, float)) and 0 <= grading["score"] <= 1):
        gradable, grading["score"] = False, 0
    return {"gradable": gradable, **grading}


# --- Gradescope --------------------------------------------------------------------------------------------------
# The Autograder Specifications (gradescope-autograders.readthedocs.io/en/latest/specs/): fields, visibility values,
# test statuses and output formats. simple_format (the default) and html are rendered as sanitized HTML, so text
# that looks like a tag is lost unless the field's format is `text` (or md/ansi, which escape it).

GRADESCOPE_TOP = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                  "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
GRADESCOPE_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                   "tags", "visibility", "extra_data"}
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
GRADESCOPE_FORMATS = {"text", "html", "simple_format", "md", "ansi"}
HTML_FORMATS = {"html", "simple_format"}
TAG_LIKE = re.compile(r"<[A-Za-z/!]")


def gradescope_problems(document: dict[str, Any]) -> list[str]:
    """Every way `document` breaks the documented rules, or loses text when Gradescope renders it."""
    problems = [f"unknown field {key}" for key in document if key not in GRADESCOPE_TOP]
    tests = document.get("tests", [])
    if "score" not in document and not all("score" in test for test in tests):
        problems.append("no top-level score and a test without one")
    for key in ("visibility", "stdout_visibility"):
        if key in document and document[key] not in GRADESCOPE_VISIBILITY:
            problems.append(f"{key} {document[key]!r}")
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in document and document[key] not in GRADESCOPE_FORMATS:
            problems.append(f"{key} {document[key]!r}")
    if TAG_LIKE.search(document.get("output", "")) and document.get("output_format", "simple_format") in HTML_FORMATS:
        problems.append("top-level output would be read as HTML and lose its <...> text")
    for test in tests:
        problems += [f"test {test.get('name')!r}: unknown field {key}" for key in test if key not in GRADESCOPE_TEST]
        if test.get("status", "passed") not in ("passed", "failed"):
            problems.append(f"test {test.get('name')!r}: status {test['status']!r}")
        if test.get("visibility", "visible") not in GRADESCOPE_VISIBILITY:
            problems.append(f"test {test.get('name')!r}: visibility {test['visibility']!r}")
        for text, own, default in (("output", "output_format", "test_output_format"),
                                   ("name", "name_format", "test_name_format")):
            shown_as = test.get(own, document.get(default, "simple_format"))
            if shown_as not in GRADESCOPE_FORMATS:
                problems.append(f"test {test.get('name')!r}: {own} {shown_as!r}")
            elif shown_as in HTML_FORMATS and TAG_LIKE.search(str(test.get(text, ""))):
                problems.append(f"test {test.get('name')!r}: {text} would be read as HTML and lose its <...> text")
    return problems


def gradescope_points(document: dict[str, Any]) -> tuple[float, float]:
    """What the student's total reads: the top-level score (it overrides the tests' sum) of the tests' maxima."""
    tests = document.get("tests", [])
    score = document["score"] if "score" in document else sum(test.get("score", 0) for test in tests)
    return score, sum(test.get("max_score", 0) for test in tests)


# --- Classroom 50 ------------------------------------------------------------------------------------------------
# Re-implemented from foundation50/classroom50 cli/gh-teacher/skeleton/dotgithub/scripts/runner.py, validate_result
# (which the runner applies to an autograder's result.json, and which mirrors the gradebook's collect_scores.py).

def classroom50_problem(data: Any, *, classroom: str, assignment: str, expected_type: str = "individual",
                        owner: str | None = None) -> str | None:
    """None when `data` is a v1 result.json for this run, else the runner's reason for refusing it."""
    if not isinstance(data, dict):
        return "result.json is not a JSON object"
    if data.get("schema") != "classroom50/result/v1":
        return f"schema is {data.get('schema')!r}"
    if data.get("classroom") != classroom or data.get("assignment") != assignment:
        return f"classroom/assignment are {data.get('classroom')!r}/{data.get('assignment')!r}"
    if not isinstance(data.get("owner"), str) or not data["owner"]:
        return "'owner' must be a non-empty string"
    if owner is not None and data["owner"].lower() != owner.lower():
        return f"'owner' is {data['owner']!r}, want {owner!r}"
    if data.get("assignment_type") != expected_type:
        return f"'assignment_type' is {data.get('assignment_type')!r}, want {expected_type!r}"
    if not isinstance(data.get("submission"), str) or not data["submission"].startswith("submit/"):
        return "'submission' must be a 'submit/*' string"
    for name in ("commit", "release", "review", "datetime"):
        if not isinstance(data.get(name), str) or not data[name]:
            return f"{name!r} must be a non-empty string"
    score, maximum = data.get("score"), data.get("max-score")
    for name, value in (("score", score), ("max-score", maximum)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{name!r} must be a non-negative integer"
    if score > maximum:
        return f"score ({score}) > max-score ({maximum})"
    if not isinstance(data.get("tests"), list):
        return "'tests' is not a list"
    for i, test in enumerate(data["tests"]):
        if not isinstance(test, dict) or not isinstance(test.get("test-name"), str) or not test["test-name"]:
            return f"tests[{i}] has no test-name"
        if not isinstance(test.get("passed"), bool):
            return f"tests[{i}].passed must be a boolean"
        for name in ("score", "max-score"):
            value = test.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return f"tests[{i}].{name} must be a non-negative integer"
        if test["score"] > test["max-score"]:
            return f"tests[{i}].score > max-score"
    return None


@dataclass
class Scoreboard:
    """Points each consumer reported, per scenario, written to test-artifacts/ for the record."""

    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    def record(self, consumer: str, scenario: str, reading: str) -> None:
        self.rows.setdefault(consumer, {})[scenario] = reading

    def markdown(self, scenarios: list[str]) -> str:
        lines = ["| consumer | " + " | ".join(scenarios) + " |", "|---" * (len(scenarios) + 1) + "|"]
        for consumer, readings in self.rows.items():
            lines.append(f"| {consumer} | " + " | ".join(readings.get(s, "") for s in scenarios) + " |")
        return "\n".join(lines) + "\n"
