"""Progress reporting that library code can call without knowing about terminals."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Protocol


class Progress(Protocol):
    """Opens a task of `total` steps and returns a function that advances it."""

    def __call__(self, description: str, total: int) -> Callable[[int], None]: ...


def silent(description: str, total: int) -> Callable[[int], None]:
    """A progress reporter that shows nothing."""
    return lambda n=1: None


@contextmanager
def rich_progress(*, transient: bool = False) -> Iterator[Progress]:
    """Progress bars on stderr for the lifetime of the block."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

    with RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=transient) as bars:
        def open_task(description: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(description, total=total)
            return lambda n=1: bars.advance(task, n)
        yield open_task


class BatchProgress:
    """A grading batch as it goes: live on a terminal (done/total, the slowest still running), else one line each."""

    def __init__(self, console) -> None:
        import threading

        self.console, self.live, self.done, self.total = console, None, 0, 0
        self.running: dict[int, tuple[str, float]] = {}  # number → (label, when it started)
        self.lock = threading.Lock()

    def __enter__(self) -> "BatchProgress":
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()

    def start(self, number: int, total: int, file) -> None:
        """A submission started (`file`: its SubmissionFile)."""
        import time

        with self.lock:
            self.total = total
            label = file.student if file.path.stem == file.student else f"{file.student}/{file.path.stem}"
            self.running[number] = (label, time.monotonic())
        if self.live is None:
            self.console.print(f"grading {file.path} ({file.student}) ...", highlight=False)

    def finish(self, number: int, total: int, result) -> None:
        """A submission finished (`result`: its SubmissionResult): one line with its score and seconds."""
        with self.lock:
            self.running.pop(number, None)
            self.done, self.total = self.done + 1, total
        outcome = f"could not be graded: {result.error}" if result.error else f"{result.score:g}/{result.max_score:g}"
        took = "unchanged: reused from the gradebook" if result.reused else f"{result.seconds:.1f}s"
        self.console.print(f"[{self.done}/{total}] {result.student}/{result.assignment or '?'}: {outcome} ({took})",
                           highlight=False, markup=False)

    def __rich__(self):
        """The live lines: a bar with done/total and how many run, and the submission running longest."""
        import time

        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        with self.lock:
            done, total, running = self.done, self.total, list(self.running.values())
        line = Text(f" {done}/{total} graded, {len(running)} running")
        if running:
            label, since = min(running, key=lambda item: item[1])
            line.append(f"; slowest: {label} ({time.monotonic() - since:.0f}s)")
        return Group(ProgressBar(total=max(total, 1), completed=done, width=40), line)


def time_summary(submissions, *, grading_seconds: float, report_seconds: float):
    """A table of where the time went: seconds per stage (sum, mean, max over submissions), wall time, parallelism."""
    from rich.table import Table

    table = Table(title="where the time went (seconds)", title_justify="left")
    for heading in ("stage", "sum", "mean", "max", "submissions"):
        table.add_column(heading, justify="left" if heading == "stage" else "right")
    names = list(dict.fromkeys(name for s in submissions for name in s.stages))
    for name in names:
        values = [s.stages[name] for s in submissions if name in s.stages]
        table.add_row(name, f"{sum(values):.1f}", f"{sum(values) / len(values):.2f}", f"{max(values):.1f}",
                      str(len(values)))
    busy = sum(s.seconds for s in submissions)
    table.add_row("report (whole batch, every format)", f"{report_seconds:.1f}", "", "", "")
    table.caption = (f"grading wall time {grading_seconds:.1f}s for {busy:.1f}s of submission time: effective "
                     f"parallelism {busy / grading_seconds if grading_seconds else 0:.2f}")
    table.caption_justify = "left"
    return table
