"""The solution notebooks run top to bottom in a fresh kernel and reach the chapter's figures."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

SOLUTIONS = Path(__file__).resolve().parents[1] / "reference" / "solutions"
PARTS = ("baseline", "sgd", "linear", "learner", "from_scratch", "full_mnist")

PROBES = {
    "baseline": "{'dist_3_abs': dist_3_abs.item(), 'dist_3_sqr': dist_3_sqr.item(), 'dist_7_abs': dist_7_abs.item(),"
                " 'dist_7_sqr': dist_7_sqr.item(), 'accuracy_3s': accuracy_3s.item(), 'accuracy_7s': accuracy_7s.item(),"
                " 'is_3_shape': list(is_3(valid_3_tens).shape), 'tail': row_1_tail.tolist()}",
    "sgd": "{'grad': vector_grad.tolist(), 'first': losses[0], 'last': losses[-1]}",
    "linear": "{'accuracy': accuracies[-1], 'epochs': len(accuracies),"
              " 'loss': mnist_loss(tensor([[2.2], [-0.4]]), tensor([[1], [0]])).item()}",
    "learner": "{'basic': basic_accuracies[-1], 'sgd': sgd_accuracies[-1], 'net': float(learn.recorder.values[-1][2])}",
    "from_scratch": "{'gap': max_weight_difference, 'accuracy': learn.recorder.values[-1][2], 'batches': counter.count}",
    "full_mnist": "{'pixel': pixel_accuracy, 'linear': linear_accuracy, 'mlp': mlp_accuracy,"
                  " 'confusion_total': int(confusion.sum())}",
}


def run_solution(part: str, fastai_home: Path, tmp_path: Path, monkeypatch) -> dict:
    """Execute a solution notebook in a fresh kernel, then read its key values from one appended cell."""
    nb = nbformat.read(SOLUTIONS / f"{part}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"import json\nprint(json.dumps({PROBES[part]}))"))
    monkeypatch.setenv("FASTAI_HOME", str(fastai_home))
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = [o["text"] for o in nb.cells[-1].outputs if o.get("name") == "stdout"]
    return json.loads(printed[-1])


@pytest.mark.parametrize("part", PARTS)
def test_solution_notebook_is_marked_for_the_grader(part):
    nb = nbformat.read(SOLUTIONS / f"{part}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["grader"]["assignment"] == part
    code = [c.source.splitlines() for c in nb.cells if c.cell_type == "code"]
    begins = sum(line == "# BEGIN SOLUTION" for lines in code for line in lines)
    ends = sum(line == "# END SOLUTION" for lines in code for line in lines)
    assert begins == ends >= 1
    assert not any("fastbook" in line for lines in code for line in lines)


def test_baseline_notebook(fastai_home, tmp_path, monkeypatch):
    got = run_solution("baseline", fastai_home, tmp_path, monkeypatch)
    assert {k: round(v, 4) for k, v in got.items() if k.startswith(("dist", "acc"))} == {
        "dist_3_abs": 0.1114, "dist_3_sqr": 0.2021, "dist_7_abs": 0.1586, "dist_7_sqr": 0.3021,
        "accuracy_3s": 0.9168, "accuracy_7s": 0.9854}
    assert got["is_3_shape"] == [1010] and got["tail"] == [5, 6]


def test_sgd_notebook(fastai_home, tmp_path, monkeypatch):
    got = run_solution("sgd", fastai_home, tmp_path, monkeypatch)
    assert got["grad"] == [6.0, 8.0, 20.0] and got["last"] < got["first"]


def test_linear_notebook(fastai_home, tmp_path, monkeypatch):
    got = run_solution("linear", fastai_home, tmp_path, monkeypatch)
    assert got["epochs"] == 20 and got["accuracy"] >= 0.96
    assert got["loss"] == pytest.approx(((1 - 0.9002) + 0.4013) / 2, abs=1e-3)


def test_from_scratch_notebook(fastai_home, tmp_path, monkeypatch):
    got = run_solution("from_scratch", fastai_home, tmp_path, monkeypatch)
    assert got["gap"] < 1e-5 and got["accuracy"] >= 0.95 and got["batches"] == 49


@pytest.mark.slow
def test_learner_notebook(fastai_home, tmp_path, monkeypatch):
    got = run_solution("learner", fastai_home, tmp_path, monkeypatch)
    # the two linear models start from different random weights, so their accuracies are close, not equal
    assert got["basic"] >= 0.97 and got["sgd"] >= 0.97 and abs(got["basic"] - got["sgd"]) < 0.005
    assert got["net"] >= 0.975


@pytest.mark.slow
def test_full_mnist_notebook(fastai_home, tmp_path, monkeypatch):
    got = run_solution("full_mnist", fastai_home, tmp_path, monkeypatch)
    assert got["linear"] >= 0.91 and got["mlp"] >= 0.98 and 0.6 < got["pixel"] < 0.75
    assert got["confusion_total"] == 10000
