"""Prose answers read fairly: any language, short correct answers, review only where unsure (issue 14).

Real answers in English and Chinese against the questionnaire's rubric, the language rules (withheld, never
0), the confidence rules, near-copies in a batch, and the quality bounds on benchmarks/questionnaire_labelled.toml.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from grader.answers import FreeText, flag_near_copies
from grader.comparison import Context
from grader.results import Answer, BatchResult, CheckResult, Status, SubmissionResult
from grader.rubric import detect_language, load_rubrics, near_copies, score_answer, tokens, mentions

REPO = Path(__file__).resolve().parents[1]
RUBRICS = load_rubrics(REPO / "assignments" / "questionnaire" / "rubric.toml")
SOLUTION = nbformat.read(REPO / "reference" / "solutions" / "questionnaire.ipynb", as_version=4)
PROMPTS = {tag: next(c.source for c in SOLUTION.cells if f"{tag}-prompt" in c.metadata.get("tags", []))
           for tag in RUBRICS}


def score(tag: str, text: str):
    return score_answer(text, prompt=PROMPTS[tag], rubric=RUBRICS[tag][1])


CORRECT_CHINESE = [
    ("q12", "SGD 是随机梯度下降：在随机的小批量数据上计算损失的梯度，然后一步一步地更新权重来降低损失。"),
    ("q10", "广播：当两个张量形状不同时，较小的张量被当作扩展成相同的形状，但并不会真的复制数据，所以很高效。"),
    ("q17", "学习率太大，每一步都会越过最小值，损失来回震荡甚至发散。"),
    ("q18", "梯度就是损失对权重的导数，告诉我们往哪个方向改变权重能让损失下降。"),
    ("q20", "准确率只有在预测翻转时才变化，权重的微小改变几乎不改变它，所以梯度几乎处处为零。"),
    ("q22", "指标是给人看的，用来评估模型；损失函数是优化器在训练时求梯度用的，所以必须可导、平滑。"),
    ("q23", "新权重 = 旧权重减去学习率乘以梯度"),
    ("q29", "矩阵乘法"),
    ("q31", "因为 backward() 会把梯度累加到 .grad 上而不是替换，不清零就会混入之前批次的梯度。"),
    ("q35", "激活函数是放在线性层之间的非线性函数，比如 ReLU；没有它，多层线性层只相当于一个线性函数。"),
    ("q16", "损失衡量预测有多差，越低越好；SGD 用它的梯度来更新权重，所以它必须可微。"),
    ("q27", "view 改变张量的形状，不复制数据；-1 那一维由 PyTorch 自动推断。"),
]

WRONG = [
    ("q12", "A kind of graphics card made by Nvidia."), ("q12", "一种显卡的型号。"),
    ("q29", "It is a decorator."), ("q29", "它是 Python 的装饰器。"),
    ("q17", "It uses too much RAM."), ("q17", "因为会占用太多内存。"),
    ("q10", "Sending the model to every GPU."), ("q10", "把模型发送到每一块显卡上。"),
    ("q31", "So that the model starts from scratch each epoch."), ("q31", "为了让模型每个周期重新开始训练。"),
    ("q18", "A colour effect in plots."), ("q18", "一种颜色渐变的效果。"),
]


@pytest.mark.parametrize("tag, text", CORRECT_CHINESE)
def test_correct_chinese_answers_earn_their_points(tag, text):
    scored = score(tag, text)
    assert scored.language == "zh" and not scored.pending
    assert scored.fraction == 1, (scored.found, scored.missing)


@pytest.mark.parametrize("tag, text", [("q29", "Performs matrix multiplication."), ("q23", "w -= lr*grad"),
                                       ("q23", "Subtract lr*gradient."), ("q29", "Multiplies two matrices")])
def test_a_correct_three_word_english_answer_earns_its_points(tag, text):
    scored = score(tag, text)
    assert len(text.split()) <= 3 and scored.fraction == 1 and scored.reason == ""
    assert not scored.needs_review  # brevity lowers confidence, not below the review line


@pytest.mark.parametrize("tag, text", WRONG)
def test_a_wrong_answer_in_either_language_earns_nothing(tag, text):
    scored = score(tag, text)
    assert scored.fraction == 0 and not scored.pending


def test_mixed_chinese_english_and_code_is_read_as_one_answer():
    scored = score("q25", "for xb, yb in dl: 先预测 preds = model(xb)，计算损失 loss，loss.backward() 求梯度，"
                          "然后用学习率 lr 更新参数，最后把梯度清零 p.grad.zero_()")
    assert scored.fraction == 1 and scored.language == "zh"


def test_inline_code_abbreviations_and_inflections_are_read():
    assert mentions(tokens("call loss.backward() then opt.step()", expand=True), "backward")
    assert mentions(tokens("SGD", expand=True), "stochastic gradient descent")
    assert mentions(tokens("multiply by the lr", expand=True), "learning rate")
    assert score("q30", "Backpropagates: computes grads of the loss wrt the params, stored in .grad").fraction == 1


@pytest.mark.parametrize("text, language", [
    ("La descente de gradient stochastique met à jour les poids pas à pas.", "French"),
    ("Die Ableitung des Verlusts nach den Gewichten zeigt die Richtung.", "German"),
    ("行列の掛け算をします。", "Japanese"),
])
def test_an_answer_in_a_language_the_rubric_lacks_is_withheld_for_review_never_zeroed(text, language):
    scored = score("q12", text)
    assert scored.pending and scored.needs_review and f"language: {language}" in scored.reason
    outcome = FreeText(tag="q12", prompt=PROMPTS["q12"], reference="", rubric=RUBRICS["q12"][1]).judge(
        [{"cell_type": "markdown", "source": text, "has_picture": False}], None, Context({}, Path(".")))
    assert outcome.needs_review and outcome.diagnostics["pending_review"] == 1
    assert "needs review (language" in outcome.message


def test_short_english_is_english_whatever_a_detector_says_of_few_words():
    assert detect_language("Matrix multiplication.") == "en" and detect_language("Optimizer step") == "en"
    assert detect_language("矩阵乘法") == "zh" and detect_language("") == ""


def test_confidence_is_low_only_where_unsure():
    assert not score("q17", "Too large a step overshoots the minimum and the loss diverges.").needs_review
    negated = score("q07", "L1 does not use absolute values and RMSE is not a square root; both measure error.")
    assert negated.needs_review and "negation" in negated.review[0]
    long = score("q29", "It multiplies matrices. " + "Then I wrote about many other things I learned this week, "
                                                         "like cats, dogs, weather, trains and my garden. " * 8)
    assert long.fraction == 1 and long.needs_review and "much longer" in long.review[0]


def _submission(student: str, text: str) -> SubmissionResult:
    check = CheckResult("q13", "questionnaire", 1.0, 1.0, Status.PASSED, "mentions 3 of 3 key ideas",
                        diagnostics={"confidence": 0.9}, answer=Answer("prompt", text, "reference"))
    return SubmissionResult(f"{student}.ipynb", student, "questionnaire", [check])


def test_near_copies_in_a_batch_are_flagged_with_the_pair_and_keep_their_scores():
    text = "The whole dataset takes too long per step and one image gives a noisy gradient; a batch is a fair estimate."
    batch = BatchResult([_submission("lin", text), _submission("max", text.replace(";", ",")),
                         _submission("ora", "One image is noisy, all images are slow, so batches.")])
    assert flag_near_copies(batch) == 2
    lin, max_, ora = (s.checks[0] for s in batch.submissions)
    assert lin.needs_review and max_.needs_review and not ora.needs_review
    assert lin.diagnostics["near_copy_of"][0]["student"] == "max" and "near-copy of max" in \
        lin.diagnostics["review_reasons"][0]
    assert "near-copy of another student's answer" in lin.message and "max" not in lin.message
    assert max_.diagnostics["near_copy_of"][0]["text"] == text and lin.score == 1
    assert near_copies([("a", "Matrix multiplication."), ("b", "Matrix multiplication.")]) == []  # too short


def test_the_labelled_set_meets_the_review_bounds():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import questionnaire_review as bench

    graded = bench.score_all(bench.labelled(), bench.prompts())
    assert len(graded) >= 60
    assert {g.label for g in graded} == {"right", "partial", "wrong"}
    assert {g.scored.language for g in graded} >= {"en", "zh"} and any(g.copy for g in graded)
    assert 3 * sum(g.flagged for g in graded) <= len(graded)
    assert not [g for g in graded if g.label == "wrong" and g.scored.fraction >= 1 and not g.flagged]
    assert all(g.flagged for g in graded if g.copy)
    right = [g for g in graded if g.label == "right" and not g.scored.pending]
    assert all(g.scored.fraction == 1 for g in right)
    scored = [g for g in graded if not g.scored.pending]
    assert sum(abs(g.scored.fraction - g.expert) for g in scored) <= 0.15 * sum(1 for _ in scored)


def test_pending_points_are_totalled_apart_and_the_terminal_says_how_many_answers_await_review(tmp_path):
    from rich.console import Console

    from grader.emitters.table import emit
    from grader.report import render_summary

    withheld = CheckResult("q12", "questionnaire", 0.0, 1.0, Status.FAILED, "needs review (language: French)",
                           diagnostics={"confidence": 0.0, "language": "fr", "pending_review": 1.0,
                                        "review_reasons": ["language: French"]},
                           answer=Answer("What is SGD?", "La descente de gradient stochastique.", "reference"),
                           needs_review=True)
    sure = CheckResult("q29", "questionnaire", 1.0, 1.0, Status.PASSED, "mentions 1 of 1 key ideas",
                       diagnostics={"confidence": 0.9}, answer=Answer("What does @ do?", "Matrix product", "r"))
    submission = SubmissionResult("ines.ipynb", "ines", "questionnaire", [withheld, sure])
    assert (submission.score, submission.points_pending_review, submission.answers_to_review) == (1.0, 1.0, 1)
    assert submission.to_dict()["points_pending_review"] == 1.0
    assert "points_pending_review" not in SubmissionResult("x", "x", "q", [sure]).to_dict()
    assert SubmissionResult.from_dict(submission.to_dict()).points_pending_review == 1.0
    console = Console(record=True, width=200)
    emit(BatchResult([submission]), out_dir=tmp_path, console=console)
    text = console.export_text()
    assert "1 answer of 1 submission awaits review (1 point pending review" in text and "1/2 (+1 pending review)" in text
    page = render_summary(BatchResult([submission]), report_hrefs=["reports/ines.html"])
    assert "Answers pending review" in page and "1 points pending review" in page and "+1 pending review" in page
    assert "reports/ines.html#answer-check-questionnaire-q12" in page and "language: French" in page
    overridden = BatchResult([SubmissionResult("ines.ipynb", "ines", "questionnaire",
                                               [withheld.overridden(1.0, "read: right"), sure])])
    assert overridden.submissions[0].points_pending_review == 0 and "pending review" not in render_summary(
        overridden, report_hrefs=["r.html"])


def test_a_students_plot_is_shown_beside_the_reference_and_linked_from_the_class_summary():
    import base64
    import io

    from PIL import Image

    from grader.figures import draw
    from grader.report import render_submission, render_summary
    from grader.results import Figure

    buffer = io.BytesIO()
    Image.new("RGB", (900, 600), "white").save(buffer, format="PNG")
    figure = Figure("plot", "Your plot of question 21 beside the reference",
                    {"student_png": base64.b64encode(buffer.getvalue()).decode(),
                     "reference": {"x": [-1.0, 0.0, 1.0], "y": [0.27, 0.5, 0.73], "label": "sigmoid(x)"}})
    drawn = draw(figure)
    assert [p.caption for p in drawn.pictures] == ["your plot", "reference"] and drawn.pictures[0].width == 480
    check = CheckResult("q21", "questionnaire", 2.0, 2.0, Status.PASSED, "code: right", figures=[figure],
                        answer=Answer("Plot sigmoid", "plot_function(sigmoid)", "reference"))
    submission = SubmissionResult("ada.ipynb", "ada", "questionnaire", [check])
    report = render_submission(submission, summary_href=None)
    assert report.count("<figure class=\"picture\">") == 2 and "id=\"pictures-check-questionnaire-q21\"" in report
    summary = render_summary(BatchResult([submission]), report_hrefs=["reports/ada.html"])
    assert "reports/ada.html#pictures-check-questionnaire-q21" in summary
    broken = draw(Figure("plot", "t", {"student_png": "bm90IGEgcG5n", "reference": {}}))
    assert broken.note.startswith("could not draw")  # not a PNG: a note, no error


@pytest.mark.parametrize("tag, text", [
    ("q12", "隨機梯度下降：用小批量資料計算損失的梯度，然後更新權重。"),
    ("q17", "學習率太大會越過最小值，損失發散。"),
    ("q29", "矩阵乘"),
    ("q14", "初始化、预测、算loss、算梯度、更新参数、重复、停止"),
])
def test_traditional_characters_and_terse_chinese_with_english_terms_are_read(tag, text):
    assert score(tag, text).fraction == 1
