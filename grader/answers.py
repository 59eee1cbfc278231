"""Questionnaire answers as check kinds: answer cells found by tag, prose judged by a rubric, code by its values.

Which cell counts: every cell carrying the question's tag is looked at, wherever it sits; the first
one that is not empty is the answer, and other non-empty cells with the same tag are ignored (the
result says how many), so moving cells loses nothing and duplicating them counts nothing twice.
"""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from typing import Any

from grader.results import Answer, Figure
from grader.rubric import Rubric, RubricScore, near_copies, score_answer
from grader.comparison import Comparison, Context, Outcome
from grader.spec import Fetch, Script

PICTURE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
PLOT_LIMIT = 200_000  # the largest student plot (base64 characters of its PNG) a report shows


def first_png(cell: Any) -> str:
    """The base64 text of the first `image/png` a cell displayed ('' when none, or over PLOT_LIMIT)."""
    for output in cell.get("outputs", []):
        data = output.get("data", {}).get("image/png")
        if data:
            text = "".join(data) if isinstance(data, list) else str(data)
            text = "".join(text.split())
            return text if len(text) <= PLOT_LIMIT else ""
    return ""


def tagged_cells(notebook: Any, tag: str) -> list[dict[str, Any]]:
    """Every cell tagged `tag`, in notebook order: its type, source and whether an output is a picture."""
    cells = []
    for cell in notebook.cells if notebook is not None else []:
        if tag in cell.get("metadata", {}).get("tags", []):
            pictures = any(kind in output.get("data", {}) for output in cell.get("outputs", [])
                           for kind in PICTURE_TYPES)
            cells.append({"cell_type": cell.cell_type, "source": cell.source, "has_picture": pictures,
                          "picture": first_png(cell)})
    return cells


@dataclass(frozen=True)
class TaggedCells(Fetch):
    """All cells carrying `tag` in the executed notebook (see `tagged_cells`)."""

    tag: str

    def from_notebook(self, notebook: Any) -> list[dict[str, Any]]:
        return tagged_cells(notebook, self.tag)


def choose_answer(cells: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, int]:
    """The first non-empty cell, and how many later non-empty cells were ignored."""
    filled = [cell for cell in cells if cell["source"].strip()]
    return (filled[0], len(filled) - 1) if filled else (None, 0)


def guarded(expression: str, *, names: tuple[str, ...] = ()) -> Script:
    """A kernel-side fetch that always reports: {"missing": [...]}, {"error": "..."} or {"value": expression}."""
    code = (f"missing = [name for name in {names!r} if name not in ns]\n"
            f"if missing:\n"
            f"    result = {{'missing': missing}}\n"
            f"else:\n"
            f"    try:\n"
            f"        result = {{'value': {expression}}}\n"
            f"    except Exception as error:\n"
            f"        result = {{'error': type(error).__name__ + ': ' + str(error)[:300]}}\n")
    return Script(code)


