"""The CI formats read by the programs that consume them, on real gradings of the fixture course.

Five scenarios for one part (`tiny_two`, 6 points, a 15-second notebook limit) of a two-part copy of the fixture
course: every part right, one part wrong, its notebook missing, unreadable, or running past its time limit.
GitHub Classroom runs the generated workflow's grading steps with bash and the reporter's own `dist/main.js`
with Node; PrairieLearn gets the documented entrypoint's output through its own result processing;
Gradescope's documented rules, junitparser and Classroom 50's result check read one batch grading.
The points each consumer reported go to test-artifacts/consumer-points.md.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import junitparser
import nbformat
import pytest
import yaml

from conftest import FIXTURE_COURSE, REPO, run_grader
from readers import (Scoreboard, classroom50_problem, gradescope_points, gradescope_problems, prairielearn_grading,
                     prairielearn_job, run_reporter, run_step)

SCENARIOS = ["right", "wrong", "missing", "unreadable", "timed_out"]
PART, OTHER = "tiny_two", "tiny"
BOARD = Scoreboard()
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(autouse=True)
def outside_github_actions(monkeypatch):
    """Nothing here writes to the step outputs of a CI run that happens to run this suite."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "CLASSROOM", "ASSIGNMENT", "SUBMISSION_TAG", "USERNAME",
                 "ASSIGNMENT_TYPE", "COMMIT_URL", "RELEASE_URL", "REVIEW_URL"):
        monkeypatch.delenv(name, raising=False)


def fixture_cells(name: str) -> list[str]:
    """The code cells of one of the fixture course's submissions."""
    notebook = nbformat.read(FIXTURE_COURSE / "submissions" / f"{name}.ipynb", as_version=4)
    return [cell.source for cell in notebook.cells]


def scenario_notebook(scenario: str, path: Path, part: str = PART) -> None:
    """Write (or, for `missing`, remove) the notebook a student hands in for `part` in this scenario."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    if scenario == "missing":
        return
    if scenario == "unreadable":
        path.write_text("{ this is not a notebook")
        return
    sources = fixture_cells("hard_coded_output" if scenario == "wrong" else "all_correct")
    if scenario == "timed_out":
        sources.insert(2, "while True:\n    pass")  # after seed and double: what comes later never runs
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources],
                                        metadata={"grader": {"assignment": part}})
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The fixture course with a second part, `tiny_two` (a name with `_`), whose notebook may run 15 seconds."""
    folder = tmp_path_factory.mktemp("consumers") / "course"
    shutil.copytree(FIXTURE_COURSE, folder, ignore=shutil.ignore_patterns("__pycache__", "submissions"))
    second = folder / "assignments" / PART
    second.mkdir()
    checks = (folder / "assignments/tiny/checks.py").read_text()
    old = 'Assignment(name="tiny", title="Engine fixture", cell_timeout=60,'
    assert old in checks
    (second / "checks.py").write_text(checks.replace(
        old, f'Assignment(name="{PART}", title="Engine fixture, again", cell_timeout=60, notebook_timeout=15,'))
    shutil.copy(folder / "assignments/tiny/tiny.ipynb", second / f"{PART}.ipynb")
    shutil.copy(folder / "solutions/tiny.ipynb", folder / "solutions" / f"{PART}.ipynb")
    return folder


