"""The self-check bundle: visible checks with precomputed expected values, as JSON plus a safetensors file.

A bundle folder holds `bundle.json` (what it is) and, per assignment part, `<part>.json` (each check:
name, points, hint, the probe code and the names it needs, the comparison by kind and options, and
its inputs and expected value) and `<part>.safetensors` (every tensor those refer to). Nothing in it
is pickled: reading a bundle runs no code from it except the probe code, and that only in the
student's own kernel, where their own code runs anyway.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from grader.compare import comparison
from grader.comparison import Comparison
from grader.exceptions import GraderError
from grader.results import Visibility
from grader.spec import Check, Script

FORMAT = "grader-selfcheck"
VERSION = 1
MARKER = "bundle.json"


class NotReleasable(GraderError, ValueError):
    """A check whose comparison or values cannot be written as plain data (it stays with the grading course)."""


class BundleUnreadable(GraderError, ValueError):
    """A self-check bundle is missing, damaged, or of another format version."""


@dataclass(frozen=True)
class ReleasedCheck:
    """A check as a bundle holds it: rebuilt into a `Check` whose expected value is the stored one."""

    check: Check
    inputs: dict[str, Any]


def encode_value(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Plain JSON for a value; tensors go into `tensors` under `key...` and are referred to by name."""
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().cpu().contiguous()
        return {"$tensor": key}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}  # keeps nan and inf, which JSON cannot
    if isinstance(value, (list, tuple)):
        return {"$list" if isinstance(value, list) else "$tuple":
                [encode_value(item, f"{key}.{index}", tensors) for index, item in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(name, str) for name in value):
        return {"$dict": {name: encode_value(item, f"{key}.{name}", tensors) for name, item in value.items()}}
    raise NotReleasable(f"a {type(value).__name__} cannot be stored in a self-check bundle")


def decode_value(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The value `encode_value` wrote."""
    if not isinstance(data, dict):
        return data
    (tag, body), = data.items()
    if tag == "$tensor":
        return tensors[body]
    if tag == "$float":
        return float(body)
    if tag in ("$list", "$tuple"):
        items = [decode_value(item, tensors) for item in body]
        return items if tag == "$list" else tuple(items)
    if tag == "$dict":
        return {name: decode_value(item, tensors) for name, item in body.items()}
    raise BundleUnreadable(f"unknown value tag {tag!r}")


def encode_comparison(compare: Comparison) -> dict[str, Any]:
    """A built-in comparison as {kind, options}; NotReleasable for course-defined kinds or callables in options."""
    compare = compare.for_release() if hasattr(compare, "for_release") else compare
    if not dataclasses.is_dataclass(compare) or not type(compare).__module__.startswith("grader."):
        raise NotReleasable(f"comparison kind {compare.kind!r} is defined by the course, not the engine")
    return {"kind": compare.kind, "options": {f.name: _encode_option(getattr(compare, f.name))
                                              for f in dataclasses.fields(compare)}}


def _encode_option(value: Any) -> Any:
    """One comparison option as JSON (nested comparisons and tuples included)."""
    if isinstance(value, Comparison):
        return {"$comparison": encode_comparison(value)}
    if isinstance(value, tuple):
        return {"$tuple": [_encode_option(item) for item in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise NotReleasable(f"a comparison option of type {type(value).__name__} cannot be released")


def decode_comparison(data: dict[str, Any]) -> Comparison:
    """The comparison `encode_comparison` described."""
    return comparison(data["kind"], **{name: _decode_option(value) for name, value in data["options"].items()})


def _decode_option(value: Any) -> Any:
    """One option back from JSON."""
    if isinstance(value, dict) and "$comparison" in value:
        return decode_comparison(value["$comparison"])
    if isinstance(value, dict) and "$tuple" in value:
        return tuple(_decode_option(item) for item in value["$tuple"])
    return value


def write_part(folder: Path, part: str, title: str, checks: list[dict[str, Any]], tensors: dict[str, torch.Tensor],
               withheld: list[dict[str, Any]]) -> list[Path]:
    """Write `<part>.json` and `<part>.safetensors` into the bundle folder."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {"format": FORMAT, "version": VERSION, "part": part, "title": title, "checks": checks,
                "withheld": withheld}
    written = [folder / f"{part}.json", folder / f"{part}.safetensors"]
    written[0].write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    save_file(tensors or {"_": torch.zeros(0)}, str(written[1]))
    return written


def write_marker(folder: Path, *, course: str, parts: list[str]) -> Path:
    """The bundle's `bundle.json`: the format, the course title and its parts."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    marker.write_text(json.dumps({"format": FORMAT, "version": VERSION, "course": course, "parts": parts},
                                 indent=1) + "\n", encoding="utf-8")
    return marker


def is_bundle(folder: Path) -> bool:
    """True when `folder` holds a self-check bundle of this format."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("format") == FORMAT


def read_part(folder: Path, part: str) -> tuple[list[ReleasedCheck], list[dict[str, Any]]]:
    """The released checks of one part, and the names of the checks kept for grading."""
    try:
        document = json.loads((folder / f"{part}.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / f"{part}.safetensors"))
    except FileNotFoundError:
        parts = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("parts", [])
        raise BundleUnreadable(f"the self-check bundle in {folder} has no part {part!r}; parts: "
                               f"{', '.join(parts)}") from None
    except (OSError, ValueError) as error:
        raise BundleUnreadable(f"the self-check bundle in {folder} cannot be read: {error}") from None
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise BundleUnreadable(f"{folder / f'{part}.json'} is not a version-{VERSION} self-check bundle: "
                               "update grader or get the assignment again")
    released = []
    for entry in document["checks"]:
        expected = decode_value(entry["expected"], tensors)
        check = Check(entry["name"], points=entry["points"], fetch=Script(entry["code"], requires=tuple(entry["needs"])),
                      compare=decode_comparison(entry["compare"]), expected=lambda ctx, value=expected: value,
                      visibility=Visibility.VISIBLE, hint=entry.get("hint", ""), timeout=entry.get("timeout", 120.0))
        released.append(ReleasedCheck(check, decode_value(entry["inputs"], tensors)))
    return released, document.get("withheld", [])
