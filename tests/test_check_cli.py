"""`grader check` usage: help text, exit code 2 for usage errors, the unmodified chapter, every solution (slow)."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, run_grader

CHAPTER = REPO.parent / "shared" / "chapter" / "04_mnist_basics.ipynb"


def test_help_documents_options_and_exit_codes():
    done = run_grader("check", "--help")
    text = " ".join(done.stdout.split())
    assert done.returncode == 0
    for option in ("--out", "--timeout", "--notebook-timeout", "--seed", "--json", "--format"):
        assert option in text
    assert "Exit codes: 0" in text and "3 at least one submission could not be graded" in text


@pytest.mark.parametrize("args, message", [
    (["does/not/exist.ipynb"], "does not exist"),
    (["tests/fixtures/course/tinyref"], "no notebooks"),
    (["tests/fixtures/course/submissions/all_correct.ipynb", "--format", "pdf"], "unknown format 'pdf'"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    done = run_grader("check", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


CHAPTER_LOSES = {  # the repaired chapter (shared/chapter) runs through; only names the book never writes are missing
    "baseline/tensor_indexing": "failed",  # the chapter never names row_1, col_1, row_1_tail
    "sgd/losses_fall": "failed",  # it prints the losses instead of keeping a `losses` list
}


@pytest.mark.skipif(not CHAPTER.exists(), reason="the chapter notebook is not beside the repository")
def test_unmodified_chapter_grades_and_earns_the_steps_it_contains(fastai_home, tmp_path):
    done = run_grader("check", str(CHAPTER), "--out", str(tmp_path), "--timeout", "180",
                      env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr
    [submission] = json.loads((tmp_path / "results.json").read_text())["submissions"]
    assert submission["assignment"] == "04_mnist_basics"
    assert {c["part"] for c in submission["checks"]} == {"baseline", "sgd", "linear", "learner"}
    lost = {f"{c['part']}/{c['name']}": c["status"] for c in submission["checks"] if c["status"] != "passed"}
    assert lost == CHAPTER_LOSES
    kinds = {(p["kind"], p["ename"]) for p in submission["problems"]}
    assert ("error", "ModuleNotFoundError") in kinds
    assert any("fastbook" in p["evalue"] for p in submission["problems"])  # its `import fastbook` cells just fail


def test_every_solution_notebook_scores_full_marks(fastai_home, tmp_path):
    from grader.course import load_course

    assignments = load_course(REPO).assignments
    solutions = [p for p in sorted((REPO / "reference" / "solutions").glob("*.ipynb")) if p.stem in assignments]
    done = run_grader("check", *map(str, solutions), "--out", str(tmp_path), env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr
    submissions = json.loads((tmp_path / "results.json").read_text())["submissions"]
    assert sorted(s["assignment"] for s in submissions) == sorted(p.stem for p in solutions)
    assert len(solutions) == 7
    for submission in submissions:
        assert submission["score"] == submission["max_score"] > 0, submission["path"]
