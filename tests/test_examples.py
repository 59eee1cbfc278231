"""The bundled example class, graded by the README's main-job command: each submission scores what
examples/README.md says, the blank questionnaire runs cleanly and scores 0, and the sample overrides apply."""
from __future__ import annotations

import re

import pytest

from conftest import REPO
from grader.overrides import apply_overrides, read_overrides
from grader.results import Status

EXAMPLES = REPO / "examples"
ROW = re.compile(r"^\| (\w+) \| `(\w+)\.ipynb` \| .* \| ([\d.]+)/([\d.]+) \|$")


def documented_scores() -> dict[tuple[str, str], tuple[float, float]]:
    """(student, part) → (score, max) from the table in examples/README.md."""
    rows = [ROW.match(line) for line in (EXAMPLES / "README.md").read_text().splitlines()]
    return {(m[1], m[2]): (float(m[3]), float(m[4])) for m in rows if m}


@pytest.fixture(scope="module")
def graded(example_class):
    """`grader check examples/submissions` (run once per session by conftest)."""
    return example_class


def test_the_readme_documents_every_example_submission():
    files = {(path.parent.name, path.stem) for path in (EXAMPLES / "submissions").glob("*/*.ipynb")}
    assert files == set(documented_scores()) and len(files) >= 4


def test_every_example_scores_what_the_readme_says(graded):
    done, batch = graded
    assert done.returncode == 0, done.stderr
    scores = {(s.student, s.assignment): (s.score, s.max_score) for s in batch.submissions}
    for key, (score, maximum) in documented_scores().items():
        assert scores[key][1] == maximum, key
        assert scores[key][0] == pytest.approx(score, abs=0.01), key
    assert "alice" in done.stdout and "dan" in done.stdout


def test_the_blank_questionnaire_runs_cleanly_and_scores_zero(graded):
    _, batch = graded
    blank = (REPO / "assignments" / "questionnaire" / "questionnaire.ipynb").read_bytes()
    assert (EXAMPLES / "submissions" / "dan" / "questionnaire.ipynb").read_bytes() == blank
    dan = next(s for s in batch.submissions if s.student == "dan")
    assert dan.error is None and dan.problems == [] and len(dan.checks) == 37
    assert {c.status for c in dan.checks} == {Status.FAILED} and dan.score == 0
    assert "empty answer" in next(c for c in dan.checks if c.name == "q01").message


def test_partial_and_buggy_work_is_reported_where_it_went_wrong(graded):
    _, batch = graded
    by_student = {(s.student, s.assignment): {c.name: c for c in s.checks} for s in batch.submissions}
    assert by_student["bob", "sgd"]["apply_step"].message.startswith("not in this notebook: no cell defines "
                                                                      "`apply_step`")
    assert by_student["carol", "sgd"]["mse"].status == Status.FAILED
    carol = by_student["carol", "questionnaire"]
    assert "got [[2, 4], [8, 10]]" in carol["q09"].message and carol["q09"].score == 1
    assert carol["q01"].message.startswith("too short") and carol["q01"].score == 0
    # "It compares pixels.": one of three key ideas, no longer 0 for being short, and flagged as unsure
    assert carol["q03"].score == 0.25 and carol["q03"].needs_review
    # carol writes in her own words: short and plain, often missing a key idea, scored without review
    assert [name for name, c in carol.items() if c.needs_review] == ["q03"]
    assert carol["q02"].score == 0.75 and not carol["q02"].needs_review
    bob = by_student["bob", "questionnaire"]
    assert not any(c.needs_review for c in bob.values())  # his brief answers are scored with confidence
    # no student copies another here, so nothing is flagged as a near-copy (copied pairs are flagged in
    # tests/test_questionnaire_review.py and in the labelled set of benchmarks/questionnaire_review.py)
    assert not [(student, name) for (student, _), checks in by_student.items() for name, c in checks.items()
                if "near_copy_of" in c.diagnostics or "near-copy" in c.message]


def test_the_sample_overrides_apply_to_the_example_class(graded):
    _, batch = graded
    changed = apply_overrides(batch, read_overrides(EXAMPLES / "overrides.csv"))
    carol = next(s for s in changed.submissions if (s.student, s.assignment) == ("carol", "questionnaire"))
    q01 = next(c for c in carol.checks if c.name == "q01")
    assert (q01.score, q01.override.automatic_score) == (0.5, 0.0) and "explained pixels" in q01.override.comment
