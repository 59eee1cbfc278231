"""`grader check` usage: help text, exit code 2 for usage errors, missing and renamed notebooks."""
from __future__ import annotations

import json

import pytest

from conftest import run_grader


def test_help_documents_options_and_exit_codes():
    done = run_grader("check", "--help")
    text = " ".join(done.stdout.split())
    assert done.returncode == 0
    for option in ("--out", "--timeout", "--notebook-timeout", "--seed", "--json", "--format"):
        assert option in text
    assert "Exit codes: 0" in text and "3 at least one submission could not be graded" in text


@pytest.mark.parametrize("args, message", [
    (["tests/fixtures/course/tinyref"], "no notebooks"),
    (["tests/fixtures/course/submissions/all_correct.ipynb", "--format", "pdf"], "unknown format 'pdf'"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    done = run_grader("check", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_missing_and_unidentifiable_notebooks_are_graded_lines_exit_3(fixture_course, tmp_path):
    notebook = json.loads((fixture_course / "submissions" / "all_correct.ipynb").read_text())
    del notebook["metadata"]["grader"]  # only the file name can tell the part now
    (tmp_path / "my_work.ipynb").write_text(json.dumps(notebook))
    out = tmp_path / "out"
    done = run_grader("check", "does/not/exist.ipynb", str(tmp_path / "gone" / "tiny.ipynb"),
                      str(tmp_path / "my_work.ipynb"), "--out", str(out), "--format", "json", "--format", "table")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "graded 0 of 3 submission(s); 3 could not be graded" in done.stderr
    missing, gone, renamed = json.loads((out / "results.json").read_text())["submissions"]
    assert missing["status"] == "error" and missing["error"].startswith("notebook not found: does/not/exist.ipynb")
    assert (missing["assignment"], missing["max_score"]) == ("", 0)  # no part in the name: no points to show
    assert gone["error"].startswith("notebook not found") and (gone["student"], gone["assignment"]) == ("gone", "tiny")
    assert (gone["score"], gone["max_score"]) == (0, 6)  # 0 of the part's points
    assert renamed["status"] == "error" and "cannot tell which assignment" in renamed["error"]
    assert "tiny.ipynb" in renamed["error"]  # the names that would be recognised
    assert "notebook not found: does/not/exist.ipynb" in " ".join(done.stdout.split())


def test_a_renamed_copy_is_graded_as_the_part_its_name_contains(fixture_course, tmp_path):
    notebook = json.loads((fixture_course / "submissions" / "all_correct.ipynb").read_text())
    del notebook["metadata"]["grader"]
    (tmp_path / "class" / "ada").mkdir(parents=True)
    (tmp_path / "class" / "ada" / "Copy of tiny (1).ipynb").write_text(json.dumps(notebook))
    done = run_grader("check", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    [submission] = json.loads(done.stdout)["submissions"]
    assert (submission["student"], submission["assignment"], submission["score"]) == ("ada", "tiny", 6)
