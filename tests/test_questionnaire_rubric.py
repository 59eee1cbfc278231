"""Free-text scoring: concept matching, the zero-score rules, and the questionnaire's rubric against its reference."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.answers import choose_answer, comment_text, tagged_cells
from grader.rubric import Concept, Rubric, load_rubrics, mentions, score_answer, stem, to_quarter, tokens

REPO = Path(__file__).resolve().parents[1]
SOLUTION = nbformat.read(REPO / "reference" / "solutions" / "questionnaire.ipynb", as_version=4)
RUBRICS = load_rubrics(REPO / "assignments" / "questionnaire" / "rubric.toml")
CODE_QUESTIONS = {"q04", "q09", "q21", "q26", "q34"}

NORMS = Rubric((Concept("absolute values", ("absolute",)),
                Concept("square root of the mean square", ("square root", "sqrt", "root mean squar*")),
                Concept("big errors cost more", ("penali*", "large error*", "big mistake*"))))
NORMS_PROMPT = "What are the L1 norm and the RMSE?"


def prompt_of(tag: str) -> str:
    return tagged_cells(SOLUTION, f"{tag}-prompt")[0]["source"]


def prose_of(tag: str) -> str:
    cell = tagged_cells(SOLUTION, tag)[0]
    return comment_text(cell["source"]) if cell["cell_type"] == "code" else cell["source"]


@pytest.mark.parametrize("forms", [("square", "squared", "squares", "squaring"), ("copy", "copies", "copied"),
                                   ("batch", "batches"), ("bias", "biases"), ("gradient", "gradients"),
                                   ("string", "strings")])
def test_word_forms_share_a_stem(forms):
    assert len({stem(word) for word in forms}) == 1


def test_matching_ignores_case_punctuation_endings_and_word_order_but_wants_the_words_close():
    answer = tokens("The Square-Roots of averaged, SQUARED differences!")
    assert mentions(answer, "square root")
    assert mentions(answer, "squared difference")
    assert mentions(tokens("the weights are then updated"), "updat* the weight*")
    assert mentions(tokens("the rate of learning"), "learning rate")
    assert not mentions(tokens("the rate, as we saw in the earlier chapter on learning"), "learning rate")


def test_a_star_matches_any_word_with_that_start_and_operators_are_spelt_out():
    assert mentions(tokens("We optimise it"), "optimi*") and mentions(tokens("the optimizer"), "optimi*")
    assert mentions(tokens("w -= lr * w.grad"), "minus")
    assert mentions(tokens("view(-1, 784)"), "minus 1")
    assert not mentions(tokens("- first bullet\n- second bullet"), "minus")


def test_score_is_the_fraction_of_concepts_found_and_names_them():
    scored = score_answer("L1 averages absolute differences; RMSE takes the square root of the mean squared "
                          "difference.", prompt=NORMS_PROMPT, rubric=NORMS)
    assert scored.fraction == 0.75  # 2 of 3, to the nearest quarter
    assert scored.found == ["absolute values", "square root of the mean square"]
    assert scored.missing == ["big errors cost more"]


@pytest.mark.parametrize("answer, reason", [
    ("", "empty"), ("   \n", "empty"), ("pixels", "too short"),
    ("What are the L1 norm and the RMSE?", "repeats the question"),
    ("The L1 norm and the RMSE are... the L1 norm and RMSE!", "repeats the question"),
])
def test_empty_copied_or_short_answers_without_a_key_idea_get_nothing(answer, reason):
    scored = score_answer(answer, prompt=NORMS_PROMPT, rubric=NORMS)
    assert scored.fraction == 0 and reason in scored.reason and scored.found == []


def test_an_answer_that_starts_by_restating_the_question_is_still_scored():
    scored = score_answer("What are the L1 norm and the RMSE? L1 uses absolute differences, RMSE the square "
                          "root, so it penalises big errors.", prompt=NORMS_PROMPT, rubric=NORMS)
    assert scored.fraction == 1


def test_every_prose_question_has_a_rubric_and_question_9_has_none():
    prose = {f"q{n:02d}" for n in range(1, 38)} - {"q09"}
    assert set(RUBRICS) == prose
    assert all(rubric.concepts and points > 0 for points, rubric in RUBRICS.values())


@pytest.mark.parametrize("tag", sorted(RUBRICS))
def test_the_reference_answer_finds_every_concept_and_the_bare_prompt_none(tag):
    points, rubric = RUBRICS[tag]
    assert score_answer(prose_of(tag), prompt=prompt_of(tag), rubric=rubric).missing == []
    assert score_answer(prompt_of(tag), prompt=prompt_of(tag), rubric=rubric).fraction == 0


@pytest.mark.parametrize("tag, answer, at_least", [
    ("q07", "L1 is the mean of the absolute values of the differences. RMSE squares the differences, averages "
            "them and takes the sqrt, which punishes bigger mistakes more.", 1.0),
    ("q11", "We use the validation set because it holds images the model hasn't seen, so a good score there "
            "means it generalizes rather than memorized.", 1.0),
    ("q20", "Accuracy is flat: tiny changes to the weights rarely flip a prediction so its gradient is 0 nearly "
            "everywhere.", 1.0),
    ("q29", "Matrix multiplication.", 1.0),
    ("q31", "PyTorch accumulates gradients, adding to the previous ones, so we reset them each step.", 1.0),
    ("q37", "More layers reach the same accuracy with fewer parameters and train faster.", 1.0),
])
def test_answers_in_other_words_than_the_reference_score(tag, answer, at_least):
    points, rubric = RUBRICS[tag]
    assert score_answer(answer, prompt=prompt_of(tag), rubric=rubric).fraction >= at_least


def test_the_first_non_empty_tagged_cell_is_the_answer_and_later_ones_are_counted_as_ignored():
    cells = [{"source": " ", "cell_type": "markdown"}, {"source": "first", "cell_type": "markdown"},
             {"source": "second", "cell_type": "markdown"}, {"source": "", "cell_type": "markdown"}]
    assert choose_answer(cells) == (cells[1], 1)
    assert choose_answer(cells[:1]) == (None, 0)


def test_comments_are_the_prose_of_a_code_answer_even_when_hashes_are_in_strings():
    source = "# A list comprehension\nx = '# not a comment'  # builds a list\n"
    assert comment_text(source) == "A list comprehension\nbuilds a list"


@pytest.mark.parametrize("found, total, quarter", [(1, 7, 0.25), (1, 8, 0.25), (1, 3, 0.25), (1, 2, 0.5),
                                                   (2, 3, 0.75), (6, 7, 0.75), (7, 8, 0.75), (1, 9, 0.25),
                                                   (7, 7, 1.0), (0, 5, 0.0)])
def test_fractions_round_to_quarters_keeping_zero_and_full_marks_for_none_and_all(found, total, quarter):
    assert to_quarter(found / total) == quarter
