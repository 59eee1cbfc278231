"""How the questionnaire's prose grading does against an expert, and how many answers it asks to be read.

    python benchmarks/questionnaire_review.py

Scores, side by side, (1) the prose answers of the example class (examples/submissions/*/questionnaire.ipynb,
read from the notebooks: prose needs no kernel) and (2) the labelled set in
benchmarks/questionnaire_labelled.toml (answers with an expert's verdict). Prints, for each: prose answers,
answers flagged for review (goal: at most a third), withheld answers (a language the rubric lacks), near-copy
pairs, wrong answers given full marks without a flag (goal: none), and, on the labelled set, the agreement
with the expert. Not a timed test; tests/test_questionnaire_review.py asserts the bounds on the labelled set.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.answers import choose_answer, comment_text, tagged_cells  # noqa: E402
from grader.rubric import RubricScore, load_rubrics, near_copies, score_answer  # noqa: E402

RUBRICS = load_rubrics(REPO / "assignments" / "questionnaire" / "rubric.toml")
CODE_QUESTIONS = {"q04", "q21", "q26", "q34"}  # prose in `#` comments
LABELLED = REPO / "benchmarks" / "questionnaire_labelled.toml"


@dataclass
class Graded:
    """One prose answer as the grader reads it (and, in the labelled set, as the expert does)."""

    student: str
    question: str
    text: str
    scored: RubricScore
    label: str = ""
    expert: float | None = None
    copy: bool = False
    flagged: bool = False
    copied_from: str = ""


def prompts() -> dict[str, str]:
    """Each question's prompt, from the solution notebook."""
    notebook = nbformat.read(REPO / "reference" / "solutions" / "questionnaire.ipynb", as_version=4)
    return {tag: tagged_cells(notebook, f"{tag}-prompt")[0]["source"] for tag in RUBRICS}


def score_all(entries: list[dict], prompt: dict[str, str]) -> list[Graded]:
    """Score each answer, then flag near-copies question by question, as a batch would."""
    graded = []
    for entry in entries:
        points, rubric = RUBRICS[entry["question"]]
        scored = score_answer(entry["text"], prompt=prompt[entry["question"]], rubric=rubric)
        graded.append(Graded(entry["student"], entry["question"], entry["text"], scored, entry.get("label", ""),
                             entry.get("expert"), bool(entry.get("copy")), scored.needs_review))
    for question in {g.question for g in graded}:
        mine = [g for g in graded if g.question == question]
        for i, j, _ in near_copies([(g.student, g.text) for g in mine]):
            mine[i].flagged = mine[j].flagged = True
            mine[i].copied_from, mine[j].copied_from = mine[j].student, mine[i].student
    return graded


