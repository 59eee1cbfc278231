"""CI and gradebook formats on hand-built results of real shape: each file checked against its published schema."""
from __future__ import annotations

import base64
import csv
import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from grader.emitters import FORMATS, emit
from grader.emitters.github import result_blob
from grader.emitters.prairielearn import results_document, encoded
from grader.results import (Answer, BatchResult, CheckResult, ExecutionProblem, Figure, Status, SubmissionResult,
                            Visibility)
from reference.tensor_cache import load_split

SCHEMAS = Path(__file__).parent / "schemas"


def schema(name: str) -> dict:
    """One of the transcribed published schemas in tests/schemas/."""
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def xml_tree(element: ET.Element) -> dict:
    """An XML element as {tag, attrib, text, children}, the form junit.schema.json describes."""
    return {"tag": element.tag, "attrib": dict(element.attrib), "text": (element.text or "").strip(),
            "children": [xml_tree(child) for child in element]}


@pytest.fixture(autouse=True)
def outside_github_actions(monkeypatch):
    """No test here writes to the step outputs of a CI run that happens to run this suite."""
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(scope="module")
def digits(data_dir) -> dict[str, list]:
    """The mean 3 and mean 7 of the real MNIST_SAMPLE training set, and their difference, as 28×28 lists."""
    train = load_split(data_dir, "mnist_sample", "train")
    mean3 = train.of_digit(3).float().mean(0) / 255
    mean7 = train.of_digit(7).float().mean(0) / 255
    return {"student": mean7.tolist(), "reference": mean3.tolist(), "difference": (mean7 - mean3).tolist()}


def full_marks(digits) -> SubmissionResult:
    """alice: every baseline check passed, one of them hidden, with the picture of her mean 3."""
    figure = Figure("images", "mean3", {"images": {"student": digits["reference"], "reference": digits["reference"]}})
    return SubmissionResult(path="submissions/alice/baseline.ipynb", student="alice", assignment="baseline", checks=[
        CheckResult("mean3", "baseline", 2, 2, Status.PASSED, "Matches the reference.", figures=[figure], seconds=0.41),
        CheckResult("mnist_distance", "baseline", 2, 2, Status.PASSED, "Correct on fresh inputs.", seconds=0.12),
        CheckResult("is_3", "baseline", 1, 1, Status.PASSED, "Correct.", visibility=Visibility.HIDDEN),
        CheckResult("accuracy", "baseline", 1, 1, Status.PASSED, "Validation accuracy 0.953."),
    ], execute_seconds=11.0, seconds=12.5)


def partial_credit(digits) -> SubmissionResult:
    """bob: fractional points, a wrong function, a hidden failure, a check that never ran, an override."""
    wrong = Figure("images", "mean3 beside the reference", {"images": digits})
    curve = Figure("curves", "loss", {"x_label": "epoch", "y_label": "loss",
                                      "series": {"student": [0.5, 0.3, 0.2], "reference": [0.5, 0.25, 0.12]}})
    answer = Answer("What is a tensor's rank?", "how many axes", "the number of axes",
                    concepts_found=["axes"], concepts_missing=[])
    problem = ExecutionProblem("error", 7, "accuracy = correct / 0", "ZeroDivisionError", "division by zero")
    return SubmissionResult(path="submissions/bob/baseline.ipynb", student="bob", assignment="baseline", checks=[
        CheckResult("mean3", "baseline", 1.5, 2, Status.PARTIAL, "Shape right; 4% of pixels differ | by > 1e-6.",
                    figures=[wrong, curve], diagnostics={"mismatch": 0.04}),
        CheckResult("mnist_distance", "baseline", 0, 2, Status.FAILED, "Returns shape [5, 28] instead of [5]."),
        CheckResult("is_3", "baseline", 0, 1, Status.FAILED, "Wrong on 3 of 8 inputs.", visibility=Visibility.HIDDEN),
        CheckResult("accuracy", "baseline", 0, 1, Status.NOT_RUN, "Not run: cell 7 raised ZeroDivisionError."),
        CheckResult("q03", "baseline", 0.5, 1, Status.PARTIAL, "1 of 2 concepts", answer=answer,
                    needs_review=True).overridden(0.75, "close enough"),
    ], problems=[problem], execute_seconds=9.0, seconds=10.2)