@pytest.fixture(scope="module")
def grading_env(course, tiny_home) -> dict[str, str]:
    """What a grading command needs: the course, its data, `grader` on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "GRADER_COURSE": str(course), "TINY_HOME": str(tiny_home), "PATH": path}


# --- GitHub Classroom --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow_runs(tmp_path_factory, course, grading_env):
    """A student repository from `grader classroom init`; its grading steps run by bash for each scenario.

    Returns (workflow document, {scenario: {step id: StepRun}}); `tiny` is right in every scenario, and an extra
    scenario, `stopped`, runs the `tiny_two` step with its grader limit cut to 3 seconds.
    """
    repo = tmp_path_factory.mktemp("student_repo")
    done = run_grader("classroom", "init", str(repo), env={"GRADER_COURSE": str(course)})
    assert done.returncode == 0, done.stderr
    shutil.copytree(course, repo / ".grader-course")  # what "Fetch the grading course" does
    document = yaml.safe_load((repo / ".github/workflows/classroom.yml").read_text())
    job = document["jobs"]["run-autograding-tests"]
    steps = {step["id"]: step for step in job["steps"] if "id" in step}
    env = {**grading_env, **job["env"]}
    scenario_notebook("right", repo / OTHER / f"{OTHER}.ipynb", part=OTHER)
    other = run_step(steps[OTHER], workspace=repo, env=env)
    runs = {}
    for scenario in [*SCENARIOS, "stopped"]:
        scenario_notebook("timed_out" if scenario == "stopped" else scenario, repo / PART / f"{PART}.ipynb")
        step = dict(steps["tinytwo"])
        if scenario == "stopped":
            step["run"], cut = re.subn(r"timeout --kill-after=30 \d+", "timeout --kill-after=2 3", step["run"])
            assert cut == 1
        runs[scenario] = {OTHER: other, "tinytwo": run_step(step, workspace=repo, env=env)}
    return document, runs


def test_the_workflow_names_steps_as_the_reporter_reads_them(workflow_runs):
    document, _ = workflow_runs
    reporter = document["jobs"]["run-autograding-tests"]["steps"][-1]
    assert reporter["with"]["runners"] == "tiny,tinytwo"
    assert reporter["env"] == {"TINY_RESULTS": "${{ steps.tiny.outputs.result }}",
                               "TINYTWO_RESULTS": "${{ steps.tinytwo.outputs.result }}"}


@pytest.mark.parametrize("scenario", [*SCENARIOS, "stopped"])
def test_every_grading_step_succeeds_and_writes_a_result(workflow_runs, scenario):
    _, runs = workflow_runs
    for run in runs[scenario].values():
        assert run.returncode == 0, run.log
        assert run.outputs.get("result"), run.log


EXPECTED_REPORTER = {  # scenario: (points sent, how the reporter ends, what the student reads for tiny_two)
    "right": ("12/12", None, "✅ tiny_two: double"),
    "wrong": ("10/12", "Some tests failed.", "❌ tiny_two: double"),
    "missing": ("6/12", "Some tests errored.", "Error: notebook not found:"),
    "unreadable": ("6/12", "Some tests errored.", "Error: not a notebook: malformed JSON"),
    "timed_out": ("9/12", "Some tests failed.",
                  "Error: not run: `answer` is defined in cell 4, which never ran: the notebook's time limit ran out"),
    "stopped": ("6/12", "Some tests errored.", "Error: Not graded: grading took longer than"),
}


@pytest.mark.parametrize("scenario", [*SCENARIOS, "stopped"])
def test_the_reporter_sends_the_points_of_every_part(workflow_runs, scenario):
    document, runs = workflow_runs
    reporter = document["jobs"]["run-autograding-tests"]["steps"][-1]
    outputs = {step_id: run.outputs for step_id, run in runs[scenario].items()}
    sent = run_reporter(reporter, outputs)
    points, failure, shown = EXPECTED_REPORTER[scenario]
    assert sent.points == points, sent.stdout
    assert sent.failure == failure and sent.returncode == (0 if failure is None else 1), sent.stdout
    assert shown in sent.stdout
    assert "runners input must be" not in sent.stdout
    BOARD.record("GitHub Classroom reporter (points sent)", scenario, sent.points)


def test_the_reporter_sums_stay_exact_with_fractional_points(tmp_path):
    from grader.emitters.github import encode, result_blob
    from grader.results import CheckResult, Status, SubmissionResult

    tenths = SubmissionResult(path="a/tiny.ipynb", student="a", assignment="tiny", checks=[
        CheckResult(f"c{i}", "tiny", 0.1, 1, Status.PARTIAL, "a tenth") for i in range(3)] + [
        CheckResult("q", "tiny", 2 / 3, 1, Status.PARTIAL, "two thirds")])
    reporter = {"with": {"runners": "tiny"}, "env": {"TINY_RESULTS": "${{ steps.tiny.outputs.result }}"}}
    sent = run_reporter(reporter, {"tiny": {"result": encode(result_blob(tenths))}})
    assert sent.points == "1/4", sent.stdout  # 0.9667 rounded to a quarter; raw tenths would read 0.30000000000000004


def test_a_step_that_wrote_nothing_is_what_the_reporter_cannot_read():
    """Why every step must write `result`: the reporter's own behaviour on an empty one (no points at all)."""
    reporter = {"with": {"runners": "tiny"}, "env": {"TINY_RESULTS": "${{ steps.tiny.outputs.result }}"}}
    sent = run_reporter(reporter, {"tiny": {}})
    assert sent.points is None and sent.failure == "Unexpected end of JSON input"
    underscored = {"with": {"runners": "from_scratch"}, "env": {"FROM_SCRATCH_RESULTS": ""}}
    assert run_reporter(underscored, {}).failure == "The runners input must be a comma-separated list of strings."


