"""HTML reports and the class summary, rendered from a fixed class of results (real MNIST pixels)."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from grader.emitters import emit
from grader.figures import draw
from grader.report import format_points, render_submission, render_summary, report_names
from grader.results import BatchResult, Figure, Status
from report_fixtures import (HOSTILE_ANSWER, STUDENT_LOSS, check_golden, element_by_id, example_batch, ideal_digits,
                             parse_page)


@pytest.fixture(scope="module")
def batch(data_dir) -> BatchResult:
    return example_batch(data_dir)


@pytest.fixture(scope="module")
def pages(batch, tmp_path_factory) -> dict[str, str]:
    """Every page the html emitter writes, by path relative to the out folder."""
    out = tmp_path_factory.mktemp("html")
    written = emit("html", batch, out_dir=out)
    return {path.relative_to(out).as_posix(): path.read_text(encoding="utf-8") for path in written}


def report_of(batch: BatchResult, pages: dict[str, str], student: str, assignment: str) -> str:
    """The report page of one submission."""
    index = next(i for i, s in enumerate(batch.submissions) if (s.student, s.assignment) == (student, assignment))
    return pages[report_names(batch)[index]]


def test_emitter_writes_one_report_per_submission_and_the_summary(batch, pages):
    assert sorted(pages) == sorted([*report_names(batch), "index.html"])
    assert len(set(report_names(batch))) == len(batch.submissions)


def test_pages_match_golden_files(pages, request):
    update = request.config.getoption("--update-golden")
    for name, html in sorted(pages.items()):
        check_golden(f"html/{name}", html, update=update)


def test_results_json_round_trip_renders_identical_pages(batch, pages, tmp_path):
    batch.write_json(tmp_path / "results.json")
    reread = BatchResult.read_json(tmp_path / "results.json")
    written = emit("html", reread, out_dir=tmp_path / "again")
    assert {p.relative_to(tmp_path / "again").as_posix(): p.read_text(encoding="utf-8") for p in written} == pages


def test_total_and_part_scores_come_from_the_results(batch, pages):
    for submission, name in zip(batch.submissions, report_names(batch)):
        elements = parse_page(pages[name])
        total = element_by_id(elements, "total-score").text
        assert total.startswith(f"{format_points(submission.score)} / {format_points(submission.max_score)} points")
        for part, (score, maximum) in submission.parts.items():
            heading = element_by_id(elements, f"part-{part.replace('_', '-')}-heading").text
            assert f"{format_points(score)} / {format_points(maximum)} points" in heading


def test_every_check_shows_its_status_in_words(batch, pages):
    words = {Status.PASSED: "passed", Status.PARTIAL: "partial credit", Status.FAILED: "failed",
             Status.NOT_RUN: "not run"}
    for submission, name in zip(batch.submissions, report_names(batch)):
        elements = parse_page(pages[name])
        for check in submission.checks:
            row = element_by_id(elements, f"check-{check.part}-{check.name}".replace("_", "-"))
            assert words[check.status] in row.text
            assert f"{format_points(check.score)} / {format_points(check.max_score)}" in row.text


def test_hidden_checks_show_the_result_but_no_details(batch, pages):
    elements = parse_page(report_of(batch, pages, "ada", "baseline"))
    hidden = next(c for c in batch.submissions[0].checks if c.visibility.value == "hidden")
    row = element_by_id(elements, f"check-baseline-{hidden.name.replace('_', '-')}")
    assert "passed" in row.text and "hidden" in row.text
    assert hidden.message not in row.text
    assert str(hidden.diagnostics["shape"][0]) not in row.text


def test_visible_diagnostics_are_listed(batch, pages):
    elements = parse_page(report_of(batch, pages, "ada", "baseline"))
    mean3 = next(c for c in batch.submissions[0].checks if c.name == "mean3")
    row = element_by_id(elements, "check-baseline-mean3").text
    assert f"max abs error {mean3.diagnostics['max_abs_error']:.4g}" in row
    assert f"values that differ {mean3.diagnostics['mismatched_fraction']:.2%}" in row
    assert "expected shape [28, 28]" in row


def test_execution_problem_shows_the_cell_and_error_without_terminal_codes(batch, pages):
    html = report_of(batch, pages, "ada", "linear")
    problem = batch.submissions[1].problems[0]
    text = " ".join(element.text for element in parse_page(html) if element.tag == "main")
    assert " ".join(problem.cell_source.split()) in text
    assert f"{problem.ename}" in text and problem.evalue in text
    assert "Traceback (most recent call last)" in text
    assert all("\x1b" not in page for page in pages.values())


def test_hostile_answer_is_shown_as_text_not_markup(batch, pages):
    html = report_of(batch, pages, "ada", "questionnaire")
    elements = parse_page(html)
    assert [e.tag for e in elements].count("script") == html.count("<script>") == 1  # only the page's own
    assert not any(e.tag == "img" and e.attrs.get("src") == "x" for e in elements)
    answer = element_by_id(elements, "answer-check-questionnaire-q02")
    assert HOSTILE_ANSWER in answer.text
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html


def test_questionnaire_shows_answer_reference_concepts_and_override(batch, pages):
    elements = parse_page(report_of(batch, pages, "ada", "questionnaire"))
    for check in batch.submissions[2].checks:
        card = element_by_id(elements, f"answer-check-questionnaire-{check.name}").text
        assert " ".join(check.answer.reference.split()) in card
        assert all(concept in card for concept in check.answer.concepts_found + check.answer.concepts_missing)
        if check.override:
            assert check.override.comment in card and "automatic score 0" in card
        if check.needs_review:
            assert "Needs review" in card


def test_pages_are_offline_and_accessible(pages):
    for name, html in pages.items():
        elements = parse_page(html)
        assert elements[0].tag == "html" and elements[0].attrs.get("lang") == "en"
        assert [e.tag for e in elements].count("h1") == 1, name
        assert all(e.attrs.get("alt") for e in elements if e.tag == "img"), name
        assert all(e.attrs.get("scope") in ("col", "row") for e in elements if e.tag == "th"), name
        assert all(not (e.attrs.get("src") or "data:").startswith(("http", "//")) for e in elements), name
        assert not any(e.tag == "link" for e in elements), name
        assert "@media print" in html


def test_summary_lists_each_student_with_totals_and_pass_rates(batch, pages):
    elements = parse_page(pages["index.html"])
    rows = [e for e in elements if e.tag == "tr"][1:len({s.student for s in batch.submissions}) + 1]
    for row, student in zip(rows, sorted({s.student for s in batch.submissions})):
        mine = [s for s in batch.submissions if s.student == student]
        score, maximum = sum(s.score for s in mine), sum(s.max_score for s in mine)
        assert row.text.startswith(student) and f"{format_points(score)} / {format_points(maximum)}" in row.text
    text = " ".join(e.text for e in elements if e.tag == "main")
    assert "Pass rate per check" in text and "Pass rate per question" in text
    assert any(e.tag == "img" and e.attrs["alt"].startswith("Histogram") for e in elements)


def _decoded(src: str) -> np.ndarray:
    """The pixels of a PNG data URI."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