def example_class() -> list[dict]:
    """The non-empty prose answers of the example class's questionnaires."""
    entries = []
    for path in sorted((REPO / "examples" / "submissions").glob("*/questionnaire.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for tag in sorted(RUBRICS):
            cell, _ = choose_answer(tagged_cells(notebook, tag))
            text = "" if cell is None else comment_text(cell["source"]) if tag in CODE_QUESTIONS else cell["source"]
            if text.strip():
                entries.append({"student": path.parent.name, "question": tag, "text": text})
    return entries


def labelled() -> list[dict]:
    """The labelled set."""
    return tomllib.loads(LABELLED.read_text())["answer"]


def figures(graded: list[Graded]) -> dict[str, str]:
    """The measured figures of one set, as text."""
    total = len(graded)
    flagged = sum(g.flagged for g in graded)
    wrong = [g for g in graded if g.label == "wrong"]
    wrong_full_unflagged = [g for g in wrong if g.scored.fraction >= 1 and not g.flagged]
    rows = {
        "prose answers": str(total),
        "flagged for review": f"{flagged} ({100 * flagged / total:.0f}%)" if total else "0",
        "  low confidence (not withheld)": str(sum(g.scored.needs_review and not g.scored.pending for g in graded)),
        "  withheld (language)": str(sum(g.scored.pending for g in graded)),
        "  near-copies (answers)": str(sum(bool(g.copied_from) for g in graded)),
        "  near-copies only": str(sum(bool(g.copied_from) and not g.scored.needs_review for g in graded)),
        "full marks": str(sum(g.scored.fraction >= 1 for g in graded)),
        "zero": str(sum(g.scored.fraction == 0 and not g.scored.pending for g in graded)),
    }
    expert = [g for g in graded if g.expert is not None]
    if expert:
        scored = [g for g in expert if not g.scored.pending]
        rows["wrong answers"] = str(len(wrong))
        rows["wrong with full marks, unflagged"] = str(len(wrong_full_unflagged))
        rows["wrong with any points"] = str(sum(g.scored.fraction > 0 for g in wrong))
        right = [g for g in scored if g.label == "right"]
        rows["right answers earning full marks"] = f"{sum(g.scored.fraction >= 1 for g in right)}/{len(right)}"
        for language in ("en", "zh"):
            mine = [g for g in right if _language(g) == language]
            rows[f"  right, {language}"] = f"{sum(g.scored.fraction >= 1 for g in mine)}/{len(mine)}"
        points = sum(RUBRICS[g.question][0] for g in scored)
        error = sum(abs(g.scored.fraction - g.expert) * RUBRICS[g.question][0] for g in scored)
        rows["points: grader / expert"] = (f"{sum(g.scored.fraction * RUBRICS[g.question][0] for g in scored):g} / "
                                           f"{sum(g.expert * RUBRICS[g.question][0] for g in scored):g} of {points:g}")
        rows["mean |grader - expert|"] = f"{error / len(scored):.2f} points per answer ({100 * error / points:.0f}%)"
        pending = [g for g in expert if g.scored.pending]
        rows["points pending review"] = f"{sum(RUBRICS[g.question][0] for g in pending):g}"
    else:
        rows["points pending review"] = f"{sum(RUBRICS[g.question][0] for g in graded if g.scored.pending):g}"
    return rows


def _language(graded: Graded) -> str:
    """en or zh as the grader read it (mixed Chinese counts as zh)."""
    return graded.scored.language


def main() -> int:
    prompt = prompts()
    example = score_all(example_class(), prompt)
    labels = score_all(labelled(), prompt)
    left, right = figures(example), figures(labels)
    width = max(map(len, list(left) + list(right)))
    print(f"{'':{width}}  {'example class':>16}  {'labelled set':>16}")
    for key in dict.fromkeys(list(left) + list(right)):
        print(f"{key:{width}}  {left.get(key, '-'):>16}  {right.get(key, '-'):>16}")
    print("\nflagged answers of the labelled set:")
    for g in labels:
        if g.flagged:
            why = "; ".join(g.scored.review + [f"near-copy of {g.copied_from}'s answer"] * bool(g.copied_from))
            print(f"  {g.student:6} {g.question} {g.label:8} grader {g.scored.fraction:.2f} expert {g.expert:.2f}  "
                  f"confidence {g.scored.confidence:.2f}: {why}")
    print("\ndisagreements with the expert (unflagged):")
    for g in labels:
        if not g.flagged and abs(g.scored.fraction - g.expert) >= 0.5:
            print(f"  {g.student:6} {g.question} {g.label:8} grader {g.scored.fraction:.2f} expert {g.expert:.2f}  "
                  f"{g.text[:70]!r}")
    flagged = sum(g.flagged for g in labels)
    wrong = sum(g.label == "wrong" and g.scored.fraction >= 1 and not g.flagged for g in labels)
    unsure = sum(g.scored.needs_review for g in example)
    copies = sum(bool(g.copied_from) and not g.scored.needs_review for g in example)
    ok = flagged * 3 <= len(labels) and wrong == 0
    print(f"\nlabelled set: {flagged}/{len(labels)} flagged, {wrong} wrong answers with full marks unflagged: "
          f"bounds {'met' if ok else 'NOT met'} (at most a third; none)")
    print(f"example class: {unsure}/{len(example)} flagged as unsure "
          f"({'within' if unsure * 3 <= len(example) else 'over'} a third), plus {copies} answers flagged only "
          f"as near-copies of another student's")
    return 0 if ok and unsure * 3 <= len(example) else 1


if __name__ == "__main__":
    sys.exit(main())
