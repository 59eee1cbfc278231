"""`grader classroom init`: the student template repository it writes, its workflow, and a grading step run for real."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbformat
import pytest
import yaml

from conftest import REPO, run_grader
from grader.classroom import COURSE_FOLDER, grading_command, grading_steps, runner_id
from grader.course import load_course
from test_formats import schema
from test_release import leaks_in

PARTIAL_ANSWERS = {
    "q01": "A grayscale picture is a grid of numbers from 0 to 255, one for each pixel.",  # 2 of 3 key ideas
    "q09": "t = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])\nbottom_right = t[1:, 1:]\nbottom_right",  # forgot * 2
}
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def partly_right_questionnaire(path: Path, *, course_copy: Path) -> None:
    """The reference questionnaire with one answer cut short, one code answer wrong, and a cell that hunts for the key."""
    notebook = nbformat.read(REPO / "reference/solutions/questionnaire.ipynb", as_version=4)
    for cell in notebook.cells:
        for tag in cell.metadata.get("tags", []):
            if tag in PARTIAL_ANSWERS:
                cell.source = PARTIAL_ANSWERS[tag]
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import os\n"
        "hits = [os.path.join(d, f) for top in ('/', ) for d, ds, fs in os.walk(top) if not d.startswith(('/proc', '/sys'))\n"
        "        for f in fs if f in ('course.toml', 'rubric.toml', 'questionnaire.ipynb')]\n"
        "if hits:\n    raise RuntimeError(f'the grading course is visible: {hits}')\n"
        f"open({str(course_copy / 'course.toml')!r}).read()"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def steps_of(document: dict) -> list[dict]:
    """The steps of the one grading job."""
    return document["jobs"]["run-autograding-tests"]["steps"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A student template repository written by the real command (with a .git folder it must keep)."""
    directory = tmp_path_factory.mktemp("template")
    (directory / ".git").mkdir()
    (directory / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    done = run_grader("classroom", "init", str(directory), "--force")
    assert done.returncode == 0, done.stderr
    return directory


def test_the_template_is_the_release_and_keeps_git(template):
    parts = sorted(load_course(REPO).assignments)
    assert sorted(p.name for p in template.iterdir() if p.is_dir() and not p.name.startswith(".")) == \
        sorted([*parts, "selfcheck"])
    assert all((template / part / f"{part}.ipynb").is_file() for part in parts)
    assert (template / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (template / "reference").exists() and not (template / "course.toml").exists()


def test_the_template_holds_no_solution_hidden_check_or_expected_value(template, fastai_home):
    assert leaks_in(template, fastai_home) == []


def test_workflow_has_the_names_github_classroom_expects(template):
    document = yaml.safe_load((template / ".github/workflows/classroom.yml").read_text())
    assert document["name"] == "Autograding Tests"
    assert set(document["on"]) >= {"push", "workflow_dispatch"}
    assert list(document["jobs"]) == ["run-autograding-tests"]
    course = load_course(REPO)
    parts = grading_steps(course)
    steps = steps_of(document)
    ids = [step["id"] for step in steps if "id" in step]
    assert ids == [part.runner for part in parts]
    assert "fromscratch" in ids and "fullmnist" in ids  # from_scratch, full_mnist: the reporter takes [a-zA-Z0-9]+
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", runner) for runner in ids)
    for part in parts:
        step = next(step for step in steps if step.get("id") == part.runner)
        assert step["run"] == grading_command(part, course)
        assert f"({part.max_score:g} points)" in step["name"]
        assert f".grader/{part.name}" in step["run"] and f"{part.name}/{part.name}.ipynb" in step["run"]
        assert part.grader_seconds < step["timeout-minutes"] * 60  # the grader stops first, so `result` is written
    reporter = steps[-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    assert re.fullmatch(r"^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$", reporter["with"]["runners"])  # the reporter's own pattern
    assert reporter["with"]["runners"] == ",".join(ids)
    assert reporter["env"] == {f"{p.upper()}_RESULTS": "${{ steps.%s.outputs.result }}" % p for p in ids}


def test_workflow_fetches_the_course_with_a_secret_and_keeps_no_credentials(template):
    document = yaml.safe_load((template / ".github/workflows/classroom.yml").read_text())
    steps = steps_of(document)
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses and all(SHA_PINNED.match(action) for action in uses), uses
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2 and all(step["with"]["persist-credentials"] is False for step in checkouts)
    fetch = checkouts[1]["with"]
    assert fetch["path"] == COURSE_FOLDER and fetch["ssh-key"] == "${{ secrets.GRADER_COURSE_KEY }}"
    assert fetch["repository"] == "${{ vars.GRADER_COURSE_REPOSITORY }}"
    assert document["permissions"] == {} and document["jobs"]["run-autograding-tests"]["permissions"] == \
        {"contents": "read"}
    assert document["jobs"]["run-autograding-tests"]["env"] == {"GRADER_COURSE": COURSE_FOLDER}
    assert any(step.get("run") == "grader data" for step in steps)  # the course's own CI set-up
    cache = next(step for step in steps if step.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "~/.fastai/data"
    install = next(step for step in steps if step.get("name", "").startswith("Install the sandbox"))
    assert "apt-get install -y -q bubblewrap" in install["run"]
    first_grading = min(i for i, step in enumerate(steps) if step.get("id"))
    assert steps.index(install) < first_grading
    assert all("--no-sandbox" not in step.get("run", "") and "sudo" in step["run"] for step in steps if step.get("id"))


def test_runner_ids_are_letters_and_digits_and_distinct():
    assert runner_id("from_scratch") == "fromscratch" and runner_id("baseline") == "baseline"
    assert runner_id("04_mnist") == "part04mnist"  # a step id must start with a letter
    assert runner_id("full-mnist", {"fullmnist"}) == "fullmnist2"
    assert runner_id("FullMnist", {"fullmnist"}) == "FullMnist2"  # environment names are upper-cased


def test_zizmor_finds_nothing_in_the_workflow(template):
    zizmor = shutil.which("zizmor", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert zizmor, "zizmor is a test dependency (pip install -e '.[test]')"
    done = subprocess.run([zizmor, "--offline", "--format", "plain", str(template / ".github/workflows/classroom.yml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_init_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / ".github/workflows/classroom.yml"
    target.parent.mkdir(parents=True)
    target.write_text("name: mine\n")
    refused = run_grader("classroom", "init", str(tmp_path))
    assert refused.returncode == 2
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert target.read_text() == "name: mine\n"
    forced = run_grader("classroom", "init", str(tmp_path), "--force", "--assignments", "questionnaire")
    assert forced.returncode == 0, forced.stderr
    assert [s.get("id") for s in steps_of(yaml.safe_load(target.read_text())) if "id" in s] == ["questionnaire"]
    assert (tmp_path / "questionnaire/questionnaire.ipynb").is_file() and not (tmp_path / "sgd").exists()


def test_init_names_unknown_parts(tmp_path):
    done = run_grader("classroom", "init", str(tmp_path), "--assignments", "questionnaire,nonesuch")
    assert done.returncode == 2
    assert "nonesuch" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".github").exists()


@pytest.fixture(scope="module")
def step_run(tmp_path_factory, fastai_home, course_folder, wheel_env):
    """The questionnaire step of a generated template, run by bash after the course is 'fetched' beside it."""
    repo = tmp_path_factory.mktemp("student_repo")
    done = run_grader("classroom", "init", str(repo), "--assignments", "questionnaire")
    assert done.returncode == 0, done.stderr
    shutil.copytree(course_folder, repo / COURSE_FOLDER)  # what the "Fetch the grading course" step does
    partly_right_questionnaire(repo / "questionnaire/questionnaire.ipynb", course_copy=repo / COURSE_FOLDER)
    document = yaml.safe_load((repo / ".github/workflows/classroom.yml").read_text())
    step = next(s for s in steps_of(document) if s.get("id") == "questionnaire")
    output, summary = repo / "github_output", repo / "step_summary.md"
    path = f"{wheel_env / 'bin'}{os.pathsep}{os.environ['PATH']}"  # `grader` as the workflow's pip install puts it
    env = {**os.environ, **document["jobs"]["run-autograding-tests"]["env"], "FASTAI_HOME": str(fastai_home),
           "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), "PATH": path}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    return document, done, output, summary, repo


def test_the_step_command_grades_and_sets_the_result_output(step_run):
    document, done, output, summary, _ = step_run
    assert done.returncode == 0, done.stderr
    [line] = output.read_text().splitlines()
    name, encoded = line.split("=", 1)
    assert name == "result"
    blob = json.loads(base64.b64decode(encoded))
    jsonschema.validate(blob, schema("github_result"))
    total = sum(test["score"] for test in blob["tests"])  # what the reporter sends to GitHub Classroom
    assert blob["max_score"] == 42 and 38 < total < 42 and total != int(total)
    assert blob["status"] == "fail"
    assert "| questionnaire: q09 |" in summary.read_text()


def test_the_students_code_cannot_see_the_fetched_course(step_run):
    *_, repo = step_run
    results = json.loads((repo / ".grader/questionnaire/results.json").read_text())
    [submission] = results["submissions"]
    assert submission["sandboxed"] is True
    [problem] = submission["problems"]  # only the last cell failed, and not because it found the course
    assert problem["ename"] == "FileNotFoundError", problem
