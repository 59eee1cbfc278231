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
