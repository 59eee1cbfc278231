"""The `html` format: one report page per submission under `reports/` and the class summary `index.html`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.report import render_submission, render_summary, report_names, warm_up
from grader.results import BatchResult


def prepare() -> None:
    """Load the templates and drawing modules before the batch's results exist (called while it is graded)."""
    warm_up()


def emit(batch: BatchResult, *, out_dir: Path, home_href: str | None = None, course: Any = None) -> list[Path]:
    """Write every submission's report and the class summary (with `course`, a gradebook's grid: the whole
    course's latest scores too); returns the files written."""
    names = report_names(batch)
    written = []
    for submission, name in zip(batch.submissions, names):
        written.append(_write(Path(out_dir) / name, render_submission(submission, summary_href="../index.html")))
    written.append(_write(Path(out_dir) / "index.html",
                          render_summary(batch, report_hrefs=names, home_href=home_href, course=course)))
    return written


def _write(path: Path, html: str) -> Path:
    """Write one page, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
