"""Run a notebook, then probe cells, in a fresh kernel with nbclient: timeouts, errors and kernel death recorded.

Student cells run with errors allowed (later cells still run); a cell past its timeout is
interrupted and the run goes on; when the kernel dies (or stops answering), a fresh kernel replays
the cells before the fatal one so that work done before it can still be probed, and the cells after
it count as not run. Warnings and stderr are just output.
"""
from __future__ import annotations

import copy
import math
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader.results import ExecutionProblem, Status

TIMEOUT_ENAME = "CellTimeoutError"
SEED_CELLS = 1  # cells the grader runs before the student's first cell
RESPONSIVE_SECONDS = 15
SEED_SOURCE = """\
def __grader_seed__(seed):
    import random
    random.seed(seed)
    try:
        import numpy
        numpy.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch
        torch.manual_seed(seed)
        torch.cuda.manual_seed_all(seed)
    except ImportError:
        pass
__grader_seed__({seed})
del __grader_seed__"""


@dataclass(frozen=True)
class ProbeFailure:
    """Why a probe cell did not finish, and the status its check gets (failed when the student's code was at fault)."""

    status: Status
    message: str


@dataclass
class Execution:
    """What happened: the executed student notebook, its problems, and each probe's fate."""

    notebook: nbformat.NotebookNode
    problems: list[ExecutionProblem] = field(default_factory=list)
    probe_failures: dict[str, ProbeFailure] = field(default_factory=dict)  # probe name → why it did not finish
    seconds: float = 0.0
    replays: int = 0

    def problem_at(self, index: int) -> ExecutionProblem | None:
        """The problem recorded for student cell `index`, if any (a not-run range counts)."""
        for problem in self.problems:
            if problem.cell_index == index or (problem.kind in ("kernel_died", "notebook_timeout")
                                               and problem.cell_index is not None and index > problem.cell_index):
                return problem
        return None


@dataclass
class _Run:
    """Mutable state of one execution: the notebook nbclient runs, the client, and the last reply seen."""

    nb: nbformat.NotebookNode
    client: NotebookClient | None = None
    reply: dict | None = None

    @property
    def cells(self) -> list[nbformat.NotebookNode]:
        """Seed cell, student cells, then probe cells (nbclient writes each executed cell back here)."""
        return self.nb.cells


class _KernelGone(Exception):
    """The kernel died or stopped answering."""


def execute(notebook: nbformat.NotebookNode, *, probes: list[tuple[str, str, float]], cwd: Path,
            env: dict[str, str], seed: int, cell_timeout: float, notebook_timeout: float,
            probe_runtime: str) -> Execution:
    """Run a seed cell, the student's cells, then `probe_runtime` and `probes` (name, source, timeout), one kernel."""
    started = time.monotonic()
    student = copy.deepcopy(notebook)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    seed_cell = nbformat.v4.new_code_cell(SEED_SOURCE.format(seed=int(seed)))
    run = _Run(nbformat.v4.new_notebook(cells=[seed_cell] + list(student.cells)))
    execution = Execution(student)
    deadline = started + notebook_timeout
    try:
        _start(run, cwd=cwd, env=env)
        _run_cell(run, 0, cell_timeout)
        fatal = _run_student_cells(run, execution, deadline, cell_timeout)
        if fatal is not None:
            _replay(run, execution, upto=fatal, cwd=cwd, env=env, cell_timeout=cell_timeout)
        _run_probes(run, execution, probe_runtime, probes, cwd=cwd, env=env, cell_timeout=cell_timeout)
    finally:
        _stop(run)
    execution.seconds = time.monotonic() - started
    return execution


