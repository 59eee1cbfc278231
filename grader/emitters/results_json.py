"""The `results.json` emitter: the whole batch, schema in docs/results.md."""
from __future__ import annotations

from pathlib import Path

from grader.results import BatchResult

FILE_NAME = "results.json"


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `results.json` under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    batch.write_json(path)
    return [path]
