"""`grader check` as a pipeline: the grading steps of one submission, in the order declared in STEPS.

Each step takes the submission's `Job` and fills in more of it; a `SubmissionError` from any step
makes that one submission ungradable (with the message) and the batch goes on.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from grader.comparison import Context
from grader.course import Course
from grader.discover import SubmissionFile, find_submissions, identify, known_names
from grader.exceptions import GraderError, KernelFailed, NotANotebook, SubmissionError, UnknownAssignment
from grader.results import BatchResult, SubmissionResult
from grader.pool import default_workers, run_pool
from grader.sandbox import Jail, Limits, abort_all, require_readable, require_sandbox
from grader.spec import Assignment, Check
from grader.submitted import SubmissionTimes, stamping


@dataclass(frozen=True)
class Options:
    """Settings shared by every submission of a batch."""

    course: Course
    seed: int = 0
    cell_timeout: float | None = None  # None: each assignment's own default
    notebook_timeout: float | None = None
    sandbox: bool = True
    limits: Limits = Limits()
    preimport: bool = True  # sealed kernels are forked from a pre-imported template per worker (False: started cold)


@dataclass
class Job:
    """One submission on its way through the steps."""

    file: SubmissionFile
    options: Options
    assignments: dict[str, Assignment]
    workdir: Path
    notebook: nbformat.NotebookNode | None = None
    assignment: str = ""
    parts: list[Assignment] = field(default_factory=list)
    kernels: Any = None  # the worker's pre-imported kernel template (None: a cold kernel per submission)
    inputs_seed: int = 0
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # check key → generated inputs
    plans: list = field(default_factory=list)
    execution: Any = None
    result: SubmissionResult | None = None

    @property
    def checks(self) -> dict[str, tuple[str, Check]]:
        """Every check to grade, by key `part/name`, with its part."""
        return {f"{a.name}/{c.name}": (a.name, c) for a in self.parts for c in a.checks}


def read_notebook(job: Job) -> None:
    """Read and validate the file as a Jupyter notebook (cells given ids where its format wants them).

    A file that cannot be read still gets its part, when the file name tells it, so that its result
    shows 0 of that part's points.
    """
    try:
        job.notebook = load_notebook(job.file.path)
    except SubmissionError:
        try:
            job.assignment, job.parts = identify(None, job.file.path.stem, job.assignments)
        except UnknownAssignment:
            pass
        raise


def load_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at `path`, validated, as nbformat version 4; NotANotebook (or not found) with the reason."""
    if not path.exists():
        raise SubmissionError(f"notebook not found: {path} (no such file or folder)")
    try:
        document = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise NotANotebook("not a notebook: the file is not UTF-8 text") from None
    except ValueError as error:
        raise NotANotebook(f"not a notebook: malformed JSON ({error})") from None
    if not isinstance(document, dict) or "cells" not in document or "nbformat" not in document:
        raise NotANotebook("not a notebook: the JSON has no 'cells' and 'nbformat' (is this a Jupyter notebook?)")
    if document["nbformat"] not in nbformat.versions or isinstance(document["nbformat"], bool):
        raise NotANotebook(f"not a notebook: nbformat {document['nbformat']!r} is not a notebook format version "
                           f"(known: {', '.join(map(str, sorted(nbformat.versions)))})")
    try:
        notebook = nbformat.reader.reads(json.dumps(with_cell_ids(document)))  # validated here, not logged as reads() does
        nbformat.validate(notebook)
        notebook = nbformat.convert(notebook, 4)
        nbformat.validate(notebook)
    except Exception as error:  # whatever nbformat makes of a malformed document
        first = (str(error).splitlines() or [""])[0][:200]
        raise NotANotebook(f"not a notebook: {type(error).__name__}: {first}".rstrip(": ")) from None
    return notebook


def with_cell_ids(document: dict) -> dict:
    """The notebook document with a unique `id` on every cell, as nbformat 4.5 and later want (no library warning).

    Cells that lack an id (notebooks written by older tools) or repeat one get `cell-<index>`; others keep theirs.
    A version 4.0-4.4 notebook becomes 4.5 (the kernel runs its cells in a 4.5 notebook, which wants ids).
    """
    cells, minor = document.get("cells"), document.get("nbformat_minor", 0)
    if document.get("nbformat") != 4 or not isinstance(minor, int) or not isinstance(cells, list):
        return document
    document["nbformat_minor"] = max(minor, 5)
    taken = {cell.get("id") for cell in cells if isinstance(cell, dict)}
    seen: set = set()
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        if not isinstance(cell.get("id"), str) or cell["id"] in seen:
            fresh, number = f"cell-{index}", 0
            while fresh in taken:
                number += 1
                fresh = f"cell-{index}-{number}"
            cell["id"] = fresh
            taken.add(fresh)
        seen.add(cell["id"])
    return document


