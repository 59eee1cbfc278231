"""Time grading one solution notebook with `grader check` against merely executing it with nbclient.

Usage: FASTAI_HOME=... python benchmarks/grade_vs_execute.py [PART]   (default: baseline)
Both runs happen here, one after the other, on the same machine; prints seconds for each.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


def execute_only(path: Path) -> float:
    """Seconds to run the notebook top to bottom in a fresh kernel with plain nbclient."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": scratch}}).execute()
        return time.perf_counter() - started


def grade(path: Path) -> float:
    """Seconds for `grader check` on the notebook (kernel, probes, reference, comparison, results.json)."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader", "check", str(path), "--out", out], check=True,
                       capture_output=True)
        return time.perf_counter() - started


if __name__ == "__main__":
    part = sys.argv[1] if len(sys.argv) > 1 else "baseline"
    notebook = REPO / "reference" / "solutions" / f"{part}.ipynb"
    print(f"FASTAI_HOME={os.environ.get('FASTAI_HOME', '~/.fastai')}  notebook={notebook.relative_to(REPO)}")
    executed = execute_only(notebook)
    print(f"nbclient execute only: {executed:6.1f} s")
    graded = grade(notebook)
    print(f"grader check:          {graded:6.1f} s  ({graded / executed:.2f}x)")
