"""Instructor overrides: `grader check --overrides` applies them and shows them; bad files fail clearly."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, run_grader
from grader.course import load_course
from grader.exceptions import OverrideError
from grader.overrides import apply_overrides, check_against_specs, read_overrides
from grader.results import BatchResult, Status

BLANK = REPO / "assignments" / "questionnaire" / "questionnaire.ipynb"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def checked(tmp_path_factory, fastai_home):
    """`grader check` of one blank questionnaire (student erin) with a CSV of two overrides."""
    root = tmp_path_factory.mktemp("overrides")
    (root / "class" / "erin").mkdir(parents=True)
    nbformat.write(nbformat.read(BLANK, as_version=4), root / "class" / "erin" / "questionnaire.ipynb")
    overrides = write(root / "overrides.csv", "student,check,points,comment\n"
                                              "erin,q05,1,Answered on paper in class\n"
                                              "erin,questionnaire/q09,0.5,\"Right idea, wrong slice\"\n")
    done = run_grader("check", str(root / "class"), "--overrides", str(overrides), "--out", str(root / "out"),
                      env={"FASTAI_HOME": str(fastai_home), "COLUMNS": "200"})
    return done, root


def test_overrides_replace_automatic_scores_and_are_shown(checked):
    done, root = checked
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "out" / "results.json").read_text())
    erin = results["submissions"][0]
    checks = {check["name"]: check for check in erin["checks"]}
    assert checks["q05"]["score"] == 1 and checks["q05"]["status"] == "passed"
    assert checks["q05"]["override"] == {"points": 1.0, "comment": "Answered on paper in class",
                                         "automatic_score": 0.0}
    assert checks["q09"]["score"] == 0.5 and checks["q09"]["status"] == "partial"
    assert checks["q01"]["override"] is None
    assert erin["score"] == 1.5
    assert "overridden" in done.stdout and "Answered on paper in class" in done.stdout


def test_a_toml_file_works_too_and_overriding_again_keeps_the_automatic_score(checked, tmp_path):
    _, root = checked
    batch = BatchResult.read_json(root / "out" / "results.json")
    entries = read_overrides(write(tmp_path / "more.toml", '[[override]]\nstudent = "erin"\ncheck = "q05"\n'
                                                           'points = 0.25\ncomment = "On second thought"\n'))
    q05 = next(c for c in apply_overrides(batch, entries).submissions[0].checks if c.name == "q05")
    assert (q05.score, q05.status, q05.override.automatic_score) == (0.25, Status.PARTIAL, 0.0)
    assert next(c for c in batch.submissions[0].checks if c.name == "q05").score == 1  # the input is unchanged


@pytest.mark.parametrize("entry, problem", [
    ("zoe,q05,1,", "no submission from student 'zoe'"),
    ("erin,mean3,1,", "erin has no check 'mean3'"),
    ("erin,q04,2.5,", "outside 0..2 for erin / questionnaire/q04"),
])
def test_overrides_that_do_not_fit_the_results_are_refused(checked, tmp_path, entry, problem):
    _, root = checked
    batch = BatchResult.read_json(root / "out" / "results.json")
    entries = read_overrides(write(tmp_path / "o.csv", f"student,check,points,comment\n{entry}\n"))
    with pytest.raises(OverrideError, match=problem):
        apply_overrides(batch, entries)


@pytest.mark.parametrize("name, text, problem", [
    ("o.csv", "name,points\nerin,1\n", "header student,check,points,comment"),
    ("o.csv", "student,check,points\nerin,q05,lots\n", "o.csv line 2: points 'lots' is not a number"),
    ("o.csv", "student,check,points\nerin,q05,-1\n", "at least 0"),
    ("o.csv", "student,check,points\nerin,,1\n", "check is empty"),
    ("o.csv", "student,check,points\nerin,q05,1\nerin,q05,0\n", "line 3: erin / q05 is already overridden at"),
    ("o.toml", "[[override]\nstudent = 1", "not valid TOML"),
    ("o.toml", '[[override]]\nstudent = "erin"\ncheck = "q05"\n', "override #1: points is empty"),
])
def test_malformed_override_files_are_refused_with_the_line(tmp_path, name, text, problem):
    with pytest.raises(OverrideError, match=problem):
        read_overrides(write(tmp_path / name, text))


@pytest.mark.parametrize("entry, problem", [("erin,q99,1,", "no assignment has a check named 'q99'"),
                                            ("erin,q05,3,", "more than q05 is worth")])
def test_unknown_checks_and_too_many_points_are_caught_before_grading(tmp_path, entry, problem):
    entries = read_overrides(write(tmp_path / "o.csv", f"student,check,points\n{entry}\n"))
    with pytest.raises(OverrideError, match=problem):
        check_against_specs(entries, load_course(REPO).assignments)


def test_the_command_stops_before_grading_on_a_bad_override(tmp_path):
    overrides = write(tmp_path / "o.csv", "student,check,points\nerin,q99,1\n")
    done = run_grader("check", str(BLANK), "--overrides", str(overrides), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "no assignment has a check named 'q99'" in done.stderr and "Traceback" not in done.stderr
    assert "grading" not in done.stderr and not (tmp_path / "out").exists()
