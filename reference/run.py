"""Run the reference steps, collect their figures (mean and spread over seeds) for `grader reference`.

API:
    STEPS: tuple of step names, in run order ("resnet" only when asked for)
    FigureStats (dataclass: values; .mean, .std, .as_dict())
    ReferenceReport (dataclass: device, seeds, stats {step: {figure: FigureStats}}, seconds {step: s}, total_seconds)
        .to_json() -> dict   ("steps": {step: {figure: mean}}, "stats": {step: {figure: {mean, std, n, values}}})
    run_reference(*, data_dir=None, device="auto", seeds=1, steps=None, include_resnet=False, progress=silent)
        -> ReferenceReport
    trained_distributions(*, data_dir=None, device="auto", seeds=3, steps=None) -> dict[str, dict[str, FigureStats]]
        (the spread of every trained figure over seeds: the basis for grading thresholds)
    report_table(report: ReferenceReport) -> rich.table.Table
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from grader.checks import GraderError, Progress, silent
from reference import baseline, from_scratch, full_mnist, learner, linear, sgd
from reference.device import resolve_device, seed_everything

STEPS = ("baseline", "sgd", "linear", "learner", "simple_net", "from_scratch", "full_mnist", "resnet")
DETERMINISTIC = ("baseline",)


@dataclass
class FigureStats:
    """One figure's value from each seed, and their mean and (sample) standard deviation."""

    values: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def as_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": len(self.values), "values": self.values}


