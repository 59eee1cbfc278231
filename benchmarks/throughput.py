"""How fast a class is graded: serial cold kernels vs the defaults, start-up per notebook, grading vs executing, Dask.

    FASTAI_HOME=... python benchmarks/throughput.py [--skip-dask] [--part baseline]

Prints, from one run on this machine:
(a) a class of 16 submissions (the example class, plus the solution and the blank notebook of baseline, sgd,
    linear and the questionnaire) graded as before workers and templates (`--workers 1 --cold-kernels`)
    and (b) with the defaults, with the ratio b/a;
(c) the fixed start-up per notebook: a sealed cold kernel vs a kernel forked from a template, each running
    one cell `from fastai.vision.all import *` (the template's own start is paid once per worker);
(d) `grader check` of one solution notebook vs a bare `jupyter execute` of the same notebook;
(e) the 16 through a two-worker Dask LocalCluster (`--scheduler`) vs `--workers 2`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("baseline", "sgd", "linear", "questionnaire")


def make_class(folder: Path) -> Path:
    """The 16 submissions, as <student>/<part>.ipynb."""
    shutil.copytree(REPO / "examples" / "submissions", folder / "class")
    for part in PARTS:
        for student, source in (("solution", REPO / "reference" / "solutions"), ("blank", REPO / "assignments" / part)):
            (folder / "class" / student).mkdir(exist_ok=True)
            shutil.copy(source / f"{part}.ipynb", folder / "class" / student / f"{part}.ipynb")
    return folder / "class"


def timed(argv: list[str], *, cwd: Path = REPO) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of a command, and its result."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, done


def grade(submissions: Path, out: Path, *options: str) -> tuple[float, dict]:
    """Wall seconds of `grader check` on `submissions`, and the scores it gave (student/part → score)."""
    seconds, done = timed([sys.executable, "-m", "grader", "check", str(submissions), "--out", str(out),
                           "--format", "json", *options])
    if done.returncode not in (0, 3):
        raise SystemExit(f"grader check {' '.join(options)} failed:\n{done.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())["submissions"]
    return seconds, {f"{r['student']}/{r['assignment']}": r.get("score") for r in results}


def startup_per_notebook() -> tuple[float, float, float]:
    """Seconds for a cold sealed kernel, and a forked one, to run `from fastai.vision.all import *`; the template's."""
    import nbformat

    from grader.course import load_course
    from grader.execute import execute
    from grader.forked_kernel import KernelTemplate
    from grader.pipeline import Options, make_jail

    course = load_course(REPO)
    options = Options(course=course)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from fastai.vision.all import *")])

    def run(jail, kernels=None) -> float:
        with tempfile.TemporaryDirectory() as work:
            done = execute(notebook, probes=[], cwd=Path(work), env={}, seed=0, cell_timeout=120,
                           notebook_timeout=300, jail=jail, kernels=kernels)
        assert not done.problems, done.problems
        return done.seconds

    jail = make_jail(options)
    try:
        cold = min(run(jail) for _ in range(2))
    finally:
        jail.close()
    template = KernelTemplate(lambda: make_jail(options), preload=course.preload)
    try:
        jail = template.ready_jail()
        forked = []
        for _ in range(3):
            forked.append(run(jail, template))
            template.clean()
        return cold, min(forked), template.startup_seconds
    finally:
        template.close()


def dask_vs_workers(submissions: Path, folder: Path) -> tuple[float, float, dict, dict]:
    """Wall seconds (and scores) of the class through a two-worker LocalCluster, and with --workers 2."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_seconds, dask_scores = grade(submissions, folder / "dask", "--scheduler", cluster.scheduler_address)
    local_seconds, local_scores = grade(submissions, folder / "two", "--workers", "2")
    return dask_seconds, local_seconds, dask_scores, local_scores


def main() -> None:
    """Run every measurement and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-dask", action="store_true", help="leave out (e)")
    parser.add_argument("--part", default="baseline", help="the solution notebook for (d)")
    args = parser.parse_args()
    if "FASTAI_HOME" not in os.environ:
        print("note: FASTAI_HOME is unset; the data must be at ~/.fastai (grader data)", file=sys.stderr)
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="throughput-") as scratch:
        folder = Path(scratch)
        submissions = make_class(folder)
        count = len(list(submissions.rglob("*.ipynb")))
        serial, serial_scores = grade(submissions, folder / "serial", "--workers", "1", "--cold-kernels")
        default, default_scores = grade(submissions, folder / "default")
        cold, forked, template = startup_per_notebook()
        notebook = REPO / "reference" / "solutions" / f"{args.part}.ipynb"
        checked, _ = grade(notebook, folder / "one", "--workers", "1")
        executed, done = timed(["jupyter", "execute", "--timeout=600", str(notebook)], cwd=folder)
        if done.returncode != 0:
            raise SystemExit(f"jupyter execute failed:\n{done.stderr[-3000:]}")
        print(f"machine: {cores} cores; {count} submissions")
        print(f"{'':58}{'seconds':>10}{'ratio':>8}")
        print(f"{'(a) serial, cold kernels (--workers 1 --cold-kernels)':58}{serial:10.1f}")
        print(f"{'(b) defaults (workers, pre-imported kernels)':58}{default:10.1f}{default / serial:8.2f}")
        print(f"{'    same scores in (a) and (b)':58}{str(serial_scores == default_scores):>10}")
        print(f"{'(c) start-up per notebook: cold sealed kernel':58}{cold:10.2f}")
        print(f"{'    forked from the template':58}{forked:10.2f}{forked / cold:8.2f}")
        print(f"{'    the template itself (once per worker)':58}{template:10.2f}")
        print(f"{f'(d) grader check {args.part} solution (one worker)':58}{checked:10.1f}")
        print(f"{f'    jupyter execute {args.part} solution':58}{executed:10.1f}{checked / executed:8.2f}")
        if not args.skip_dask:
            dask_seconds, local_seconds, dask_scores, local_scores = dask_vs_workers(submissions, folder)
            print(f"{'(e) --workers 2':58}{local_seconds:10.1f}")
            print(f"{'    two-worker Dask LocalCluster (--scheduler)':58}{dask_seconds:10.1f}"
                  f"{dask_seconds / local_seconds:8.2f}")
            print(f"{'    same scores as (a)':58}{str(dask_scores == serial_scores == local_scores):>10}")


if __name__ == "__main__":
    main()