def ungradable() -> SubmissionResult:
    """carol: a notebook that could not be read at all."""
    return SubmissionResult.without_results("not a notebook: Expecting value: line 1 column 1 (char 0)",
                                            path="submissions/carol/linear.ipynb", student="carol",
                                            assignment="linear", declared_max_score=10)


@pytest.fixture(scope="module")
def batch(digits) -> BatchResult:
    """Three students: full marks, partial credit, could not be graded."""
    return BatchResult([full_marks(digits), partial_credit(digits), ungradable()])


def written(out_dir: Path, format_name: str, batch: BatchResult) -> dict[str, Path]:
    """Emit one format; returns the files by their path relative to out_dir."""
    return {str(p.relative_to(out_dir)): p for p in emit(format_name, batch, out_dir=out_dir)}


def test_every_format_is_registered():
    assert {"github", "classroom50", "gradescope", "prairielearn", "junit", "csv"} <= set(FORMATS)


@pytest.mark.parametrize("format_name, file_name", [("github", "result.json"), ("classroom50", "result.json"),
                                                    ("gradescope", "results.json"), ("prairielearn", "results.json")])
def test_one_file_per_submission_in_a_documented_layout(tmp_path, batch, format_name, file_name):
    single = written(tmp_path / "one", format_name, BatchResult([batch.submissions[0]]))
    assert f"{format_name}/{file_name}" in single
    several = written(tmp_path / "many", format_name, batch)
    for student, assignment in [("alice", "baseline"), ("bob", "baseline"), ("carol", "linear")]:
        assert f"{format_name}/{student}/{assignment}/{file_name}" in several


def test_github_blob_matches_the_reporter_shape_and_keeps_fractions(tmp_path, batch):
    files = written(tmp_path, "github", batch)
    blobs = {}
    for student in ("alice", "bob", "carol"):
        folder = f"github/{student}/{'linear' if student == 'carol' else 'baseline'}"
        blob = json.loads(base64.b64decode(files[f"{folder}/result.b64"].read_text().strip()))
        assert blob == json.loads(files[f"{folder}/result.json"].read_text())
        jsonschema.validate(blob, schema("github_result"))
        blobs[student] = blob
    assert [b["status"] for b in blobs.values()] == ["pass", "fail", "error"]
    bob = blobs["bob"]
    assert sum(t["score"] for t in bob["tests"]) == pytest.approx(2.25)  # 1.5 + 0.75 override: fractions survive
    assert bob["max_score"] == 7
    assert {t["name"]: t["status"] for t in bob["tests"]}["baseline: accuracy"] == "error"
    hidden = {t["name"]: t["message"] for t in bob["tests"]}["baseline: is_3"]
    assert "Wrong on 3 of 8" not in hidden
    assert blobs["carol"]["max_score"] == 10 and blobs["carol"]["tests"][0]["score"] == 0
    assert "not a notebook" in blobs["carol"]["tests"][0]["message"]


def test_github_writes_step_output_and_appends_the_summary(tmp_path, digits, monkeypatch):
    output, summary = tmp_path / "github_output", tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    emit("github", BatchResult([partial_credit(digits)]), out_dir=tmp_path / "out")
    lines = output.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("result=")
    blob = json.loads(base64.b64decode(lines[0].removeprefix("result=")))
    jsonschema.validate(blob, schema("github_result"))
    assert blob == result_blob(partial_credit(digits))
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "| baseline: mean3 | 1.5 / 2 | partial |" in text
    assert "\\|" in text  # a pipe inside a message does not break the table
    assert "error in cell 8: ZeroDivisionError: division by zero" in text


def test_github_output_for_a_batch_is_one_blob_over_all_submissions(tmp_path, batch, monkeypatch):
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    emit("github", batch, out_dir=tmp_path / "out")
    blob = json.loads(base64.b64decode(output.read_text().strip().removeprefix("result=")))
    jsonschema.validate(blob, schema("github_result"))
    assert blob["status"] == "error" and blob["max_score"] == 6 + 7 + 10
    assert {t["name"].split(":")[0] for t in blob["tests"]} == {"alice", "bob", "carol"}


