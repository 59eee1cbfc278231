"""The engine on the fixture course (tests/fixtures/course): its submissions, graded with no chapter folder in reach.

All submissions are graded in one `grader check` run (kernels are slow to start) and asserted one by one.
The course is copied outside the repository and the grader runs from there, so the chapter's
`reference` and `assignments` cannot be imported: the engine needs nothing but the course it is given.
"""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURE_COURSE, run_grader

CHECKS = {"double", "answer", "later", "seeded", "total"}


@pytest.fixture(scope="module")
def graded(tiny_home, tmp_path_factory):
    """Every fixture submission graded once, from a copy of the course: {student: submission dict}, the process."""
    course = tmp_path_factory.mktemp("elsewhere") / "course"
    shutil.copytree(FIXTURE_COURSE, course, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("engine-out")
    env = {"TINY_HOME": str(tiny_home), "GRADER_COURSE": "", "FASTAI_HOME": str(course / "no-such-folder")}
    chapter = run_grader("-c", "import reference", env=env, cwd=course.parent, module=False)
    assert "No module named 'reference'" in chapter.stderr  # the chapter course is out of reach here
    done = run_grader("--course", str(course), "check", str(course / "submissions"), "--out", str(out),
                      "--timeout", "20", "--json", env=env, cwd=course.parent)
    document = json.loads(done.stdout)
    assert json.loads((out / "results.json").read_text()) == document
    return {s["student"]: s for s in document["submissions"]}, done


def lost(submission) -> dict[str, str]:
    """Checks that did not pass, with their status."""
    return {c["name"]: c["status"] for c in submission["checks"] if c["status"] != "passed"}


def test_fixtures_all_graded_exit_zero(graded):
    submissions, done = graded
    assert done.returncode == 0, done.stderr
    assert set(submissions) == {p.stem for p in (FIXTURE_COURSE / "submissions").glob("*.ipynb")}
    assert all({c["name"] for c in s["checks"]} == CHECKS for s in submissions.values())


def test_all_correct_passes_everything_including_seed_and_course_data(graded):
    submission = graded[0]["all_correct"]
    assert lost(submission) == {} and submission["score"] == submission["max_score"] == 6
    assert submission["problems"] == []


def test_cell_error_is_recorded_and_later_cells_still_run(graded):
    submission = graded[0]["cell_raises_then_continues"]
    assert lost(submission) == {}
    [problem] = submission["problems"]
    assert (problem["kind"], problem["cell_index"], problem["ename"], problem["cell_source"]) == \
        ("error", 2, "ZeroDivisionError", "1 / 0")


def test_infinite_loop_times_out_and_rest_is_graded(graded):
    submission = graded[0]["infinite_loop_then_continues"]
    assert lost(submission) == {}
    [problem] = submission["problems"]
    assert (problem["kind"], problem["cell_index"]) == ("timeout", 2)


def test_kernel_death_leaves_later_work_not_run(graded):
    submission = graded[0]["kernel_dies_midway"]
    assert lost(submission) == {"later": "not_run", "total": "not_run"}
    assert [(p["kind"], p["cell_index"]) for p in submission["problems"]] == [("kernel_died", 3)]
    later = next(c for c in submission["checks"] if c["name"] == "later")
    assert "cell 5" in later["message"] and "kernel died" in later["message"]


def test_syntax_error_makes_its_definitions_not_run(graded):
    submission = graded[0]["syntax_error_in_definition"]
    assert lost(submission) == {"double": "not_run"}
    assert submission["problems"][0]["ename"] == "SyntaxError"


def test_missing_function_fails_with_hint(graded):
    submission = graded[0]["missing_function"]
    assert lost(submission) == {"double": "failed"}
    double = next(c for c in submission["checks"] if c["name"] == "double")
    assert "not in this notebook: no cell defines `double`" in double["message"] and "2 * x" in double["message"]


def test_hard_coded_output_fails_on_fresh_inputs(graded):
    submission = graded[0]["hard_coded_output"]
    assert lost(submission) == {"double": "failed"}
    double = next(c for c in submission["checks"] if c["name"] == "double")
    assert double["diagnostics"]["mismatched_fraction"] > 0.5


def test_function_that_kills_the_kernel_costs_only_its_check(graded):
    submission = graded[0]["function_kills_kernel_when_called"]
    assert lost(submission) == {"double": "failed"}


def test_monkeypatching_the_kernel_gains_nothing(graded):
    submission = graded[0]["monkeypatches_comparisons"]
    assert lost(submission) == {"double": "failed", "answer": "failed"}


def test_setup_cell_failure_is_the_cause_of_the_name_errors_after_it(graded):
    submission = graded[0]["setup_cell_fails_later_cells_follow"]
    assert lost(submission) == {"answer": "not_run", "later": "not_run"}
    assert [(p["cell_index"], p["ename"], p["caused_by"]) for p in submission["problems"]] == [
        (1, "ModuleNotFoundError", None), (2, "NameError", 1), (3, "NameError", 1), (4, "NameError", 1),
        (6, "IndexError", None)]  # 3 follows through 2 (`helper`), 4 from the star import that never ran


def test_check_reports_a_failed_setup_cell_once_in_terminal_json_and_html(fixture_course, tmp_path):
    import nbformat
    from report_fixtures import element_by_id, parse_page

    setup = fixture_course / "submissions" / "setup_cell_fails_later_cells_follow.ipynb"
    without_ids = nbformat.read(fixture_course / "submissions" / "all_correct.ipynb", as_version=4)
    for cell in without_ids.cells:
        del cell["id"]  # as older tools write them: nbformat warns about these unless the grader gives them ids
    (tmp_path / "ben").mkdir()
    (tmp_path / "ben" / "tiny.ipynb").write_text(json.dumps(without_ids))
    (tmp_path / "cy").mkdir()  # nbformat 4.4, as the book's chapter notebook is: no ids at all
    (tmp_path / "cy" / "tiny.ipynb").write_text(json.dumps(dict(without_ids, nbformat_minor=4)))
    out = tmp_path / "out"
    done = run_grader("check", str(setup), str(tmp_path / "ben" / "tiny.ipynb"), str(tmp_path / "cy" / "tiny.ipynb"),
                      "--out", str(out), "--timeout", "20")
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "warn" not in done.stderr.lower(), done.stderr
    listed = [line.strip() for line in done.stdout.splitlines() if line.startswith("  error in ")]
    assert listed == ["error in cell 2: ModuleNotFoundError: No module named 'not_a_package_xyz' — 3 later cells "
                      "failed because of it", "error in cell 7: IndexError: list index out of range"]
    assert "cell 2: ModuleNotFoundError (+3 later); cell 7: IndexError" in done.stdout
    [submission, ben, cy] = json.loads((out / "results.json").read_text())["submissions"]
    assert [p["caused_by"] for p in submission["problems"]] == [None, 1, 1, 1, None]
    assert ben["score"] == ben["max_score"] == 6 and cy["score"] == cy["max_score"]
    report = next((out / "reports").glob("setup-cell-fails-later-cells-follow*.html")).read_text(encoding="utf-8")
    elements = parse_page(report)
    cause = element_by_id(elements, "problem-cell-2").text
    assert "error in cell 2: ModuleNotFoundError" in cause and "3 later cells failed because of it" in cause
    assert "cell 3: NameError: name 'not_a_package_xyz' is not defined" in cause  # listed under its cause
    assert "cell 5: NameError: name 'tool' is not defined" in cause
    assert "list index out of range" in element_by_id(elements, "problem-cell-7").text
    assert [e.attrs["id"] for e in elements if e.tag == "article" and "problem" in e.attrs.get("class", "")] == [
        "problem-cell-2", "problem-cell-7"]


def test_warnings_and_stderr_are_not_failures(graded):
    submission = graded[0]["warnings_and_stderr"]
    assert lost(submission) == {} and submission["problems"] == []


def test_fixture_notebooks_are_up_to_date(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_submissions", FIXTURE_COURSE / "make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "FOLDER", tmp_path)
    for path in module.write_all():
        assert path.read_text() == (FIXTURE_COURSE / "submissions" / path.name).read_text(), path.name


def test_self_check_inside_a_notebook_prints_a_labelled_preview(fixture_course, tmp_path):
    import os

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "def double(x):\n    return x + x", "answer = 41", "from grader import check\ncheck('tiny')")])
    env = dict(os.environ)  # $GRADER_COURSE and $TINY_HOME name the fixture course and its data
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel(env=env):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert "PREVIEW ONLY" in printed and "✓ double (2/2)" in printed and "✗ answer (0/1)" in printed
