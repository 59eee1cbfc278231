"""`grader check` on every solution notebook: each scores full marks (the training parts take minutes).

baseline, sgd and linear are graded in test_check_corpus.py's batch, which asserts their full marks; this file
grades the others, and checks that together the two cover every part of the course.
"""
from __future__ import annotations

import json

from conftest import CORPUS_SOLUTIONS, REPO, run_grader


def test_every_solution_notebook_scores_full_marks(fastai_home, tmp_path):
    from grader.course import load_course

    assignments = load_course(REPO).assignments
    solutions = [p for p in sorted((REPO / "reference" / "solutions").glob("*.ipynb")) if p.stem in assignments]
    assert sorted(p.stem for p in solutions) == sorted(assignments) and len(solutions) == 7
    assert set(CORPUS_SOLUTIONS) < set(assignments)
    rest = [p for p in solutions if p.stem not in CORPUS_SOLUTIONS]
    done = run_grader("check", *map(str, rest), "--out", str(tmp_path), env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr
    submissions = json.loads((tmp_path / "results.json").read_text())["submissions"]
    assert sorted(s["assignment"] for s in submissions) == sorted(p.stem for p in rest)
    for submission in submissions:
        assert submission["score"] == submission["max_score"] > 0, submission["path"]
