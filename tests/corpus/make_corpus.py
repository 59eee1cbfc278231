"""Regenerate the defect corpus from the solution notebooks: `python tests/corpus/make_corpus.py`.

Each submission is a solution notebook with one defect, named after it; `DEFECTS` says which
solution, which cell text is replaced by what (or which cell is inserted after it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "reference" / "solutions"
FOLDER = Path(__file__).parent / "submissions"


@dataclass(frozen=True)
class Defect:
    """Replace `old` with `new` in the one solution cell containing `old`; with `insert`, add a cell after it."""

    part: str
    old: str
    new: str = ""
    insert: bool = False


MONKEYPATCH = """import torch, grader, grader.compare, grader.spec, grader.judge
torch.allclose = lambda *args, **kwargs: True
torch.isclose = lambda a, b, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
grader.spec.Comparison.judge = lambda self, *args: grader.spec.Outcome(1.0, 'patched')
grader.compare.Scalar.judge = lambda self, *args: grader.spec.Outcome(1.0, 'patched')
grader.judge.judge = lambda *args, **kwargs: None"""

DEFECTS = {
    "distance_wrong_axes": Defect("baseline", "(a-b).abs().mean((-1,-2))", "(a-b).abs().mean((1,2))"),
    "mnist_loss_without_sigmoid": Defect("linear", "    predictions = predictions.sigmoid()\n", ""),
    "gradients_never_zeroed": Defect("linear", "            p.grad.zero_()\n", ""),
    "hard_coded_accuracy": Defect("linear", "    accs = [batch_accuracy(model(xb), yb) for xb,yb in valid_dl]\n"
                                            "    return round(torch.stack(accs).mean().item(), 4)",
                                  "    return 0.9682"),
    "missing_function": Defect("sgd", "def apply_step(params, prn=True):", "def apply_step_renamed(params, prn=True):"),
    "syntax_error_in_one_cell": Defect("sgd", "for i in range(10):", "for i in range(10)"),
    "infinite_loop_in_one_cell": Defect("sgd", "plt.scatter(-1.5, f(-1.5), color='red');", "while True:\n    pass",
                                        insert=True),
    "cell_kills_kernel": Defect("sgd", "def mse(preds, targets)", "import os\nos._exit(1)", insert=True),
    "monkeypatches_allclose_and_grader": Defect("sgd", "def mse(preds, targets): return ((preds-targets)**2).mean()",
                                                "def mse(preds, targets): return ((preds-targets)**2).mean() + 1\n\n"
                                                + MONKEYPATCH),
}
BROKEN_FILES = {
    "malformed_json.ipynb": lambda: (SOLUTIONS / "sgd.ipynb").read_text()[:700],
    "not_a_notebook.ipynb": lambda: json.dumps({"name": "my homework", "answers": [1, 2, 3]}),
}


def with_defect(defect: Defect) -> nbformat.NotebookNode:
    """The solution notebook of `defect.part` with the defect applied (exactly one cell must match)."""
    notebook = nbformat.read(SOLUTIONS / f"{defect.part}.ipynb", as_version=4)
    matches = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and defect.old in cell.source]
    if len(matches) != 1:
        raise ValueError(f"{defect.old!r} is in {len(matches)} cells of {defect.part}.ipynb, not exactly one")
    cell = notebook.cells[matches[0]]
    if defect.insert:
        new_cell = nbformat.v4.new_code_cell(defect.new)
        new_cell.id = f"defect-{matches[0]}"
        notebook.cells.insert(matches[0] + 1, new_cell)
    else:
        cell.source = cell.source.replace(defect.old, defect.new)
    return notebook


def corpus_texts() -> dict[str, str]:
    """File name → text of every corpus submission."""
    texts = {f"{name}.ipynb": nbformat.writes(with_defect(defect)) + "\n" for name, defect in DEFECTS.items()}
    texts.update({name: make() for name, make in BROKEN_FILES.items()})
    return texts


def write_corpus(folder: Path = FOLDER) -> list[Path]:
    """Write the corpus into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in corpus_texts().items():
        (folder / name).write_text(text)
        paths.append(folder / name)
    return paths


if __name__ == "__main__":
    for path in write_corpus():
        print(path)