def test_the_step_summary_says_why_a_part_was_not_graded(workflow_runs):
    _, runs = workflow_runs
    assert "not graded (timeout, exit code 124): 0 of 6 points" in runs["stopped"]["tinytwo"].summary
    assert "notebook not found" in runs["missing"]["tinytwo"].summary


# --- one batch grading: Gradescope, JUnit, Classroom 50 --------------------------------------------------------------

@pytest.fixture(scope="module")
def batch(tmp_path_factory, grading_env):
    """`grader check` over one notebook per scenario (each in a folder named after it), in every CI format."""
    root = tmp_path_factory.mktemp("batch")
    paths = []
    for scenario in SCENARIOS:
        path = root / "submissions" / scenario / f"{PART}.ipynb"
        scenario_notebook(scenario, path)
        paths.append(str(path))
    formats = [arg for name in ("gradescope", "junit", "classroom50", "prairielearn") for arg in ("--format", name)]
    done = subprocess.run([sys.executable, "-m", "grader", "check", *paths, "--out", str(root / "out"), *formats],
                          capture_output=True, text=True, env=grading_env, timeout=900)
    assert done.returncode == 3, done.stderr  # two notebooks could not be graded; every format is still written
    return root / "out"


EXPECTED_POINTS = {"right": (6, 6), "wrong": (4, 6), "missing": (0, 6), "unreadable": (0, 6), "timed_out": (3, 6)}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_gradescope_reads_the_points_and_keeps_every_text(batch, scenario):
    document = json.loads((batch / "gradescope" / scenario / PART / "results.json").read_text())
    assert gradescope_problems(document) == []
    assert gradescope_points(document) == EXPECTED_POINTS[scenario]
    BOARD.record("Gradescope (score / tests' max_score)", scenario, "%g/%g" % gradescope_points(document))


def test_gradescope_shows_text_that_looks_like_html_as_written():
    from grader.emitters.gradescope import results_document
    from grader.results import CheckResult, ExecutionProblem, Status, SubmissionResult

    message = "expected `<here>` to be a tensor, got <class 'list'>"
    submission = SubmissionResult(path="a/tiny.ipynb", student="a", assignment="tiny", checks=[
        CheckResult("double", "tiny", 0, 2, Status.FAILED, message)],
        problems=[ExecutionProblem("error", 0, "x = <y>", "SyntaxError", "invalid syntax near <y>")])
    document = results_document(submission)
    assert gradescope_problems(document) == []
    assert document["tests"][0]["output"] == message and "<y>" in document["output"]


