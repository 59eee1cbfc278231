"""Checks of the chapter 4 questionnaire: prose answers against a rubric, code answers by their values.

Prompts and reference answers come from the solution notebook (cells tagged `qNN-prompt` and `qNN`),
key concepts and prose points from `rubric.toml`; the code parts are declared below.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import torch

import reference
from grader.checks import Assignment, Check, CodeAnswer, Comparison, Context, Equal, FreeText, Outcome, TaggedCells, Tensor, as_tensor, describe, guarded, load_rubrics
from reference import tensor_basics
from reference.linear import sigmoid

SOLUTION = Path(reference.__file__).parent / "solutions" / "questionnaire.ipynb"
RUBRICS = load_rubrics(Path(__file__).with_name("rubric.toml"))
QUESTIONS = [f"q{number:02d}" for number in range(1, 38)]


@dataclass(frozen=True)
class NineGrid(Comparison, kind="nine_grid"):
    """Question 9: `t` is 1..9 as 3×3 (¼), `doubled` is twice it (¼), `bottom_right` its bottom-right 2×2 (½)."""

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        parts = [("t", 0.25, "the 3×3 tensor of 1 to 9"), ("doubled", 0.25, "the doubled tensor"),
                 ("bottom_right", 0.5, "the bottom-right four numbers of the doubled tensor")]
        fraction, notes = 0.0, []
        for name, share, what in parts:
            got, want = as_tensor(student.get(name)), expected[name]
            if got is not None and got.numel() == want.numel() and got.shape in (want.shape, (want.numel(),)) \
                    and bool((got.double().reshape(want.shape) == want.double()).all()):
                fraction += share
            elif student.get(name) is None:
                notes.append(f"`{name}` is not defined")
            else:
                shown = got.tolist() if got is not None else describe(student.get(name))
                notes.append(f"`{name}` should be {what}, got {shown}")
        return Outcome(fraction, "all three are right" if not notes else "; ".join(notes))


@dataclass(frozen=True)
class Pairs(Comparison, kind="pairs"):
    """Question 26: the right pairs (½), returned as a list of tuples (½)."""

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        pairs = student.get("pairs") if isinstance(student, dict) else None
        if pairs != [list(pair) for pair in expected]:
            return Outcome(0.0, f"pairs {str(pairs)[:80]} differ from {str(expected)[:80]}")
        if not student.get("list_of_tuples"):
            return Outcome(0.5, "the right pairs, but not returned as a list of tuples")
        return Outcome(1.0, "the right list of tuples on fresh inputs")


def _cells_by_tag(path: Path) -> dict[str, str]:
    """Source of each tagged cell of the solution notebook."""
    notebook = nbformat.read(path, as_version=4)
    return {tag: cell.source for cell in notebook.cells for tag in cell.metadata.get("tags", [])}


def _pair_up_call() -> str:
    """Kernel code: call `pair_up` on fresh inputs and say whether it returned a list of tuples."""
    return ("(lambda out: {'pairs': out, 'list_of_tuples': isinstance(out, list) and "
            "all(isinstance(pair, tuple) for pair in out)})"
            "(ns['pair_up'](inputs['a'].tolist(), ''.join(map(chr, inputs['b'].tolist()))))")


def _code_checks(prompt: dict[str, str], answer: dict[str, str]) -> dict[str, Check]:
    """The five code questions (code points + the prose points of rubric.toml)."""
    def code_question(tag: str, code_points: float, fetch, **options) -> Check:
        prose_points, rubric = RUBRICS[tag] if tag in RUBRICS else (0.0, None)
        total = code_points + prose_points
        return Check(tag, points=total, fetch=fetch, compare=CodeAnswer(
            tag=tag, prompt=prompt[tag], reference=answer[tag], rubric=rubric, prose_share=prose_points / total,
            values=options.pop("values"), needs_plot=options.pop("needs_plot", False),
            syntax=options.pop("syntax", None), reference_curve=options.pop("reference_curve", None)), **options)

    return {
        "q04": code_question(
            "q04", 1, guarded("ns['double_odds'](inputs['numbers'].tolist())", names=("double_odds",)),
            values=Equal(), syntax=("double_odds", "ListComp"),
            inputs=lambda gen: {"numbers": torch.randint(-30, 31, (15,), generator=gen)},
            expected=lambda ctx: tensor_basics.double_odds(ctx.inputs["numbers"].tolist())),
        "q09": code_question(
            "q09", 2, guarded("{name: ns.get(name) for name in ('t', 'doubled', 'bottom_right')}"),
            values=NineGrid(), expected=lambda ctx: _nine_grid()),
        "q21": code_question(
            "q21", 1, guarded("ns['sigmoid'](inputs['x'].clone())", names=("sigmoid",)),
            values=Tensor(atol=1e-5), needs_plot=True, reference_curve=_curve(sigmoid, -4, 4, "sigmoid(x)"),
            inputs=lambda gen: {"x": torch.randn(50, generator=gen) * 4},
            expected=lambda ctx: sigmoid(ctx.inputs["x"])),
        "q26": code_question(
            "q26", 1, guarded(_pair_up_call(), names=("pair_up",)), values=Pairs(),
            inputs=lambda gen: {"a": torch.randint(-99, 100, (7,), generator=gen),
                                "b": torch.randint(ord("a"), ord("z") + 1, (7,), generator=gen)},
            expected=lambda ctx: tensor_basics.pair_up(ctx.inputs["a"].tolist(),
                                                       "".join(map(chr, ctx.inputs["b"].tolist())))),
        "q34": code_question(
            "q34", 1, guarded("ns['relu'](inputs['x'].clone())", names=("relu",)),
            values=Tensor(atol=1e-6), needs_plot=True,
            reference_curve=_curve(lambda x: x.clamp(min=0), -2, 2, "relu(x)"),
            inputs=lambda gen: {"x": torch.rand(50, generator=gen) * 4 - 2},
            expected=lambda ctx: ctx.inputs["x"].clamp(min=0)),
    }


def _curve(function, low: float, high: float, label: str) -> tuple:
    """The reference plot of a plotting question, as data (x, y, label) a report draws beside the student's."""
    x = torch.linspace(low, high, 81)
    return (("x", tuple(round(v, 4) for v in x.tolist())),
            ("y", tuple(round(v, 4) for v in function(x).tolist())), ("label", label))


def _nine_grid() -> dict[str, torch.Tensor]:
    """The reference values of question 9."""
    t = tensor_basics.one_to_nine()
    return {"t": t, "doubled": t * 2, "bottom_right": tensor_basics.bottom_right(t * 2)}


def _checks() -> tuple[Check, ...]:
    """One check per question, in order."""
    cells = _cells_by_tag(SOLUTION)
    prompt = {tag: cells[f"{tag}-prompt"].split("**", 2)[-1].strip() for tag in QUESTIONS}
    answer = {tag: cells[tag] for tag in QUESTIONS}
    code = _code_checks(prompt, answer)
    return tuple(code.get(tag) or Check(tag, points=RUBRICS[tag][0], fetch=TaggedCells(tag), compare=FreeText(
        tag=tag, prompt=prompt[tag], reference=answer[tag], rubric=RUBRICS[tag][1])) for tag in QUESTIONS)


ASSIGNMENT = Assignment(name="questionnaire", title="Chapter 4 questionnaire", checks=_checks(),
                        cell_timeout=60, notebook_timeout=600)
