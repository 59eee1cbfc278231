"""How checks are declared: one `Assignment` per notebook students hand in, holding `Check`s (what to fetch, how to compare).

A course keeps each assignment's spec in `<assignments>/<name>/checks.py`, importing only from the public
facade `grader.checks`, and defines a module-level `ASSIGNMENT`:

    import torch
    from grader.checks import Assignment, Call, Check, Scalar, Tensor, Value
    from mycourse import solutions as ref

    ASSIGNMENT = Assignment(name="scaling", title="Scale a tensor", cell_timeout=120, checks=(
        Check("factor", points=1, fetch=Value("factor"), compare=Scalar(), expected=lambda ctx: 3.0),
        Check("scale", points=2, fetch=Call("scale", "x"),
              inputs=lambda gen: {"x": torch.rand(5, 4, generator=gen)},
              expected=lambda ctx: ref.scale(ctx.inputs["x"]), compare=Tensor(atol=1e-6),
              hint="scale(x) multiplies every element by factor."),
    ))

Life of a check (see `grader.pipeline`):
  1. `inputs(gen)` (optional) draws fresh tensors in the grader process from a generator seeded
     anew for every run, so hard-coded answers cannot match; they are written to a file.
  2. `fetch` says what to read from the student. Kernel-side fetches (`Value`, `Call`, `Script`)
     become a probe cell appended after the student's cells; the probe writes what it got, as plain
     tensors/numbers/strings, to a file the grader named. `Cell` reads a tagged cell of the executed
     notebook in the grader process instead.
  3. `expected(ctx)` computes the reference value in the grader process (same inputs, `ctx.inputs`).
  4. `compare.judge(student, expected, ctx)` returns an `Outcome` (fraction of the points in 0..1,
     message, diagnostics, figures); `figures(student, expected, ctx)` may add pictures.

Custom comparison kinds: subclass `Comparison` with a `kind` class keyword; the class registers
itself and `grader.checks.comparison("kind", **options)` builds one by name:

    class AnswerText(Comparison, kind="answer"):
        def judge(self, student, expected, ctx) -> Outcome: ...

Values a comparison receives from kernel-side fetches: `torch.Tensor`, `int`, `float`, `bool`,
`str`, `None`, `list`, `dict` (string keys), or `Opaque(type_name)` for anything else.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Any, Callable

from grader.comparison import Comparison, Context
from grader.results import Figure, Visibility

class Fetch:
    """What to read from a submission; kernel-side fetches give `code` that sets `result`."""

    def needs(self) -> tuple[str, ...]:
        """Student names that must exist for the fetch to make sense."""
        return ()

    def kernel_code(self) -> str | None:
        """Code run in the student's kernel (see `Script` for what it sees); None if not kernel-side."""
        return None

    def from_notebook(self, notebook: Any) -> Any:
        """The value read from the executed notebook (notebook-side fetches only)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Value(Fetch):
    """An expression over the student's names, e.g. `Value("mean3")` or `Value("learn.recorder.values")`."""

    expression: str

    def needs(self) -> tuple[str, ...]:
        return _free_names(self.expression)

    def kernel_code(self) -> str:
        return f"result = eval({self.expression!r}, ns)"


@dataclass(frozen=True)
class Call(Fetch):
    """Call a student function on generated inputs, named by their keys: `Call("distance", "a", "b")`."""

    function: str
    args: tuple[str, ...] = ()

    def __init__(self, function: str, *args: str):
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "args", tuple(args))

    def needs(self) -> tuple[str, ...]:
        return (self.function,)

    def kernel_code(self) -> str:
        arguments = ", ".join(f"inputs[{key!r}].clone()" for key in self.args)
        return f"result = ns[{self.function!r}]({arguments})"


@dataclass(frozen=True)
class Script(Fetch):
    """Grader-written code run in the kernel, setting `result`.

    It sees `ns` (the student's globals), `inputs`, `torch`, `swap(ns, **names)`, `cells` (the student's
    code cells as text), `statements(cells)` (their top-level ast statements), `replay(ns, cells, names,
    swaps)` (re-run the student's own assignments of `names` with `swaps` standing in for earlier steps)
    and `loop_calling(cells, function, given)` (the first top-level loop that calls `function`, as source,
    skipping `given`: the statements the assignment notebook itself holds); raising
    `NeverRan(why)` makes the check "not run" (the work is in a cell that never ran).
    """

    code: str
    requires: tuple[str, ...] = ()

    def needs(self) -> tuple[str, ...]:
        return self.requires

    def kernel_code(self) -> str:
        return self.code


@dataclass(frozen=True)
class Cell(Fetch):
    """A cell found by tag in the executed notebook: {"source": str, "outputs": [text, ...]} or None."""

    tag: str

    def from_notebook(self, notebook: Any) -> dict[str, Any] | None:
        for cell in notebook.cells if notebook is not None else []:
            if self.tag in cell.get("metadata", {}).get("tags", []):
                return {"source": cell.source, "cell_type": cell.cell_type,
                        "outputs": [_output_text(output) for output in cell.get("outputs", [])]}
        return None


@dataclass(frozen=True)
class Check:
    """One graded question: declared once, used by `grader check` and by the in-notebook self-check."""

    name: str
    points: float
    fetch: Fetch
    compare: Comparison
    expected: Callable[[Context], Any] | None = None
    inputs: Callable[[Any], dict[str, Any]] | None = None  # torch.Generator → {name: tensor}
    visibility: Visibility = Visibility.VISIBLE
    hint: str = ""
    figures: Callable[[Any, Any, Context], list[Figure]] | None = None
    timeout: float = 120.0  # seconds for this check's probe cell


@dataclass(frozen=True)
class Assignment:
    """One assignment: its checks, execution limits, and other notebook names graded against it."""

    name: str
    title: str
    checks: tuple[Check, ...]
    cell_timeout: float = 300.0
    notebook_timeout: float = 3600.0
    also_matches: tuple[str, ...] = ()  # other file stems (e.g. a whole-chapter notebook) graded with this assignment

    def __post_init__(self):
        names = [check.name for check in self.checks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"assignment {self.name!r} declares checks twice: {', '.join(duplicates)}")

    @property
    def max_score(self) -> float:
        """Points available."""
        return round(sum(check.points for check in self.checks), 4)


def _free_names(expression: str) -> tuple[str, ...]:
    """Names an expression reads that are not builtins, in order of appearance."""
    names: list[str] = []
    for node in ast.walk(ast.parse(expression, mode="eval")):
        if isinstance(node, ast.Name) and not hasattr(builtins, node.id) and node.id not in names:
            names.append(node.id)
    return tuple(names)


def _output_text(output: Any) -> str:
    """The text of one cell output (stream text, plain-text result, or the error line)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename', '')}: {output.get('evalue', '')}"
    data = output.get("data", {})
    return data.get("text/plain", "") if isinstance(data.get("text/plain", ""), str) else "".join(data["text/plain"])
