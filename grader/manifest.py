"""A manifest of prepared data: the SHA-256 and size of every file, checked before the data is trusted.

`write_manifest` hashes every file once, when the data is written. `verify_manifest` is cheap by
default: it re-hashes only the files named as `hashed` (the tensor caches the reference computes
from) and compares the names and sizes of all the others; `full=True` re-hashes everything.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from grader.exceptions import GraderError

MANIFEST_NAME = "grader-manifest.json"


class DataTampered(GraderError, ValueError):
    """Prepared data no longer matches the manifest written when it was prepared."""


def sha256(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root: Path, folders: list[str]) -> dict[str, os.DirEntry]:
    """Every file under `root/<folder>`, by path relative to `root` (a link to a folder is neither listed nor followed)."""
    found, pending = {}, [folder for folder in folders if (root / folder).is_dir()]
    while pending:
        relative = pending.pop()
        with os.scandir(root / relative) as entries:
            for entry in entries:
                name = f"{relative}/{entry.name}"
                if not entry.is_dir():
                    found[name] = entry
                elif not entry.is_symlink():
                    pending.append(name)
    return found


def write_manifest(root: Path, folders: list[str], *, hashed: list[str]) -> Path:
    """Record every file under `root/<folder>` (size, SHA-256); `hashed`: folders verified by hash each time."""
    entries = {name: {"size": entry.stat().st_size, "sha256": sha256(Path(entry.path))}
               for name, entry in sorted(_files(root, folders).items())}
    manifest = root / MANIFEST_NAME
    temporary = manifest.with_suffix(".tmp")
    temporary.write_text(json.dumps({"folders": folders, "hashed": hashed, "files": entries}, indent=1) + "\n")
    temporary.replace(manifest)
    return manifest


def verify_manifest(root: Path, *, full: bool = False) -> list[str]:
    """What differs from the manifest (empty when nothing does); DataTampered when there is no readable manifest."""
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text())
        folders, hashed, entries = manifest["folders"], manifest["hashed"], manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise DataTampered(f"{root} has no readable {MANIFEST_NAME}") from None
    present = _files(root, folders)
    problems = [f"missing: {name}" for name in sorted(set(entries) - set(present))]
    problems += [f"added: {name}" for name in sorted(set(present) - set(entries))]
    rehashed = tuple(f"{folder}/" for folder in hashed)
    for name in sorted(set(entries) & set(present)):
        entry, recorded = present[name], entries[name]
        if entry.stat().st_size != recorded["size"]:
            problems.append(f"changed size: {name}")
        elif (full or name.startswith(rehashed)) and sha256(Path(entry.path)) != recorded["sha256"]:
            problems.append(f"changed content: {name}")
    return problems