def identify_assignment(job: Job) -> None:
    """Which assignment: notebook metadata `grader.assignment`, else the file name."""
    meta = job.notebook.metadata.get("grader", {})
    job.assignment, job.parts = identify(meta.get("assignment") if isinstance(meta, dict) else None,
                                         job.file.path.stem, job.assignments)


def draw_inputs(job: Job) -> None:
    """Fresh inputs for every check, from a seed drawn anew for this run, written where only the grader looks."""
    from grader.probe import generate_inputs, given_statements, plan_probes

    job.inputs_seed = secrets.randbits(32)
    checks = {key: check for key, (_, check) in job.checks.items()}
    job.inputs = {key: generate_inputs(check, seed=job.inputs_seed ^ zlib.crc32(key.encode()))
                  for key, check in checks.items()}
    cells = tuple(cell.source for cell in job.notebook.cells if cell.cell_type == "code")
    given = given_statements([job.options.course.assignments_dir / a.name / f"{a.name}.ipynb" for a in job.parts])
    job.plans = plan_probes(checks, job.inputs, cells, given)


def run_kernel(job: Job) -> None:
    """Execute the student's cells, then probe them, in a fresh kernel: sealed in a jail unless --no-sandbox."""
    from grader.execute import execute

    options = job.options
    cell_timeout = options.cell_timeout or max(a.cell_timeout for a in job.parts)
    notebook_timeout = options.notebook_timeout or max(a.notebook_timeout for a in job.parts)
    scratch = job.workdir / "work"
    scratch.mkdir()
    jail = None
    try:
        if options.sandbox:
            jail = job.kernels.ready_jail() if job.kernels else None
            if jail is None:  # no template (or none can start here): a jail and a cold kernel for this submission
                job.kernels = None
                jail = make_jail(options)
            jail.watch()
        env = {**os.environ, **options.course.kernel_env()}
        job.execution = execute(job.notebook, probes=job.plans, cwd=scratch, env=env, seed=options.seed,
                                cell_timeout=cell_timeout, notebook_timeout=notebook_timeout, jail=jail,
                                kernels=job.kernels)
    except GraderError:
        raise
    except Exception as error:
        raise KernelFailed(f"the notebook could not be run: {type(error).__name__}: {error}") from error
    finally:
        if job.kernels is not None:
            job.kernels.clean()
        elif jail is not None:
            jail.close()


def make_jail(options: Options) -> Jail:
    """A jail for the course's kernels: its data read-only (writable folders as scratch), the engine visible."""
    course, home = options.course, options.course.data_home
    return Jail(limits=options.limits, readonly=[home] if home else [], engine=_engine_folder(), env=course.kernel_env(),
                overlays=[home / name for name in course.data.writable] if home else [], hidden=course.hidden)


def _engine_folder() -> Path:
    """The engine package's folder (shown read-only in the jail so that `from grader import check` imports)."""
    import grader

    return Path(grader.__file__).resolve().parent


def judge_checks(job: Job) -> None:
    """Compare every check with its reference (computed here, on the same inputs) and build the result."""
    from grader.causes import attribute_causes
    from grader.expected_cache import course_key
    from grader.judge import judge

    execution = job.execution
    attribute_causes(execution.problems)
    checks, reference_key = [], course_key(job.options.course)
    for key, (part, check) in job.checks.items():
        ctx = Context(inputs=job.inputs.get(key, {}), data_dir=job.options.course.data_dir,
                      notebook=execution.notebook, seed=job.options.seed, reference_key=reference_key)
        checks.append(judge(check, part, execution.records.get(key), ctx, cells=execution.notebook.cells,
                            problem_at=execution.problem_at, probe_failure=execution.probe_failures.get(key)))
    job.result = SubmissionResult(path=str(job.file.path), student=job.file.student, assignment=job.assignment,
                                  checks=checks, problems=execution.problems,
                                  declared_max_score=sum(a.max_score for a in job.parts),
                                  execute_seconds=round(execution.seconds, 3))


STEPS: tuple[Callable[[Job], None], ...] = (read_notebook, identify_assignment, draw_inputs, run_kernel,
                                             judge_checks)
