"""Run a notebook, then probe cells, in a fresh kernel with nbclient: timeouts, errors and kernel death recorded.

Student cells run with errors allowed (later cells still run); a cell past its timeout is
interrupted and the run goes on; when the kernel dies (or stops answering), a fresh kernel replays
the cells before the fatal one so that work done before it can still be probed, and the cells after
it count as not run. Warnings and stderr are just output, kept up to OUTPUT_LIMIT bytes a notebook.
With a `Jail`, every kernel runs sealed in it. After the student's last cell a seal cell turns the
kernel into a probe server (see `probe_runtime.seal`) that answers each probe over a private socket.
"""
from __future__ import annotations

import copy
import logging
from contextlib import contextmanager
import math
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader.probe import ProbePlan, ProbeRecord, read_record, seal_cell_source
from grader.probe_channel import ChannelClosed, ProbeChannel
from grader.results import ExecutionProblem, Status
from grader.sandbox import Jail

TIMEOUT_ENAME = "CellTimeoutError"
# ipykernel 7 fails a cell whose code ran but whose result could not be displayed (a `_repr_*_` raised, e.g.
# graphviz without its `dot` program); no exception was raised, so the reply names None's type. Not a problem:
# the code ran, IPython showed the plain-text form and the formatter's traceback as output.
DISPLAY_ONLY_ENAME = "NoneType"
SEED_CELLS = 1  # cells the grader runs before the student's first cell
RESPONSIVE_SECONDS = 15
SEAL_SECONDS = 60
OUTPUT_LIMIT = 32 << 20
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
    records: dict[str, ProbeRecord | None] = field(default_factory=dict)  # probe name → what it reported
    seconds: float = 0.0
    replays: int = 0
    stages: dict[str, float] = field(default_factory=dict)  # seconds: start (kernel and seed cell), execute, probe

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
    jail: Jail | None
    cwd: Path
    env: dict[str, str]
    kernels: Any = None  # a KernelTemplate to fork kernels from (None: start each kernel cold)
    client: NotebookClient | None = None
    channel: ProbeChannel | None = None
    reply: dict | None = None

    @property
    def cells(self) -> list[nbformat.NotebookNode]:
        """Seed cell, student cells, then probe cells (nbclient writes each executed cell back here)."""
        return self.nb.cells


def _drop_orphaned_liveness_task(record: logging.LogRecord) -> bool:
    """Hide nbclient's kernel-liveness task failing after its kernel was torn down (noise, not a problem)."""
    task = getattr(record, "args", None)
    text = record.getMessage()
    return not ("Task exception was never retrieved" in text and "_async_poll_kernel_alive" in str(task or text))


logging.getLogger("asyncio").addFilter(_drop_orphaned_liveness_task)


class _KernelGone(Exception):
    """The kernel died or stopped answering."""


class _BoundedClient(NotebookClient):
    """An nbclient that keeps at most OUTPUT_LIMIT bytes of a notebook's outputs, then one note saying so."""

    kept = 0

    def output(self, outs, msg, display_id, cell_index):
        """Keep an output while the notebook's budget lasts."""
        size = len(repr(msg.get("content", "")))
        self.kept += size
        if self.kept <= OUTPUT_LIMIT:
            return super().output(outs, msg, display_id, cell_index)
        if self.kept - size <= OUTPUT_LIMIT:
            note = nbformat.v4.new_output("stream", name="stderr", text=f"[grader: output beyond "
                                          f"{OUTPUT_LIMIT >> 20} MB was dropped]\n")
            outs.append(note)
        return None


def execute(notebook: nbformat.NotebookNode, *, probes: list[ProbePlan], cwd: Path, env: dict[str, str], seed: int,
            cell_timeout: float, notebook_timeout: float, jail: Jail | None = None, kernels: Any = None) -> Execution:
    """Run a seed cell and the student's cells in a kernel (sealed in `jail` when given, forked from `kernels`'
    template when given), then every probe."""
    started = time.monotonic()
    student = copy.deepcopy(notebook)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    seed_cell = nbformat.v4.new_code_cell(SEED_SOURCE.format(seed=int(seed)))
    run = _Run(nbformat.v4.new_notebook(cells=[seed_cell] + list(student.cells)), jail, cwd, env, kernels)
    execution = Execution(student)
    deadline = started + notebook_timeout
    clock = _StageClock(execution.stages)
    try:
        with clock("start"):
            _start(run)
            _run_cell(run, 0, cell_timeout)
        with clock("execute"):
            fatal = _run_student_cells(run, execution, deadline, cell_timeout)
            if fatal is not None:
                _replay(run, execution, upto=fatal, cell_timeout=cell_timeout)
        with clock("probe"):
            _run_probes(run, execution, probes, cell_timeout=cell_timeout)
    finally:
        with clock("probe"):
            _stop(run)
    execution.seconds = time.monotonic() - started
    return execution


class _StageClock:
    """Adds the seconds spent inside `with clock(name):` to `stages[name]`."""

    def __init__(self, stages: dict[str, float]) -> None:
        self.stages = stages

    @contextmanager
    def __call__(self, name: str):
        begun = time.monotonic()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.monotonic() - begun


