"""Probes: what each check asks of the sealed kernel, the seal cell, and safe reading of the answers.

The grader draws every input; they travel to the probe server as `torch.save` bytes and the answers
come back as JSON plus a flat dict of tensors read with `torch.load(weights_only=True)`, which cannot
run code. Nothing goes through files the notebook could reach.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from grader import probe_runtime
from grader.comparison import Opaque
from grader.spec import Check


@dataclass(frozen=True)
class ProbePlan:
    """One check's probe: its key, its check, its generated inputs as bytes (empty when it has none), the code cells."""

    key: str
    check: Check
    inputs: bytes = b""
    cells: tuple[str, ...] = ()  # the student's code cells, for probes that replay the student's own statements
    given: tuple[str, ...] = ()  # top-level statements the assignment notebook itself holds (not the student's work)

    def request(self) -> dict[str, Any]:
        """The request header sent to the probe server."""
        config = {"needs": list(self.check.fetch.needs()), "code": self.check.fetch.kernel_code(),
                  "cells": list(self.cells), "given": list(self.given)}
        return {"probe": self.key, "config": config, "timeout": self.check.timeout}


def seal_cell_source(fd: int, *, sweep: bool) -> str:
    """The cell run after the student's last one: load the runtime in a private scope and seal the kernel."""
    source = Path(probe_runtime.__file__).read_text()
    return (f"def __grader_load__(source):\n"
            f"    scope = {{'__name__': 'grader_probe_runtime'}}\n"
            f"    exec(source, scope)\n"
            f"    return scope['seal']\n"
            f"__grader_load__({source!r})(globals(), {int(fd)}, {bool(sweep)!r})")


def given_statements(notebooks: list[Path]) -> tuple[str, ...]:
    """Every top-level statement of the notebooks' code cells (as `ast.unparse` writes it): code students are given."""
    return _given(tuple(notebooks))


@lru_cache(maxsize=32)
def _given(notebooks: tuple[Path, ...]) -> tuple[str, ...]:
    """See `given_statements` (read once per set of notebooks in a grading process)."""
    import ast

    import nbformat

    found: set[str] = set()
    for path in notebooks:
        try:
            cells = nbformat.read(path, as_version=4).cells
        except (OSError, ValueError):
            continue
        for cell in cells:
            if cell.cell_type == "code":
                found.update(ast.unparse(node) for node in probe_runtime.statements([cell.source]))
    return tuple(sorted(found))


def generate_inputs(check: Check, *, seed: int) -> dict[str, Any]:
    """Fresh inputs for one check, drawn in the grader process from `seed`."""
    if check.inputs is None:
        return {}
    return check.inputs(torch.Generator().manual_seed(seed))


def plan_probes(checks: dict[str, Check], inputs: dict[str, dict[str, Any]], cells: tuple[str, ...] = (),
                given: tuple[str, ...] = ()) -> list[ProbePlan]:
    """A probe for every kernel-side check, by check key, its inputs serialised, with the student's code cells."""
    plans = []
    for key, check in checks.items():
        if check.fetch.kernel_code() is None:
            continue
        data = b""
        if inputs.get(key):
            buffer = io.BytesIO()
            torch.save(inputs[key], buffer)
            data = buffer.getvalue()
        plans.append(ProbePlan(key, check, data, cells, given))
    return plans


@dataclass
class ProbeRecord:
    """What one probe reported: a value, missing names, or an error."""

    value: Any = None
    has_value: bool = False
    missing: tuple[str, ...] = ()
    borrowed: dict[str, str] = field(default_factory=dict)  # missing names an import supplied: name → module
    error: dict[str, str] | None = None


def read_record(record: Any, tensors: bytes) -> ProbeRecord | None:
    """A ProbeRecord from what the probe server sent: the JSON record and the saved tensors."""
    return record_from(record, lambda: torch.load(io.BytesIO(tensors), weights_only=True, map_location="cpu"))


def record_from(record: Any, load_tensors) -> ProbeRecord | None:
    """A ProbeRecord from the runtime's JSON record and a function that loads its tensors."""
    if not isinstance(record, dict):
        return None
    if "missing" in record:
        borrowed = record.get("borrowed") if isinstance(record.get("borrowed"), dict) else {}
        return ProbeRecord(missing=tuple(str(name) for name in record["missing"]),
                           borrowed={str(k): str(v) for k, v in borrowed.items()})
    if "error" in record:
        error = record["error"] if isinstance(record["error"], dict) else {}
        return ProbeRecord(error={k: str(error.get(k, "")) for k in ("ename", "evalue", "traceback")})
    if "value" not in record:
        return None
    try:
        tensors = load_tensors()
    except Exception:  # a corrupt or hostile file: treat as no record
        return None
    if not isinstance(tensors, dict):
        return None
    return ProbeRecord(value=decode(record["value"], tensors), has_value=True)


def decode(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Rebuild a value from its JSON form (see `probe_runtime.encode`)."""
    kind = node.get("kind") if isinstance(node, dict) else None
    if kind == "tensor":
        tensor = tensors.get(node.get("key"))
        return tensor if isinstance(tensor, torch.Tensor) else Opaque("missing tensor")
    if kind == "plain":
        return node.get("value")
    if kind == "list":
        return [decode(item, tensors) for item in node.get("items", [])]
    if kind == "dict":
        return {str(k): decode(v, tensors) for k, v in node.get("items", {}).items()}
    return Opaque(str(node.get("type", "unknown")) if isinstance(node, dict) else "unknown")