STAGES = {read_notebook: "prepare", identify_assignment: "prepare", draw_inputs: "prepare", run_kernel: "kernel",
          judge_checks: "judge"}  # the timing stage each step's seconds count towards ("kernel" is split below)
KERNEL_STAGES = ("start", "execute", "probe")  # Execution.stages: the parts of execute() (docs/results.md)


class Worker:
    """One grading worker: grades submissions one at a time, keeping what can be reused between them."""

    def __init__(self, options: Options, assignments: dict[str, Assignment], *, kernels: Any = None) -> None:
        self.options, self.assignments = options, assignments
        self.kernels = kernels if kernels is not None else launch_template(options)

    def grade(self, file: SubmissionFile) -> SubmissionResult:
        """Grade one submission (never raises for a bad submission)."""
        result = grade_file(file, options=self.options, assignments=self.assignments, kernels=self.kernels)
        if self.kernels is not None and self.kernels.unavailable:
            logging.getLogger("grader").warning("no kernel template: each kernel starts cold and imports everything "
                                                "itself (%s)", self.kernels.unavailable)
            self.kernels = None
        return result

    def close(self) -> None:
        """Stop whatever the worker keeps between submissions."""
        if self.kernels is not None:
            self.kernels.close()
            self.kernels = None


def launch_template(options: Options) -> Any:
    """A kernel template for one worker, its imports started now (None when kernels start cold)."""
    from grader.forked_kernel import KernelTemplate

    if not (options.sandbox and options.preimport):
        return None
    template = KernelTemplate(lambda: make_jail(options), preload=options.course.preload)
    template.launch()  # its imports run while the batch is prepared
    return template


def grade_file(file: SubmissionFile, *, options: Options, assignments: dict[str, Assignment],
               kernels: Any = None) -> SubmissionResult:
    """Grade one submission through STEPS; any failure becomes an ungradable result, never an exception."""
    started = time.monotonic()
    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="grader-") as workdir:
        job = Job(file, options, assignments, Path(workdir), kernels=kernels)
        try:
            for step in STEPS:
                begun = time.monotonic()
                try:
                    step(job)
                finally:
                    stages[STAGES[step]] = stages.get(STAGES[step], 0.0) + time.monotonic() - begun
            result = job.result
        except SubmissionError as error:
            result = _ungradable(job, str(error))
        except Exception as error:  # a bug or an odd file must not stop the batch
            result = _ungradable(job, f"internal error while grading: {type(error).__name__}: {error}")
    result.seconds = round(time.monotonic() - started, 3)
    result.sandboxed = options.sandbox
    result.stages = _split_kernel_stage(stages, job.execution)
    return result


def _split_kernel_stage(stages: dict[str, float], execution: Any) -> dict[str, float]:
    """Stage seconds with the kernel step split into execute()'s own stages and the sandbox around them."""
    kernel = stages.pop("kernel", None)
    if kernel is not None:  # without an execution, setting up the sandbox (or the kernel in it) failed
        stages["sandbox"] = max(0.0, kernel - (execution.seconds if execution is not None else 0.0))
        stages.update(execution.stages if execution is not None else {})
    order = ("prepare", "sandbox", *KERNEL_STAGES, "judge")
    return {name: round(stages[name], 3) for name in order if name in stages}


def _ungradable(job: Job, error: str) -> SubmissionResult:
    """A result for a submission that could not be graded, keeping what is known about it."""
    return SubmissionResult.without_results(error, path=str(job.file.path), student=job.file.student,
                                            assignment=job.assignment,
                                            declared_max_score=sum(a.max_score for a in job.parts))


