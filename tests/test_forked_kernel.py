"""Pre-imported kernels: each starts clean, cannot reach its template or an earlier kernel, and runs as a cold one."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nbformat
import pytest

from grader.course import load_course
from grader.execute import execute
from grader.forked_kernel import KernelTemplate
from grader.pipeline import Options, make_jail
from grader.sandbox import processes_of, state_and_threads, unavailable_reason

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}")

LEAVE_TRACES = '''
import json, os, signal, subprocess, sys
json.leaked_by_earlier_kernel = True
sys.modules["os"].environ["LEAKED"] = "1"
for folder in ("/tmp", "/submission", "/dev/shm"):
    open(os.path.join(folder, "leaked"), "w").write("from an earlier kernel")
sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
others = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid())
mine = {int(tid) for tid in os.listdir("/proc/self/task")}  # a thread's id names its whole process
for pid in range(1, 400):
    if pid not in mine:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
print("visible", others)
'''
LOOK_FOR_TRACES = '''
import json, os
print("json", hasattr(json, "leaked_by_earlier_kernel"))
print("env", os.environ.get("LEAKED"))
print("files", [f for f in ("/tmp", "/submission", "/dev/shm") if os.path.exists(os.path.join(f, "leaked"))])
print("processes", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print("pid", os.getpid())
'''


def _notebook(*sources: str) -> nbformat.NotebookNode:
    """A notebook of code cells."""
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])


def _run(notebook, tmp_path: Path, *, jail, kernels=None, cell_timeout: float = 60):
    """Execute `notebook` (no probes) in `jail`, forked from `kernels` when given."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    return execute(notebook, probes=[], cwd=work, env={}, seed=0, cell_timeout=cell_timeout,
                   notebook_timeout=20 * cell_timeout, jail=jail, kernels=kernels)


def _text(cell, streams: tuple[str, ...] = ("stdout",)) -> str:
    """What a cell printed on `streams` or returned as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.get("text", "") if output.get("name") in streams else "")
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.fixture
def template(fixture_course):
    """A kernel template for the fixture course, closed afterwards."""
    options = Options(course=load_course(fixture_course))
    made = KernelTemplate(lambda: make_jail(options), preload=("json",))
    yield made
    made.close()


def test_a_forked_kernel_cannot_reach_its_template_and_leaves_nothing_for_the_next(template, tmp_path):
    jail = template.ready_jail()
    assert jail is not None, template.unavailable
    template_pids = set(template._template_pids)
    first = _run(_notebook(LEAVE_TRACES), tmp_path, jail=jail, kernels=template)
    template.clean()
    assert not first.problems, first.problems
    visible = _text(first.notebook.cells[0])
    # the kernel's /proc shows its own namespace only: its reaper (1), itself and what it started
    assert re.search(r"visible \[1(, \d+)*\]", visible), visible
    assert template.ready_jail() is jail, "the template survived the kernel's attempt to kill everything it could"
    # a zombie runs nothing (kill_uid counts it gone); on a loaded machine its parent may not have reaped it yet
    left = {pid: state_and_threads(pid)[0] for pid in processes_of(jail.uid) if pid not in template_pids}
    assert set(left.values()) <= {"Z", "X", None}, f"what the kernel started outlived it: {left}"

    second = _run(_notebook(LOOK_FOR_TRACES), tmp_path, jail=jail, kernels=template)
    template.clean()
    text = _text(second.notebook.cells[0])
    assert "json False" in text and "env None" in text and "files []" in text, text
    pid = int(re.search(r"pid (\d+)", text).group(1))
    assert re.search(r"processes \[1, %d\]" % pid, text), text


def test_the_template_imports_once_never_touches_cuda_and_forks_from_one_thread(template):
    assert template.ready_jail() is not None, template.unavailable
    assert template.report["failed"] == {} and template.report["threads"] == 1
    assert template.report["cuda"] is False


def test_a_template_that_died_is_started_again_in_the_same_jail(template, tmp_path):
    jail = template.ready_jail()
    template._process.kill()
    template._process.wait()
    done = _run(_notebook("print(6 * 7)"), tmp_path, jail=jail, kernels=template)
    template.clean()
    assert _text(done.notebook.cells[0]).strip() == "42"
    assert template.jail is jail and template._process.poll() is None


def _normalised(text: str) -> str:
    """Cell text without what differs between any two runs: addresses, timings, temporary names."""
    text = re.sub(r"0x[0-9a-f]+", "0x?", text)
    text = re.sub(r"\b\d+(\.\d+)?\s*(ms|s|µs|us)\b", "?s", text)
    return re.sub(r"\b\d\d:\d\d\b", "??:??", text)


# full MNIST's CPU training is not bitwise reproducible from one process to the next, cold or forked (two cold runs
# on this machine, in different sessions, ended with confusion matrices 971 vs 969 in their first cell): from its
# first training cell on, what those cells show is compared by kind only
TRAINED_FROM = {"full_mnist": 12}
SOLUTIONS = ["baseline", "sgd", "linear", "questionnaire",
             pytest.param("learner", marks=pytest.mark.slow), pytest.param("from_scratch", marks=pytest.mark.slow),
             pytest.param("full_mnist", marks=pytest.mark.slow)]


@pytest.mark.parametrize("part", SOLUTIONS)
def test_a_solution_notebook_prints_the_same_in_a_forked_kernel_as_in_a_cold_one(part, fastai_home, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv("FASTAI_HOME", str(fastai_home))
    course = load_course(REPO)
    options = Options(course=course)
    notebook = nbformat.read(REPO / "reference" / "solutions" / f"{part}.ipynb", as_version=4)
    cold_jail = make_jail(options)
    try:
        cold = _run(notebook, tmp_path, jail=cold_jail, cell_timeout=900)
    finally:
        cold_jail.close()
    template = KernelTemplate(lambda: make_jail(options), preload=course.preload)
    try:
        forked = _run(notebook, tmp_path, jail=template.ready_jail(), kernels=template, cell_timeout=900)
    finally:
        template.close()
    assert [p.headline for p in forked.problems] == [p.headline for p in cold.problems]
    for index, (one, other) in enumerate(zip(cold.notebook.cells, forked.notebook.cells)):
        if one.cell_type == "code":
            if index + 1 < TRAINED_FROM.get(part, len(cold.notebook.cells) + 1):
                assert _normalised(_text(other)) == _normalised(_text(one)), f"cell {index + 1}: {one.source[:80]}"
            # warnings the preloaded modules print when imported went to the template's log, not to this cell
            errors = lambda cell: set(_normalised(_text(cell, ("stderr",))).splitlines())  # noqa: E731
            assert errors(other) <= errors(one), f"cell {index + 1} warns of something a cold kernel does not"
            kinds = lambda cell: sorted(k for o in cell.get("outputs", []) for k in o.get("data", {}))  # noqa: E731
            assert kinds(other) == kinds(one), f"cell {index + 1} shows other kinds of output"