def comment_text(source: str) -> str:
    """The `#` comments of a code cell, joined (the prose part of a code answer)."""
    try:
        found = [tok.string.lstrip("#").strip() for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                 if tok.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        found = [line.strip().lstrip("#").strip() for line in source.splitlines() if line.strip().startswith("#")]
    return "\n".join(found)


def defines_with(notebook: Any, *, function: str, syntax: str) -> bool | None:
    """Whether the notebook's last definition of `function` contains an `ast.<syntax>` node (None: not found)."""
    found = None
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if _names(node) == function:
                found = any(type(inner).__name__ == syntax for inner in ast.walk(node))
    return found


def _names(node: ast.AST) -> str:
    """The name a definition binds (`def f`, or `f = ...` with one target)."""
    if isinstance(node, ast.FunctionDef):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return ""


def describe_rubric(scored: RubricScore) -> str:
    """One line on a rubric score."""
    if scored.reason:
        return scored.reason
    total = len(scored.found) + len(scored.missing)
    line = f"mentions {len(scored.found)} of {total} key ideas"
    return line + (f" (missing: {'; '.join(scored.missing)})" if scored.missing else "")


def _duplicates_note(ignored: int, tag: str) -> str:
    """The note added when other cells carried the same tag."""
    return f"; {ignored} more cell(s) tagged {tag} ignored (only the first non-empty one counts)" if ignored else ""


def review_diagnostics(scored: RubricScore, share: float = 1.0) -> dict[str, Any]:
    """What a rubric score adds to a check's diagnostics: language, confidence, why to review, points withheld.

    `pending_review` is the share of the check's points withheld until an instructor reads the answer.
    """
    extra: dict[str, Any] = {"confidence": scored.confidence}
    if scored.language:
        extra["language"] = scored.language
    if scored.review:
        extra["review_reasons"] = list(scored.review)
    if scored.pending:
        extra["pending_review"] = round(share, 4)
    return extra


def review_note(scored: RubricScore) -> str:
    """The end of a prose message: flagged for the instructor (and why), or left as scored."""
    if scored.pending:
        return ""
    if scored.needs_review:
        return f"; needs review ({'; '.join(scored.review) or 'low confidence'})"
    return ""


@dataclass(frozen=True)
class FreeText(Comparison, kind="free_text"):
    """A prose answer scored by the fraction of rubric concepts it mentions; flagged for review when unsure."""

    tag: str
    prompt: str
    reference: str
    rubric: Rubric

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        cell, ignored = choose_answer(student if isinstance(student, list) else [])
        text = cell["source"] if cell else ""
        scored = score_answer(text, prompt=self.prompt, rubric=self.rubric)
        message = describe_rubric(scored) + review_note(scored) + _duplicates_note(ignored, self.tag)
        answer = Answer(self.prompt, text, self.reference, scored.found, scored.missing)
        diagnostics = {"answer_cells": len(student or []), "duplicates_ignored": ignored}
        if text.strip():
            diagnostics.update(review_diagnostics(scored))
        return Outcome(scored.fraction, message, diagnostics, answer=answer, needs_review=scored.needs_review)


@dataclass(frozen=True)
class CodeAnswer(Comparison, kind="code_answer"):
    """A code answer: values from a `guarded` fetch judged by `values`, plus an optional plot and prose part.

    Points: (1 - prose_share) for the code; with `needs_plot`, right values without a picture in the answer
    cell earn half of that (a picture of wrong values earns nothing);
    prose_share for the `#` comments scored by `rubric` (then flagged for review). `syntax` =
    (function, ast node name) requires that construct in the function's definition.
    """

    tag: str
    prompt: str
    reference: str
    values: Comparison
    needs_plot: bool = False
    syntax: tuple[str, str] | None = None
    rubric: Rubric | None = None
    prose_share: float = 0.0
    reference_curve: tuple | None = None  # (("x", (...)), ("y", (...))): the reference plot, drawn beside the student's

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        cells = tagged_cells(ctx.notebook, self.tag)
        cell, ignored = choose_answer(cells)
        code, code_message = self._judge_values(student, expected, ctx)
        parts = [f"code: {code_message}"]
        if ctx.notebook is None:  # a self-check sees the kernel, not the saved notebook
            return Outcome((1 - self.prose_share) * code, parts[0] + "; the plot and the explanation "
                           "are read when the notebook is graded")
        if self.needs_plot:
            plotted = bool(cell and cell["has_picture"])
            code *= (1 + plotted) / 2
            parts.append("plot: shown" if plotted else "plot: no picture in the answer cell")
        fraction, found, missing = (1 - self.prose_share) * code, [], []
        diagnostics = {"answer_cells": len(cells), "duplicates_ignored": ignored, "code_fraction": round(code, 4)}
        review = False
        if self.rubric is not None:
            prose = comment_text(cell["source"]) if cell else ""
            scored = score_answer(prose, prompt=self.prompt, rubric=self.rubric)
            fraction += self.prose_share * scored.fraction
            found, missing = scored.found, scored.missing
            parts.append(f"explanation: {describe_rubric(scored)}{review_note(scored)}")
            review = scored.needs_review
            if prose.strip():
                diagnostics.update(review_diagnostics(scored, self.prose_share))
        figures = []
        if self.needs_plot and cell is not None and cell.get("picture"):
            figures.append(Figure("plot", f"Your plot of question {int(self.tag[1:])} beside the reference",
                                  {"student_png": cell["picture"], "reference": dict(self.reference_curve or {})}))
        answer = Answer(self.prompt, cell["source"] if cell else "", self.reference, found, missing)
        return Outcome(fraction, "; ".join(parts) + _duplicates_note(ignored, self.tag), diagnostics,
                       figures=figures, answer=answer, needs_review=review)

    def _judge_values(self, student: Any, expected: Any, ctx: Context) -> tuple[float, str]:
        """Fraction and message for the values the kernel reported."""
        record = student if isinstance(student, dict) else {}
        if "missing" in record:
            return 0.0, f"{', '.join(f'`{name}`' for name in record['missing'])} not defined"
        if "error" in record:
            return 0.0, f"running it raised {record['error']}"
        if "value" not in record:
            return 0.0, "nothing came back from the notebook"
        if self.syntax and ctx.notebook is not None:
            function, node = self.syntax
            if defines_with(ctx.notebook, function=function, syntax=node) is False:
                return 0.0, f"`{function}` must use a {_SYNTAX_NAMES.get(node, node)}"
        outcome = self.values.judge(record["value"], expected, ctx)
        return outcome.fraction, outcome.message


_SYNTAX_NAMES = {"ListComp": "list comprehension"}


def flag_near_copies(batch: Any) -> int:
    """After a whole batch is graded: flag each prose answer that nearly copies another student's answer to
    the same question, naming the other student and showing their text (diagnostics `near_copy_of`).

    Returns how many answers were flagged. Scores are not changed: the instructor decides.
    """
    by_question: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for submission in batch.submissions:
        for check in submission.checks:
            if check.answer is not None and check.answer.text.strip() and "confidence" in check.diagnostics:
                text = comment_text(check.answer.text) if "code_fraction" in check.diagnostics else check.answer.text
                by_question.setdefault((check.part, check.name), []).append((submission.student, check, text))
    flagged = set()
    for entries in by_question.values():
        for i, j, alike in near_copies([(student, text) for student, _, text in entries]):
            for me, other in ((entries[i], entries[j]), (entries[j], entries[i])):
                check = me[1]
                check.diagnostics.setdefault("near_copy_of", []).append(
                    {"student": other[0], "similarity": alike, "text": other[2][:600]})
                check.diagnostics.setdefault("review_reasons", []).append(
                    f"near-copy of {other[0]}'s answer (similarity {alike:.2f})")
                if id(check) not in flagged:  # the student's message names no other student
                    check.message += ("; " if check.needs_review else "; needs review (") + \
                        "a near-copy of another student's answer" + ("" if check.needs_review else ")")
                check.needs_review = True
                flagged.add(id(check))
    return len(flagged)
