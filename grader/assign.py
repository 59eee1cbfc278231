"""`grader assign`: student notebooks made from solution notebooks, byte for byte the same on every run.

In code cells, each region between a `# BEGIN SOLUTION` line and an `# END SOLUTION` line becomes a
stub; answer cells (tagged like `q07`) are emptied; outputs and execution counts are cleared; only
cell tags and the notebook's grader/kernel metadata are kept. A `README.md.j2` beside the solution
notebooks, if there is one, is rendered to `README.md` with the parts and their visible checks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import nbformat

from grader.exceptions import GraderError
from grader.results import Visibility
from grader.spec import Assignment

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_TAG = re.compile(r"^q\d+$")
README_TEMPLATE = "README.md.j2"


class SolutionMarkersError(GraderError, ValueError):
    """A solution notebook's `# BEGIN SOLUTION` / `# END SOLUTION` lines do not pair up."""


@dataclass(frozen=True)
class PartSummary:
    """What students may know about a part: its visible checks with points, and the total."""

    part: str
    title: str
    notebook: str
    visible: list[tuple[str, float]]
    hidden_points: float
    max_score: float


def strip_solutions(source: str, *, where: str = "") -> str:
    """Cell source with every solution region replaced by the stub, indented like its BEGIN line."""
    lines, inside, kept = source.split("\n"), None, []
    for number, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside is not None:
                raise SolutionMarkersError(f"{where} line {number}: {BEGIN} inside another solution region")
            inside = line[: len(line) - len(line.lstrip())]
            kept.extend(inside + stub for stub in STUB)
        elif marker == END:
            if inside is None:
                raise SolutionMarkersError(f"{where} line {number}: {END} without a {BEGIN} before it")
            inside = None
        elif inside is None:
            kept.append(line)
    if inside is not None:
        raise SolutionMarkersError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(kept)


def student_notebook(solution: nbformat.NotebookNode, *, name: str = "") -> nbformat.NotebookNode:
    """The student's version of a solution notebook."""
    cells = []
    for index, cell in enumerate(solution.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        source = "" if any(ANSWER_TAG.match(tag) for tag in tags) else cell.source
        cell_id = cell.get("id") or f"cell-{index}"
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(strip_solutions(source, where=f"{name} cell {index + 1}"), id=cell_id)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(source, id=cell_id)
        else:
            new = nbformat.v4.new_raw_cell(source, id=cell_id)
        if tags:
            new.metadata["tags"] = tags
        cells.append(new)
    keep = {key: solution.metadata[key] for key in ("grader", "kernelspec") if key in solution.metadata}
    language = solution.metadata.get("language_info", {}).get("name")
    return nbformat.v4.new_notebook(cells=cells, metadata={**keep, **({"language_info": {"name": language}}
                                                                       if language else {})})


def part_of(solution: nbformat.NotebookNode, path: Path) -> str:
    """The part a solution notebook belongs to: metadata `grader.assignment`, else its file name."""
    meta = solution.metadata.get("grader", {})
    return str(meta.get("assignment") or path.stem) if isinstance(meta, dict) else path.stem


def summarize(part: str, notebook: str, spec: Assignment | None) -> PartSummary:
    """Visible checks and points of a part (no spec: none known yet)."""
    if spec is None:
        return PartSummary(part, part, notebook, [], 0.0, 0.0)
    visible = [(c.name, c.points) for c in spec.checks if c.visibility == Visibility.VISIBLE]
    hidden = round(sum(c.points for c in spec.checks if c.visibility != Visibility.VISIBLE), 4)
    return PartSummary(part, spec.title, notebook, visible, hidden, spec.max_score)


def make_assignments(*, source: Path, out: Path, specs: dict[str, Assignment]) -> list[Path]:
    """Write `out/<part>/<part>.ipynb` for every solution notebook in `source` (and README.md); files written."""
    notebooks = sorted(Path(source).glob("*.ipynb"))
    if not notebooks:
        raise GraderError(f"no solution notebooks (*.ipynb) in {source}")
    written, parts = [], {}
    for path in notebooks:
        solution = nbformat.read(path, as_version=4)
        part = part_of(solution, path)
        target = Path(out) / part / f"{part}.ipynb"
        _write(target, nbformat.writes(student_notebook(solution, name=path.name)) + "\n")
        written.append(target)
        parts[part] = summarize(part, f"{part}/{part}.ipynb", specs.get(part))
    if (Path(source) / README_TEMPLATE).exists():
        _write(Path(out) / "README.md", render_readme(source=Path(source), parts=parts))
        written.append(Path(out) / "README.md")
    return written


def render_readme(*, source: Path, parts: dict[str, PartSummary]) -> str:
    """The assignments README from `source/README.md.j2`."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(source)), undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    total = sum(part.max_score for part in parts.values())
    return environment.get_template(README_TEMPLATE).render(parts=parts, points=_points, total=total)


def _points(value: float) -> str:
    """Points without a needless '.0'."""
    return f"{value:g}"


def _write(path: Path, text: str) -> None:
    """Write text with Unix newlines, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
