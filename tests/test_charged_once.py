"""Each mistake is charged once: a solution notebook with exactly one wrong step loses only that step's checks.

Every part's solution is graded with one realistic mistake written into one function or statement;
the steps built on it (which call it, or are computed from its value) must still earn their points,
because their checks swap in the reference's version or redo the step on the student's own values.
"""
from __future__ import annotations

import json

import nbformat
import pytest

from conftest import REPO, run_grader

SOLUTIONS = REPO / "reference" / "solutions"

# part: (the solution's line, the same line with one mistake, the checks that must be lost)
MISTAKES = {
    "baseline": ("def mnist_distance(a, b): return (a-b).abs().mean((-1,-2))",
                 "def mnist_distance(a, b): return ((a-b)**2).mean((-1,-2)).sqrt()",  # RMSE, not L1
                 {"mnist_distance", "mnist_distance_broadcast"}),
    "baseline_stacked": ("stacked_threes = torch.stack(three_tensors).float()/255",
                         "stacked_threes = torch.stack(three_tensors).float()",  # forgot to scale to [0, 1]
                         {"stacked_digits"}),
    "sgd": ("def mse(preds, targets): return ((preds-targets)**2).mean()",
            "def mse(preds, targets): return ((preds-targets)**2).mean().sqrt()",  # RMSE, the example
            {"mse"}),
    "linear": ("    correct = (preds>0.5) == yb",
               "    correct = (xb>0.5) == yb",  # thresholds the raw outputs
               {"batch_accuracy"}),
    "learner": ("        for p in self.params: p.grad = None",
                "        pass",  # zero_grad that clears nothing
                {"basic_optim"}),
    "from_scratch": ("        self.values.append([s/c for s, c in zip(self.sums, counts)])",
                     "        self.values.append(list(self.sums))",  # sums, not means
                     {"recorder_values"}),
    "full_mnist": ("means = torch.stack([train_x[train_y==d].mean(0) for d in range(10)])",
                   "means = torch.stack([train_x[train_y==d].sum(0) / len(train_x) for d in range(10)])",
                   {"class_means"}),
}
SLOW = {"learner", "from_scratch", "full_mnist"}  # minutes of training each


def with_mistake(part: str, folder) -> tuple[str, set[str]]:
    """The part's solution notebook with its one mistake, written to `folder`; the assignment and the checks to lose."""
    assignment = part.split("_stacked")[0]
    right, wrong, lost = MISTAKES[part]
    notebook = nbformat.read(SOLUTIONS / f"{assignment}.ipynb", as_version=4)
    changed = [cell for cell in notebook.cells if right in cell.source]
    assert len(changed) == 1, f"{right!r} is not in exactly one cell of the {assignment} solution"
    changed[0].source = changed[0].source.replace(right, wrong)
    nbformat.write(notebook, folder / f"{assignment}.ipynb")
    return assignment, lost


@pytest.mark.parametrize("part", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW else p for p in MISTAKES])
def test_one_mistake_loses_only_its_own_checks(part, fastai_home, tmp_path):
    assignment, lost = with_mistake(part, tmp_path)
    done = run_grader("check", str(tmp_path / f"{assignment}.ipynb"), "--out", str(tmp_path / "out"),
                      env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr
    [submission] = json.loads((tmp_path / "out" / "results.json").read_text())["submissions"]
    failed = {c["name"]: c["message"] for c in submission["checks"] if c["status"] != "passed"}
    assert set(failed) == lost, failed
    assert not submission["problems"]