def test_gradescope_rules_catch_html_that_would_swallow_text():
    assert gradescope_problems({"score": 0, "tests": [{"name": "x", "output": "expected <here>"}]}) == [
        "test 'x': output would be read as HTML and lose its <...> text"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_classroom50_runner_accepts_the_result(batch, scenario):
    data = json.loads((batch / "classroom50" / scenario / PART / "result.json").read_text())
    assert classroom50_problem(data, classroom="local", assignment=PART, owner=scenario) is None
    assert (data["score"], data["max-score"]) == EXPECTED_POINTS[scenario]
    BOARD.record("Classroom 50 (score/max-score)", scenario, f"{data['score']}/{data['max-score']}")


EXPECTED_JUNIT = {  # scenario: (passed, failures, errors, skipped)
    "right": (5, 0, 0, 0), "wrong": (4, 1, 0, 0), "missing": (0, 0, 1, 0), "unreadable": (0, 0, 1, 0),
    "timed_out": (2, 3, 0, 0)}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_junitparser_counts_never_run_checks_as_failures(batch, scenario):
    xml = junitparser.JUnitXml.fromfile(str(batch / "junit.xml"))
    [suite] = [s for s in xml if s.name == f"{scenario}/{PART}"]
    cases = list(suite)
    kinds = [type(r).__name__ for case in cases for r in case.result]
    counted = (sum(1 for case in cases if case.is_passed), kinds.count("Failure"), kinds.count("Error"),
               kinds.count("Skipped"))
    assert counted == EXPECTED_JUNIT[scenario]
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (len(cases), *counted[1:])
    properties = {p.name: p.value for p in suite.properties()}
    assert (float(properties["score"]), float(properties["max_score"])) == EXPECTED_POINTS[scenario]
    if scenario == "timed_out":
        reasons = {case.name: case.result[0].message for case in cases if case.result}
        assert reasons["answer"] == ("0 of 1 points: not run: `answer` is defined in cell 4, which never ran: "
                                     "the notebook's time limit ran out")  # cells counted from 1, by position
    BOARD.record("JUnit via junitparser (passed/failed/errors; score)", scenario,
                 f"{counted[0]}/{counted[1]}/{counted[2]}; {properties['score']}/{properties['max_score']}")


# --- PrairieLearn: the documented entrypoint, then PrairieLearn's own processing ---------------------------------------

def entrypoint_script() -> str:
    """The entrypoint script exactly as docs/formats.md gives it."""
    text = (REPO / "docs/formats.md").read_text()
    return re.search(r"<!-- prairielearn-entrypoint -->\n```bash\n(.*?)```", text, re.S).group(1)


@pytest.fixture(scope="module")
def prairielearn_runs(tmp_path_factory, grading_env):
    """The entrypoint run for each scenario (and `stopped`, with GRADER_TIME_LIMIT=3): {scenario: (exit, file)}."""
    root = tmp_path_factory.mktemp("prairielearn")
    script = root / "run.sh"
    script.write_text(entrypoint_script())
    script.chmod(0o755)
    runs = {}
    for scenario in [*SCENARIOS, "stopped"]:
        grade = root / scenario
        scenario_notebook("timed_out" if scenario == "stopped" else scenario, grade / "student" / f"{PART}.ipynb")
        env = {**grading_env, "PL_GRADE_DIR": str(grade), **({"GRADER_TIME_LIMIT": "3"} if scenario == "stopped" else {})}
        done = subprocess.run([str(script), f"{PART}.ipynb"], env=env, capture_output=True, text=True, timeout=600)
        runs[scenario] = (done.returncode, grade / "results" / "results.json")
    return runs


EXPECTED_PRAIRIELEARN = {  # scenario: (gradable, score, text the student reads)
    "right": (True, 1.0, "6 of 6 points"), "wrong": (True, 4 / 6, "double(x) should return 2 * x"),
    "missing": (False, 0, "notebook not found"), "unreadable": (False, 0, "not a notebook: malformed JSON"),
    "timed_out": (True, 0.5, "never ran: the notebook's time limit ran out"),
    "stopped": (False, 0, "Not graded: grading took longer than its time limit"),
}


@pytest.mark.parametrize("scenario", [*SCENARIOS, "stopped"])
def test_prairielearn_reads_the_outcome_from_the_entrypoint(prairielearn_runs, scenario):
    exit_code, results = prairielearn_runs[scenario]
    assert exit_code == 0
    grading = prairielearn_grading(prairielearn_job(exit_code=exit_code, timed_out=False, results_file=results))
    gradable, score, text = EXPECTED_PRAIRIELEARN[scenario]
    assert grading["gradable"] is gradable
    assert grading["score"] == pytest.approx(score)
    assert text in json.dumps(grading["feedback"])
    reading = f"{grading['score']:.0%}" if gradable else "not gradable (no attempt charged)"
    BOARD.record("PrairieLearn (processGradingResult)", scenario, reading)


def test_prairielearn_loses_the_file_when_the_container_fails():
    """Why the entrypoint exits 0: PrairieLearn's grader host ignores results.json after any other exit."""
    grading = prairielearn_grading(prairielearn_job(exit_code=3, timed_out=False, results_file=Path("/nonexistent")))
    assert grading["gradable"] is False and "results" not in grading["feedback"] or not grading["feedback"]["results"]


def test_the_batch_prairielearn_files_pass_prairielearn_processing(batch):
    for scenario in SCENARIOS:
        results = batch / "prairielearn" / scenario / PART / "results.json"
        grading = prairielearn_grading(prairielearn_job(exit_code=0, timed_out=False, results_file=results))
        assert grading["gradable"] is EXPECTED_PRAIRIELEARN[scenario][0]


def test_zz_write_the_points_each_consumer_reported():
    ARTIFACTS.mkdir(exist_ok=True)
    text = BOARD.markdown([*SCENARIOS, "stopped"])
    (ARTIFACTS / "consumer-points.md").write_text(text)
    assert len(BOARD.rows) == 5, text
