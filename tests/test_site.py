"""`grader site`: landing page from an assignments folder, notebooks to download, reports from a results folder."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import run_grader
from grader.exceptions import GraderError, ResultsUnreadable
from grader.report import report_names
from grader.site import build_site, read_course
from report_fixtures import check_golden, element_by_id, example_batch, parse_page

README = """# Digits *from scratch*

Work through the parts in order; each one builds on the last.

| part | notebook |
|---|---|
| Warm-up | [`warmup/warmup.ipynb`](warmup/warmup.ipynb) |
| Pixels | [`pixels/pixels.ipynb`](pixels/pixels.ipynb) |
| Still being written | `planned` |
"""


def write_notebook(path: Path, cells: list) -> None:
    """A small notebook on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells), path)


@pytest.fixture
def assignments(tmp_path) -> Path:
    """Three parts: two notebooks (named in the README's order, not alphabetically), one with only its checks."""
    folder = tmp_path / "assignments"
    write_notebook(folder / "pixels" / "pixels.ipynb", [
        new_markdown_cell("# Part 1: pixel similarity\n\nAverage the 3s into an **ideal** 3 and compare with `mean3`."),
        new_code_cell("mean3 = ...  # YOUR CODE HERE"),
        new_markdown_cell("## Stacking the images\n\nStack them."),
        new_markdown_cell("## The ideal digits\n\n### A detail that is not a section")])
    quiz_cell = new_markdown_cell("")
    quiz_cell.metadata["tags"] = ["q01"]
    second = new_markdown_cell("")
    second.metadata["tags"] = ["q02"]
    write_notebook(folder / "warmup" / "warmup.ipynb", [new_markdown_cell("# Warm-up questions\n\nTwo questions."),
                                                        quiz_cell, second])
    (folder / "planned").mkdir()
    (folder / "planned" / "checks.py").write_text(
        "from grader.checks import Assignment, Check, Value, comparison\n"
        "ASSIGNMENT = Assignment(name='planned', title='Training loops', "
        "checks=(Check('answer', 3, Value('answer'), comparison('equal')),))\n")
    (folder / "README.md").write_text(README)
    (folder / "__pycache__").mkdir()
    return folder


@pytest.fixture
def results(data_dir, tmp_path) -> Path:
    """A results folder as `grader check --out` leaves it."""
    folder = tmp_path / "graded"
    folder.mkdir()
    example_batch(data_dir).write_json(folder / "results.json")
    return folder


def test_site_command_builds_landing_page_notebooks_and_reports(assignments, results, tmp_path, data_dir, request):
    site = tmp_path / "site"
    done = run_grader("site", "--out", str(site), "--results", str(results), "--assignments", str(assignments))
    assert done.returncode == 0, done.stderr
    assert str(site / "index.html") in done.stdout
    for part in ("pixels", "warmup"):
        assert (site / "notebooks" / f"{part}.ipynb").read_bytes() == (assignments / part / f"{part}.ipynb").read_bytes()
    batch = example_batch(data_dir)
    assert all((site / "results" / name).is_file() for name in report_names(batch))
    summary = parse_page((site / "results" / "index.html").read_text(encoding="utf-8"))
    assert any(e.tag == "a" and e.attrs.get("href") == "../index.html" for e in summary)
    html = (site / "index.html").read_text(encoding="utf-8")
    check_golden("site/index.html", html, update=request.config.getoption("--update-golden"))
    elements = parse_page(html)
    links = [e.attrs["href"] for e in elements if e.tag == "a" and "href" in e.attrs]
    assert all((site / link.split("#")[0]).is_file() for link in links if not link.startswith("#"))
    assert [e.attrs["id"] for e in elements if e.tag == "li" and e.attrs.get("id", "").startswith("part-")] == [
        "part-warmup", "part-pixels", "part-planned"]
    assert "Training loops planned · 3 points" in element_by_id(elements, "part-planned").text
    assert "not available yet" in element_by_id(elements, "part-planned").text
    pixels = element_by_id(elements, "part-pixels").text
    assert "Stacking the images" in pixels and "The ideal digits" in pixels and "A detail" not in pixels
    assert "2 questions to answer" in element_by_id(elements, "part-warmup").text


def test_site_without_results_lists_the_parts_only(assignments, tmp_path):
    written = build_site(out_dir=tmp_path / "site", assignments_dir=assignments)
    assert sorted(p.relative_to(tmp_path / "site").as_posix() for p in written) == [
        "index.html", "notebooks/pixels.ipynb", "notebooks/warmup.ipynb"]
    assert "Class summary" not in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_course_reads_title_and_introduction_from_the_readme(assignments):
    course = read_course(assignments)
    assert course.title == "Digits *from scratch*"
    assert course.introduction == "Work through the parts in order; each one builds on the last."
    (assignments / "README.md").unlink()
    assert read_course(assignments).title == "Course assignments"
    assert [part.name for part in read_course(assignments).parts] == ["pixels", "planned", "warmup"]


def test_site_command_explains_a_missing_results_file(assignments, tmp_path):
    done = run_grader("site", "--out", str(tmp_path / "site"), "--results", str(tmp_path),
                      "--assignments", str(assignments))
    assert done.returncode == 2
    message = " ".join(done.stderr.split())  # the console may wrap the line
    assert "results.json does not exist" in message and "Traceback" not in message


def test_results_from_another_schema_are_refused(assignments, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 99, "submissions": []}))
    with pytest.raises(ResultsUnreadable, match="schema_version"):
        build_site(out_dir=tmp_path / "site", assignments_dir=assignments, results=tmp_path / "results.json")


def test_a_missing_assignments_folder_is_an_error(tmp_path):
    with pytest.raises(GraderError, match="does not exist"):
        build_site(out_dir=tmp_path / "site", assignments_dir=tmp_path / "nowhere")