def test_classroom50_result_has_whole_points_that_add_up(tmp_path, batch, monkeypatch):
    for name in ("CLASSROOM", "ASSIGNMENT", "SUBMISSION_TAG", "COMMIT_URL", "RELEASE_URL", "REVIEW_URL", "USERNAME",
                 "ASSIGNMENT_TYPE"):
        monkeypatch.delenv(name, raising=False)
    files = written(tmp_path, "classroom50", batch)
    results = {k.split("/")[1]: json.loads(p.read_text()) for k, p in files.items()}
    for result in results.values():
        jsonschema.validate(result, schema("classroom50_result"))
        assert result["score"] == sum(t["score"] for t in result["tests"])
        assert result["max-score"] == sum(t["max-score"] for t in result["tests"])
    assert (results["alice"]["score"], results["alice"]["max-score"]) == (6, 6)
    bob = {t["test-name"]: t for t in results["bob"]["tests"]}
    assert results["bob"]["score"] == 2  # 2.25 points: whole points add up to the rounded total
    assert bob["baseline: mean3"] == {"test-name": "baseline: mean3", "passed": False, "score": 1, "max-score": 2}
    assert bob["baseline: q03"]["score"] == 1  # 0.75 has the largest fraction, so it gets the spare point
    assert (results["carol"]["score"], results["carol"]["max-score"]) == (0, 10)
    assert results["bob"]["owner"] == "bob" and results["bob"]["submission"] == "submit/local-bob"
    assert results["carol"]["tests"][0]["passed"] is False


def test_classroom50_takes_identity_from_the_runner_environment(tmp_path, digits, monkeypatch):
    runner = {"CLASSROOM": "cs-mnist", "ASSIGNMENT": "baseline",
              "SUBMISSION_TAG": "submit/2026-06-01T14-32-05Z-a1b2c3d",
              "COMMIT_URL": "https://github.com/o/r/commit/abc", "RELEASE_URL": "https://github.com/o/r/releases/x"}
    for name, value in runner.items():
        monkeypatch.setenv(name, value)
    for name in ("REVIEW_URL", "USERNAME", "ASSIGNMENT_TYPE"):
        monkeypatch.delenv(name, raising=False)
    [path] = emit("classroom50", BatchResult([full_marks(digits)]), out_dir=tmp_path)
    result = json.loads(path.read_text())
    jsonschema.validate(result, schema("classroom50_result"))
    assert (result["classroom"], result["submission"], result["review"]) == (
        "cs-mnist", runner["SUBMISSION_TAG"], runner["COMMIT_URL"])
    assert (result["owner"], result["assignment_type"]) == ("alice", "individual")  # complete without the runner
    monkeypatch.setenv("USERNAME", "alice-gh")
    monkeypatch.setenv("ASSIGNMENT_TYPE", "group")
    [path] = emit("classroom50", BatchResult([full_marks(digits)]), out_dir=tmp_path)
    assert json.loads(path.read_text())["owner"] == "alice-gh"
    assert json.loads(path.read_text())["assignment_type"] == "group"


def test_gradescope_results_follow_the_spec_with_hidden_checks_after_publication(tmp_path, batch):
    files = written(tmp_path, "gradescope", batch)
    results = {k.split("/")[1]: json.loads(p.read_text()) for k, p in files.items()}
    for result in results.values():
        jsonschema.validate(result, schema("gradescope_results"))
    bob = results["bob"]
    assert bob["score"] == pytest.approx(2.25)
    tests = {t["name"]: t for t in bob["tests"]}
    assert tests["baseline: is_3"]["visibility"] == "after_published"
    assert tests["baseline: mean3"] | {"output": None} == {
        "name": "baseline: mean3", "score": 1.5, "max_score": 2, "status": "failed", "output": None,
        "output_format": "text", "name_format": "text", "tags": ["baseline"], "visibility": "visible"}
    assert "| by > 1e-6" in tests["baseline: mean3"]["output"]  # plain text: shown as written
    assert (bob["output_format"], bob["test_output_format"], bob["test_name_format"]) == ("text", "text", "text")
    assert "close enough" in tests["baseline: q03"]["output"]
    assert "ZeroDivisionError" in bob["output"]
    carol = results["carol"]
    assert carol["score"] == 0 and carol["tests"][0]["max_score"] == 10
    assert "not a notebook" in carol["tests"][0]["output"]


