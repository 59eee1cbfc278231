"""`grader check` on the defect corpus (tests/corpus) and on solution notebooks, all in one batch run.

Each corpus submission is a solution notebook with one defect, named after it; it must lose exactly
the checks listed here (with these statuses) and keep every other one.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import CORPUS_SOLUTIONS, REPO, run_grader

CORPUS = Path(__file__).parent / "corpus"
SOLUTIONS = REPO / "reference" / "solutions"

EXPECTED_LOST = {
    "distance_wrong_axes": {"mnist_distance_broadcast": "failed"},  # (1,2) works for one batch, not in general
    "mnist_loss_without_sigmoid": {"mnist_loss": "failed"},
    "gradients_never_zeroed": {"train_epoch": "failed", "trained_accuracy": "failed"},
    "hard_coded_accuracy": {"validate_epoch": "failed"},
    "missing_function": {"apply_step": "failed", "losses_fall": "failed"},  # `losses = []` ran, the loop then failed
    "syntax_error_in_one_cell": {"losses_fall": "not_run"},  # the loop's cell never ran
    "infinite_loop_in_one_cell": {},
    "cell_kills_kernel": {"apply_step": "not_run", "losses_fall": "not_run"},
    "monkeypatches_allclose_and_grader": {"mse": "failed"},
}
UNGRADABLE = {"malformed_json": "malformed JSON", "not_a_notebook": "no 'cells'"}


@pytest.fixture(scope="module")
def batch(fastai_home, tmp_path_factory):
    """The corpus and three solution notebooks graded by one `grader check` run."""
    out = tmp_path_factory.mktemp("corpus-out")
    solutions = [str(SOLUTIONS / f"{part}.ipynb") for part in CORPUS_SOLUTIONS]
    done = run_grader("check", str(CORPUS / "submissions"), *solutions, "--out", str(out), "--timeout", "40",
                      env={"FASTAI_HOME": str(fastai_home)})
    document = json.loads((out / "results.json").read_text())
    return {Path(s["path"]).stem if "corpus" in s["path"] else f"solution:{Path(s['path']).stem}": s
            for s in document["submissions"]}, done


def lost(submission) -> dict[str, str]:
    """Checks that did not pass, with their status."""
    return {c["name"]: c["status"] for c in submission["checks"] if c["status"] != "passed"}


def test_batch_finishes_with_exit_code_3_and_a_summary(batch):
    submissions, done = batch
    assert done.returncode == 3, done.stderr
    assert set(submissions) == set(EXPECTED_LOST) | set(UNGRADABLE) | {f"solution:{p}" for p in CORPUS_SOLUTIONS}
    assert "graded 12 of 14 submission(s); 2 could not be graded" in " ".join(done.stderr.split())
    assert "distance_wrong_axes" in done.stdout and "not_a_notebook" in done.stdout


@pytest.mark.parametrize("part", CORPUS_SOLUTIONS)
def test_solution_scores_full_marks(batch, part):
    submission = batch[0][f"solution:{part}"]
    assert submission["status"] == "graded" and submission["assignment"] == part
    assert lost(submission) == {} and submission["score"] == submission["max_score"] > 0


@pytest.mark.parametrize("defect", sorted(EXPECTED_LOST))
def test_defect_loses_exactly_its_checks(batch, defect):
    submission = batch[0][defect]
    assert submission["status"] == "graded"
    assert lost(submission) == EXPECTED_LOST[defect]


@pytest.mark.parametrize("defect", sorted(UNGRADABLE))
def test_broken_file_is_reported_and_batch_goes_on(batch, defect):
    submission = batch[0][defect]
    assert submission["status"] == "error" and submission["checks"] == []
    assert UNGRADABLE[defect] in submission["error"]


def test_execution_problems_point_at_the_students_cell(batch):
    submissions = batch[0]
    [timeout] = submissions["infinite_loop_in_one_cell"]["problems"]
    assert timeout["kind"] == "timeout" and "while True" in timeout["cell_source"]
    [death] = submissions["cell_kills_kernel"]["problems"]
    assert death["kind"] == "kernel_died" and "os._exit(1)" in death["cell_source"]
    [syntax] = submissions["syntax_error_in_one_cell"]["problems"]
    assert syntax["ename"] == "SyntaxError" and "for i in range(10)\n" in syntax["cell_source"]


def test_wrong_values_come_with_diagnostics_and_pictures(batch):
    submissions = batch[0]
    broadcast = next(c for c in submissions["distance_wrong_axes"]["checks"] if c["name"] == "mnist_distance_broadcast")
    assert broadcast["diagnostics"]["shape"] == [2, 28] and broadcast["visibility"] == "hidden"
    mean3 = next(c for c in submissions["solution:baseline"]["checks"] if c["name"] == "mean3")
    assert [f["kind"] for f in mean3["figures"]] == ["images"]
    assert set(mean3["figures"][0]["data"]["images"]) == {"yours", "reference", "difference"}
    accuracy = next(c for c in submissions["gradients_never_zeroed"]["checks"] if c["name"] == "trained_accuracy")
    assert accuracy["diagnostics"]["accuracy"] < accuracy["diagnostics"]["threshold"]
    assert accuracy["figures"][0]["kind"] == "curves"


def test_corpus_is_up_to_date(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_corpus", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    for name, text in module.corpus_texts().items():
        assert (CORPUS / "submissions" / name).read_text() == text, f"{name}: run python tests/corpus/make_corpus.py"