@dataclass
class ReferenceReport:
    """Every figure of a reference run, by step, with the time each step took."""

    device: str
    seeds: int
    stats: dict[str, dict[str, FigureStats]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0

    def to_json(self) -> dict:
        """Plain data for `--json`: means under `steps`, spreads under `stats`."""
        return {"device": self.device, "seeds": self.seeds, "total_seconds": self.total_seconds,
                "steps": {s: {k: v.mean for k, v in figs.items()} for s, figs in self.stats.items()},
                "stats": {s: {k: v.as_dict() for k, v in figs.items()} for s, figs in self.stats.items()},
                "seconds": self.seconds}


class _Inputs:
    """Data loaded once per run, on the chosen device."""

    def __init__(self, data_dir: Path | None, device: torch.device):
        self.data_dir, self.device = data_dir, device

    @cached_property
    def sample(self) -> baseline.Sample:
        return baseline.load_sample(data_dir=self.data_dir, device=self.device)

    @cached_property
    def xy(self) -> linear.SampleXY:
        return linear.sample_xy(self.sample)

    @cached_property
    def full(self) -> full_mnist.FullMnist:
        return full_mnist.load_full_mnist(data_dir=self.data_dir, device=self.device)


def _baseline(inputs: _Inputs, seed: int) -> dict[str, float]:
    return baseline.baseline_figures(inputs.sample)


def _sgd(inputs: _Inputs, seed: int) -> dict[str, float]:
    run = sgd.seven_steps(seed=seed)
    return {"grad_at_3": sgd.gradient_at(sgd.f, torch.tensor(3.0)).item(),
            "first_loss": run.losses[0], "last_loss": run.losses[-1]}


def _linear(inputs: _Inputs, seed: int) -> dict[str, float]:
    run = linear.train_linear(inputs.xy, epochs=20, lr=1.0, batch_size=256, seed=seed)
    return {"valid_accuracy": run.valid_accuracies[-1], "train_loss": run.train_losses[-1]}


def _learner(inputs: _Inputs, seed: int) -> dict[str, float]:
    fitted = learner.fit_quietly(learner.linear_learner(learner.sample_dataloaders(inputs.xy), seed=seed), 10, 1.0)
    return {"basic_optim_accuracy": learner.train_linear_module(inputs.xy, opt_name="basic", seed=seed)[-1],
            "fastai_sgd_accuracy": learner.train_linear_module(inputs.xy, opt_name="sgd", seed=seed)[-1],
            "learner_fit_accuracy": fitted.valid_accuracies[-1]}


def _simple_net(inputs: _Inputs, seed: int) -> dict[str, float]:
    run = learner.train_simple_net(inputs.xy, epochs=40, lr=0.1, seed=seed)
    return {"valid_accuracy": run.valid_accuracies[-1], "valid_loss": run.valid_losses[-1]}


def _from_scratch(inputs: _Inputs, seed: int) -> dict[str, float]:
    seed_everything(seed)
    model = torch.nn.Linear(28 * 28, 1).to(inputs.device)
    learn = from_scratch.Learner(learner.sample_dataloaders(inputs.xy), model, loss_func=linear.mnist_loss,
                                 metrics=linear.batch_accuracy)
    learn.fit(10, 1.0)
    return {"valid_accuracy": learn.recorder.values[-1][2], "valid_loss": learn.recorder.values[-1][1]}


def _full_mnist(inputs: _Inputs, seed: int) -> dict[str, float]:
    return {"pixel_accuracy": full_mnist.pixel_similarity(inputs.full).accuracy,
            "linear_accuracy": full_mnist.train_full_linear(inputs.full, seed=seed).accuracy,
            "mlp_accuracy": full_mnist.train_full_mlp(inputs.full, seed=seed).accuracy}


def _resnet(inputs: _Inputs, seed: int) -> dict[str, float]:
    from reference.resnet import train_resnet18

    run = train_resnet18(data_dir=inputs.data_dir, seed=seed, device=inputs.device)
    return {"valid_accuracy": run.valid_accuracies[-1]}


RUNNERS = {"baseline": _baseline, "sgd": _sgd, "linear": _linear, "learner": _learner,
           "simple_net": _simple_net, "from_scratch": _from_scratch, "full_mnist": _full_mnist,
           "resnet": _resnet}


def _chosen(steps, include_resnet: bool) -> list[str]:
    """The steps to run, in STEPS order; unknown names are a clear error."""
    wanted = list(steps) if steps else [s for s in STEPS if s != "resnet"]
    unknown = [s for s in wanted if s not in STEPS]
    if unknown:
        raise GraderError(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    return [s for s in STEPS if s in wanted or (s == "resnet" and include_resnet)]


def run_reference(*, data_dir: Path | None = None, device="auto", seeds: int = 1, steps=None,
                  include_resnet: bool = False, progress: Progress = silent) -> ReferenceReport:
    """Run each chosen step (trained ones once per seed 0..seeds-1) and collect its figures."""
    if seeds < 1:
        raise GraderError("--seeds must be at least 1")
    chosen, started = _chosen(steps, include_resnet), time.perf_counter()
    inputs = _Inputs(data_dir, resolve_device(device))
    report = ReferenceReport(str(inputs.device), seeds)
    runs = [(s, seed) for s in chosen for seed in range(1 if s in DETERMINISTIC else seeds)]
    advance = progress("reference steps", total=len(runs))
    for step, seed in runs:
        step_started = time.perf_counter()
        for name, value in RUNNERS[step](inputs, seed).items():
            report.stats.setdefault(step, {}).setdefault(name, FigureStats([])).values.append(float(value))
        report.seconds[step] = report.seconds.get(step, 0.0) + time.perf_counter() - step_started
        advance(1)
    report.total_seconds = time.perf_counter() - started
    return report


def trained_distributions(*, data_dir: Path | None = None, device="auto", seeds: int = 3,
                          steps=None) -> dict[str, dict[str, FigureStats]]:
    """Mean and spread over `seeds` of every figure of the chosen steps (default: all but resnet)."""
    return run_reference(data_dir=data_dir, device=device, seeds=seeds, steps=steps).stats


def report_table(report: ReferenceReport):
    """A rich table: one row per figure with its value (mean ± std over seeds) and its step's seconds."""
    from rich.table import Table

    table = Table(title=f"reference run on {report.device}, {report.seeds} seed(s), "
                        f"{report.total_seconds:.1f}s")
    for column, justify in (("step", "left"), ("figure", "left"), ("value", "right"), ("seconds", "right")):
        table.add_column(column, justify=justify)
    for step, figures in report.stats.items():
        for i, (name, stats) in enumerate(figures.items()):
            value = f"{stats.mean:.4f}" + (f" ± {stats.std:.4f}" if len(stats.values) > 1 else "")
            table.add_row(step if i == 0 else "", name, value, f"{report.seconds[step]:.1f}" if i == 0 else "")
    return table
