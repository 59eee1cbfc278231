"""The public API for courses: everything a course's `checks.py` and reference code import from the engine.

A course imports from here only (`from grader.checks import Assignment, Check, Tensor, ...`); the
modules behind these names may move, this list stays. The comparisons (which need torch) load on first use, so a
course's commands that only need errors or progress bars start without importing torch.
"""
from typing import Any

from grader.answers import CodeAnswer, FreeText, TaggedCells, guarded
from grader.cache import cached_json, file_fingerprint, source_fingerprint
from grader.comparison import Comparison, Context, Opaque, Outcome
from grader.exceptions import GraderError
from grader.manifest import MANIFEST_NAME, DataTampered, sha256, verify_manifest, write_manifest
from grader.progress import Progress, rich_progress, silent
from grader.results import Answer, Figure, Visibility
from grader.rubric import load_rubrics
from grader.spec import Assignment, Call, Cell, Check, Fetch, Script, Value

__all__ = [
    # declaring checks
    "Assignment", "Check", "Visibility", "Fetch", "Value", "Call", "Script", "Cell", "TaggedCells", "guarded",
    # comparing
    "Comparison", "Context", "Outcome", "Opaque", "comparison", "Tensor", "Scalar", "Equal", "Accuracy",
    "LossDecreasing", "Each", "Follows", "Replayed", "FreeText", "CodeAnswer", "load_rubrics", "as_tensor", "as_number", "describe",
    # what a check may attach to its result
    "Figure", "Answer",
    # course helpers: errors, progress, caches, data manifests
    "GraderError", "Progress", "rich_progress", "silent", "cached_json", "file_fingerprint", "source_fingerprint",
    "MANIFEST_NAME", "DataTampered", "sha256", "verify_manifest", "write_manifest",
]

_TORCH_NAMES = ("Accuracy", "Each", "Equal", "Follows", "LossDecreasing", "Replayed", "Scalar", "Tensor", "as_number",
                "as_tensor", "comparison", "describe")


def __getattr__(name: str) -> Any:
    """The comparisons from grader.compare, imported (with torch) when first asked for."""
    if name in _TORCH_NAMES:
        from grader import compare

        return getattr(compare, name)
    raise AttributeError(f"module 'grader.checks' has no attribute {name!r}")
