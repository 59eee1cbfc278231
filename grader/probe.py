"""Probe cells appended after the student's cells, and safe reading of what they wrote.

The grader picks every path (a private folder outside the kernel's working folder, random names);
the kernel writes JSON and a flat dict of tensors; the grader reads them with `json` and
`torch.load(weights_only=True)`, which cannot run code.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grader import probe_runtime
from grader.spec import Check, Opaque

RUNTIME_NAME = "__grader_probe__"


@dataclass(frozen=True)
class ProbePlan:
    """One check's probe: where its inputs are and where its record will be written."""

    key: str
    check: Check
    inputs_path: Path | None
    out_base: Path

    def cell_source(self) -> str:
        """The probe cell's code: call the runtime with this probe's config."""
        config = {"needs": list(self.check.fetch.needs()), "code": self.check.fetch.kernel_code(),
                  "inputs": str(self.inputs_path) if self.inputs_path else None, "out": str(self.out_base)}
        return f"{RUNTIME_NAME}(globals(), {json.dumps(config)!r})"


def runtime_cell_source() -> str:
    """The first probe cell: define the probe runtime in a private scope and bind its entry point."""
    source = Path(probe_runtime.__file__).read_text()
    return (f"def __grader_load__(source):\n"
            f"    scope = {{'__name__': 'grader_probe_runtime'}}\n"
            f"    exec(source, scope)\n"
            f"    return scope['run_probe']\n"
            f"{RUNTIME_NAME} = __grader_load__({source!r})\n"
            f"del __grader_load__")


def generate_inputs(check: Check, *, seed: int) -> dict[str, Any]:
    """Fresh inputs for one check, drawn in the grader process from `seed`."""
    if check.inputs is None:
        return {}
    return check.inputs(torch.Generator().manual_seed(seed))


def plan_probes(checks: dict[str, Check], inputs: dict[str, dict[str, Any]], *, folder: Path) -> list[ProbePlan]:
    """Write each check's inputs under `folder` and plan its probe (kernel-side fetches only), by check key."""
    plans = []
    for key, check in checks.items():
        if check.fetch.kernel_code() is None:
            continue
        token = secrets.token_hex(8)
        inputs_path = None
        if inputs.get(key):
            inputs_path = folder / f"inputs-{token}.pt"
            torch.save(inputs[key], inputs_path)
        plans.append(ProbePlan(key, check, inputs_path, folder / f"probe-{token}"))
    return plans


@dataclass
class ProbeRecord:
    """What one probe reported: a value, missing names, or an error."""

    value: Any = None
    has_value: bool = False
    missing: tuple[str, ...] = ()
    borrowed: dict[str, str] = field(default_factory=dict)  # missing names an import supplied: name → module
    error: dict[str, str] | None = None


def read_record(out_base: Path) -> ProbeRecord | None:
    """Load a probe's record safely; None when the probe never wrote one (or wrote garbage)."""
    json_path, tensor_path = Path(f"{out_base}.json"), Path(f"{out_base}.pt")
    try:
        record = json.loads(json_path.read_text())
    except (OSError, ValueError):
        return None
    return record_from(record, lambda: torch.load(tensor_path, weights_only=True, map_location="cpu"))


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
