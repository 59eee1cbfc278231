"""`grader release`: what students receive: the assignment notebooks and a self-check bundle, never the key.

The bundle holds only visible checks, with their expected values computed here on inputs drawn
once from the release seed. A visible check stays out of the bundle (listed as checked at grading)
when it reads the executed notebook, uses a course-defined comparison or a callable option, cannot
compute its expected value without a notebook, or when its probe code contains a line of a solution
(every line inside a solution region or answer cell of the course's solution notebooks that the
assignment notebooks do not show anyway).
"""
from __future__ import annotations

import shutil
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import nbformat
import torch

from grader.assign import ANSWER_TAG, BEGIN, END
from grader.bundle import NotReleasable, encode_comparison, encode_value, write_marker, write_part
from grader.comparison import Context
from grader.course import Course
from grader.exceptions import GraderError
from grader.probe import generate_inputs
from grader.results import Visibility
from grader.spec import Assignment, Check

BUNDLE_FOLDER = "selfcheck"
MIN_LINE = 12  # shorter solution lines ("return x", "x.backward()") say nothing about an answer
KEPT = (".git", ".github")  # a release folder may be a repository: its history and workflows stay


class KeptBack(NamedTuple):
    """A visible check that stays out of the release, and why."""

    assignment: str
    check: str
    reason: str


class ReleaseExists(GraderError, FileExistsError):
    """The release folder already holds files and replacing them was not asked for."""


def normalized(line: str) -> str:
    """A line of code without whitespace or a trailing comment marker, for matching text across files."""
    return "".join(line.split())


def solution_lines(solutions_dir: Path) -> set[str]:
    """Every normalized line inside solution regions and answer cells of the solution notebooks."""
    found: set[str] = set()
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if any(ANSWER_TAG.match(tag) for tag in tags):
                found |= {normalized(line) for line in cell.source.splitlines()}
            elif cell.cell_type == "code":
                inside = False
                for line in cell.source.splitlines():
                    marker = line.strip()
                    inside = (inside or marker == BEGIN) and marker != END
                    if inside and marker != BEGIN:
                        found.add(normalized(line))
    return {line for line in found if len(line) >= MIN_LINE}


def shown_lines(assignments_dir: Path) -> set[str]:
    """Every normalized line students see in the assignment notebooks."""
    found: set[str] = set()
    for path in sorted(Path(assignments_dir).glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            found |= {normalized(line) for line in cell.source.splitlines()}
    return found


def secret_lines(course: Course) -> set[str]:
    """Solution lines students must not receive: in solutions, not already in their notebooks."""
    if not course.solutions_dir.is_dir():
        return set()
    return solution_lines(course.solutions_dir) - shown_lines(course.assignments_dir)


def release_check(check: Check, key: str, *, seed: int, data_dir: Path, secrets: set[str],
                  tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """One visible check as bundle data (NotReleasable, with the reason, when it must stay with the course)."""
    code = check.fetch.kernel_code()
    if code is None:
        raise NotReleasable("it reads the executed notebook")
    if any(normalized(line) in secrets for line in code.splitlines()):
        raise NotReleasable("its probe code contains solution code")
    compare = encode_comparison(check.compare)
    inputs = generate_inputs(check, seed=seed ^ zlib.crc32(key.encode()))
    try:
        expected = check.expected(Context(inputs=inputs, data_dir=data_dir, seed=0)) if check.expected else None
    except Exception as error:  # noqa: BLE001 - e.g. an expected value that needs the executed notebook
        raise NotReleasable(f"its expected value could not be computed ({type(error).__name__})") from error
    return {"name": check.name, "points": check.points, "hint": check.hint, "timeout": check.timeout,
            "code": code, "needs": list(check.fetch.needs()), "compare": compare,
            "inputs": encode_value(inputs, f"{check.name}.inputs", tensors),
            "expected": encode_value(expected, f"{check.name}.expected", tensors)}


def release_assignment(assignment: Assignment, folder: Path, *, seed: int, data_dir: Path,
                       secrets: set[str]) -> tuple[list[Path], list[KeptBack]]:
    """Write one assignment's bundle files; the files and the visible checks kept for grading."""
    released, withheld, tensors = [], [], {}
    for check in assignment.checks:
        if check.visibility != Visibility.VISIBLE:
            continue
        try:
            released.append(release_check(check, f"{assignment.name}/{check.name}", seed=seed, data_dir=data_dir,
                                          secrets=secrets, tensors=tensors))
        except NotReleasable as why:
            withheld.append({"name": check.name, "points": check.points, "reason": str(why)})
    written = write_part(folder, assignment.name, assignment.title, released, tensors,
                         [{"name": w["name"], "points": w["points"]} for w in withheld])
    return written, [KeptBack(assignment.name, w["name"], w["reason"]) for w in withheld]


def write_release(course: Course, out: Path, *, seed: int = 0, force: bool = False,
                  names: list[str] | None = None) -> tuple[list[Path], list[KeptBack]]:
    """Write the student release into `out`: notebooks, README, self-check bundle; (files, checks kept back)."""
    out = Path(out)
    present = [path for path in out.iterdir() if path.name not in KEPT] if out.exists() else []
    if present and not force:
        raise ReleaseExists(f"{out} is not empty; pass --force to replace what is there")
    chosen = names or sorted(course.assignments)
    unknown = [part for part in chosen if part not in course.assignments]
    if unknown:
        raise GraderError(f"no assignment {', '.join(unknown)} in {course.assignments_dir}")
    for path in present:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    secrets = secret_lines(course)
    written, kept_back = [], []
    for part in chosen:
        notebook = course.assignments_dir / part / f"{part}.ipynb"
        if notebook.is_file():
            (out / part).mkdir(parents=True, exist_ok=True)
            written.append(Path(shutil.copyfile(notebook, out / part / notebook.name)))
        files, withheld = release_assignment(course.assignments[part], out / BUNDLE_FOLDER, seed=seed,
                                             data_dir=course.data_dir, secrets=secrets)
        written += files
        kept_back += withheld
    readme = course.assignments_dir / "README.md"
    if readme.is_file():
        written.append(Path(shutil.copyfile(readme, out / "README.md")))
    written.append(write_marker(out / BUNDLE_FOLDER, course=course.title, parts=chosen))
    return written, kept_back
