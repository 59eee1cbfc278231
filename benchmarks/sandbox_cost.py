"""What the sandbox costs per notebook: the same notebooks graded sealed and with --no-sandbox, side by side.

Usage: FASTAI_HOME=... python benchmarks/sandbox_cost.py [--repeat N] [NOTEBOOK...]
Default notebooks: a blank sgd notebook (the fixed cost: kernel start, seal, probes) and the sgd and
baseline solutions. Each notebook is graded alone by `grader check`, alternating the two modes, N
times (default 3); the table shows the median seconds of the grading step (`execute_seconds` in
results.json: kernel start to last probe) and of the whole submission, and the difference.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = [REPO / "assignments" / "sgd" / "sgd.ipynb", REPO / "reference" / "solutions" / "sgd.ipynb",
           REPO / "reference" / "solutions" / "baseline.ipynb"]


def graded_seconds(notebook: Path, *, sandbox: bool) -> tuple[float, float]:
    """(kernel seconds, submission seconds) of one `grader check` of `notebook`."""
    with tempfile.TemporaryDirectory() as out:
        flags = [] if sandbox else ["--no-sandbox"]
        subprocess.run([sys.executable, "-m", "grader", "check", str(notebook), "--out", out, "--format", "json",
                        *flags], check=True, capture_output=True, cwd=REPO)  # the chapter course
        [submission] = json.loads((Path(out) / "results.json").read_text())["submissions"]
        return submission["execute_seconds"], submission["seconds"]


def main() -> None:
    """Grade each notebook in both modes, alternating, and print medians side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'notebook':<34} {'sealed s':>9} {'unsealed s':>11} {'added s':>8}   (kernel start to last probe; "
          f"median of {args.repeat})")
    for notebook in args.notebooks:
        times = {True: [], False: []}
        for _ in range(args.repeat):
            for sandbox in (True, False):
                times[sandbox].append(graded_seconds(notebook, sandbox=sandbox)[0])
        sealed, unsealed = statistics.median(times[True]), statistics.median(times[False])
        name = f"{notebook.parent.name}/{notebook.name}"
        print(f"{name:<34} {sealed:>9.2f} {unsealed:>11.2f} {sealed - unsealed:>+8.2f}")


if __name__ == "__main__":
    main()
