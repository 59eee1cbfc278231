"""Reference values computed once: `expected(ctx)` of checks that read only the data, the seed and the course's code.

A check without generated `inputs` gets its expected value from a context holding only the data folder and
the seed, so it cannot depend on the student's notebook. That value, when it is plain data (see
`grader.bundle.encode_value`; other values are computed anew each time), is kept in memory per process
and on disk under `grader.cache.cache_dir()/expected`, as one safetensors file per entry (tensors, plus
the rest as JSON in its metadata; never pickled), written to a temporary file and renamed. The key
holds the course's code (course.toml and every file of its assignments folder and `hidden` packages),
the bytes of its data manifest, the data folder, the seed, the engine's and torch's versions and the check:
changing any of these reads or fills another entry. A course without a data manifest is never cached, nor is
one whose code changed on disk after this process first saw it (the code that runs may be the old one).
Reference code outside those folders is not seen; a course keeps it in a `hidden` package anyway.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from grader import __version__
from grader.bundle import NotReleasable, decode_value, encode_value
from grader.cache import cache_dir
from grader.comparison import Context
from grader.course import Course, code_files, code_fingerprint
from grader.manifest import MANIFEST_NAME, sha256
from grader.spec import Check

FORMAT = 1
Entry = tuple[Any, dict[str, torch.Tensor]]  # a value as `encode_value` writes it, and its tensors

_memory: dict[str, Entry] = {}
_first_seen: dict[Path, tuple[dict[str, tuple[int, int]], str]] = {}  # course root → code files' stats, fingerprint
_manifests: dict[tuple, str] = {}  # a manifest's (path, size, mtime, inode) → SHA-256 of its bytes
_lock = threading.Lock()


def course_key(course: Course) -> str | None:
    """What every cached value of this course depends on besides the check and seed; None: do not cache."""
    manifest = course.data_dir / MANIFEST_NAME
    try:
        files = {str(path): (info.st_mtime_ns, info.st_size) for path in code_files(course) for info in [path.stat()]}
        stat = manifest.stat()
    except OSError:
        return None
    with _lock:
        seen = _first_seen.setdefault(course.root, (files, ""))
        if seen[0] != files:
            return None
        if not seen[1]:
            _first_seen[course.root] = seen = (files, code_fingerprint(course))
        tag = (str(manifest), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if tag not in _manifests:
            _manifests[tag] = sha256(manifest)
        return f"{seen[1]}:{_manifests[tag]}"


def cacheable(check: Check) -> bool:
    """Whether a check's expected value depends only on the data, the seed and the course's code."""
    return check.expected is not None and check.inputs is None


def expected_value(check: Check, part: str, ctx: Context) -> Any:
    """The check's expected value: from the cache when it may be, else `check.expected(ctx)` (None: none declared)."""
    if check.expected is None:
        return None
    if not cacheable(check) or ctx.reference_key is None:
        return check.expected(ctx)
    key = json.dumps({"format": FORMAT, "engine": __version__, "torch": torch.__version__, "course": ctx.reference_key,
                      "data": str(ctx.data_dir), "seed": ctx.seed, "part": part, "check": check.name}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()
    entry = _memory.get(digest) or _read(digest, key)
    if entry is None:
        value = check.expected(Context(inputs={}, data_dir=ctx.data_dir, seed=ctx.seed))
        entry = _encoded(value)
        if entry is None:
            return value
        _write(digest, key, entry)
    _memory[digest] = entry
    return decode_value(*entry)


def _encoded(value: Any) -> Entry | None:
    """A value as plain JSON and its own copies of its tensors (as plain `torch.Tensor`s); None: not plain data."""
    tensors: dict[str, torch.Tensor] = {}
    try:
        document = encode_value(value, "v", tensors)
    except (NotReleasable, RecursionError):
        return None
    if json.dumps(document).count('"$tensor"') != len(tensors):  # two tensors under one name ("a.b" and "a": {"b"})
        return None
    return document, {name: tensor.as_subclass(torch.Tensor).clone() for name, tensor in tensors.items()}


def _path(digest: str) -> Path:
    """Where an entry lives on disk."""
    return cache_dir() / "expected" / f"{digest}.safetensors"


def _read(digest: str, key: str) -> Entry | None:
    """The entry on disk for this key, or None (absent, unreadable, or written for another key)."""
    try:
        with safe_open(str(_path(digest)), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("key") != key:
                return None
            return json.loads(metadata["value"]), {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception:  # a missing, partial or foreign file is a miss
        return None


def _write(digest: str, key: str, entry: Entry) -> None:
    """Store an entry atomically (a temporary file, then os.replace); a cache that cannot be written is skipped."""
    path = _path(digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        try:
            save_file(entry[1], temporary, metadata={"key": key, "value": json.dumps(entry[0])})
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError:
        pass
