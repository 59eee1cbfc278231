"""Find submissions, tell whose they are, load assignment specs, and tell which assignment each notebook is."""
from __future__ import annotations

import importlib.util
import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from grader.exceptions import GraderError, UnknownAssignment
from grader.spec import Assignment

SKIPPED_FOLDERS = (".ipynb_checkpoints", "__pycache__", "node_modules")


@dataclass(frozen=True)
class SubmissionFile:
    """A file to grade and the student it belongs to."""

    path: Path
    student: str


def find_submissions(paths: list[Path], *, known_names: set[str] = frozenset()) -> list[SubmissionFile]:
    """Notebooks under `paths` (files or folders, recursively), each with its student's name.

    Layouts: `DIR/<student>/<assignment>.ipynb` and `DIR/<student>.ipynb`. A file named on its own is the
    student's `<assignment>.ipynb` (student = its folder) when its name is an assignment, else `<student>.ipynb`;
    so is a notebook directly in a folder given on its own (`grader check alice/`: alice's `baseline.ipynb`).
    """
    found: list[SubmissionFile] = []
    for root in paths:
        root = Path(root)
        if root.is_file() or not root.exists():  # a path that is not there is graded as a notebook not found
            stem = root.stem.lower()
            found.append(SubmissionFile(root, root.resolve().parent.name if stem in known_names else root.stem))
            continue
        for path in sorted(root.rglob("*.ipynb")):
            relative = path.relative_to(root)
            if any(part in SKIPPED_FOLDERS or part.startswith(".") for part in relative.parts):
                continue
            if len(relative.parts) > 1:
                student = relative.parts[0]
            else:  # directly in the folder given: one student's part, or a class of `<student>.ipynb` files
                student = root.resolve().name if path.stem.lower() in known_names else path.stem
            found.append(SubmissionFile(path, student))
    return found


def load_assignments(folder: Path) -> dict[str, Assignment]:
    """Every assignment spec in a course's assignments folder (`<part>/checks.py`), by part name."""
    return {checks_file.parent.name: _load_spec(checks_file) for checks_file in sorted(Path(folder).glob("*/checks.py"))}


def _load_spec(checks_file: Path) -> Assignment:
    """Import one `checks.py` by path and return its ASSIGNMENT."""
    name = f"grader_checks_{checks_file.parent.name}_{zlib.crc32(str(checks_file.resolve()).encode()):08x}"
    spec = importlib.util.spec_from_file_location(name, checks_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    assignment = getattr(module, "ASSIGNMENT", None)
    if not isinstance(assignment, Assignment):
        raise GraderError(f"{checks_file} defines no ASSIGNMENT = grader.checks.Assignment(...)")
    if assignment.name != checks_file.parent.name:
        raise GraderError(f"{checks_file} declares assignment {assignment.name!r}, not its folder's name")
    return assignment


def known_names(assignments: dict[str, Assignment]) -> set[str]:
    """File stems that identify an assignment: part names and their `also_matches` names."""
    return {name.lower() for a in assignments.values() for name in (a.name, *a.also_matches)}


def identify(metadata_assignment: object, stem: str, assignments: dict[str, Assignment]) -> tuple[str, list[Assignment]]:
    """(assignment name, parts to grade) from notebook metadata `grader.assignment`, else from the file name.

    The file name may be the part's name (`baseline`), a name a part also matches (`week_04`), or
    contain exactly one of them as a word (`alice_baseline`, `Copy of baseline (1)`, `sgd2`).
    """
    if metadata_assignment:
        name = str(metadata_assignment)
        if name not in assignments:
            raise UnknownAssignment(f"notebook metadata says assignment {name!r}, which is not one of "
                                    f"{', '.join(sorted(assignments))}")
        return name, [assignments[name]]
    stem = stem.lower()
    if stem in assignments:
        return stem, [assignments[stem]]
    also = [a for a in assignments.values() if stem in (m.lower() for m in a.also_matches)]
    if also:
        return stem, also
    named = _names_in(stem, assignments)
    if len(named) == 1:
        return identify(None, named[0], assignments)
    names = sorted(known_names(assignments))
    found = f" (it names {' and '.join(named)})" if named else ""
    raise UnknownAssignment(f"cannot tell which assignment this is{found}: name the file after its part "
                            f"({', '.join(f'{n}.ipynb' for n in names)}) or set notebook metadata "
                            f"{{\"grader\": {{\"assignment\": \"<part>\"}}}} (parts: {', '.join(sorted(assignments))})")


def _names_in(stem: str, assignments: dict[str, Assignment]) -> list[str]:
    """Known names (parts, `also_matches`) found in a file name as words (not inside a longer word or a longer name)."""
    spans = [(match.start(), match.end(), name) for name in known_names(assignments)
             for match in re.finditer(rf"(?<![a-z]){re.escape(name)}(?![a-z])", stem)]
    outer = [(start, end, name) for start, end, name in spans
             if not any(s <= start and end <= e and (s, e) != (start, end) for s, e, _ in spans)]
    return sorted({name for _, _, name in outer})
