"""`grader check --format ...` on real notebooks: a baseline with a wrong ideal 7, and a file that is no notebook."""
from __future__ import annotations

import base64
import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import nbformat
import pytest

from tests.conftest import REPO, run_grader
from tests.test_formats import schema, xml_tree

CI_FORMATS = ["github", "classroom50", "gradescope", "prairielearn", "junit", "csv"]


def baseline_with_median_seven(path: Path) -> None:
    """The reference baseline notebook, except that the "ideal" 7 is the pixel-wise median, not the mean."""
    notebook = nbformat.read(REPO / "reference/solutions/baseline.ipynb", as_version=4)
    [cell] = [c for c in notebook.cells if c.cell_type == "code" and "mean7 = stacked_sevens.mean(0)" in c.source]
    cell.source = cell.source.replace("stacked_sevens.mean(0)", "stacked_sevens.median(0).values")
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, fastai_home):
    """One `grader check` over two students in every CI format; returns (completed process, output folder)."""
    root = tmp_path_factory.mktemp("ci_formats")
    baseline_with_median_seven(root / "submissions/dana/baseline.ipynb")
    (root / "submissions/erin").mkdir(parents=True)
    (root / "submissions/erin/baseline.ipynb").write_text("{ this is not a notebook")
    arguments = [arg for name in CI_FORMATS for arg in ("--format", name)]
    done = run_grader("check", str(root / "submissions"), "--out", str(root / "out"), *arguments,
                      env={"FASTAI_HOME": str(fastai_home), "GITHUB_OUTPUT": "", "GITHUB_STEP_SUMMARY": ""},
                      timeout=600)
    return done, root / "out"


def read_json(out: Path, relative: str) -> dict:
    """One JSON file the check wrote."""
    return json.loads((out / relative).read_text())


def test_exit_code_says_one_submission_could_not_be_graded(graded):
    done, _ = graded
    assert done.returncode == 3, done.stderr
    assert "1 could not be graded" in done.stderr


def test_github_blobs_of_real_grading_match_the_reporter_shape(graded):
    _, out = graded
    dana = read_json(out, "github/dana/baseline/result.json")
    erin = read_json(out, "github/erin/baseline/result.json")
    for blob, folder in ((dana, "dana"), (erin, "erin")):
        jsonschema.validate(blob, schema("github_result"))
        encoded = (out / f"github/{folder}/baseline/result.b64").read_text().strip()
        assert json.loads(base64.b64decode(encoded)) == blob
    tests = {t["name"]: t for t in dana["tests"]}
    assert tests["baseline: mean3"]["status"] == "pass" and tests["baseline: mean7"]["status"] == "fail"
    assert dana["status"] == "fail" and 0 < sum(t["score"] for t in dana["tests"]) < dana["max_score"]
    assert erin["status"] == "error" and erin["tests"][0]["status"] == "error"
    assert "not a notebook" in erin["tests"][0]["message"]


def test_classroom50_gradescope_prairielearn_of_real_grading_follow_their_schemas(graded):
    _, out = graded
    for student in ("dana", "erin"):
        jsonschema.validate(read_json(out, f"classroom50/{student}/baseline/result.json"), schema("classroom50_result"))
        jsonschema.validate(read_json(out, f"gradescope/{student}/baseline/results.json"), schema("gradescope_results"))
        path = out / f"prairielearn/{student}/baseline/results.json"
        jsonschema.validate(json.loads(path.read_text()), schema("prairielearn_results"))
        assert path.stat().st_size < 1_000_000
    github = read_json(out, "github/dana/baseline/result.json")
    total, maximum = sum(t["score"] for t in github["tests"]), github["max_score"]
    classroom50 = read_json(out, "classroom50/dana/baseline/result.json")
    assert classroom50["score"] == round(total) and classroom50["max-score"] == maximum
    assert read_json(out, "gradescope/dana/baseline/results.json")["score"] == pytest.approx(total)
    prairielearn = read_json(out, "prairielearn/dana/baseline/results.json")
    assert prairielearn["score"] == pytest.approx(total / maximum)
    mean7 = next(t for t in prairielearn["tests"] if t["name"] == "baseline: mean7")
    assert mean7["points"] == 0 and mean7["images"]  # the student's 7 beside the reference, as PNGs
    for image in mean7["images"]:
        assert base64.b64decode(image["url"].split(",", 1)[1]).startswith(b"\x89PNG")
    assert read_json(out, "prairielearn/erin/baseline/results.json")["gradable"] is False


def test_junit_and_gradebook_of_real_grading(graded):
    _, out = graded
    root = ET.parse(out / "junit.xml").getroot()
    jsonschema.validate(xml_tree(root), schema("junit"))
    suites = {suite.get("name"): suite for suite in root}
    assert suites["erin/baseline"].get("errors") == "1"
    assert suites["dana/baseline"].find("testcase[@name='mean7']/failure") is not None
    rows = list(csv.reader((out / "gradebook.csv").open()))
    assert rows[0] == ["student", "baseline", "total", "max_score", "not_graded"]
    github = read_json(out, "github/dana/baseline/result.json")
    assert rows[1][0] == "dana" and float(rows[1][1]) == pytest.approx(sum(t["score"] for t in github["tests"]))
    assert rows[2] == ["erin", "0", "0", str(github["max_score"]), "baseline"]


def test_one_students_folder_names_that_student(fixture_course, tmp_path):
    """`grader check alice/`: her notebooks are named after parts, so they are hers, not students called `tiny`."""
    from tests.conftest import FIXTURE_COURSE

    alice = tmp_path / "class" / "alice"
    alice.mkdir(parents=True)
    (alice / "tiny.ipynb").write_bytes((FIXTURE_COURSE / "submissions/all_correct.ipynb").read_bytes())
    (tmp_path / "class" / "bob.ipynb").write_bytes((FIXTURE_COURSE / "submissions/all_correct.ipynb").read_bytes())
    for given, students in ((alice, {"alice"}), (tmp_path / "class", {"alice", "bob"})):
        out = tmp_path / f"out-{given.name}"
        done = run_grader("check", str(given), "--out", str(out), "--format", "json", "--format", "csv",
                          env={"GITHUB_OUTPUT": "", "GITHUB_STEP_SUMMARY": ""}, timeout=600)
        assert done.returncode == 0, done.stderr
        assert {s["student"] for s in read_json(out, "results.json")["submissions"]} == students
        with open(out / "gradebook.csv") as gradebook:
            assert {row["student"] for row in csv.DictReader(gradebook)} == students