def _start(run: _Run) -> None:
    """A fresh kernel (the venv's python3), sealed in the run's jail if it has one, with a probe channel."""
    from grader.sealed_kernel import SealedKernelManager

    _stop(run)
    if run.jail is not None:
        run.jail.stopped_because = None
    client = _BoundedClient(run.nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
                            resources={"metadata": {"path": str(run.jail.folder if run.jail else run.cwd)}},
                            startup_timeout=120, shutdown_kernel="immediate", record_timing=False)
    client.on_cell_executed = lambda cell, cell_index, execute_reply: setattr(run, "reply", execute_reply)
    client.reset_execution_trackers()
    if run.jail is None:
        client.km = client.create_kernel_manager()
    else:
        client.km = run.kernels.manager(run.jail) if run.kernels else SealedKernelManager(jail=run.jail)
    run.client, run.channel = client, ProbeChannel()
    client.start_new_kernel(env=run.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            pass_fds=(run.channel.kernel_fd,))
    run.channel.launched()
    client.start_new_kernel_client()


def _stop(run: _Run) -> None:
    """Shut the kernel down (quietly if it is already dead) and kill whatever it left behind."""
    if run.channel is not None:
        run.channel.finish()
        run.channel.close()
        run.channel = None
    if run.client is not None:
        try:
            run.client._cleanup_kernel()
        except Exception:
            pass
        run.client = None
    if run.jail is not None:
        run.jail.sweep()


def _run_cell(run: _Run, index: int, timeout: float) -> dict | None:
    """Execute one cell; the error content of its reply (None when it succeeded). Raises _KernelGone."""
    run.client.timeout = max(1, math.ceil(timeout))
    run.reply = None
    try:
        run.client.execute_cell(run.cells[index], index)
    except DeadKernelError as error:
        raise _KernelGone(str(error)) from error
    except Exception as error:  # the notebook wrote into the kernel's own sockets: treat that kernel as gone
        raise _KernelGone(f"the kernel's messages were garbled ({type(error).__name__}: {error})") from error
    content = (run.reply or {}).get("content", {})
    if content.get("status") != "error" or content.get("ename") == DISPLAY_ONLY_ENAME:
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
    except Exception:  # dead, or its messages garbled
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
            reason = (run.jail and run.jail.stopped_because) or str(gone)
            execution.problems.append(_problem("kernel_died", cell, index, {"ename": "DeadKernelError",
                                                                             "evalue": reason}))
            return index
        if content is not None:
            timed_out = content.get("ename") == TIMEOUT_ENAME
            limit = min(cell_timeout, remaining)
            if timed_out:
                content = {"ename": "CellTimeoutError", "evalue": f"the cell ran longer than {limit:.0f}s"}
            execution.problems.append(_problem("timeout" if timed_out else "error", cell, index, content))
    return None


def _replay(run: _Run, execution: Execution, *, upto: int, cell_timeout: float) -> None:
    """A fresh kernel re-running the seed cell and the student cells before `upto` (timed-out cells skipped)."""
    execution.replays += 1
    skip = {p.cell_index for p in execution.problems if p.kind == "timeout"}
    try:
        _start(run)
        _run_cell(run, 0, cell_timeout)
        for index in range(upto):
            cell = execution.notebook.cells[index]
            if cell.cell_type == "code" and cell.source.strip() and index not in skip:
                _run_cell(run, SEED_CELLS + index, cell_timeout)
    except _KernelGone:
        _stop(run)


def _run_probes(run: _Run, execution: Execution, probes: list[ProbePlan], *, cell_timeout: float) -> None:
    """Seal the kernel, then ask each probe in turn; when the probe server dies, replay once more and go on."""
    pending = list(probes)
    while pending:
        if not _seal(run):
            for plan in pending:
                execution.probe_failures[plan.key] = ProbeFailure(Status.NOT_RUN,
                                                                  "not run: no live kernel was left to check this in")
            return
        while pending:
            plan = pending.pop(0)
            try:
                reply, tensors = run.channel.ask(plan.request(), plan.inputs)
            except ChannelClosed as closed:
                execution.probe_failures[plan.key] = ProbeFailure(
                    Status.FAILED, f"the kernel died while this was being checked ({closed})")
                if execution.replays >= 2:
                    continue
                died = [p.cell_index for p in execution.problems if p.kind == "kernel_died"]
                _replay(run, execution, upto=died[0] if died else len(execution.notebook.cells),
                        cell_timeout=cell_timeout)
                break
            _take_reply(execution, plan, reply, tensors)


def _take_reply(execution: Execution, plan: ProbePlan, reply: dict, tensors: bytes) -> None:
    """Record what the probe server said about one probe."""
    status = reply.get("status")
    if status == "ok":
        execution.records[plan.key] = read_record(reply.get("record"), tensors)
    elif status == "timeout":
        execution.probe_failures[plan.key] = ProbeFailure(Status.FAILED,
                                                          f"checking it took longer than {plan.check.timeout:.0f}s")
    elif status == "too_large":
        execution.probe_failures[plan.key] = ProbeFailure(Status.FAILED, "what this returned was too large to check")
    else:
        execution.probe_failures[plan.key] = ProbeFailure(
            Status.FAILED, f"the kernel died while this was being checked ({reply.get('how', 'no answer')})")


def _seal(run: _Run) -> bool:
    """Turn the live kernel into the probe server and open the channel; False when there is no kernel to seal."""
    if run.client is None or run.channel is None:
        return False
    sweep = run.jail is not None
    try:
        run.client.kc.hb_channel.pause()  # a heartbeat to a stopped kernel's ipc socket would block for good
        if sweep:
            run.jail.stop_all_but_kernel()
        run.client.kc.execute(seal_cell_source(run.channel.kernel_fd, sweep=sweep), silent=True, store_history=False)
        run.channel.open(verify=run.jail.sealed if sweep else None, timeout=SEAL_SECONDS)
    except (ChannelClosed, OSError, RuntimeError):
        _stop(run)
        return False
    return True
