"""The questionnaire graded through the real pipeline: the solution, the solution with moved and duplicated
cells and code answers written in other ways, and code answers that are wrong. One batch, one kernel each.
(The blank assignment is graded with the example class: tests/test_examples.py.)"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from grader.pipeline import grade
from grader.results import Status

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "reference" / "solutions" / "questionnaire.ipynb"
FULL_MARKS = 42

OTHER_WAYS = {
    "q04": "# Builds a new list in one line: a for loop and an if filter inside brackets.\n"
           "def double_odds(numbers):\n    return [x + x for x in numbers if x % 2 != 0]",
    "q09": "import numpy as np\nt = np.arange(1, 10).reshape(3, 3)\ndoubled = t + t\nbottom_right = doubled[-2:, -2:]",
    "q21": "sigmoid = torch.sigmoid\nplt.plot(torch.linspace(-4, 4, 50), sigmoid(torch.linspace(-4, 4, 50)))\n"
           "plt.show()\n# An S shape: smooth, increasing, and always between 0 and 1.",
    "q26": "# A list of tuples: each tuple pairs an input x with its label y, like a Dataset.\n"
           "def pair_up(a, b):\n    return [(a[i], b[i]) for i in range(len(a))]",
    "q34": "# ReLU turns negative numbers into zero and keeps positive ones; it is the nonlinear activation.\n"
           "def relu(x):\n    return torch.where(x > 0, x, torch.zeros_like(x))\nplot_function(relu)",
}
WRONG = {
    "q04": "# Builds a new list in one line: a for loop and an if filter inside brackets.\n"
           "def double_odds(numbers):\n    out = []\n    for n in numbers:\n        if n % 2:\n"
           "            out.append(2 * n)\n    return out",
    "q09": "t = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])\ndoubled = t * 2\nbottom_right = doubled[:2, :2]",
    "q21": "def sigmoid(x):\n    return 1 / (1 + torch.exp(-x))\n"
           "# An S shape: smooth, increasing, always between 0 and 1.",
    "q26": "# A list of tuples: each tuple pairs an input x with its label y, like a Dataset.\n"
           "def pair_up(a, b):\n    return [[x, y] for x, y in zip(a, b)]",
    "q34": "# ReLU turns negative numbers into zero and keeps positive ones; it is the nonlinear activation.\n"
           "def relu(x):\n    return x.abs()\nplot_function(relu)",
}


CHINESE = {  # answers in Chinese (and one in French), mixed with code and English terms as students write
    "q10": "广播：两个张量形状不同时，较小的张量被当作扩展成相同形状来计算，并不会真的复制内存。",
    "q17": "学习率太大，每一步都会越过最小值，损失震荡甚至发散。",
    "q23": "新权重 = 旧权重 - 学习率 × 梯度，也就是 w -= lr * w.grad",
    "q29": "矩阵乘法",
    "q31": "因为 loss.backward() 会把梯度累加到 .grad 上，不清零的话之前批次的梯度会混进来。",
    "q34": "# ReLU 把负数变成 0，正数保持不变，是一种非线性的激活函数。\n"
           "def relu(x):\n    return x.clamp(min=0)\nplot_function(relu, min=-2, max=2)",
    "q12": "La descente de gradient stochastique : on calcule le gradient de la perte sur des mini-lots "
           "aléatoires et on met à jour les poids pas à pas.",
}


def answer_cell(notebook, tag: str):
    return next(cell for cell in notebook.cells if tag in cell.metadata.get("tags", []))


def with_answers(answers: dict[str, str]) -> nbformat.NotebookNode:
    notebook = nbformat.read(SOLUTION, as_version=4)
    for tag, source in answers.items():
        answer_cell(notebook, tag).source = source
    return notebook


def moved_and_duplicated() -> nbformat.NotebookNode:
    """Code answers written in other ways; all answers moved to the end in reverse order; a wrong copy of q05
    after it; an empty copy of q06 before it."""
    notebook = with_answers(OTHER_WAYS)
    answers = [cell for cell in notebook.cells if cell.metadata.get("tags", [""])[0] in
               {f"q{n:02d}" for n in range(1, 38)}]
    others = [cell for cell in notebook.cells if cell not in answers]
    wrong_copy = copy.deepcopy(answer_cell(notebook, "q05"))
    wrong_copy.source, wrong_copy.id = "A rank-3 tensor is just a list of numbers in Python.", "q05-copy"
    empty_copy = copy.deepcopy(answer_cell(notebook, "q06"))
    empty_copy.source, empty_copy.id = "", "q06-copy"
    notebook.cells = others[:2] + [empty_copy] + others[2:] + answers[::-1] + [wrong_copy]
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory, fastai_home):
    from grader.course import load_course

    """Each notebook graded once, in one batch: student name → SubmissionResult."""
    folder = tmp_path_factory.mktemp("questionnaire")
    notebooks = {"solution": nbformat.read(SOLUTION, as_version=4), "moved_and_duplicated": moved_and_duplicated(),
                 "wrong_code": with_answers(WRONG), "chinese": with_answers(CHINESE)}
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / f"{name}.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FASTAI_HOME", str(fastai_home))
        batch = grade([folder], course=load_course(REPO))
    return {submission.student: submission for submission in batch.submissions}


def checks_of(submission) -> dict:
    return {check.name: check for check in submission.checks}


def test_the_solution_gets_full_marks_with_confident_prose_scores(graded):
    solution = graded["solution"]
    assert solution.error is None and solution.problems == []
    assert (solution.score, solution.max_score) == (FULL_MARKS, FULL_MARKS)
    checks = checks_of(solution)
    assert len(checks) == 37
    prose = {name: check for name, check in checks.items() if name != "q09"}
    assert all(check.diagnostics["confidence"] >= 0.6 and check.diagnostics["language"] == "en"
               for check in prose.values())
    assert "confidence" not in checks["q09"].diagnostics and not checks["q09"].needs_review


def test_prose_shared_by_the_batch_is_flagged_as_near_copies_naming_the_other_students(graded):
    """The three notebooks of this batch share the solution's prose: each answer is a near-copy of the others'."""
    checks = checks_of(graded["solution"])
    for name, check in checks.items():
        if name not in ("q04", "q09", "q21", "q26", "q34"):  # code answers' comments: rewritten in the others
            assert check.needs_review and "near-copy of another student's answer" in check.message, name
            assert {pair["student"] for pair in check.diagnostics["near_copy_of"]} >= {"moved_and_duplicated",
                                                                                      "wrong_code"}
    assert checks["q01"].score == 1  # flagged, not marked down
    # the others rewrote q04's comment: the solution's is shared with the Chinese notebook's only
    assert [pair["student"] for pair in checks["q04"].diagnostics["near_copy_of"]] == ["chinese"]
    moved = checks_of(graded["moved_and_duplicated"])
    assert [pair["student"] for pair in moved["q26"].diagnostics["near_copy_of"]] == ["wrong_code"]
    assert "near_copy_of" not in checks_of(graded["chinese"])["q29"].diagnostics  # too short to be a copy


def test_the_plots_of_the_answers_are_kept_beside_the_reference_curve(graded):
    checks = checks_of(graded["moved_and_duplicated"])
    for name in ("q21", "q34"):
        plot = next(figure for figure in checks[name].figures if figure.kind == "plot")
        assert plot.data["student_png"] and len(plot.data["reference"]["x"]) == 81
    assert not [f for f in checks_of(graded["wrong_code"])["q21"].figures if f.kind == "plot"]  # no picture


def test_answers_carry_prompt_text_reference_and_concepts(graded):
    q07 = checks_of(graded["solution"])["q07"].answer
    assert q07.prompt.startswith("What are the L1 norm") and "absolute" in q07.text
    assert q07.reference == q07.text and q07.concepts_missing == [] and len(q07.concepts_found) == 4
    q21 = checks_of(graded["solution"])["q21"].answer
    assert "def sigmoid" in q21.text and q21.concepts_found


def test_moved_cells_lose_nothing_and_duplicates_count_once(graded):
    moved = graded["moved_and_duplicated"]
    assert moved.score == FULL_MARKS
    q05 = checks_of(moved)["q05"]
    assert q05.diagnostics["duplicates_ignored"] == 1 and "1 more cell(s) tagged q05 ignored" in q05.message
    q06 = checks_of(moved)["q06"]
    assert (q06.diagnostics["answer_cells"], q06.diagnostics["duplicates_ignored"]) == (2, 0) and q06.passed


def test_code_answers_written_differently_are_right(graded):
    checks = checks_of(graded["moved_and_duplicated"])
    for tag in OTHER_WAYS:
        assert checks[tag].passed, (tag, checks[tag].message)


def test_the_top_left_block_is_not_the_bottom_right_one(graded):
    q09 = checks_of(graded["wrong_code"])["q09"]
    assert q09.status == Status.PARTIAL and q09.score == 1
    assert "`bottom_right` should be" in q09.message and "[[2, 4], [8, 10]]" in q09.message


def test_wrong_code_answers_lose_their_code_points_but_keep_their_explanations(graded):
    checks = checks_of(graded["wrong_code"])
    assert checks["q04"].score == 1 and "must use a list comprehension" in checks["q04"].message
    assert checks["q21"].score == 1.5 and "plot: no picture" in checks["q21"].message
    assert checks["q26"].score == 1.5 and "not returned as a list of tuples" in checks["q26"].message
    assert checks["q34"].score == 1 and "values differ" in checks["q34"].message
    assert "plot: shown" in checks["q34"].message
    assert checks["q34"].diagnostics["code_fraction"] == 0  # a picture of the wrong function earns nothing


def test_chinese_answers_earn_their_points_and_a_french_one_is_withheld_for_review(graded):
    chinese = graded["chinese"]
    checks = checks_of(chinese)
    for name in ("q10", "q17", "q23", "q29", "q31", "q34"):
        assert checks[name].passed and checks[name].diagnostics["language"] == "zh", (name, checks[name].message)
    q12 = checks["q12"]
    assert q12.score == 0 and q12.needs_review and "needs review (language: French)" in q12.message
    assert (chinese.score, chinese.points_pending_review) == (FULL_MARKS - 1, 1)