def grade(paths: list[Path], *, course: Course, seed: int = 0, cell_timeout: float | None = None,
          notebook_timeout: float | None = None, sandbox: bool = True, limits: Limits = Limits(),
          workers: int | None = None, elsewhere: Callable | None = None, preimport: bool = True,
          on_start: Callable[[int, int, SubmissionFile], None] | None = None,
          on_result: Callable[[int, int, SubmissionResult], None] | None = None,
          submitted_at: SubmissionTimes | None = None,
          reuse: Callable[[SubmissionFile], SubmissionResult | None] | None = None) -> BatchResult:
    """Grade every notebook under `paths` for `course`; one result per submission, in the order found.

    Submissions are graded on `workers` threads at once (default: as many as cores and memory allow), or by
    `elsewhere(files, options=..., assignments=..., on_start=..., on_result=...)`, which returns their results
    in order (a cluster: `grader.cluster.grade_on_cluster` with its scheduler's address). Callbacks get each
    submission's number in that order. On Ctrl-C the batch holds the submissions finished so far and `not_graded` the rest.
    A path that does not exist is a submission that could not be graded ("notebook not found"), not an error.
    When the course has deadlines or `submitted_at` is given, each result is dated by it (default: the file's
    modification time) and its lateness assessed before `on_result` sees it (grader/late.py).
    `reuse(file)` may return a result already known for a submission (a gradebook's, for an unchanged notebook):
    that submission is not graded again, and its result goes to `on_result` before grading starts.
    """
    local = elsewhere is None  # a cluster's workers check their own sandbox and data
    if sandbox and local:
        require_sandbox()
        if course.data_home is not None:
            require_readable([course.data_home])
    options = Options(course=course, seed=seed, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout,
                      sandbox=sandbox, limits=limits, preimport=preimport)
    first = launch_template(options) if local else None  # importing while the checks load
    try:
        assignments = course.assignments
        if not assignments:
            raise GraderError(f"no assignment specs found in {course.assignments_dir} (<part>/checks.py)")
        files = find_submissions(paths, known_names=known_names(assignments))
        if not files:
            raise GraderError(f"no notebooks (*.ipynb) found in {', '.join(str(p) for p in paths)}")
        if local:
            course.verify_data()
    except BaseException:
        if first is not None:
            first.close()
        raise
    if course.deadlines or submitted_at is not None:
        on_result = stamping(on_result, submitted_at or SubmissionTimes(), course.deadlines)
    batch = BatchResult(sandboxed=sandbox)
    known, files, on_start, on_result = _reusing(files, reuse, on_start, on_result)
    if elsewhere is not None:  # every result reaches `known` through on_result
        elsewhere(files, options=options, assignments=assignments, on_start=on_start, on_result=on_result)
    else:
        batch.not_graded = _grade_here(files, options, assignments, workers, on_start, on_result, first)[1]
    batch.submissions = [known[index] for index in sorted(known)]
    after_batch(batch)
    return batch


def _reusing(files: list[SubmissionFile], reuse: Callable | None, on_start: Callable | None,
             on_result: Callable | None) -> tuple[dict[int, SubmissionResult], list[SubmissionFile], Callable, Callable]:
    """The results `reuse` knows (by position in `files`, already passed to `on_result`), the files left to grade,
    and callbacks for those that number them as in `files` and add each result to the first."""
    known: dict[int, SubmissionResult] = {}
    for index, file in enumerate(files):
        result = reuse(file) if reuse is not None else None
        if result is not None:
            known[index] = result
            if on_result:
                on_result(index + 1, len(files), result)
    left = [index for index in range(len(files)) if index not in known]

    def started(number: int, _total: int, file: SubmissionFile) -> None:
        if on_start:
            on_start(left[number - 1] + 1, len(files), file)

    def finished(number: int, _total: int, result: SubmissionResult) -> None:
        known[left[number - 1]] = result
        if on_result:
            on_result(left[number - 1] + 1, len(files), result)
    return known, [files[index] for index in left], started, finished


def _grade_here(files: list[SubmissionFile], options: Options, assignments: dict[str, Assignment],
                workers: int | None, on_start: Callable | None, on_result: Callable | None,
                first: Any = None) -> tuple[list[SubmissionResult], list[str]]:
    """Grade on this machine's worker threads: the results finished, in `files` order, and the paths not graded.

    `first` is a kernel template already launched, for the first worker.
    """
    results: dict[int, SubmissionResult] = {}
    templates = [first] if first is not None else []

    def started(index: int, file: SubmissionFile) -> None:
        if on_start:
            on_start(index + 1, len(files), file)

    def finished(index: int, result: SubmissionResult) -> None:
        results[index] = result
        if on_result:
            on_result(index + 1, len(files), result)

    left = run_pool(files, lambda: Worker(options, assignments, kernels=templates.pop() if templates else None),
                    workers or default_workers(options.limits.memory),
                    on_start=started, on_result=finished, abort=lambda: abort_kernels(options.sandbox))
    for unused in templates:
        unused.close()
    return [results[index] for index in sorted(results)], [str(files[index].path) for index in left]


def abort_kernels(sandbox: bool) -> None:
    """Kill every kernel this grader runs: the processes of its jails, or (unsandboxed) its child processes."""
    abort_all()
    if not sandbox:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.Error:
                pass


def after_batch(batch: BatchResult) -> None:
    """What needs every submission graded first: prose answers that nearly copy another student's are flagged."""
    from grader.answers import flag_near_copies

    flag_near_copies(batch)
