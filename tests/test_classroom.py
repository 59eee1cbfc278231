"""`grader classroom init`: the GitHub Classroom workflow it writes, and its grading step run for real."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbformat
import pytest
import yaml

from grader.classroom import discover_parts, grading_command, init_workflow, part_order, workflow
from grader.discover import load_assignments
from tests.conftest import REPO, run_grader
from tests.test_formats import schema


PARTIAL_ANSWERS = {
    "q01": "A grayscale picture is a grid of numbers from 0 to 255, one for each pixel.",  # 2 of 3 key ideas
    "q09": "t = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])\nbottom_right = t[1:, 1:]\nbottom_right",  # forgot * 2
}


def partly_right_questionnaire(path: Path) -> None:
    """The reference questionnaire with one answer cut short and one code answer wrong."""
    notebook = nbformat.read(REPO / "reference/solutions/questionnaire.ipynb", as_version=4)
    for cell in notebook.cells:
        for tag in cell.metadata.get("tags", []):
            if tag in PARTIAL_ANSWERS:
                cell.source = PARTIAL_ANSWERS[tag]
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)


def steps_of(document: dict) -> list[dict]:
    """The steps of the one grading job."""
    return document["jobs"]["run-autograding-tests"]["steps"]


def test_workflow_has_the_names_github_classroom_expects(tmp_path):
    done = run_grader("classroom", "init", str(tmp_path))
    assert done.returncode == 0, done.stderr
    path = tmp_path / ".github/workflows/classroom.yml"
    document = yaml.safe_load(path.read_text())
    assert document["name"] == "Autograding Tests"
    assert set(document["on"]) >= {"push", "workflow_dispatch"}
    assert list(document["jobs"]) == ["run-autograding-tests"]
    steps = steps_of(document)
    uses = [step.get("uses", "") for step in steps]
    assert uses[0].startswith("actions/checkout@")
    python = steps[uses.index("actions/setup-python@v5")]
    assert python["with"]["cache"] == "pip"
    cache = steps[uses.index("actions/cache@v4")]
    assert cache["with"]["path"] == "~/.fastai/data"  # fastai's FASTAI_HOME default, filled by `grader data`
    assert any(step.get("run") == "grader data" for step in steps)
    parts = part_order()
    assert parts and [step["id"] for step in steps if "id" in step] == parts
    specs = load_assignments()
    for part in parts:
        step = next(step for step in steps if step.get("id") == part)
        assert step["run"] == grading_command(part)
        assert f"({specs[part].max_score:g} points)" in step["name"]
    reporter = steps[-1]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert reporter["with"]["runners"] == ",".join(parts)
    assert reporter["env"] == {f"{p.upper()}_RESULTS": "${{ steps.%s.outputs.result }}" % p for p in parts}


def test_init_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / ".github/workflows/classroom.yml"
    target.parent.mkdir(parents=True)
    target.write_text("name: mine\n")
    refused = run_grader("classroom", "init", str(tmp_path))
    assert refused.returncode == 2
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert target.read_text() == "name: mine\n"
    forced = run_grader("classroom", "init", str(tmp_path), "--force", "--parts", "questionnaire")
    assert forced.returncode == 0, forced.stderr
    assert [s.get("id") for s in steps_of(yaml.safe_load(target.read_text())) if "id" in s] == ["questionnaire"]


def test_init_names_unknown_parts(tmp_path):
    done = run_grader("classroom", "init", str(tmp_path), "--parts", "questionnaire,nonesuch")
    assert done.returncode == 2
    assert "nonesuch" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".github").exists()


def test_a_spec_that_does_not_load_still_gets_a_step_without_points(tmp_path):
    specs = tmp_path / "specs"
    (specs / "unfinished").mkdir(parents=True)
    (specs / "unfinished/checks.py").write_text("raise RuntimeError('half written')\n")
    (specs / "tiny").mkdir()
    (specs / "tiny/checks.py").write_text(
        "from grader.compare import Scalar\nfrom grader.spec import Assignment, Check, Value\n"
        "ASSIGNMENT = Assignment(part='tiny', title='A tiny part', notebook_timeout=120,\n"
        "                        checks=(Check('x', points=3, fetch=Value('x'), compare=Scalar()),))\n")
    tiny, unfinished = discover_parts(folders=[specs])
    assert (tiny.name, tiny.title, tiny.max_score, tiny.timeout_minutes) == ("tiny", "A tiny part", 3, 7)
    assert (unfinished.name, unfinished.max_score) == ("unfinished", None)
    steps = {s["id"]: s for s in steps_of(workflow([tiny, unfinished])) if "id" in s}
    assert steps["tiny"]["name"] == "A tiny part (3 points)"
    assert steps["unfinished"]["name"] == "unfinished" and steps["unfinished"]["run"] == grading_command("unfinished")


@pytest.fixture(scope="module")
def step_run(tmp_path_factory, fastai_home):
    """The questionnaire step of a generated workflow, run by bash in a repository holding a partly right answer."""
    repo = tmp_path_factory.mktemp("assignment_repo")
    partly_right_questionnaire(repo / "assignments/questionnaire/questionnaire.ipynb")
    document = yaml.safe_load(init_workflow(repo, parts=["questionnaire"]).read_text())
    step = next(s for s in steps_of(document) if s.get("id") == "questionnaire")
    output, summary = repo / "github_output", repo / "step_summary.md"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `grader` as CI's pip install puts it
    env = {**os.environ, "FASTAI_HOME": str(fastai_home), "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary), "PATH": path}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    return document, done, output, summary


def test_the_step_command_grades_and_sets_the_result_output(step_run):
    document, done, output, summary = step_run
    assert done.returncode == 0, done.stderr
    reporter = steps_of(document)[-1]
    [runner] = reporter["with"]["runners"].split(",")
    assert f"{runner.upper()}_RESULTS" in reporter["env"]  # how the reporter finds each runner's blob
    [line] = output.read_text().splitlines()
    name, encoded = line.split("=", 1)
    assert name == "result"
    blob = json.loads(base64.b64decode(encoded))
    jsonschema.validate(blob, schema("github_result"))
    total = sum(test["score"] for test in blob["tests"])  # what the reporter sends to GitHub Classroom
    assert blob["max_score"] == 42 and 38 < total < 42 and total != int(total)
    assert blob["status"] == "fail"
    assert "| questionnaire: q09 |" in summary.read_text()


def test_the_workflow_installs_bubblewrap_and_grades_sealed(step_run):
    document, done, *_ = step_run
    names = [step.get("name", "") for step in steps_of(document)]
    install = next(s for s in steps_of(document) if s.get("name", "").startswith("Install the sandbox"))
    assert "apt-get install -y -q bubblewrap" in install["run"] and "apparmor_restrict_unprivileged_userns" in install["run"]
    assert names.index(install["name"]) < min(i for i, s in enumerate(steps_of(document)) if s.get("id"))
    grading = next(s for s in steps_of(document) if s.get("id") == "questionnaire")
    assert "--no-sandbox" not in grading["run"] and "sudo" in grading["run"]  # as root: one uid per sandbox
    assert "--no-sandbox" not in done.stderr and done.returncode == 0  # grading refuses without a sandbox
