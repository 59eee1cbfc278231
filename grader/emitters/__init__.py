"""Emitters: each turns a BatchResult into one output format; formats are declared here, once."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from grader.results import BatchResult

# format name → module with `emit(batch: BatchResult, *, out_dir: Path) -> list[Path]` (and optionally `prepare()`,
# which loads what emit will need while the batch is still being graded)
FORMATS: dict[str, str] = {
    "table": "grader.emitters.table",
    "json": "grader.emitters.results_json",
    "html": "grader.emitters.html",
    "github": "grader.emitters.github",
    "classroom50": "grader.emitters.classroom50",
    "gradescope": "grader.emitters.gradescope",
    "prairielearn": "grader.emitters.prairielearn",
    "junit": "grader.emitters.junit",
    "csv": "grader.emitters.csv_gradebook",
}


def emit(format_name: str, batch: BatchResult, *, out_dir: Path, **extra: Any) -> list[Path]:
    """Write `batch` in one format under `out_dir` (`extra`: that format's own options); returns the files written."""
    if format_name not in FORMATS:
        raise ValueError(f"unknown format {format_name!r}; choose from {', '.join(sorted(FORMATS))}")
    return importlib.import_module(FORMATS[format_name]).emit(batch, out_dir=Path(out_dir), **extra)


def prepare(format_names: list[str]) -> None:
    """Load each format's module and let it prepare (best effort: emit() loads whatever this did not)."""
    for name in format_names:
        try:
            module = importlib.import_module(FORMATS[name])
            if hasattr(module, "prepare"):
                module.prepare()
        except Exception:  # a warm-up must never stop grading; emit() reports real problems itself
            continue
