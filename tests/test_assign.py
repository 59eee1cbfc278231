"""`grader assign`: assignments/ is exactly what it generates, stubs replace solutions, nothing hidden leaks."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, run_grader
from grader.assign import SolutionMarkersError, make_assignments, strip_solutions
from grader.checks import Assignment, Check, Equal, Value
from grader.course import load_course
from grader.pipeline import grade
from grader.results import Status, Visibility

SOURCE = REPO / "reference" / "solutions"
ASSIGNMENTS = REPO / "assignments"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A fresh `grader assign` run into a temporary folder, through the real command."""
    out = tmp_path_factory.mktemp("assignments")
    done = run_grader("assign", "--source", str(SOURCE), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def generated_files(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*") if path.suffix in (".ipynb", ".md")}


def test_assignments_folder_is_exactly_what_grader_assign_generates(generated):
    files = generated_files(generated)
    assert {Path(f"{p.stem}/{p.stem}.ipynb") for p in SOURCE.glob("*.ipynb")} | {Path("README.md")} == files
    assert generated_files(ASSIGNMENTS) == files, "run `grader assign` and keep assignments/ in step"
    for relative in sorted(files):
        assert (ASSIGNMENTS / relative).read_bytes() == (generated / relative).read_bytes(), \
            f"assignments/{relative} differs from what `grader assign` generates: run `grader assign`"


def test_a_second_run_writes_the_same_bytes(generated, tmp_path):
    make_assignments(source=SOURCE, out=tmp_path, specs={})
    for relative in generated_files(tmp_path) - {Path("README.md")}:
        assert (tmp_path / relative).read_bytes() == (generated / relative).read_bytes()


@pytest.mark.parametrize("solution", sorted(SOURCE.glob("*.ipynb")), ids=lambda path: path.stem)
def test_student_notebooks_hold_no_solutions_outputs_or_answers(generated, solution):
    student = nbformat.read(generated / solution.stem / f"{solution.stem}.ipynb", as_version=4)
    original = nbformat.read(solution, as_version=4)
    assert student.metadata["grader"] == original.metadata["grader"]
    assert [cell.get("id") for cell in student.cells] == [cell.get("id") for cell in original.cells]
    for mine, theirs in zip(student.cells, original.cells):
        assert mine.metadata.get("tags", []) == theirs.metadata.get("tags", [])
        if mine.cell_type == "code":
            assert "# BEGIN SOLUTION" not in mine.source and "# END SOLUTION" not in mine.source
            assert mine.outputs == [] and mine.execution_count is None
        if mine.cell_type == "code" and "# BEGIN SOLUTION" in theirs.source:
            assert "# YOUR CODE HERE\nraise NotImplementedError()" in mine.source.replace("    ", "")
        if any(tag.startswith("q") and tag[1:].isdigit() for tag in mine.metadata.get("tags", [])):
            assert mine.source == "" and theirs.source.strip()


def test_a_solution_region_becomes_a_stub_with_its_indentation():
    source = "def f(x):\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n\nf(1)"
    assert strip_solutions(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nf(1)"


@pytest.mark.parametrize("source, problem", [
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n# END SOLUTION", "without a # BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
])
def test_unpaired_markers_are_refused(source, problem):
    with pytest.raises(SolutionMarkersError, match=problem):
        strip_solutions(source, where="demo.ipynb cell 3")


def test_the_command_reports_unpaired_markers_in_one_line(tmp_path):
    source = tmp_path / "solutions"
    source.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# BEGIN SOLUTION\nx = 1", id="a")])
    nbformat.write(notebook, source / "broken.ipynb")
    done = run_grader("assign", "--source", str(source), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "broken.ipynb cell 1" in done.stderr and "never closed" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_readme_lists_visible_checks_and_points_but_never_hidden_ones(tmp_path):
    source = tmp_path / "solutions"
    source.mkdir()
    shutil.copy(SOURCE / "README.md.j2", source)
    cells = [nbformat.v4.new_code_cell("# BEGIN SOLUTION\nmean3 = 1\n# END SOLUTION", id="a")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"grader": {"assignment": "baseline"}}),
                   source / "baseline.ipynb")
    spec = Assignment(name="baseline", title="Pixel similarity", checks=(
        Check("mean3", points=2, fetch=Value("mean3"), compare=Equal()),
        Check("secret_accuracy", points=3, fetch=Value("mean3"), compare=Equal(), visibility=Visibility.HIDDEN)))
    make_assignments(source=source, out=tmp_path / "out", specs={"baseline": spec})
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "| `mean3` | 2 |" in readme and "secret_accuracy" not in readme
    assert "Pixel similarity (`baseline`, 5 points)" in readme and "Another 3 points" in readme


def test_the_readme_gives_every_part_its_declared_points(generated):
    readme = (generated / "README.md").read_text()
    for part, spec in load_course(REPO).assignments.items():
        assert f"(`{part}`, {spec.max_score:g} points)" in readme


def test_blank_notebooks_of_the_code_parts_run_and_score_zero(generated, fastai_home, monkeypatch):
    """Nothing filled in: every stub raises, no check passes (the blank questionnaire: tests/test_examples.py)."""
    monkeypatch.setenv("FASTAI_HOME", str(fastai_home))
    course = load_course(REPO)
    parts = sorted(part for part in course.assignments if part != "questionnaire"
                   and (generated / part / f"{part}.ipynb").exists())
    batch = grade([generated / part / f"{part}.ipynb" for part in parts], course=course)
    assert [s.assignment for s in batch.submissions] == parts
    free_points = {s.assignment: [(c.name, c.score) for c in s.checks if c.score] for s in batch.submissions}
    assert not any(free_points.values()), f"points for blank notebooks: {free_points}"
    for submission in batch.submissions:
        assert submission.error is None, (submission.assignment, submission.error)
        assert submission.checks and all(c.status in (Status.FAILED, Status.NOT_RUN) for c in submission.checks)
        assert {p.kind for p in submission.problems} == {"error"}  # stubs raise; no timeout, no dead kernel
