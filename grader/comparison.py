"""What a comparison works with: the student's value as it left the kernel, the run's context, the verdict.

Comparison kinds subclass `Comparison` with a `kind` class keyword and register themselves;
`grader.compare.comparison("kind", **options)` builds a registered one by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from grader.results import Answer, Figure

COMPARISON_KINDS: dict[str, type["Comparison"]] = {}


@dataclass(frozen=True)
class Opaque:
    """A student value that is not plain data (a module, a function...): only its type name leaves the kernel."""

    type_name: str


@dataclass
class Outcome:
    """What a comparison concluded: the fraction of the check's points earned, and why."""

    fraction: float
    message: str
    diagnostics: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    answer: Answer | None = None
    needs_review: bool = False


@dataclass
class Context:
    """What reference functions and comparisons may use: this run's inputs, the data, the executed notebook."""

    inputs: dict[str, Any]
    data_dir: Path
    notebook: Any = None  # the executed nbformat notebook (None in a self-check)
    seed: int = 0
    reference_key: str | None = None  # the course's code and data, for reusing reference values (None: never reused)


class Comparison:
    """Base class of comparison kinds; subclasses register under `kind` (class keyword)."""

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, kind: str = "", **kwargs):
        super().__init_subclass__(**kwargs)
        if kind:
            cls.kind = kind
            COMPARISON_KINDS[kind] = cls

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        """Compare the student's value with the expected one."""
        raise NotImplementedError
