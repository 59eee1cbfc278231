"""The `grader` command: thin wrappers that pass options on to library functions."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from grader.exceptions import GraderError

app = typer.Typer(help="Grade Jupyter notebooks for a course: run each in a sealed kernel, compare its values "
                       "with the course's reference, report.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True, soft_wrap=True)  # one error stays one line, whatever the terminal width
ENGINE_COMMANDS = ("check", "site", "assign", "release", "classroom", "gradebook")
_chosen_course: dict[str, Optional[Path]] = {"path": None}


def _show_version(value: bool) -> None:
    """Print the version and stop."""
    if value:
        from grader import __version__
        print(f"grader {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                      help="Show the version and exit."),
         course: Optional[Path] = typer.Option(None, "--course", envvar="GRADER_COURSE",
                                               help="The course folder (holding course.toml); default: the "
                                                    "current folder or the nearest one above it.")) -> None:
    """Grade a course's notebooks. Run `grader COMMAND --help` for one command's options.

    The course (its assignments, checks, reference and data) is described by a course.toml; the
    course's own commands (course.toml [commands]) appear below with the engine's.
    """
    _chosen_course["path"] = course


def current_course():
    """The course chosen with --course / $GRADER_COURSE / the current folder (one clear error when there is none)."""
    from grader.course import load_course

    try:
        return load_course(_chosen_course["path"])
    except GraderError as error:
        fail(error)


def _names(values: Optional[list[str]]) -> Optional[list[str]]:
    """Names from a repeatable, comma-separated option; None when none were given."""
    return [name for value in values or [] for name in value.split(",") if name] or None


def fail(error: Exception, code: int = 2) -> None:
    """Print one clear line for a user error and exit non-zero."""
    console.print(f"[bold red]error:[/] {error}", highlight=False)
    raise typer.Exit(code)


classroom_app = typer.Typer(help="Set up GitHub Classroom autograding.", no_args_is_help=True)
app.add_typer(classroom_app, name="classroom")


@classroom_app.command("init")
def classroom_init(
    directory: Path = typer.Argument(..., help="The student template repository to write (the release plus "
                                     ".github/workflows/classroom.yml); its .git is kept."),
    assignments: Optional[list[str]] = typer.Option(None, "--assignments", help="Assignment to grade (repeatable or "
                                                    "comma-separated; default: all of the course's)."),
    package: str = typer.Option("./.grader-course", help="What the workflow's `pip install` installs grader from "
                                "(default: the grading course it checked out)."),
    force: bool = typer.Option(False, help="Replace an existing workflow and release files."),
) -> None:
    """Write a student template repository: notebooks and self-checks without solutions, and a grading workflow.

    The workflow fetches the grading course (this course, in a private repository) at grading time with
    a deploy key, and grades each part in the sandbox. Set-up, step by step: docs/classroom.md.
    """
    from grader.classroom import init_template

    course = current_course()
    try:
        path, written = init_template(directory, course, names=_names(assignments), force=force, package=package)
    except GraderError as error:
        fail(error)
    print(f"wrote {path} and {len(written)} release files under {directory}")


gradebook_app = typer.Typer(help="The course's gradebook: every grading run, the latest scores, regrades, LMS "
                                  "exports (docs/gradebook.md).", no_args_is_help=True)
app.add_typer(gradebook_app, name="gradebook")
GRADEBOOK = typer.Option(None, "--gradebook", envvar="GRADER_GRADEBOOK", metavar="PATH|URL", help="A SQLite file or "
                         "a SQLAlchemy URL (postgresql://...); default: gradebook.sqlite in the course folder.")


def _open_book(target: Optional[str]):
    """The gradebook named (default: the course's own), which must exist."""
    from grader.gradebook.store import DEFAULT_NAME, open_gradebook

    try:
        return open_gradebook(target or current_course().root / DEFAULT_NAME, create=False)
    except GraderError as error:
        fail(error)


def _out() -> Console:
    """Where gradebook tables go: stdout, wide enough for a class when it is not a terminal."""
    return Console(width=None if Console().is_terminal else 160)


@gradebook_app.command("show")
def gradebook_show(gradebook: Optional[str] = GRADEBOOK) -> None:
    """Students × parts: each student's latest score per part (overrides applied), late work, answers to review."""
    from grader.gradebook.tables import grid_table
    from grader.gradebook.views import latest_grid

    book = _open_book(gradebook)
    grid = latest_grid(book)
    _out().print(grid_table(grid, book.where))
    if grid.pending_reviews:
        print(f"{grid.pending_reviews} answer(s) await review")


@gradebook_app.command("history")
def gradebook_history(student: str = typer.Argument(..., help="The student, as grader check names them."),
                      gradebook: Optional[str] = GRADEBOOK) -> None:
    """Every submission recorded for one student, run by run."""
    from grader.gradebook.tables import history_table
    from grader.gradebook.views import history

    rows = history(_open_book(gradebook), student)
    if not rows:
        fail(f"the gradebook has no submission from student {student!r}")
    _out().print(history_table(student, rows))


@gradebook_app.command("diff")
def gradebook_diff(run_a: Optional[int] = typer.Argument(None, help="The earlier run (default: the last but one)."),
                   run_b: Optional[int] = typer.Argument(None, help="The later run (default: the last)."),
                   gradebook: Optional[str] = GRADEBOOK,
                   json_output: bool = typer.Option(False, "--json", help="Print the changes as JSON.")) -> None:
    """Which students' scores changed between two runs, per part, by how much, and which checks changed."""
    import json
    from dataclasses import asdict

    from grader.gradebook.diff import diff_runs, last_two_runs
    from grader.gradebook.tables import diff_table

    book = _open_book(gradebook)
    try:
        if run_a is None or run_b is None:
            run_a, run_b = (run_a, run_b) if run_a is not None and run_b is not None else last_two_runs(book)
        changes = diff_runs(book, run_a, run_b)
    except GraderError as error:
        fail(error)
    if json_output:
        print(json.dumps({"run_a": run_a, "run_b": run_b,
                          "changes": [{**asdict(change), "delta": change.delta} for change in changes]}, indent=2))
    else:
        _out().print(diff_table(run_a, run_b, changes))


@gradebook_app.command("export")
def gradebook_export(format_name: str = typer.Option("csv", "--format", help="csv, canvas (Canvas's gradebook "
                                                     "import) or moodle (Moodle's CSV grade import)."),
                     out: Path = typer.Option(..., help="The CSV file to write."),
                     roster: Optional[Path] = typer.Option(None, help="CSV: student plus any of id, sis_user_id, "
                                                           "sis_login_id, section, email, username (the LMS's "
                                                           "identifiers)."),
                     gradebook: Optional[str] = GRADEBOOK) -> None:
    """Write each student's latest score per part in a layout a learning management system imports."""
    from grader.gradebook.export import read_roster, write_export
    from grader.gradebook.views import latest_grid

    try:
        grid = latest_grid(_open_book(gradebook))
        path = write_export(grid, format_name=format_name, out=out, roster=read_roster(roster) if roster else None)
    except GraderError as error:
        fail(error)
    print(f"wrote {path}: {len(grid.students)} students, {len(grid.parts)} parts")


@gradebook_app.command("import-overrides")
def gradebook_import_overrides(file: Path = typer.Argument(..., help="A CSV (student,check,points,comment) or TOML "
                                                           "([[override]] tables) override file."),
                               gradebook: Optional[str] = GRADEBOOK) -> None:
    """Record instructor overrides in the gradebook; they apply to each student's latest results from now on."""
    from grader.gradebook.overrides import import_overrides
    from grader.gradebook.views import latest_grid

    book = _open_book(gradebook)
    try:
        count = import_overrides(book, file, [entry.result for entry in latest_grid(book).entries.values()])
    except GraderError as error:
        fail(error)
    print(f"recorded {count} override(s) from {file}")


@app.command()
def release(
    out: Path = typer.Option(..., help="Folder to write what students receive into."),
    assignments: Optional[list[str]] = typer.Option(None, "--assignments", help="Assignments to release "
                                                    "(repeatable or comma-separated; default: all)."),
    seed: int = typer.Option(0, help="Seed for the inputs the self-checks use."),
    force: bool = typer.Option(False, help="Replace what is in --out (a .git or .github folder there is kept)."),
) -> None:
    """Write what students receive: the assignment notebooks, the README, and a self-check bundle.

    The bundle holds the visible checks with expected values precomputed (tensors as safetensors, no
    pickles), so `from grader import check; check("<part>")` works with only the engine installed. It
    never holds solutions, hidden checks or reference code; visible checks that cannot be released
    that way are listed and checked at grading only.
    """
    from grader.release import write_release

    course = current_course()
    try:
        written, kept_back = write_release(course, out, names=_names(assignments), seed=seed, force=force)
    except GraderError as error:
        fail(error)
    by_reason: dict[tuple[str, str], list[str]] = {}
    for kept in kept_back:
        by_reason.setdefault((kept.assignment, kept.reason), []).append(kept.check)
    for (assignment, reason), checks in by_reason.items():
        console.print(f"{assignment}: checked at grading only ({reason}): {', '.join(checks)}", highlight=False)
    print(f"wrote {len(written)} files under {out}")


EXIT_GRADED, EXIT_USAGE, EXIT_UNGRADABLE, EXIT_INTERRUPTED = 0, 2, 3, 130
UNSANDBOXED = ("[bold yellow]warning:[/] --no-sandbox: notebooks ran unconfined, as your user, with your files, "
               "environment and network in reach")


def _format_names() -> list[str]:
    """Every format in the emitter registry."""
    from grader.emitters import FORMATS

    return sorted(FORMATS)


@app.command(epilog="Exit codes: 0 every submission was graded (whatever its score); 3 at least one submission "
                    "could not be graded (notebook not found, not a notebook, unknown assignment, kernel would not "
                    "start); 2 usage error (bad option, a folder with no notebooks); 130 interrupted (Ctrl-C): the submissions "
                    "finished are written, the others listed as not graded. results.json is described in "
                    "docs/results.md.")
def check(
    paths: list[Path] = typer.Argument(..., help="Notebooks or folders (searched recursively). Layouts: "
                                       "DIR/<student>/<assignment>.ipynb or DIR/<student>.ipynb."),
    out: Path = typer.Option(Path("grader-results"), help="Folder for results.json and other file formats."),
    timeout: Optional[float] = typer.Option(None, help="Seconds each cell may run (default: the assignment's own, "
                                            "e.g. 300)."),
    notebook_timeout: Optional[float] = typer.Option(None, help="Seconds the whole notebook may run (default: "
                                                     "the assignment's own)."),
    seed: int = typer.Option(0, help="Seed for random, numpy, torch and CUDA, set in a cell run before the "
                             "student's first cell."),
    json_output: bool = typer.Option(False, "--json", help="Print the results.json document to stdout instead "
                                     "of the table."),
    formats: Optional[list[str]] = typer.Option(None, "--format", help="Output format (repeatable): "
                                                "table, json (results.json in --out), html, github, classroom50, "
                                                "gradescope, prairielearn, junit, csv. Default: table, json and html "
                                                "(one report per submission plus index.html, the class summary)."),
    overrides: Optional[Path] = typer.Option(None, help="Instructor overrides, a CSV (student,check,points,comment) "
                                             "or TOML ([[override]] tables) file, applied on top of automatic "
                                             "scores and shown as overridden."),
    no_sandbox: bool = typer.Option(False, "--no-sandbox", help="Run notebooks unconfined, as your own user, with "
                                    "your files and environment in reach. Only for notebooks you trust; every "
                                    "output then says so."),
    memory: str = typer.Option("4G", help="Memory a sandboxed notebook may use (its processes together), e.g. 4G."),
    processes: int = typer.Option(256, help="Processes and threads a sandboxed notebook may have at once."),
    disk: str = typer.Option("1G", help="Size of a sandboxed notebook's writable working folder, e.g. 1G."),
    workers: Optional[int] = typer.Option(None, min=1, help="Submissions graded at once, each in its own sandbox "
                                          "(default: the number of cores, fewer when the memory available cannot "
                                          "hold that many kernels at --memory each). Results do not depend on it."),
    scheduler: Optional[str] = typer.Option(None, metavar="tcp://HOST:PORT", help="Grade on a Dask cluster: the "
                                            "address of its scheduler; its workers need grader, bubblewrap and the "
                                            "course's data (the course itself is sent to them; docs/cluster.md). "
                                            "Not with --workers."),
    cold_kernels: bool = typer.Option(False, "--cold-kernels", help="Start every kernel from scratch instead of "
                                      "forking it from each worker's pre-imported template (slower; the same "
                                      "results; docs/throughput.md)."),
    profile: bool = typer.Option(False, "--profile", help="After the table, show where the time went: seconds per grading "
                                 "stage (sum, mean, max over submissions), wall time and effective parallelism."),
    submitted_at: Optional[str] = typer.Option(None, "--submitted-at", metavar="mtime|git|FILE.csv",
                                               help="When each notebook was submitted, for course.toml [deadlines]: "
                                                    "mtime (the file's modification time, the default), git (the "
                                                    "time of the last commit touching it) or a CSV file "
                                                    "student,assignment,submitted_at (ISO times with offset)."),
    gradebook: Optional[str] = typer.Option(None, "--gradebook", envvar="GRADER_GRADEBOOK", metavar="PATH|URL",
                                            help="The gradebook that records this run and each submission as it "
                                            "finishes: a SQLite file or a SQLAlchemy URL (postgresql://...). "
                                            "Default: gradebook.sqlite in the course folder (docs/gradebook.md)."),
    no_gradebook: bool = typer.Option(False, "--no-gradebook", envvar="GRADER_NO_GRADEBOOK",
                                      help="Record nothing in a gradebook, reuse nothing."),
    force: bool = typer.Option(False, "--force", help="Grade every notebook again, even one the gradebook holds "
                               "unchanged (same bytes, student, course code and options), whose result is otherwise "
                               "reused."),
) -> None:
    """Run each notebook in a fresh sealed kernel, probe its values, compare them with the reference, report scores.

    Every kernel runs in a bubblewrap sandbox (see docs/security.md): no network, no access to other
    submissions, the results, your files or environment; read-only Python and data; limits on memory,
    processes, disk and time. Without bubblewrap, grading refuses unless --no-sandbox is given.

    The assignment comes from notebook metadata {"grader": {"assignment": "<part>"}}, else from the file name.
    The course's data (course.toml [data]) is checked before grading and shown to each kernel read-only.
    """
    import json
    import threading
    import time

    from grader.emitters import emit, prepare
    from grader.pipeline import grade
    from grader.progress import BatchProgress, time_summary
    from grader.sandbox import Limits, parse_size
    from grader.submitted import parse_source

    chosen = list(formats or ["table", "json", "html"])
    unknown = [name for name in chosen if name not in _format_names()]
    if unknown:
        fail(f"unknown format {unknown[0]!r}; choose from {', '.join(_format_names())}", EXIT_USAGE)
    if json_output:
        chosen = [name for name in chosen if name != "table"]
    if workers is not None and scheduler is not None:
        fail("--workers and --scheduler cannot be used together: the cluster's workers do the grading", EXIT_USAGE)
    course = current_course()
    recorder = None
    try:
        corrections = _read_overrides(overrides, course) if overrides else []
        times = parse_source(submitted_at) if submitted_at else None  # a CSV file is read and checked now
        limits = Limits(memory=parse_size(memory), processes=max(16, processes), disk=parse_size(disk))
        if no_sandbox:
            console.print(UNSANDBOXED, highlight=False)
        started = time.monotonic()
        threading.Thread(target=prepare, args=(chosen,), name="grader-prepare-formats", daemon=True).start()
        recorder = None if no_gradebook else _recorder(gradebook, course, seed=seed, timeout=timeout,
                                                       notebook_timeout=notebook_timeout, sandboxed=not no_sandbox,
                                                       limits=limits)
        with BatchProgress(console) as progress:
            batch = grade(paths, course=course, seed=seed, cell_timeout=timeout, notebook_timeout=notebook_timeout,
                          sandbox=not no_sandbox, limits=limits, workers=workers, elsewhere=_cluster(scheduler),
                          preimport=not cold_kernels, on_start=progress.start,
                          on_result=recorder.recording(progress.finish) if recorder else progress.finish,
                          submitted_at=times, reuse=recorder.reuse if recorder and not force else None)
        grading_seconds = time.monotonic() - started
        if corrections:
            from grader.overrides import apply_overrides
            batch = apply_overrides(batch, corrections)
        if recorder:
            recorder.finish("interrupted" if batch.not_graded else "finished", overrides=corrections,
                            source=str(overrides))
    except GraderError as error:
        if recorder:
            recorder.finish("failed")
        fail(error, EXIT_USAGE)
    except KeyboardInterrupt:  # before grading started or after it ended (during it, grade() keeps what finished)
        fail("interrupted before any result could be kept; nothing was written", EXIT_INTERRUPTED)
    started = time.monotonic()
    extra = {"html": {"course": recorder.whole_course()}} if recorder and "html" in chosen else {}
    written = [path for name in chosen for path in emit(name, batch, out_dir=out, **extra.get(name, {}))]
    report_seconds = time.monotonic() - started
    if json_output:
        print(json.dumps(batch.to_dict(), indent=2))
    if profile:
        graded = [submission for submission in batch.submissions if not submission.reused]  # reused: no time spent
        console.print(time_summary(graded, grading_seconds=grading_seconds, report_seconds=report_seconds))
    bad = batch.failed_to_grade
    console.print(f"graded {len(batch.graded)} of {len(batch.submissions)} submission(s)"
                  + (f"; {len(bad)} could not be graded: " + ", ".join(s.path for s in bad) if bad else "")
                  + (f"; wrote {len(written)} file(s) in {out}" if written else ""), highlight=False)
    if out / "index.html" in written:
        console.print(f"class summary: {out / 'index.html'}", highlight=False)
    if no_sandbox:
        console.print(UNSANDBOXED, highlight=False)
    if batch.not_graded:
        console.print(f"[bold yellow]grading was interrupted:[/] {len(batch.not_graded)} of "
                      f"{len(batch.not_graded) + len(batch.submissions)} submission(s) not graded"
                      + (" (not_graded in results.json)" if out / "results.json" in written else ""), highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_UNGRADABLE if bad else EXIT_GRADED)


def _recorder(target: Optional[str], course, **options):
    """What records this run in the gradebook at `target` (default: the course's own); `options` decide results."""
    from dataclasses import asdict

    from grader.gradebook.recorder import Recorder
    from grader.gradebook.store import DEFAULT_NAME, open_gradebook

    options["limits"] = asdict(options["limits"])
    try:
        return Recorder(open_gradebook(target or course.root / DEFAULT_NAME), course=course, options=options)
    except GraderError as error:
        fail(error, EXIT_USAGE)


def _cluster(scheduler: Optional[str]):
    """What grades on the Dask cluster at `scheduler` (None: grade on this machine)."""
    if scheduler is None:
        return None
    from functools import partial

    from grader.cluster import grade_on_cluster

    return partial(grade_on_cluster, scheduler)


def _read_overrides(path: Path, course) -> list:
    """Override entries, checked against the declared checks before any grading starts."""
    from grader.overrides import check_against_specs, read_overrides

    entries = read_overrides(path)
    check_against_specs(entries, course.assignments)
    return entries


@app.command()
def site(
    out: Path = typer.Option(Path("_site"), help="Folder to build the site into (git-ignored)."),
    source: Optional[Path] = typer.Option(None, help="The site's source folder (site.toml, landing.md, "
                                          "submit.md); default: course.toml's site source, else the course's site/."),
    results: Optional[Path] = typer.Option(None, help="A `grader check --out` folder (or its results.json): "
                                           "adds every report and the class summary."),
    gradebook: Optional[str] = typer.Option(None, "--gradebook", metavar="PATH|URL", help="A gradebook (SQLite file "
                                            "or SQLAlchemy URL): the class summary shows the whole course's latest "
                                            "scores; without --results, the reports are each student's latest."),
    assignments: Optional[Path] = typer.Option(None, help="Folder of parts (<part>/<part>.ipynb, checks.py, "
                                               "README.md); default: the course's assignments folder."),
    pages_workflow: Optional[Path] = typer.Option(None, "--pages-workflow", metavar="DIR",
                                                  help="Instead of building, write DIR/.github/workflows/pages.yml: "
                                                       "a workflow that builds this site and publishes it on "
                                                       "GitHub Pages (DIR: the repository holding the course)."),
    branch: str = typer.Option("main", help="With --pages-workflow: the branch whose pushes publish the site."),
    package: str = typer.Option(".", help="With --pages-workflow: what the workflow's `pip install` installs "
                                "grader from (. is the repository itself)."),
    force: bool = typer.Option(False, help="With --pages-workflow: replace an existing workflow."),
) -> None:
    """Build the course's static site from its source: a landing page with each part's notebook, plus reports
    when given results; or, with --pages-workflow, write a GitHub Pages workflow that builds and publishes it."""
    from grader.site import build_site

    course = current_course()
    course.on_path()
    if pages_workflow is not None:
        from grader.pages import write_workflow

        if results is not None or gradebook is not None:
            fail("--pages-workflow publishes the landing page and notebooks only; students' results stay off "
                 "the public site (build them locally with --results)")
        try:
            path = write_workflow(pages_workflow, course, force=force, branch=branch, package=package)
        except GraderError as error:
            fail(error)
        print(f"wrote {path}; in the repository's Settings → Pages, set Source to GitHub Actions")
        return
    try:
        written = build_site(out_dir=out, assignments_dir=assignments or course.assignments_dir, results=results,
                             source=source or course.site_dir, gradebook=gradebook)
    except GraderError as error:
        fail(error)
    print(f"wrote {len(written)} files; open {out / 'index.html'}")


@app.command()
def assign(
    source: Optional[Path] = typer.Option(None, help="Folder of solution notebooks (and README.md.j2); default: "
                                          "the course's solutions folder."),
    out: Optional[Path] = typer.Option(None, help="Folder to write <part>/<part>.ipynb and README.md into; "
                                       "default: the course's assignments folder."),
) -> None:
    """Make the student notebooks: solution regions become stubs, answer cells empty, outputs cleared."""
    from grader.assign import make_assignments

    course = current_course()
    out = out or course.assignments_dir
    try:
        written = make_assignments(source=source or course.solutions_dir, out=out, specs=course.assignments)
    except GraderError as error:
        fail(error)
    print(f"wrote {len(written)} files under {out}")


def mount_course_commands(argv: list[str]) -> None:
    """Add the chosen course's own commands (course.toml [commands]) to the CLI; a missing course adds none."""
    from grader.course import load_course

    chosen = _course_in(argv)
    try:
        course = load_course(chosen)
    except GraderError as error:
        rest = [arg for index, arg in enumerate(argv) if arg != "--course" and (index == 0 or argv[index - 1] != "--course")]
        wanted = next((arg for arg in rest if not arg.startswith("-")), None)
        if chosen:
            _refuse(error)
        if wanted and wanted not in ENGINE_COMMANDS:
            _refuse(f"no command {wanted!r} here: {error}")
        return
    for name, target in course.commands.items():
        if name in ENGINE_COMMANDS:
            _refuse(f"course.toml in {course.root} declares command {name!r}, which the engine already has")
        try:
            app.command(name)(course.resolve(target))
        except GraderError as error:
            _refuse(error)


def _refuse(message: object) -> None:
    """One clear line and exit status 2, before the command line is parsed (no Typer context yet)."""
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(EXIT_USAGE)


def _course_in(argv: list[str]) -> Optional[str]:
    """The value of a --course option in the raw arguments, else $GRADER_COURSE (None when neither)."""
    import os

    for index, arg in enumerate(argv):
        if arg == "--course" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--course="):
            return arg.split("=", 1)[1]
    return os.environ.get("GRADER_COURSE") or None


def main() -> None:
    """Entry point of the console script: mount the course's commands, then run."""
    import sys

    mount_course_commands(sys.argv[1:])
    app()
