"""The book's helper package in a sealed student kernel: `from fastbook import *`, `setup_book()`, `plot_function`
and `gv` run with no execution problem (also without Graphviz's `dot`), and fastbook's heavy declared dependencies
stay uninstalled (README.md, Set up: `pip install --no-deps fastbook==0.0.29`)."""
from __future__ import annotations

import importlib.util
import json

import nbformat
import pytest

from conftest import run_grader

HEAVY = ("transformers", "datasets", "sentencepiece")  # fastbook declares them for other chapters; chapter 4 never uses them

CELLS = [  # the chapter's own cells first
    "#hide\n! [ -e /content ] && pip install -Uqq fastbook\nimport fastbook\nfastbook.setup_book()",
    "#hide\nfrom fastai.vision.all import *\nfrom fastbook import *\n\nmatplotlib.rc('image', cmap='Greys')",
    "def f(x): return x**2\nplot_function(f, 'x', 'x**2')\nplt.scatter(-1.5, f(-1.5), color='red');",
    "plot_function(torch.sigmoid, title='Sigmoid', min=-4, max=4)",
    # the last expression is displayed: without `dot` its SVG cannot be made and IPython falls back to text
    "gv('''\ninit->predict->loss->gradient->step->stop\nstep->predict[label=repeat]\n''')",
    # the same fallback where `dot` is installed: a rich display that raises does not fail its cell
    "class Unshowable:\n    def _repr_html_(self):\n        raise RuntimeError('cannot be drawn here')\nUnshowable()",
    # in the kernel itself: none of the heavy packages can be imported (an error here would be a problem)
    f"import importlib.util\nfound = [n for n in {HEAVY!r} if importlib.util.find_spec(n)]\n"
    "assert not found, f'installed: {found}'\ntry:\n    import transformers\nexcept ModuleNotFoundError:\n    pass\n"
    "else:\n    raise AssertionError('transformers imported')",
]


def test_heavy_dependencies_are_not_installed():
    assert importlib.util.find_spec("fastbook") is not None, "install it: pip install --no-deps fastbook==0.0.29"
    assert [name for name in HEAVY if importlib.util.find_spec(name)] == []
    with pytest.raises(ModuleNotFoundError):
        import transformers  # noqa: F401


def test_book_helpers_run_in_the_sandbox_without_problems(fastai_home, tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(notebook, submissions / "baseline.ipynb")  # graded as the baseline part: its checks fail, fine
    done = run_grader("check", str(submissions), "--out", str(tmp_path / "out"), "--format", "json",
                      env={"FASTAI_HOME": str(fastai_home)}, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    [submission] = results["submissions"]
    assert results["sandboxed"] and submission["sandboxed"]
    assert submission["assignment"] == "baseline" and submission["error"] is None
    assert submission["problems"] == []
