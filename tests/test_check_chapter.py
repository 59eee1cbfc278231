"""`grader check` on the chapter exactly as the book prints it: every step it contains earns full marks (minutes)."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, run_grader

CHAPTER = REPO.parent / "shared" / "chapter" / "04_mnist_basics.ipynb"


@pytest.mark.skipif(not CHAPTER.exists(), reason="the chapter notebook is not beside the repository")
def test_unmodified_chapter_earns_full_marks_on_every_step_it_contains(fastai_home, tmp_path):
    # the book's own set-up (fastbook, gv without Graphviz's `dot`) runs; only "Going Deeper"'s resnet18
    # cell, which no check reads, may be stopped by the cell time limit (it takes about a minute on one core;
    # the next longest cell, `learn.fit(40, 0.1)`, about 8 s, so 40 s leaves it room on a loaded machine)
    done = run_grader("check", str(CHAPTER), "--out", str(tmp_path), "--timeout", "40",
                      env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr
    [submission] = json.loads((tmp_path / "results.json").read_text())["submissions"]
    assert submission["assignment"] == "04_mnist_basics"
    assert {c["part"] for c in submission["checks"]} == {"baseline", "sgd", "linear", "learner"}
    lost = {f"{c['part']}/{c['name']}": c["message"] for c in submission["checks"] if c["status"] != "passed"}
    assert lost == {}
    assert submission["score"] == submission["max_score"]
    problems = [(p["kind"], p["cell_source"]) for p in submission["problems"]]
    assert all(kind == "timeout" and "resnet18" in source for kind, source in problems), problems