def test_prairielearn_results_with_figures_under_one_megabyte(tmp_path, batch):
    files = written(tmp_path, "prairielearn", batch)
    results = {k.split("/")[1]: (json.loads(p.read_text()), p.stat().st_size) for k, p in files.items()}
    for result, size in results.values():
        jsonschema.validate(result, schema("prairielearn_results"))
        assert size < 1_000_000
    alice, bob = results["alice"][0], results["bob"][0]
    assert alice["score"] == 1.0
    assert bob["score"] == pytest.approx(2.25 / 7)
    tests = {t["name"]: t for t in bob["tests"]}
    assert [i["label"] for i in tests["baseline: mean3"]["images"]] == [
        "mean3 beside the reference: student", "mean3 beside the reference: reference",
        "mean3 beside the reference: difference", "loss"]
    png = base64.b64decode(tests["baseline: mean3"]["images"][0]["url"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    assert tests["baseline: is_3"]["message"].startswith("Hidden check")
    carol = results["carol"][0]
    assert carol["gradable"] is False and "not a notebook" in carol["format_errors"][0]


def test_prairielearn_leaves_out_figures_and_cuts_text_to_respect_the_limit(digits):
    crowded = partial_credit(digits)
    crowded.checks[0].figures = crowded.checks[0].figures * 12
    crowded.checks[1].message = "x" * 3_000_000
    document = results_document(crowded, size_limit=40_000)
    jsonschema.validate(document, schema("prairielearn_results"))
    assert len(encoded(document).encode()) <= 40_000
    kept = len(document["tests"][0]["images"])
    assert 0 < kept < 48
    assert f"{48 - kept} figure(s) left out" in document["output"]
    assert document["tests"][1]["message"].endswith("[... cut to keep results.json under 1 MB]")


def test_junit_is_valid_against_the_jenkins_schema(tmp_path, batch):
    [path] = emit("junit", batch, out_dir=tmp_path)
    root = ET.parse(path).getroot()
    jsonschema.validate(xml_tree(root), schema("junit"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("10", "5", "1")
    suites = {suite.get("name"): suite for suite in root}
    assert set(suites) == {"alice/baseline", "bob/baseline", "carol/linear"}
    bob = suites["bob/baseline"]
    assert (bob.get("failures"), bob.get("skipped"), bob.get("errors")) == ("5", "0", "0")
    properties = {p.get("name"): p.get("value") for p in bob.find("properties")}
    assert properties["score"] == "2.25" and properties["max_score"] == "7"
    assert properties["score.baseline.mean3"] == "1.5/2"
    failure = bob.find("testcase[@name='mean3']/failure")
    assert failure.get("type") == "partial" and failure.get("message").startswith("1.5 of 2 points")
    never_ran = bob.find("testcase[@name='accuracy']/failure")  # lost points, with the reason, never "skipped"
    assert never_ran.get("type") == "not_run" and "ZeroDivisionError" in never_ran.get("message")
    assert bob.find("testcase/skipped") is None
    assert "ZeroDivisionError" in bob.find("system-err").text
    carol = suites["carol/linear"]
    assert carol.find("testcase/error").get("message").startswith("not a notebook")


def test_csv_gradebook_has_one_row_per_student_in_a_stable_column_order(tmp_path, batch, digits):
    late_alice = SubmissionResult(path="submissions/alice/linear.ipynb", student="alice", assignment="linear",
                                  checks=[CheckResult("linear1", "linear", 2.5, 4, Status.PARTIAL, "close")])
    everyone = BatchResult([*batch.submissions, late_alice])
    [path] = emit("csv", everyone, out_dir=tmp_path / "a")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["student", "baseline", "linear", "total", "max_score", "not_graded"]
    assert rows[1:] == [["alice", "6", "2.5", "8.5", "17", ""],
                        ["bob", "2.25", "", "2.25", "17", ""],
                        ["carol", "", "0", "0", "17", "linear"]]
    shuffled = list(everyone.submissions)
    random.Random(4).shuffle(shuffled)
    [again] = emit("csv", BatchResult(shuffled), out_dir=tmp_path / "b")
    assert again.read_text() == path.read_text()