def _start(run: _Run, *, cwd: Path, env: dict[str, str]) -> None:
    """A fresh kernel (the venv's python3) in `cwd` with `env`."""
    _stop(run)
    client = NotebookClient(run.nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
                            resources={"metadata": {"path": str(cwd)}}, startup_timeout=120,
                            shutdown_kernel="immediate", record_timing=False)
    client.on_cell_executed = lambda cell, cell_index, execute_reply: setattr(run, "reply", execute_reply)
    client.reset_execution_trackers()
    client.km = client.create_kernel_manager()
    client.start_new_kernel(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client.start_new_kernel_client()
    run.client = client


def _stop(run: _Run) -> None:
    """Shut the kernel down (quietly if it is already dead)."""
    if run.client is not None:
        try:
            run.client._cleanup_kernel()
        except Exception:
            pass
        run.client = None


def _run_cell(run: _Run, index: int, timeout: float) -> dict | None:
    """Execute one cell; the error content of its reply (None when it succeeded). Raises _KernelGone."""
    run.client.timeout = max(1, math.ceil(timeout))
    run.reply = None
    try:
        run.client.execute_cell(run.cells[index], index)
    except DeadKernelError as error:
        raise _KernelGone(str(error)) from error
    content = (run.reply or {}).get("content", {})
    if content.get("status") != "error":
        return None
    if content.get("ename") == TIMEOUT_ENAME and not _responsive(run):
        raise _KernelGone("the kernel did not respond after a timed-out cell was interrupted")
    return content


def _responsive(run: _Run) -> bool:
    """True when the kernel runs a trivial cell within a few seconds."""
    run.cells.append(nbformat.v4.new_code_cell("None"))
    run.client.timeout = RESPONSIVE_SECONDS
    run.reply = None
    try:
        run.client.execute_cell(run.cells[-1], len(run.cells) - 1)
    except DeadKernelError:
        return False
    finally:
        run.cells.pop()
    return (run.reply or {}).get("content", {}).get("ename") != TIMEOUT_ENAME


def _problem(kind: str, cell, index: int | None, content: dict) -> ExecutionProblem:
    """An ExecutionProblem for a student cell."""
    return ExecutionProblem(kind=kind, cell_index=index, cell_source=cell.source if cell is not None else "",
                            ename=content.get("ename", ""), evalue=content.get("evalue", ""),
                            traceback="\n".join(content.get("traceback", []))[-6000:])


def _run_student_cells(run: _Run, execution: Execution, deadline: float, cell_timeout: float) -> int | None:
    """Run every student cell; the index of the cell that killed the kernel, if one did."""
    for index, cell in enumerate(execution.notebook.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            execution.problems.append(_problem("notebook_timeout", cell, index, {
                "ename": "NotebookTimeout", "evalue": "the whole-notebook time limit ran out before this cell"}))
            return None
        try:
            content = _run_cell(run, SEED_CELLS + index, min(cell_timeout, remaining))
        except _KernelGone as gone:
            execution.problems.append(_problem("kernel_died", cell, index, {"ename": "DeadKernelError",
                                                                             "evalue": str(gone)}))
            return index
        if content is not None:
            timed_out = content.get("ename") == TIMEOUT_ENAME
            limit = min(cell_timeout, remaining)
            if timed_out:
                content = {"ename": "CellTimeoutError", "evalue": f"the cell ran longer than {limit:.0f}s"}
            execution.problems.append(_problem("timeout" if timed_out else "error", cell, index, content))
    return None


def _replay(run: _Run, execution: Execution, *, upto: int, cwd: Path, env: dict[str, str],
            cell_timeout: float) -> None:
    """A fresh kernel re-running the seed cell and the student cells before `upto` (timed-out cells skipped)."""
    execution.replays += 1
    skip = {p.cell_index for p in execution.problems if p.kind == "timeout"}
    try:
        _start(run, cwd=cwd, env=env)
        _run_cell(run, 0, cell_timeout)
        for index in range(upto):
            cell = execution.notebook.cells[index]
            if cell.cell_type == "code" and cell.source.strip() and index not in skip:
                _run_cell(run, SEED_CELLS + index, cell_timeout)
    except _KernelGone:
        _stop(run)


def _run_probes(run: _Run, execution: Execution, runtime: str, probes: list[tuple[str, str, float]], *,
                cwd: Path, env: dict[str, str], cell_timeout: float) -> None:
    """The runtime cell, then each probe cell with its own timeout; after a death, replay once and go on."""
    first = len(run.cells)
    run.cells.append(nbformat.v4.new_code_cell(runtime))
    run.cells.extend(nbformat.v4.new_code_cell(source) for _, source, _ in probes)
    ready = _start_probing(run, first, cell_timeout)
    for position, (name, _, timeout) in enumerate(probes):
        if not ready:
            execution.probe_failures[name] = ProbeFailure(Status.NOT_RUN, "not run: no live kernel was left to check this in")
            continue
        try:
            content = _run_cell(run, first + 1 + position, timeout)
        except _KernelGone as gone:
            execution.probe_failures[name] = ProbeFailure(Status.FAILED, f"the kernel died while this was being checked ({gone})")
            ready = execution.replays < 2 and _recover(run, execution, first, cwd=cwd, env=env,
                                                       cell_timeout=cell_timeout)
            continue
        if content is not None:
            timed_out = content.get("ename") == TIMEOUT_ENAME
            execution.probe_failures[name] = (
                ProbeFailure(Status.FAILED, f"checking it took longer than {timeout:.0f}s") if timed_out else
                ProbeFailure(Status.NOT_RUN, f"the probe failed: {content.get('ename')}: {content.get('evalue')}"))


def _start_probing(run: _Run, runtime_index: int, cell_timeout: float) -> bool:
    """Run the runtime cell; False when there is no live kernel to probe."""
    if run.client is None:
        return False
    try:
        return _run_cell(run, runtime_index, cell_timeout) is None
    except _KernelGone:
        _stop(run)
        return False


def _recover(run: _Run, execution: Execution, runtime_index: int, *, cwd: Path, env: dict[str, str],
             cell_timeout: float) -> bool:
    """After a probe killed the kernel: replay the student's cells in a fresh kernel and reload the runtime."""
    died = [p.cell_index for p in execution.problems if p.kind == "kernel_died"]
    _replay(run, execution, upto=died[0] if died else len(execution.notebook.cells), cwd=cwd, env=env,
            cell_timeout=cell_timeout)
    return _start_probing(run, runtime_index, cell_timeout)
