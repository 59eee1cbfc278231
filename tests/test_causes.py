"""Root causes of execution problems (grader.causes) on hand-built problems, and how results and outputs show them."""
from __future__ import annotations

from rich.console import Console

from grader.causes import attribute_causes, could_supply_any_name, failing_line
from grader.emitters.per_submission import problem_lines
from grader.emitters.table import emit as emit_table
from grader.results import BatchResult, ExecutionProblem, SubmissionResult

FASTBOOK = "No module named 'fastbook'"


def error(cell: int, source: str, ename: str, evalue: str, *, line: int | None = None) -> ExecutionProblem:
    """A cell that raised; `line`: the failing line, written into the traceback as IPython 9 colours it."""
    traceback = f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[{cell + 2}]\x1b[39m\x1b[32m, line {line}\x1b[39m\n" \
        if line else ""
    return ExecutionProblem("error", cell, source, ename, evalue, traceback)


def undefined(cell: int, name: str, source: str = "") -> ExecutionProblem:
    """A cell that raised NameError for `name`."""
    return error(cell, source or f"print({name})", "NameError", f"name '{name}' is not defined")


def causes(problems: list[ExecutionProblem]) -> dict[int, int | None]:
    """cell index → the root cause's cell index, after the analysis."""
    return {p.cell_index: p.caused_by for p in attribute_causes(problems)}


def test_name_bound_by_an_earlier_failed_cell_follows_from_it_transitively():
    problems = [error(1, "import not_a_package_xyz", "ModuleNotFoundError", "No module named 'not_a_package_xyz'"),
                undefined(3, "not_a_package_xyz", "helper = not_a_package_xyz.helper"),
                undefined(5, "helper", "dls = helper(path)"),
                undefined(8, "dls", "learn = Learner(dls)\nlearn.fit(1)")]
    assert causes(problems) == {1: None, 3: 1, 5: 1, 8: 1}  # 8 → 5 → 3 → the root, 1


def test_failed_star_import_supplies_names_no_cell_defines():
    problems = [error(1, "from fastai.vision.all import *\nfrom fastbook import *\nmatplotlib.rc('image')",
                      "ModuleNotFoundError", FASTBOOK, line=2),
                undefined(4, "untar_data", "path = untar_data(URLs.MNIST_SAMPLE)"),
                undefined(6, "path", "path.ls()")]
    assert causes(problems) == {1: None, 4: 1, 6: 1}


def test_independent_errors_stay_causes_of_their_own():
    problems = [error(1, "import fastbook", "ModuleNotFoundError", FASTBOOK),  # no star import: only `fastbook`
                undefined(2, "typo_nam"),  # defined nowhere
                error(3, "x = 1 / 0", "ZeroDivisionError", "division by zero"),
                undefined(4, "x", "print(x)"),  # follows from cell 3, which binds it
                undefined(5, "later"),  # the student defines it in a later cell: out of order, not a library name
                error(6, "later = 1\nundefined_thing", "NameError", "name 'undefined_thing' is not defined")]
    assert causes(problems) == {1: None, 2: None, 3: None, 4: 3, 5: None, 6: None}


def test_star_import_before_the_failing_line_did_run():
    ran = error(1, "from os import *\n1 / 0", "ZeroDivisionError", "division by zero", line=2)
    never_ran = error(1, "1 / 0\nfrom os import *", "ZeroDivisionError", "division by zero", line=1)
    assert not could_supply_any_name(ran) and could_supply_any_name(never_ran)
    assert causes([ran, undefined(2, "getcwd")]) == {1: None, 2: None}
    assert causes([never_ran, undefined(2, "getcwd")]) == {1: None, 2: 1}


def test_star_import_without_a_failing_line_counts_for_import_errors_syntax_errors_and_timeouts():
    source = "from fastbook import *"
    assert could_supply_any_name(error(0, source, "ModuleNotFoundError", FASTBOOK))
    assert could_supply_any_name(error(0, source + "\ndef f(:", "SyntaxError", "invalid syntax"))
    assert could_supply_any_name(ExecutionProblem("timeout", 0, source, "CellTimeoutError", "ran too long"))
    assert not could_supply_any_name(error(0, source, "ValueError", "bad value"))
    assert not could_supply_any_name(error(0, "import fastbook", "ModuleNotFoundError", FASTBOOK))


def test_failing_line_is_read_from_the_cells_own_frame():
    traceback = ("NameError   Traceback (most recent call last)\nCell In[2], line 3\n      1 def f():\n----> 3 f()\n"
                 "\nCell In[2], line 2, in f()\n----> 2     return zz\nNameError: name 'zz' is not defined")
    assert failing_line(traceback) == 3
    assert failing_line("Input In [4], in <cell line: 5>()") == 5
    assert failing_line("") is None


def test_a_name_error_is_the_only_kind_that_follows_and_only_from_earlier_cells():
    problems = [undefined(2, "dls"), error(4, "dls = make()", "RuntimeError", "boom"),
                error(6, "dls.train", "AttributeError", "'NoneType' object has no attribute 'train'")]
    assert causes(problems) == {2: None, 4: None, 6: None}


def test_groups_report_each_cause_once_with_its_followers_first_then_independent_errors():
    problems = attribute_causes([
        error(0, "import fastbook\nfastbook.setup_book()", "ModuleNotFoundError", FASTBOOK),
        error(1, "from fastai.vision.all import *\nfrom fastbook import *", "ModuleNotFoundError", FASTBOOK, line=2),
        error(2, "1 / 0", "ZeroDivisionError", "division by zero"),
        *[undefined(index, "plot_function") for index in range(3, 8)],
        undefined(8, "fastbook", "fastbook.x()")])
    submission = SubmissionResult("nb.ipynb", "ada", "baseline", problems=problems)
    [fastbook, zero] = submission.problem_groups
    assert [p.cell_index for p in fastbook.causes] == [0, 1] and len(fastbook.followers) == 6
    assert fastbook.summary == f"cells 1, 2: ModuleNotFoundError: {FASTBOOK} — 6 later cells failed because of them"
    assert zero.summary == "cell 3: ZeroDivisionError: division by zero" and zero.followers == []
    assert problem_lines(submission) == [f"error in {fastbook.summary}", f"error in {zero.summary}"]


def test_one_follower_reads_in_the_singular_and_cells_count_from_one():
    problems = attribute_causes([error(2, "dls = bad()", "NameError", "name 'bad' is not defined"),
                                 undefined(4, "dls")])
    [group] = SubmissionResult("nb.ipynb", "ada", "baseline", problems=problems).problem_groups
    assert group.summary == "cell 3: NameError: name 'bad' is not defined — 1 later cell failed because of it"


def test_caused_by_round_trips_and_older_results_read_as_independent():
    problems = attribute_causes([error(1, "import x", "ModuleNotFoundError", "No module named 'x'"),
                                 undefined(2, "x")])
    batch = BatchResult([SubmissionResult("nb.ipynb", "ada", "baseline", problems=problems)])
    document = batch.to_dict()
    assert [p["caused_by"] for p in document["submissions"][0]["problems"]] == [None, 1]
    assert BatchResult.from_dict(document).submissions[0].problems == problems
    for problem in document["submissions"][0]["problems"]:
        del problem["caused_by"]  # written before the field existed
    older = BatchResult.from_dict(document).submissions[0]
    assert [len(g.followers) for g in older.problem_groups] == [0, 0]


def test_terminal_shows_each_cause_once_with_its_count():
    problems = attribute_causes([error(1, "import not_a_package_xyz", "ModuleNotFoundError",
                                       "No module named 'not_a_package_xyz'"),
                                 *[undefined(index, "not_a_package_xyz") for index in range(2, 105)],
                                 error(105, "[1][3]", "IndexError", "list index out of range [sic]")])
    console = Console(record=True, width=200)
    emit_table(BatchResult([SubmissionResult("nb.ipynb", "ada", "baseline", problems=problems)]), out_dir=None,
               console=console)
    printed = console.export_text()
    assert ("error in cell 2: ModuleNotFoundError: No module named 'not_a_package_xyz' — 103 later cells failed "
            "because of it") in printed
    assert "error in cell 106: IndexError: list index out of range [sic]" in printed
    assert printed.count("NameError") == 0
    assert "cell 2: ModuleNotFoundError (+103 later); cell 106: IndexError" in printed