def test_ideal_digit_pictures_show_the_real_pixels(data_dir):
    digits = ideal_digits(data_dir)
    difference = digits["student_mean3"] - digits["mean3"]
    drawn = draw(Figure("images", "Ideal 3", {"images": {"reference": digits["mean3"].tolist(),
                                                         "difference": difference.tolist()}}))
    reference, diff = (_decoded(p.src) for p in drawn.pictures)
    assert reference.shape == diff.shape == (112, 112, 3)
    grey = reference[::4, ::4, 0].astype(float)  # one screen pixel per MNIST pixel; ink is dark
    assert np.all(grey[digits["mean3"] == 0] == 255)
    assert np.corrcoef(grey.ravel(), digits["mean3"].ravel())[0, 1] < -0.99
    red_minus_blue = diff[::4, ::4, 0].astype(int) - diff[::4, ::4, 2]
    assert np.all(red_minus_blue[difference > 0.05] > 0) and np.all(red_minus_blue[difference < -0.05] < 0)
    assert all(picture.alt for picture in drawn.pictures)


def test_curves_and_confusion_carry_their_numbers(batch):
    linear = next(c for c in batch.submissions[1].checks if c.figures)
    loss = draw(linear.figures[0])
    assert _decoded(loss.pictures[0].src).shape == (360, 640, 3)
    assert [row[1] for row in loss.table.rows] == [f"{v:.4g}" for v in STUDENT_LOSS]
    confusion = draw(batch.submissions[5].checks[0].figures[0])
    matrix = batch.submissions[5].checks[0].figures[0].data["matrix"]
    assert [[int(n) for n in row[1:]] for row in confusion.table.rows] == matrix
    accuracy = sum(matrix[i][i] for i in range(10)) / sum(map(sum, matrix))
    assert f"accuracy {accuracy:.1%}" in confusion.pictures[0].alt


@pytest.mark.parametrize("figure", [
    Figure("images", "ragged", {"images": {"yours": [[0.1, 0.2], [0.3]]}}),
    Figure("images", "three axes", {"images": {"yours": [[[0.1]]]}}),
    Figure("confusion", "not square", {"labels": ["3", "7"], "matrix": [[1, 2, 3]]}),
    Figure("curves", "no series", {"x_label": "epoch"}),
    Figure("heatmap", "unknown kind", {}),
], ids=lambda figure: figure.title)
def test_figures_that_cannot_be_drawn_become_a_note(figure):
    drawn = draw(figure)
    assert drawn.pictures == [] and drawn.note


def test_student_values_that_are_not_numbers_still_draw():
    drawn = draw(Figure("curves", "loss", {"x_label": "epoch", "y_label": "loss",
                                           "series": {"yours": [0.5, float("nan"), "oops", float("inf"), 0.1]}}))
    assert len(drawn.pictures) == 1 and drawn.table.rows[2][1] == "nan"


def test_a_lone_submission_renders_without_a_class(batch):
    html = render_submission(batch.submissions[-1], summary_href=None)
    assert "Class summary" not in html and "could not be graded" in html
    summary = render_summary(BatchResult([], created="2024-05-06T09:00:00+00:00"), report_hrefs=[])
    assert "0 submissions from 0 students" in summary
